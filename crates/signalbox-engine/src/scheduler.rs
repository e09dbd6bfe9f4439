//! The scheduler: fires the schedules this instance holds leases on, as events, exactly once.
//!
//! - **Ownership.** Schedules live in the store; each instance claims a fair share
//!   (`ceil(schedules / live instances)` plus a little slack) through leases, renews them every
//!   third of the lease, gives back what exceeds its share, and releases all on a stop. A dead
//!   instance's schedules are claimed by the others once its leases expire.
//! - **Firing.** Due times sit in a min-heap; the loop sleeps until one second (the look-ahead)
//!   before the earliest, prepares the fires due within the look-ahead in chunks and hands them
//!   to a committer task, which writes what has queued up in one store transaction
//!   ([`Store::fire`]) that also checks the lease, the schedule's version and pause, while the
//!   loop prepares the next chunk. A fire written ahead takes effect at its time (its event is
//!   accepted as of then, its deliveries fall due then). `(schedule, scheduled_time)` is the
//!   primary key of the fire, so even two owners at once cannot fire twice.
//! - **Upkeep** (heartbeat, renewal in chunks, claims) runs in a task beside the loop and
//!   reports through a channel, so fires never wait behind it.
//! - **Catch-up.** A newly held schedule is planned from its last recorded time with
//!   [`plan_fires`] (misfire policy, catch-up window): after a restart, a takeover or a stall.
//! - **Anything unexpected** (a refused fire, a store error) drops the schedule from memory; the
//!   next upkeep round reads it back as it is in the store and plans it again from there.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, json};
use signalbox_config::{CompiledSchedule, ScheduleConfig};
use signalbox_core::Event;
use signalbox_core::metric_names as m;
use signalbox_core::time::Millis;
use signalbox_schedule::{is_suppressed, plan_fires};
use signalbox_store::{
    ClaimedSchedule, ConfigSchedule, FireKind, FireOutcome, FireWrite, ScheduleRow, ScheduleSource,
    Store, StoreError,
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::ingest::prepare;
use crate::router::Router;

/// `source` of every fire event.
pub const FIRE_SOURCE: &str = "signalbox.schedule";
/// `detail-type` of every fire event.
pub const FIRE_DETAIL_TYPE: &str = "Scheduled Event";

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// This process's lease owner name; unique per process.
    pub owner: String,
    /// How long a claimed schedule stays ours without renewal (`store.schedule_lease`).
    pub lease: Duration,
    /// Zone of schedules that name none (`server.timezone`).
    pub default_tz: String,
    /// Most fires in one transaction.
    pub max_batch: usize,
}

impl SchedulerOptions {
    /// Defaults (10 s lease, UTC) with the given owner.
    pub fn new(owner: String) -> SchedulerOptions {
        SchedulerOptions {
            owner,
            lease: Duration::from_secs(10),
            default_tz: "UTC".into(),
            max_batch: 10_000,
        }
    }
}

/// Writes the config files' schedules to the store (see [`Store::sync_config_schedules`]).
pub async fn sync_config_schedules(
    store: &dyn Store,
    schedules: &std::collections::BTreeMap<String, ScheduleConfig>,
) -> Result<(), StoreError> {
    let defs: Vec<ConfigSchedule> = schedules
        .iter()
        .map(|(name, s)| ConfigSchedule {
            name: name.clone(),
            definition: s.definition_json().to_string(),
            paused: s.paused,
        })
        .collect();
    store
        .sync_config_schedules(&defs, signalbox_core::time::now_millis())
        .await
}

