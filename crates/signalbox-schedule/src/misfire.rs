//! Misfire maths: after a restart, a takeover or a stall, which of the scheduled times that went
//! by should fire now. Pure: the clock is an argument.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Schedule;

/// What to do with fires missed within the catch-up window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// One catch-up fire, for the latest missed time (none if a time is on time now).
    #[default]
    FireOnce,
    /// Every missed time, oldest first.
    FireAll,
    /// None.
    Skip,
}

/// The knobs of [`plan_fires`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MisfireSettings {
    /// What to do with missed fires inside the window.
    pub policy: MisfirePolicy,
    /// Missed fires older than this (relative to now) are never fired, only counted.
    pub catch_up_window: Duration,
    /// A fire this late or less is on time, not a misfire.
    pub on_time_tolerance: Duration,
}

impl Default for MisfireSettings {
    fn default() -> Self {
        MisfireSettings {
            policy: MisfirePolicy::FireOnce,
            catch_up_window: DEFAULT_CATCH_UP_WINDOW,
            on_time_tolerance: DEFAULT_ON_TIME_TOLERANCE,
        }
    }
}

/// `catch_up_window` when the schedule does not set one.
pub const DEFAULT_CATCH_UP_WINDOW: Duration = Duration::from_secs(5 * 60);
/// `on_time_tolerance` by default: one second, the scheduler's tick.
pub const DEFAULT_ON_TIME_TOLERANCE: Duration = Duration::from_secs(1);
/// Counting missed fires stops here, so a per-second schedule stopped for a year costs
/// milliseconds, not seconds; [`FirePlan::missed_capped`] says so.
pub const MISSED_COUNT_CAP: u64 = 100_000;

/// One scheduled time to fire now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedFire {
    /// The time the schedule asked for.
    pub scheduled_time: DateTime<Utc>,
    /// True when it is fired late, because it was missed.
    pub catch_up: bool,
}

/// The outcome of [`plan_fires`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirePlan {
    /// What to fire now, oldest first.
    pub fires: Vec<PlannedFire>,
    /// Scheduled times older than the catch-up window: logged and counted, never fired.
    pub missed: u64,
    /// True when `missed` stopped at [`MISSED_COUNT_CAP`].
    pub missed_capped: bool,
    /// Times inside the window that the policy chose not to fire.
    pub skipped: u64,
    /// The next scheduled time after `now`.
    pub next: Option<DateTime<Utc>>,
}

