//! Google Chat incoming webhook: a `cardsV2` card (header, the text and fields as card
//! widgets whose text is HTML-escaped, a button to the link). Google Chat answers `200` with
//! the created message; `429` when over its per-space quota.

use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::Notification;
use super::http::{HttpApi, HttpChannel, HttpRequest, parse_url, shown_webhook};
use super::markup::{html_lines, truncate};

/// A message is at most 32,000 bytes; the text is cut well below.
const TEXT_MAX: usize = 8_000;

/// The Google Chat API side.
pub struct GoogleChatApi {
    url: reqwest::Url,
}

/// The Google Chat channel.
pub type GoogleChat = HttpChannel<GoogleChatApi>;

impl GoogleChat {
    /// Builds from `channels.<name>` (type `googlechat`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<GoogleChat, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("googlechat needs webhook_url")?;
        Ok(HttpChannel::over(
            GoogleChatApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The message for `n`.
pub fn message(n: &Notification) -> Value {
    let mut widgets = Vec::new();
    if !n.text.is_empty() {
        widgets.push(json!({"textParagraph": {"text": html_lines(&truncate(&n.text, TEXT_MAX))}}));
    }
    for field in &n.fields {
        widgets.push(json!({"decoratedText": {
            "topLabel": super::markup::html(&field.name),
            "text": html_lines(&field.value),
            "wrapText": true,
        }}));
    }
    if let Some(link) = &n.link {
        widgets.push(json!({"buttonList": {"buttons": [
            {"text": "Open", "onClick": {"openLink": {"url": link}}}
        ]}}));
    }
    let mut card = json!({
        "header": {
            "title": format!("{} {}", n.severity.emoji(), n.title),
            "subtitle": format!("signalbox · {}", n.severity.as_str()),
        }
    });
    if !widgets.is_empty() {
        card["sections"] = json!([{"widgets": widgets}]);
    }
    json!({"cardsV2": [{"cardId": "signalbox", "card": card}]})
}

impl HttpApi for GoogleChatApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Googlechat
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        Ok(vec![HttpRequest::post_json(
            self.url.clone(),
            shown_webhook(&self.url),
            message(n),
        )])
    }
}
