//! Check results reported end to end with the real binary on SQLite: a check against a local
//! HTTP server reports to a fake Datadog (its own `report:`) and to a fake CloudWatch
//! (`monitor.report:`), and a second check posts each run to a webhook (`report_batch: false`).
//! The fakes follow the documented request shapes; the CloudWatch one recomputes the SigV4
//! signature of every request and refuses a wrong one with 403, as AWS does.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use signalbox_targets::sigv4;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "e2e/secret+KEY";

/// Answers like CloudWatch (`PutMetricData`) or EventBridge (`PutEvents`) after checking the
/// signature; 403 `SignatureDoesNotMatch` otherwise.
struct FakeAws;

fn verify(req: &Request) -> Result<String, String> {
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    sigv4::verify(
        SECRET,
        req.method.as_str(),
        req.url.path(),
        req.url.query().unwrap_or(""),
        &headers,
        &req.body,
    )
}

impl Respond for FakeAws {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match verify(req) {
            Ok(scope)
                if scope.starts_with("AKIDE2E/")
                    && scope.ends_with("/us-east-1/monitoring/aws4_request") =>
            {
                ResponseTemplate::new(200).set_body_string("<PutMetricDataResponse/>")
            }
            Ok(scope) => ResponseTemplate::new(403).set_body_string(format!("bad scope {scope}")),
            Err(error) => ResponseTemplate::new(403)
                .set_body_string(format!("SignatureDoesNotMatch: {error}")),
        }
    }
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_reach_datadog_cloudwatch_and_a_per_run_webhook() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = {
        let hits = hits.clone();
        axum::Router::new().route(
            "/health",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"status": "ok"})) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let datadog = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/series"))
        .and(header("dd-api-key", "dd-e2e-key"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"errors": []})))
        .mount(&datadog)
        .await;
    let cloudwatch = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(FakeAws)
        .mount(&cloudwatch)
        .await;
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hooks)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
monitor:
  report_flush: 300ms
  report:
    - cloudwatch:
        region: us-east-1
        access_key_id: AKIDE2E
        secret_access_key: "{secret}"
        endpoint: "{cloudwatch}"
        namespace: E2E
checks:
  api:
    http: {{ url: "http://{addr}/health", timeout: 2s }}
    schedule: {{ every: 200ms }}
    assert: ['json.status == "ok"']
    report:
      - datadog: {{ api_key: dd-e2e-key, url: "{datadog}", tags: ["env:e2e"] }}
  ping:
    tcp: {{ host: 127.0.0.1, port: {port} }}
    schedule: {{ every: 200ms }}
    report_global: false
    report_batch: false
    report:
      - webhook:
          url: "{hooks}/each"
          body: '{{"check": "{{{{ event.detail.check }}}}", "ok": {{{{ event.detail.success | tojson }}}}}}'
"#,
        dir = dir.path().display(),
        secret = SECRET,
        cloudwatch = cloudwatch.uri(),
        datadog = datadog.uri(),
        hooks = hooks.uri(),
        port = addr.port(),
    );
    let server = Server::start(dir.path(), &yaml);

    // Datadog: series for check:api, from several runs.
    let series = eventually(Duration::from_secs(20), "Datadog series", || async {
        let all: Vec<Value> = datadog
            .received_requests()
            .await
            .unwrap()
            .iter()
            .flat_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["series"].as_array().cloned().unwrap_or_default()
            })
            .collect();
        let up_points: usize = all
            .iter()
            .filter(|s| s["metric"] == "signalbox.check.up")
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum();
        (up_points >= 3).then_some(all)
    })
    .await;
    for s in &series {
        assert_eq!(s["tags"], json!(["check:api", "env:e2e"]), "{s}");
        assert_eq!(s["type"], 3);
        for p in s["points"].as_array().unwrap() {
            assert!(p["timestamp"].as_i64().unwrap() > 1_700_000_000, "{p}");
        }
    }
    let up = series
        .iter()
        .find(|s| s["metric"] == "signalbox.check.up")
        .unwrap();
    assert_eq!(up["points"][0]["value"], 1.0);
    assert!(
        series
            .iter()
            .any(|s| s["metric"] == "signalbox.check.response_time")
    );
    // Batched: far fewer requests than runs.
    let dd_requests = datadog.received_requests().await.unwrap().len();
    let runs = hits.load(Ordering::SeqCst);
    assert!(dd_requests < runs, "{dd_requests} requests for {runs} runs");

    // CloudWatch: signed PutMetricData for `api` only (`ping` opted out of the global set).
    let metrics = eventually(
        Duration::from_secs(20),
        "CloudWatch PutMetricData",
        || async {
            let received = cloudwatch.received_requests().await.unwrap();
            (!received.is_empty()).then_some(received)
        },
    )
    .await;
    for req in &metrics {
        verify(req).expect("every request to CloudWatch is correctly signed");
        assert_eq!(
            req.headers["content-type"],
            "application/x-www-form-urlencoded; charset=utf-8"
        );
        let pairs = form(&req.body);
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(get("Action").as_deref(), Some("PutMetricData"));
        assert_eq!(get("Version").as_deref(), Some("2010-08-01"));
        assert_eq!(get("Namespace").as_deref(), Some("E2E"));
        assert_eq!(get("MetricData.member.1.MetricName").as_deref(), Some("Up"));
        assert_eq!(
            get("MetricData.member.1.Dimensions.member.1.Name").as_deref(),
            Some("Check")
        );
        let checks: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k.ends_with(".Dimensions.member.1.Value"))
            .map(|(_, v)| v)
            .collect();
        assert!(checks.iter().all(|c| *c == "api"), "{checks:?}");
    }

    // The per-run webhook: one request per run of `ping`, with the templated body.
    let each = eventually(Duration::from_secs(20), "per-run webhook posts", || async {
        let received = hooks.received_requests().await.unwrap();
        (received.len() >= 3).then_some(received)
    })
    .await;
    for req in &each {
        assert_eq!(req.url.path(), "/each");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, json!({"check": "ping", "ok": true}));
    }

    // Prometheus: up, duration and the reporter's count, per check.
    let text = eventually(Duration::from_secs(10), "check metrics", || async {
        let text = client()
            .get(server.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("signalbox_check_results_reported_total")
            .then_some(text)
    })
    .await;
    assert!(
        text.contains("signalbox_check_up{check=\"api\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("signalbox_check_duration_seconds_count{check=\"api\"}"),
        "{text}"
    );
}
