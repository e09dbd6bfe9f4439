//! Snapshots (insta) of what every channel sends for the default template of every event kind
//! signalbox emits, plus a generic event: the provider request as `preview` shows it (method,
//! URL, headers and body, secrets as `***`), and for email the HTML part too.
//!
//! The sample events are fixed (ids, times, values), so a change in a snapshot is a change in
//! what users receive. Review with `cargo insta review`, or regenerate with
//! `INSTA_UPDATE=always cargo test -p signalbox-targets --test snapshots` and read the diff.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use signalbox_targets::channels::{Channel, build_channel, email};
use signalbox_targets::notify::default_notification;

/// Every channel type, configured as a user would (fake hosts and secrets).
const CHANNELS: &[(&str, &str)] = &[
    (
        "slack",
        "type: slack\n    webhook_url: https://hooks.slack.com/services/T000/B000/XXXXSECRET",
    ),
    (
        "slack_bot",
        "type: slack\n    token: xoxb-SECRET\n    channel: \"#ops\"",
    ),
    (
        "email",
        "type: email\n    smtp: {host: smtp.example.com, port: 587, tls: starttls, username: signalbox, password: SECRET}\n    from: \"signalbox <signalbox@example.com>\"\n    to: [\"ops@example.com\", \"oncall@example.com\"]",
    ),
    (
        "googlechat",
        "type: googlechat\n    webhook_url: https://chat.googleapis.com/v1/spaces/AAA/messages?key=SECRET",
    ),
    (
        "teams",
        "type: teams\n    webhook_url: https://prod-00.westus.logic.azure.com/workflows/SECRET",
    ),
    (
        "discord",
        "type: discord\n    webhook_url: https://discord.com/api/webhooks/1/SECRET",
    ),
    (
        "bearychat",
        "type: bearychat\n    webhook_url: https://hook.bearychat.com/=bw52O/incoming/SECRET",
    ),
    (
        "flock",
        "type: flock\n    webhook_url: https://api.flock.com/hooks/sendMessage/SECRET",
    ),
    (
        "telegram",
        "type: telegram\n    token: \"123456:SECRET\"\n    chat_id: \"-1001234567890\"",
    ),
    (
        "pagerduty",
        "type: pagerduty\n    routing_key: SECRETROUTINGKEY",
    ),
    (
        "twilio",
        "type: twilio\n    account_sid: AC123\n    auth_token: SECRET\n    from: \"+15550000\"\n    to: [\"+15551111\", \"+15552222\"]",
    ),
    (
        "webhook",
        "type: webhook\n    webhook_url: https://hooks.example.com/signalbox/SECRET",
    ),
];

