//! Slack: an incoming webhook (`webhook_url`), or a bot token with `chat.postMessage`
//! (`token` + `channel`). Block Kit: a header, the text and the fields as mrkdwn sections,
//! and a button to the link.
//!
//! Webhooks answer `200 ok` or a 4xx with a reason (`invalid_payload`, `no_service`…);
//! `chat.postMessage` answers `200` with `{"ok":false,"error":…}` on failure, `ratelimited`
//! included. Both send `429` with `Retry-After` when rate limited.

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::Notification;
use super::http::{
    HttpApi, HttpChannel, HttpRequest, api_url, default_classify, json_body, parse_url,
    shown_webhook,
};
use super::markup::{slack_mrkdwn, truncate};
use crate::outcome::AttemptOutcome;

/// The Web API root.
pub const DEFAULT_API: &str = "https://slack.com/api";

/// Header text is plain text of at most 150 characters; a section's text at most 3000; a
/// section at most 10 fields of at most 2000.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELDS_MAX: usize = 10;
const FIELD_MAX: usize = 2000;

enum Mode {
    Webhook(Url),
    Bot {
        url: Url,
        token: Secret,
        channel: String,
    },
}

/// The Slack API side of the channel.
pub struct SlackApi {
    mode: Mode,
}

/// The Slack channel.
pub type Slack = HttpChannel<SlackApi>;

impl Slack {
    /// Builds from `channels.<name>` (type `slack`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Slack, String> {
        let mode = match (&config.webhook_url, &config.token, &config.channel) {
            (Some(url), _, _) => Mode::Webhook(parse_url(url.expose(), "webhook_url")?),
            (None, Some(token), Some(channel)) => Mode::Bot {
                url: api_url(
                    config.api_url.as_deref().unwrap_or(DEFAULT_API),
                    "/chat.postMessage",
                )?,
                token: token.clone(),
                channel: channel.clone(),
            },
            _ => return Err("slack needs webhook_url, or token with channel".into()),
        };
        Ok(HttpChannel::over(SlackApi { mode }, http, config.timeout))
    }
}

/// The Block Kit message for `n` (without `channel`).
pub fn message(n: &Notification) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&format!("{} {}", n.severity.emoji(), n.title), HEADER_MAX), "emoji": true}
    })];
    if !n.text.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&slack_mrkdwn(&n.text), SECTION_MAX)}
        }));
    }
    if !n.fields.is_empty() {
        let fields: Vec<Value> = n
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                json!({"type": "mrkdwn", "text": truncate(&format!("*{}*\n{}", slack_mrkdwn(&f.name), slack_mrkdwn(&f.value)), FIELD_MAX)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(link) = &n.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link}]
        }));
    }
    let mut context =
        vec![json!({"type": "mrkdwn", "text": format!("signalbox · {}", n.severity.as_str())})];
    if let Some(time) = &n.time {
        context.push(json!({"type": "mrkdwn", "text": slack_mrkdwn(time)}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    json!({
        // The fallback shown in notifications and by clients without Block Kit.
        "text": slack_mrkdwn(&n.title),
        "blocks": blocks,
    })
}

impl HttpApi for SlackApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Slack
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        let mut body = message(n);
        Ok(vec![match &self.mode {
            Mode::Webhook(url) => HttpRequest::post_json(url.clone(), shown_webhook(url), body),
            Mode::Bot {
                url,
                token,
                channel,
            } => {
                body["channel"] = json!(channel);
                let mut request = HttpRequest::post_json(url.clone(), url.to_string(), body);
                request.headers.push((
                    "authorization",
                    Secret::new(format!("Bearer {}", token.expose())),
                ));
                request
            }
        }])
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
        let outcome = default_classify(status, headers, body);
        // chat.postMessage says "failed" inside a 200.
        if let (Mode::Bot { .. }, AttemptOutcome::Delivered { .. }) = (&self.mode, &outcome)
            && let Some(answer) = json_body(body)
            && answer["ok"] == json!(false)
        {
            let error = answer["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned();
            return match error.as_str() {
                "ratelimited"
                | "internal_error"
                | "fatal_error"
                | "service_unavailable"
                | "request_timeout" => AttemptOutcome::Retry {
                    error: format!("slack: {error}"),
                    status: Some(status),
                    retry_after: None,
                },
                _ => AttemptOutcome::Permanent {
                    error: format!("slack: {error}"),
                    status: Some(status),
                },
            };
        }
        outcome
    }
}
