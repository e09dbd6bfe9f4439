//! The dispatcher: leases due deliveries, calls their targets, records each outcome.
//!
//! Leases make delivery at-least-once across crashes: a delivery claimed by a process that died
//! is due again once its lease expires, and is attempted with the same delivery id.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use signalbox_core::metric_names as m;
use signalbox_core::time::{Millis, now_millis};
use signalbox_store::{AttemptRecord, Job, ScheduleSource, Store};
use signalbox_targets::{AttemptOutcome, DeliveryRequest};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::{RetryDecision, decide};
use crate::router::{Router, TargetEntry};

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// This process's lease owner name; unique per process.
    pub owner: String,
    /// How long a claimed delivery stays ours.
    pub lease: Duration,
    /// Longest sleep between looks for due work (other instances and retries make work too).
    pub poll_interval: Duration,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
    /// On shutdown, how long in-flight deliveries may finish before their leases are released.
    pub shutdown_grace: Duration,
}

impl DispatcherOptions {
    /// Defaults with a fresh owner name.
    pub fn new() -> DispatcherOptions {
        DispatcherOptions {
            owner: format!("{}-{}", std::process::id(), signalbox_core::ids::new_id()),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            concurrency: 64,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions::new()
    }
}

/// Delivers the outbox.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    router: Arc<Router>,
    opts: DispatcherOptions,
    wake: Arc<Notify>,
}

struct Shared {
    store: Arc<dyn Store>,
    router: Arc<Router>,
    owner: String,
    wake: Arc<Notify>,
    /// Claimed deliveries whose outcome is not recorded yet: released on a stop.
    in_flight: Mutex<HashSet<String>>,
}

/// Most outcomes written in one transaction.
const RECORD_BATCH: usize = 256;

impl Dispatcher {
    /// A dispatcher; `wake` is notified when new deliveries may be due.
    pub fn new(
        store: Arc<dyn Store>,
        router: Arc<Router>,
        opts: DispatcherOptions,
        wake: Arc<Notify>,
    ) -> Dispatcher {
        Dispatcher {
            store,
            router,
            opts,
            wake,
        }
    }

