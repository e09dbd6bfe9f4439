//! Time as the store keeps it: milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Now, in store milliseconds.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Store milliseconds as an RFC 3339 string with millisecond precision.
pub fn millis_to_rfc3339(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
