//! The check loop. One task per instance keeps every check it runs in one min-heap of next run
//! times, sleeps until the earliest, and starts each due run as a task of its own; the run
//! probes, judges, updates the check's alert state and, when the state machine says so, queues
//! an event. One emitter task hands the queued events to ingest in order, retrying while the
//! store is unavailable, so a slow store never holds a probe up and rules + targets deliver
//! alerts durably.
//!
//! Which checks run here is decided by leases on partitions of check names ([`crate::lease`]):
//! the loop runs only checks whose partition lease is valid in memory at the run's start, and a
//! newly held partition's checks start from their stored alert state.
//!
//! Checks come in groups (`config`, `watcher`, …) replaced as a whole by
//! [`MonitorHandle::set_group`]: new checks start, removed ones stop, changed ones restart with
//! their alert state.
//!
//! The loop also measures each run's lag (start − scheduled time); when more than 1% of the
//! last 10 s of runs were later than `monitor.max_lag`, it sends `Monitor Behind Schedule` and,
//! in a cluster, gives back a quarter of its partitions for other instances to take.
//!
//! A check's health is saved through a [`StateStore`] when it changes (after the event that
//! announces the change is accepted), and read when its partition is taken, so a restart or a
//! move neither re-announces an outage nor forgets one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use metrics::{Counter, Gauge, Histogram};
use serde_json::{Map, Value, json};
use signalbox_core::Event;
use signalbox_core::metric_names as m;
use signalbox_core::time::{Millis, now_millis};
use signalbox_engine::{IngestError, IngestHandle};
use signalbox_store::{CHECK_PARTITIONS, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alert::{Alert, AlertState};
use crate::cadence::next_run;
use crate::check::{CheckOutcome, CompiledCheck, MonitorError};
use crate::confirm::{Confirmer, Verdict};
use crate::lag::{BehindSchedule, LagChange, LagSummary, LagWindow};
use crate::lease::{LeaseOptions, LeaseReport, LeaseRequest, Leases, Upkeep, partition_of};
use crate::probe::HttpClients;
use crate::state_store::StateStore;
use crate::status::{CheckStatus, CheckStatuses};

/// What a run hands to the emitter: the alert event, then the state to save, in that order.
struct Emission {
    check: String,
    event: Option<Event>,
    state: Option<(AlertState, i64)>,
}

/// `source` of every check event.
pub const EVENT_SOURCE: &str = "signalbox.check";
/// `source` of the monitor's own events (`Monitor Behind Schedule`, `Monitor Caught Up`).
pub const MONITOR_SOURCE: &str = "signalbox.monitor";
/// `detail-type` when this instance falls behind schedule.
pub const BEHIND_DETAIL_TYPE: &str = "Monitor Behind Schedule";
/// `detail-type` when it is back on schedule.
pub const CAUGHT_UP_DETAIL_TYPE: &str = "Monitor Caught Up";
/// The group of the config files' checks.
pub const CONFIG_GROUP: &str = "config";

/// Alert events queued before check runs wait for the emitter.
const QUEUE: usize = 1024;
/// Most due runs started in one turn of the loop, so finished runs and reloads interleave.
const MAX_DUE_PER_TURN: usize = 1024;

/// Why an [`AlertSink`] did not take events.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Nothing was accepted; trying again later may work.
    #[error("{0}")]
    Retry(String),
    /// The sink is gone for good (shutting down).
    #[error("closed")]
    Closed,
}

/// Where alert events go: ingest in production, a vector in tests.
#[async_trait]
pub trait AlertSink: Send + Sync + 'static {
    /// Accepts events durably, or not at all.
    async fn emit(&self, events: Vec<Event>) -> Result<(), SinkError>;
}

#[async_trait]
impl AlertSink for IngestHandle {
    async fn emit(&self, events: Vec<Event>) -> Result<(), SinkError> {
        match self.submit(events).await {
            Ok(_) => Ok(()),
            Err(IngestError::Closed) => Err(SinkError::Closed),
            Err(error) => Err(SinkError::Retry(error.to_string())),
        }
    }
}

/// How the monitor runs in a cluster.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// This process's lease owner name; unique per process.
    pub owner: String,
    /// `monitor.lease_ttl`: how long this instance holds its partitions without renewing.
    pub lease_ttl: Duration,
    /// `monitor.max_lag`: how late runs may start before this instance is behind schedule.
    pub max_lag: Duration,
}

impl MonitorOptions {
    /// Defaults (10 s lease, 5 s lag) with the given owner.
    pub fn new(owner: String) -> MonitorOptions {
        MonitorOptions {
            owner,
            lease_ttl: Duration::from_secs(10),
            max_lag: Duration::from_secs(5),
        }
    }

    /// How long an instance that gave partitions back claims none: long enough for the others
    /// to take them (a third of a lease) and for its lag window to show whether that helped.
    fn cooldown(&self) -> Duration {
        (self.lease_ttl * 6).max(Duration::from_secs(15))
    }
}

/// The config's checks of one instance, before it starts.
#[derive(Debug, Default)]
pub struct Monitor {
    checks: Vec<CompiledCheck>,
    statuses: CheckStatuses,
    /// Where each run's result goes (`report:`, `monitor.report`); reports nothing by default.
    reporter: crate::report::Reporter,
}

impl Monitor {
    /// Compiles every check of `config`; all problems are returned.
    pub fn from_config(
        checks: &std::collections::BTreeMap<String, signalbox_config::CheckConfig>,
        default_tz: &str,
        clients: &HttpClients,
    ) -> Result<Monitor, Vec<MonitorError>> {
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        for (name, config) in checks {
            match CompiledCheck::build(name, config, default_tz, clients) {
                Ok(c) => compiled.push(c),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Monitor::new(compiled))
        } else {
            Err(errors)
        }
    }

    /// A monitor starting with exactly these checks (group [`CONFIG_GROUP`]).
    pub fn new(checks: Vec<CompiledCheck>) -> Monitor {
        Monitor {
            checks,
            statuses: CheckStatuses::default(),
            reporter: crate::report::Reporter::default(),
        }
    }

