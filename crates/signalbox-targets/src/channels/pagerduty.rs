//! PagerDuty Events API v2 (`POST /v2/enqueue`): a `trigger` with summary, source, severity
//! and custom details, or a `resolve` with the same `dedup_key` when the notification says the
//! condition cleared ([`Severity::Resolved`]). PagerDuty answers `202`, `400` for an invalid
//! event, `429` when throttled, `5xx` for its own trouble.

use serde_json::{Map, Value, json};
use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::http::{HttpApi, HttpChannel, HttpRequest, api_url};
use super::markup::truncate;
use super::{Notification, Severity};

/// The Events API root.
pub const DEFAULT_API: &str = "https://events.pagerduty.com";

/// `payload.summary` is at most 1024 characters; `dedup_key` at most 255.
const SUMMARY_MAX: usize = 1024;
const DEDUP_KEY_MAX: usize = 255;

/// The PagerDuty API side.
pub struct PagerDutyApi {
    url: reqwest::Url,
    routing_key: Secret,
}

/// The PagerDuty channel.
pub type PagerDuty = HttpChannel<PagerDutyApi>;

impl PagerDuty {
    /// Builds from `channels.<name>` (type `pagerduty`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<PagerDuty, String> {
        let routing_key = config
            .routing_key
            .clone()
            .ok_or("pagerduty needs routing_key")?;
        let url = api_url(
            config.api_url.as_deref().unwrap_or(DEFAULT_API),
            "/v2/enqueue",
        )?;
        Ok(HttpChannel::over(
            PagerDutyApi { url, routing_key },
            http,
            config.timeout,
        ))
    }
}

/// The event for `n`; `routing_key` is the integration key.
pub fn event(routing_key: &str, n: &Notification) -> Value {
    let dedup_key = truncate(
        if n.dedup_key.is_empty() {
            &n.title
        } else {
            &n.dedup_key
        },
        DEDUP_KEY_MAX,
    );
    if n.severity == Severity::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let severity = match n.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info | Severity::Resolved => "info",
    };
    let mut details = Map::new();
    if !n.text.is_empty() {
        details.insert("text".into(), json!(n.text));
    }
    for field in &n.fields {
        details.insert(field.name.clone(), json!(field.value));
    }
    let mut payload = json!({
        "summary": truncate(&n.title, SUMMARY_MAX),
        "source": "signalbox",
        "severity": severity,
        "custom_details": details,
    });
    if let Some(time) = &n.time {
        payload["timestamp"] = json!(time);
    }
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "signalbox",
    });
    if let Some(link) = &n.link {
        event["links"] = json!([{"href": link, "text": "Open"}]);
        event["client_url"] = json!(link);
    }
    event
}

impl HttpApi for PagerDutyApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Pagerduty
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        let mut request = HttpRequest::post_json(
            self.url.clone(),
            self.url.to_string(),
            event(self.routing_key.expose(), n),
        );
        request.redact.push(self.routing_key.clone());
        Ok(vec![request])
    }
}
