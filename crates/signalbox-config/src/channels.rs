//! `channels.<name>:` — notification channels (Slack, email, Teams, …) and the `notify:` target
//! options, with their load-time checks.
//!
//! A channel is written once and used by any number of `notify: <name>` targets, so a rate limit
//! is per channel, not per target.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::model::{Config, TargetConfig};
use crate::tree::{Entry, Node, Value};
use crate::units::duration;

/// A value that must never be shown: tokens, passwords, webhook URLs. `Debug` and `Display`
/// print `***`; [`Secret::expose`] gives the value to the code that sends it.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the request that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The provider a channel talks to (`type:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Slack: incoming webhook, or bot token + `chat.postMessage`.
    Slack,
    /// Email over SMTP.
    Email,
    /// Google Chat incoming webhook.
    Googlechat,
    /// Microsoft Teams Workflows (Power Automate) webhook with an Adaptive Card.
    Teams,
    /// Discord webhook.
    Discord,
    /// Bearychat incoming webhook.
    Bearychat,
    /// Flock incoming webhook.
    Flock,
    /// Telegram bot API `sendMessage`.
    Telegram,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// Twilio Messages API (SMS).
    Twilio,
    /// Any URL, the notification as JSON.
    Webhook,
}

impl ChannelType {
    /// The `type:` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Slack => "slack",
            ChannelType::Email => "email",
            ChannelType::Googlechat => "googlechat",
            ChannelType::Teams => "teams",
            ChannelType::Discord => "discord",
            ChannelType::Bearychat => "bearychat",
            ChannelType::Flock => "flock",
            ChannelType::Telegram => "telegram",
            ChannelType::Pagerduty => "pagerduty",
            ChannelType::Twilio => "twilio",
            ChannelType::Webhook => "webhook",
        }
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `channels.<name>:` — one notification channel. Which keys apply depends on `type`; a key
/// that the type does not use is an error, so a misplaced setting is never ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The provider.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Incoming-webhook URL (slack, googlechat, teams, discord, bearychat, flock, webhook).
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    /// Bot token (slack with `channel`, telegram with `chat_id`).
    #[serde(default)]
    pub token: Option<Secret>,
    /// Slack channel for `chat.postMessage` (`#ops` or an id).
    #[serde(default)]
    pub channel: Option<String>,
    /// Telegram chat id (`-100…` for groups, `@name` for public channels).
    #[serde(default)]
    pub chat_id: Option<String>,
    /// PagerDuty Events API v2 integration key.
    #[serde(default)]
    pub routing_key: Option<Secret>,
    /// Twilio account SID.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio auth token.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// Sender: a phone number (twilio) or an address (email).
    #[serde(default)]
    pub from: Option<String>,
    /// Recipients: phone numbers (twilio) or addresses (email).
    #[serde(default)]
    pub to: Vec<String>,
    /// Email: the SMTP server.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Email: a minijinja template for the subject; the notification's title when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// Replaces the provider's API base URL (self-hosted or proxied installs, tests).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Most messages per interval (`1/s`, `20/m`, `100/1h`); extra ones wait.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Time allowed for one request to the provider.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `smtp:` of an email channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port; 587 for `starttls`, 465 for `implicit`, 25 for `none` when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is secured.
    #[serde(default)]
    pub tls: SmtpTls,
    /// AUTH user name; no AUTH when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// AUTH password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A PEM certificate to trust besides the system roots (a private relay's CA);
    /// `${file:ca.pem}` reads it from a file.
    #[serde(default)]
    pub ca_cert: Option<String>,
}

impl SmtpConfig {
    /// The port in use: the configured one or the usual one for `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        })
    }
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// No encryption (a local relay only).
    None,
}

/// `rate_limit: N/interval` — at most `count` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages allowed per interval (also the burst).
    pub count: u32,
    /// The interval.
    pub per: Duration,
}

impl RateLimit {
    /// Parses `1/s`, `20/m`, `100/h`, `5/10s`.
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let bad = || format!("rate_limit \"{text}\" must be N/interval such as 1/s, 20/m or 5/10s");
        let (count, per) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match per.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => humantime::parse_duration(other).map_err(|_| bad())?,
        };
        if count == 0 || per.is_zero() {
            return Err(format!(
                "rate_limit \"{text}\" must allow at least one message per interval longer than 0s"
            ));
        }
        Ok(RateLimit { count, per })
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RateLimit::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `digest:` of a notify target: the events of one window become one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// How long a window stays open after its first event.
    #[serde(with = "duration")]
    pub window: Duration,
    /// Most events listed in one message; the rest are counted ("and N more").
    #[serde(default = "default_digest_max")]
    pub max: usize,
}

