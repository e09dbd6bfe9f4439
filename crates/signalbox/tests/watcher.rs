//! The watcher format end to end with the real binary: the endpoint files of
//! `fixtures/watcher/` (copied, their hosts pointed at a local server, their posts at a
//! local receiver, their schedules made per-second) run as checks; each run's post arrives with
//! its placeholders filled and the API key as a URL parameter (and, for
//! `post_service: aws-cloudwatch`, as a signed EventBridge `PutEvents` to a fake AWS endpoint);
//! the broken file is skipped and counted on `/metrics` while the others run; a file added
//! later runs and posts without a restart, and a removed one stops.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/watcher")
}

/// The endpoints under check: every path answers like the fixture's services, and counts.
async fn endpoints() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/{*path}",
            get(
                move |axum::extract::Path(path): axum::extract::Path<String>| {
                    seen.lock().unwrap().push(path);
                    async {
                        axum::Json(json!({"status": "ok", "app": "mixsig", "version": "2.4.1"}))
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), seen)
}

/// A fixture, pointed at local servers and run every second.
fn adapt(name: &str, host: &str, hooks: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    let text = text
        .replace(
            "www.fabricsounds.com/health:",
            &format!("{host}/www/health:"),
        )
        .replace(
            "mixsig.fabricsounds.com/health:",
            &format!("{host}/mixsig/health:"),
        )
        .replace("scheme: https", "scheme: http")
        .replace("https://app.datadoghq.com", hooks)
        .replace("\"* * * * *\"", "\"* * * * * *\"");
    if name == "self.yml" {
        // Every minute by default: every second here.
        text.replace("self:\n", "self:\n  cron_schedule: \"* * * * * *\"\n")
    } else {
        text
    }
}

async fn posts(hooks: &MockServer) -> Vec<(String, Value)> {
    hooks
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.url.query().unwrap_or_default().to_owned(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn hits(seen: &std::sync::Mutex<Vec<String>>, path: &str) -> usize {
    seen.lock().unwrap().iter().filter(|p| *p == path).count()
}

/// The first `watcher file skipped` log line (JSON) of `server`, waiting up to 10 s.
fn skipped_log(server: &Server) -> Option<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        let line = server.logs.recv_timeout(left).ok()?;
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["message"] == "watcher file skipped"
        {
            return Some(v);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_files_run_post_skip_the_broken_one_and_reload() {
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/events"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&hooks)
        .await;
    // A fake EventBridge for `post_service: aws-cloudwatch` (found through AWS_ENDPOINT_URL).
    let aws = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]})),
        )
        .mount(&aws)
        .await;
    let (host, seen) = endpoints().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoints_dir = dir.path().join("endpoints");
    std::fs::create_dir(&endpoints_dir).unwrap();
    for name in ["fabricsounds.yml", "self.yml", "broken.yml"] {
        std::fs::write(endpoints_dir.join(name), adapt(name, &host, &hooks.uri())).unwrap();
    }
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "sqlite://{dir}/sb.db", poll_interval: 100ms }}
monitor:
  endpoint_dirs: ["{endpoints}"]