/// The sample event of each kind, with fixed ids and times.
fn events() -> Vec<(&'static str, Value)> {
    let event = |id: &str, source: &str, detail_type: &str, detail: Value| {
        json!({
            "version": "0", "id": id, "account": "signalbox", "region": "local",
            "time": "2025-03-01T10:00:00Z", "source": source, "detail-type": detail_type,
            "resources": [], "detail": detail,
        })
    };
    vec![
        (
            "pipeline_started",
            event(
                "0195f1c2-0000-7000-8000-000000000001",
                "signalbox.pipeline",
                "Pipeline Started",
                json!({"pipeline": "deploy-api", "run_id": "1842", "trigger": "push",
                       "branch": "main", "commit": "9f2c1e7",
                       "url": "https://signalbox.example.com/runs/1842"}),
            ),
        ),
        (
            "pipeline_succeeded",
            event(
                "0195f1c2-0000-7000-8000-000000000002",
                "signalbox.pipeline",
                "Pipeline Succeeded",
                json!({"pipeline": "deploy-api", "run_id": "1842", "branch": "main",
                       "commit": "9f2c1e7", "duration_ms": 125_000,
                       "url": "https://signalbox.example.com/runs/1842"}),
            ),
        ),
        (
            "pipeline_failed",
            event(
                "0195f1c2-0000-7000-8000-000000000003",
                "signalbox.pipeline",
                "Pipeline Failed",
                json!({"pipeline": "deploy-api", "run_id": "1842", "branch": "main",
                       "commit": "9f2c1e7", "duration_ms": 125_000, "failed_step": "test",
                       "error": "step `test` exited with status 1: 3 of 120 tests failed (*_spec.rb) & <stderr> truncated",
                       "url": "https://signalbox.example.com/runs/1842"}),
            ),
        ),
        (
            "check_down",
            event(
                "0195f1c2-0000-7000-8000-000000000004",
                "signalbox.check",
                "Check Down",
                json!({"check": "api-health", "url": "https://api.example.com/health",
                       "status_code": 503, "since": "2025-03-01T09:58:30Z",
                       "assertion": "status == 200",
                       "error": "expected status 200, got 503 Service Unavailable"}),
            ),
        ),
        (
            "check_recovered",
            event(
                "0195f1c2-0000-7000-8000-000000000005",
                "signalbox.check",
                "Check Recovered",
                json!({"check": "api-health", "url": "https://api.example.com/health",
                       "status_code": 200, "downtime_ms": 754_000}),
            ),
        ),
        (
            "schedule_fire_failed",
            event(
                "0195f1c2-0000-7000-8000-000000000006",
                "signalbox.schedule",
                "Schedule Fire Failed",
                json!({"schedule": "nightly-report", "fire_time": "2025-03-01T02:00:00Z",
                       "target": "https://reports.example.com/run", "attempts": 5,
                       "error": "connection refused"}),
            ),
        ),
        (
            "release_completed",
            event(
                "0195f1c2-0000-7000-8000-000000000007",
                "signalbox.release",
                "Release Completed",
                json!({"release": "2025.03.1", "version": "2025.03.1",
                       "environment": "production", "modules": ["api", "web", "worker"],
                       "duration_ms": 3_912_000,
                       "url": "https://signalbox.example.com/releases/2025.03.1"}),
            ),
        ),
        (
            "release_failed",
            event(
                "0195f1c2-0000-7000-8000-000000000008",
                "signalbox.release",
                "Release Failed",
                json!({"release": "2025.03.1", "version": "2025.03.1",
                       "environment": "production", "modules": ["api", "web"],
                       "duration_ms": 412_000,
                       "error": "module web: health check did not pass within 5m",
                       "url": "https://signalbox.example.com/releases/2025.03.1"}),
            ),
        ),
        (
            "delivery_dead",
            event(
                "0195f1c2-0000-7000-8000-000000000009",
                "signalbox.delivery",
                "Delivery Dead",
                json!({"rule": "orders-to-erp", "target": "https://erp.example.com/hooks/orders",
                       "attempts": 12, "event_id": "0195f1c1-ffff-7000-8000-00000000abcd",
                       "delivery_id": "0195f1c2-1111-7000-8000-00000000beef",
                       "error": "HTTP 500: internal error"}),
            ),
        ),
        (
            "generic",
            json!({
                "version": "0", "id": "0195f1c2-0000-7000-8000-00000000000a",
                "account": "123456789012", "region": "eu-west-1",
                "time": "2025-03-01T10:00:00Z", "source": "aws.ecs",
                "detail-type": "ECS Task State Change",
                "resources": ["arn:aws:ecs:eu-west-1:123456789012:task/prod/0a1b2c"],
                "detail": {"lastStatus": "STOPPED", "stoppedReason": "Essential container in task exited",
                           "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
                           "container": {"name": "web", "exitCode": 137}}
            }),
        ),
    ]
}

fn channel(name: &str, yaml: &str) -> Arc<dyn Channel> {
    let text = format!("channels:\n  {name}:\n    {yaml}\n");
    let loaded = signalbox_config::load_str(&text, Path::new("test.yaml"))
        .unwrap_or_else(|e| panic!("config for {name}: {e:?}"));
    let config = loaded.config.channels.values().next().expect("one channel");
    build_channel(config, &reqwest::Client::new()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_channel_renders_every_default_template() {
    for (name, yaml) in CHANNELS {
        let channel = channel(name, yaml);
        for (kind, event) in events() {
            let n = default_notification(&event, "sample-rule");
            let mut rendered = channel
                .preview(&n)
                .unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
            if *name == "email" {
                rendered.push_str("\n\n----- text/html part -----\n");
                rendered.push_str(&email::html_body(&n));
            }
            assert!(
                !rendered.contains("SECRET"),
                "{name} {kind} shows a secret:\n{rendered}"
            );
            insta::with_settings!({
                description => format!("{name} channel, default template, {kind} event"),
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("{name}__{kind}"), rendered);
            });
        }
    }
}
