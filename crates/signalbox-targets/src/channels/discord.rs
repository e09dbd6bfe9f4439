//! Discord webhook: one embed (title, escaped description, fields, link, colour) with
//! mentions disabled. Discord answers `204` (or `200` with `?wait=true`), and `429` with
//! `Retry-After` and a JSON `retry_after` in seconds.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::Notification;
use super::http::{
    HttpApi, HttpChannel, HttpRequest, default_classify, json_body, parse_url, shown_webhook,
};
use super::markup::{discord_markdown, truncate};
use crate::outcome::AttemptOutcome;

/// Embed limits: title 256, description 4096, 25 fields of name 256 and value 1024.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;

/// The Discord API side.
pub struct DiscordApi {
    url: reqwest::Url,
}

/// The Discord channel.
pub type Discord = HttpChannel<DiscordApi>;

impl Discord {
    /// Builds from `channels.<name>` (type `discord`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Discord, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("discord needs webhook_url")?;
        Ok(HttpChannel::over(
            DiscordApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The webhook body for `n`.
pub fn message(n: &Notification) -> Value {
    let mut embed = json!({
        "title": truncate(&format!("{} {}", n.severity.emoji(), n.title), TITLE_MAX),
        "color": n.severity.color(),
    });
    if !n.text.is_empty() {
        // Cut before escaping so an escape is never split.
        embed["description"] = json!(truncate(
            &discord_markdown(&truncate(&n.text, DESCRIPTION_MAX / 2)),
            DESCRIPTION_MAX
        ));
    }
    if !n.fields.is_empty() {
        embed["fields"] = n
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                json!({
                    "name": truncate(&f.name, FIELD_NAME_MAX),
                    "value": discord_markdown(&truncate(&f.value, FIELD_VALUE_MAX / 2)),
                    "inline": f.value.chars().count() <= 40,
                })
            })
            .collect();
    }
    if let Some(link) = &n.link {
        embed["url"] = json!(link);
    }
    if let Some(time) = &n.time {
        embed["timestamp"] = json!(time);
    }
    json!({
        "username": "signalbox",
        "embeds": [embed],
        // Text from events must never ping anyone.
        "allowed_mentions": {"parse": []},
    })
}

impl HttpApi for DiscordApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Discord
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        Ok(vec![HttpRequest::post_json(
            self.url.clone(),
            shown_webhook(&self.url),
            message(n),
        )])
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
        let mut outcome = default_classify(status, headers, body);
        // Without a Retry-After header, Discord's JSON `retry_after` (seconds) says when.
        if let AttemptOutcome::Retry {
            retry_after: retry_after @ None,
            ..
        } = &mut outcome
            && let Some(seconds) = json_body(body).and_then(|b| b["retry_after"].as_f64())
            && seconds.is_finite()
            && seconds >= 0.0
        {
            *retry_after = Some(std::time::Duration::from_secs_f64(seconds));
        }
        outcome
    }
}
