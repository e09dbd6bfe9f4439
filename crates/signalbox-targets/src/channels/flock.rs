//! Flock incoming webhook: a message with plain `text` and its FlockML rendering (title in
//! bold, escaped text, fields, link). Flock answers `200`.

use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::Notification;
use super::http::{HttpApi, HttpChannel, HttpRequest, parse_url, shown_webhook};
use super::markup::{html, html_lines, truncate};

/// Flock messages are limited to 4,000 characters of text.
const TEXT_MAX: usize = 4_000;

/// The Flock API side.
pub struct FlockApi {
    url: reqwest::Url,
}

/// The Flock channel.
pub type Flock = HttpChannel<FlockApi>;

impl Flock {
    /// Builds from `channels.<name>` (type `flock`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Flock, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("flock needs webhook_url")?;
        Ok(HttpChannel::over(
            FlockApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The webhook body for `n`.
pub fn message(n: &Notification) -> Value {
    let mut flockml = format!(
        "<flockml><b>{}</b>",
        html(&format!("{} {}", n.severity.emoji(), n.title))
    );
    if !n.text.is_empty() {
        flockml.push_str("<br/>");
        flockml.push_str(&html_lines(&truncate(&n.text, TEXT_MAX / 2)).replace("<br>", "<br/>"));
    }
    for field in &n.fields {
        flockml.push_str(&format!(
            "<br/><b>{}</b>: {}",
            html(&field.name),
            html(&field.value)
        ));
    }
    if let Some(link) = &n.link {
        flockml.push_str(&format!("<br/><a href=\"{}\">Open</a>", html(link)));
    }
    flockml.push_str("</flockml>");
    json!({
        "text": truncate(&n.plain_text(), TEXT_MAX),
        "flockml": flockml,
    })
}

impl HttpApi for FlockApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Flock
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        Ok(vec![HttpRequest::post_json(
            self.url.clone(),
            shown_webhook(&self.url),
            message(n),
        )])
    }
}
