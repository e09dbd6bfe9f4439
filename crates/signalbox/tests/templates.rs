//! End to end: AWS-style input templates and Echo-form rules, through the real binary, a real
//! SQLite store and a local receiver.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(store: &str, receiver: &str) -> String {
    format!(
        r#"
server:
  listen: "127.0.0.1:0"
store:
  url: "{store}"
  poll_interval: 200ms
rules:
  deploys:
    pattern:
      source: ["ci"]
      detail-type: ["Deploy"]
    targets:
      - webhook:
          url: "{receiver}/transformed"
        input_paths:
          service: "$.detail.service"
          note: "$.detail.note"
          owner: "$.detail.owner"
          kind: "$.detail-type"
        input_template: |
          {{"service": <service>, "owner": <owner>, "text": "<service> says <note> (<kind>)",
           "rule": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>}}
  echo-webhook:
    type: WEBHOOK
    source: github
    payloadConstraints:
      repository.name: "geo"
      ref: "refs/heads/(main|release/.*)"
    targets:
      - webhook:
          url: "{receiver}/echo"
"#
    )
}

async fn wait_for_requests(receiver: &MockServer, route: &str, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(10), route, || async {
        let got: Vec<Value> = receiver
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == route)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        (got.len() >= n).then_some(got)
    })
    .await
}

#[tokio::test]
async fn input_template_renders_the_delivered_body() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/sb.db", dir.path().display());
    let server = Server::start(dir.path(), &config(&store, &receiver.uri()));

    let event = json!({"id": "t-1", "source": "ci", "detail-type": "Deploy",
                       "detail": {"service": "api", "note": "ship \"it\"\nnow"}});
    let (status, body) = post_json(&server.url("/v1/events"), &event).await;
    assert_eq!(status, 202, "{body}");

    let got = wait_for_requests(&receiver, "/transformed", 1).await;
    let body = &got[0];
    assert_eq!(body["service"], "api");
    assert_eq!(
        body["owner"],
        Value::Null,
        "a missing path is null in a JSON value position"
    );
    assert_eq!(body["text"], "api says ship \"it\"\nnow (Deploy)");
    assert_eq!(body["rule"], "deploys");
    let (_, stored) = get_json(&server.url("/v1/events/t-1")).await;
    let accepted = stored["accepted_at"].as_str().unwrap();
    assert_eq!(
        body["at"], accepted,
        "ingestion time is when the event was accepted"
    );
}

#[tokio::test]
async fn echo_form_rule_routes_with_anchored_constraints() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/echo"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/sb.db", dir.path().display());
    let server = Server::start(dir.path(), &config(&store, &receiver.uri()));

    let push = |id: &str, repo: &str, git_ref: &str| {
        json!({"id": id, "source": "github", "detail-type": "webhook",
               "detail": {"repository": {"name": repo}, "ref": git_ref}})
    };
    let events = json!([
        push("geohash-main", "geohash", "refs/heads/main"),
        push("geo-feature", "geo", "refs/heads/feature/x"),
        push("geo-release", "geo", "refs/heads/release/1.2"),
    ]);
    let (status, body) = post_json(&server.url("/v1/events"), &events).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_json(
        &server.url("/v1/events"),
        &push("geo-main", "geo", "refs/heads/main"),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let got = wait_for_requests(&receiver, "/echo", 2).await;
    let mut ids: Vec<&str> = got.iter().map(|b| b["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["geo-main", "geo-release"]);
    for id in ["geohash-main", "geo-feature"] {
        let (_, ev) = get_json(&server.url(&format!("/v1/events/{id}"))).await;
        assert_eq!(
            ev["deliveries"],
            json!([]),
            "{id}: `geo` must not match `geohash`, `main` must not match a feature branch"
        );
    }
}