/// Compiles a stored definition.
pub fn compile_row(row: &ScheduleRow, default_tz: &str) -> Result<CompiledSchedule, String> {
    let config: ScheduleConfig = serde_json::from_str(&row.definition)
        .map_err(|e| format!("stored definition is not valid: {e}"))?;
    config.compile(&row.name, default_tz).map_err(|ps| {
        ps.into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// The id of the fire of `schedule` at `scheduled`: the same on every instance and attempt.
pub fn fire_id(schedule: &str, scheduled: DateTime<Utc>) -> String {
    format!(
        "schedule:{schedule}:{}",
        scheduled.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// The event of one fire. A manual fire's id gets a unique suffix, as it has no scheduled time
/// of its own.
pub fn fire_event(
    schedule: &str,
    scheduled: DateTime<Utc>,
    fired_at: DateTime<Utc>,
    catch_up: bool,
    manual: bool,
) -> Event {
    let lateness_ms = (fired_at - scheduled).num_milliseconds().max(0);
    let mut detail = Map::with_capacity(6);
    detail.insert("schedule".into(), json!(schedule));
    detail.insert(
        "scheduled_time".into(),
        json!(scheduled.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    detail.insert(
        "fired_at".into(),
        json!(fired_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    detail.insert("lateness_ms".into(), json!(lateness_ms));
    detail.insert("catch_up".into(), json!(catch_up));
    detail.insert("manual".into(), json!(manual));
    let mut event = Event::new(FIRE_SOURCE, FIRE_DETAIL_TYPE, detail);
    event.id = if manual {
        format!(
            "{}:manual-{}",
            fire_id(schedule, scheduled),
            signalbox_core::ids::new_id()
        )
    } else {
        fire_id(schedule, scheduled)
    };
    event.time = scheduled;
    event.resources = vec![format!("schedule/{schedule}")];
    event
}

/// Asks a running scheduler to look at the store now (after an API change), instead of at its
/// next renewal. Cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<()>,
}

impl SchedulerHandle {
    /// A handle whose requests go nowhere (no scheduler running).
    pub fn detached() -> SchedulerHandle {
        let (tx, _) = mpsc::unbounded_channel();
        SchedulerHandle { tx }
    }

    /// Reconcile with the store as soon as possible.
    pub fn refresh(&self) {
        let _ = self.tx.send(());
    }
}

/// Leases renewed per statement: each chunk holds the (SQLite: only) writer only briefly, so
/// fires interleave with a renewal of many schedules.
const RENEW_CHUNK: u32 = 1_000;
/// Schedules claimed per transaction, for the same reason.
const CLAIM_CHUNK: u32 = 1_000;
/// Fires prepared at a time: the loop prepares the next chunk while one commits.
const FIRE_CHUNK: usize = 1_000;
/// Most fires the committer groups into one transaction.
const MAX_GROUP: usize = 10_000;
/// How long before its time a fire is written. A fire is recorded early, with its event
/// accepted as of its scheduled time and its deliveries due then, so that a second in which
/// thousands of schedules fall due is committed before that second starts instead of during
/// it. Exactly-once does not depend on it (the `(schedule, time)` key does); a pause, a
/// replacement or a deletion withdraws the fires recorded ahead (see
/// `Store::set_schedule_paused`).
const LOOKAHEAD_MS: Millis = 1_000;

/// The scheduler task.
pub struct Scheduler {
    store: Arc<dyn Store>,
    router: Arc<Router>,
    opts: SchedulerOptions,
    wake: Arc<Notify>,
    refresh: mpsc::UnboundedReceiver<()>,
    /// Keyed by name; the same `Arc<str>` sits in the heap (one allocation per name).
    owned: HashMap<Arc<str>, Owned>,
    heap: BinaryHeap<Reverse<(Millis, u64, Arc<str>)>>,
    /// One copy of each compiled form in use, shared by every schedule that compiles to it:
    /// `0 H H * * ?` has at most 1,440 forms however many schedules use it.
    specs: HashSet<Arc<CompiledSchedule>>,
    /// Compiled forms by definition, for definitions whose form does not depend on the name
    /// (no `H`): adopting another schedule with one of them skips compiling.
    by_definition: HashMap<String, Weak<CompiledSchedule>>,
    next_generation: u64,
    /// Fires decided while adopting schedules (catch-ups, on-time ones), fired next.
    pending: Vec<Due>,
    /// Names dropped from memory after a refused or failed fire, for the upkeep to read back.
    refetch: Vec<String>,
    /// To the committer task, while running.
    commits: Option<mpsc::Sender<Batch>>,
}

struct Owned {
    /// None when the definition does not compile here.
    spec: Option<Arc<CompiledSchedule>>,
    version: i64,
    paused: bool,
    /// The next scheduled time, as in the heap.
    next: Option<Millis>,
    /// Tells this ownership's heap entries from those of an earlier one.
    generation: u64,
}

struct Due {
    name: Arc<str>,
    time: Millis,
    catch_up: bool,
}

/// What the upkeep task (leases, beside the fire loop) reports to the loop.
enum Upkeep {
    /// Every lease this instance still validly holds was renewed: `held` (sorted) is the whole
    /// set; `changed` the held schedules changed since the last renewal (or asked for again).
    Renewed {
        held: Vec<String>,
        changed: Vec<ScheduleRow>,
        now: Millis,
    },
    /// Newly claimed schedules.
    Claimed {
        claimed: Vec<ClaimedSchedule>,
        now: Millis,
    },
    /// This many schedules above the fair share: the loop picks them and gives them back.
    Excess(usize),
}

/// Requests from the loop to the upkeep task.
enum UpkeepRequest {
    /// Give these leases back (the loop has already forgotten them).
    Release(Vec<String>),
    /// Read these back from the store (the loop dropped them after a refused fire).
    Refetch(Vec<String>),
}

impl Scheduler {
    /// A scheduler and the handle that pokes it; `wake` is the dispatcher's.
    pub fn new(
        store: Arc<dyn Store>,
        router: Arc<Router>,
        opts: SchedulerOptions,
        wake: Arc<Notify>,
    ) -> (Scheduler, SchedulerHandle) {
        let (tx, refresh) = mpsc::unbounded_channel();
        let scheduler = Scheduler {
            store,
            router,
            opts,
            wake,
            refresh,
            owned: HashMap::new(),
            heap: BinaryHeap::new(),
            next_generation: 0,
            pending: Vec::new(),
            refetch: Vec::new(),
            commits: None,
            specs: HashSet::new(),
            by_definition: HashMap::new(),
        };
        (scheduler, SchedulerHandle { tx })
    }

    /// Runs until `shutdown` is cancelled, then releases every lease.
    ///
    /// Lease upkeep (heartbeat, renewal, claims) runs in a task of its own and reports through a
    /// channel, so the fire loop never waits behind it.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (report_tx, mut reports) = mpsc::unbounded_channel();
        let (request_tx, requests) = mpsc::unbounded_channel();
        let poke = Arc::new(Notify::new());
        let held = Arc::new(AtomicUsize::new(0));
        let stop_upkeep = shutdown.child_token();
        let refresh = std::mem::replace(&mut self.refresh, mpsc::unbounded_channel().1);
        let (commit_tx, commit_rx) = mpsc::channel(4);
        let (lost_tx, mut lost_rx) = mpsc::unbounded_channel();
        self.commits = Some(commit_tx);
        let committer = tokio::spawn(commit_fires(
            Arc::clone(&self.store),
            self.opts.owner.clone(),
            Arc::clone(&self.wake),
            commit_rx,
            lost_tx,
        ));
        let upkeep = tokio::spawn(
            UpkeepTask {
                store: Arc::clone(&self.store),
                owner: self.opts.owner.clone(),
                lease: self.opts.lease,
                reports: report_tx,
                requests,
                refresh,
                poke: Arc::clone(&poke),
                held: Arc::clone(&held),
            }
            .run(stop_upkeep.clone()),
        );
        loop {
            let sleep = self.heap.peek().map(|Reverse((at, _, _))| {
                let wait = (at - LOOKAHEAD_MS).saturating_sub(now_ms()).max(0);
                tokio::time::sleep(Duration::from_millis(wait as u64))
            });
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = async { sleep.expect("checked").await }, if sleep.is_some() => {
                    self.fire_due().await;
                }
                Some(report) = reports.recv() => {
                    self.apply(report, &request_tx, &poke).await;
                }
                Some(lost) = lost_rx.recv() => self.forget(lost),
            }
            held.store(self.owned.len(), AtomicOrdering::Relaxed);
            if !self.refetch.is_empty() {
                let names = std::mem::take(&mut self.refetch);
                let _ = request_tx.send(UpkeepRequest::Refetch(names));
            }
        }
        stop_upkeep.cancel();
        let _ = upkeep.await;
        // Fires handed over are written (or refused) before the leases go.
        self.commits = None;
        let _ = committer.await;
        if let Err(e) = self.store.release_schedules(&self.opts.owner, None).await {
            tracing::warn!(error = %e, "releasing schedule leases failed; they expire on their own");
        }
        tracing::info!(schedules = self.owned.len(), "scheduler stopped");
    }

    /// Applies what the upkeep task found, then fires what adopting made due.
    async fn apply(
        &mut self,
        report: Upkeep,
        requests: &mpsc::UnboundedSender<UpkeepRequest>,
        poke: &Notify,
    ) {
        match report {
            Upkeep::Renewed { held, changed, now } => {
                let lost: Vec<Arc<str>> = self
                    .owned
                    .keys()
                    .filter(|n| held.binary_search_by(|h| h.as_str().cmp(n)).is_err())
                    .cloned()
                    .collect();
                for name in lost {
                    tracing::info!(schedule = %name, "schedule lease lost");
                    self.owned.remove(&name);
                }
                // Forms only the set itself still holds are no schedule's any more.
                self.specs.retain(|spec| Arc::strong_count(spec) > 1);
                self.by_definition.retain(|_, spec| spec.strong_count() > 0);
                for row in &changed {
                    if held.binary_search(&row.name).is_err() {
                        continue;
                    }
                    let same = self
                        .owned
                        .get(row.name.as_str())
                        .is_some_and(|o| o.version == row.version && o.paused == row.paused);
                    if !same {
                        self.adopt(row, now);
                    }
                }
                self.report_states();
            }
            Upkeep::Claimed { claimed, now } => {
                for ClaimedSchedule {
                    row,
                    previous_owner,
                } in claimed
                {
                    if previous_owner
                        .as_deref()
                        .is_some_and(|p| p != self.opts.owner)
                    {
                        metrics::counter!(m::SCHEDULE_LEASE_TAKEOVERS).increment(1);
                        tracing::info!(schedule = %row.name, from = ?previous_owner, "schedule taken over");
                    }
                    self.adopt(&row, now);
                }
                self.report_states();
            }
            Upkeep::Excess(count) => {
                let names = self.give_back(count);
                if !names.is_empty() {
                    let _ = requests.send(UpkeepRequest::Release(names));
                    poke.notify_one();
                }
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let mut rest = pending.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Due> = rest.by_ref().take(self.opts.max_batch).collect();
            self.fire(chunk).await;
        }
    }

    /// Fires every time due within the look-ahead (one transaction per `max_batch`).
    async fn fire_due(&mut self) {
        let horizon = now_ms() + LOOKAHEAD_MS;
        let mut due = Vec::new();
        while let Some(Reverse((at, _, _))) = self.heap.peek() {
            if *at > horizon || due.len() >= self.opts.max_batch {
                break;
            }
            let Some(Reverse((at, generation, name))) = self.heap.pop() else {
                break;
            };
            let Some(owned) = self.owned.get_mut(&name) else {
                continue;
            };
            if owned.generation != generation || owned.next != Some(at) {
                continue;
            }
            let spec = owned
                .spec
                .clone()
                .expect("only compiled schedules are queued");
            owned.next = spec
                .schedule
                .next_after(to_datetime(at), spec.tz)
                .map(|t| t.timestamp_millis());
            if let Some(next) = owned.next {
                self.heap.push(Reverse((next, generation, name.clone())));
            }
            due.push(Due {
                name,
                time: at,
                catch_up: false,
            });
        }
        self.fire(due).await;
    }

    /// Prepares fires in chunks of [`FIRE_CHUNK`] and hands each to the committer as soon as
    /// it is built, so the next chunk is prepared while the previous one commits.
    async fn fire(&mut self, due: Vec<Due>) {
        for chunk in due.chunks(FIRE_CHUNK) {
            let fired_at = Utc::now();
            let mut writes = Vec::with_capacity(chunk.len());
            for d in chunk {
                let Some(owned) = self.owned.get(&d.name) else {
                    continue;
                };
                let Some(spec) = owned.spec.as_ref() else {
                    continue;
                };
                let scheduled = to_datetime(d.time);
                let (kind, event) = if is_suppressed(&spec.quiet_periods, scheduled) {
                    (FireKind::Suppressed, None)
                } else {
                    // A fire written ahead takes effect at its time.
                    let effective = fired_at.max(scheduled);
                    let event = fire_event(&d.name, scheduled, effective, d.catch_up, false);
                    let mut write = prepare(&self.router, event);
                    write
                        .deliveries
                        .extend(self.router.schedule_deliveries(&d.name));
                    let kind = if d.catch_up {
                        FireKind::CaughtUp
                    } else {
                        FireKind::Fired
                    };
                    (kind, Some(write))
                };
                writes.push(FireWrite {
                    schedule: d.name.to_string(),
                    version: owned.version,
                    scheduled_time: d.time,
                    kind,
                    event,
                });
            }
            if writes.is_empty() {
                continue;
            }
            let batch = Batch {
                fired_at: fired_at.timestamp_millis(),
                writes,
            };
            if let Some(tx) = &self.commits
                && tx.send(batch).await.is_err()
            {
                tracing::warn!("fire committer stopped; fires not recorded");
            }
        }
    }

    /// Schedules whose fires the committer saw refused or failed: dropped from memory, and read
    /// back by the next upkeep round.
    fn forget(&mut self, lost: Vec<String>) {
        for name in lost {
            if self.owned.remove(name.as_str()).is_some() {
                tracing::info!(schedule = %name, "schedule no longer ours as held (lease, version or pause changed)");
                self.refetch.push(name);
            }
        }
    }

    /// Forgets `count` schedules, those due last first, so a fire in flight is rarely moved;
    /// returns their names for the upkeep task to release.
    fn give_back(&mut self, count: usize) -> Vec<String> {
        let mut by_next: Vec<(Millis, &Arc<str>)> = self
            .owned
            .iter()
            .map(|(n, o)| (o.next.unwrap_or(Millis::MAX), n))
            .collect();
        by_next.sort_unstable_by(|a, b| b.cmp(a));
        let names: Vec<String> = by_next
            .into_iter()
            .take(count)
            .map(|(_, n)| n.to_string())
            .collect();
        for n in &names {
            self.owned.remove(n.as_str());
        }
        tracing::info!(
            count = names.len(),
            "giving back schedules above this instance's share"
        );
        names
    }

    /// Takes a schedule as the store has it: compiles it, plans what is due since its last
    /// fire, and queues its next time.
    fn adopt(&mut self, row: &ScheduleRow, now: Millis) {
        // An API schedule's own targets come with its stored definition; build them here so
        // its fires create their deliveries whichever instance served the API call.
        if let Some(api) = self.router.api_schedules() {
            match row.source {
                ScheduleSource::Api => {
                    if let Err(error) = api.load(&row.name, &row.definition) {
                        tracing::warn!(schedule = %row.name, %error, "schedule targets cannot be built; fires have none");
                    }
                }
                // The router has no entry for a config schedule without targets, so targets
                // left from an API definition of the same name would be used: drop them.
                ScheduleSource::Config => api.set(&row.name, Vec::new()),
            }
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let name: Arc<str> = Arc::from(row.name.as_str());
        // Without `H` the compiled form does not depend on the name: share it.
        let shared = !row.definition.contains('H');
        let cached = shared
            .then(|| {
                self.by_definition
                    .get(&row.definition)
                    .and_then(Weak::upgrade)
            })
            .flatten();
        let compiled = match cached {
            Some(spec) => Ok(spec),
            None => compile_row(row, &self.opts.default_tz).map(|spec| {
                let spec = match self.specs.get(&spec) {
                    Some(same) => Arc::clone(same),
                    None => {
                        let spec = Arc::new(spec);
                        self.specs.insert(Arc::clone(&spec));
                        spec
                    }
                };
                if shared {
                    self.by_definition
                        .insert(row.definition.clone(), Arc::downgrade(&spec));
                }
                spec
            }),
        };
        let spec = match compiled {
            Ok(spec) => Some(spec),
            Err(reason) => {
                tracing::warn!(schedule = %row.name, reason = %reason, "schedule cannot be compiled; not firing it");
                None
            }
        };
        let mut owned = Owned {
            spec: spec.clone(),
            version: row.version,
            paused: row.paused,
            next: None,
            generation,
        };
        if let (Some(spec), false) = (spec, row.paused) {
            let plan = plan_fires(
                &spec.schedule,
                spec.tz,
                to_datetime(row.plan_from()),
                to_datetime(now),
                &spec.misfire,
            );
            if plan.missed > 0 || plan.skipped > 0 {
                tracing::warn!(
                    schedule = %row.name,
                    missed = plan.missed,
                    capped = plan.missed_capped,
                    skipped = plan.skipped,
                    "scheduled times went by unfired"
                );
                metrics::counter!(m::SCHEDULE_FIRES, "outcome" => "missed").increment(plan.missed);
            }
            for f in plan.fires {
                self.pending.push(Due {
                    name: Arc::clone(&name),
                    time: f.scheduled_time.timestamp_millis(),
                    catch_up: f.catch_up,
                });
            }
            owned.next = plan.next.map(|t| t.timestamp_millis());
            if let Some(next) = owned.next {
                self.heap
                    .push(Reverse((next, generation, Arc::clone(&name))));
            }
        }
        self.owned.insert(name, owned);
    }

    fn report_states(&self) {
        let (mut active, mut paused, mut invalid) = (0u64, 0u64, 0u64);
        for o in self.owned.values() {
            match (&o.spec, o.paused) {
                (None, _) => invalid += 1,
                (Some(_), true) => paused += 1,
                (Some(_), false) => active += 1,
            }
        }
        metrics::gauge!(m::SCHEDULES, "state" => "active").set(active as f64);
        metrics::gauge!(m::SCHEDULES, "state" => "paused").set(paused as f64);
        metrics::gauge!(m::SCHEDULES, "state" => "invalid").set(invalid as f64);
    }
}

/// Fires prepared by the loop, written by the committer.
struct Batch {
    fired_at: Millis,
    writes: Vec<FireWrite>,
}

/// Writes fire batches one after the other (the loop prepares the next meanwhile); reports the
/// schedules whose fires were refused or failed.
async fn commit_fires(
    store: Arc<dyn Store>,
    owner: String,
    wake: Arc<Notify>,
    mut batches: mpsc::Receiver<Batch>,
    lost_tx: mpsc::UnboundedSender<Vec<String>>,
) {
    while let Some(Batch {
        mut fired_at,
        mut writes,
    }) = batches.recv().await
    {
        // Group commit: what the loop prepared while the previous transaction committed goes
        // into the next one, so a large due group costs few fsyncs yet starts committing early.
        while writes.len() < MAX_GROUP {
            let Ok(more) = batches.try_recv() else {
                break;
            };
            fired_at = fired_at.max(more.fired_at);
            writes.extend(more.writes);
        }
        let result = store.fire(&owner, fired_at, &writes).await;
        let committed = now_ms();
        let mut lost = HashSet::new();
        match result {
            Ok(outcomes) => {
                let mut created = 0usize;
                for (w, outcome) in writes.iter().zip(outcomes) {
                    match outcome {
                        FireOutcome::Written => {
                            metrics::counter!(m::SCHEDULE_FIRES, "outcome" => w.kind.as_str())
                                .increment(1);
                            if w.kind == FireKind::Fired {
                                let late = (committed - w.scheduled_time).max(0) as f64 / 1000.0;
                                metrics::histogram!(m::SCHEDULE_LATENESS).record(late);
                            }
                            created += w.event.as_ref().map_or(0, |e| e.deliveries.len());
                        }
                        FireOutcome::AlreadyFired => {
                            tracing::debug!(schedule = %w.schedule, time = w.scheduled_time, "already fired");
                        }
                        FireOutcome::NotOwner => {
                            lost.insert(w.schedule.clone());
                        }
                    }
                }
                if created > 0 {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, fires = writes.len(), "recording fires failed; they will be planned again");
                metrics::counter!(m::SCHEDULE_FIRES, "outcome" => "failed")
                    .increment(writes.len() as u64);
                lost.extend(writes.iter().map(|w| w.schedule.clone()));
            }
        }
        if !lost.is_empty() && lost_tx.send(lost.into_iter().collect()).is_err() {
            break;
        }
    }
}

/// Heartbeat, renewal, claims up to a fair share: the store work of holding leases, beside the
/// fire loop.
struct UpkeepTask {
    store: Arc<dyn Store>,
    owner: String,
    lease: Duration,
    reports: mpsc::UnboundedSender<Upkeep>,
    requests: mpsc::UnboundedReceiver<UpkeepRequest>,
    refresh: mpsc::UnboundedReceiver<()>,
    poke: Arc<Notify>,
    /// Schedules the loop holds in memory now.
    held: Arc<AtomicUsize>,
}

impl UpkeepTask {
    async fn run(mut self, stop: CancellationToken) {
        let period = (self.lease / 3).max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_round: Option<Millis> = None;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
                Some(()) = self.refresh.recv() => while self.refresh.try_recv().is_ok() {},
                _ = self.poke.notified() => {}
            }
            let started = now_ms();
            let ok = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                ok = self.round(last_round) => ok,
            };
            if ok {
                last_round = Some(started);
            }
        }
    }

    /// One round; false when it stopped on a store error (the next round reads more back).
    async fn round(&mut self, last_round: Option<Millis>) -> bool {
        let now = now_ms();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let until = now + lease_ms;
        let owner = self.owner.as_str();
        let census = match self.store.scheduler_heartbeat(owner, now, until).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler heartbeat failed");
                return false;
            }
        };
        let mut refetch = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            match request {
                UpkeepRequest::Release(names) => {
                    if let Err(e) = self.store.release_schedules(owner, Some(&names)).await {
                        tracing::warn!(error = %e, "releasing schedules failed; their leases expire on their own");
                    }
                }
                UpkeepRequest::Refetch(names) => refetch.extend(names),
            }
        }

        // Renewal, in chunks, returning names only. Each chunk holds the store's writer (on
        // SQLite the only one); back to back, 100 chunks kept fire transactions waiting for
        // over a second. So after each chunk the renewal waits as long as the chunk took,
        // leaving the writer free half the time, as long as the round stays within a quarter
        // of the lease (the leases stay valid either way).
        let mut held: Vec<String> = Vec::with_capacity(self.held.load(AtomicOrdering::Relaxed));
        let round_started = std::time::Instant::now();
        loop {
            let after = held.last().map_or("", String::as_str);
            let chunk_started = std::time::Instant::now();
            match self
                .store
                .renew_schedule_leases(owner, now, until, after, RENEW_CHUNK)
                .await
            {
                Ok(names) => {
                    let last = names.len() < RENEW_CHUNK as usize;
                    held.extend(names);
                    if last {
                        break;
                    }
                    if round_started.elapsed() < self.lease / 4 {
                        tokio::time::sleep(chunk_started.elapsed()).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewing schedule leases failed");
                    return false;
                }
            }
        }
        // Rows changed elsewhere (pause, redefinition) since the last round, with a margin for
        // clocks that differ between instances; re-reading an unchanged one is harmless.
        let mut changed = match last_round {
            None => Vec::new(),
            Some(t) => match self
                .store
                .changed_schedules(owner, now, t - lease_ms - 1_000)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "reading changed schedules failed");
                    return false;
                }
            },
        };
        refetch.sort_unstable();
        refetch.dedup();
        for name in refetch {
            if changed.iter().any(|r| r.name == name) {
                continue;
            }
            match self.store.schedule(&name).await {
                Ok(Some(row)) => changed.push(row),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, schedule = %name, "reading a schedule failed"),
            }
        }
        let count = held.len() as u64;
        if self
            .reports
            .send(Upkeep::Renewed { held, changed, now })
            .is_err()
        {
            return false;
        }

        let share = census.schedules.div_ceil(census.instances.max(1));
        let slack = (share / 10).max(1);
        if count < share + slack {
            let mut want = share + slack - count;
            while want > 0 {
                let limit = u32::try_from(want.min(u64::from(CLAIM_CHUNK))).unwrap_or(CLAIM_CHUNK);
                let now = now_ms();
                match self
                    .store
                    .claim_schedules(owner, now, now + lease_ms, limit)
                    .await
                {
                    Ok(claimed) => {
                        let got = claimed.len();
                        if got > 0 && self.reports.send(Upkeep::Claimed { claimed, now }).is_err() {
                            return false;
                        }
                        if got < limit as usize {
                            break;
                        }
                        want -= got as u64;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming schedules failed");
                        break;
                    }
                }
            }
        } else if count > share + slack {
            let _ = self.reports.send(Upkeep::Excess((count - share) as usize));
        }
        true
    }
}

