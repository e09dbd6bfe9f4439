//! The `cloudwatch` target. Check results go to CloudWatch `PutMetricData` (AWS query
//! protocol: a form-encoded POST) as two metrics per run with the dimension `Check=<name>`:
//! `Up` (1 or 0, unit `None`) and `ResponseTime` (unit `Milliseconds`). Any other event goes to
//! EventBridge `PutEvents` (JSON 1.1). Every request is signed with AWS Signature Version 4.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{Value, json};
use signalbox_config::CloudWatchTarget as CloudWatchConfig;

use super::{ResultPoint, check_results, field, send};
use crate::outcome::AttemptOutcome;
use crate::sigv4::{self, Signer};
use crate::template::Template;
use crate::{DeliveryRequest, Rendered, Target};

/// `PutMetricData` takes at most 1000 metric data per call; each run is two.
pub const MAX_DATA_PER_CALL: usize = 1000;
/// Content type of the query protocol.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Content type of the EventBridge JSON protocol.
const AMZ_JSON: &str = "application/x-amz-json-1.1";
/// `X-Amz-Target` of `PutEvents`.
pub const PUT_EVENTS_TARGET: &str = "AWSEvents.PutEvents";

/// Sends metrics to CloudWatch and events to EventBridge in one region.
pub struct CloudWatchTarget {
    http: reqwest::Client,
    monitoring_url: Url,
    events_url: Url,
    metrics: Signer,
    events: Signer,
    namespace: String,
    event_bus: String,
    timeout: Duration,
    put_event: Option<PutEvent>,
}

/// `put_event:` compiled: the entry put for every delivered event.
struct PutEvent {
    source: String,
    detail_type: String,
    detail: Vec<(String, Template)>,
    resources: Vec<String>,
}

/// One request of a delivery, before signing.
struct Call {
    /// `PutMetricData` or `PutEvents`.
    action: &'static str,
    url: Url,
    /// Extra headers, signed.
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    signer: Signer,
}

impl CloudWatchTarget {
    /// Checks the config and builds the target.
    pub fn new(cfg: &CloudWatchConfig, http: reqwest::Client) -> Result<CloudWatchTarget, String> {
        let base = |service: &str| -> Result<Url, String> {
            let text = match &cfg.endpoint {
                Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
                None => format!("https://{service}.{}.amazonaws.com/", cfg.region),
            };
            Url::parse(&text).map_err(|e| format!("cloudwatch endpoint {text}: {e}"))
        };
        let signer = |service: &str| Signer {
            access_key_id: cfg.access_key_id.clone(),
            secret_access_key: cfg.secret_access_key.expose().to_owned(),
            session_token: cfg.session_token.as_ref().map(|t| t.expose().to_owned()),
            region: cfg.region.clone(),
            service: service.to_owned(),
        };
        Ok(CloudWatchTarget {
            http,
            monitoring_url: base("monitoring")?,
            events_url: base("events")?,
            metrics: signer("monitoring"),
            events: signer("events"),
            namespace: cfg.namespace.clone(),
            event_bus: cfg.event_bus.clone(),
            timeout: cfg.timeout,
            put_event: cfg
                .put_event
                .as_ref()
                .map(|put| {
                    let detail = put
                        .detail
                        .iter()
                        .map(|(key, source)| {
                            Template::compile(source)
                                .map(|t| (key.clone(), t))
                                .map_err(|e| format!("put_event: detail \"{key}\": {e}"))
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    Ok::<_, String>(PutEvent {
                        source: put.source.clone(),
                        detail_type: put.detail_type.clone(),
                        detail,
                        resources: put.resources.clone(),
                    })
                })
                .transpose()?,
        })
    }

    fn calls(&self, event: &Value) -> Vec<Call> {
        if let Some(put) = &self.put_event {
            return vec![self.put_events_call(put_entry_body(put, event, &self.event_bus))];
        }
        match check_results(event) {
            Some(points) => put_metric_data_bodies(&self.namespace, &points)
                .into_iter()
                .map(|body| Call {
                    action: "PutMetricData",
                    url: self.monitoring_url.clone(),
                    headers: vec![("content-type", FORM)],
                    body,
                    signer: self.metrics.clone(),
                })
                .collect(),
            None => vec![Call {
                action: "PutEvents",
                url: self.events_url.clone(),
                headers: vec![
                    ("content-type", AMZ_JSON),
                    ("x-amz-target", PUT_EVENTS_TARGET),
                ],
                body: put_events_body(event, &self.event_bus).to_string(),
                signer: self.events.clone(),
            }],
        }
    }

    async fn send_call(&self, call: Call, delivery_id: &str) -> (AttemptOutcome, Option<String>) {
        let host = host_header(&call.url);
        let signed = call.signer.sign(
            &sigv4::Request {
                method: "POST",
                host: &host,
                path: call.url.path(),
                query: call.url.query().unwrap_or(""),
                headers: &call.headers,
                body: call.body.as_bytes(),
            },
            &sigv4::amz_date(chrono::Utc::now()),
        );
        let mut request = self.http.post(call.url);
        for (name, value) in call.headers.iter().copied() {
            request = request.header(name, value);
        }
        for (name, value) in signed {
            request = request.header(name, value);
        }
        // Not signed: AWS ignores it, and a proxy may add or drop such headers.
        let request = request
            .header(crate::webhook::DELIVERY_HEADER, delivery_id)
            .body(call.body);
        send(request, self.timeout, throttled).await
    }
}

#[async_trait]
impl Target for CloudWatchTarget {
    fn kind(&self) -> &'static str {
        "cloudwatch"
    }

    /// Sends the calls in order and stops at the first that fails; a retry sends them all
    /// again, so a split batch may record some data points twice (at-least-once).
    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let mut last = AttemptOutcome::Delivered { status: None };
        for call in self.calls(req.event) {
            let is_put_events = call.action == "PutEvents";
            let (outcome, body) = self.send_call(call, req.delivery_id).await;
            let outcome = match (outcome, is_put_events, body) {
                (AttemptOutcome::Delivered { status }, true, Some(body)) => {
                    put_events_outcome(&body, status)
                }
                (outcome, _, _) => outcome,
            };
            if !matches!(outcome, AttemptOutcome::Delivered { .. }) {
                return outcome;
            }
            last = outcome;
        }
        last
    }