    /// Hands every run's result to `reporter` (see [`crate::report`]).
    pub fn with_reporter(mut self, reporter: crate::report::Reporter) -> Monitor {
        self.reporter = reporter;
        self
    }

    /// The checks' statuses, updated by their runs once started (for `GET /v1/checks`).
    pub fn statuses(&self) -> CheckStatuses {
        self.statuses.clone()
    }

    /// How many checks the config holds.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether the config holds no check.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Starts the loop, the lease upkeep on `store` and the emitter. Checks run once their
    /// partitions are held (at once on a single instance), from their stored alert state. After
    /// `stop`, runs stop at once (a probe in flight is abandoned), the leases are released, the
    /// emitter offers what is queued once more, and the returned task ends, dropping `sink`.
    pub async fn start(
        self,
        sink: Arc<dyn AlertSink>,
        states: Arc<dyn StateStore>,
        store: Arc<dyn Store>,
        opts: MonitorOptions,
        stop: CancellationToken,
    ) -> (MonitorHandle, JoinHandle<()>) {
        let (emissions, rx) = mpsc::channel(QUEUE);
        let emitter = tokio::spawn(emit(rx, sink, Arc::clone(&states), stop.clone()));
        let leases = Arc::new(Leases::default());
        let instances = Arc::new(AtomicU64::new(1));
        let (report_tx, reports) = mpsc::unbounded_channel();
        let (request_tx, requests) = mpsc::unbounded_channel();
        let upkeep = tokio::spawn(
            Upkeep {
                store: Arc::clone(&store),
                states: Arc::clone(&states),
                opts: LeaseOptions {
                    owner: opts.owner.clone(),
                    ttl: opts.lease_ttl,
                    cooldown: opts.cooldown(),
                },
                leases: Arc::clone(&leases),
                reports: report_tx,
                requests,
                instances: Arc::clone(&instances),
                held: Default::default(),
                unloaded: Default::default(),
                yielding_until: None,
            }
            .run(stop.clone()),
        );
        let confirmer = Arc::new(Confirmer {
            store: Arc::clone(&store),
            owner: opts.owner.clone(),
            instances: Arc::clone(&instances),
            checks: Default::default(),
        });
        let confirmations = tokio::spawn(Arc::clone(&confirmer).serve(stop.clone()));
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let max_lag_ms = i64::try_from(opts.max_lag.as_millis()).unwrap_or(i64::MAX);
        let mut check_loop = CheckLoop {
            entries: HashMap::new(),
            members: vec![Vec::new(); CHECK_PARTITIONS as usize],
            active: vec![false; CHECK_PARTITIONS as usize],
            epoch: vec![0; CHECK_PARTITIONS as usize],
            dropped: vec![false; CHECK_PARTITIONS as usize],
            heap: BinaryHeap::new(),
            next_generation: 0,
            ctx: Arc::new(RunContext {
                statuses: self.statuses.clone(),
                emissions,
                leases,
                stop: stop.clone(),
                reporter: self.reporter.clone(),
                confirmer,
            }),
            done_tx,
            lag: LagWindow::new(max_lag_ms),
            behind: BehindSchedule::default(),
            yield_until: None,
            instances,
            requests: request_tx,
            opts,
        };
        check_loop.set_group(CONFIG_GROUP, self.checks, &HashMap::new());
        check_loop.share_checks();
        let run = tokio::spawn(check_loop.run(commands, reports, done, stop));
        let handle = MonitorHandle {
            commands: commands_tx,
            states,
            statuses: self.statuses,
        };
        let task = tokio::spawn(async move {
            let _ = run.await;
            let _ = upkeep.await;
            let _ = confirmations.await;
            let _ = emitter.await;
        });
        (handle, task)
    }
}

/// Changes the checks of a running monitor. Cheap to clone.
#[derive(Clone)]
pub struct MonitorHandle {
    commands: mpsc::UnboundedSender<Command>,
    states: Arc<dyn StateStore>,
    statuses: CheckStatuses,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle").finish_non_exhaustive()
    }
}

enum Command {
    SetGroup {
        group: String,
        checks: Vec<CompiledCheck>,
        stored: HashMap<String, AlertState>,
        done: oneshot::Sender<()>,
    },
}

impl MonitorHandle {
    /// Replaces every check of `group` with `checks`: new ones start, removed ones stop (and
    /// leave `GET /v1/checks`), changed ones (another config) restart; a check keeps its alert
    /// state by name. A name already used by another group is skipped (logged). Returns once
    /// the loop has applied the change; at once when the monitor has stopped.
    pub async fn set_group(&self, group: &str, checks: Vec<CompiledCheck>) {
        // New checks of partitions held here start from their stored state; reading it here
        // keeps the loop from waiting for the store.
        let stored = match self.states.load().await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, group, "check states cannot be read; new checks start unknown");
                HashMap::new()
            }
        };
        let (done, applied) = oneshot::channel();
        let command = Command::SetGroup {
            group: group.to_owned(),
            checks,
            stored,
            done,
        };
        if self.commands.send(command).is_ok() {
            let _ = applied.await;
        }
    }

    /// The checks' statuses (for `GET /v1/checks`).
    pub fn statuses(&self) -> CheckStatuses {
        self.statuses.clone()
    }
}

/// A check's metric handles, resolved once (not per run).
struct CheckMetrics {
    success: Counter,
    failure: Counter,
    up: Gauge,
    duration: Histogram,
    lag: Histogram,
}

impl CheckMetrics {
    fn new(name: &str) -> CheckMetrics {
        let labels = [("check", name.to_owned())];
        CheckMetrics {
            success: metrics::counter!(m::CHECK_RUNS, "check" => name.to_owned(), "result" => "success"),
            failure: metrics::counter!(m::CHECK_RUNS, "check" => name.to_owned(), "result" => "failure"),
            up: metrics::gauge!(m::CHECK_UP, &labels),
            duration: metrics::histogram!(m::CHECK_DURATION, &labels),
            lag: metrics::histogram!(m::CHECK_LAG, &labels),
        }
    }
}

