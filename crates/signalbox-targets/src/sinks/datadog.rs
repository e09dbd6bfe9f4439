//! The `datadog` target. Check results go to the metrics API v2 (`POST /api/v2/series`) as two
//! gauges per run, tagged `check:<name>`: `signalbox.check.up` (1 or 0) and
//! `signalbox.check.response_time` (seconds). Any other event goes to the events API
//! (`POST /api/v1/events`). Both authenticate with the `DD-API-KEY` header.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use signalbox_config::DatadogTarget as DatadogConfig;

use super::{ResultPoint, check_results, field, send};
use crate::outcome::AttemptOutcome;
use crate::{DeliveryRequest, Rendered, Target};

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "dd-api-key";
/// Gauge: 1 when a run succeeded, 0 when it failed.
pub const METRIC_UP: &str = "signalbox.check.up";
/// Gauge: the run's response time in seconds.
pub const METRIC_RESPONSE_TIME: &str = "signalbox.check.response_time";
/// Series type `gauge` in the v2 API (0 unspecified, 1 count, 2 rate, 3 gauge).
const GAUGE: u8 = 3;
/// The events API truncates text at 4000 characters; cut first so the end is ours.
const TEXT_CHARS: usize = 3900;
/// The events API refuses `date_happened` older than 18 hours; a late retry is stamped now.
const MAX_EVENT_AGE_S: i64 = 17 * 3600;

/// Sends metrics and events to one Datadog site.
pub struct DatadogTarget {
    http: reqwest::Client,
    series_url: Url,
    events_url: Url,
    api_key: HeaderValue,
    tags: Vec<String>,
    timeout: Duration,
}

impl DatadogTarget {
    /// Checks the config (`site`, or the `url` override) and builds the target.
    pub fn new(cfg: &DatadogConfig, http: reqwest::Client) -> Result<DatadogTarget, String> {
        let base = match &cfg.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://api.{}", cfg.site),
        };
        let url = |path: &str| {
            Url::parse(&format!("{base}{path}")).map_err(|e| format!("datadog url {base}: {e}"))
        };
        let mut api_key = HeaderValue::from_str(cfg.api_key.expose())
            .map_err(|_| "datadog api_key is not a valid header value".to_owned())?;
        api_key.set_sensitive(true);
        Ok(DatadogTarget {
            http,
            series_url: url("/api/v2/series")?,
            events_url: url("/api/v1/events")?,
            api_key,
            tags: cfg.tags.clone(),
            timeout: cfg.timeout,
        })
    }

    /// Where `event` goes and the body: series for check results, an event otherwise.
    fn request(&self, event: &Value) -> (&Url, String) {
        match check_results(event) {
            Some(points) => (
                &self.series_url,
                series_body(&points, &self.tags).to_string(),
            ),
            None => {
                let now_s = signalbox_core::time::now_millis() / 1000;
                let body = event_body(event, &self.tags, now_s);
                (&self.events_url, body.to_string())
            }
        }
    }
}

#[async_trait]
impl Target for DatadogTarget {
    fn kind(&self) -> &'static str {
        "datadog"
    }

    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let (url, body) = self.request(req.event);
        let request = self
            .http
            .post(url.clone())
            .header(API_KEY_HEADER, self.api_key.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(crate::webhook::DELIVERY_HEADER, req.delivery_id)
            .body(body);
        send(request, self.timeout, |_, _| false).await.0
    }

    fn render(&self, req: &DeliveryRequest<'_>) -> Result<Rendered, String> {
        let (url, body) = self.request(req.event);
        Ok(Rendered {
            destination: format!("datadog POST {url}"),
            body,
        })
    }
}

/// `{"series": [...]}`: per check, one `up` and one `response_time` series holding a point per
/// run (timestamps in Unix seconds), tagged `check:<name>` plus the configured tags.
pub(crate) fn series_body(points: &[ResultPoint], tags: &[String]) -> Value {
    let mut by_check: BTreeMap<&str, Vec<&ResultPoint>> = BTreeMap::new();
    for p in points {
        by_check.entry(p.check.as_str()).or_default().push(p);
    }
    let mut series = Vec::with_capacity(by_check.len() * 2);
    for (check, runs) in by_check {
        let mut check_tags = vec![format!("check:{check}")];
        check_tags.extend(tags.iter().cloned());
        let points = |value: &dyn Fn(&ResultPoint) -> f64| -> Vec<Value> {
            runs.iter()
                .map(|p| json!({"timestamp": p.at_ms.div_euclid(1000), "value": value(p)}))
                .collect()
        };
        series.push(json!({
            "metric": METRIC_UP,
            "type": GAUGE,
            "points": points(&|p| if p.success { 1.0 } else { 0.0 }),
            "tags": check_tags,
        }));
        series.push(json!({
            "metric": METRIC_RESPONSE_TIME,
            "type": GAUGE,
            "unit": "second",
            "points": points(&|p| p.response_time_ms / 1000.0),
            "tags": check_tags,
        }));
    }
    json!({ "series": series })
}