    fn render(&self, req: &DeliveryRequest<'_>) -> Result<Rendered, String> {
        let calls = self.calls(req.event);
        let destination = match calls.first() {
            Some(call) => format!(
                "cloudwatch {} {} ({} request(s))",
                call.action,
                call.url,
                calls.len()
            ),
            None => "cloudwatch (nothing to send)".to_owned(),
        };
        Ok(Rendered {
            destination,
            body: calls
                .into_iter()
                .map(|c| c.body)
                .collect::<Vec<_>>()
                .join("\n"),
        })
    }
}

impl CloudWatchTarget {
    fn put_events_call(&self, body: Value) -> Call {
        Call {
            action: "PutEvents",
            url: self.events_url.clone(),
            headers: vec![
                ("content-type", AMZ_JSON),
                ("x-amz-target", PUT_EVENTS_TARGET),
            ],
            body: body.to_string(),
            signer: self.events.clone(),
        }
    }
}

/// The `PutEvents` body of `put` for `event`: its detail values rendered over the event (a
/// value that does not render is empty, and logged).
fn put_entry_body(put: &PutEvent, event: &Value, event_bus: &str) -> Value {
    let detail: serde_json::Map<String, Value> = put
        .detail
        .iter()
        .map(|(key, template)| {
            let value = template.render(event, "").unwrap_or_else(|error| {
                tracing::warn!(key = %key, %error, "cloudwatch put_event detail not rendered");
                String::new()
            });
            (key.clone(), Value::String(value))
        })
        .collect();
    json!({ "Entries": [{
        "Source": put.source,
        "DetailType": put.detail_type,
        "Detail": Value::Object(detail).to_string(),
        "Resources": put.resources,
        "EventBusName": event_bus,
    }] })
}

/// The `Host` header reqwest sends for `url`, which must be the one signed.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// AWS answers throttling with a 400 whose error code says so; worth another try.
fn throttled(status: u16, body: &str) -> bool {
    status == 400 && (body.contains("Throttling") || body.contains("RequestLimitExceeded"))
}