/// What every run shares.
struct RunContext {
    statuses: CheckStatuses,
    emissions: mpsc::Sender<Emission>,
    leases: Arc<Leases>,
    stop: CancellationToken,
    reporter: crate::report::Reporter,
    /// `confirm: 1`: asks another instance before `Check Failed`.
    confirmer: Arc<Confirmer>,
}

/// One check as the loop holds it.
struct Entry {
    check: Arc<CompiledCheck>,
    group: Arc<str>,
    partition: u32,
    /// The alert state between runs (a run in flight carries its own copy).
    state: AlertState,
    /// Bumped when the check's definition changes: heap entries of older ones are stale.
    generation: u64,
    /// The run time queued in the heap, if any.
    next: Option<Millis>,
    running: bool,
    metrics: Arc<CheckMetrics>,
}

/// One run, handed to its task.
struct Run {
    name: Arc<str>,
    check: Arc<CompiledCheck>,
    metrics: Arc<CheckMetrics>,
    state: AlertState,
    scheduled: Millis,
    started: Millis,
    partition: u32,
    epoch: u64,
    generation: u64,
}

/// A finished run, back to the loop.
struct Done {
    name: Arc<str>,
    state: AlertState,
    epoch: u64,
    generation: u64,
    scheduled: Millis,
    next: Option<Millis>,
}

struct CheckLoop {
    entries: HashMap<Arc<str>, Entry>,
    /// Check names by partition.
    members: Vec<Vec<Arc<str>>>,
    /// Partitions whose checks run here.
    active: Vec<bool>,
    /// Bumped when a partition is (re)gained: a run from before carries a state that the
    /// store's replaced.
    epoch: Vec<u64>,
    /// Partitions with checks left out of the heap because the lease looked invalid at their
    /// time; put back if the renewal shows the lease was kept after all.
    dropped: Vec<bool>,
    heap: BinaryHeap<Reverse<(Millis, u64, Arc<str>)>>,
    next_generation: u64,
    ctx: Arc<RunContext>,
    done_tx: mpsc::UnboundedSender<Done>,
    lag: LagWindow,
    behind: BehindSchedule,
    yield_until: Option<Millis>,
    instances: Arc<AtomicU64>,
    requests: mpsc::UnboundedSender<LeaseRequest>,
    opts: MonitorOptions,
}