/// Decides what fires now for a schedule whose last fire (or creation) was at `last_fire`.
///
/// The due times are the scheduled times `t` with `last_fire < t <= now`:
/// - `now - t <= on_time_tolerance`: on time, always fired, `catch_up: false`;
/// - `now - catch_up_window <= t` and late: missed but recoverable; the policy decides:
///   `fire_all` fires each, `fire_once` fires only the latest (and nothing if an on-time fire
///   is happening anyway), `skip` fires none; the rest are counted in `skipped`;
/// - older: counted in `missed`, never fired.
pub fn plan_fires(
    schedule: &Schedule,
    tz: Tz,
    last_fire: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: &MisfireSettings,
) -> FirePlan {
    let window =
        chrono::Duration::from_std(settings.catch_up_window).unwrap_or(chrono::Duration::MAX);
    let tolerance =
        chrono::Duration::from_std(settings.on_time_tolerance).unwrap_or(chrono::Duration::zero());
    let window_start = now
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let on_time_start = now
        .checked_sub_signed(tolerance)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);

    let mut plan = FirePlan::default();
    let mut late = Vec::new();
    let mut on_time = Vec::new();
    let mut cursor = last_fire;
    while let Some(t) = schedule.next_after(cursor, tz) {
        if t > now {
            plan.next = Some(t);
            break;
        }
        cursor = t;
        if t >= on_time_start {
            on_time.push(t);
        } else if t >= window_start {
            late.push(t);
        } else {
            plan.missed += 1;
            if plan.missed >= MISSED_COUNT_CAP {
                // Jump to the window instead of counting on.
                plan.missed_capped = true;
                cursor = cursor.max(window_start - chrono::Duration::nanoseconds(1));
            }
        }
    }

    let chosen: &[DateTime<Utc>] = match settings.policy {
        MisfirePolicy::FireAll => &late,
        MisfirePolicy::FireOnce if on_time.is_empty() => {
            late.last().map_or(&[], std::slice::from_ref)
        }
        MisfirePolicy::FireOnce | MisfirePolicy::Skip => &[],
    };
    plan.skipped = (late.len() - chosen.len()) as u64;
    plan.fires = chosen
        .iter()
        .map(|t| PlannedFire {
            scheduled_time: *t,
            catch_up: true,
        })
        .chain(on_time.iter().map(|t| PlannedFire {
            scheduled_time: *t,
            catch_up: false,
        }))
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn every_minute() -> Schedule {
        Schedule::parse("* * * * *", "m").unwrap()
    }

    fn settings(policy: MisfirePolicy) -> MisfireSettings {
        MisfireSettings {
            policy,
            ..MisfireSettings::default()
        }
    }

    fn times(plan: &FirePlan) -> Vec<(String, bool)> {
        plan.fires
            .iter()
            .map(|f| (f.scheduled_time.format("%H:%M:%S").to_string(), f.catch_up))
            .collect()
    }

    #[test]
    fn on_time_fire_is_not_a_catch_up() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t("2026-01-01T10:00:00Z"),
            t("2026-01-01T10:01:00.200Z"),
            &settings(MisfirePolicy::FireOnce),
        );
        assert_eq!(times(&plan), vec![("10:01:00".into(), false)]);
        assert_eq!((plan.missed, plan.skipped), (0, 0));
        assert_eq!(plan.next, Some(t("2026-01-01T10:02:00Z")));
    }

    #[test]
    fn nothing_due() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t("2026-01-01T10:00:00Z"),
            t("2026-01-01T10:00:59Z"),
            &settings(MisfirePolicy::FireAll),
        );
        assert!(plan.fires.is_empty());
        assert_eq!(plan.next, Some(t("2026-01-01T10:01:00Z")));
    }

    // Down from 10:00:30 to 10:10:30: 10:01 … 10:10 were due; the window (5m) starts at 10:05:30.
    const LAST: &str = "2026-01-01T10:00:30Z";
    const NOW: &str = "2026-01-01T10:10:30Z";

    #[test]
    fn fire_all_fires_each_time_in_the_window_oldest_first() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t(LAST),
            t(NOW),
            &settings(MisfirePolicy::FireAll),
        );
        assert_eq!(
            times(&plan),
            ["10:06:00", "10:07:00", "10:08:00", "10:09:00", "10:10:00"]
                .iter()
                .map(|s| (s.to_string(), true))
                .collect::<Vec<_>>()
        );
        assert_eq!(plan.missed, 5); // 10:01 … 10:05
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn fire_once_fires_the_latest() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t(LAST),
            t(NOW),
            &settings(MisfirePolicy::FireOnce),
        );
        assert_eq!(times(&plan), vec![("10:10:00".into(), true)]);
        assert_eq!((plan.missed, plan.skipped), (5, 4));
    }

    #[test]
    fn skip_fires_nothing() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t(LAST),
            t(NOW),
            &settings(MisfirePolicy::Skip),
        );
        assert!(plan.fires.is_empty());
        assert_eq!((plan.missed, plan.skipped), (5, 5));
        assert_eq!(plan.next, Some(t("2026-01-01T10:11:00Z")));
    }

    #[test]
    fn fire_once_with_an_on_time_fire_adds_no_catch_up() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t(LAST),
            t("2026-01-01T10:10:00.5Z"),
            &settings(MisfirePolicy::FireOnce),
        );
        assert_eq!(times(&plan), vec![("10:10:00".into(), false)]);
        // The window starts at 10:05:00.5: 10:01 … 10:05 are missed, 10:06 … 10:09 skipped.
        assert_eq!((plan.missed, plan.skipped), (5, 4));
    }

    #[test]
    fn fire_all_puts_catch_ups_before_the_on_time_fire() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t("2026-01-01T10:07:30Z"),
            t("2026-01-01T10:10:00.5Z"),
            &settings(MisfirePolicy::FireAll),
        );
        assert_eq!(
            times(&plan),
            vec![
                ("10:08:00".into(), true),
                ("10:09:00".into(), true),
                ("10:10:00".into(), false)
            ]
        );
    }

    #[test]
    fn window_boundary_is_inclusive() {
        let plan = plan_fires(
            &every_minute(),
            Tz::UTC,
            t(LAST),
            t("2026-01-01T10:10:00Z"),
            &MisfireSettings {
                policy: MisfirePolicy::FireAll,
                catch_up_window: Duration::from_secs(300),
                on_time_tolerance: Duration::ZERO,
            },
        );
        // 10:05 is exactly 5 minutes old: still caught up. 10:10 is on time (lateness 0).
        assert_eq!(
            plan.fires.first().unwrap().scheduled_time,
            t("2026-01-01T10:05:00Z")
        );
        assert_eq!(plan.fires.len(), 6);
        assert_eq!(plan.missed, 4);
    }

    #[test]
    fn huge_gaps_are_counted_up_to_the_cap() {
        let every_second = Schedule::parse("* * * * * ?", "s").unwrap();
        let plan = plan_fires(
            &every_second,
            Tz::UTC,
            t("2025-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
            &settings(MisfirePolicy::FireOnce),
        );
        assert!(plan.missed_capped);
        assert_eq!(plan.missed, MISSED_COUNT_CAP);
        // 23:59:59 is one second late: still within the on-time tolerance.
        assert_eq!(
            times(&plan),
            vec![("23:59:59".into(), false), ("00:00:00".into(), false)]
        );
    }

    #[test]
    fn policy_names_in_config() {
        let p: MisfirePolicy = serde_json::from_str("\"fire_all\"").unwrap();
        assert_eq!(p, MisfirePolicy::FireAll);
        assert_eq!(MisfirePolicy::default(), MisfirePolicy::FireOnce);
    }
}
