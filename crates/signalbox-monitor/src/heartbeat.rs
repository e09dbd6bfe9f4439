//! Heartbeats: a dead man's switch. A job pings `POST /v1/heartbeats/{name}` (or `/start`,
//! `/fail`); the pings are stored (so any instance may receive them), and the check's
//! [`HeartbeatProbe`] reads them and judges, as healthchecks.io does:
//!
//! - never pinged: `new`, fine (a job not deployed yet is not an outage);
//! - the latest `/fail` is newer than the latest success: failed until a success ping;
//! - otherwise the next ping is due one period after the last success (`every`), or at the
//!   first time of the `cron` expression after it; a `/start` after the last success brings
//!   the due time forward to the start; the check fails once the due time plus `grace` has
//!   passed.
//!
//! The check is evaluated every [`HeartbeatConfig::evaluate_every`], so the run loop treats
//! it like any probe. [`judge`] is pure (time is an argument) and tested case by case.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::{CheckCadence, CheckConfig, HeartbeatConfig};
use signalbox_core::time::{Millis, millis_to_rfc3339, now_millis};
use signalbox_schedule::chrono::{DateTime, Utc};
use signalbox_store::{HeartbeatRow, HeartbeatSignal, Store};

use crate::probe::{Probe, ProbeResult};

/// Most characters of a `/fail` body quoted in the failure reason.
const REASON_BODY_CHARS: usize = 200;

/// Where a heartbeat stands at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Never pinged.
    New,
    /// Pinged in time; the next ping is due by `due` (grace included), when there is a next.
    Up {
        /// When it becomes late.
        due: Option<Millis>,
    },
    /// A `/start` came and its success may still arrive by `due` (grace included).
    Running {
        /// When it becomes late.
        due: Millis,
    },
    /// No success ping by `due` (grace included).
    Late {
        /// The deadline that passed.
        due: Millis,
        /// The last success ping.
        last_ping: Millis,
    },
    /// A `/start` at `started` had no success within the grace.
    StartedTooLong {
        /// The `/start`.
        started: Millis,
    },
    /// The latest signal after the last success was `/fail`.
    Failed {
        /// The `/fail`.
        at: Millis,
        /// Its body, if it had one.
        body: Option<String>,
    },
}

impl Verdict {
    /// Whether the check passes.
    pub fn ok(&self) -> bool {
        matches!(
            self,
            Verdict::New | Verdict::Up { .. } | Verdict::Running { .. }
        )
    }

    /// Why the check fails, for events and logs; `None` when it passes.
    pub fn reason(&self, grace: Duration) -> Option<String> {
        let grace = humantime(grace);
        match self {
            Verdict::New | Verdict::Up { .. } | Verdict::Running { .. } => None,
            Verdict::Late { due, last_ping } => Some(format!(
                "late: no ping since {} (due by {} with a grace of {grace})",
                millis_to_rfc3339(*last_ping),
                millis_to_rfc3339(*due)
            )),
            Verdict::StartedTooLong { started } => Some(format!(
                "started at {} and no ping within the grace of {grace}",
                millis_to_rfc3339(*started)
            )),
            Verdict::Failed { at, body } => {
                let mut reason = format!("/fail at {}", millis_to_rfc3339(*at));
                if let Some(body) = body.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
                    reason.push_str(": ");
                    reason.extend(body.chars().take(REASON_BODY_CHARS));
                }
                Some(reason)
            }
        }
    }

    /// The state's name (`new`, `up`, `running`, `late`, `failed`).
    pub fn state(&self) -> &'static str {
        match self {
            Verdict::New => "new",
            Verdict::Up { .. } => "up",
            Verdict::Running { .. } => "running",
            Verdict::Late { .. } | Verdict::StartedTooLong { .. } => "late",
            Verdict::Failed { .. } => "failed",
        }
    }
}

/// Judges the stored pings `row` at `now`. `expected` is when pings are due (`Every`: a period
/// after the last success; `Cron`: the first time of the expression after it).
pub fn judge(
    row: Option<&HeartbeatRow>,
    expected: &CheckCadence,
    grace: Duration,
    now: Millis,
) -> Verdict {
    let Some(row) = row else {
        return Verdict::New;
    };
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let last_ping = row.last_ping_at;
    if let Some(fail) = row.last_fail_at {
        // Same millisecond: the latest signal decides.
        let after_ping = match last_ping {
            None => true,
            Some(ping) => fail > ping || (fail == ping && row.last_kind == HeartbeatSignal::Fail),
        };
        if after_ping {
            return Verdict::Failed {
                at: fail,
                body: row.last_fail_body.clone(),
            };
        }
    }
    let period_due = last_ping.and_then(|ping| Some((ping, next_expected(expected, ping)?)));
    let start = (row.last_kind == HeartbeatSignal::Start)
        .then_some(row.last_start_at)
        .flatten();
    // The earlier of the two deadlines counts: a /start brings the due time forward.
    if let Some(started) = start
        && period_due.is_none_or(|(_, period)| started <= period)
    {
        let due = started.saturating_add(grace_ms);
        return if now >= due {
            Verdict::StartedTooLong { started }
        } else {
            Verdict::Running { due }
        };
    }
    match period_due {
        Some((last_ping, period)) => {
            let due = period.saturating_add(grace_ms);
            if now >= due {
                Verdict::Late { due, last_ping }
            } else {
                Verdict::Up { due: Some(due) }
            }
        }
        None if last_ping.is_none() => Verdict::New,
        None => Verdict::Up { due: None },
    }
}