impl CheckLoop {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut reports: mpsc::UnboundedReceiver<LeaseReport>,
        mut done: mpsc::UnboundedReceiver<Done>,
        stop: CancellationToken,
    ) {
        let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed: Option<Millis> = None;
        let mut lag_tick = tokio::time::interval(Duration::from_secs(1));
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let top = self.heap.peek().map(|Reverse((at, _, _))| *at);
            if top != armed {
                let at = match top {
                    Some(at) => {
                        let wait = u64::try_from(at - now_millis()).unwrap_or(0);
                        tokio::time::Instant::now() + Duration::from_millis(wait)
                    }
                    None => far(),
                };
                timer.as_mut().reset(at);
                armed = top;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.start_due();
                }
                Some(first) = done.recv() => {
                    self.finish(first);
                    // Drain what else finished: at thousands of runs a second, one turn per
                    // run would starve the timer.
                    for _ in 0..MAX_DUE_PER_TURN {
                        let Ok(more) = done.try_recv() else { break };
                        self.finish(more);
                    }
                }
                Some(report) = reports.recv() => self.apply(report),
                Some(command) = commands.recv() => match command {
                    Command::SetGroup { group, checks, stored, done } => {
                        self.set_group(&group, checks, &stored);
                        self.share_checks();
                        let _ = done.send(());
                    }
                },
                _ = lag_tick.tick() => self.judge_lag(),
            }
        }
        tracing::info!(checks = self.entries.len(), "check loop stopped");
    }

    fn start_due(&mut self) {
        let now = now_millis();
        let mut started = 0;
        while started < MAX_DUE_PER_TURN {
            match self.heap.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((at, generation, name))) = self.heap.pop() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&name) else {
                continue;
            };
            if entry.generation != generation || entry.next != Some(at) {
                continue;
            }
            entry.next = None;
            let p = entry.partition;
            // Never run a check whose partition may have moved: the deadline is a little
            // before the lease's end in the store.
            if !self.ctx.leases.valid(p, now) {
                self.dropped[p as usize] = true;
                continue;
            }
            let lag = (now - at).max(0);
            self.lag.record(now, lag);
            entry.metrics.lag.record(lag as f64 / 1000.0);
            entry.running = true;
            let run = Run {
                name,
                check: Arc::clone(&entry.check),
                metrics: Arc::clone(&entry.metrics),
                state: entry.state,
                scheduled: at,
                started: now,
                partition: p,
                epoch: self.epoch[p as usize],
                generation: entry.generation,
            };
            tokio::spawn(run_one(Arc::clone(&self.ctx), run, self.done_tx.clone()));
            started += 1;
        }
    }

    fn finish(&mut self, done: Done) {
        let Some(entry) = self.entries.get_mut(&done.name) else {
            return;
        };
        entry.running = false;
        let p = entry.partition as usize;
        if done.epoch == self.epoch[p] {
            entry.state = done.state;
        }
        if !self.active[p] {
            return;
        }
        let next = if done.generation == entry.generation {
            done.next
        } else {
            // Redefined while it ran: the new definition's times.
            let next = next_run(
                &entry.check.cadence,
                &entry.check.name,
                done.scheduled.max(now_millis()),
            );
            self.ctx
                .statuses
                .update(&done.name, |s| s.next_run_ms = next);
            next
        };
        if let Some(at) = next {
            entry.next = Some(at);
            self.heap
                .push(Reverse((at, entry.generation, Arc::clone(&done.name))));
        }
    }

    /// Queues `name`'s next run from now, if its partition runs here and it is not running.
    fn schedule_from_now(&mut self, name: &Arc<str>) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        if entry.running || !self.active[entry.partition as usize] {
            return;
        }
        let next = next_run(&entry.check.cadence, &entry.check.name, now_millis());
        entry.next = next;
        if let Some(at) = next {
            self.heap
                .push(Reverse((at, entry.generation, Arc::clone(name))));
        }
        self.ctx.statuses.update(name, |s| s.next_run_ms = next);
    }

    fn apply(&mut self, report: LeaseReport) {
        match report {
            LeaseReport::Held(held) => {
                for p in 0..CHECK_PARTITIONS {
                    let i = p as usize;
                    let holds = held.binary_search(&p).is_ok();
                    if self.active[i] && !holds {
                        self.active[i] = false;
                        self.dropped[i] = false;
                        for name in &self.members[i] {
                            self.ctx.statuses.update(name, |s| s.next_run_ms = None);
                        }
                    } else if self.active[i] && holds && self.dropped[i] {
                        // The lease looked expired at a run's time but the store still had it:
                        // nobody else ran these checks, so memory is still right.
                        self.dropped[i] = false;
                        let names: Vec<Arc<str>> = self.members[i]
                            .iter()
                            .filter(|n| self.entries.get(*n).is_some_and(|e| e.next.is_none()))
                            .cloned()
                            .collect();
                        for name in &names {
                            self.schedule_from_now(name);
                        }
                    }
                }
            }
            LeaseReport::Gained { partitions, states } => {
                for p in partitions {
                    let i = p as usize;
                    self.active[i] = true;
                    self.dropped[i] = false;
                    self.epoch[i] += 1;
                    let names = self.members[i].clone();
                    for name in &names {
                        let state = states.get(&**name).copied().unwrap_or_default();
                        if let Some(entry) = self.entries.get_mut(name) {
                            entry.state = state;
                            // A heap entry from an earlier holding stays valid only if it is
                            // still queued; otherwise queue anew.
                            let queued = entry.next.is_some();
                            self.ctx.statuses.update(name, |s| s.state = state);
                            if !queued {
                                self.schedule_from_now(name);
                            }
                        }
                    }
                }
            }
        }
    }

    fn set_group(
        &mut self,
        group: &str,
        checks: Vec<CompiledCheck>,
        stored: &HashMap<String, AlertState>,
    ) {
        let mut incoming: HashMap<String, CompiledCheck> = HashMap::with_capacity(checks.len());
        for check in checks {
            if incoming.contains_key(&check.name) {
                tracing::warn!(check = %check.name, group, "check defined twice in one group; the first is kept");
                continue;
            }
            incoming.insert(check.name.clone(), check);
        }
        let removed: Vec<Arc<str>> = self
            .entries
            .iter()
            .filter(|(name, e)| &*e.group == group && !incoming.contains_key(&***name))
            .map(|(name, _)| Arc::clone(name))
            .collect();
        for name in removed {
            if let Some(entry) = self.entries.remove(&name) {
                self.members[entry.partition as usize].retain(|n| *n != name);
                self.ctx.statuses.remove(&name);
                tracing::info!(check = %name, group, "check removed");
            }
        }
        let group: Arc<str> = Arc::from(group);
        for (name, check) in incoming {
            let key: Arc<str> = Arc::from(name.as_str());
            match self.entries.get_mut(&key) {
                Some(entry) if entry.group != group => {
                    tracing::warn!(check = %name, group = %group, defined_in = %entry.group, "check name already used by another group; skipped");
                }
                Some(entry) if entry.check.same_definition(&check) => {}
                Some(entry) => {
                    self.next_generation += 1;
                    entry.generation = self.next_generation;
                    entry.next = None;
                    let target = check.target.clone();
                    entry.check = Arc::new(check);
                    self.ctx.statuses.update(&key, |s| s.target = target);
                    tracing::info!(check = %name, group = %group, "check changed; restarting it");
                    self.schedule_from_now(&key);
                }
                None => {
                    let partition = partition_of(&name);
                    let state = if self.active[partition as usize] {
                        stored.get(&name).copied().unwrap_or_default()
                    } else {
                        AlertState::default()
                    };
                    self.ctx.statuses.set(
                        &name,
                        CheckStatus {
                            target: check.target.clone(),
                            state,
                            last_run: None,
                            next_run_ms: None,
                            in_maintenance: false,
                        },
                    );
                    self.next_generation += 1;
                    self.entries.insert(
                        Arc::clone(&key),
                        Entry {
                            metrics: Arc::new(CheckMetrics::new(&name)),
                            check: Arc::new(check),
                            group: Arc::clone(&group),
                            partition,
                            state,
                            generation: self.next_generation,
                            next: None,
                            running: false,
                        },
                    );
                    self.members[partition as usize].push(Arc::clone(&key));
                    self.schedule_from_now(&key);
                }
            }
        }
    }

    /// The checks this instance may probe on another's behalf (`confirm: 1`).
    fn share_checks(&self) {
        let checks = self
            .entries
            .iter()
            .map(|(name, e)| (name.to_string(), Arc::clone(&e.check)))
            .collect();
        self.ctx.confirmer.set_checks(checks);
    }

    /// Once a second: behind schedule or not, the events that go with a change, and, behind
    /// in a cluster, a quarter of the partitions given back (once per cool-down).
    fn judge_lag(&mut self) {
        let now = now_millis();
        let summary = self.lag.summary(now);
        metrics::gauge!(m::MONITOR_LAG).set(summary.max_ms as f64 / 1000.0);
        let change = self.behind.observe(&summary, now);
        metrics::gauge!(m::MONITOR_BEHIND).set(if self.behind.behind { 1.0 } else { 0.0 });
        match change {
            Some(LagChange::FellBehind { announce }) => {
                tracing::warn!(
                    lag_ms = summary.max_ms,
                    late_runs = summary.late,
                    runs = summary.runs,
                    threshold_ms = self.lag.threshold_ms(),
                    "checks are behind schedule"
                );
                if announce {
                    self.announce(BEHIND_DETAIL_TYPE, &summary);
                }
            }
            Some(LagChange::CaughtUp { announce }) => {
                tracing::info!(lag_ms = summary.max_ms, "checks are back on schedule");
                if announce {
                    self.announce(CAUGHT_UP_DETAIL_TYPE, &summary);
                }
            }
            None => {}
        }
        let cooling = self.yield_until.is_some_and(|t| now < t);
        if self.behind.behind && !cooling && self.instances.load(Ordering::Relaxed) > 1 {
            let cooldown = i64::try_from(self.opts.cooldown().as_millis()).unwrap_or(0);
            self.yield_until = Some(now + cooldown);
            let _ = self.requests.send(LeaseRequest::Yield);
        }
    }

    fn announce(&self, detail_type: &str, summary: &LagSummary) {
        let owned: usize = (0..CHECK_PARTITIONS as usize)
            .filter(|&p| self.active[p])
            .map(|p| self.members[p].len())
            .sum();
        let event = monitor_event(
            detail_type,
            &self.opts.owner,
            summary,
            owned,
            self.lag.threshold_ms(),
        );
        let emission = Emission {
            check: String::new(),
            event: Some(event),
            state: None,
        };
        if self.ctx.emissions.try_send(emission).is_err() {
            tracing::warn!(
                detail_type,
                "monitor event dropped: the alert queue is full"
            );
        }
    }
}