fn now_ms() -> Millis {
    signalbox_core::time::now_millis()
}

fn to_datetime(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, cron: &str) -> ScheduleRow {
        ScheduleRow {
            name: name.into(),
            source: signalbox_store::ScheduleSource::Config,
            definition: json!({ "cron": cron }).to_string(),
            paused: false,
            version: 1,
            lease_owner: None,
            lease_until: 0,
            last_scheduled_time: None,
            last_fired_at: None,
            last_outcome: None,
            anchor: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    async fn scheduler() -> Scheduler {
        let store = signalbox_store::open("sqlite::memory:", &Default::default())
            .await
            .expect("store");
        let router = Router::build(
            &signalbox_config::Config::default(),
            &signalbox_targets::BuildContext::new().expect("context"),
        )
        .unwrap_or_else(|_| panic!("router"));
        let opts = SchedulerOptions::new("test".into());
        Scheduler::new(Arc::from(store), Arc::new(router), opts, Arc::default()).0
    }

    #[tokio::test]
    async fn schedules_that_compile_alike_share_one_compiled_form() {
        let mut scheduler = scheduler().await;
        // Two `H` schedules whose names pick the same minute and hour.
        let mut seen = HashMap::new();
        let (a, b) = (0..10_000)
            .map(|i| format!("s{i}"))
            .find_map(|name| {
                let spec = compile_row(&row(&name, "0 H H * * ?"), "UTC").expect("compiles");
                seen.insert(spec, name.clone()).map(|first| (first, name))
            })
            .expect("1,440 forms: a pair within 10,000 names");
        let now = 1_000_000;
        for name in [&a, &b] {
            scheduler.adopt(&row(name, "0 H H * * ?"), now);
        }
        let spec = |s: &Scheduler, n: &str| s.owned[n].spec.clone().expect("compiled");
        assert!(Arc::ptr_eq(&spec(&scheduler, &a), &spec(&scheduler, &b)));
        assert_eq!(scheduler.specs.len(), 1);

        // A name that picks other values gets its own form.
        let other = (0..100)
            .map(|i| format!("t{i}"))
            .find(|n| {
                compile_row(&row(n, "0 H H * * ?"), "UTC").ok()
                    != compile_row(&row(&a, "0 H H * * ?"), "UTC").ok()
            })
            .expect("another form");
        scheduler.adopt(&row(&other, "0 H H * * ?"), now);
        assert!(!Arc::ptr_eq(
            &spec(&scheduler, &a),
            &spec(&scheduler, &other)
        ));
        assert_eq!(scheduler.specs.len(), 2);

        // Without `H` the form is found by definition, and is the same one.
        scheduler.adopt(&row("x", "0 0 3 * * ?"), now);
        scheduler.adopt(&row("y", "0 0 3 * * ?"), now);
        assert!(Arc::ptr_eq(&spec(&scheduler, "x"), &spec(&scheduler, "y")));
        assert_eq!(scheduler.specs.len(), 3);

        // A form no schedule holds any more is let go at the next renewal.
        for n in [&a, &b] {
            scheduler.owned.remove(n.as_str());
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        let held: Vec<String> = scheduler.owned.keys().map(|n| n.to_string()).collect();
        let mut held = held;
        held.sort();
        scheduler
            .apply(
                Upkeep::Renewed {
                    held,
                    changed: Vec::new(),
                    now,
                },
                &tx,
                &Notify::new(),
            )
            .await;
        assert_eq!(scheduler.specs.len(), 2);
        assert_eq!(scheduler.owned.len(), 3);
    }

    #[tokio::test]
    async fn a_config_schedule_without_targets_drops_those_of_an_api_definition() {
        let ctx = signalbox_targets::BuildContext::new().expect("context");
        let router = Router::build(&signalbox_config::Config::default(), &ctx)
            .unwrap_or_else(|_| panic!("router"))
            .with_api_schedules(Arc::new(crate::router::ApiScheduleTargets::new(ctx)));
        let mut scheduler = scheduler().await;
        scheduler.router = Arc::new(router);
        let mut api = row("z", "@daily");
        api.source = signalbox_store::ScheduleSource::Api;
        api.definition = json!({ "cron": "@daily", "targets": [{ "log": {} }] }).to_string();
        scheduler.adopt(&api, 1_000_000);
        assert_eq!(scheduler.router.schedule_deliveries("z").len(), 1);
        scheduler.adopt(&row("z", "@daily"), 1_000_000);
        assert!(scheduler.router.schedule_deliveries("z").is_empty());
        assert!(scheduler.router.target("schedule:z", 0).is_none());
    }

    #[test]
    fn fire_ids_are_derived_from_schedule_and_time() {
        let t: DateTime<Utc> = "2026-03-01T10:00:05Z".parse().unwrap();
        assert_eq!(
            fire_id("nightly", t),
            "schedule:nightly:2026-03-01T10:00:05.000Z"
        );
        let e = fire_event(
            "nightly",
            t,
            t + chrono::Duration::milliseconds(7),
            true,
            false,
        );
        assert_eq!(e.id, "schedule:nightly:2026-03-01T10:00:05.000Z");
        assert_eq!(e.time, t);
        assert_eq!(e.resources, ["schedule/nightly"]);
        assert_eq!(e.detail["lateness_ms"], 7);
        assert_eq!(e.detail["catch_up"], true);
        assert_eq!(e.detail["manual"], false);
        let manual = fire_event("nightly", t, t, false, true);
        assert!(
            manual
                .id
                .starts_with("schedule:nightly:2026-03-01T10:00:05.000Z:manual-")
        );
    }
}
