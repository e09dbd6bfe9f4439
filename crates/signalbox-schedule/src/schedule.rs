//! [`Schedule`]: any supported expression, parsed once, asked for fire times many times.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::cron::CronSpec;
use crate::error::ScheduleError;
use crate::field::Dialect;
use crate::next::resolve_local;

/// A parsed schedule expression.
///
/// Accepted forms (see `docs/schedules.md`):
/// - 5 fields: Unix cron `min hour dom month dow`;
/// - 6 or 7 fields: Quartz `sec min hour dom month dow [year]`;
/// - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`;
/// - EventBridge `cron(min hour dom month dow year)`, `rate(N unit)`, `at(yyyy-mm-ddThh:mm:ss)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schedule {
    expr: String,
    pub(crate) kind: Kind,
}

/// What kind of expression a [`Schedule`] was written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    /// A cron expression in the given dialect (the `@` shortcuts are Unix).
    Cron(Dialect),
    /// EventBridge `rate(...)`.
    Rate,
    /// EventBridge `at(...)`, a single fire.
    At,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Cron(Box<CronSpec>),
    /// Every `every` seconds, at instants `anchor + k * every` (Unix seconds).
    Rate {
        every: i64,
        anchor: i64,
        count: u32,
        unit: RateUnit,
    },
    /// Once, at this wall-clock time in the schedule's zone.
    At(NaiveDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl Schedule {
    /// Parses `expr`. `name` is the schedule's name: it seeds `H` tokens and nothing else.
    pub fn parse(expr: &str, name: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let kind = if let Some(inner) = strip_call(trimmed, "cron") {
            let fields: Vec<&str> = inner.split_whitespace().collect();
            Kind::Cron(Box::new(CronSpec::parse_eventbridge(&fields, name)?))
        } else if let Some(inner) = strip_call(trimmed, "rate") {
            parse_rate(trimmed, inner)?
        } else if let Some(inner) = strip_call(trimmed, "at") {
            let at = NaiveDateTime::parse_from_str(inner.trim(), "%Y-%m-%dT%H:%M:%S")
                .map_err(|_| ScheduleError::InvalidAt(trimmed.to_string()))?;
            Kind::At(at)
        } else if let Some(shortcut) = trimmed.strip_prefix('@') {
            let fields = match shortcut.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(ScheduleError::UnknownShortcut(trimmed.to_string())),
            };
            let fields: Vec<&str> = fields.split(' ').collect();
            Kind::Cron(Box::new(CronSpec::parse_plain(&fields, name)?))
        } else {
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            Kind::Cron(Box::new(CronSpec::parse_plain(&fields, name)?))
        };
        Ok(Schedule {
            expr: trimmed.to_string(),
            kind,
        })
    }

    /// The expression as written (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// Which form the expression was written in.
    pub fn kind(&self) -> ExpressionKind {
        match &self.kind {
            Kind::Cron(spec) => ExpressionKind::Cron(spec.dialect),
            Kind::Rate { .. } => ExpressionKind::Rate,
            Kind::At(_) => ExpressionKind::At,
        }
    }

    /// For `rate(...)`: fire at `anchor + k × interval` instead of at multiples of the interval
    /// since the Unix epoch (the default). The scheduler passes the schedule's creation time so
    /// `rate(1 day)` fires a day after creation, as in EventBridge. No effect on other forms.
    pub fn with_rate_anchor(mut self, anchor: DateTime<Utc>) -> Schedule {
        if let Kind::Rate { anchor: a, .. } = &mut self.kind {
            *a = anchor.timestamp();
        }
        self
    }

    /// The first fire time strictly after `after`, or `None` when there is none (an `at(...)` in
    /// the past, a year field that has run out).
    ///
    /// Cron and `at` times are wall-clock times in `tz`. A time skipped by a spring-forward
    /// change fires once, at the first instant after the gap; a time repeated by a fall-back
    /// change fires once, at its first occurrence. `rate(...)` ignores `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(spec) => spec.next_after(after, tz),
            Kind::Rate { every, anchor, .. } => {
                // Whole seconds: t > after exactly when t > floor(after).
                let k = (after.timestamp() - anchor).div_euclid(*every) + 1;
                DateTime::from_timestamp(anchor + k * every, 0)
            }
            Kind::At(local) => Some(resolve_local(tz, *local)).filter(|t| *t > after),
        }
    }

    /// The fire times strictly after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>, tz: Tz) -> Upcoming<'_> {
        Upcoming {
            schedule: self,
            tz,
            cursor: Some(after),
        }
    }

    /// Whether a wall-clock time matches the expression's fields, leaving daylight saving aside.
    /// Cron forms and `at` only; `rate(...)` has no wall-clock pattern and answers `false`.
    pub fn matches_local(&self, local: NaiveDateTime) -> bool {
        match &self.kind {
            Kind::Cron(spec) => spec.matches_local(local),
            Kind::At(at) => *at == local,
            Kind::Rate { .. } => false,
        }
    }
}

/// Iterator over a schedule's fire times, from [`Schedule::upcoming`].
#[derive(Debug, Clone)]
pub struct Upcoming<'a> {
    schedule: &'a Schedule,
    tz: Tz,
    cursor: Option<DateTime<Utc>>,
}

impl Iterator for Upcoming<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let next = self.schedule.next_after(self.cursor?, self.tz);
        self.cursor = next;
        next
    }
}

/// `name(inner)` → `inner`, the name matched case-insensitively.
fn strip_call<'a>(expr: &'a str, name: &str) -> Option<&'a str> {
    let head = expr.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    expr[name.len()..]
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// `rate(value unit)`: value a positive whole number, unit minute(s), hour(s) or day(s), singular
/// exactly when the value is 1, as EventBridge requires.
fn parse_rate(expr: &str, inner: &str) -> Result<Kind, ScheduleError> {
    let bad = |reason: &str| ScheduleError::InvalidRate {
        expr: expr.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err(bad("expected rate(value unit), e.g. rate(5 minutes)"));
    };
    let count: u32 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| bad("the value must be a whole number of at least 1"))?;
    let unit_lower = unit.to_ascii_lowercase();
    let (rate_unit, seconds, plural) = match unit_lower.as_str() {
        "minute" => (RateUnit::Minute, 60, false),
        "minutes" => (RateUnit::Minute, 60, true),
        "hour" => (RateUnit::Hour, 3600, false),
        "hours" => (RateUnit::Hour, 3600, true),
        "day" => (RateUnit::Day, 86_400, false),
        "days" => (RateUnit::Day, 86_400, true),
        _ => return Err(bad("the unit must be minute(s), hour(s) or day(s)")),
    };
    if (count == 1) == plural {
        return Err(bad(if count == 1 {
            "use the singular unit with 1, e.g. rate(1 hour)"
        } else {
            "use a plural unit with values above 1, e.g. rate(5 minutes)"
        }));
    }
    Ok(Kind::Rate {
        every: i64::from(count) * seconds,
        anchor: 0,
        count,
        unit: rate_unit,
    })
}

/// Reads a time zone: an IANA name such as `Europe/Paris`, or `UTC`.
pub fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_string()))
}
