//! End to end: notify targets through the real binary — the dispatcher delivering a digest,
//! a channel's `rate_limit` spacing a burst, `POST /v1/channels/{name}/test`, and
//! `signalbox notify test`.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn config(store: &str, receiver: &str) -> String {
    format!(
        r#"
server:
  listen: "127.0.0.1:0"
store:
  url: "{store}"
  lease: 5s
  poll_interval: 100ms
channels:
  ops:
    type: slack
    webhook_url: "{receiver}/services/T/B/SECRET"
rules:
  checks:
    pattern:
      source: ["signalbox.check"]
    targets:
      - notify: ops
        digest: {{ window: 1s, max: 2 }}
"#
    )
}

fn check_down(id: &str, check: &str) -> Value {
    json!({"id": id, "source": "signalbox.check", "detail-type": "Check Down",
           "detail": {"check": check, "url": format!("https://{check}.example.com/health")}})
}

async fn slack_receiver() -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/SECRET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&receiver)
        .await;
    receiver
}

#[tokio::test]
async fn a_storm_becomes_one_digest_and_every_delivery_is_done() {
    let receiver = slack_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/data/sb.db", dir.path().display());
    let server = Server::start(dir.path(), &config(&store, &receiver.uri()));

    let events = json!([
        check_down("c1", "api"),
        check_down("c2", "db"),
        check_down("c3", "web")
    ]);
    let (status, body) = post_json(&server.url("/v1/events"), &events).await;
    assert_eq!(status, 202, "{body}");

    for id in ["c1", "c2", "c3"] {
        eventually(
            Duration::from_secs(15),
            "digested delivery done",
            || async {
                let (_, ev) = get_json(&server.url(&format!("/v1/events/{id}"))).await;
                (ev["deliveries"][0]["state"] == "done").then_some(())
            },
        )
        .await;
    }
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one message for the window");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["text"], "3 notifications");
    let text = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(text.starts_with("• Check "), "{text}");
    assert!(text.ends_with("\nand 1 more"), "{text}");
}

#[tokio::test]
async fn channel_test_endpoint_sends_now() {
    let receiver = slack_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/data/sb.db", dir.path().display());
    let server = Server::start(dir.path(), &config(&store, &receiver.uri()));

    let (status, body) = post_json(&server.url("/v1/channels/ops/test"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"], true, "{body}");
    assert_eq!(body["type"], "slack");
    assert!(!body.to_string().contains("SECRET"), "{body}");
    let (status, body) = post_json(
        &server.url("/v1/channels/ops/test"),
        &json!({"event": check_down("x", "api")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let first: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(first["text"], "signalbox test message");
    let second: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(second["text"], "Check api is down");

    let (status, body) = post_json(&server.url("/v1/channels/nope/test"), &json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn notify_test_cli_prints_the_answer() {
    let receiver = slack_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/data/sb.db", dir.path().display());
    let config_file = dir.path().join("signalbox.yaml");
    std::fs::write(&config_file, config(&store, &receiver.uri())).unwrap();
    let event_file = dir.path().join("event.json");
    std::fs::write(&event_file, check_down("e", "api").to_string()).unwrap();

    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_signalbox"))
            .args(["notify", "test", "ops", "--event"])
            .arg(&event_file)
            .arg("--config")
            .arg(&config_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("200: ok"), "{stdout}");
    assert!(stdout.contains("sent through ops (slack)"), "{stdout}");
    assert!(!stdout.contains("SECRET"), "{stdout}");
    let requests = receiver.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["text"], "Check api is down");
}

/// A receiver that notes when each request arrived (and its body) and answers 200.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<(Instant, Value)>>>);

impl Respond for Arrivals {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.0.lock().unwrap().push((Instant::now(), body));
        ResponseTemplate::new(200)
    }
}

#[tokio::test]
async fn rate_limit_spaces_a_burst_and_delivers_every_message() {
    const EVENTS: usize = 8;
    let arrivals = Arrivals::default();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook/SECRET"))
        .respond_with(arrivals.clone())
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/data/sb.db", dir.path().display());
    let yaml = format!(
        r#"
server:
  listen: "127.0.0.1:0"
store:
  url: "{store}"
  lease: 30s
  poll_interval: 100ms
channels:
  paced:
    type: webhook
    webhook_url: "{}/hook/SECRET"
    rate_limit: 2/s
rules:
  ticks:
    pattern:
      source: ["test.rate"]
    targets:
      - notify: paced
"#,
        receiver.uri()
    );
    let server = Server::start(dir.path(), &yaml);

    let ids: Vec<String> = (0..EVENTS).map(|i| format!("tick-{i}")).collect();
    let events: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "source": "test.rate", "detail-type": "Tick",
                   "detail": {"message": id}})
        })
        .collect();
    let (status, body) = post_json(&server.url("/v1/events"), &Value::Array(events)).await;
    assert_eq!(status, 202, "{body}");

    // At 2/s, 8 messages take about 3 s; the deadline leaves room for a slow machine.
    for id in &ids {
        eventually(
            Duration::from_secs(30),
            "rate-limited delivery done",
            || async {
                let (_, ev) = get_json(&server.url(&format!("/v1/events/{id}"))).await;
                (ev["deliveries"][0]["state"] == "done").then_some(())
            },
        )
        .await;
    }

    let arrived = arrivals.0.lock().unwrap().clone();
    // Every message arrived (queued, not dropped), each once.
    let mut texts: Vec<String> = arrived
        .iter()
        .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    texts.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(texts, expected, "every event's message, once");

    // Never more than 2 in any 1 s window: the 3rd arrival after any arrival is at least
    // 1 s later, less a tolerance for the local network and scheduling.
    let mut times: Vec<Instant> = arrived.iter().map(|(t, _)| *t).collect();
    times.sort();
    let tolerance = Duration::from_millis(100);
    for (i, pair) in times.windows(3).enumerate() {
        let gap = pair[2] - pair[0];
        assert!(
            gap + tolerance >= Duration::from_secs(1),
            "arrivals {i} and {} only {gap:?} apart: {:?}",
            i + 2,
            times.iter().map(|t| *t - times[0]).collect::<Vec<_>>()
        );
    }
    // So the burst was spread over at least (8 / 2 - 1) s.
    let span = times[EVENTS - 1] - times[0];
    assert!(
        span + tolerance >= Duration::from_secs(3),
        "spread over only {span:?}"
    );
}
