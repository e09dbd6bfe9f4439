//! The one error type of this crate: an expression, time zone or quiet period that cannot be used.

use std::fmt;

/// Which part of a cron expression a field is; `Display` gives the name used in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldName {
    /// Seconds (Quartz only), 0-59.
    Second,
    /// Minutes, 0-59.
    Minute,
    /// Hours, 0-23.
    Hour,
    /// Day of month, 1-31.
    DayOfMonth,
    /// Month, 1-12 or JAN-DEC.
    Month,
    /// Day of week: 0-7 in Unix cron, 1-7 in Quartz and EventBridge, or SUN-SAT.
    DayOfWeek,
    /// Year (Quartz and EventBridge only), 1970-2199.
    Year,
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldName::Second => "second",
            FieldName::Minute => "minute",
            FieldName::Hour => "hour",
            FieldName::DayOfMonth => "day of month",
            FieldName::Month => "month",
            FieldName::DayOfWeek => "day of week",
            FieldName::Year => "year",
        })
    }
}

/// Why an expression, time zone or quiet period was refused.
///
/// Messages are lowercase, name the bad part and what is accepted instead; the caller adds the
/// schedule name (`schedule "nightly": cron field 3 (day of month) "32" is out of range 1-31`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Nothing but white space.
    #[error("the expression is empty")]
    Empty,
    /// A plain expression that is neither 5 (Unix) nor 6 or 7 (Quartz) fields long.
    #[error(
        "expected 5 fields (unix: min hour dom month dow) or 6-7 fields (quartz: sec min hour dom month dow [year]), got {0}"
    )]
    FieldCount(usize),
    /// `cron(...)` (EventBridge) must have exactly 6 fields.
    #[error("eventbridge cron() takes 6 fields (min hour dom month dow year), got {0}")]
    EventBridgeFieldCount(usize),
    /// A value (or a range end, or a step) outside what the field allows.
    #[error("cron field {position} ({field}) \"{token}\" is out of range {allowed}")]
    OutOfRange {
        /// 1-based position of the field in the expression as written.
        position: usize,
        /// Which field.
        field: FieldName,
        /// The offending token, as written.
        token: String,
        /// The allowed range, e.g. `1-31`.
        allowed: String,
    },
    /// A token that is not valid syntax for its field.
    #[error("cron field {position} ({field}) \"{token}\" is not valid: {reason}")]
    InvalidToken {
        /// 1-based position of the field in the expression as written.
        position: usize,
        /// Which field.
        field: FieldName,
        /// The offending token, as written.
        token: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Quartz: day of month and day of week are both restricted.
    #[error(
        "day of month \"{dom}\" and day of week \"{dow}\" are both restricted; put ? in one of them"
    )]
    BothDayFields {
        /// The day-of-month field as written.
        dom: String,
        /// The day-of-week field as written.
        dow: String,
    },
    /// EventBridge: exactly one of the day fields must be `?`.
    #[error("eventbridge cron() needs ? in exactly one of day of month and day of week")]
    EventBridgeQuestionMark,
    /// `@something` that is not one of the known shortcuts.
    #[error(
        "unknown shortcut \"{0}\"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
    )]
    UnknownShortcut(String),
    /// A `rate(...)` that does not follow the EventBridge rules.
    #[error("rate expression \"{expr}\" is not valid: {reason}")]
    InvalidRate {
        /// The whole expression.
        expr: String,
        /// What is wrong.
        reason: String,
    },
    /// An `at(...)` whose date-time cannot be read.
    #[error("at expression \"{0}\" is not valid: expected at(yyyy-mm-ddThh:mm:ss)")]
    InvalidAt(String),
    /// A valid expression that matches no date at all (e.g. `0 0 0 30 2 ?`).
    #[error("the expression never fires (no date matches it)")]
    NeverFires,
    /// Not an IANA time zone name.
    #[error("unknown time zone \"{0}\"; use an IANA name such as Europe/Paris or UTC")]
    UnknownTimeZone(String),
    /// A quiet period that is not two RFC 3339 times with `from` before `to`.
    #[error("quiet period is not valid: {0}")]
    InvalidQuietPeriod(String),
}

impl ScheduleError {
    /// A stable machine-readable code, for API errors and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleError::Empty
            | ScheduleError::FieldCount(_)
            | ScheduleError::EventBridgeFieldCount(_)
            | ScheduleError::UnknownShortcut(_) => "schedule.syntax",
            ScheduleError::OutOfRange { .. } => "schedule.out_of_range",
            ScheduleError::InvalidToken { .. } => "schedule.invalid_token",
            ScheduleError::BothDayFields { .. } | ScheduleError::EventBridgeQuestionMark => {
                "schedule.day_fields"
            }
            ScheduleError::InvalidRate { .. } => "schedule.invalid_rate",
            ScheduleError::InvalidAt(_) => "schedule.invalid_at",
            ScheduleError::NeverFires => "schedule.never_fires",
            ScheduleError::UnknownTimeZone(_) => "schedule.unknown_time_zone",
            ScheduleError::InvalidQuietPeriod(_) => "schedule.invalid_quiet_period",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_message_names_field_token_and_range() {
        let err = ScheduleError::OutOfRange {
            position: 3,
            field: FieldName::DayOfMonth,
            token: "32".into(),
            allowed: "1-31".into(),
        };
        assert_eq!(
            err.to_string(),
            "cron field 3 (day of month) \"32\" is out of range 1-31"
        );
        assert_eq!(err.code(), "schedule.out_of_range");
    }
}
