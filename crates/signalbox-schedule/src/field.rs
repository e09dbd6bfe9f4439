//! Parsing one field of a cron expression into a set of values (and, for the day fields, the
//! special `L`, `W`, `#` forms).

use crate::days::{DomSpec, DowSpec};
use crate::error::{FieldName, ScheduleError};
use crate::hash::hash_value;

/// The flavour of cron an expression is written in; it decides the weekday numbering and which
/// special characters are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// 5 fields, `min hour dom month dow`, Sunday = 0 or 7, Vixie day-field rules.
    Unix,
    /// 6 or 7 fields, `sec min hour dom month dow [year]`, Sunday = 1, `?` `L` `W` `#`.
    Quartz,
    /// `cron(min hour dom month dow year)`, Sunday = 1, `?` required in one day field.
    EventBridge,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Where a field sits and what it may contain.
pub(crate) struct FieldCtx<'a> {
    /// 1-based position in the expression as written.
    pub position: usize,
    pub field: FieldName,
    pub dialect: Dialect,
    /// Schedule name, the seed of `H`.
    pub name: &'a str,
}

impl FieldCtx<'_> {
    /// Smallest and largest value as written (before weekday normalisation).
    fn bounds(&self) -> (u32, u32) {
        match self.field {
            FieldName::Second | FieldName::Minute => (0, 59),
            FieldName::Hour => (0, 23),
            FieldName::DayOfMonth => (1, 31),
            FieldName::Month => (1, 12),
            FieldName::DayOfWeek if self.dialect == Dialect::Unix => (0, 7),
            FieldName::DayOfWeek => (1, 7),
            FieldName::Year => (1970, 2199),
        }
    }

    fn allowed(&self) -> String {
        let (min, max) = self.bounds();
        match self.field {
            FieldName::Month => format!("{min}-{max} or JAN-DEC"),
            FieldName::DayOfWeek => format!("{min}-{max} or SUN-SAT"),
            _ => format!("{min}-{max}"),
        }
    }

    fn out_of_range(&self, token: &str) -> ScheduleError {
        ScheduleError::OutOfRange {
            position: self.position,
            field: self.field,
            token: token.to_string(),
            allowed: self.allowed(),
        }
    }

    pub(crate) fn invalid(&self, token: &str, reason: impl Into<String>) -> ScheduleError {
        ScheduleError::InvalidToken {
            position: self.position,
            field: self.field,
            token: token.to_string(),
            reason: reason.into(),
        }
    }

    fn allows_special_days(&self) -> bool {
        self.dialect != Dialect::Unix
    }

    /// One value: a number or, for months and weekdays, a three-letter name.
    fn value(&self, text: &str, item: &str) -> Result<u32, ScheduleError> {
        let (min, max) = self.bounds();
        if let Ok(v) = text.parse::<u32>() {
            return if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(self.out_of_range(item))
            };
        }
        let upper = text.to_ascii_uppercase();
        let named = match self.field {
            FieldName::Month => MONTHS
                .iter()
                .position(|m| *m == upper)
                .map(|i| i as u32 + 1),
            FieldName::DayOfWeek => WEEKDAYS
                .iter()
                .position(|d| *d == upper)
                .map(|i| i as u32 + min),
            _ => None,
        };
        named.ok_or_else(|| {
            let what = match self.field {
                FieldName::Month | FieldName::DayOfWeek => "a number, a name, a range or a step",
                _ => "a number, a range or a step",
            };
            self.invalid(item, format!("expected {what}; allowed {}", self.allowed()))
        })
    }

    /// A weekday as written, converted to 0 = Sunday … 6 = Saturday.
    fn weekday_value(&self, text: &str, item: &str) -> Result<u32, ScheduleError> {
        let v = self.value(text, item)?;
        Ok(normalize_weekday(self.dialect, v))
    }

    fn hash(&self, span: u32) -> u32 {
        let tag = match self.field {
            FieldName::Second => 0,
            FieldName::Minute => 1,
            _ => 2,
        };
        hash_value(self.name, tag, span)
    }
}

