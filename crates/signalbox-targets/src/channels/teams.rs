//! Microsoft Teams through a Workflows (Power Automate) "post to a channel when a webhook
//! request is received" URL: a `message` carrying one Adaptive Card. Workflows answer
//! `202 Accepted`.

use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::http::{HttpApi, HttpChannel, HttpRequest, parse_url, shown_webhook};
use super::markup::truncate;
use super::{Notification, Severity};

/// Adaptive Card text has no escape syntax; very long text is cut so the card stays under
/// Teams' 28 KB message limit.
const TEXT_MAX: usize = 10_000;

/// The Teams API side.
pub struct TeamsApi {
    url: reqwest::Url,
}

/// The Teams channel.
pub type Teams = HttpChannel<TeamsApi>;

impl Teams {
    /// Builds from `channels.<name>` (type `teams`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Teams, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("teams needs webhook_url")?;
        Ok(HttpChannel::over(
            TeamsApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The Adaptive Card for `n`.
pub fn card(n: &Notification) -> Value {
    let color = match n.severity {
        Severity::Critical => "Attention",
        Severity::Warning => "Warning",
        Severity::Resolved => "Good",
        Severity::Info => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock", "text": n.title, "weight": "Bolder", "size": "Medium",
        "color": color, "wrap": true
    })];
    if !n.text.is_empty() {
        body.push(json!({"type": "TextBlock", "text": truncate(&n.text, TEXT_MAX), "wrap": true}));
    }
    if !n.fields.is_empty() {
        let facts: Vec<Value> = n
            .fields
            .iter()
            .map(|f| json!({"title": f.name, "value": f.value}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if let Some(link) = &n.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open", "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]
    })
}

impl HttpApi for TeamsApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Teams
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        Ok(vec![HttpRequest::post_json(
            self.url.clone(),
            shown_webhook(&self.url),
            card(n),
        )])
    }
}
