//! Schedules end to end with the real binary on SQLite: fires are events with derived ids, run
//! their own targets and the rules that match; a restart catches up per misfire policy; the
//! runtime API; SIGTERM exits 0.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sqlx::Row;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn bodies(receiver: &MockServer, at: &str) -> Vec<Value> {
    receiver
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// (scheduled_time ms, outcome) per schedule, read from the SQLite file.
async fn fires(db: &Path) -> BTreeMap<String, Vec<(i64, String)>> {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT schedule, scheduled_time, outcome FROM schedule_fires ORDER BY schedule, scheduled_time",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut out: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get::<String, _>(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_schedule_fires_events_to_its_targets_and_rules() {
    let hooks = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
rules:
  schedule-events:
    pattern: {{ source: ["signalbox.schedule"], resources: ["schedule/tick"] }}
    targets:
      - webhook: {{ url: "{hooks}/rule" }}
schedules:
  tick:
    cron: "* * * * * *"
    description: every second
    targets:
      - webhook: {{ url: "{hooks}/own" }}
"#,
        dir = dir.path().display(),
        hooks = hooks.uri()
    );
    let mut server = Server::start(dir.path(), &yaml);
    let own = eventually(
        Duration::from_secs(15),
        "three fires at the schedule's target",
        || async {
            let b = bodies(&hooks, "/own").await;
            (b.len() >= 3).then_some(b)
        },
    )
    .await;
    for event in &own {
        let id = event["id"].as_str().unwrap();
        let scheduled = event["detail"]["scheduled_time"].as_str().unwrap();
        assert_eq!(id, format!("schedule:tick:{scheduled}"));
        assert!(scheduled.ends_with(".000Z"), "whole seconds: {scheduled}");
        assert_eq!(event["source"], "signalbox.schedule");
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["resources"], json!(["schedule/tick"]));
        assert_eq!(event["detail"]["schedule"], "tick");
        assert_eq!(event["detail"]["manual"], false);
        let lateness = event["detail"]["lateness_ms"].as_i64().unwrap();
        assert!((0..1000).contains(&lateness), "lateness {lateness}");
        assert!(event["detail"]["fired_at"].is_string());
    }
    let ids: HashSet<&str> = own.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), own.len(), "no fire delivered twice");
    // The matching rule got the same events.
    let rule_ids = eventually(Duration::from_secs(10), "the rule's deliveries", || async {
        let b = bodies(&hooks, "/rule").await;
        let ids: HashSet<String> = b
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        ids.is_superset(&ids_owned(&own)).then_some(ids)
    })
    .await;
    assert!(!rule_ids.is_empty());
    // The stored event is the one delivered.
    let first = own[0]["id"].as_str().unwrap();
    let (status, stored) = get_json(&server.url(&format!("/v1/events/{first}"))).await;
    assert_eq!(status, 200, "{stored}");
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
}

fn ids_owned(events: &[Value]) -> HashSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_catches_up_per_misfire_policy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sb.db");
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{}" }}
schedules:
  all:   {{ cron: "* * * * * *", misfire: fire_all }}
  once:  {{ cron: "* * * * * *", misfire: fire_once }}
  never: {{ cron: "* * * * * *", misfire: skip }}
