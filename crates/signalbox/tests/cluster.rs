//! Two instances on one PostgreSQL share the outbox: every delivery is made, and none twice while
//! no lease expires (claims use `FOR UPDATE SKIP LOCKED`).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_deliveries_on_postgres() {
    let schema = PgSchema::create().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let yaml = format!(
        r#"
server: {{ listen: "127.0.0.1:0" }}
store: {{ url: "{}", poll_interval: 100ms }}
rules:
  all:
    pattern: {{ source: ["ci"] }}
    targets:
      - webhook: {{ url: "{}/hook" }}
"#,
        schema.url,
        receiver.uri()
    );
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start(dir_a.path(), &yaml);
    let b = Server::start(dir_b.path(), &yaml);

    const EVENTS: usize = 400;
    for chunk in 0..(EVENTS / 20) {
        let batch: Vec<Value> = (0..20)
            .map(|i| json!({"id": format!("c-{}", chunk * 20 + i), "source": "ci", "detail-type": "Build", "detail": {}}))
            .collect();
        let target = if chunk % 2 == 0 { &a } else { &b };
        let (status, _) = post_json(&target.url("/v1/events"), &json!(batch)).await;
        assert_eq!(status, 202);
    }
    let requests = eventually(Duration::from_secs(30), "every delivery made", || async {
        let reqs = receiver.received_requests().await.unwrap();
        (reqs.len() >= EVENTS).then_some(reqs)
    })
    .await;
    let (_, done) = get_json(&a.url("/v1/deliveries?state=done&limit=1000")).await;
    assert_eq!(done["deliveries"].as_array().unwrap().len(), EVENTS);
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in &requests {
        *per_delivery
            .entry(
                r.headers["x-signalbox-delivery"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            )
            .or_default() += 1;
    }
    assert_eq!(per_delivery.len(), EVENTS);
    let twice: Vec<_> = per_delivery.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    drop((a, b));
    schema.drop_schema().await;
}
