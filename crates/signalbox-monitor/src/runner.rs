//! The check loop: one task per check sleeps until its next time, probes, judges, updates its
//! alert state and, when the state machine says so, queues an event. One emitter task hands
//! the queued events to ingest in order, retrying while the store is unavailable, so a slow
//! store never holds a probe up and rules + targets deliver alerts durably.
//!
//! A check's health is saved through a [`StateStore`] when it changes (after the event that
//! announces the change is accepted), and loaded at start, so a restart neither re-announces an
//! outage nor forgets one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use signalbox_core::Event;
use signalbox_core::metric_names as m;
use signalbox_core::time::now_millis;
use signalbox_engine::{IngestError, IngestHandle};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::alert::{Alert, AlertState};
use crate::cadence::next_run;
use crate::check::{CheckOutcome, CompiledCheck, MonitorError};
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

/// Alert events queued before check tasks wait for the emitter.
const QUEUE: usize = 1024;

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

/// The checks of one instance.
#[derive(Debug, Default)]
pub struct Monitor {
    checks: Vec<Arc<CompiledCheck>>,
    statuses: CheckStatuses,
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
                Ok(c) => compiled.push(Arc::new(c)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Monitor::from_arcs(compiled))
        } else {
            Err(errors)
        }
    }

    /// A monitor running exactly these checks.
    pub fn new(checks: Vec<CompiledCheck>) -> Monitor {
        Monitor::from_arcs(checks.into_iter().map(Arc::new).collect())
    }

    fn from_arcs(checks: Vec<Arc<CompiledCheck>>) -> Monitor {
        Monitor {
            checks,
            statuses: CheckStatuses::default(),
        }
    }

    /// The checks' statuses, updated by their tasks once started (for `GET /v1/checks`).
    pub fn statuses(&self) -> CheckStatuses {
        self.statuses.clone()
    }

    /// How many checks run.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Loads the stored alert states, then starts every check and the emitter. A store that
    /// cannot be read is logged and every check starts `unknown`. After `stop`, checks stop at
    /// once (a probe in flight is abandoned), the emitter offers what is queued once more, and
    /// the returned task ends, dropping `sink`.
    pub async fn start(
        self,
        sink: Arc<dyn AlertSink>,
        states: Arc<dyn StateStore>,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let mut stored = match states.load().await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "check states cannot be read; every check starts unknown");
                Default::default()
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let emitter = tokio::spawn(emit(rx, sink, states, stop.clone()));
        let mut tasks = JoinSet::new();
        for check in self.checks {
            let state = stored.remove(&check.name).unwrap_or_default();
            self.statuses.set(
                &check.name,
                CheckStatus {
                    target: check.target.clone(),
                    state,
                    last_run: None,
                    next_run_ms: None,
                    in_maintenance: false,
                },
            );
            let statuses = self.statuses.clone();
            tasks.spawn(run_check(check, state, statuses, tx.clone(), stop.clone()));
        }
        drop(tx);
        tokio::spawn(async move {
            while tasks.join_next().await.is_some() {}
            let _ = emitter.await;
        })
    }
}

async fn run_check(
    check: Arc<CompiledCheck>,
    mut state: AlertState,
    statuses: CheckStatuses,
    tx: mpsc::Sender<Emission>,
    stop: CancellationToken,
) {
    let mut after = now_millis();
    let labels = [("check", check.name.clone())];
    loop {
        let Some(next) = next_run(&check.cadence, &check.name, after) else {
            tracing::info!(check = %check.name, "check has no further run times");
            statuses.update(&check.name, |s| s.next_run_ms = None);
            return;
        };
        statuses.update(&check.name, |s| s.next_run_ms = Some(next));
        let wait = u64::try_from(next - now_millis()).unwrap_or(0);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
        }
        let started = now_millis();
        metrics::histogram!(m::CHECK_LAG, &labels).record((started - next).max(0) as f64 / 1000.0);
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = check.run_once() => outcome,
        };
        let result = if outcome.success() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!(m::CHECK_RUNS, "check" => check.name.clone(), "result" => result)
            .increment(1);
        metrics::gauge!(m::CHECK_UP, &labels).set(if outcome.success() { 1.0 } else { 0.0 });
        metrics::histogram!(m::CHECK_DURATION, &labels)
            .record(outcome.result.response_time_ms as f64 / 1000.0);
        if let Some(failure) = &outcome.failure {
            tracing::debug!(
                check = %check.name,
                assertion = failure.assertion.as_deref().unwrap_or("(default)"),
                reason = %failure.reason,
                "check run failed"
            );
        }
        let now = now_millis();
        let in_maintenance = check.in_maintenance(next);
        if in_maintenance {
            // Keep checking (metrics above) but leave the alert state alone: planned downtime
            // neither alerts nor leaves a recovery to announce afterwards.
            statuses.update(&check.name, |s| {
                s.last_run = Some((started, outcome));
                s.in_maintenance = true;
            });
            after = next.max(now);
            continue;
        }
        let before = state;
        let alert = state.observe(outcome.success(), now, &check.thresholds);
        let event = alert.map(|alert| {
            tracing::info!(
                check = %check.name,
                alert = alert.detail_type(),
                state = state.health.as_str(),
                "check alert"
            );
            alert_event(&check, alert, &state, &outcome)
        });
        let changed = (before.health, before.last_alert_ms) != (state.health, state.last_alert_ms);
        // The API shows the new state before anyone can have received the alert.
        statuses.update(&check.name, |s| {
            s.state = state;
            s.last_run = Some((started, outcome));
            s.in_maintenance = false;
        });
        if event.is_some() || changed {
            let emission = Emission {
                check: check.name.clone(),
                event,
                state: changed.then_some((state, now)),
            };
            if tx.send(emission).await.is_err() {
                return;
            }
        }
        // A run that overran its period skips the times it missed.
        after = next.max(now);
    }
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
    let detail = match detail {
        Value::Object(map) => map,
        _ => Map::new(),
    };
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
            .start(sink.clone(), states.clone(), stop.clone())
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
            .start(sink.clone(), states.clone(), stop.clone())
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
            .start(
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
            .start(sink.clone(), states.clone(), stop.clone())
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
            .start(sink.clone(), states.clone(), stop.clone())
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
}