fn default_digest_max() -> usize {
    20
}

/// Keys each type needs (all of them) and the keys it may have besides `type`, `api_url`,
/// `rate_limit` and `timeout`. Slack is special: `webhook_url`, or `token` + `channel`.
fn keys_of(kind: ChannelType) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ChannelType::Slack => (&[], &["webhook_url", "token", "channel"]),
        ChannelType::Email => (&["smtp", "from", "to"], &["subject"]),
        ChannelType::Googlechat
        | ChannelType::Teams
        | ChannelType::Discord
        | ChannelType::Bearychat
        | ChannelType::Flock
        | ChannelType::Webhook => (&["webhook_url"], &[]),
        ChannelType::Telegram => (&["token", "chat_id"], &[]),
        ChannelType::Pagerduty => (&["routing_key"], &[]),
        ChannelType::Twilio => (&["account_sid", "auth_token", "from", "to"], &[]),
    }
}

/// Which optional keys of `channel` are set, by config name.
fn set_keys(channel: &ChannelConfig) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut add = |set: bool, key| {
        if set {
            keys.push(key);
        }
    };
    add(channel.webhook_url.is_some(), "webhook_url");
    add(channel.token.is_some(), "token");
    add(channel.channel.is_some(), "channel");
    add(channel.chat_id.is_some(), "chat_id");
    add(channel.routing_key.is_some(), "routing_key");
    add(channel.account_sid.is_some(), "account_sid");
    add(channel.auth_token.is_some(), "auth_token");
    add(channel.from.is_some(), "from");
    add(!channel.to.is_empty(), "to");
    add(channel.smtp.is_some(), "smtp");
    add(channel.subject.is_some(), "subject");
    keys
}