fn normalize_weekday(dialect: Dialect, v: u32) -> u32 {
    match dialect {
        Dialect::Unix => v % 7,
        Dialect::Quartz | Dialect::EventBridge => v - 1,
    }
}

/// Parses a comma-separated list of numbers, ranges, steps and `H` tokens; calls `add` with each
/// value as written (weekdays not yet normalised).
fn parse_list(
    ctx: &FieldCtx<'_>,
    text: &str,
    mut add: impl FnMut(u32),
    mut special: impl FnMut(&str) -> Result<bool, ScheduleError>,
) -> Result<(), ScheduleError> {
    if text.is_empty() {
        return Err(ctx.invalid(text, "empty field"));
    }
    for item in text.split(',') {
        if item.is_empty() {
            return Err(ctx.invalid(text, "empty list item"));
        }
        if special(item)? {
            continue;
        }
        parse_item(ctx, item, &mut add)?;
    }
    Ok(())
}

fn parse_item(
    ctx: &FieldCtx<'_>,
    item: &str,
    add: &mut impl FnMut(u32),
) -> Result<(), ScheduleError> {
    let (min, max) = ctx.bounds();
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => {
            let step: u32 = step
                .parse()
                .map_err(|_| ctx.invalid(item, "the step after / must be a whole number"))?;
            if step == 0 || step > max - min + 1 {
                return Err(ScheduleError::OutOfRange {
                    position: ctx.position,
                    field: ctx.field,
                    token: item.to_string(),
                    allowed: format!("step 1-{}", max - min + 1),
                });
            }
            (base, Some(step))
        }
        None => (item, None),
    };

    let hash_field = matches!(
        ctx.field,
        FieldName::Second | FieldName::Minute | FieldName::Hour
    );
    let upper = base.to_ascii_uppercase();
    let (start, end, hashed) = if base == "*" || (base == "?" && ctx.allows_special_days()) {
        (min, max, false)
    } else if upper == "H" || upper.starts_with("H(") {
        if !hash_field {
            return Err(ctx.invalid(
                item,
                "H is only allowed in the second, minute and hour fields",
            ));
        }
        if upper == "H" {
            (min, max, true)
        } else {
            let inner = upper
                .strip_prefix("H(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.split_once('-'))
                .ok_or_else(|| ctx.invalid(item, "expected H, H(a-b), H/n or H(a-b)/n"))?;
            let a = ctx.value(inner.0, item)?;
            let b = ctx.value(inner.1, item)?;
            if a > b {
                return Err(ctx.invalid(item, "the range in H(a-b) must not be reversed"));
            }
            (a, b, true)
        }
    } else if let Some((a, b)) = base.split_once('-') {
        (ctx.value(a, item)?, ctx.value(b, item)?, false)
    } else {
        let v = ctx.value(base, item)?;
        // `5/15` runs from 5 to the end of the range, as in Quartz.
        (v, if step.is_some() { max } else { v }, false)
    };

    if hashed {
        let span = end - start + 1;
        match step {
            // Jenkins: H/n picks an offset below n, then every n-th value.
            Some(step) => {
                let first = start + ctx.hash(step.min(span));
                (first..=end).step_by(step as usize).for_each(&mut *add);
            }
            None => add(start + ctx.hash(span)),
        }
        return Ok(());
    }

    let step = step.unwrap_or(1);
    if start <= end {
        (start..=end).step_by(step as usize).for_each(&mut *add);
    } else {
        // A reversed range wraps around, e.g. hours 22-2 or FRI-MON.
        let size = max - min + 1;
        let count = (end + size - start) + 1;
        (0..count)
            .step_by(step as usize)
            .for_each(|i| add(min + (start - min + i) % size));
    }
    Ok(())
}

/// A plain field (seconds, minutes, hours, months) as a bitmask of values.
pub(crate) fn parse_bits(ctx: &FieldCtx<'_>, text: &str) -> Result<u64, ScheduleError> {
    let mut bits = 0u64;
    parse_list(
        ctx,
        text,
        |v| bits |= 1 << v,
        |item| {
            if item == "?" {
                Err(ctx.invalid(item, "? is only allowed in the day fields"))
            } else {
                Ok(false)
            }
        },
    )?;
    Ok(bits)
}