/// The `signalbox.monitor` event for `detail_type` (`Monitor Behind Schedule` or
/// `Monitor Caught Up`).
pub fn monitor_event(
    detail_type: &str,
    instance: &str,
    summary: &LagSummary,
    checks_owned: usize,
    threshold_ms: i64,
) -> Event {
    let mut detail = Map::with_capacity(6);
    detail.insert("instance".into(), json!(instance));
    detail.insert("lag_ms".into(), json!(summary.max_ms));
    detail.insert("late_runs".into(), json!(summary.late));
    detail.insert("runs".into(), json!(summary.runs));
    detail.insert("checks_owned".into(), json!(checks_owned));
    detail.insert("threshold_ms".into(), json!(threshold_ms));
    let mut event = Event::new(MONITOR_SOURCE, detail_type, detail);
    event.resources.push(format!("instance/{instance}"));
    event
}

/// One run: probe, judge, count, update the alert state and queue what it announces; then
/// hand the state back to the loop.
async fn run_one(ctx: Arc<RunContext>, run: Run, done: mpsc::UnboundedSender<Done>) {
    let Run {
        name,
        check,
        metrics,
        mut state,
        scheduled,
        started,
        partition,
        epoch,
        generation,
    } = run;
    let outcome = tokio::select! {
        () = ctx.stop.cancelled() => return,
        outcome = check.run_once() => outcome,
    };
    if outcome.success() {
        metrics.success.increment(1);
        metrics.up.set(1.0);
    } else {
        metrics.failure.increment(1);
        metrics.up.set(0.0);
    }
    metrics
        .duration
        .record(outcome.result.response_time_ms as f64 / 1000.0);
    // Result reporting (report.rs): counts assertion failures and queues the result for the
    // check's report targets without waiting; maintenance runs are reported too.
    ctx.reporter
        .observe_run(&check, scheduled, started, &outcome);
    if let Some(failure) = &outcome.failure {
        tracing::debug!(
            check = %check.name,
            assertion = failure.assertion.as_deref().unwrap_or("(default)"),
            reason = %failure.reason,
            "check run failed"
        );
    }
    let now = now_millis();
    // A run that overran its period skips the times it missed.
    let next = next_run(&check.cadence, &check.name, scheduled.max(now));
    if check.in_maintenance(scheduled) {
        // Keep checking (metrics above) but leave the alert state alone: planned downtime
        // neither alerts nor leaves a recovery to announce afterwards.
        ctx.statuses.update(&name, |s| {
            s.last_run = Some((started, outcome));
            s.in_maintenance = true;
            s.next_run_ms = next;
        });
    } else {
        let before = state;
        let mut alert = state.observe(outcome.success(), now, &check.thresholds);
        let confirm = check.config().confirm > 0 && alert == Some(Alert::Failed);
        let mut confirmed_by = None;
        if confirm {
            match ctx.confirmer.ask(&check.name, &ctx.stop).await {
                Verdict::Failed { by } => confirmed_by = Some(by),
                Verdict::Succeeded { by } => {
                    // Reachable from elsewhere: this instance's view is the problem, so the
                    // run counts as a success and nothing is announced.
                    tracing::info!(check = %check.name, confirmed_by = %by, "another instance reached the check; no alert");
                    state = before;
                    alert = state.observe(true, now, &check.thresholds);
                }
                Verdict::Unavailable(reason) => {
                    tracing::warn!(check = %check.name, %reason, "failure not confirmed by another instance; alerting anyway");
                }
                Verdict::Stopped => return,
            }
        }
        let event = alert.map(|alert| {
            tracing::info!(
                check = %check.name,
                alert = alert.detail_type(),
                state = state.health.as_str(),
                "check alert"
            );
            let mut event = alert_event(&check, alert, &state, &outcome);
            if confirm && alert == Alert::Failed {
                event
                    .detail
                    .insert("confirmed_by".into(), json!(confirmed_by));
            }
            event
        });
        let changed = (before.health, before.last_alert_ms) != (state.health, state.last_alert_ms);
        // The API shows the new state before anyone can have received the alert.
        ctx.statuses.update(&name, |s| {
            s.state = state;
            s.last_run = Some((started, outcome));
            s.in_maintenance = false;
            s.next_run_ms = next;
        });
        if event.is_some() || changed {
            // Lost the partition during the run: the new owner reads the stored state and
            // judges its own runs, so announcing here could repeat what it announces.
            if ctx.leases.valid(partition, now) {
                let emission = Emission {
                    check: check.name.clone(),
                    event,
                    state: changed.then_some((state, now)),
                };
                if ctx.emissions.send(emission).await.is_err() {
                    return;
                }
            } else {
                tracing::info!(check = %check.name, "check partition moved during the run; its verdict is left to the new owner");
            }
        }
    }
    let _ = done.send(Done {
        name,
        state,
        epoch,
        generation,
        scheduled,
        next,
    });
}