/// Checks one channel; problems are reported at the value at fault.
pub(crate) fn check_channel(
    name: &str,
    channel: &ChannelConfig,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) {
    let mut report = |path: &[&str], message: String| {
        out.push(Diagnostic::at(
            node.loc_of(path).to_location(),
            format!("channel \"{name}\": {message}"),
        ));
    };
    let kind = channel.kind;
    let (required, optional) = keys_of(kind);
    let set = set_keys(channel);
    for key in required {
        if !set.contains(key) {
            report(&[], format!("type {kind} needs `{key}`"));
        }
    }
    for key in &set {
        if !required.contains(key) && !optional.contains(key) {
            report(&[key], format!("`{key}` is not used by type {kind}"));
        }
    }
    if kind == ChannelType::Slack {
        match (
            channel.webhook_url.is_some(),
            channel.token.is_some(),
            channel.channel.is_some(),
        ) {
            (true, false, false) | (false, true, true) => {}
            (true, _, _) => report(
                &[],
                "slack takes either `webhook_url`, or `token` with `channel`; not both".into(),
            ),
            (false, _, _) => report(
                &[],
                "slack needs `webhook_url`, or `token` with `channel`".into(),
            ),
        }
    }
    if let Some(url) = &channel.webhook_url
        && !is_http_url(url.expose())
    {
        // The URL is a secret: the message must not repeat it.
        report(
            &["webhook_url"],
            "webhook_url must be an http:// or https:// URL".into(),
        );
    }
    if let Some(url) = &channel.api_url
        && !is_http_url(url)
    {
        report(
            &["api_url"],
            format!("api_url \"{url}\" must be an http:// or https:// URL"),
        );
    }
    if let Some(subject) = &channel.subject
        && let Err(error) = check_template(subject)
    {
        report(&["subject"], error);
    }
    for (i, to) in channel.to.iter().enumerate() {
        if to.trim().is_empty() {
            report(
                &["to", &i.to_string()],
                "a recipient must not be empty".into(),
            );
        }
    }
    if kind == ChannelType::Email {
        for (i, to) in channel.to.iter().enumerate() {
            if !to.contains('@') {
                report(
                    &["to", &i.to_string()],
                    format!("\"{to}\" is not an email address"),
                );
            }
        }
        if let Some(from) = &channel.from
            && !from.contains('@')
        {
            report(&["from"], format!("\"{from}\" is not an email address"));
        }
        if let Some(smtp) = &channel.smtp {
            if smtp.host.trim().is_empty() {
                report(&["smtp", "host"], "smtp host must not be empty".into());
            }
            if smtp.password.is_some() != smtp.username.is_some() {
                report(
                    &["smtp"],
                    "smtp username and password go together; set both or neither".into(),
                );
            }
        }
    }
    if channel.timeout.is_zero() {
        report(&["timeout"], "timeout must be longer than 0s".into());
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

fn check_template(source: &str) -> Result<(), String> {
    minijinja::Environment::new()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|error| format!("template syntax error: {error}"))
}

/// Checks a target's notify options (`title`, `message`, `digest`, `dedup_key`): they belong
/// to `notify:` targets only, and their templates must compile. `context` names the target.
pub(crate) fn check_notify_target(
    target: &TargetConfig,
    node: &Node,
    context: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut report = |path: &[&str], message: String| {
        out.push(Diagnostic::at(
            node.loc_of(path).to_location(),
            format!("{context}: {message}"),
        ));
    };
    let templates = [
        ("title", &target.title),
        ("message", &target.message),
        ("dedup_key", &target.dedup_key),
    ];
    if target.notify.is_none() {
        for (key, value) in templates {
            if value.is_some() {
                report(&[key], format!("`{key}` is only used by notify targets"));
            }
        }
        if target.digest.is_some() {
            report(
                &["digest"],
                "`digest` is only used by notify targets".into(),
            );
        }
        return;
    }
    if let Some(name) = &target.notify
        && name.trim().is_empty()
    {
        report(&["notify"], "notify must name a channel".into());
    }
    for (key, value) in templates {
        if let Some(source) = value
            && let Err(error) = check_template(source)
        {
            report(&[key], format!("{key}: {error}"));
        }
    }
    if let Some(digest) = &target.digest {
        if digest.window.is_zero() {
            report(
                &["digest", "window"],
                "digest window must be longer than 0s".into(),
            );
        }
        if digest.max == 0 {
            report(&["digest", "max"], "digest max must be at least 1".into());
        }
        // The first attempt of a digested delivery parks it until its window closes.
        if target.max_attempts < 2 {
            report(
                &["max_attempts"],
                "a digest needs max_attempts of at least 2 (one attempt waits for the window)"
                    .into(),
            );
        }
    }
}

/// Every `notify:` must name a channel of `config`; reported at the `notify` value, with the
/// channels there are.
pub(crate) fn check_channel_names(
    config: &Config,
    rules: &[Entry],
    channels: &[Entry],
    out: &mut Vec<Diagnostic>,
) {
    for entry in rules {
        let Some(rule) = config.rules.get(&entry.key) else {
            continue;
        };
        for (index, target) in rule.targets.iter().enumerate() {
            let Some(name) = &target.notify else {
                continue;
            };
            // A channel that is written but has errors is reported on its own.
            if channels.iter().any(|channel| &channel.key == name) {
                continue;
            }
            let known = if channels.is_empty() {
                "no channels are defined (add one under `channels:`)".to_owned()
            } else {
                let names: Vec<String> =
                    channels.iter().map(|c| format!("\"{}\"", c.key)).collect();
                format!("the channels are {}", names.join(", "))
            };
            let index_text = index.to_string();
            let loc = entry.value.loc_of(&["targets", &index_text, "notify"]);
            out.push(Diagnostic::at(
                loc.to_location(),
                format!(
                    "target {} of rule \"{}\": notify names channel \"{name}\", which is not \
                     defined; {known}",
                    index + 1,
                    entry.key
                ),
            ));
        }
    }
}

/// Adds one file's `channels:` to those already read; a name given twice is an error naming
/// both places.
pub(crate) fn merge_channels(value: Node, merged: &mut Vec<Entry>, out: &mut Vec<Diagnostic>) {
    match value.value {
        Value::Map(channels) => {
            for channel in channels {
                if let Some(first) = merged.iter().find(|c| c.key == channel.key) {
                    out.push(Diagnostic::at(
                        channel.key_loc.to_location(),
                        format!(
                            "channel \"{}\" is defined twice: at {} and at {}",
                            channel.key, first.key_loc, channel.key_loc
                        ),
                    ));
                } else {
                    merged.push(channel);
                }
            }
        }
        Value::Null => {}
        _ => out.push(Diagnostic::at(
            value.loc.to_location(),
            "channels must be a mapping from channel name to channel",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("xoxb-123");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(secret.expose(), "xoxb-123");
    }

    #[test]
    fn rate_limits() {
        assert_eq!(
            RateLimit::parse("1/s").unwrap(),
            RateLimit {
                count: 1,
                per: Duration::from_secs(1)
            }
        );
        assert_eq!(
            RateLimit::parse("20/m").unwrap().per,
            Duration::from_secs(60)
        );
        assert_eq!(
            RateLimit::parse("5/10s").unwrap().per,
            Duration::from_secs(10)
        );
        assert!(RateLimit::parse("0/s").is_err());
        assert!(RateLimit::parse("fast").is_err());
    }
}
