//! Notification channels: one file per provider, each turning a [`Notification`] into that
//! provider's documented request and its answer into an [`AttemptOutcome`].
//!
//! A channel never sees an event: the `notify` target ([`crate::notify`]) renders the event into
//! a [`Notification`] (plain text), and each channel escapes that text for its own markup (Slack
//! mrkdwn, Telegram MarkdownV2, HTML mail…). One template therefore serves every channel, and
//! text from an event can never inject markup.
//!
//! [`build_channel`] is the one registry; a new provider is a new file plus one line there.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use signalbox_config::{ChannelConfig, ChannelType};

use crate::outcome::AttemptOutcome;

pub mod bearychat;
pub mod discord;
pub mod email;
pub mod flock;
pub mod googlechat;
pub mod http;
pub mod markup;
pub mod pagerduty;
mod rate_limit;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod twilio;
pub mod webhook;

pub use rate_limit::{RateLimited, SlidingWindow};

/// How bad the news is. Decides colours and emoji, PagerDuty's severity, and whether PagerDuty
/// triggers or resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something recovered or succeeded; PagerDuty resolves.
    Resolved,
    /// For information (a pipeline started).
    Info,
    /// Needs a look.
    Warning,
    /// Something is broken.
    Critical,
}

impl Severity {
    /// Lowercase name, as PagerDuty and the webhook channel spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Resolved => "resolved",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Reads a severity an event states (`detail.severity`), leniently.
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "critical" | "error" | "fatal" | "high" | "failed" | "failure" | "down" => {
                Some(Severity::Critical)
            }
            "warning" | "warn" | "medium" => Some(Severity::Warning),
            "info" | "information" | "low" | "notice" => Some(Severity::Info),
            "ok" | "resolved" | "recovered" | "success" | "succeeded" | "up" => {
                Some(Severity::Resolved)
            }
            _ => None,
        }
    }

    /// An emoji for chat channels that render them.
    pub fn emoji(self) -> &'static str {
        match self {
            Severity::Resolved => "✅",
            Severity::Info => "ℹ️",
            Severity::Warning => "⚠️",
            Severity::Critical => "🔴",
        }
    }

    /// An RGB colour (cards, embeds, attachments).
    pub fn color(self) -> u32 {
        match self {
            Severity::Resolved => 0x2e_b6_7d,
            Severity::Info => 0x43_9f_e0,
            Severity::Warning => 0xda_a0_38,
            Severity::Critical => 0xd0_31_2d,
        }
    }
}

/// One key fact of a notification (`Branch: main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Label.
    pub name: String,
    /// Value, plain text.
    pub value: String,
}

/// What a channel sends, in plain text; each channel escapes it for its own markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// One line.
    pub title: String,
    /// The body; may span lines.
    pub text: String,
    /// Key facts, in order.
    pub fields: Vec<Field>,
    /// Where to look (a run, a check, a release), when the event has one.
    pub link: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// Pairs a PagerDuty trigger with its resolve (same condition, same key).
    pub dedup_key: String,
    /// When it happened (the event's time, RFC 3339), when known.
    pub time: Option<String>,
}

impl Notification {
    /// A notification with only a title and text (tests, `notify test`).
    pub fn new(title: impl Into<String>, text: impl Into<String>) -> Notification {
        Notification {
            title: title.into(),
            text: text.into(),
            fields: Vec::new(),
            link: None,
            severity: Severity::Info,
            dedup_key: String::new(),
            time: None,
        }
    }

    /// The whole notification as plain text: title, text, `name: value` lines, link. What SMS
    /// and the text part of an email carry.
    pub fn plain_text(&self) -> String {
        let mut out = self.title.clone();
        if !self.text.is_empty() {
            out.push_str("\n\n");
            out.push_str(&self.text);
        }
        if !self.fields.is_empty() {
            out.push('\n');
            for field in &self.fields {
                out.push('\n');
                out.push_str(&field.name);
                out.push_str(": ");
                out.push_str(&field.value);
            }
        }
        if let Some(link) = &self.link {
            out.push_str("\n\n");
            out.push_str(link);
        }
        out
    }
}

/// The answer of one send: what it means for the delivery, and the provider's own words.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Done, retry or give up.
    pub outcome: AttemptOutcome,
    /// What the provider said (status and body, SMTP reply), for `notify test` and logs.
    pub response: String,
}

impl Answer {
    /// An answer with no provider involved (a render error).
    pub fn permanent(error: impl Into<String>) -> Answer {
        let error = error.into();
        Answer {
            response: error.clone(),
            outcome: AttemptOutcome::Permanent {
                error,
                status: None,
            },
        }
    }
}

/// A notification provider, built once per `channels.<name>` and shared by every target
/// naming it.
#[async_trait]
pub trait Channel: Send + Sync {
    /// The provider.
    fn kind(&self) -> ChannelType;
    /// What [`Channel::send`] would send, secrets redacted: method, URL and body, or the mail.
    fn preview(&self, notification: &Notification) -> Result<String, String>;
    /// Sends once. `key` is stable across attempts of one delivery (an idempotency key for
    /// providers that take one). Never panics; every failure is in the [`Answer`].
    async fn send(&self, notification: &Notification, key: &str) -> Answer;
}

impl fmt::Debug for dyn Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({})", self.kind())
    }
}

/// Built channels by name.
pub type Channels = BTreeMap<String, Arc<dyn Channel>>;

/// The registry: builds the channel `name` described by `config`, behind its rate limit when
/// it has one.
pub fn build_channel(
    config: &ChannelConfig,
    http: &reqwest::Client,
) -> Result<Arc<dyn Channel>, String> {
    let http = http.clone();
    let channel: Arc<dyn Channel> = match config.kind {
        ChannelType::Slack => Arc::new(slack::Slack::new(config, http)?),
        ChannelType::Email => Arc::new(email::Email::new(config)?),
        ChannelType::Googlechat => Arc::new(googlechat::GoogleChat::new(config, http)?),
        ChannelType::Teams => Arc::new(teams::Teams::new(config, http)?),
        ChannelType::Discord => Arc::new(discord::Discord::new(config, http)?),
        ChannelType::Bearychat => Arc::new(bearychat::Bearychat::new(config, http)?),
        ChannelType::Flock => Arc::new(flock::Flock::new(config, http)?),
        ChannelType::Telegram => Arc::new(telegram::Telegram::new(config, http)?),
        ChannelType::Pagerduty => Arc::new(pagerduty::PagerDuty::new(config, http)?),
        ChannelType::Twilio => Arc::new(twilio::Twilio::new(config, http)?),
        ChannelType::Webhook => Arc::new(webhook::WebhookChannel::new(config, http)?),
    };
    let channel = match config.rate_limit {
        Some(limit) => Arc::new(RateLimited::new(channel, SlidingWindow::new(limit))),
        None => channel,
    };
    Ok(channel)
}

/// Builds every channel of a config; the errors name the channel.
pub fn build_channels(
    configs: &BTreeMap<String, ChannelConfig>,
    http: &reqwest::Client,
) -> Result<Channels, Vec<String>> {
    let mut built = Channels::new();
    let mut errors = Vec::new();
    for (name, config) in configs {
        match build_channel(config, http) {
            Ok(channel) => {
                built.insert(name.clone(), channel);
            }
            Err(error) => errors.push(format!("channels.{name}: {error}")),
        }
    }
    if errors.is_empty() {
        Ok(built)
    } else {
        Err(errors)
    }
}
