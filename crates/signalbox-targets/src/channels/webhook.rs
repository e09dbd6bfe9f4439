//! `webhook` channel: the notification as JSON to any URL, with the delivery id header, for
//! receivers of one's own.

use serde_json::{Value, json};
use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::Notification;
use super::http::{HttpApi, HttpChannel, HttpRequest, parse_url, shown_webhook};
use crate::webhook::DELIVERY_HEADER;

/// The webhook API side.
pub struct WebhookApi {
    url: reqwest::Url,
}

/// The webhook channel.
pub type WebhookChannel = HttpChannel<WebhookApi>;

impl WebhookChannel {
    /// Builds from `channels.<name>` (type `webhook`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<WebhookChannel, String> {
        let url = config
            .webhook_url
            .as_ref()
            .ok_or("webhook needs webhook_url")?;
        Ok(HttpChannel::over(
            WebhookApi {
                url: parse_url(url.expose(), "webhook_url")?,
            },
            http,
            config.timeout,
        ))
    }
}

/// The JSON body: every part of the notification, unformatted.
pub fn body(n: &Notification) -> Value {
    json!({
        "title": n.title,
        "text": n.text,
        "fields": n.fields.iter().map(|f| json!({"name": f.name, "value": f.value})).collect::<Vec<_>>(),
        "link": n.link,
        "severity": n.severity.as_str(),
        "dedup_key": n.dedup_key,
        "time": n.time,
    })
}

impl HttpApi for WebhookApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Webhook
    }

    fn requests(&self, n: &Notification, key: &str) -> Result<Vec<HttpRequest>, String> {
        let mut request =
            HttpRequest::post_json(self.url.clone(), shown_webhook(&self.url), body(n));
        request.headers.push((DELIVERY_HEADER, Secret::new(key)));
        Ok(vec![request])
    }
}
