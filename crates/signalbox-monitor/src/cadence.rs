//! When a check runs next. Pure: the current time is an argument.
//!
//! `every` periods are offset by a hash of the check's name, so ten thousand checks with
//! `every: 30s` spread over the 30 seconds instead of all starting together (and without
//! sleeping in a loop at start-up, which delays the last check by minutes). Cron expressions
//! run at their times; `H` in them hashes the name the same way the scheduler does.

use signalbox_config::CheckCadence;
use signalbox_schedule::chrono::{DateTime, Utc};

/// The first run strictly after `after_ms` (Unix milliseconds); `None` when a cron expression
/// has no further time.
pub fn next_run(cadence: &CheckCadence, name: &str, after_ms: i64) -> Option<i64> {
    match cadence {
        CheckCadence::Every(period) => {
            let period = i64::try_from(period.as_millis()).ok()?.max(1);
            let offset = offset_ms(name, period);
            let k = (after_ms - offset).div_euclid(period) + 1;
            Some(offset + k * period)
        }
        CheckCadence::Cron { schedule, tz } => {
            let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
            schedule
                .next_after(after, *tz)
                .map(|next| next.timestamp_millis())
        }
    }
}

/// Where in each period a check's runs fall: a stable hash of its name modulo the period.
pub fn offset_ms(name: &str, period_ms: i64) -> i64 {
    let period = u64::try_from(period_ms.max(1)).unwrap_or(1);
    i64::try_from(fnv1a(name.as_bytes()) % period).unwrap_or(0)
}

/// FNV-1a 64: stable across builds and platforms (std's hasher is not promised to be).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use signalbox_schedule::{Schedule, parse_time_zone};

    use super::*;

    #[test]
    fn every_runs_on_a_hashed_grid() {
        let c = CheckCadence::Every(Duration::from_secs(30));
        let off = offset_ms("api", 30_000);
        assert!((0..30_000).contains(&off));
        let first = next_run(&c, "api", 1_000_000).unwrap();
        assert!(first > 1_000_000 && first <= 1_030_000);
        assert_eq!((first - off) % 30_000, 0);
        assert_eq!(next_run(&c, "api", first).unwrap(), first + 30_000);
        // Just before a run time, that run time comes next.
        assert_eq!(next_run(&c, "api", first - 1).unwrap(), first);
    }

    #[test]
    fn names_spread_over_the_period() {
        let period = 60_000;
        let mut buckets = [0u32; 6];
        for i in 0..6000 {
            let off = offset_ms(&format!("check-{i}"), period);
            buckets[usize::try_from(off / 10_000).unwrap()] += 1;
        }
        // Each 10 s slice of the minute holds roughly a sixth of the checks.
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn offsets_are_stable() {
        assert_eq!(offset_ms("api", 1_000_000), offset_ms("api", 1_000_000));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn cron_uses_the_schedule_and_zone() {
        let c = CheckCadence::Cron {
            schedule: Box::new(Schedule::parse("*/5 * * * *", "api").unwrap()),
            tz: parse_time_zone("UTC").unwrap(),
        };
        let after: DateTime<Utc> = "2026-01-01T00:01:00Z".parse().unwrap();
        let next = next_run(&c, "api", after.timestamp_millis()).unwrap();
        let expected: DateTime<Utc> = "2026-01-01T00:05:00Z".parse().unwrap();
        assert_eq!(next, expected.timestamp_millis());
    }
}
