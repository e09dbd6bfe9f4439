//! The `datadog` and `cloudwatch` targets against fake servers that follow the documented
//! request shapes. The fake CloudWatch recomputes the SigV4 signature of every request and
//! answers 403 (as AWS does) when it does not match, so a signing bug fails these tests.

use serde_json::{Value, json};
use signalbox_config::{CloudWatchTarget as CloudWatchConfig, DatadogTarget as DatadogConfig};
use signalbox_config::{Secret, TargetConfig};
use signalbox_targets::{AttemptOutcome, BuildContext, DeliveryRequest, Target, build, sigv4};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn request(event: &Value) -> DeliveryRequest<'_> {
    DeliveryRequest {
        delivery_id: "d-1",
        event,
        rule: "check-report:*",
        attempt: 1,
        accepted_at: 1_795_924_800_000,
    }
}

fn results_event() -> Value {
    json!({
        "id": "e-1", "source": "signalbox.check", "detail-type": "Check Results",
        "time": "2026-11-29T04:00:01Z", "resources": [],
        "detail": {"report": "*", "results": [
            {"check": "api", "url": "http://x/health", "started_at": "2026-11-29T04:00:00.100Z",
             "success": true, "status": 200, "response_time_ms": 42},
            {"check": "db", "url": "db:5432", "started_at": "2026-11-29T04:00:00.200Z",
             "success": false, "status": null, "response_time_ms": 3000}
        ]}
    })
}

fn failed_event() -> Value {
    json!({
        "id": "e-2", "source": "signalbox.check", "detail-type": "Check Failed",
        "time": "2026-11-29T04:00:02Z", "resources": ["http://x/health"],
        "detail": {"check": "api", "url": "http://x/health", "state": "failing", "reason": "status 503 is not 2xx"}
    })
}

fn target(config: TargetConfig) -> std::sync::Arc<dyn Target> {
    build("check-report:*", 0, &config, &BuildContext::new().unwrap()).unwrap()
}

fn datadog(server: &MockServer) -> std::sync::Arc<dyn Target> {
    target(TargetConfig {
        datadog: Some(DatadogConfig {
            api_key: Secret::new("dd-key-1"),
            site: "datadoghq.com".into(),
            url: Some(server.uri()),
            tags: vec!["env:test".into()],
            timeout: std::time::Duration::from_secs(5),
        }),
        ..TargetConfig::default()
    })
}

#[tokio::test]
async fn datadog_gets_series_for_results_and_events_for_alerts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/series"))
        .and(header("dd-api-key", "dd-key-1"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/events"))
        .and(header("dd-api-key", "dd-key-1"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "ok"})))
        .expect(1)
        .mount(&server)
        .await;
    let dd = datadog(&server);
    let results = results_event();
    assert_eq!(
        dd.deliver(&request(&results)).await,
        AttemptOutcome::Delivered { status: Some(202) }
    );
    let failed = failed_event();
    assert_eq!(
        dd.deliver(&request(&failed)).await,
        AttemptOutcome::Delivered { status: Some(202) }
    );

    let received = server.received_requests().await.unwrap();
    let series: Value = serde_json::from_slice(&received[0].body).unwrap();
    let series = series["series"].as_array().expect("a series list");
    assert_eq!(series.len(), 4, "{series:#?}");
    let find = |metric: &str, check: &str| {
        series
            .iter()
            .find(|s| s["metric"] == metric && s["tags"][0] == format!("check:{check}"))
            .unwrap_or_else(|| panic!("{metric} for {check} in {series:#?}"))
    };
    let up = find("signalbox.check.up", "api");
    assert_eq!(up["type"], 3);
    assert_eq!(up["tags"], json!(["check:api", "env:test"]));
    assert_eq!(
        up["points"],
        json!([{"timestamp": 1_795_924_800_i64, "value": 1.0}])
    );
    assert_eq!(find("signalbox.check.up", "db")["points"][0]["value"], 0.0);
    assert_eq!(
        find("signalbox.check.response_time", "api")["points"][0]["value"],
        0.042
    );

    let event: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(event["title"], "Check Failed: api");
    assert_eq!(event["alert_type"], "error");
    assert_eq!(event["aggregation_key"], "signalbox.check:api");
    assert!(event["text"].as_str().unwrap().contains("status 503"));
    assert!(
        event["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("env:test"))
    );
}

