//! Every HTTP channel end to end against a local fake provider: the documented request shape
//! (method, path, headers, auth, body fields) and the provider's failure answers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signalbox_targets::channels::{Channel, Field, Notification, Severity, build_channel};
use signalbox_targets::{AttemptOutcome, BuildContext, DeliveryRequest};
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Builds channel `name` from YAML `channels:` text, as the config loader reads it.
fn channel(yaml: &str) -> Arc<dyn Channel> {
    let text = format!("channels:\n{yaml}");
    let loaded = signalbox_config::load_str(&text, Path::new("test.yaml"))
        .unwrap_or_else(|e| panic!("config: {e:?}"));
    let config = loaded.config.channels.values().next().expect("one channel");
    build_channel(config, &reqwest::Client::new()).expect("builds")
}

fn notification() -> Notification {
    Notification {
        title: "Pipeline deploy <api> failed".into(),
        text: "step *test* exited 1 & stopped".into(),
        fields: vec![
            Field {
                name: "Branch".into(),
                value: "main".into(),
            },
            Field {
                name: "Run".into(),
                value: "42".into(),
            },
        ],
        link: Some("https://ci.example.com/runs/42".into()),
        severity: Severity::Critical,
        dedup_key: "signalbox/pipeline/deploy".into(),
        time: Some("2025-03-01T10:00:00Z".into()),
    }
}

async fn only_request(server: &MockServer) -> Request {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one request");
    requests.into_iter().next().unwrap()
}

fn json_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

/// The channel's answers to 429 + Retry-After, 503, 400: retry after the given wait, retry,
/// give up.
async fn check_failures(server: &MockServer, channel: &dyn Channel) {
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_string("slow down"),
        )
        .up_to_n_times(1)
        .mount(server)
        .await;
    let answer = channel.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Retry { status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "429: {answer:?}"
    );
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("unavailable"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    let answer = channel.send(&notification(), "d-1").await;
    assert!(
        matches!(
            answer.outcome,
            AttemptOutcome::Retry {
                status: Some(503),
                ..
            }
        ),
        "503: {answer:?}"
    );
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    let answer = channel.send(&notification(), "d-1").await;
    match &answer.outcome {
        AttemptOutcome::Permanent {
            status: Some(400),
            error,
        } => assert!(error.contains("invalid_payload"), "{error}"),
        other => panic!("400: {other:?}"),
    }
}

fn assert_delivered(outcome: &AttemptOutcome) {
    assert!(
        matches!(outcome, AttemptOutcome::Delivered { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn slack_incoming_webhook() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .and(header("content-type", "application/json; charset=utf-8"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let slack = channel(&format!(
        "  ops:\n    type: slack\n    webhook_url: {}/services/T000/B000/XXXX\n",
        server.uri()
    ));
    let answer = slack.send(&notification(), "d-1").await;
    assert_delivered(&answer.outcome);
    let body = json_of(&only_request(&server).await);
    assert_eq!(body["text"], "Pipeline deploy &lt;api&gt; failed");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[1],
        json!({"type": "section", "text": {"type": "mrkdwn", "text": "step *test* exited 1 &amp; stopped"}})
    );
    assert_eq!(blocks[2]["fields"][0]["text"], "*Branch*\nmain");
    assert_eq!(
        blocks[3]["elements"][0]["url"],
        "https://ci.example.com/runs/42"
    );
    // The webhook URL is a secret: neither the preview nor an answer shows its path.
    let preview = slack.preview(&notification()).unwrap();
    assert!(!preview.contains("XXXX"), "{preview}");
    assert!(!answer.response.contains("XXXX"), "{}", answer.response);
    check_failures(&server, slack.as_ref()).await;
}

#[tokio::test]
async fn slack_bot_chat_post_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-secret"))
        .and(body_partial_json(json!({"channel": "#ops"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "ts": "1.2"})))
        .mount(&server)
        .await;
    let slack = channel(&format!(
        "  ops:\n    type: slack\n    token: xoxb-secret\n    channel: \"#ops\"\n    api_url: {}/api\n",
        server.uri()
    ));
    let answer = slack.send(&notification(), "d-1").await;
    assert_delivered(&answer.outcome);
    let body = json_of(&only_request(&server).await);
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(
        !slack
            .preview(&notification())
            .unwrap()
            .contains("xoxb-secret")
    );

    // Slack's API fails inside a 200.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&server)
        .await;
    let answer = slack.send(&notification(), "d-1").await;
    assert!(
        matches!(&answer.outcome, AttemptOutcome::Permanent { error, .. } if error.contains("channel_not_found")),
        "{answer:?}"
    );
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})),
        )
        .mount(&server)
        .await;
    let answer = slack.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Retry { .. }),
        "{answer:?}"
    );
    check_failures(&server, slack.as_ref()).await;
}