"#,
        db.display()
    );
    let mut server = Server::start(dir.path(), &yaml);
    eventually(Duration::from_secs(10), "two fires each", || async {
        let f = fires(&db).await;
        (f.len() == 3 && f.values().all(|v| v.len() >= 2)).then_some(())
    })
    .await;
    assert!(server.terminate(Duration::from_secs(15)).success());
    let before = fires(&db).await;
    // The deliberate downtime: at least four scheduled seconds go by unfired.
    std::thread::sleep(Duration::from_millis(4500));
    let server = Server::start_with(&dir.path().join("signalbox.yaml"));
    eventually(
        Duration::from_secs(10),
        "fires after the restart",
        || async {
            let f = fires(&db).await;
            f.iter()
                .all(|(name, v)| v.len() >= before[name].len() + 2)
                .then_some(())
        },
    )
    .await;
    drop(server);
    let after = fires(&db).await;
    for (name, list) in &after {
        let last_before = before[name].last().unwrap().0;
        let times: Vec<i64> = list.iter().map(|(t, _)| *t).collect();
        let gap: Vec<&(i64, String)> = list.iter().filter(|(t, _)| *t > last_before).collect();
        let caught_up = gap.iter().filter(|(_, o)| o == "caught_up").count();
        let first_on_time = gap.iter().find(|(_, o)| o == "fired").unwrap().0;
        let missing = (first_on_time - last_before) / 1000 - 1 - caught_up as i64;
        match name.as_str() {
            "all" => {
                // Every second, once: the gap was caught up.
                let expected: Vec<i64> = (0..times.len() as i64)
                    .map(|i| times[0] + i * 1000)
                    .collect();
                assert_eq!(times, expected, "{name}: {list:?}");
                assert!(caught_up >= 2, "{name}: {list:?}");
            }
            "once" => {
                // One catch-up for the latest missed second, or none when an on-time fire
                // happened at the restart anyway (it already stands for the gap).
                assert!(caught_up <= 1, "{name}: {list:?}");
                assert!(missing >= 2, "{name}: {list:?}");
            }
            "never" => {
                assert_eq!(caught_up, 0, "{name}: {list:?}");
                assert!(missing >= 3, "{name}: {list:?}");
            }
            other => panic!("unexpected schedule {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedules_api() {
    let hooks = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0", timezone: Europe/Paris }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
schedules:
  nightly:
    cron: "0 0 2 * * ?"
    targets:
      - webhook: {{ url: "{hooks}/nightly" }}
"#,
        dir = dir.path().display(),
        hooks = hooks.uri()
    );
    let mut server = Server::start(dir.path(), &yaml);
    let c = client();

    let (status, one) = get_json(&server.url("/v1/schedules/nightly")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["source"], "config");
    assert_eq!(one["expression"], "0 0 2 * * ?");
    assert_eq!(one["timezone"], "Europe/Paris");
    let next = one["next"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    assert!(
        next.iter()
            .all(|t| t.as_str().unwrap().contains("T02:00:00+0")),
        "{next:?}"
    );
    let owner = eventually(Duration::from_secs(10), "an owner", || async {
        let (_, one) = get_json(&server.url("/v1/schedules/nightly")).await;
        one["owner"]["id"].as_str().map(str::to_string)
    })
    .await;
    assert!(owner.starts_with(&format!("{}-", server.pid())), "{owner}");

    // Config schedules are read-only, except pause/resume/fire.
    let r = c
        .put(server.url("/v1/schedules/nightly"))
        .json(&json!({"cron": "@daily"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    let r = c
        .delete(server.url("/v1/schedules/nightly"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // A manual fire runs the schedule's targets, marked manual.
    let (status, fired) = post_json(&server.url("/v1/schedules/nightly/fire"), &json!({})).await;
    assert_eq!(status, 202, "{fired}");
    assert_eq!(fired["deliveries"], 1);
    let id = fired["id"].as_str().unwrap();
    assert!(
        id.starts_with("schedule:nightly:") && id.contains(":manual-"),
        "{id}"
    );
    let got = eventually(Duration::from_secs(10), "the manual fire", || async {
        bodies(&hooks, "/nightly").await.pop()
    })
    .await;
    assert_eq!(got["detail"]["manual"], true);
    assert_eq!(got["id"], id);

    // Runtime schedules: create, replace, pause, resume, delete.
    let r = c
        .put(server.url("/v1/schedules/every-2s"))
        .json(&json!({"cron": "*/2 * * * * *", "timezone": "UTC", "misfire": "skip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["source"], "api");
    assert_eq!(created["misfire"], "skip");
    let fired = eventually(
        Duration::from_secs(10),
        "the API schedule fires",
        || async {
            let (_, one) = get_json(&server.url("/v1/schedules/every-2s")).await;
            one["last_fire"]["outcome"].as_str().map(str::to_string)
        },
    )
    .await;
    assert_eq!(fired, "fired");
    let r = c
        .put(server.url("/v1/schedules/every-2s"))
        .json(&json!({"cron": "0 0 12 * * ?", "timezone": "UTC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let replaced: Value = r.json().await.unwrap();
    assert_eq!(replaced["version"], 2);
    assert!(
        replaced["next"][0]
            .as_str()
            .unwrap()
            .ends_with("T12:00:00+00:00")
    );

    let (status, paused) = post_json(&server.url("/v1/schedules/nightly/pause"), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["next"], json!([]));
    let (status, resumed) =
        post_json(&server.url("/v1/schedules/nightly/resume"), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(resumed["paused"], false);

    let (_, list) = get_json(&server.url("/v1/schedules")).await;
    let names: Vec<&str> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["every-2s", "nightly"]);

    // Bad input names the field and the allowed range.
    let r = c
        .put(server.url("/v1/schedules/bad"))
        .json(&json!({"cron": "0 0 32 * *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("day of month") && message.contains("1-31"),
        "{message}"
    );
    let r = c
        .put(server.url("/v1/schedules/bad"))
        .json(&json!({"cron": "@daily", "timezone": "Mars/Base"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // An API schedule's own targets: built at once (a bad one is a 400), stored with the
    // definition, delivered like a config schedule's.
    let r = c
        .put(server.url("/v1/schedules/with-hook"))
        .json(&json!({"cron": "* * * * * *", "targets": [{"webhook": {"url": "ftp://nope"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("with-hook"),
        "{body}"
    );
    let r = c
        .put(server.url("/v1/schedules/with-hook"))
        .json(&json!({
            "cron": "* * * * * *",
            "targets": [{"webhook": {"url": format!("{}/api-hook", hooks.uri())}}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let delivered = eventually(
        Duration::from_secs(15),
        "a fire of the API schedule at its own webhook",
        || async {
            let got = bodies(&hooks, "/api-hook").await;
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    assert_eq!(delivered[0]["detail"]["schedule"], "with-hook");
    assert_eq!(delivered[0]["source"], "signalbox.schedule");
    let r = c
        .delete(server.url("/v1/schedules/with-hook"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let r = c
        .delete(server.url("/v1/schedules/every-2s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, body) = get_json(&server.url("/v1/schedules/every-2s")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = post_json(&server.url("/v1/schedules/nope/fire"), &json!({})).await;
    assert_eq!(status, 404);

    assert!(server.terminate(Duration::from_secs(15)).success());
}