/// `PutEvents` answers 200 even when its entry failed; `FailedEntryCount` says so.
fn put_events_outcome(body: &str, status: Option<u16>) -> AttemptOutcome {
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        return AttemptOutcome::Delivered { status };
    };
    if answer["FailedEntryCount"].as_u64().unwrap_or(0) == 0 {
        return AttemptOutcome::Delivered { status };
    }
    let entry = &answer["Entries"][0];
    let code = entry["ErrorCode"].as_str().unwrap_or("unknown");
    let error = format!(
        "PutEvents entry failed: {code}: {}",
        entry["ErrorMessage"].as_str().unwrap_or("")
    );
    if matches!(code, "InternalFailure" | "ThrottlingException") {
        AttemptOutcome::Retry {
            error,
            status,
            retry_after: None,
        }
    } else {
        AttemptOutcome::Permanent { error, status }
    }
}

/// The form bodies of `PutMetricData` for `points`, at most [`MAX_DATA_PER_CALL`] data each.
pub(crate) fn put_metric_data_bodies(namespace: &str, points: &[ResultPoint]) -> Vec<String> {
    points
        .chunks(MAX_DATA_PER_CALL / 2)
        .map(|chunk| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", "PutMetricData")
                .append_pair("Version", "2010-08-01")
                .append_pair("Namespace", namespace);
            let mut n = 0;
            for p in chunk {
                let timestamp = signalbox_core::time::millis_to_rfc3339(p.at_ms);
                let up = if p.success { "1" } else { "0" };
                let response_time = format!("{}", p.response_time_ms);
                for (metric, value, unit) in [
                    ("Up", up, "None"),
                    ("ResponseTime", response_time.as_str(), "Milliseconds"),
                ] {
                    n += 1;
                    let key = |rest: &str| format!("MetricData.member.{n}.{rest}");
                    form.append_pair(&key("MetricName"), metric)
                        .append_pair(&key("Dimensions.member.1.Name"), "Check")
                        .append_pair(&key("Dimensions.member.1.Value"), &p.check)
                        .append_pair(&key("Timestamp"), &timestamp)
                        .append_pair(&key("Value"), value)
                        .append_pair(&key("Unit"), unit);
                }
            }
            form.finish()
        })
        .collect()
}