#[tokio::test]
async fn webhook_channel() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("x-signalbox-delivery", "d-9"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let hook = channel(&format!(
        "  mine:\n    type: webhook\n    webhook_url: {}/hook\n",
        server.uri()
    ));
    assert_delivered(&hook.send(&notification(), "d-9").await.outcome);
    let body = json_of(&only_request(&server).await);
    assert_eq!(body["title"], "Pipeline deploy <api> failed");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["fields"][1], json!({"name": "Run", "value": "42"}));
    assert_eq!(body["dedup_key"], "signalbox/pipeline/deploy");
    check_failures(&server, hook.as_ref()).await;
}

#[tokio::test]
async fn teams_workflows_adaptive_card() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workflows/abc/triggers/manual/paths/invoke"))
        .and(body_partial_json(json!({"type": "message"})))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let teams = channel(&format!(
        "  t:\n    type: teams\n    webhook_url: {}/workflows/abc/triggers/manual/paths/invoke\n",
        server.uri()
    ));
    assert_delivered(&teams.send(&notification(), "d-1").await.outcome);
    let body = json_of(&only_request(&server).await);
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    // Event text is in plain TextRuns (a TextBlock or FactSet would render it as Markdown).
    assert_eq!(card["body"][0]["type"], "RichTextBlock");
    let title = &card["body"][0]["inlines"][0];
    assert_eq!(title["type"], "TextRun");
    assert_eq!(title["text"], "Pipeline deploy <api> failed");
    assert_eq!(title["color"], "Attention");
    assert_eq!(title["weight"], "Bolder");
    assert_eq!(
        card["body"][1]["inlines"][0]["text"],
        "step *test* exited 1 & stopped"
    );
    assert_eq!(card["body"][2]["type"], "Container");
    let branch = &card["body"][2]["items"][0]["inlines"];
    assert_eq!(branch[0]["text"], "Branch");
    assert_eq!(branch[0]["weight"], "Bolder");
    assert_eq!(branch[2]["text"], "main");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    check_failures(&server, teams.as_ref()).await;
}

#[tokio::test]
async fn google_chat_card() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/spaces/AAA/messages"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"name": "spaces/AAA/messages/1"})),
        )
        .mount(&server)
        .await;
    let chat = channel(&format!(
        "  g:\n    type: googlechat\n    webhook_url: \"{}/v1/spaces/AAA/messages?key=k&token=t\"\n",
        server.uri()
    ));
    assert_delivered(&chat.send(&notification(), "d-1").await.outcome);
    let request = only_request(&server).await;
    assert_eq!(request.url.query(), Some("key=k&token=t"));
    let body = json_of(&request);
    let card = &body["cardsV2"][0]["card"];
    assert!(
        card["header"]["title"]
            .as_str()
            .unwrap()
            .ends_with("Pipeline deploy <api> failed")
    );
    let widgets = card["sections"][0]["widgets"].as_array().unwrap();
    assert_eq!(
        widgets[0]["textParagraph"]["text"],
        "step *test* exited 1 &amp; stopped"
    );
    assert_eq!(widgets[1]["decoratedText"]["topLabel"], "Branch");
    assert_eq!(
        widgets[3]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"],
        "https://ci.example.com/runs/42"
    );
    check_failures(&server, chat.as_ref()).await;
}

