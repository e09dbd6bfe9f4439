//! What an attempt's answer means for the delivery: done, try again, or give up.

use std::time::{Duration, SystemTime};

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// The target took it.
    Delivered { status: Option<u16> },
    /// A transient failure: try again later (no sooner than `retry_after` when given).
    Retry {
        error: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// A failure that another attempt will not fix.
    Permanent { error: String, status: Option<u16> },
}

/// Classifies an HTTP status: 2xx delivered; 408, 429 and 5xx transient; anything else permanent.
pub fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    body_hint: &str,
) -> AttemptOutcome {
    let error = || {
        if body_hint.is_empty() {
            format!("http {status}")
        } else {
            format!("http {status}: {body_hint}")
        }
    };
    match status {
        200..=299 => AttemptOutcome::Delivered {
            status: Some(status),
        },
        408 | 429 | 500..=599 => AttemptOutcome::Retry {
            error: error(),
            status: Some(status),
            retry_after,
        },
        _ => AttemptOutcome::Permanent {
            error: error(),
            status: Some(status),
        },
    }
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(matches!(
            classify_status(204, None, ""),
            AttemptOutcome::Delivered { .. }
        ));
        for s in [408, 429, 500, 503] {
            assert!(
                matches!(classify_status(s, None, ""), AttemptOutcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 404, 410, 302] {
            assert!(
                matches!(
                    classify_status(s, None, ""),
                    AttemptOutcome::Permanent { .. }
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