/// The events API body for any event: check alerts get a readable title and their alert type
/// (`error` for `Check Failed`, `success` for `Check Recovered`, `warning` for
/// `Check Reminder`); other events are `info` with their detail as text.
pub(crate) fn event_body(event: &Value, tags: &[String], now_s: i64) -> Value {
    let source = field(event, "source");
    let detail_type = field(event, "detail-type");
    let detail = event.get("detail").cloned().unwrap_or(Value::Null);
    let check = detail.get("check").and_then(Value::as_str);
    let is_check = source == "signalbox.check";
    let alert_type = match (is_check, detail_type) {
        (true, "Check Failed") => "error",
        (true, "Check Recovered") => "success",
        (true, "Check Reminder") => "warning",
        _ => "info",
    };
    let title = match (is_check, check) {
        (true, Some(check)) => format!("{detail_type}: {check}"),
        _ => format!("{detail_type} ({source})"),
    };
    let mut text = String::new();
    if is_check {
        let url = detail.get("url").and_then(Value::as_str).unwrap_or("");
        text.push_str(&format!("{url}\n"));
        if let Some(reason) = detail.get("reason").and_then(Value::as_str) {
            text.push_str(&format!("reason: {reason}\n"));
        }
    }
    let pretty = serde_json::to_string_pretty(&detail).unwrap_or_default();
    text.push_str(&pretty);
    if text.chars().count() > TEXT_CHARS {
        text = text.chars().take(TEXT_CHARS).collect::<String>() + "\n…";
    }
    let mut all_tags = vec![format!("event_source:{source}")];
    if let Some(check) = check.filter(|_| is_check) {
        all_tags.push(format!("check:{check}"));
    }
    all_tags.extend(tags.iter().cloned());
    let mut body = json!({
        "title": title,
        "text": text,
        "alert_type": alert_type,
        "tags": all_tags,
        // The documented value for events of one's own applications.
        "source_type_name": "my_apps",
    });
    if let Some(time) = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .filter(|t| now_s - t.timestamp() < MAX_EVENT_AGE_S)
    {
        body["date_happened"] = json!(time.timestamp());
    }
    // Datadog groups events with one key: an outage's failure, reminders and recovery.
    if let Some(check) = check.filter(|_| is_check) {
        body["aggregation_key"] = json!(format!("signalbox.check:{check}"));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(check: &str, at_ms: i64, success: bool, ms: f64) -> ResultPoint {
        ResultPoint {
            check: check.into(),
            at_ms,
            success,
            response_time_ms: ms,
        }
    }

    #[test]
    fn series_group_points_by_check() {
        let body = series_body(
            &[
                point("api", 1_795_924_800_100, true, 120.0),
                point("db", 1_795_924_800_000, false, 3000.0),
                point("api", 1_795_924_801_900, false, 5.0),
            ],
            &["env:prod".into()],
        );
        let series = body["series"].as_array().unwrap();
        assert_eq!(series.len(), 4);
        assert_eq!(
            series[0],
            json!({"metric": "signalbox.check.up", "type": 3, "tags": ["check:api", "env:prod"],
                   "points": [{"timestamp": 1_795_924_800_i64, "value": 1.0},
                              {"timestamp": 1_795_924_801_i64, "value": 0.0}]})
        );
        assert_eq!(series[1]["metric"], "signalbox.check.response_time");
        assert_eq!(series[1]["points"][0]["value"], 0.12);
        assert_eq!(series[3]["tags"], json!(["check:db", "env:prod"]));
        assert_eq!(series[3]["points"][0]["value"], 3.0);
    }

    #[test]
    fn check_alerts_become_events_with_their_alert_type() {
        let failed = json!({
            "source": "signalbox.check", "detail-type": "Check Failed", "time": "2026-11-29T04:00:00Z",
            "detail": {"check": "api", "url": "http://x/health", "reason": "status 503 is not 2xx"}
        });
        let now_s = 1_795_924_860;
        let body = event_body(&failed, &["team:core".into()], now_s);
        assert_eq!(body["title"], "Check Failed: api");
        assert_eq!(body["alert_type"], "error");
        assert_eq!(body["aggregation_key"], "signalbox.check:api");
        assert_eq!(body["date_happened"], 1_795_924_800_i64);
        assert_eq!(
            body["tags"],
            json!(["event_source:signalbox.check", "check:api", "team:core"])
        );
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("http://x/health\nreason: status 503 is not 2xx\n{"),
            "{body}"
        );
        let recovered = json!({"source": "signalbox.check", "detail-type": "Check Recovered", "detail": {"check": "api"}});
        assert_eq!(event_body(&recovered, &[], now_s)["alert_type"], "success");
        // Too old for date_happened: Datadog stamps it on arrival.
        let late = event_body(&failed, &[], now_s + 18 * 3600);
        assert!(late.get("date_happened").is_none(), "{late}");

        let other =
            json!({"source": "app.deploy", "detail-type": "Deployed", "detail": {"v": "1.2"}});
        let body = event_body(&other, &[], now_s);
        assert_eq!(body["title"], "Deployed (app.deploy)");
        assert_eq!(body["alert_type"], "info");
        assert!(body.get("aggregation_key").is_none());
        assert!(body["text"].as_str().unwrap().contains("\"v\": \"1.2\""));
    }
}