    /// Runs until `shutdown` is cancelled; then lets in-flight deliveries finish within the grace
    /// period and releases the leases of those that did not.
    pub async fn run(self, shutdown: CancellationToken) {
        let opts = self.opts;
        let shared = Arc::new(Shared {
            store: self.store,
            router: self.router,
            owner: opts.owner.clone(),
            wake: self.wake,
            in_flight: Mutex::new(HashSet::new()),
        });
        let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
        let (outcomes, outcome_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_loop(shared.clone(), outcome_rx));
        let mut tasks = JoinSet::new();
        let lease_ms = millis(opts.lease);
        // Claiming is a write transaction: take work in chunks, not one slot at a time.
        let min_claim = (opts.concurrency / 4).max(1);
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free < min_claim && !tasks.is_empty() {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            let now = now_millis();
            let limit = u32::try_from(free).unwrap_or(u32::MAX);
            let jobs = match shared
                .store
                .claim_due(&shared.owner, now, now + lease_ms, limit)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(opts.poll_interval) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            let claimed = jobs.len();
            for job in jobs {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                if let Ok(mut set) = shared.in_flight.lock() {
                    set.insert(job.delivery.id.clone());
                }
                let shared = shared.clone();
                let outcomes = outcomes.clone();
                tasks.spawn(async move {
                    let id = job.delivery.id.clone();
                    let record = attempt(&shared, &job).await;
                    // The recorder owns the outcome now; the slot is free for the next claim.
                    let _ = outcomes.send((id, record));
                    drop(permit);
                });
            }
            if claimed as u32 == limit {
                continue; // there may be more due right now
            }
            let sleep = match shared.store.next_due().await {
                Ok(Some(at)) => {
                    Duration::from_millis(u64::try_from(at - now_millis()).unwrap_or(0))
                        .min(opts.poll_interval)
                }
                _ => opts.poll_interval,
            };
            if sleep.is_zero() && claimed == 0 {
                // Due work we could not claim is leased by someone else: don't spin on it.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "waiting for in-flight deliveries");
            let drained = tokio::time::timeout(opts.shutdown_grace, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
        // Every outcome reached the recorder; let it write them before releasing the rest.
        drop(outcomes);
        if let Err(e) = recorder.await {
            tracing::error!(error = %e, "the outcome recorder failed");
        }
        let left: Vec<String> = shared
            .in_flight
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if !left.is_empty() {
            match shared.store.release(&left, &shared.owner).await {
                Ok(()) => tracing::info!(released = left.len(), "released unfinished deliveries"),
                Err(e) => {
                    tracing::warn!(error = %e, "releasing leases failed; they expire on their own")
                }
            }
        }
    }
}

fn millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The target a delivery is for. An API schedule's targets live in the store: one this
/// instance has not built yet (created or changed through another instance, fired by a third)
/// is built from its stored definition on first use.
/// A store error is returned as such: the delivery is tried again later, not given up.
async fn target_of(
    shared: &Shared,
    rule: &str,
    index: u32,
) -> Result<Option<TargetEntry>, signalbox_store::StoreError> {
    if let Some(entry) = shared.router.target(rule, index) {
        return Ok(Some(entry));
    }
    let (Some(name), Some(api)) = (
        rule.strip_prefix(signalbox_config::schedule::SCHEDULE_RULE_PREFIX),
        shared.router.api_schedules(),
    ) else {
        return Ok(None);
    };
    match shared.store.schedule(name).await? {
        Some(row) if row.source == ScheduleSource::Api => {
            if let Err(error) = api.load(name, &row.definition) {
                tracing::warn!(%error, schedule = name, "an API schedule's targets cannot be built");
            }
            Ok(shared.router.target(rule, index))
        }
        _ => Ok(None),
    }
}

/// Makes one attempt and decides what becomes of the delivery. Records nothing.
async fn attempt(shared: &Shared, job: &Job) -> AttemptRecord {
    let d = &job.delivery;
    let number = d.attempts + 1;
    let record = match target_of(shared, &d.rule, d.target).await {
        Err(error) => AttemptRecord::Retry {
            next_attempt_at: now_millis() + 1_000,
            error: format!("looking up the target failed: {error}"),
            status: None,
        },
        Ok(None) => AttemptRecord::Dead {
            error: format!(
                "rule {:?} has no target {} any more (config changed)",
                d.rule, d.target
            ),
            status: None,
        },
        Ok(Some(entry)) => match serde_json::from_str::<Value>(&job.event_body) {
            Err(e) => AttemptRecord::Dead {
                error: format!("stored event is not valid JSON: {e}"),
                status: None,
            },
            Ok(event) => {
                let req = DeliveryRequest {
                    delivery_id: &d.id,
                    event: &event,
                    rule: &d.rule,
                    attempt: number,
                    accepted_at: job.accepted_at,
                };
                let started = Instant::now();
                let outcome = entry.target.deliver(&req).await;
                metrics::histogram!(m::ATTEMPT_DURATION, "target" => entry.target.kind())
                    .record(started.elapsed().as_secs_f64());
                match outcome {
                    AttemptOutcome::Delivered { status } => AttemptRecord::Done { status },
                    AttemptOutcome::Permanent { error, status } => {
                        AttemptRecord::Dead { error, status }
                    }
                    AttemptOutcome::Retry {
                        error,
                        status,
                        retry_after,
                    } => {
                        let age = Duration::from_millis(
                            u64::try_from(now_millis() - d.age_from).unwrap_or(0),
                        );
                        let unit: f64 = rand::random();
                        match decide(&entry.policy, number, age, retry_after, unit) {
                            RetryDecision::After(delay) => AttemptRecord::Retry {
                                next_attempt_at: now_millis() + millis(delay),
                                error,
                                status,
                            },
                            RetryDecision::OutOfAttempts => AttemptRecord::Dead {
                                error: format!("gave up after {number} attempts: {error}"),
                                status,
                            },
                            RetryDecision::TooOld => AttemptRecord::Dead {
                                error: format!(
                                    "gave up after {number} attempts, max_age reached: {error}"
                                ),
                                status,
                            },
                        }
                    }
                }
            }
        },
    };
    let now = now_millis();
    let outcome = match &record {
        AttemptRecord::Done { .. } => "done",
        AttemptRecord::Retry { .. } => "retry",
        AttemptRecord::Dead { .. } => "dead",
    };
    metrics::counter!(m::DELIVERY_ATTEMPTS, "outcome" => outcome).increment(1);
    match &record {
        AttemptRecord::Done { .. } => {
            metrics::counter!(m::DELIVERIES_FINISHED, "outcome" => "done").increment(1);
            let latency = (now - job.accepted_at).max(0) as f64 / 1000.0;
            metrics::histogram!(m::DELIVERY_LATENCY).record(latency);
            tracing::debug!(delivery_id = %d.id, rule = %d.rule, attempt = number, "delivered");
        }
        AttemptRecord::Retry {
            error,
            next_attempt_at,
            ..
        } => {
            tracing::warn!(delivery_id = %d.id, rule = %d.rule, attempt = number, retry_in_ms = next_attempt_at - now, error = %error, "delivery failed; will retry");
        }
        AttemptRecord::Dead { error, .. } => {
            metrics::counter!(m::DELIVERIES_FINISHED, "outcome" => "dead").increment(1);
            tracing::error!(delivery_id = %d.id, rule = %d.rule, attempt = number, error = %error, "delivery dead");
        }
    }
    record
}

/// Writes outcomes in batches: one transaction for everything that finished meanwhile, instead of
/// one commit (one fsync on SQLite) per delivery, which would stall ingest behind the dispatcher.
async fn record_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<(String, AttemptRecord)>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        match shared
            .store
            .record_attempts(&shared.owner, now_millis(), &batch)
            .await
        {
            Ok(done) => {
                let mut retry = false;
                for ((id, record), ok) in batch.iter().zip(done) {
                    if !ok {
                        tracing::warn!(delivery_id = %id, "lease lost before the outcome was recorded; another instance owns it now");
                    }
                    retry |= ok && matches!(record, AttemptRecord::Retry { .. });
                }
                if retry {
                    // The dispatcher may be asleep past a retry's due time.
                    shared.wake.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, outcomes = batch.len(), "recording outcomes failed; those deliveries are attempted again when their leases expire");
            }
        }
        if let Ok(mut set) = shared.in_flight.lock() {
            for (id, _) in &batch {
                set.remove(id);
            }
        }
        batch.clear();
    }
}
