//! Heartbeats end to end with the real binary on SQLite: a job that pings in time raises
//! nothing; one that stops raises exactly one `Check Failed`; a ping recovers it; `/fail` fails
//! it at once, with the body as the reason; a name that is not a heartbeat check is a JSON 404.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn alerts(hooks: &MockServer) -> Vec<Value> {
    hooks
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn kinds(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the check has been evaluated `more` more times (its consecutive count grows).
async fn evaluations_pass(server: &Server, field: &str, more: u64) {
    let (_, now) = get_json(&server.url("/v1/checks/nightly")).await;
    let target = now[field].as_u64().unwrap_or(0) + more;
    eventually(Duration::from_secs(15), "more evaluations", || async {
        let (_, shown) = get_json(&server.url("/v1/checks/nightly")).await;
        (shown[field].as_u64().unwrap_or(0) >= target).then_some(())
    })
    .await;
}

async fn ping(server: &Server, suffix: &str) -> (u16, Value) {
    post_json(
        &server.url(&format!("/v1/heartbeats/nightly{suffix}")),
        &Value::Null,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_job_alerts_once_and_fail_alerts_at_once() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let port_holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
rules:
  heartbeat-alerts:
    pattern: {{ source: ["signalbox.check"], detail: {{ check: ["nightly"] }} }}
    targets:
      - webhook: {{ url: "{hooks}/alerts" }}
checks:
  nightly:
    heartbeat: {{ every: 1s, grace: 1s }}
  db:
    tcp: {{ host: 127.0.0.1, port: {port} }}
    schedule: {{ every: 1s }}
"#,
        dir = dir.path().display(),
        hooks = hooks.uri(),
        port = port_holder.local_addr().unwrap().port(),
    );
    let server = Server::start(dir.path(), &yaml);

    // Pinged every 300 ms, through POST, GET and HEAD alike, for well over period + grace.
    let client = client();
    for i in 0..12 {
        let url = server.url("/v1/heartbeats/nightly");
        let response = match i % 3 {
            0 => client.post(&url).send().await.unwrap(),
            1 => client.get(&url).send().await.unwrap(),
            _ => client.head(&url).send().await.unwrap(),
        };
        assert_eq!(response.status(), 200, "ping {i}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, body) = ping(&server, "").await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true);
    assert_eq!(body["signal"], "success");
    assert_eq!(body["pings"], 13);
    let (_, shown) = get_json(&server.url("/v1/checks/nightly")).await;
    assert_eq!(shown["state"], "healthy", "{shown}");
    assert_eq!(shown["target"], "/v1/heartbeats/nightly");
    assert!(alerts(&hooks).await.is_empty(), "no alert while pinged");

    // Silence: late after period + grace, one Check Failed, and no second one.
    let failed = eventually(Duration::from_secs(15), "Check Failed", || async {
        let a = alerts(&hooks).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    evaluations_pass(&server, "consecutive_failures", 6).await;
    let all = alerts(&hooks).await;
    assert_eq!(kinds(&all), ["Check Failed"], "{all:#?}");
    let detail = &failed[0]["detail"];
    assert_eq!(detail["check"], "nightly");
    assert!(
        detail["reason"]
            .as_str()
            .unwrap()
            .starts_with("late: no ping since"),
        "{detail}"
    );

    // A ping recovers it; a /fail fails it again with its body as the reason.
    assert_eq!(ping(&server, "").await.0, 200);
    eventually(Duration::from_secs(15), "Check Recovered", || async {
        (alerts(&hooks).await.len() >= 2).then_some(())
    })
    .await;
    let r = client
        .post(server.url("/v1/heartbeats/nightly/fail"))
        .body("backup: exit 3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all = eventually(
        Duration::from_secs(15),
        "Check Failed after /fail",
        || async {
            let a = alerts(&hooks).await;
            (a.len() >= 3).then_some(a)
        },
    )
    .await;
    assert_eq!(
        kinds(&all),
        ["Check Failed", "Check Recovered", "Check Failed"]
    );
    let reason = all[2]["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("/fail at ") && reason.ends_with(": backup: exit 3"),
        "{reason}"
    );
    // /start answers too (the job is failing until a success ping).
    let (status, started) = ping(&server, "/start").await;
    assert_eq!((status, started["signal"].as_str()), (200, Some("start")));

    // Only heartbeat checks take pings: an unknown name and a TCP check are JSON 404s.
    for name in ["nope", "db"] {
        let (status, body) =
            post_json(&server.url(&format!("/v1/heartbeats/{name}")), &Value::Null).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("\"{name}\"")),
            "{body}"
        );
    }
    drop(port_holder);
}

/// How many check partitions `server` holds.
async fn partitions(server: &Server) -> u64 {
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("signalbox_monitor_partitions "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The heartbeat's status on `server`, when that instance runs the check.
async fn run_here(server: &Server) -> Option<Value> {
    let (status, shown) = get_json(&server.url("/v1/checks/beat")).await;
    (status == 200 && !shown["last_run"].is_null()).then_some(shown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_to_one_instance_count_for_the_instance_running_the_check() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let schema = PgSchema::create().await;
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "{store}", max_connections: 4, poll_interval: 100ms }}
monitor: {{ lease_ttl: 3s }}
rules:
  heartbeat-alerts:
    pattern: {{ source: ["signalbox.check"] }}
    targets:
      - webhook: {{ url: "{hooks}/alerts" }}
checks:
  beat:
    heartbeat: {{ every: 1s, grace: 1s }}
"#,
        store = schema.url,
        hooks = hooks.uri(),
    );
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = Server::start(dirs[0].path(), &yaml);
    let b = Server::start(dirs[1].path(), &yaml);

    // Once the two share the partitions, find the one running the check and ping the other.
    eventually(
        Duration::from_secs(20),
        "both instances hold partitions",
        || async { (partitions(&a).await > 0 && partitions(&b).await > 0).then_some(()) },
    )
    .await;
    let (runner, other) = eventually(
        Duration::from_secs(20),
        "an instance runs the check",
        || async {
            if run_here(&a).await.is_some() {
                Some((&a, &b))
            } else if run_here(&b).await.is_some() {
                Some((&b, &a))
            } else {
                None
            }
        },
    )
    .await;
    let pinged_from = std::time::Instant::now();
    while pinged_from.elapsed() < Duration::from_secs(4) {
        let (status, _) = post_json(&other.url("/v1/heartbeats/beat"), &Value::Null).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // (The partition may have moved meanwhile: ask whichever instance runs the check now.)
    let shown = match run_here(runner).await {
        Some(shown) => shown,
        None => run_here(other)
            .await
            .expect("one of the two runs the check"),
    };
    assert_eq!(shown["state"], "healthy", "{shown}");
    assert!(
        alerts(&hooks).await.is_empty(),
        "pinged through the other instance"
    );

    // Silence: one Check Failed for the pair, not one per instance.
    eventually(Duration::from_secs(15), "Check Failed", || async {
        (!alerts(&hooks).await.is_empty()).then_some(())
    })
    .await;
    // Evaluations go on (wherever the check runs now) for 2 s more: still one alert.
    let later = signalbox_core::time::millis_to_rfc3339(signalbox_core::time::now_millis() + 2_000);
    eventually(
        Duration::from_secs(15),
        "more failing evaluations",
        || async {
            for server in [&a, &b] {
                if let Some(shown) = run_here(server).await
                    && shown["last_run"]["at"]
                        .as_str()
                        .is_some_and(|at| at > later.as_str())
                    && shown["state"] == "failing"
                {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
    assert_eq!(kinds(&alerts(&hooks).await), ["Check Failed"]);
    drop((a, b));
    schema.drop_schema().await;
}