/// Years 1970-2199 as a 256-bit set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct YearSet([u64; 4]);

impl YearSet {
    const BASE: i32 = 1970;
    pub(crate) const MAX: i32 = 2199;

    /// The first year in the set that is `year` or later.
    pub(crate) fn next_from(&self, year: i32) -> Option<i32> {
        let mut i = (year.max(Self::BASE) - Self::BASE) as usize;
        while i < 256 {
            let word = self.0[i / 64] >> (i % 64);
            if word != 0 {
                let found = i + word.trailing_zeros() as usize;
                return Some(Self::BASE + found as i32);
            }
            i = (i / 64 + 1) * 64;
        }
        None
    }

    /// Whether `year` is in the set.
    pub(crate) fn contains(&self, year: i32) -> bool {
        (Self::BASE..=Self::MAX).contains(&year) && {
            let i = (year - Self::BASE) as usize;
            self.0[i / 64] & (1 << (i % 64)) != 0
        }
    }

    /// Every year in the set, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        (Self::BASE..=Self::MAX).filter(|y| self.contains(*y))
    }
}

/// The year field; `None` when it allows every year.
pub(crate) fn parse_years(
    ctx: &FieldCtx<'_>,
    text: &str,
) -> Result<Option<YearSet>, ScheduleError> {
    if text == "*" {
        return Ok(None);
    }
    let mut words = [0u64; 4];
    parse_list(
        ctx,
        text,
        |v| {
            let i = (v as i32 - YearSet::BASE) as usize;
            words[i / 64] |= 1 << (i % 64);
        },
        |item| {
            if item == "?" {
                Err(ctx.invalid(item, "? is only allowed in the day fields"))
            } else {
                Ok(false)
            }
        },
    )?;
    Ok(Some(YearSet(words)))
}

/// The day-of-month field with `L`, `L-n`, `LW` and `nW`.
pub(crate) fn parse_dom(ctx: &FieldCtx<'_>, text: &str) -> Result<DomSpec, ScheduleError> {
    let mut spec = DomSpec::default();
    let mut days = 0u64;
    parse_list(
        ctx,
        text,
        |v| days |= 1 << v,
        |item| {
            let upper = item.to_ascii_uppercase();
            let special = upper.contains('L') || upper.contains('W') || item == "?";
            if !special {
                return Ok(false);
            }
            if !ctx.allows_special_days() {
                return Err(ctx.invalid(
                    item,
                    "?, L and W need a 6 or 7 field (quartz) or cron() expression",
                ));
            }
            if item == "?" {
                spec.days |= !0;
            } else if upper == "L" {
                spec.from_last |= 1;
            } else if upper == "LW" {
                spec.last_weekday = true;
            } else if let Some(n) = upper.strip_prefix("L-") {
                let n: u32 = n
                    .parse()
                    .map_err(|_| ctx.invalid(item, "expected L-n with n a number of days"))?;
                if n > 30 {
                    return Err(ScheduleError::OutOfRange {
                        position: ctx.position,
                        field: ctx.field,
                        token: item.to_string(),
                        allowed: "L-0 to L-30".into(),
                    });
                }
                spec.from_last |= 1 << n;
            } else if let Some(n) = upper.strip_suffix('W') {
                let n = ctx.value(n, item)?;
                spec.nearest_weekday |= 1 << n;
            } else {
                return Err(ctx.invalid(item, "expected L, L-n, LW or nW"));
            }
            Ok(true)
        },
    )?;
    spec.days |= days;
    spec.days &= !1 & ((1 << 32) - 1);
    Ok(spec)
}

