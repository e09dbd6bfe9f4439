//! Which days of a given month a cron expression allows, as a bitmask (bit `d` = day `d`).
//!
//! The search in [`crate::next`] asks once per (year, month) for this mask and then only does
//! bit arithmetic, so `L`, `W`, `#` and weekdays cost a few shifts each.

/// Days 1..=31 as bits 1..=31 of a `u64` (bit 0 unused).
pub(crate) type DayMask = u64;

/// Whether `year` is a Gregorian leap year.
pub(crate) fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Day of week of a date, 0 = Sunday … 6 = Saturday (Sakamoto's method).
pub(crate) fn weekday(year: i32, month: u32, day: u32) -> u32 {
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let w = y + y.div_euclid(4) - y.div_euclid(100)
        + y.div_euclid(400)
        + T[month as usize - 1]
        + day as i32;
    w.rem_euclid(7) as u32
}

/// Bits 1..=len set.
fn whole_month(len: u32) -> DayMask {
    ((1u64 << (len + 1)) - 1) & !1
}

/// The day-of-month field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct DomSpec {
    /// Plain days 1..=31.
    pub days: DayMask,
    /// Bit `k` set: the `k`-th day before the last (`L` is k = 0, `L-3` is k = 3).
    pub from_last: u64,
    /// `LW`: the last weekday (Monday-Friday) of the month.
    pub last_weekday: bool,
    /// Bit `n` set: `nW`, the weekday nearest day `n`, not leaving the month.
    pub nearest_weekday: DayMask,
}

impl DomSpec {
    /// Days of a month of `len` days whose first day is weekday `first` (0 = Sunday).
    pub(crate) fn mask(&self, len: u32, first: u32) -> DayMask {
        let mut mask = self.days & whole_month(len);
        let mut from_last = self.from_last;
        while from_last != 0 {
            let k = from_last.trailing_zeros();
            from_last &= from_last - 1;
            if k < len {
                mask |= 1 << (len - k);
            }
        }
        if self.last_weekday {
            mask |= 1 << last_weekday(len, first);
        }
        let mut nearest = self.nearest_weekday & whole_month(len);
        while nearest != 0 {
            let n = nearest.trailing_zeros();
            nearest &= nearest - 1;
            mask |= 1 << nearest_weekday(n, len, first);
        }
        mask
    }
}

/// The last Monday-Friday of a month of `len` days starting on weekday `first`.
pub(crate) fn last_weekday(len: u32, first: u32) -> u32 {
    match (first + len - 1) % 7 {
        6 => len - 1, // Saturday: Friday before
        0 => len - 2, // Sunday: Friday before
        _ => len,
    }
}

/// Quartz `nW`: the weekday nearest day `n`; a Saturday moves to Friday and a Sunday to Monday,
/// except that the month is never left (Saturday the 1st moves to Monday the 3rd, Sunday the last
/// to Friday two days before).
pub(crate) fn nearest_weekday(n: u32, len: u32, first: u32) -> u32 {
    match (first + n - 1) % 7 {
        6 if n == 1 => 3,
        6 => n - 1,
        0 if n == len => n - 2,
        0 => n + 1,
        _ => n,
    }
}

/// The day-of-week field, weekdays as 0 = Sunday … 6 = Saturday whatever the dialect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct DowSpec {
    /// Plain weekdays, bit 0 = Sunday.
    pub days: u8,
    /// `x#n`: for weekday `x`, bit `n - 1` set for the n-th such day of the month (n = 1..=5).
    pub nth: [u8; 7],
    /// `xL`: bit `x` set for the last such weekday of the month.
    pub last: u8,
}

impl DowSpec {
    /// Days of a month of `len` days whose first day is weekday `first` (0 = Sunday).
    pub(crate) fn mask(&self, len: u32, first: u32) -> DayMask {
        let mut mask = 0;
        if self.days != 0 {
            // Days 1..=7 of this month, then repeated every 7 days.
            let rotated = (u32::from(self.days) | (u32::from(self.days) << 7)) >> first & 0x7f;
            let week = u64::from(rotated) << 1;
            mask = week | week << 7 | week << 14 | week << 21 | week << 28;
            mask &= whole_month(len);
        }
        if self.has_special() {
            let last_wd = (first + len - 1) % 7;
            for wd in 0..7u32 {
                let nth = self.nth[wd as usize];
                if nth != 0 {
                    let first_day = 1 + (wd + 7 - first) % 7;
                    for k in 0..5 {
                        let d = first_day + 7 * k;
                        if nth & (1 << k) != 0 && d <= len {
                            mask |= 1 << d;
                        }
                    }
                }
                if self.last & (1 << wd) != 0 {
                    mask |= 1 << (len - (last_wd + 7 - wd) % 7);
                }
            }
        }
        mask
    }

    /// Whether any special (`#`, `L`) form is used.
    pub(crate) fn has_special(&self) -> bool {
        self.last != 0 || self.nth.iter().any(|n| *n != 0)
    }
}

/// How the two day fields combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DayRule {
    /// Neither is restricted: every day.
    Any,
    /// Only day of month counts (Quartz: day of week is `?` or `*`).
    DomOnly,
    /// Only day of week counts.
    DowOnly,
    /// Vixie cron, both restricted: a day matching either field.
    Either,
    /// Vixie cron, one field starts with `*` (e.g. `*/2`): both must match.
    Both,
}

/// Both day fields and the rule joining them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DaySpec {
    pub dom: DomSpec,
    pub dow: DowSpec,
    pub rule: DayRule,
}

impl DaySpec {
    /// The allowed days of `month` in `year`.
    pub(crate) fn mask(&self, year: i32, month: u32) -> DayMask {
        let len = days_in_month(year, month);
        if self.rule == DayRule::Any {
            return whole_month(len);
        }
        let first = weekday(year, month, 1);
        match self.rule {
            DayRule::Any => whole_month(len),
            DayRule::DomOnly => self.dom.mask(len, first),
            DayRule::DowOnly => self.dow.mask(len, first),
            DayRule::Either => self.dom.mask(len, first) | self.dow.mask(len, first),
            DayRule::Both => self.dom.mask(len, first) & self.dow.mask(len, first),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    #[test]
    fn weekday_agrees_with_chrono() {
        let mut date = NaiveDate::from_ymd_opt(1899, 1, 1).unwrap();
        while date.year() < 2300 {
            assert_eq!(
                weekday(date.year(), date.month(), date.day()),
                date.weekday().num_days_from_sunday(),
                "{date}"
            );
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn month_lengths_and_leap_years() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
    }

    #[test]
    fn plain_weekday_mask_matches_every_such_day() {
        // March 2026 starts on a Sunday; Mondays are 2, 9, 16, 23, 30.
        let dow = DowSpec {
            days: 0b10,
            ..DowSpec::default()
        };
        let mask = dow.mask(31, weekday(2026, 3, 1));
        let days: Vec<u32> = (1..=31).filter(|d| mask & (1 << d) != 0).collect();
        assert_eq!(days, vec![2, 9, 16, 23, 30]);
    }
}