/// Hands queued events to the sink and states to the state store, in order; retries while
/// they fail (until `stop`, after which each remaining item gets one more try). The state is
/// saved after its event is accepted: a crash in between repeats the alert rather than lose it.
async fn emit(
    mut rx: mpsc::Receiver<Emission>,
    sink: Arc<dyn AlertSink>,
    states: Arc<dyn StateStore>,
    stop: CancellationToken,
) {
    while let Some(emission) = rx.recv().await {
        if let Some(event) = emission.event {
            emit_event(event, &*sink, &stop).await;
        }
        if let Some((state, now)) = emission.state {
            let mut backoff = Duration::from_millis(100);
            while let Err(error) = states.save(&emission.check, &state, now).await {
                tracing::warn!(check = %emission.check, %error, "check state not saved; retrying");
                if !wait_before_retry(&mut backoff, &stop).await {
                    break;
                }
            }
        }
    }
}

/// Sleeps `backoff` (doubling it, up to 10 s) unless `stop` is cancelled; false once it is, so
/// the caller makes no further try.
async fn wait_before_retry(backoff: &mut Duration, stop: &CancellationToken) -> bool {
    if stop.is_cancelled() {
        return false;
    }
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(10));
    true
}

/// Offers one event to the sink until it is accepted, the sink closes, or `stop` (after one
/// more try).
async fn emit_event(event: Event, sink: &dyn AlertSink, stop: &CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match sink.emit(vec![event.clone()]).await {
            Ok(()) => break,
            Err(SinkError::Closed) => {
                tracing::warn!(check_event = %event.id, "alert event dropped: ingest is closed");
                break;
            }
            Err(SinkError::Retry(error)) => {
                tracing::warn!(check_event = %event.id, %error, "alert event not accepted; retrying");
                if !wait_before_retry(&mut backoff, stop).await {
                    break;
                }
            }
        }
    }
}

