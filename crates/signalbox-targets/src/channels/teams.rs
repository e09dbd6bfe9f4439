//! Microsoft Teams through a Workflows (Power Automate) "post to a channel when a webhook
//! request is received" URL: a `message` carrying one Adaptive Card whose text is all plain
//! `TextRun`s. Workflows answer `202 Accepted`.

use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType};

use super::http::{HttpApi, HttpChannel, HttpRequest, parse_url, shown_webhook};
use super::markup::{teams_text, truncate};
use super::{Notification, Severity};

/// Very long text is cut so the card stays under Teams' 28 KB message limit.
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

/// One `TextRun`: plain text (Adaptive Cards never parse Markdown in a `TextRun`), guarded
/// against the `{{DATE()}}`/`{{TIME()}}` text functions by [`teams_text`].
fn run(text: &str) -> Value {
    json!({"type": "TextRun", "text": teams_text(text)})
}

/// The Adaptive Card for `n`.
///
/// Every piece of event text is a `TextRun` inside a `RichTextBlock`: unlike `TextBlock` and
/// `FactSet` (whose text Teams renders as Markdown — `**bold**`, `_italic_`, `[links](…)`,
/// lists — with no escape syntax that works on every client), a `TextRun` is shown as
/// written, line breaks included.
pub fn card(n: &Notification) -> Value {
    let color = match n.severity {
        Severity::Critical => "Attention",
        Severity::Warning => "Warning",
        Severity::Resolved => "Good",
        Severity::Info => "Default",
    };
    let mut title = run(&n.title);
    title["weight"] = json!("Bolder");
    title["size"] = json!("Medium");
    title["color"] = json!(color);
    let mut body = vec![json!({"type": "RichTextBlock", "inlines": [title]})];
    if !n.text.is_empty() {
        body.push(json!({"type": "RichTextBlock", "inlines": [run(&truncate(&n.text, TEXT_MAX))]}));
    }
    if !n.fields.is_empty() {
        // One line per field, `Name: value` with the name in bold (a FactSet would render its
        // values as Markdown).
        let rows: Vec<Value> = n
            .fields
            .iter()
            .map(|f| {
                let mut name = run(&f.name);
                name["weight"] = json!("Bolder");
                json!({"type": "RichTextBlock", "spacing": "None", "inlines": [
                    name, {"type": "TextRun", "text": ": "}, run(&f.value)
                ]})
            })
            .collect();
        body.push(json!({"type": "Container", "items": rows}));
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