#[tokio::test]
async fn datadog_errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/series"))
        .respond_with(ResponseTemplate::new(403).set_body_string("{\"errors\":[\"Forbidden\"]}"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/events"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
        .mount(&server)
        .await;
    let dd = datadog(&server);
    let results = results_event();
    let AttemptOutcome::Permanent { error, status } = dd.deliver(&request(&results)).await else {
        panic!("a bad key is permanent");
    };
    assert_eq!(status, Some(403));
    assert!(error.contains("Forbidden"), "{error}");
    let failed = failed_event();
    assert_eq!(
        dd.deliver(&request(&failed)).await,
        AttemptOutcome::Retry {
            error: "http 429".into(),
            status: Some(429),
            retry_after: Some(std::time::Duration::from_secs(7)),
        }
    );
}

/// A fake AWS endpoint: checks each request's SigV4 signature with the shared secret and the
/// service its `X-Amz-Target` implies, then answers like CloudWatch or EventBridge.
struct FakeAws;

impl Respond for FakeAws {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let verified = sigv4::verify(
            SECRET,
            req.method.as_str(),
            req.url.path(),
            req.url.query().unwrap_or(""),
            &headers,
            &req.body,
        );
        let target = req.headers.get("x-amz-target").map(|v| v.to_str().unwrap());
        let service = if target.is_some() {
            "events"
        } else {
            "monitoring"
        };
        match verified {
            Ok(scope) if scope.ends_with(&format!("/eu-west-1/{service}/aws4_request")) => {}
            Ok(scope) => {
                return ResponseTemplate::new(403)
                    .set_body_string(format!("wrong credential scope {scope}"));
            }
            Err(error) => {
                return ResponseTemplate::new(403)
                    .set_body_string(format!("SignatureDoesNotMatch: {error}"));
            }
        }
        match target {
            Some("AWSEvents.PutEvents") => ResponseTemplate::new(200).set_body_json(
                json!({"FailedEntryCount": 0, "Entries": [{"EventId": "11710aed"}]}),
            ),
            Some(_) => ResponseTemplate::new(400).set_body_string("UnknownOperationException"),
            None => ResponseTemplate::new(200).set_body_string(
                "<PutMetricDataResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PutMetricDataResponse>",
            ),
        }
    }
}

fn cloudwatch(server: &MockServer, secret: &str) -> std::sync::Arc<dyn Target> {
    target(TargetConfig {
        cloudwatch: Some(CloudWatchConfig {
            region: "eu-west-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new(secret),
            session_token: Some(Secret::new("session/token+1")),
            namespace: "Signalbox/Test".into(),
            endpoint: Some(server.uri()),
            event_bus: "ops".into(),
            put_event: None,
            timeout: std::time::Duration::from_secs(5),
        }),
        ..TargetConfig::default()
    })
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn cloudwatch_gets_signed_put_metric_data_and_put_events() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(FakeAws)
        .mount(&server)
        .await;
    let cw = cloudwatch(&server, SECRET);
    let results = results_event();
    assert_eq!(
        cw.deliver(&request(&results)).await,
        AttemptOutcome::Delivered { status: Some(200) }
    );
    let failed = failed_event();
    assert_eq!(
        cw.deliver(&request(&failed)).await,
        AttemptOutcome::Delivered { status: Some(200) }
    );

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    let metrics = &received[0];
    assert_eq!(
        metrics.headers["content-type"],
        "application/x-www-form-urlencoded; charset=utf-8"
    );
    assert_eq!(metrics.headers["x-amz-security-token"], "session/token+1");
    assert!(
        metrics.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
    );
    let pairs = form(&metrics.body);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} in {pairs:#?}"))
    };
    assert_eq!(get("Action"), "PutMetricData");
    assert_eq!(get("Version"), "2010-08-01");
    assert_eq!(get("Namespace"), "Signalbox/Test");
    assert_eq!(get("MetricData.member.1.MetricName"), "Up");
    assert_eq!(get("MetricData.member.1.Dimensions.member.1.Name"), "Check");
    assert_eq!(get("MetricData.member.1.Dimensions.member.1.Value"), "api");
    assert_eq!(get("MetricData.member.1.Value"), "1");
    assert_eq!(get("MetricData.member.2.MetricName"), "ResponseTime");
    assert_eq!(get("MetricData.member.2.Value"), "42");
    assert_eq!(get("MetricData.member.2.Unit"), "Milliseconds");
    assert_eq!(get("MetricData.member.3.Dimensions.member.1.Value"), "db");
    assert_eq!(get("MetricData.member.3.Value"), "0");
    assert_eq!(
        get("MetricData.member.3.Timestamp"),
        "2026-11-29T04:00:00.200Z"
    );

    let events = &received[1];
    assert_eq!(events.headers["x-amz-target"], "AWSEvents.PutEvents");
    assert_eq!(events.headers["content-type"], "application/x-amz-json-1.1");
    let body: Value = serde_json::from_slice(&events.body).unwrap();
    let entry = &body["Entries"][0];
    assert_eq!(entry["Source"], "signalbox.check");
    assert_eq!(entry["DetailType"], "Check Failed");
    assert_eq!(entry["EventBusName"], "ops");
    assert_eq!(entry["Resources"], json!(["http://x/health"]));
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["check"], "api");
}

#[tokio::test]
async fn a_wrong_signature_is_refused_and_dead() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(FakeAws)
        .mount(&server)
        .await;
    let cw = cloudwatch(&server, "not-the-secret");
    let results = results_event();
    let AttemptOutcome::Permanent { error, status } = cw.deliver(&request(&results)).await else {
        panic!("a bad signature is permanent");
    };
    assert_eq!(status, Some(403));
    assert!(error.contains("SignatureDoesNotMatch"), "{error}");
}

#[tokio::test]
async fn cloudwatch_throttling_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
        ))
        .mount(&server)
        .await;
    let cw = cloudwatch(&server, SECRET);
    let results = results_event();
    assert!(
        matches!(
            cw.deliver(&request(&results)).await,
            AttemptOutcome::Retry {
                status: Some(400),
                ..
            }
        ),
        "throttling is transient"
    );
}