"#,
        dir = dir.path().display(),
        endpoints = endpoints_dir.display(),
    );
    let config = dir.path().join("signalbox.yaml");
    std::fs::write(&config, yaml).unwrap();
    let server = Server::start_with_env(
        &config,
        &[
            ("DD_API_KEY", "dd-test-key"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", &aws.uri()),
        ],
    );

    // Both endpoints of the good file run; the first posts each result with its placeholder
    // filled and the API key as a URL parameter.
    eventually(Duration::from_secs(20), "both endpoints run", || async {
        (hits(&seen, "www/health") >= 2 && hits(&seen, "mixsig/health") >= 2).then_some(())
    })
    .await;
    let www = eventually(Duration::from_secs(20), "the www post", || async {
        posts(&hooks)
            .await
            .into_iter()
            .find(|(_, body)| body["title"] == "fabricsounds health")
    })
    .await;
    assert_eq!(www.0, "api_key=dd-test-key");
    assert_eq!(
        www.1,
        json!({"title": "fabricsounds health", "text": "health ok", "tags": ["status: ok"]})
    );
    // The `self` entry reports signalbox's own health the same way.
    let own = eventually(Duration::from_secs(20), "the self post", || async {
        posts(&hooks)
            .await
            .into_iter()
            .find(|(_, body)| body["title"] == "watcher-monitor")
    })
    .await;
    assert_eq!(
        own,
        (
            "api_key=dd-test-key".to_owned(),
            json!({"title": "watcher-monitor", "text": "health ok"})
        )
    );
    // The CloudWatch entry: EventBridge PutEvents of the file's own shape, placeholders
    // filled, signed with the file's key.
    let put = eventually(Duration::from_secs(20), "the mixsig PutEvents", || async {
        aws.received_requests()
            .await
            .unwrap()
            .into_iter()
            .find_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).ok()?;
                let entry = body["Entries"][0].clone();
                (entry["Source"] == "mixsig.fabricsounds.com/health").then_some((r, entry))
            })
    })
    .await;
    let (request, entry) = put;
    assert_eq!(
        request.headers.get("x-amz-target").unwrap(),
        "AWSEvents.PutEvents"
    );
    let auth = request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/eu-west-1/events/"),
        "{auth}"
    );
    assert_eq!(entry["DetailType"], "type1");
    assert_eq!(entry["Resources"], json!(["health"]));
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({"status": "ok", "app": "mixsig", "version": "2.4.1"})
    );

    let (status, check) = get_json(&server.url(&format!(
        "/v1/checks/{}",
        format!("{host}/www/health").replace([':', '/'], "_")
    )))
    .await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["last_run"]["extracts"]["status"], "ok", "{check}");

    // The broken file is skipped and counted.
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let broken = endpoints_dir.join("broken.yml");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("signalbox_watcher_file_errors_total"))
        .unwrap_or_else(|| panic!("no file error counted:\n{metrics}"));
    assert!(
        line.contains(&format!("file=\"{}\"", broken.display())) && line.ends_with(" 1"),
        "{line}"
    );
    // ... and logged with its file and position.
    let skipped = skipped_log(&server).unwrap_or_else(|| panic!("no log line for broken.yml"));
    assert_eq!(skipped["file"], broken.display().to_string(), "{skipped}");
    assert_eq!(
        (skipped["line"].as_u64(), skipped["column"].as_u64()),
        (Some(4), Some(18)),
        "{skipped}"
    );
    assert!(
        metrics.contains("signalbox_watcher_endpoints 3"),
        "www, mixsig and self:\n{metrics}"
    );

    // A file added while running runs, and posts, without a restart.
    std::fs::write(
        endpoints_dir.join("late.yml"),
        format!(
            "{host}/late/health:\n  cron_schedule: \"* * * * * *\"\n  scheme: http\n  response_json_values: [app]\n  post_endpoint: {hooks}/api/v1/events\n  post_json_info: {{ title: \"late {{app}}\" }}\n",
            hooks = hooks.uri()
        ),
    )
    .unwrap();
    eventually(
        Duration::from_secs(20),
        "the added endpoint runs",
        || async { (hits(&seen, "late/health") >= 2).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "the added endpoint's post",
        || async {
            posts(&hooks)
                .await
                .into_iter()
                .any(|(query, body)| query.is_empty() && body == json!({"title": "late mixsig"}))
                .then_some(())
        },
    )
    .await;
    // And a removed one stops: no more runs once the removal is applied.
    std::fs::remove_file(endpoints_dir.join("late.yml")).unwrap();
    let gone = format!(
        "/v1/checks/{}",
        format!("{host}/late/health").replace([':', '/'], "_")
    );
    eventually(
        Duration::from_secs(20),
        "the removed endpoint leaves",
        || async { (get_json(&server.url(&gone)).await.0 == 404).then_some(()) },
    )
    .await;
    // A run already in flight when it was removed may still land: count from a later run of
    // another endpoint.
    let www_runs = |more: usize| {
        let target = hits(&seen, "www/health") + more;
        let seen = seen.clone();
        async move {
            eventually(
                Duration::from_secs(20),
                "more runs of the others",
                || async { (hits(&seen, "www/health") >= target).then_some(()) },
            )
            .await
        }
    };
    www_runs(1).await;
    let after = hits(&seen, "late/health");
    www_runs(2).await;
    assert_eq!(
        hits(&seen, "late/health"),
        after,
        "the removed endpoint stopped"
    );
}

#[test]
fn validate_reports_the_broken_endpoint_file_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints");
    std::fs::create_dir(&endpoints).unwrap();
    for name in ["fabricsounds.yml", "self.yml", "broken.yml"] {
        std::fs::copy(fixtures().join(name), endpoints.join(name)).unwrap();
    }
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("monitor:\n  endpoint_dirs: [\"{}\"]\n", endpoints.display()),
    )
    .unwrap();
    let validate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_signalbox"))
            .arg("validate")
            .arg(&config)
            .env("DD_API_KEY", "k")
            .env("AWS_ACCESS_KEY_ID", "AKID")
            .env("AWS_SECRET_ACCESS_KEY", "s")
            .output()
            .unwrap()
    };
    let out = validate();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    let broken = endpoints.join("broken.yml");
    assert!(
        text.contains(&format!("{}:4:18:", broken.display())),
        "{text}"
    );
    assert!(text.contains("1 error(s)"), "only the broken file: {text}");
    std::fs::remove_file(&broken).unwrap();
    let out = validate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