/// When the ping after one at `ping` is due, grace not included; `None` for a cron expression
/// with no further time.
fn next_expected(expected: &CheckCadence, ping: Millis) -> Option<Millis> {
    match expected {
        CheckCadence::Every(period) => {
            Some(ping.saturating_add(i64::try_from(period.as_millis()).unwrap_or(i64::MAX)))
        }
        CheckCadence::Cron { schedule, tz } => {
            let at = DateTime::<Utc>::from_timestamp_millis(ping)?;
            schedule.next_after(at, *tz).map(|t| t.timestamp_millis())
        }
    }
}

/// The names of the heartbeat checks, for the ping routes (a ping for any other name is
/// refused). Shared and replaceable, so a config reload can change it under a running server.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatNames(Arc<RwLock<BTreeSet<String>>>);

impl HeartbeatNames {
    /// The heartbeat checks of `checks`.
    pub fn from_config(checks: &BTreeMap<String, CheckConfig>) -> HeartbeatNames {
        let names = HeartbeatNames::default();
        names.set(
            checks
                .iter()
                .filter(|(_, c)| c.heartbeat.is_some())
                .map(|(name, _)| name.clone()),
        );
        names
    }

    /// Replaces the names.
    pub fn set(&self, names: impl IntoIterator<Item = String>) {
        let names: BTreeSet<String> = names.into_iter().collect();
        match self.0.write() {
            Ok(mut guard) => *guard = names,
            Err(poisoned) => *poisoned.into_inner() = names,
        }
    }

    /// Whether `name` is a heartbeat check.
    pub fn contains(&self, name: &str) -> bool {
        match self.0.read() {
            Ok(guard) => guard.contains(name),
            Err(poisoned) => poisoned.into_inner().contains(name),
        }
    }
}

/// The store heartbeat probes read, shareable in [`crate::HttpClients`].
#[derive(Clone)]
pub struct PingStore(pub Arc<dyn Store>);

impl std::fmt::Debug for PingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PingStore")
    }
}

/// `heartbeat:` — judges the stored pings of one check.
pub struct HeartbeatProbe {
    name: String,
    expected: CheckCadence,
    grace: Duration,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for HeartbeatProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatProbe")
            .field("name", &self.name)
            .field("expected", &self.expected)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl HeartbeatProbe {
    /// A probe for check `name`'s pings in `store`; `default_tz` is `server.timezone`.
    pub fn new(
        name: &str,
        config: &HeartbeatConfig,
        default_tz: &str,
        store: Arc<dyn Store>,
    ) -> Result<HeartbeatProbe, String> {
        let expected = config.expected(name, default_tz).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(HeartbeatProbe {
            name: name.to_owned(),
            expected,
            grace: config.grace,
            store,
        })
    }
}

#[async_trait]
impl Probe for HeartbeatProbe {
    async fn run(&self) -> ProbeResult {
        let started = Instant::now();
        let row = self.store.heartbeat(&self.name).await;
        let now = now_millis();
        let mut result = ProbeResult {
            response_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..ProbeResult::default()
        };
        match row {
            Ok(row) => {
                let verdict = judge(row.as_ref(), &self.expected, self.grace, now);
                result.last_ping_age_ms = row
                    .as_ref()
                    .and_then(|r| r.last_ping_at)
                    .map(|at| u64::try_from(now - at).unwrap_or(0));
                result.connected = verdict.ok();
                result.error = verdict.reason(self.grace);
                result.body = verdict.state().to_owned();
            }
            // Unknown is not fine: a dead man's switch that cannot read its pings says so.
            Err(error) => result.error = Some(format!("reading the pings: {error}")),
        }
        result
    }
}

fn humantime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use signalbox_schedule::{Schedule, parse_time_zone};

    use super::*;

    const MIN: i64 = 60_000;

