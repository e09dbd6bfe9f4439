//! Telegram bot API `sendMessage` to `chat_id`, formatted as MarkdownV2 with every special
//! character escaped. Telegram answers `{"ok":true,…}`, or `{"ok":false,"error_code":…,
//! "description":…}` with the same HTTP status; a `429` carries
//! `parameters.retry_after` (seconds).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::Notification;
use super::http::{HttpApi, HttpChannel, HttpRequest, default_classify, json_body, parse_url};
use super::markup::{telegram_link_url, telegram_markdown_v2, truncate};
use crate::outcome::AttemptOutcome;

/// The bot API root.
pub const DEFAULT_API: &str = "https://api.telegram.org";

/// A message is at most 4096 characters after entity parsing; the parts are cut before
/// escaping so that an escape is never split.
const TEXT_MAX: usize = 3_000;

/// The Telegram API side.
pub struct TelegramApi {
    base: String,
    token: Secret,
    chat_id: String,
}

/// The Telegram channel.
pub type Telegram = HttpChannel<TelegramApi>;

impl Telegram {
    /// Builds from `channels.<name>` (type `telegram`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Telegram, String> {
        let token = config.token.clone().ok_or("telegram needs token")?;
        let chat_id = config.chat_id.clone().ok_or("telegram needs chat_id")?;
        let base = config
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_API)
            .trim_end_matches('/')
            .to_owned();
        parse_url(&base, "api_url")?;
        Ok(HttpChannel::over(
            TelegramApi {
                base,
                token,
                chat_id,
            },
            http,
            config.timeout,
        ))
    }
}

/// The MarkdownV2 text for `n`.
pub fn text(n: &Notification) -> String {
    let mut out = format!(
        "{} *{}*",
        n.severity.emoji(),
        telegram_markdown_v2(&truncate(&n.title, 256))
    );
    if !n.text.is_empty() {
        out.push_str("\n\n");
        out.push_str(&telegram_markdown_v2(&truncate(&n.text, TEXT_MAX)));
    }
    if !n.fields.is_empty() {
        out.push('\n');
        for field in &n.fields {
            out.push_str(&format!(
                "\n*{}:* {}",
                telegram_markdown_v2(&field.name),
                telegram_markdown_v2(&truncate(&field.value, 200))
            ));
        }
    }
    if let Some(link) = &n.link {
        out.push_str(&format!("\n\n[Open]({})", telegram_link_url(link)));
    }
    out
}

/// The `sendMessage` body for `n`.
pub fn message(chat_id: &str, n: &Notification) -> Value {
    json!({
        "chat_id": chat_id,
        "text": text(n),
        "parse_mode": "MarkdownV2",
        "link_preview_options": {"is_disabled": true},
    })
}

impl HttpApi for TelegramApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Telegram
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        // The token is part of the path: the shown URL hides it.
        let url = parse_url(
            &format!("{}/bot{}/sendMessage", self.base, self.token.expose()),
            "api_url",
        )?;
        let shown = format!("{}/bot***/sendMessage", self.base);
        Ok(vec![HttpRequest::post_json(
            url,
            shown,
            message(&self.chat_id, n),
        )])
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
        let answer = json_body(body);
        let description = answer
            .as_ref()
            .and_then(|a| a["description"].as_str())
            .unwrap_or(body);
        let mut outcome = default_classify(status, headers, description);
        if let AttemptOutcome::Retry {
            retry_after: retry_after @ None,
            ..
        } = &mut outcome
            && let Some(seconds) = answer
                .as_ref()
                .and_then(|a| a["parameters"]["retry_after"].as_u64())
        {
            *retry_after = Some(Duration::from_secs(seconds));
        }
        outcome
    }
}
