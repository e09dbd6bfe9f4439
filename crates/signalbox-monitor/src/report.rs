//! Reporting run results: every run of a check becomes a result object, collected off the probe
//! path and handed to ingest as events that the router delivers to the check's report targets
//! (`report:`) and to `monitor.report`, durably, with retries and dead letters like any event.
//!
//! A run never waits here: [`Reporter::report`] puts the result in a bounded queue with
//! `try_send` and counts it as dropped (`signalbox_check_results_dropped_total{reason=
//! "queue_full"}`) when the queue is full. One task empties the queue and, every
//! `monitor.report_flush` or as soon as a set has `monitor.report_max_batch` results, emits one
//! `Check Results` event per report set (`detail: {report, results}`); a set in per-run mode
//! (`report_batch: false`) gets one `Check Result` event per run (`detail`: the result plus
//! `report`). The router files each set's targets under the internal rule
//! `check-report:<set>` (see `signalbox_config::report`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use signalbox_config::{GLOBAL_REPORT_SET, MonitorConfig};
use signalbox_core::Event;
use signalbox_core::metric_names as m;
use signalbox_core::time::{Millis, millis_to_rfc3339};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::check::{CheckOutcome, CompiledCheck};
use crate::runner::{AlertSink, EVENT_SOURCE, SinkError};

/// `detail-type` of an event carrying a batch of results in `detail.results`.
pub const RESULTS_DETAIL_TYPE: &str = "Check Results";
/// `detail-type` of an event whose `detail` is one result.
pub const RESULT_DETAIL_TYPE: &str = "Check Result";

/// Tries to hand one flush's events to ingest before its results are counted as dropped.
const EMIT_TRIES: u32 = 3;
/// Longest one hand-over to ingest may take, so a stuck store cannot hold a shutdown forever.
const EMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How results are collected and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// `Some(batch)` when `monitor.report` has targets.
    pub global: Option<bool>,
    /// Longest a result waits before its batch is sent.
    pub flush: Duration,
    /// Most results in one `Check Results` event.
    pub max_batch: usize,
    /// Results queued between the runs and the reporter task before runs drop theirs.
    pub queue: usize,
}

impl ReportOptions {
    /// From `monitor:`; the queue holds four full batches.
    pub fn from_config(monitor: &MonitorConfig) -> ReportOptions {
        let max_batch = monitor.report_max_batch.max(1);
        ReportOptions {
            global: (!monitor.report.is_empty()).then_some(monitor.report_batch),
            flush: monitor.report_flush,
            max_batch,
            queue: max_batch.saturating_mul(4).max(1024),
        }
    }
}

/// One result on its way to the reporter task.
struct Item {
    /// The check's own set in batch (`Some(true)`) or per-run (`Some(false)`) mode.
    own: Option<bool>,
    /// The global set's mode, when this check reports to it.
    global: Option<bool>,
    check: String,
    result: Value,
}

/// Hands run results to the reporter task; cheap to clone. The default reports nothing.
#[derive(Clone, Default)]
pub struct Reporter {
    tx: Option<mpsc::Sender<Item>>,
    global: Option<bool>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("running", &self.tx.is_some())
            .field("global", &self.global)
            .finish()
    }
}

impl Reporter {
    /// Starts the reporter task, which emits into `sink` until `stop`; then it sends what it
    /// holds once more and ends.
    pub fn start(
        opts: ReportOptions,
        sink: Arc<dyn AlertSink>,
        stop: CancellationToken,
    ) -> (Reporter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let reporter = Reporter {
            tx: Some(tx),
            global: opts.global,
        };
        let task = tokio::spawn(collect(rx, opts, sink, stop));
        (reporter, task)
    }

    /// What the runner calls after every run: counts a failed `assert:` expression
    /// (`signalbox_check_assertion_failures_total{check}`) and queues the result for the
    /// check's report sets ([`Reporter::report`]). Never waits.
    pub fn observe_run(
        &self,
        check: &CompiledCheck,
        scheduled: Millis,
        started: Millis,
        outcome: &CheckOutcome,
    ) {
        if outcome
            .failure
            .as_ref()
            .is_some_and(|f| f.assertion.is_some())
        {
            metrics::counter!(m::CHECK_ASSERTION_FAILURES, "check" => check.name.clone())
                .increment(1);
        }
        self.report(check, scheduled, started, outcome);
    }