    fn row(
        kind: HeartbeatSignal,
        ping: Option<Millis>,
        start: Option<Millis>,
        fail: Option<Millis>,
    ) -> HeartbeatRow {
        let last = [ping, start, fail].into_iter().flatten().max().unwrap_or(0);
        HeartbeatRow {
            name: "backup".into(),
            last_kind: kind,
            last_signal_at: last,
            last_ping_at: ping,
            last_start_at: start,
            last_fail_at: fail,
            last_fail_body: fail.map(|_| "disk full".into()),
            pings: 1,
        }
    }

    fn every_5m() -> CheckCadence {
        CheckCadence::Every(Duration::from_secs(300))
    }

    const GRACE: Duration = Duration::from_secs(60);
    use HeartbeatSignal::{Fail, Start, Success};

    #[test]
    fn never_pinged_is_new_and_fine() {
        let v = judge(None, &every_5m(), GRACE, 1_000_000);
        assert_eq!(v, Verdict::New);
        assert!(v.ok());
        assert_eq!(v.reason(GRACE), None);
    }

    #[test]
    fn a_ping_is_due_one_period_plus_grace_later() {
        let r = row(Success, Some(0), None, None);
        let due = 6 * MIN;
        assert_eq!(
            judge(Some(&r), &every_5m(), GRACE, due - 1),
            Verdict::Up { due: Some(due) }
        );
        let late = judge(Some(&r), &every_5m(), GRACE, due);
        assert_eq!(late, Verdict::Late { due, last_ping: 0 });
        assert!(!late.ok());
        assert_eq!(
            late.reason(GRACE).unwrap(),
            "late: no ping since 1970-01-01T00:00:00.000Z (due by 1970-01-01T00:06:00.000Z with a grace of 1m)"
        );
    }

    #[test]
    fn fail_fails_until_the_next_success() {
        let r = row(Fail, Some(0), None, Some(MIN));
        let v = judge(Some(&r), &every_5m(), GRACE, MIN + 1);
        assert_eq!(
            v,
            Verdict::Failed {
                at: MIN,
                body: Some("disk full".into())
            }
        );
        assert!(v.reason(GRACE).unwrap().ends_with(": disk full"));
        // A /start after the /fail does not clear it.
        let r = row(Start, Some(0), Some(2 * MIN), Some(MIN));
        assert!(matches!(
            judge(Some(&r), &every_5m(), GRACE, 2 * MIN),
            Verdict::Failed { .. }
        ));
        // A success after it does.
        let r = row(Success, Some(3 * MIN), Some(2 * MIN), Some(MIN));
        assert!(judge(Some(&r), &every_5m(), GRACE, 3 * MIN).ok());
        // A /fail as first signal fails too.
        let r = row(Fail, None, None, Some(MIN));
        assert!(!judge(Some(&r), &every_5m(), GRACE, MIN).ok());
    }

    #[test]
    fn a_start_needs_its_success_within_the_grace() {
        let r = row(Start, Some(0), Some(2 * MIN), None);
        assert_eq!(
            judge(Some(&r), &every_5m(), GRACE, 2 * MIN + 59_999),
            Verdict::Running { due: 3 * MIN }
        );
        let v = judge(Some(&r), &every_5m(), GRACE, 3 * MIN);
        assert_eq!(v, Verdict::StartedTooLong { started: 2 * MIN });
        assert!(
            v.reason(GRACE)
                .unwrap()
                .contains("no ping within the grace of 1m")
        );
        // A /start on a never-pinged check is timed the same way.
        let r = row(Start, None, Some(2 * MIN), None);
        assert!(judge(Some(&r), &every_5m(), GRACE, 2 * MIN + 1).ok());
        assert!(!judge(Some(&r), &every_5m(), GRACE, 3 * MIN).ok());
        // A start after the period's due time does not excuse lateness.
        let r = row(Start, Some(0), Some(7 * MIN), None);
        assert!(matches!(
            judge(Some(&r), &every_5m(), GRACE, 7 * MIN),
            Verdict::Late { .. }
        ));
        // Once the success came, the start no longer counts.
        let r = row(Success, Some(2 * MIN + 30_000), Some(2 * MIN), None);
        assert_eq!(
            judge(Some(&r), &every_5m(), GRACE, 4 * MIN),
            Verdict::Up {
                due: Some(8 * MIN + 30_000)
            }
        );
    }