#[tokio::test]
async fn discord_embed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/123/tok"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let discord = channel(&format!(
        "  d:\n    type: discord\n    webhook_url: {}/api/webhooks/123/tok\n",
        server.uri()
    ));
    assert_delivered(&discord.send(&notification(), "d-1").await.outcome);
    let body = json_of(&only_request(&server).await);
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let embed = &body["embeds"][0];
    assert_eq!(embed["description"], "step \\*test\\* exited 1 & stopped");
    assert_eq!(embed["url"], "https://ci.example.com/runs/42");
    assert_eq!(embed["color"], 0xd0_31_2d);
    assert_eq!(embed["fields"][0]["name"], "Branch");
    assert_eq!(embed["timestamp"], "2025-03-01T10:00:00Z");
    check_failures(&server, discord.as_ref()).await;

    // Discord's own JSON retry_after, when the header is missing.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"retry_after": 2.5, "global": false})),
        )
        .mount(&server)
        .await;
    let answer = discord.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Retry { retry_after: Some(d), .. } if d == Duration::from_millis(2500)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn bearychat_incoming() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook/abc"))
        .and(body_partial_json(json!({"markdown": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 0})))
        .mount(&server)
        .await;
    let bc = channel(&format!(
        "  b:\n    type: bearychat\n    webhook_url: {}/hook/abc\n",
        server.uri()
    ));
    assert_delivered(&bc.send(&notification(), "d-1").await.outcome);
    let body = json_of(&only_request(&server).await);
    assert_eq!(
        body["attachments"][0]["title"],
        "Pipeline deploy <api> failed"
    );
    assert_eq!(
        body["attachments"][0]["text"],
        "step *test* exited 1 & stopped\nBranch: main\nRun: 42"
    );
    assert_eq!(body["attachments"][0]["color"], "#d0312d");
    // A refusal inside a 200.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": 3, "error": "bad token"})),
        )
        .mount(&server)
        .await;
    let answer = bc.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Permanent { .. }),
        "{answer:?}"
    );
    check_failures(&server, bc.as_ref()).await;
}

#[tokio::test]
async fn flock_incoming() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/sendMessage/abc"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let flock = channel(&format!(
        "  f:\n    type: flock\n    webhook_url: {}/hooks/sendMessage/abc\n",
        server.uri()
    ));
    assert_delivered(&flock.send(&notification(), "d-1").await.outcome);
    let body = json_of(&only_request(&server).await);
    let flockml = body["flockml"].as_str().unwrap();
    assert!(flockml.starts_with("<flockml><b>"), "{flockml}");
    assert!(
        flockml.contains("Pipeline deploy &lt;api&gt; failed</b>"),
        "{flockml}"
    );
    assert!(flockml.contains("<br/><b>Branch</b>: main"), "{flockml}");
    assert!(flockml.ends_with("<a href=\"https://ci.example.com/runs/42\">Open</a></flockml>"));
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Pipeline deploy <api> failed")
    );
    check_failures(&server, flock.as_ref()).await;
}