    /// Queues the result of one run of `check` (scheduled at `scheduled`, started at
    /// `started`) for the check's report sets. Never waits: a full queue drops the result.
    pub fn report(
        &self,
        check: &CompiledCheck,
        scheduled: Millis,
        started: Millis,
        outcome: &CheckOutcome,
    ) {
        let Some(tx) = &self.tx else { return };
        let config = check.config();
        let own = (!config.report.is_empty()).then_some(config.report_batch);
        let global = self.global.filter(|_| config.report_global);
        if own.is_none() && global.is_none() {
            return;
        }
        let item = Item {
            own,
            global,
            check: check.name.clone(),
            result: result_json(check, scheduled, started, outcome),
        };
        match tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(item)) => {
                metrics::counter!(m::CHECK_RESULTS_DROPPED, "reason" => "queue_full").increment(1);
                tracing::debug!(check = %item.check, "check result dropped: the reporter is behind");
            }
            // Shutting down.
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

/// The result object of one run, as report events carry it.
pub fn result_json(
    check: &CompiledCheck,
    scheduled: Millis,
    started: Millis,
    outcome: &CheckOutcome,
) -> Value {
    let mut result = Map::with_capacity(14);
    result.insert("check".into(), json!(check.name));
    result.insert("url".into(), json!(check.target));
    result.insert("scheduled_time".into(), json!(millis_to_rfc3339(scheduled)));
    result.insert("started_at".into(), json!(millis_to_rfc3339(started)));
    result.extend(outcome.to_json_fields());
    Value::Object(result)
}

/// Results waiting for their flush, by set, and per-run events ready to go.
#[derive(Default)]
struct Pending {
    batches: BTreeMap<String, Vec<Value>>,
    singles: Vec<Event>,
}

impl Pending {
    /// Files `item` under its sets; the names of sets that reached `max_batch`.
    fn add(&mut self, item: Item, max_batch: usize) -> Vec<String> {
        let mut full = Vec::new();
        let sets = [
            item.own.map(|batch| (item.check.as_str(), batch)),
            item.global.map(|batch| (GLOBAL_REPORT_SET, batch)),
        ];
        for (set, batch) in sets.into_iter().flatten() {
            if batch {
                let results = self.batches.entry(set.to_owned()).or_default();
                results.push(item.result.clone());
                if results.len() >= max_batch {
                    full.push(set.to_owned());
                }
            } else {
                self.singles.push(single_event(set, &item.result));
            }
        }
        full
    }

    /// The events for `sets` (every set when `None`) and every per-run event, taken out.
    fn take(&mut self, sets: Option<&[String]>) -> Vec<Event> {
        let names: Vec<String> = match sets {
            Some(sets) => sets.to_vec(),
            None => self.batches.keys().cloned().collect(),
        };
        let mut events = std::mem::take(&mut self.singles);
        for set in names {
            if let Some(results) = self.batches.remove(&set)
                && !results.is_empty()
            {
                events.push(batch_event(&set, results));
            }
        }
        events
    }
}

/// `Check Results` for report set `set`.
pub fn batch_event(set: &str, results: Vec<Value>) -> Event {
    let mut detail = Map::new();
    detail.insert("report".into(), Value::String(set.to_owned()));
    detail.insert("results".into(), Value::Array(results));
    Event::new(EVENT_SOURCE, RESULTS_DETAIL_TYPE, detail)
}

/// `Check Result` for report set `set`: the result itself, plus `report`.
pub fn single_event(set: &str, result: &Value) -> Event {
    let mut detail = match result {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    detail.insert("report".into(), Value::String(set.to_owned()));
    let url = detail.get("url").and_then(Value::as_str).map(str::to_owned);
    let mut event = Event::new(EVENT_SOURCE, RESULT_DETAIL_TYPE, detail);
    event.resources.extend(url);
    event
}

async fn collect(
    mut rx: mpsc::Receiver<Item>,
    opts: ReportOptions,
    sink: Arc<dyn AlertSink>,
    stop: CancellationToken,
) {
    let mut pending = Pending::default();
    // The first tick one period from now (a plain interval ticks at once).
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + opts.flush, opts.flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            item = rx.recv() => {
                let Some(item) = item else { break };
                let full = pending.add(item, opts.max_batch);
                if !full.is_empty() {
                    send(pending.take(Some(&full)), &*sink, &stop).await;
                }
            }
            _ = tick.tick() => send(pending.take(None), &*sink, &stop).await,
        }
    }
    // What the runs queued before the stop still goes out, in one last try.
    while let Ok(item) = rx.try_recv() {
        pending.add(item, usize::MAX);
    }
    send(pending.take(None), &*sink, &stop).await;
}