    #[test]
    fn cron_pings_are_due_at_the_first_time_after_the_last() {
        // Daily at 03:00 UTC, grace 1h: a ping at 03:20 covers the next day's 03:00 run.
        let cron = CheckCadence::Cron {
            schedule: Box::new(Schedule::parse("0 3 * * *", "nightly").unwrap()),
            tz: parse_time_zone("UTC").unwrap(),
        };
        let grace = Duration::from_secs(3600);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        let r = row(Success, Some(at("2026-11-28T03:20:00Z")), None, None);
        assert_eq!(
            judge(Some(&r), &cron, grace, at("2026-11-29T03:59:59Z")),
            Verdict::Up {
                due: Some(at("2026-11-29T04:00:00Z"))
            }
        );
        assert!(!judge(Some(&r), &cron, grace, at("2026-11-29T04:00:00Z")).ok());
        // Today's ping, within the grace, moves the due time to tomorrow.
        let r = row(Success, Some(at("2026-11-29T03:40:00Z")), None, None);
        assert!(judge(Some(&r), &cron, grace, at("2026-11-29T04:30:00Z")).ok());
    }

    #[tokio::test]
    async fn the_probe_reads_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sb.db", dir.path().display());
        let store: Arc<dyn Store> = Arc::from(
            signalbox_store::open(&url, &Default::default())
                .await
                .unwrap(),
        );
        let config = HeartbeatConfig {
            every: Some(Duration::from_secs(300)),
            cron: None,
            timezone: None,
            grace: GRACE,
        };
        let probe = HeartbeatProbe::new("backup", &config, "UTC", store.clone()).unwrap();
        let r = probe.run().await;
        assert!(r.connected, "{r:?}");
        assert_eq!((r.body.as_str(), r.last_ping_age_ms), ("new", None));

        let now = now_millis();
        store
            .record_heartbeat("backup", Success, None, now - 1_000)
            .await
            .unwrap();
        let r = probe.run().await;
        assert!(r.connected && r.error.is_none(), "{r:?}");
        assert!(r.last_ping_age_ms.unwrap() >= 1_000, "{r:?}");

        store
            .record_heartbeat("backup", Fail, Some("exit 3"), now)
            .await
            .unwrap();
        let r = probe.run().await;
        assert!(!r.connected);
        assert_eq!(r.body, "failed");
        assert!(r.error.unwrap().ends_with(": exit 3"));

        // A ping far older than period + grace: late.
        store
            .record_heartbeat("stale", Success, None, now - 10 * MIN)
            .await
            .unwrap();
        let stale = HeartbeatProbe::new("stale", &config, "UTC", store.clone()).unwrap();
        let r = stale.run().await;
        assert!(!r.connected);
        assert!(
            r.error
                .as_deref()
                .unwrap()
                .starts_with("late: no ping since"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_heartbeat_check_judges_pings_and_its_assertions() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sb.db", dir.path().display());
        let store: Arc<dyn Store> = Arc::from(
            signalbox_store::open(&url, &Default::default())
                .await
                .unwrap(),
        );
        let config: CheckConfig = serde_json::from_value(serde_json::json!({
            "heartbeat": {"every": "5m", "grace": "1m"},
            "assert": ["last_ping_age_ms < 120000"],
        }))
        .unwrap();
        let plain = crate::HttpClients::new().unwrap();
        let error = crate::CompiledCheck::build("backup", &config, "UTC", &plain).unwrap_err();
        assert!(error.message.contains("needs the store"), "{error}");
        let clients = plain.with_heartbeat_store(store.clone());
        let check = crate::CompiledCheck::build("backup", &config, "UTC", &clients).unwrap();
        assert_eq!(check.target, "/v1/heartbeats/backup");
        assert_eq!(check.cadence, CheckCadence::Every(Duration::from_secs(15)));

        // Never pinged: `last_ping_age_ms` is null, so the assertion cannot hold.
        let outcome = check.run_once().await;
        assert!(!outcome.success());
        let now = now_millis();
        store
            .record_heartbeat("backup", Success, None, now - 1_000)
            .await
            .unwrap();
        assert!(check.run_once().await.success());
        // Pinged 4 minutes ago: in time for the heartbeat, too old for the assertion.
        store
            .record_heartbeat("backup", Success, None, now - 4 * MIN)
            .await
            .unwrap();
        let outcome = check.run_once().await;
        let failure = outcome.failure.unwrap();
        assert_eq!(
            failure.assertion.as_deref(),
            Some("last_ping_age_ms < 120000")
        );
        // A /fail fails whatever the assertions say, with the heartbeat's reason.
        store
            .record_heartbeat("backup", Fail, Some("exit 3"), now)
            .await
            .unwrap();
        let config: CheckConfig = serde_json::from_value(serde_json::json!({
            "heartbeat": {"every": "5m", "grace": "1m"},
            "assert": ["true"],
        }))
        .unwrap();
        let lenient = crate::CompiledCheck::build("backup", &config, "UTC", &clients).unwrap();
        let failure = lenient.run_once().await.failure.unwrap();
        assert_eq!(failure.assertion, None);
        assert!(failure.reason.ends_with(": exit 3"), "{failure:?}");
    }
}
