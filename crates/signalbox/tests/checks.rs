//! Checks end to end with the real binary on SQLite: an endpoint that turns from
//! `{"status":"ok"}` to `{"status":"down"}` and back yields exactly one `Check Failed` after the
//! failure threshold and one `Check Recovered` after the success threshold, delivered by a
//! webhook rule on `source: signalbox.check`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The endpoint under check: `{"status":"ok"}` while `up`, `{"status":"down"}` otherwise.
struct Endpoint {
    up: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    url: String,
}

async fn endpoint() -> Endpoint {
    let up = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let app = {
        let (up, hits) = (up.clone(), hits.clone());
        axum::Router::new().route(
            "/health",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                let status = if up.load(Ordering::SeqCst) {
                    "ok"
                } else {
                    "down"
                };
                async move { axum::Json(json!({ "status": status, "version": "2.4.1" })) }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Endpoint {
        up,
        hits,
        url: format!("http://{addr}/health"),
    }
}

async fn alerts(hooks: &MockServer) -> Vec<Value> {
    hooks
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn runs_pass(endpoint: &Endpoint, more: usize) {
    let target = endpoint.hits.load(Ordering::SeqCst) + more;
    eventually(Duration::from_secs(15), "more check runs", || async {
        (endpoint.hits.load(Ordering::SeqCst) >= target).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_yields_one_failed_and_one_recovered_through_a_rule() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let api = endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
rules:
  check-alerts:
    pattern: {{ source: ["signalbox.check"] }}
    targets:
      - webhook: {{ url: "{hooks}/alerts" }}
checks:
  api:
    http: {{ url: "{url}", timeout: 2s }}
    schedule: {{ every: 200ms }}
    assert:
      - 'json.status == "ok" && response_time_ms < 1000'
    extract: {{ version: $.version }}
    failure_threshold: 3
    success_threshold: 2
"#,
        dir = dir.path().display(),
        hooks = hooks.uri(),
        url = api.url,
    );
    let mut server = Server::start(dir.path(), &yaml);

    // Healthy from the start: unknown → healthy says nothing.
    runs_pass(&api, 5).await;
    assert!(alerts(&hooks).await.is_empty(), "no alert while healthy");

    api.up.store(false, Ordering::SeqCst);
    let failed = eventually(Duration::from_secs(15), "Check Failed", || async {
        let a = alerts(&hooks).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    let (status, shown) = get_json(&server.url("/v1/checks/api")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "failing", "{shown}");
    assert_eq!(shown["target"], api.url.as_str());
    assert!(shown["last_alert_at"].is_string(), "{shown}");
    // Still down for many more runs: no second alert.
    runs_pass(&api, 8).await;
    api.up.store(true, Ordering::SeqCst);
    let both = eventually(Duration::from_secs(15), "Check Recovered", || async {
        let a = alerts(&hooks).await;
        (a.len() >= 2).then_some(a)
    })
    .await;
    runs_pass(&api, 8).await;
    let all = alerts(&hooks).await;
    let kinds: Vec<&str> = all
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Check Failed", "Check Recovered"], "{all:#?}");
    assert_eq!(failed[0], both[0]);

    let f = &all[0];
    assert_eq!(f["source"], "signalbox.check");
    assert_eq!(f["detail"]["check"], "api");
    assert_eq!(f["detail"]["url"], api.url.as_str());
    assert_eq!(f["detail"]["state"], "failing");
    assert_eq!(
        f["detail"]["assertion"],
        r#"json.status == "ok" && response_time_ms < 1000"#
    );
    assert_eq!(f["detail"]["status"], 200);
    assert_eq!(f["detail"]["consecutive_failures"], 3);
    assert!(f["detail"]["response_time_ms"].is_u64());
    assert_eq!(f["detail"]["extracts"], json!({ "version": "2.4.1" }));
    let r = &all[1];
    assert_eq!(r["detail"]["state"], "healthy");
    assert_eq!(r["detail"]["consecutive_successes"], 2);
    assert_eq!(r["detail"]["assertion"], Value::Null);

    let (status, listed) = get_json(&server.url("/v1/checks")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["checks"][0]["name"], "api");
    assert_eq!(listed["checks"][0]["state"], "healthy");
    assert_eq!(listed["checks"][0]["last_run"]["success"], true);
    let (status, _) = get_json(&server.url("/v1/checks/nope")).await;
    assert_eq!(status, 404);

    // The alert is a stored event like any other.
    let id = f["id"].as_str().unwrap();
    let (status, stored) = get_json(&server.url(&format!("/v1/events/{id}"))).await;
    assert_eq!(status, 200, "{stored}");

    let exit = server.terminate(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_repeats_nor_forgets_an_outage() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let api = endpoint().await;
    api.up.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
rules:
  check-alerts:
    pattern: {{ source: ["signalbox.check"] }}
    targets:
      - webhook: {{ url: "{hooks}/alerts" }}
checks:
  api:
    http: {{ url: "{url}" }}
    schedule: {{ every: 200ms }}
    assert: ['json.status == "ok"']
    failure_threshold: 2
    success_threshold: 2
"#,
        dir = dir.path().display(),
        hooks = hooks.uri(),
        url = api.url,
    );
    let mut server = Server::start(dir.path(), &yaml);
    eventually(Duration::from_secs(15), "Check Failed", || async {
        (!alerts(&hooks).await.is_empty()).then_some(())
    })
    .await;
    runs_pass(&api, 2).await;
    assert!(server.terminate(Duration::from_secs(20)).success());

    // Still down after the restart: the stored state says failing, so no second alert.
    let mut server = Server::start_with(&server.config.clone());
    runs_pass(&api, 6).await;
    let kinds = |all: &[Value]| -> Vec<String> {
        all.iter()
            .map(|e| e["detail-type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&alerts(&hooks).await), ["Check Failed"]);
    // And its recovery is announced.
    api.up.store(true, Ordering::SeqCst);
    eventually(Duration::from_secs(15), "Check Recovered", || async {
        (alerts(&hooks).await.len() >= 2).then_some(())
    })
    .await;
    runs_pass(&api, 4).await;
    assert_eq!(
        kinds(&alerts(&hooks).await),
        ["Check Failed", "Check Recovered"]
    );
    assert!(server.terminate(Duration::from_secs(20)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_check_is_a_load_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "checks:\n  api:\n    http: { url: \"http://127.0.0.1:1/\" }\n    schedule: { every: 1s }\n    assert: ['json.status ==']\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .arg("validate")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("c.yaml:5:14: check \"api\": assertion 1 is not valid CEL"),
        "{text}"
    );
}

/// A DNS server on 127.0.0.1 (UDP) answering `A` queries for `www.example.test` with
/// `answer`'s current address; counts the queries.
async fn dns_server(
    answer: Arc<std::sync::Mutex<[u8; 4]>>,
    queries: Arc<AtomicUsize>,
) -> std::net::SocketAddr {
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            queries.fetch_add(1, Ordering::SeqCst);
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut response = Message::response(query.metadata.id, OpCode::Query);
            let q = query.queries[0].clone();
            let [a, b, c, d] = *answer.lock().unwrap();
            response.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A::new(a, b, c, d)),
            ));
            response.add_query(q);
            let bytes = response.to_vec().unwrap();
            socket.send_to(&bytes, from).await.unwrap();
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_answer_that_changes_is_a_check_failed_naming_the_assertion() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let answer = Arc::new(std::sync::Mutex::new([192, 0, 2, 10]));
    let queries = Arc::new(AtomicUsize::new(0));
    let resolver = dns_server(answer.clone(), queries.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
rules:
  check-alerts:
    pattern: {{ source: ["signalbox.check"] }}
    targets:
      - webhook: {{ url: "{hooks}/alerts" }}
checks:
  www:
    dns: {{ name: www.example.test, type: A, resolver: "{resolver}", timeout: 2s }}
    schedule: {{ every: 200ms }}
    assert: ['"192.0.2.10" in dns_answers']
    failure_threshold: 2
"#,
        dir = dir.path().display(),
        hooks = hooks.uri(),
    );
    let mut server = Server::start(dir.path(), &yaml);
    let target = format!("dns://{resolver}/www.example.test?type=A");

    // Healthy while the answer is the expected one.
    let seen = queries.load(Ordering::SeqCst);
    eventually(Duration::from_secs(15), "healthy", || async {
        let (_, shown) = get_json(&server.url("/v1/checks/www")).await;
        (shown["state"] == "healthy").then_some(())
    })
    .await;
    assert!(queries.load(Ordering::SeqCst) > seen);
    assert!(alerts(&hooks).await.is_empty(), "no alert while healthy");

    *answer.lock().unwrap() = [192, 0, 2, 99];
    let failed = eventually(Duration::from_secs(15), "Check Failed", || async {
        let a = alerts(&hooks).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    let f = &failed[0];
    assert_eq!(f["detail-type"], "Check Failed");
    assert_eq!(f["detail"]["check"], "www");
    assert_eq!(f["detail"]["url"], target.as_str());
    assert_eq!(f["detail"]["assertion"], r#""192.0.2.10" in dns_answers"#);
    assert_eq!(f["detail"]["reason"], "evaluated to false");
    assert_eq!(f["detail"]["dns_answers"], json!(["192.0.2.99"]));
    assert_eq!(f["detail"]["dns_rcode"], "NOERROR");
    let (status, shown) = get_json(&server.url("/v1/checks/www")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["target"], target.as_str());
    assert_eq!(shown["state"], "failing", "{shown}");
    assert_eq!(
        shown["last_run"]["dns_answers"],
        json!(["192.0.2.99"]),
        "{shown}"
    );

    let exit = server.terminate(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn an_unknown_dns_record_type_is_a_load_error_listing_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "checks:\n  mail:\n    dns: { name: example.test, type: AXFR }\n    schedule: { every: 1m }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .arg("validate")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "c.yaml:3:38: check \"mail\": record type \"AXFR\" is not supported; use one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT"
        ),
        "{text}"
    );
}
