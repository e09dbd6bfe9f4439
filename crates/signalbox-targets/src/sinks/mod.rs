//! Metric and event sinks: `datadog` and `cloudwatch`. Both read check results
//! (`Check Results` / `Check Result` events from the monitor) as metrics, and send any other
//! event as an event of their own kind.

use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;
use serde_json::Value;

use crate::outcome::{AttemptOutcome, classify_status, parse_retry_after};

pub mod cloudwatch;
pub mod datadog;

/// `detail-type` of a monitor event carrying many results in `detail.results`.
pub const CHECK_RESULTS: &str = "Check Results";
/// `detail-type` of a monitor event whose `detail` is one result.
pub const CHECK_RESULT: &str = "Check Result";

/// How much of an error answer's body is kept.
const ERROR_BODY_CHARS: usize = 300;

/// One check run, as much of it as sinks turn into metrics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultPoint {
    pub check: String,
    /// When the run started, Unix ms.
    pub at_ms: i64,
    pub success: bool,
    pub response_time_ms: f64,
}

/// The results an event carries when it is a monitor results event; `None` for any other
/// event. Results without a check name are skipped.
pub(crate) fn check_results(event: &Value) -> Option<Vec<ResultPoint>> {
    if event.get("source").and_then(Value::as_str) != Some("signalbox.check") {
        return None;
    }
    let detail = event.get("detail")?;
    let results: Vec<&Value> = match event.get("detail-type").and_then(Value::as_str)? {
        CHECK_RESULTS => detail.get("results")?.as_array()?.iter().collect(),
        CHECK_RESULT => vec![detail],
        _ => return None,
    };
    let fallback_ms = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(parse_time_ms)
        .unwrap_or_else(signalbox_core::time::now_millis);
    Some(
        results
            .into_iter()
            .filter_map(|r| {
                Some(ResultPoint {
                    check: r.get("check")?.as_str()?.to_owned(),
                    at_ms: r
                        .get("started_at")
                        .and_then(Value::as_str)
                        .and_then(parse_time_ms)
                        .unwrap_or(fallback_ms),
                    success: r.get("success").and_then(Value::as_bool).unwrap_or(false),
                    response_time_ms: r
                        .get("response_time_ms")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                })
            })
            .collect(),
    )
}

fn parse_time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Sends one request and classifies the answer as the webhook target does (2xx delivered;
/// 408, 429, 5xx retried; other statuses permanent). `transient` may say that a permanent
/// looking answer is worth retrying (AWS throttling comes as a 400).
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    transient: impl Fn(u16, &str) -> bool,
) -> (AttemptOutcome, Option<String>) {
    let response = match request.timeout(timeout).send().await {
        Ok(r) => r,
        Err(e) => {
            return (
                AttemptOutcome::Retry {
                    error: crate::webhook::describe(&e),
                    status: None,
                    retry_after: None,
                },
                None,
            );
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = response.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return (classify_status(status, retry_after, ""), Some(body));
    }
    let hint: String = body
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    let outcome = match classify_status(status, retry_after, &hint) {
        AttemptOutcome::Permanent { error, status } if transient(status.unwrap_or(0), &body) => {
            AttemptOutcome::Retry {
                error,
                status,
                retry_after,
            }
        }
        other => other,
    };
    (outcome, None)
}

/// An event's string field, `""` when absent.
pub(crate) fn field<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn batches_and_single_results_are_read_other_events_are_not() {
        let batch = json!({
            "source": "signalbox.check", "detail-type": "Check Results",
            "time": "2026-11-29T04:00:00Z",
            "detail": {"report": "*", "results": [
                {"check": "api", "started_at": "2026-11-29T03:59:59.500Z", "success": true, "response_time_ms": 12},
                {"check": "db", "success": false, "response_time_ms": 3000},
                {"no_check": true}
            ]}
        });
        let points = check_results(&batch).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].check, "api");
        assert_eq!(points[0].at_ms, 1_795_924_799_500);
        assert!(points[0].success);
        assert_eq!(points[1].at_ms, 1_795_924_800_000, "event time as fallback");
        assert_eq!(points[1].response_time_ms, 3000.0);

        let single = json!({
            "source": "signalbox.check", "detail-type": "Check Result",
            "detail": {"report": "api", "check": "api", "success": false, "response_time_ms": 5}
        });
        assert_eq!(check_results(&single).unwrap().len(), 1);
        let alert =
            json!({"source": "signalbox.check", "detail-type": "Check Failed", "detail": {}});
        assert_eq!(check_results(&alert), None);
        let other =
            json!({"source": "app", "detail-type": "Check Results", "detail": {"results": []}});
        assert_eq!(check_results(&other), None);
    }
}
