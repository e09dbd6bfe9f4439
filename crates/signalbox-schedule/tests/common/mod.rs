//! Helpers shared by the table tests.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use signalbox_schedule::{Schedule, parse_time_zone};

/// An RFC 3339 string as a UTC instant.
pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// The first `n` fire times of `expr` (schedule name "job") after `from`, in `zone`'s offset.
pub fn fires(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
    fires_named(expr, "job", zone, from, n)
}

/// As [`fires`], with a schedule name (for `H`).
pub fn fires_named(expr: &str, name: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(expr, name).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let tz = parse_time_zone(zone).unwrap();
    schedule
        .upcoming(t(from), tz)
        .take(n)
        .map(|f| f.with_timezone(&tz).to_rfc3339())
        .collect()
}

/// The parse error of `expr`, as its message.
pub fn error(expr: &str) -> String {
    match Schedule::parse(expr, "job") {
        Ok(s) => panic!("{expr} parsed: {s:?}"),
        Err(e) => e.to_string(),
    }
}