#[tokio::test]
async fn telegram_send_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:ABC/sendMessage"))
        .and(body_partial_json(
            json!({"chat_id": "-100200", "parse_mode": "MarkdownV2"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {}})))
        .mount(&server)
        .await;
    let telegram = channel(&format!(
        "  tg:\n    type: telegram\n    token: \"123:ABC\"\n    chat_id: \"-100200\"\n    api_url: {}\n",
        server.uri()
    ));
    let answer = telegram.send(&notification(), "d-1").await;
    assert_delivered(&answer.outcome);
    assert!(!answer.response.contains("123:ABC"), "{}", answer.response);
    let body = json_of(&only_request(&server).await);
    assert_eq!(
        body["text"],
        "🔴 *Pipeline deploy <api\\> failed*\n\nstep \\*test\\* exited 1 & stopped\n\n*Branch:* main\n*Run:* 42\n\n[Open](https://ci.example.com/runs/42)"
    );
    assert!(!telegram.preview(&notification()).unwrap().contains("ABC"));
    check_failures(&server, telegram.as_ref()).await;

    // Telegram's 429 names the wait in its JSON.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 11",
            "parameters": {"retry_after": 11}
        })))
        .mount(&server)
        .await;
    let answer = telegram.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(11)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn pagerduty_trigger_and_resolve_share_a_dedup_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success", "message": "Event processed", "dedup_key": "signalbox/pipeline/deploy"})))
        .mount(&server)
        .await;
    let pd = channel(&format!(
        "  pd:\n    type: pagerduty\n    routing_key: R0UTINGKEY\n    api_url: {}\n",
        server.uri()
    ));
    assert_delivered(&pd.send(&notification(), "d-1").await.outcome);
    let mut resolved = notification();
    resolved.severity = Severity::Resolved;
    assert_delivered(&pd.send(&resolved, "d-2").await.outcome);
    let requests = server.received_requests().await.unwrap();
    let trigger = json_of(&requests[0]);
    assert_eq!(trigger["routing_key"], "R0UTINGKEY");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "signalbox/pipeline/deploy");
    assert_eq!(
        trigger["payload"]["summary"],
        "Pipeline deploy <api> failed"
    );
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "signalbox");
    assert_eq!(trigger["payload"]["custom_details"]["Branch"], "main");
    assert_eq!(
        trigger["links"][0]["href"],
        "https://ci.example.com/runs/42"
    );
    let resolve = json_of(&requests[1]);
    assert_eq!(
        resolve,
        json!({"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "signalbox/pipeline/deploy"})
    );
    assert!(!pd.preview(&notification()).unwrap().contains("R0UTINGKEY"));
    check_failures(&server, pd.as_ref()).await;
}

#[tokio::test]
async fn twilio_messages_one_per_recipient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC123/Messages.json"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        // Basic base64("AC123:tw-secret")
        .and(header("authorization", "Basic QUMxMjM6dHctc2VjcmV0"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})),
        )
        .mount(&server)
        .await;
    let twilio = channel(&format!(
        "  sms:\n    type: twilio\n    account_sid: AC123\n    auth_token: tw-secret\n    from: \"+15550000\"\n    to: [\"+15551111\", \"+15552222\"]\n    api_url: {}\n",
        server.uri()
    ));
    let mut long = notification();
    long.text = "x".repeat(2_000);
    assert_delivered(&twilio.send(&long, "d-1").await.outcome);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let mut recipients = Vec::new();
    for request in &requests {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("From"), "+15550000");
        let body = get("Body");
        assert_eq!(body.chars().count(), 1_600);
        assert!(body.ends_with("… [truncated]"));
        assert!(body.starts_with("Pipeline deploy <api> failed\n\nxxx"));
        recipients.push(get("To"));
    }
    assert_eq!(recipients, ["+15551111", "+15552222"]);
    assert!(
        !twilio
            .preview(&notification())
            .unwrap()
            .contains("tw-secret")
    );
    check_failures(&server, twilio.as_ref()).await;
}

/// The recipients of the Twilio requests `server` received, in order.
async fn twilio_recipients(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            url::form_urlencoded::parse(&r.body)
                .into_owned()
                .find(|(k, _)| k == "To")
                .map(|(_, v)| v)
        })
        .collect()
}