/// The `PutEvents` body for one event: its source, detail-type, resources and time, and its
/// detail as a JSON string (as EventBridge wants it).
pub(crate) fn put_events_body(event: &Value, event_bus: &str) -> Value {
    let detail = event.get("detail").cloned().unwrap_or_else(|| json!({}));
    let mut entry = json!({
        "Source": field(event, "source"),
        "DetailType": field(event, "detail-type"),
        "Detail": detail.to_string(),
        "Resources": event.get("resources").cloned().unwrap_or_else(|| json!([])),
        "EventBusName": event_bus,
    });
    if let Some(time) = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        // JSON 1.1 timestamps are epoch seconds.
        entry["Time"] = json!(time.timestamp());
    }
    json!({ "Entries": [entry] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(check: &str, success: bool, ms: f64) -> ResultPoint {
        ResultPoint {
            check: check.into(),
            at_ms: 1_795_924_800_250,
            success,
            response_time_ms: ms,
        }
    }

    fn pairs(body: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn put_metric_data_is_form_encoded_with_a_check_dimension() {
        let bodies = put_metric_data_bodies("Signalbox", &[point("api gw", false, 12.5)]);
        assert_eq!(bodies.len(), 1);
        let got = pairs(&bodies[0]);
        let expected: Vec<(String, String)> = [
            ("Action", "PutMetricData"),
            ("Version", "2010-08-01"),
            ("Namespace", "Signalbox"),
            ("MetricData.member.1.MetricName", "Up"),
            ("MetricData.member.1.Dimensions.member.1.Name", "Check"),
            ("MetricData.member.1.Dimensions.member.1.Value", "api gw"),
            ("MetricData.member.1.Timestamp", "2026-11-29T04:00:00.250Z"),
            ("MetricData.member.1.Value", "0"),
            ("MetricData.member.1.Unit", "None"),
            ("MetricData.member.2.MetricName", "ResponseTime"),
            ("MetricData.member.2.Dimensions.member.1.Name", "Check"),
            ("MetricData.member.2.Dimensions.member.1.Value", "api gw"),
            ("MetricData.member.2.Timestamp", "2026-11-29T04:00:00.250Z"),
            ("MetricData.member.2.Value", "12.5"),
            ("MetricData.member.2.Unit", "Milliseconds"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn big_batches_are_split_at_the_per_call_limit() {
        let points: Vec<ResultPoint> = (0..1201)
            .map(|i| point(&format!("c{i}"), true, 1.0))
            .collect();
        let bodies = put_metric_data_bodies("Signalbox", &points);
        assert_eq!(bodies.len(), 3);
        let data = |b: &str| {
            pairs(b)
                .iter()
                .filter(|(k, _)| k.ends_with(".MetricName"))
                .count()
        };
        assert_eq!(data(&bodies[0]), 1000);
        assert_eq!(data(&bodies[1]), 1000);
        assert_eq!(data(&bodies[2]), 402);
        // Numbering restarts in each call.
        assert!(bodies[1].contains("MetricData.member.1.MetricName=Up"));
    }

    #[test]
    fn put_events_carries_the_detail_as_a_string() {
        let event = json!({
            "id": "e1", "source": "signalbox.check", "detail-type": "Check Failed",
            "time": "2026-11-29T04:00:00Z", "resources": ["http://x/health"],
            "detail": {"check": "api", "state": "failing"}
        });
        let body = put_events_body(&event, "ops");
        assert_eq!(
            body,
            json!({"Entries": [{
                "Source": "signalbox.check", "DetailType": "Check Failed",
                "Detail": "{\"check\":\"api\",\"state\":\"failing\"}",
                "Resources": ["http://x/health"], "EventBusName": "ops", "Time": 1_795_924_800_i64
            }]})
        );
    }

    #[test]
    fn put_event_replaces_the_event_with_its_own_entry() {
        let cfg: CloudWatchConfig = serde_json::from_value(json!({
            "region": "eu-west-1", "access_key_id": "AKID", "secret_access_key": "s",
            "put_event": {
                "source": "mixsig.example/health", "detail_type": "type1",
                "detail": {"status": "{{ event.detail.extracts.status }}", "missing": "{{ event.nope.x }}"},
                "resources": ["health"],
            }
        }))
        .unwrap();
        let target = CloudWatchTarget::new(&cfg, reqwest::Client::new()).unwrap();
        // A check result is put as the configured entry, not as metrics.
        let event = json!({
            "source": "signalbox.check", "detail-type": "Check Result",
            "detail": {"check": "mixsig", "success": true, "extracts": {"status": "ok"}}
        });
        let calls = target.calls(&event);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].action, "PutEvents");
        assert_eq!(
            calls[0].url.as_str(),
            "https://events.eu-west-1.amazonaws.com/"
        );
        let body: Value = serde_json::from_str(&calls[0].body).unwrap();
        assert_eq!(
            body,
            json!({"Entries": [{
                "Source": "mixsig.example/health", "DetailType": "type1",
                "Detail": "{\"missing\":\"\",\"status\":\"ok\"}",
                "Resources": ["health"], "EventBusName": "default"
            }]})
        );
    }

    #[test]
    fn failed_put_events_entries_are_not_delivered() {
        let ok = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"1"}]}"#;
        assert!(matches!(
            put_events_outcome(ok, Some(200)),
            AttemptOutcome::Delivered { .. }
        ));
        let throttled = r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"ThrottlingException","ErrorMessage":"slow down"}]}"#;
        assert!(matches!(
            put_events_outcome(throttled, Some(200)),
            AttemptOutcome::Retry { .. }
        ));
        let denied = r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"NotAuthorizedForSourceException","ErrorMessage":"no"}]}"#;
        let AttemptOutcome::Permanent { error, .. } = put_events_outcome(denied, Some(200)) else {
            panic!("permanent expected");
        };
        assert_eq!(
            error,
            "PutEvents entry failed: NotAuthorizedForSourceException: no"
        );
        assert!(throttled_400());
    }

    fn throttled_400() -> bool {
        throttled(
            400,
            "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>",
        ) && !throttled(400, "<Code>InvalidParameterValue</Code>")
    }
}
