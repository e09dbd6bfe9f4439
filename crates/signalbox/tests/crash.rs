//! Crash test: accepted events survive `kill -9` and are all delivered afterwards, each with the
//! delivery id it had before the crash. Run on SQLite and on PostgreSQL.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EVENTS: usize = 1000;

fn config(store: &str, receiver_port: u16) -> String {
    // `normal` only matters to SQLite, and is the weaker setting: it must survive kill -9 too.
    let sync = if store.starts_with("sqlite") && store.contains("normal") {
        "normal"
    } else {
        "full"
    };
    format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "{store}", lease: 2s, poll_interval: 200ms, sqlite_synchronous: {sync} }}
rules:
  all-builds:
    pattern: {{ source: ["ci"] }}
    targets:
      - webhook: {{ url: "http://127.0.0.1:{receiver_port}/hook", timeout: 2s }}
        initial_backoff: 100ms
        max_backoff: 500ms
        max_attempts: 1000
"#
    )
}

async fn crash_and_recover(store: String) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &config(&store, port));

    // Receiver down: every attempt fails with a refused connection.
    let mut sent = Vec::with_capacity(EVENTS);
    for chunk in 0..(EVENTS / 100) {
        let batch: Vec<Value> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                json!({"id": format!("crash-{n}"), "source": "ci", "detail-type": "Build", "detail": {"n": n}})
            })
            .collect();
        let (status, body) = post_json(&server.url("/v1/events"), &json!(batch)).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["accepted"], 100);
        sent.extend(batch.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    }

    // Every accepted event has its delivery recorded before the crash.
    let mut before: HashMap<String, String> = HashMap::new();
    let mut after_id: Option<String> = None;
    loop {
        let mut url = server.url("/v1/deliveries?limit=1000");
        if let Some(a) = &after_id {
            url.push_str(&format!("&after={a}"));
        }
        let (_, page) = get_json(&url).await;
        for d in page["deliveries"].as_array().unwrap() {
            before.insert(
                d["id"].as_str().unwrap().into(),
                d["event_id"].as_str().unwrap().into(),
            );
        }
        match page["next"].as_str() {
            Some(n) => after_id = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(before.len(), EVENTS);

    server.kill9();

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let receiver = MockServer::builder().listener(listener).start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;

    let _server = Server::start_with(&server.config);
    let got = eventually(
        Duration::from_secs(90),
        "all deliveries after restart",
        || async {
            let reqs = receiver.received_requests().await.unwrap();
            let distinct: HashSet<String> = reqs
                .iter()
                .map(|r| {
                    r.headers["x-signalbox-delivery"]
                        .to_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            (distinct.len() >= EVENTS).then_some(reqs)
        },
    )
    .await;
    let mut events_seen = HashSet::new();
    for r in &got {
        let delivery = r.headers["x-signalbox-delivery"].to_str().unwrap();
        let event_id = before
            .get(delivery)
            .unwrap_or_else(|| panic!("delivery id {delivery} was not known before the crash"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["id"].as_str(),
            Some(event_id.as_str()),
            "body is the event"
        );
        events_seen.insert(event_id.clone());
    }
    let missing: Vec<_> = sent
        .iter()
        .filter(|id| !events_seen.contains(*id))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/sb.db", dir.path().display());
    crash_and_recover(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_on_sqlite_with_synchronous_normal() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/normal.db", dir.path().display());
    crash_and_recover(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_on_postgres() {
    let schema = PgSchema::create().await;
    crash_and_recover(schema.url.clone()).await;
    schema.drop_schema().await;
}
