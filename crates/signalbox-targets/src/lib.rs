#![forbid(unsafe_code)]
//! Targets: where deliveries go. Each kind implements [`Target`]; [`build`] is the one registry
//! that turns a target's config into a runnable target.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use signalbox_config::{TargetConfig, TargetKind};

pub mod channels;
mod log;
pub mod notify;
mod outcome;
mod payload;
pub mod sigv4;
pub mod sinks;
pub mod template;
mod webhook;

pub use channels::{Answer, Channel, Channels, Notification, Severity};
pub use log::LogTarget;
pub use notify::NotifyTarget;
pub use outcome::{AttemptOutcome, classify_status, parse_retry_after};
pub use payload::Payload;
pub use sinks::cloudwatch::CloudWatchTarget;
pub use sinks::datadog::DatadogTarget;
pub use webhook::WebhookTarget;

/// One attempt to deliver one event through one target.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryRequest<'a> {
    /// Stable across attempts; sent as `X-Signalbox-Delivery`.
    pub delivery_id: &'a str,
    /// The event in its EventBridge shape.
    pub event: &'a Value,
    /// The rule that matched.
    pub rule: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the event was accepted (`<aws.events.event.ingestion-time>` in input templates).
    pub accepted_at: signalbox_core::time::Millis,
}

/// What a delivery would send, rendered exactly as [`Target::deliver`] renders it, for showing
/// without sending (`signalbox rules explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Where it would go, e.g. `POST https://hooks.example.com/x` or `log at warn`.
    pub destination: String,
    /// The request body or log message.
    pub body: String,
}

/// A place deliveries go: a webhook, a log line, later notification channels and sinks.
#[async_trait]
pub trait Target: Send + Sync {
    /// The config key of this kind (`webhook`, `log`).
    fn kind(&self) -> &'static str;
    /// Makes one attempt. Never panics on bad input; every failure is an [`AttemptOutcome`].
    async fn deliver(&self, request: &DeliveryRequest<'_>) -> AttemptOutcome;
    /// What [`Target::deliver`] would send for `request`, without sending it. An error is the
    /// render error that would make the delivery dead.
    fn render(&self, request: &DeliveryRequest<'_>) -> Result<Rendered, String>;
}

/// A target whose config cannot be turned into a runnable target.
#[derive(Debug, thiserror::Error)]
#[error("rules.{rule}.targets[{index}]: {reason}")]
pub struct BuildError {
    /// Rule the target belongs to.
    pub rule: String,
    /// Position in the rule's `targets` list.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

/// Shared resources targets are built with.
#[derive(Clone)]
pub struct BuildContext {
    /// One HTTP client for every HTTP target, so connections are pooled.
    pub http: reqwest::Client,
    /// Notification channels by name, shared by every `notify:` target naming one (so that a
    /// channel's rate limit counts all of them).
    pub channels: Arc<Channels>,
}

impl BuildContext {
    /// A context with a default HTTP client.
    pub fn new() -> Result<BuildContext, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("signalbox/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(BuildContext {
            http,
            channels: Arc::new(Channels::new()),
        })
    }

    /// This context with the channels of `configs` built; channels it already has are kept
    /// (so a server and its router share them). Errors name the channel.
    pub fn with_channels(
        &self,
        configs: &std::collections::BTreeMap<String, signalbox_config::ChannelConfig>,
    ) -> Result<BuildContext, Vec<String>> {
        let missing: std::collections::BTreeMap<String, signalbox_config::ChannelConfig> = configs
            .iter()
            .filter(|(name, _)| !self.channels.contains_key(*name))
            .map(|(name, config)| (name.clone(), config.clone()))
            .collect();
        if missing.is_empty() {
            return Ok(self.clone());
        }
        let mut channels = (*self.channels).clone();
        channels.extend(channels::build_channels(&missing, &self.http)?);
        Ok(BuildContext {
            http: self.http.clone(),
            channels: Arc::new(channels),
        })
    }
}

/// The registry: builds the target described by `config` (target `index` of rule `rule`).
pub fn build(
    rule: &str,
    index: usize,
    config: &TargetConfig,
    ctx: &BuildContext,
) -> Result<Arc<dyn Target>, BuildError> {
    let err = |reason: String| BuildError {
        rule: rule.to_string(),
        index,
        reason,
    };
    let target: Arc<dyn Target> = match config.kind() {
        TargetKind::Webhook(w) => {
            let body = Payload::compile(config, w.body.as_deref(), "webhook body").map_err(err)?;
            Arc::new(WebhookTarget::new(w, body, ctx.http.clone()).map_err(err)?)
        }
        TargetKind::Log(l) => {
            let message =
                Payload::compile(config, l.message.as_deref(), "log message").map_err(err)?;
            Arc::new(LogTarget::new(l, message))
        }
        TargetKind::Notify(name) => {
            let channel = ctx.channels.get(name).ok_or_else(|| {
                err(format!(
                    "notify names channel \"{name}\", which is not defined under channels"
                ))
            })?;
            Arc::new(NotifyTarget::new(config, name, channel.clone()).map_err(err)?)
        }
        TargetKind::Datadog(d) => Arc::new(DatadogTarget::new(d, ctx.http.clone()).map_err(err)?),
        TargetKind::CloudWatch(c) => {
            Arc::new(CloudWatchTarget::new(c, ctx.http.clone()).map_err(err)?)
        }
    };
    Ok(target)
}
