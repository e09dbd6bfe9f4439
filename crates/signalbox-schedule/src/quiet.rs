//! Quiet periods: spans of time during which fires are recorded as suppressed, not run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;

/// One quiet period, `from` inclusive to `to` exclusive. In config both are RFC 3339 strings,
/// e.g. `{from: "2026-12-24T00:00:00+01:00", to: "2026-12-27T00:00:00+01:00"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QuietPeriod {
    /// First suppressed instant.
    pub from: DateTime<Utc>,
    /// First instant after the period.
    pub to: DateTime<Utc>,
}

impl QuietPeriod {
    /// Builds a period from two RFC 3339 times; `from` must be before `to`.
    pub fn parse(from: &str, to: &str) -> Result<QuietPeriod, ScheduleError> {
        let read = |what: &str, s: &str| {
            DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ScheduleError::InvalidQuietPeriod(format!(
                        "{what} \"{s}\" is not an RFC 3339 time ({e}), e.g. 2026-12-24T00:00:00Z"
                    ))
                })
        };
        let period = QuietPeriod {
            from: read("from", from)?,
            to: read("to", to)?,
        };
        period.validate()?;
        Ok(period)
    }

    /// Checks that `from` is before `to` (for periods that came through serde).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.from < self.to {
            Ok(())
        } else {
            Err(ScheduleError::InvalidQuietPeriod(format!(
                "from {} is not before to {}",
                self.from.to_rfc3339(),
                self.to.to_rfc3339()
            )))
        }
    }

    /// Whether `t` falls in the period.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// Whether a fire for `scheduled_time` is suppressed by any of `periods`. The scheduled time
/// decides, not the moment the fire runs, so a late catch-up fire of a quiet time stays quiet
/// and the answer does not depend on how late the scheduler is.
pub fn is_suppressed(periods: &[QuietPeriod], scheduled_time: DateTime<Utc>) -> bool {
    periods.iter().any(|p| p.contains(scheduled_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn bounds_are_from_inclusive_to_exclusive() {
        let p =
            QuietPeriod::parse("2026-12-24T00:00:00+01:00", "2026-12-27T00:00:00+01:00").unwrap();
        let periods = [p];
        assert!(!is_suppressed(&periods, t("2026-12-23T22:59:59Z")));
        assert!(is_suppressed(&periods, t("2026-12-23T23:00:00Z")));
        assert!(is_suppressed(&periods, t("2026-12-26T22:59:59Z")));
        assert!(!is_suppressed(&periods, t("2026-12-26T23:00:00Z")));
        assert!(!is_suppressed(&[], t("2026-12-25T00:00:00Z")));
    }

    #[test]
    fn any_period_suppresses() {
        let periods = [
            QuietPeriod::parse("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z").unwrap(),
            QuietPeriod::parse("2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z").unwrap(),
        ];
        assert!(is_suppressed(&periods, t("2026-02-01T12:00:00Z")));
        assert!(!is_suppressed(&periods, t("2026-01-15T12:00:00Z")));
    }

    #[test]
    fn invalid_periods() {
        assert!(QuietPeriod::parse("yesterday", "2026-01-01T00:00:00Z").is_err());
        let err = QuietPeriod::parse("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z").unwrap_err();
        assert_eq!(err.code(), "schedule.invalid_quiet_period");
        let p: QuietPeriod = serde_json::from_str(
            r#"{"from":"2026-01-01T00:00:00+02:00","to":"2026-01-01T01:00:00Z"}"#,
        )
        .unwrap();
        assert!(p.validate().is_ok());
    }
}