#[tokio::test]
async fn twilio_retry_after_a_partial_failure_skips_recipients_who_have_it() {
    let server = MockServer::start().await;
    // The second recipient's first request fails; everything else is accepted.
    Mock::given(method("POST"))
        .and(body_string_contains("To=%2B15552222"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1"})))
        .mount(&server)
        .await;
    let twilio = channel(&format!(
        "  sms:\n    type: twilio\n    account_sid: AC123\n    auth_token: tw-secret\n    from: \"+15550000\"\n    to: [\"+15551111\", \"+15552222\"]\n    api_url: {}\n",
        server.uri()
    ));
    let first = twilio.send(&notification(), "d-7").await;
    assert!(
        matches!(
            first.outcome,
            AttemptOutcome::Retry {
                status: Some(503),
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(twilio_recipients(&server).await, ["+15551111", "+15552222"]);
    // The retry of the same delivery goes only to the recipient who did not get it.
    let retry = twilio.send(&notification(), "d-7").await;
    assert_delivered(&retry.outcome);
    assert!(
        retry.response.contains("earlier attempt"),
        "{}",
        retry.response
    );
    assert_eq!(
        twilio_recipients(&server).await,
        ["+15551111", "+15552222", "+15552222"]
    );
    // Another delivery goes to everyone again, and so does a repeat of a finished one.
    assert_delivered(&twilio.send(&notification(), "d-8").await.outcome);
    assert_delivered(&twilio.send(&notification(), "d-7").await.outcome);
    assert_eq!(twilio_recipients(&server).await.len(), 7);
}

#[tokio::test]
async fn unreachable_provider_is_retried_without_leaking_the_url() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let slack = channel(&format!(
        "  s:\n    type: slack\n    webhook_url: http://127.0.0.1:{port}/services/SECRETPATH\n"
    ));
    let answer = slack.send(&notification(), "d-1").await;
    match &answer.outcome {
        AttemptOutcome::Retry {
            error,
            status: None,
            ..
        } => {
            assert!(!error.contains("SECRETPATH"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

/// The notify target end to end: a pipeline event, the default template, Slack.
#[tokio::test]
async fn notify_target_renders_the_default_template() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let yaml = format!(
        "channels:\n  ops:\n    type: slack\n    webhook_url: {}/hook\nrules:\n  ci:\n    pattern: {{}}\n    targets:\n      - notify: ops\n      - notify: ops\n        title: \"{{{{ event.detail.pipeline }}}} is red\"\n        message: \"see {{{{ event.detail.url }}}}\"\n",
        server.uri()
    );
    let loaded = signalbox_config::load_str(&yaml, Path::new("t.yaml")).unwrap();
    let ctx = BuildContext::new()
        .unwrap()
        .with_channels(&loaded.config.channels)
        .unwrap();
    let rule = &loaded.config.rules["ci"];
    let event = json!({
        "id": "e1", "source": "signalbox.pipeline", "detail-type": "Pipeline Failed",
        "detail": {"pipeline": "deploy", "run_id": "7", "url": "https://ci/7", "error": "tests failed"}
    });
    let request = DeliveryRequest {
        delivery_id: "d-1",
        event: &event,
        rule: "ci",
        attempt: 1,
        accepted_at: 0,
    };
    for (i, target) in rule.targets.iter().enumerate() {
        let built = signalbox_targets::build("ci", i, target, &ctx).unwrap();
        assert_eq!(built.kind(), "notify");
        assert_delivered(&built.deliver(&request).await);
    }
    let requests = server.received_requests().await.unwrap();
    let default = json_of(&requests[0]);
    assert_eq!(default["text"], "Pipeline deploy failed");
    assert_eq!(default["blocks"][1]["text"]["text"], "tests failed");
    assert_eq!(default["blocks"][2]["fields"][0]["text"], "*Run*\n7");
    let custom = json_of(&requests[1]);
    assert_eq!(custom["text"], "deploy is red");
    assert_eq!(custom["blocks"][1]["text"]["text"], "see https://ci/7");
}
