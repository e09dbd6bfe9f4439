//! A parsed cron expression (Unix, Quartz or EventBridge) as bitsets.

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::days::{DayRule, DaySpec, days_in_month, last_weekday, nearest_weekday};
use crate::error::{FieldName, ScheduleError};
use crate::field::{Dialect, FieldCtx, YearSet, parse_bits, parse_dom, parse_dow, parse_years};

/// The fields of a cron expression, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CronSpec {
    pub dialect: Dialect,
    /// Bit `s` for second `s` (Unix and EventBridge: only bit 0).
    pub seconds: u64,
    pub minutes: u64,
    pub hours: u64,
    /// Bits 1..=12.
    pub months: u64,
    pub days: DaySpec,
    /// `None`: every year.
    pub years: Option<YearSet>,
}

impl CronSpec {
    /// Parses the white-space separated fields of a plain expression (5 = Unix, 6-7 = Quartz).
    pub(crate) fn parse_plain(fields: &[&str], name: &str) -> Result<Self, ScheduleError> {
        match fields.len() {
            5 => Self::parse_fields(Dialect::Unix, None, fields, None, name, 1),
            6 | 7 => Self::parse_fields(
                Dialect::Quartz,
                Some(fields[0]),
                &fields[1..6],
                fields.get(6).copied(),
                name,
                2,
            ),
            n => Err(ScheduleError::FieldCount(n)),
        }
    }

    /// Parses the inside of `cron(min hour dom month dow year)`.
    pub(crate) fn parse_eventbridge(fields: &[&str], name: &str) -> Result<Self, ScheduleError> {
        if fields.len() != 6 {
            return Err(ScheduleError::EventBridgeFieldCount(fields.len()));
        }
        let (dom, dow) = (fields[2], fields[3 + 1]);
        if (dom == "?") == (dow == "?") {
            return Err(ScheduleError::EventBridgeQuestionMark);
        }
        Self::parse_fields(
            Dialect::EventBridge,
            None,
            &fields[..5],
            Some(fields[5]),
            name,
            1,
        )
    }

    /// `rest` is `min hour dom month dow`; `first` is the 1-based position of `min`.
    fn parse_fields(
        dialect: Dialect,
        seconds: Option<&str>,
        rest: &[&str],
        year: Option<&str>,
        name: &str,
        first: usize,
    ) -> Result<Self, ScheduleError> {
        let ctx = |position: usize, field: FieldName| FieldCtx {
            position,
            field,
            dialect,
            name,
        };
        let seconds = match seconds {
            Some(text) => parse_bits(&ctx(1, FieldName::Second), text)?,
            None => 1,
        };
        let minutes = parse_bits(&ctx(first, FieldName::Minute), rest[0])?;
        let hours = parse_bits(&ctx(first + 1, FieldName::Hour), rest[1])?;
        let dom = parse_dom(&ctx(first + 2, FieldName::DayOfMonth), rest[2])?;
        let months = parse_bits(&ctx(first + 3, FieldName::Month), rest[3])?;
        let dow = parse_dow(&ctx(first + 4, FieldName::DayOfWeek), rest[4])?;
        let years = match year {
            Some(text) => parse_years(&ctx(first + 5, FieldName::Year), text)?,
            None => None,
        };

        let (dom_text, dow_text) = (rest[2], rest[4]);
        let rule = match dialect {
            // Vixie cron: a field starting with `*` (even `*/2`) does not count as restricted,
            // and then both must match; two restricted fields match on either.
            Dialect::Unix => match (dom_text.starts_with('*'), dow_text.starts_with('*')) {
                (true, true) if dom_text == "*" && dow_text == "*" => DayRule::Any,
                (true, _) | (_, true) => DayRule::Both,
                (false, false) => DayRule::Either,
            },
            Dialect::Quartz | Dialect::EventBridge => {
                let free = |t: &str| t == "*" || t == "?";
                match (free(dom_text), free(dow_text)) {
                    (true, true) => DayRule::Any,
                    (false, true) => DayRule::DomOnly,
                    (true, false) => DayRule::DowOnly,
                    (false, false) => {
                        return Err(ScheduleError::BothDayFields {
                            dom: dom_text.to_string(),
                            dow: dow_text.to_string(),
                        });
                    }
                }
            }
        };
        let spec = CronSpec {
            dialect,
            seconds,
            minutes,
            hours,
            months,
            days: DaySpec { dom, dow, rule },
            years,
        };
        spec.check_fires()?;
        Ok(spec)
    }

    /// Refuses expressions that no date can match (e.g. February 30th), so a schedule that would
    /// silently never fire is a load error instead. The calendar repeats every 400 years, so
    /// looking at one cycle (or at every allowed year) is enough.
    fn check_fires(&self) -> Result<(), ScheduleError> {
        let years: Vec<i32> = match &self.years {
            Some(set) => set.iter().collect(),
            None => (2000..2400).collect(),
        };
        for year in years {
            for month in 1..=12 {
                if self.months & (1 << month) != 0 && self.days.mask(year, month) != 0 {
                    return Ok(());
                }
            }
        }
        Err(ScheduleError::NeverFires)
    }

    /// Whether a wall-clock time matches every field. Written directly from the definitions
    /// (not through the day masks) so tests can use it as an independent reference.
    pub(crate) fn matches_local(&self, t: NaiveDateTime) -> bool {
        let bit = |set: u64, v: u32| set & (1 << v) != 0;
        if !(bit(self.seconds, t.second())
            && bit(self.minutes, t.minute())
            && bit(self.hours, t.hour())
            && bit(self.months, t.month()))
        {
            return false;
        }
        if let Some(years) = &self.years
            && !years.contains(t.year())
        {
            return false;
        }
        let (y, m, d) = (t.year(), t.month(), t.day());
        let len = days_in_month(y, m);
        let wd = t.weekday().num_days_from_sunday();
        let first = t
            .with_day(1)
            .map_or(0, |f| f.weekday().num_days_from_sunday());
        let dom = &self.days.dom;
        let dom_ok = bit(dom.days, d)
            || (0..31).any(|k| bit(dom.from_last, k) && k < len && d == len - k)
            || (dom.last_weekday && d == last_weekday(len, first))
            || (1..=len)
                .any(|n| bit(dom.nearest_weekday, n) && d == nearest_weekday(n, len, first));
        let dow = &self.days.dow;
        let nth = (d - 1) / 7; // 0 for days 1-7, …
        let dow_ok = dow.days & (1 << wd) != 0
            || dow.nth[wd as usize] & (1 << nth) != 0
            || (dow.last & (1 << wd) != 0 && d + 7 > len);
        match self.days.rule {
            DayRule::Any => true,
            DayRule::DomOnly => dom_ok,
            DayRule::DowOnly => dow_ok,
            DayRule::Either => dom_ok || dow_ok,
            DayRule::Both => dom_ok && dow_ok,
        }
    }
}