/// The event for `alert`: `source: "signalbox.check"`, `detail-type` `Check Failed` /
/// `Check Recovered` / `Check Reminder`.
pub fn alert_event(
    check: &CompiledCheck,
    alert: Alert,
    state: &AlertState,
    outcome: &CheckOutcome,
) -> Event {
    let failure = outcome.failure.as_ref();
    let detail = json!({
        "check": check.name,
        "url": check.target,
        "state": state.health.as_str(),
        "assertion": failure.and_then(|f| f.assertion.clone()),
        "reason": failure.map(|f| f.reason.clone()),
        "status": outcome.result.status,
        "response_time_ms": outcome.result.response_time_ms,
        "error": outcome.result.error,
        "extracts": Value::Object(outcome.extracts.clone()),
        "consecutive_failures": state.consecutive_failures,
        "consecutive_successes": state.consecutive_successes,
    });
    let mut detail = match detail {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    detail.extend(outcome.result.kind_fields());
    let mut event = Event::new(EVENT_SOURCE, alert.detail_type(), detail);
    event.resources.push(check.target.clone());
    event
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::Router;
    use axum::routing::get;
    use signalbox_config::CheckConfig;

    use super::*;
    use crate::alert::Health;
    use crate::state_store::MemoryStates;

    impl Monitor {
        /// Starts alone on an in-memory SQLite store: every partition is this instance's.
        async fn start_solo(
            self,
            sink: Arc<dyn AlertSink>,
            states: Arc<dyn StateStore>,
            stop: CancellationToken,
        ) -> JoinHandle<()> {
            self.start_solo_with(sink, states, MonitorOptions::new("solo".into()), stop)
                .await
                .1
        }

        async fn start_solo_with(
            self,
            sink: Arc<dyn AlertSink>,
            states: Arc<dyn StateStore>,
            opts: MonitorOptions,
            stop: CancellationToken,
        ) -> (MonitorHandle, JoinHandle<()>) {
            let store = signalbox_store::open("sqlite::memory:", &Default::default())
                .await
                .unwrap();
            self.start(sink, states, Arc::from(store), opts, stop).await
        }
    }

    #[derive(Default)]
    struct Collect(Mutex<Vec<Event>>);

    #[async_trait]
    impl AlertSink for Collect {
        async fn emit(&self, events: Vec<Event>) -> Result<(), SinkError> {
            self.0.lock().unwrap().extend(events);
            Ok(())
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn an_outage_yields_one_failed_and_one_recovered() {
        let up = Arc::new(AtomicBool::new(true));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = {
            let (up, hits) = (up.clone(), hits.clone());
            Router::new().route(
                "/health",
                get(move || {
                    let status = if up.load(Ordering::SeqCst) {
                        "ok"
                    } else {
                        "down"
                    };
                    hits.fetch_add(1, Ordering::SeqCst);
                    async move { axum::Json(json!({"status": status, "version": "1.0"})) }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let config: CheckConfig = serde_json::from_value(json!({
            "http": {"url": format!("http://{addr}/health")},
            "schedule": {"every": "100ms"},
            "assert": ["json.status == \"ok\""],
            "extract": {"version": "$.version"},
            "failure_threshold": 2,
            "success_threshold": 2,
        }))
        .unwrap();
        let clients = HttpClients::new().unwrap();
        let check = CompiledCheck::build("api", &config, "UTC", &clients).unwrap();
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        let states = Arc::new(MemoryStates::default());
        let monitor = Monitor::new(vec![check]);
        let statuses = monitor.statuses();
        let task = monitor
            .start_solo(sink.clone(), states.clone(), stop.clone())
            .await;
        let count = || hits.load(Ordering::SeqCst);

        wait_for("healthy runs", || count() >= 4).await;
        assert!(
            sink.0.lock().unwrap().is_empty(),
            "unknown → healthy is silent"
        );
        up.store(false, Ordering::SeqCst);
        wait_for("check failed", || !sink.0.lock().unwrap().is_empty()).await;
        let status = statuses.get("api").unwrap();
        assert_eq!(status.state.health, Health::Failing);
        let shown = status.to_json("api");
        assert_eq!(shown["state"], "failing");
        assert_eq!(shown["last_run"]["success"], false);
        assert_eq!(shown["last_run"]["extracts"]["version"], "1.0");
        assert!(shown["next_run_at"].is_string(), "{shown}");
        let seen = count();
        wait_for("more failing runs", || count() >= seen + 4).await;
        up.store(true, Ordering::SeqCst);
        wait_for("check recovered", || sink.0.lock().unwrap().len() >= 2).await;
        let seen = count();
        wait_for("more healthy runs", || count() >= seen + 4).await;
        stop.cancel();
        task.await.unwrap();

        let events = sink.0.lock().unwrap().clone();
        let kinds: Vec<&str> = events.iter().map(|e| e.detail_type.as_str()).collect();
        assert_eq!(kinds, ["Check Failed", "Check Recovered"]);
        let failed = &events[0];
        assert_eq!(failed.source, "signalbox.check");
        assert_eq!(failed.detail["check"], "api");
        assert_eq!(failed.detail["assertion"], "json.status == \"ok\"");
        assert_eq!(failed.detail["status"], 200);
        assert_eq!(failed.detail["extracts"], json!({"version": "1.0"}));
        assert_eq!(failed.detail["state"], "failing");
        assert_eq!(events[1].detail["state"], "healthy");
        assert_eq!(events[1].detail["assertion"], Value::Null);
        assert_eq!(states.0.lock().unwrap()["api"].health, Health::Healthy);
    }

    #[tokio::test]
    async fn maintenance_mutes_alerts_but_keeps_checking() {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = {
            let hits = hits.clone();
            Router::new().route(
                "/health",
                get(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async { axum::http::StatusCode::SERVICE_UNAVAILABLE }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config: CheckConfig = serde_json::from_value(json!({
            "http": {"url": format!("http://{addr}/health")},
            "schedule": {"every": "100ms"},
            "failure_threshold": 1,
            "maintenance": [{"from": "2020-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}],
        }))
        .unwrap();
        let clients = HttpClients::new().unwrap();
        let check = CompiledCheck::build("api", &config, "UTC", &clients).unwrap();
        assert!(check.in_maintenance(now_millis()));
        let sink = Arc::new(Collect::default());
        let states = Arc::new(MemoryStates::default());
        let stop = CancellationToken::new();
        let task = Monitor::new(vec![check])
            .start_solo(sink.clone(), states.clone(), stop.clone())
            .await;
        wait_for("runs", || hits.load(Ordering::SeqCst) >= 5).await;
        stop.cancel();
        task.await.unwrap();
        assert!(sink.0.lock().unwrap().is_empty(), "muted");
        assert!(states.0.lock().unwrap().is_empty(), "state untouched");
    }

    #[tokio::test]
    async fn a_closed_tcp_port_fails_and_reminds() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config: CheckConfig = serde_json::from_value(json!({
            "tcp": {"host": "127.0.0.1", "port": port, "timeout": "1s"},
            "schedule": {"every": "100ms"},
            "failure_threshold": 1,
            "remind_every": "300ms",
        }))
        .unwrap();
        let clients = HttpClients::new().unwrap();
        let check = CompiledCheck::build("db", &config, "UTC", &clients).unwrap();
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        let task = Monitor::new(vec![check])
            .start_solo(
                sink.clone(),
                Arc::new(MemoryStates::default()),
                stop.clone(),
            )
            .await;
        wait_for("two reminders", || sink.0.lock().unwrap().len() >= 3).await;
        stop.cancel();
        task.await.unwrap();
        let events = sink.0.lock().unwrap().clone();
        assert_eq!(events[0].detail_type, "Check Failed");
        assert!(
            events[1..]
                .iter()
                .all(|e| e.detail_type == "Check Reminder")
        );
        assert_eq!(events[0].detail["url"], format!("127.0.0.1:{port}"));
        assert!(
            events[0].detail["reason"]
                .as_str()
                .unwrap()
                .starts_with("connect:"),
            "{:?}",
            events[0].detail
        );
        // Reminders are about remind_every apart (decided on run times; events are stamped a
        // moment later).
        let gap = events[2].time - events[1].time;
        assert!(gap.num_milliseconds() >= 250, "{gap:?}");
    }

    #[tokio::test]
    async fn a_restart_keeps_a_failing_check_failing() {
        let up = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = {
            let (up, hits) = (up.clone(), hits.clone());
            Router::new().route(
                "/health",
                get(move || {
                    let code = if up.load(Ordering::SeqCst) { 200 } else { 503 };
                    hits.fetch_add(1, Ordering::SeqCst);
                    async move { axum::http::StatusCode::from_u16(code).unwrap() }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config: CheckConfig = serde_json::from_value(json!({
            "http": {"url": format!("http://{addr}/health")},
            "schedule": {"every": "100ms"},
            "failure_threshold": 2,
            "success_threshold": 2,
        }))
        .unwrap();
        let clients = HttpClients::new().unwrap();
        let sink = Arc::new(Collect::default());
        let states = Arc::new(MemoryStates::default());
        let count = || hits.load(Ordering::SeqCst);

        // First life: down from the start, one Check Failed.
        let stop = CancellationToken::new();
        let check = CompiledCheck::build("api", &config, "UTC", &clients).unwrap();
        let task = Monitor::new(vec![check])
            .start_solo(sink.clone(), states.clone(), stop.clone())
            .await;
        wait_for("check failed", || !sink.0.lock().unwrap().is_empty()).await;
        wait_for("state saved", || {
            states.0.lock().unwrap().get("api").map(|s| s.health) == Some(Health::Failing)
        })
        .await;
        stop.cancel();
        task.await.unwrap();

        // Second life: still down — no second Check Failed; then up — Check Recovered.
        let stop = CancellationToken::new();
        let check = CompiledCheck::build("api", &config, "UTC", &clients).unwrap();
        let task = Monitor::new(vec![check])
            .start_solo(sink.clone(), states.clone(), stop.clone())
            .await;
        let seen = count();
        wait_for("failing runs after restart", || count() >= seen + 5).await;
        assert_eq!(sink.0.lock().unwrap().len(), 1, "no second Check Failed");
        up.store(true, Ordering::SeqCst);
        wait_for("check recovered", || sink.0.lock().unwrap().len() >= 2).await;
        stop.cancel();
        task.await.unwrap();
        let kinds: Vec<String> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.detail_type.clone())
            .collect();
        assert_eq!(kinds, ["Check Failed", "Check Recovered"]);
    }

    /// A server answering every path, counting hits per path; paths starting with `down` answer
    /// 503.
    async fn counting_server() -> (String, Arc<Mutex<std::collections::HashMap<String, usize>>>) {
        let hits: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
        let app = {
            let hits = hits.clone();
            Router::new().route(
                "/{path}",
                get(
                    move |axum::extract::Path(path): axum::extract::Path<String>| {
                        let down = path.starts_with("down");
                        *hits.lock().unwrap().entry(path).or_default() += 1;
                        async move {
                            if down {
                                axum::http::StatusCode::SERVICE_UNAVAILABLE
                            } else {
                                axum::http::StatusCode::OK
                            }
                        }
                    },
                ),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), hits)
    }

    fn http_check(name: &str, url: &str, every: &str) -> CompiledCheck {
        let config: CheckConfig = serde_json::from_value(json!({
            "http": {"url": url},
            "schedule": {"every": every},
            "failure_threshold": 1,
            "success_threshold": 1,
        }))
        .unwrap();
        CompiledCheck::build(name, &config, "UTC", &HttpClients::new().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn groups_are_replaced_at_runtime() {
        let (base, hits) = counting_server().await;
        let count = |path: &str| hits.lock().unwrap().get(path).copied().unwrap_or(0);
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        let monitor = Monitor::new(vec![http_check("cfg", &format!("{base}/cfg"), "100ms")]);
        let statuses = monitor.statuses();
        let (handle, task) = monitor
            .start_solo_with(
                sink.clone(),
                Arc::new(MemoryStates::default()),
                MonitorOptions::new("solo".into()),
                stop.clone(),
            )
            .await;
        handle
            .set_group(
                "watcher",
                vec![
                    http_check("b", &format!("{base}/b"), "100ms"),
                    http_check("c", &format!("{base}/down-c"), "100ms"),
                ],
            )
            .await;
        wait_for("b, c and cfg running", || {
            count("b") >= 3 && count("cfg") >= 3 && count("down-c") >= 1
        })
        .await;
        wait_for("c failed", || sink.0.lock().unwrap().len() == 1).await;
        let names: Vec<String> = statuses.all().into_keys().collect();
        assert_eq!(names, ["b", "c", "cfg"]);

        // b goes, c changes (still down), d comes; a watcher "cfg" may not replace the config's.
        handle
            .set_group(
                "watcher",
                vec![
                    http_check("c", &format!("{base}/down-c2"), "100ms"),
                    http_check("d", &format!("{base}/d"), "100ms"),
                    http_check("cfg", &format!("{base}/cfg-other"), "100ms"),
                ],
            )
            .await;
        let names: Vec<String> = statuses.all().into_keys().collect();
        assert_eq!(names, ["c", "cfg", "d"], "b left the API at once");
        let b_hits = count("b");
        let c_hits = count("down-c");
        wait_for("d and the new c running", || {
            count("d") >= 3 && count("down-c2") >= 3
        })
        .await;
        // A run in flight during the change may still land.
        assert!(count("b") <= b_hits + 1, "b stopped");
        assert!(count("down-c") <= c_hits + 1, "the old c stopped");
        assert_eq!(count("cfg-other"), 0, "the config's cfg kept its name");
        let c = statuses.get("c").unwrap();
        assert!(c.target.ends_with("/down-c2"), "{}", c.target);
        assert_eq!(c.state.health, Health::Failing, "alert state kept by name");
        stop.cancel();
        task.await.unwrap();
        let kinds: Vec<String> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.detail_type.clone())
            .collect();
        assert_eq!(
            kinds,
            ["Check Failed"],
            "the restarted c did not fail again"
        );
    }

    /// Blocks its thread while `slow` is set: on a single-threaded runtime the whole loop is
    /// late, as on an overloaded instance.
    struct Blocking {
        slow: Arc<AtomicBool>,
    }

    #[async_trait]
    impl crate::probe::Probe for Blocking {
        async fn run(&self) -> crate::probe::ProbeResult {
            if self.slow.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(400));
            }
            crate::probe::ProbeResult {
                status: Some(200),
                connected: true,
                ..Default::default()
            }
        }
    }

    #[tokio::test]
    async fn a_loop_behind_schedule_says_so_once_then_catches_up() {
        let slow = Arc::new(AtomicBool::new(true));
        let config: CheckConfig = serde_json::from_value(json!({
            "http": {"url": "http://127.0.0.1:9/unused"},
            "schedule": {"every": "100ms"},
        }))
        .unwrap();
        let checks = (0..4)
            .map(|i| {
                let probe = Arc::new(Blocking { slow: slow.clone() });
                CompiledCheck::with_probe(&format!("slow-{i}"), &config, probe)
            })
            .collect();
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        let opts = MonitorOptions {
            max_lag: Duration::from_millis(150),
            ..MonitorOptions::new("solo".into())
        };
        let (_handle, task) = Monitor::new(checks)
            .start_solo_with(
                sink.clone(),
                Arc::new(MemoryStates::default()),
                opts,
                stop.clone(),
            )
            .await;
        let kinds = || -> Vec<String> {
            sink.0
                .lock()
                .unwrap()
                .iter()
                .map(|e| e.detail_type.clone())
                .collect()
        };
        wait_for("behind schedule", || !kinds().is_empty()).await;
        let behind = sink.0.lock().unwrap()[0].clone();
        assert_eq!(behind.source, "signalbox.monitor");
        assert_eq!(behind.detail_type, "Monitor Behind Schedule");
        assert_eq!(behind.detail["instance"], "solo");
        assert_eq!(behind.detail["threshold_ms"], 150);
        assert_eq!(behind.detail["checks_owned"], 4);
        assert!(
            behind.detail["lag_ms"].as_i64().unwrap() > 150,
            "{:?}",
            behind.detail
        );
        slow.store(false, Ordering::SeqCst);
        wait_for("caught up", || kinds().len() >= 2).await;
        stop.cancel();
        task.await.unwrap();
        assert_eq!(kinds(), ["Monitor Behind Schedule", "Monitor Caught Up"]);
    }
}
