//! The `notify` target: renders an event into a [`Notification`] (the target's `title` and
//! `message` templates, else the default for the event's kind) and sends it through a channel.
//! With `digest:`, the events of a window go out as one message ([`digest`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use signalbox_config::TargetConfig;

use crate::channels::{Channel, Notification};
use crate::outcome::AttemptOutcome;
use crate::payload::Payload;
use crate::template::Template;
use crate::{DeliveryRequest, Rendered, Target};

pub mod defaults;
pub mod digest;

use digest::Digest;

/// Sends each delivery's event as a notification through one channel.
pub struct NotifyTarget {
    channel_name: String,
    channel: Arc<dyn Channel>,
    title: Option<Template>,
    /// `message:` or `input_template`; `None` for the default text.
    message: Option<Payload>,
    dedup_key: Option<Template>,
    digest: Option<Digest>,
}

impl NotifyTarget {
    /// A notify target for `config` (whose kind is `notify: <channel_name>`) sending through
    /// `channel`.
    pub fn new(
        config: &TargetConfig,
        channel_name: &str,
        channel: Arc<dyn Channel>,
    ) -> Result<NotifyTarget, String> {
        let compile = |source: &Option<String>, what: &str| {
            source
                .as_deref()
                .map(|s| Template::compile(s).map_err(|e| format!("notify {what} {e}")))
                .transpose()
        };
        let message = if config.input_template.is_some() || config.message.is_some() {
            Some(Payload::compile(
                config,
                config.message.as_deref(),
                "notify message",
            )?)
        } else {
            None
        };
        Ok(NotifyTarget {
            channel_name: channel_name.to_owned(),
            channel,
            title: compile(&config.title, "title")?,
            message,
            dedup_key: compile(&config.dedup_key, "dedup_key")?,
            digest: config.digest.map(Digest::new),
        })
    }

    /// The notification for one delivery: the defaults for the event, with the target's
    /// templates in their place when set. A template that fails makes the delivery dead.
    pub fn notification(&self, req: &DeliveryRequest<'_>) -> Result<Notification, String> {
        let mut n = defaults::notification(req.event, req.rule);
        if let Some(title) = &self.title {
            // A title is one line.
            let title = title.render(req.event, req.rule)?;
            n.title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        if let Some(message) = &self.message {
            n.text = message.render(req)?.trim().to_owned();
            // The user's text says what matters; the default facts would repeat or contradict it.
            n.fields.clear();
        }
        if let Some(key) = &self.dedup_key {
            n.dedup_key = key.render(req.event, req.rule)?.trim().to_owned();
        }
        Ok(n)
    }
}

#[async_trait]
impl Target for NotifyTarget {
    fn kind(&self) -> &'static str {
        "notify"
    }

    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let notification = match self.notification(req) {
            Ok(n) => n,
            Err(error) => {
                return AttemptOutcome::Permanent {
                    error,
                    status: None,
                };
            }
        };
        match &self.digest {
            Some(digest) => {
                digest
                    .deliver(req.delivery_id, notification, self.channel.as_ref())
                    .await
            }
            None => {
                let answer = self.channel.send(&notification, req.delivery_id).await;
                answer.outcome
            }
        }
    }

    fn render(&self, req: &DeliveryRequest<'_>) -> Result<Rendered, String> {
        let notification = self.notification(req)?;
        let mut destination = format!("notify {} ({})", self.channel_name, self.channel.kind());
        if let Some(digest) = &self.digest {
            destination.push_str(&format!(", digest {}", digest.describe()));
        }
        Ok(Rendered {
            destination,
            body: self.channel.preview(&notification)?,
        })
    }
}

/// Renders `event` with the default notification for rule `rule` (for `notify test`).
pub fn default_notification(event: &Value, rule: &str) -> Notification {
    defaults::notification(event, rule)
}
