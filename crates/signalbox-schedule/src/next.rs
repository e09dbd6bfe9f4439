//! Finding the next fire time: a field-by-field search over wall-clock time, then the mapping of
//! that wall-clock time to an instant under the time zone's daylight-saving rules.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use crate::cron::CronSpec;

/// The lowest set bit of `mask` at position `from` or above.
#[inline]
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask & (!0u64 << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

/// How many years ahead the search looks before concluding there is no further fire; the
/// Gregorian calendar repeats every 400 years.
const SEARCH_YEARS: i32 = 401;

impl CronSpec {
    /// The first wall-clock time at or after `start` (whole seconds) matching every field.
    pub(crate) fn next_local(&self, start: NaiveDateTime) -> Option<NaiveDateTime> {
        let (mut y, mut mo, mut d) = (start.year(), start.month(), start.day());
        let (mut h, mut mi, mut s) = (start.hour(), start.minute(), start.second());
        let limit = y + SEARCH_YEARS;
        let mut cached: Option<(i32, u32, u64)> = None;
        loop {
            if y > limit {
                return None;
            }
            if let Some(years) = &self.years {
                let ny = years.next_from(y)?;
                if ny != y {
                    (y, mo, d, h, mi, s) = (ny, 1, 1, 0, 0, 0);
                }
            }
            match next_bit(self.months, mo) {
                Some(m) if m == mo => {}
                Some(m) => (mo, d, h, mi, s) = (m, 1, 0, 0, 0),
                None => {
                    (y, mo, d, h, mi, s) = (y + 1, 1, 1, 0, 0, 0);
                    continue;
                }
            }
            let days = match cached {
                Some((cy, cm, mask)) if cy == y && cm == mo => mask,
                _ => {
                    let mask = self.days.mask(y, mo);
                    cached = Some((y, mo, mask));
                    mask
                }
            };
            match next_bit(days, d) {
                Some(nd) if nd == d => {}
                Some(nd) => (d, h, mi, s) = (nd, 0, 0, 0),
                None => {
                    (mo, d, h, mi, s) = (mo + 1, 1, 0, 0, 0);
                    continue;
                }
            }
            match next_bit(self.hours, h) {
                Some(nh) if nh == h => {}
                Some(nh) => (h, mi, s) = (nh, 0, 0),
                None => {
                    (d, h, mi, s) = (d + 1, 0, 0, 0);
                    continue;
                }
            }
            match next_bit(self.minutes, mi) {
                Some(nm) if nm == mi => {}
                Some(nm) => (mi, s) = (nm, 0),
                None => {
                    (h, mi, s) = (h + 1, 0, 0);
                    continue;
                }
            }
            match next_bit(self.seconds, s) {
                Some(ns) => s = ns,
                None => {
                    (mi, s) = (mi + 1, 0);
                    continue;
                }
            }
            return NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s);
        }
    }

    /// The first fire strictly after `after`, with the daylight-saving rules of [`crate::Schedule::next_after`].
    pub(crate) fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let floor = after.with_nanosecond(0)?;
        let one = Duration::seconds(1);
        let mut start = local_time(tz, floor)?.checked_add_signed(one)?;
        loop {
            let local = self.next_local(start)?;
            match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => {
                    let t = t.with_timezone(&Utc);
                    if t > after {
                        return Some(t);
                    }
                }
                // Repeated in autumn: only the first occurrence fires; if that has passed, the
                // second is skipped.
                LocalResult::Ambiguous(first, _) => {
                    let t = first.with_timezone(&Utc);
                    if t > after {
                        return Some(t);
                    }
                }
                // Skipped in spring: fire once, at the first instant after the gap.
                LocalResult::None => {
                    let t = gap_end(tz, local);
                    if t > after {
                        return Some(t);
                    }
                }
            }
            start = local.checked_add_signed(one)?;
        }
    }
}

/// The wall-clock time of `t` in `tz`; `None` at the very ends of chrono's range (where
/// `naive_local` would panic).
fn local_time(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let utc = t.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
}

/// The instant a wall-clock time stands for in `tz`: the first occurrence if it is repeated, the
/// first instant after the gap if it is skipped.
pub(crate) fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => gap_end(tz, local),
    }
}

/// For a wall-clock time inside a spring-forward gap, the first instant after the gap: the
/// earliest instant whose local time is at or past `local`. Offsets lie within -12h..+14h, so the
/// instant is within 15 hours of `local` read as UTC; a binary search over seconds finds it.
fn gap_end(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let as_utc = local.and_utc().timestamp();
    let reached = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .and_then(|u| local_time(tz, u))
            .is_some_and(|l| l >= local)
    };
    let (mut lo, mut hi) = (as_utc - 15 * 3600, as_utc + 15 * 3600);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    DateTime::from_timestamp(lo, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_bit_edges() {
        assert_eq!(next_bit(0b1010, 0), Some(1));
        assert_eq!(next_bit(0b1010, 2), Some(3));
        assert_eq!(next_bit(0b1010, 4), None);
        assert_eq!(next_bit(1 << 63, 63), Some(63));
        assert_eq!(next_bit(!0, 64), None);
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let spec = crate::Schedule::parse("* * * * * ?", "x").unwrap();
        for tz in [Tz::UTC, Tz::Pacific__Kiritimati, Tz::Etc__GMTPlus12] {
            assert_eq!(spec.next_after(DateTime::<Utc>::MAX_UTC, tz), None);
            // Below the range in zones west of UTC: any answer will do, as long as it is no panic.
            let _ = spec.next_after(DateTime::<Utc>::MIN_UTC, tz);
        }
        let rate = crate::Schedule::parse("rate(5 minutes)", "x").unwrap();
        assert_eq!(rate.next_after(DateTime::<Utc>::MAX_UTC, Tz::UTC), None);
    }

    #[test]
    fn gap_end_paris_spring_2026() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let local = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(gap_end(tz, local).to_rfc3339(), "2026-03-29T01:00:00+00:00");
    }
}