/// The day-of-week field with `xL` and `x#n`; weekdays normalised to 0 = Sunday.
pub(crate) fn parse_dow(ctx: &FieldCtx<'_>, text: &str) -> Result<DowSpec, ScheduleError> {
    let mut spec = DowSpec::default();
    let mut days = 0u8;
    parse_list(
        ctx,
        text,
        |v| days |= 1 << normalize_weekday(ctx.dialect, v),
        |item| {
            let upper = item.to_ascii_uppercase();
            let special = item == "?" || upper.contains('#') || upper.ends_with('L');
            if !special {
                return Ok(false);
            }
            if !ctx.allows_special_days() {
                return Err(ctx.invalid(
                    item,
                    "?, L and # need a 6 or 7 field (quartz) or cron() expression",
                ));
            }
            if item == "?" {
                spec.days = 0x7f;
            } else if upper == "L" {
                // Quartz: `L` alone in day of week is the last day of the week, Saturday.
                spec.days |= 1 << 6;
            } else if let Some(wd) = upper.strip_suffix('L') {
                let wd = ctx.weekday_value(wd, item)?;
                spec.last |= 1 << wd;
            } else if let Some((wd, n)) = upper.split_once('#') {
                let wd = ctx.weekday_value(wd, item)?;
                let n: u32 = n
                    .parse()
                    .map_err(|_| ctx.invalid(item, "expected x#n with n from 1 to 5"))?;
                if !(1..=5).contains(&n) {
                    return Err(ScheduleError::OutOfRange {
                        position: ctx.position,
                        field: ctx.field,
                        token: item.to_string(),
                        allowed: "#1-#5".into(),
                    });
                }
                spec.nth[wd as usize] |= 1 << (n - 1);
            } else {
                return Err(ctx.invalid(item, "expected xL or x#n"));
            }
            Ok(true)
        },
    )?;
    spec.days |= days;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(field: FieldName, dialect: Dialect) -> FieldCtx<'static> {
        FieldCtx {
            position: 1,
            field,
            dialect,
            name: "job",
        }
    }

    fn values(bits: u64) -> Vec<u32> {
        (0..64).filter(|v| bits & (1 << v) != 0).collect()
    }

    #[test]
    fn lists_ranges_and_steps() {
        let c = ctx(FieldName::Minute, Dialect::Unix);
        assert_eq!(
            values(parse_bits(&c, "1,5-7,*/20").unwrap()),
            vec![0, 1, 5, 6, 7, 20, 40]
        );
        assert_eq!(values(parse_bits(&c, "10-20/5").unwrap()), vec![10, 15, 20]);
        assert_eq!(values(parse_bits(&c, "50/5").unwrap()), vec![50, 55]);
        assert_eq!(values(parse_bits(&c, "58-1").unwrap()), vec![0, 1, 58, 59]);
    }

    #[test]
    fn names_are_case_insensitive() {
        let c = ctx(FieldName::Month, Dialect::Unix);
        assert_eq!(
            values(parse_bits(&c, "jan,Mar-MAY").unwrap()),
            vec![1, 3, 4, 5]
        );
    }

    #[test]
    fn unix_sunday_is_zero_or_seven() {
        let c = ctx(FieldName::DayOfWeek, Dialect::Unix);
        assert_eq!(parse_dow(&c, "7").unwrap().days, 1);
        assert_eq!(parse_dow(&c, "0").unwrap().days, 1);
        assert_eq!(parse_dow(&c, "5-7").unwrap().days, 0b110_0001);
    }

    #[test]
    fn quartz_sunday_is_one() {
        let c = ctx(FieldName::DayOfWeek, Dialect::Quartz);
        assert_eq!(parse_dow(&c, "1").unwrap().days, 1);
        assert_eq!(parse_dow(&c, "MON-FRI").unwrap().days, 0b011_1110);
        assert!(matches!(
            parse_dow(&c, "0"),
            Err(ScheduleError::OutOfRange { .. })
        ));
    }

    #[test]
    fn errors_name_the_token() {
        let c = ctx(FieldName::Hour, Dialect::Unix);
        assert_eq!(
            parse_bits(&c, "24").unwrap_err().to_string(),
            "cron field 1 (hour) \"24\" is out of range 0-23"
        );
        assert_eq!(
            parse_bits(&c, "*/0").unwrap_err().to_string(),
            "cron field 1 (hour) \"*/0\" is out of range step 1-24"
        );
        assert!(parse_bits(&c, "1,,2").is_err());
        assert!(parse_bits(&c, "x").is_err());
    }
}