/// Hands `events` to the sink, a few times while it asks to retry; results that still did not
/// go are counted as dropped. The probe path never waits for this.
async fn send(events: Vec<Event>, sink: &dyn AlertSink, stop: &CancellationToken) {
    if events.is_empty() {
        return;
    }
    let results: usize = events.iter().map(results_in).sum();
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=EMIT_TRIES {
        let emitted = tokio::time::timeout(EMIT_TIMEOUT, sink.emit(events.clone()))
            .await
            .unwrap_or_else(|_| Err(SinkError::Retry("timed out".into())));
        match emitted {
            Ok(()) => {
                metrics::counter!(m::CHECK_RESULTS_REPORTED).increment(results as u64);
                return;
            }
            Err(SinkError::Closed) => break,
            Err(SinkError::Retry(error)) => {
                tracing::warn!(%error, attempt, results, "check results not accepted");
                if attempt == EMIT_TRIES || stop.is_cancelled() {
                    break;
                }
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff *= 2;
            }
        }
    }
    metrics::counter!(m::CHECK_RESULTS_DROPPED, "reason" => "ingest").increment(results as u64);
    tracing::warn!(results, "check results dropped: ingest did not accept them");
}

fn results_in(event: &Event) -> usize {
    match event.detail.get("results") {
        Some(Value::Array(results)) if event.detail_type == RESULTS_DETAIL_TYPE => results.len(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use signalbox_config::CheckConfig;

    use super::*;
    use crate::probe::HttpClients;

    /// Records what it is given; can be made to hang, as a stuck store would.
    #[derive(Default)]
    struct Collect {
        events: Mutex<Vec<Event>>,
        hang: AtomicBool,
    }

    #[async_trait]
    impl AlertSink for Collect {
        async fn emit(&self, events: Vec<Event>) -> Result<(), SinkError> {
            while self.hang.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.events.lock().unwrap().extend(events);
            Ok(())
        }
    }

    fn check(name: &str, extra: Value) -> CompiledCheck {
        let mut config = json!({
            "tcp": {"host": "127.0.0.1", "port": 1},
            "schedule": {"every": "1s"},
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let config: CheckConfig = serde_json::from_value(config).unwrap();
        CompiledCheck::build(name, &config, "UTC", &HttpClients::new().unwrap()).unwrap()
    }

    fn outcome(ms: u64) -> CheckOutcome {
        CheckOutcome {
            result: crate::probe::ProbeResult {
                response_time_ms: ms,
                connected: true,
                ..Default::default()
            },
            failure: None,
            extracts: Map::new(),
        }
    }

    #[test]
    fn results_carry_the_fields_of_their_probe_kind() {
        let c = check("tls", json!({}));
        let plain = result_json(&c, 1_000, 1_002, &outcome(3));
        assert_eq!(plain["response_time_ms"], 3);
        assert!(plain.get("cert_expires_in_days").is_none(), "{plain}");
        let mut with_cert = outcome(3);
        with_cert.result.cert_expires_in_days = Some(12.5);
        with_cert.result.dns_answers = vec!["10.0.0.1".into()];
        let shown = result_json(&c, 1_000, 1_002, &with_cert);
        assert_eq!(shown["cert_expires_in_days"], 12.5);
        assert_eq!(shown["check"], "tls");
    }

    fn opts(global: Option<bool>, flush: Duration, max_batch: usize) -> ReportOptions {
        ReportOptions {
            global,
            flush,
            max_batch,
            queue: 10_000,
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn many_results_become_few_events_per_set() {
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        // A long flush: only full batches go out until the stop.
        let (reporter, task) = Reporter::start(
            opts(Some(true), Duration::from_secs(3600), 100),
            sink.clone(),
            stop.clone(),
        );
        let own = check("api", json!({"report": [{"log": {}}]}));
        let global_only = check("db", json!({}));
        let opted_out = check("quiet", json!({"report_global": false}));
        for i in 0..250 {
            reporter.report(&own, 1_000 + i, 1_001 + i, &outcome(7));
            reporter.report(&global_only, 1_000 + i, 1_002 + i, &outcome(9));
            reporter.report(&opted_out, 1_000 + i, 1_003 + i, &outcome(9));
        }
        // 250 results of "api" and 500 of the global set: full batches of 100 go at once.
        wait_for("full batches", || sink.events.lock().unwrap().len() >= 7).await;
        stop.cancel();
        task.await.unwrap();
        let events = sink.events.lock().unwrap().clone();
        assert!(
            events
                .iter()
                .all(|e| e.source == "signalbox.check" && e.detail_type == "Check Results")
        );
        let count = |set: &str| -> (usize, usize) {
            let of_set: Vec<&Event> = events
                .iter()
                .filter(|e| e.detail["report"] == set)
                .collect();
            (of_set.len(), of_set.iter().map(|e| results_in(e)).sum())
        };
        // The remainders (50 and 0) went out at the stop.
        assert_eq!(count("api"), (3, 250));
        assert_eq!(count("*"), (5, 500));
        assert_eq!(events.len(), 8, "nothing else");
        let first = &events
            .iter()
            .find(|e| e.detail["report"] == "api")
            .unwrap()
            .detail["results"][0];
        assert_eq!(first["check"], "api");
        assert_eq!(first["scheduled_time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(first["started_at"], "1970-01-01T00:00:01.001Z");
        assert_eq!(first["success"], true);
        assert_eq!(first["response_time_ms"], 7);
        assert_eq!(first["url"], "127.0.0.1:1");
        let global_checks: std::collections::BTreeSet<&str> = events
            .iter()
            .filter(|e| e.detail["report"] == "*")
            .flat_map(|e| e.detail["results"].as_array().unwrap())
            .map(|r| r["check"].as_str().unwrap())
            .collect();
        assert_eq!(global_checks, ["api", "db"].into(), "quiet opted out");
    }

    #[tokio::test]
    async fn the_flush_interval_sends_partial_batches_and_single_mode_sends_each_run() {
        let sink = Arc::new(Collect::default());
        let stop = CancellationToken::new();
        let (reporter, task) = Reporter::start(
            opts(None, Duration::from_millis(50), 500),
            sink.clone(),
            stop.clone(),
        );
        let each = check(
            "hook",
            json!({"report": [{"log": {}}], "report_batch": false}),
        );
        reporter.report(&each, 1, 2, &outcome(3));
        reporter.report(&each, 3, 4, &outcome(5));
        wait_for("two single events", || {
            sink.events.lock().unwrap().len() == 2
        })
        .await;
        let events = sink.events.lock().unwrap().clone();
        assert!(events.iter().all(|e| e.detail_type == "Check Result"));
        assert_eq!(events[0].detail["report"], "hook");
        assert_eq!(events[0].detail["check"], "hook");
        assert_eq!(events[1].detail["response_time_ms"], 5);
        assert_eq!(events[0].resources, ["127.0.0.1:1"]);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_sink_never_blocks_a_run() {
        let sink = Arc::new(Collect::default());
        sink.hang.store(true, Ordering::SeqCst);
        let stop = CancellationToken::new();
        let (reporter, task) = Reporter::start(
            ReportOptions {
                queue: 10,
                ..opts(Some(true), Duration::from_millis(10), 1)
            },
            sink.clone(),
            stop.clone(),
        );
        let c = check("api", json!({}));
        // The reporter is stuck in the sink after the first batch; every further report must
        // return at once (queue full → dropped), so this loop ends quickly.
        let started = std::time::Instant::now();
        for i in 0..100_000 {
            reporter.report(&c, i, i, &outcome(1));
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "reporting waited: {:?}",
            started.elapsed()
        );
        assert!(sink.events.lock().unwrap().is_empty());
        // Unstuck, it delivers what it kept: the batch it was sending and the queued ones,
        // not the 100 000 results (the rest were dropped, not buffered without bound).
        sink.hang.store(false, Ordering::SeqCst);
        stop.cancel();
        task.await.unwrap();
        let delivered: usize = sink.events.lock().unwrap().iter().map(results_in).sum();
        assert!((1..=11).contains(&delivered), "{delivered}");
    }

    #[test]
    fn options_follow_the_monitor_config() {
        let mut monitor = MonitorConfig::default();
        assert_eq!(ReportOptions::from_config(&monitor).global, None);
        monitor.report = vec![signalbox_config::TargetConfig::default()];
        monitor.report_batch = false;
        let opts = ReportOptions::from_config(&monitor);
        assert_eq!(opts.global, Some(false));
        assert_eq!(opts.flush, Duration::from_secs(1));
        assert_eq!(opts.max_batch, 500);
    }
}
