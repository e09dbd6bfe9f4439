//! Bearychat incoming webhook: `text` (the title) and one attachment with the text, the
//! fields and the link, sent with `markdown: false` so nothing from an event is formatted.
//! Bearychat answers `200 {"code":0}`; another `code` is a refusal.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::Notification;
use super::http::{
    HttpApi, HttpChannel, HttpRequest, default_classify, json_body, parse_url, shown_webhook,
};
use crate::outcome::AttemptOutcome;

/// The Bearychat API side.
pub struct BearychatApi {
    url: reqwest::Url,
}

/// The Bearychat channel.
pub type Bearychat = HttpChannel<BearychatApi>;

impl Bearychat {
    /// Builds from `channels.<name>` (type `bearychat`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Bearychat, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("bearychat needs webhook_url")?;
        Ok(HttpChannel::over(
            BearychatApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The webhook body for `n`.
pub fn message(n: &Notification) -> Value {
    let mut text = n.text.clone();
    for field in &n.fields {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{}: {}", field.name, field.value));
    }
    let mut attachment = json!({
        "title": n.title,
        "text": text,
        "color": format!("#{:06x}", n.severity.color()),
    });
    if let Some(link) = &n.link {
        attachment["url"] = json!(link);
    }
    json!({
        "text": format!("{} {}", n.severity.emoji(), n.title),
        "markdown": false,
        "notification": n.title,
        "attachments": [attachment],
    })
}

impl HttpApi for BearychatApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Bearychat
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        Ok(vec![HttpRequest::post_json(
            self.url.clone(),
            shown_webhook(&self.url),
            message(n),
        )])
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
        let outcome = default_classify(status, headers, body);
        if let AttemptOutcome::Delivered { .. } = outcome
            && let Some(answer) = json_body(body)
            && let Some(code) = answer["code"].as_i64()
            && code != 0
        {
            return AttemptOutcome::Permanent {
                error: format!(
                    "bearychat: code {code}: {}",
                    answer["error"].as_str().unwrap_or_default()
                ),
                status: Some(status),
            };
        }
        outcome
    }
}
