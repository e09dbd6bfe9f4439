#![forbid(unsafe_code)]
//! Schedule expressions for signalbox: parsing, next fire times under time zones, and the pure
//! maths of misfires and quiet periods. No I/O and no clock: every time is an argument.
//!
//! - [`Schedule::parse`] reads Unix cron (5 fields), Quartz (6-7 fields), `@daily` and friends,
//!   and EventBridge `cron(...)`, `rate(...)`, `at(...)`; `H` tokens hash the schedule name.
//! - [`Schedule::next_after`] is the first fire strictly after an instant, in a time zone, with
//!   the daylight-saving rules spelled out in `docs/schedules.md`.
//! - [`plan_fires`] decides catch-up fires after downtime; [`is_suppressed`] applies quiet
//!   periods.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use signalbox_schedule::{Schedule, parse_time_zone};
//!
//! let schedule = Schedule::parse("30 9 * * MON-FRI", "standup").unwrap();
//! let tz = parse_time_zone("Europe/Paris").unwrap();
//! let after: DateTime<Utc> = "2026-03-27T09:00:00Z".parse().unwrap(); // a Friday
//! let next = schedule.next_after(after, tz).unwrap();
//! assert_eq!(next.with_timezone(&tz).to_rfc3339(), "2026-03-30T09:30:00+02:00");
//! ```

mod cron;
mod days;
mod describe;
mod error;
mod field;
mod hash;
mod misfire;
mod next;
mod quiet;
mod schedule;

/// The `chrono` this crate's API is written in, so callers use the same version.
pub use chrono;
/// An IANA time zone; read one with [`parse_time_zone`].
pub use chrono_tz::Tz;
pub use error::{FieldName, ScheduleError};
pub use field::Dialect;
pub use misfire::{
    DEFAULT_CATCH_UP_WINDOW, DEFAULT_ON_TIME_TOLERANCE, FirePlan, MISSED_COUNT_CAP, MisfirePolicy,
    MisfireSettings, PlannedFire, plan_fires,
};
pub use quiet::{QuietPeriod, is_suppressed};
pub use schedule::{ExpressionKind, Schedule, Upcoming, parse_time_zone};
