//! The typed configuration. Every struct refuses unknown keys so a typo is an error, not a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::units::{ByteSize, duration};

/// The whole configuration, after files are merged and `${...}` substituted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server and ingestion settings.
    pub server: ServerConfig,
    /// Where events and deliveries are stored.
    pub store: StoreConfig,
    /// Routing rules by name.
    pub rules: BTreeMap<String, RuleConfig>,
    /// Notification channels by name, used by `notify:` targets.
    pub channels: BTreeMap<String, crate::channels::ChannelConfig>,
    /// Schedules by name: events fired at times (see `docs/schedules.md`).
    pub schedules: BTreeMap<String, crate::schedule::ScheduleConfig>,
    /// Health checks by name (see `docs/checks.md`).
    pub checks: BTreeMap<String, crate::checks::CheckConfig>,
    /// How the monitor runs the checks (see `docs/checks.md`).
    pub monitor: crate::monitor::MonitorConfig,
}

/// `server:` — the HTTP listener and ingestion.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// Largest accepted request body.
    pub body_limit: ByteSize,
    /// How long an event id is remembered so a resent event is not routed twice.
    #[serde(with = "duration")]
    pub dedup_window: Duration,
    /// How long in-flight work may finish after a shutdown signal.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// Most events written in one store transaction.
    pub group_commit_max: usize,
    /// IANA time zone of schedules that do not name one.
    pub timezone: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            body_limit: ByteSize(ByteSize::MIB),
            dedup_window: Duration::from_secs(24 * 60 * 60),
            shutdown_grace: Duration::from_secs(30),
            group_commit_max: 1000,
            timezone: "UTC".to_owned(),
        }
    }
}

/// `store:` — the database holding events and deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://…`, `postgres://…` or `mysql://…`.
    pub url: String,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// How long a claimed delivery stays owned by the dispatcher that claimed it.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// How often the dispatcher looks for due deliveries.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// How long a scheduler instance owns the schedules it claimed without renewing; a dead
    /// instance's schedules are taken over after this.
    #[serde(with = "duration")]
    pub schedule_lease: Duration,
    /// SQLite only: when a commit counts as durable.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// SQLite's `synchronous` setting, as offered to users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// fsync on every commit: an acknowledged event survives power loss (the default).
    #[default]
    Full,
    /// fsync at WAL checkpoints only: survives a crash or `kill -9` of signalbox, but the last
    /// commits can be lost if the machine itself loses power.
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://signalbox-data/signalbox.db".to_owned(),
            max_connections: 8,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            schedule_lease: Duration::from_secs(10),
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// `rules.<name>:` — which events go where.
///
/// What matches is written either as an EventBridge `pattern` or in Spinnaker Echo's webhook
/// trigger form (`type`, `source`, `payloadConstraints`); a loaded rule has exactly one of the
/// two (see [`RuleConfig::is_echo_form`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// An EventBridge-style event pattern (a JSON object); matched by `signalbox-rules`.
    /// `None` only for an Echo-form rule.
    #[serde(default)]
    pub pattern: Option<serde_json::Value>,
    /// Echo form: the event's `detail-type`, compared ignoring case as Echo compares its
    /// webhook type.
    #[serde(default, rename = "type")]
    pub echo_type: Option<String>,
    /// Echo form: the event's `source`, compared exactly.
    #[serde(default)]
    pub source: Option<String>,
    /// Echo form: dot path into `detail` → regex that must match the whole value.
    #[serde(default, rename = "payloadConstraints")]
    pub payload_constraints: BTreeMap<String, String>,
    /// Where matching events are delivered; at least one.
    pub targets: Vec<TargetConfig>,
    /// Free text shown in the UI.
    #[serde(default)]
    pub description: Option<String>,
    /// A disabled rule is loaded and validated but matches nothing.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            pattern: Some(serde_json::Value::Object(serde_json::Map::new())),
            echo_type: None,
            source: None,
            payload_constraints: BTreeMap::new(),
            targets: Vec::new(),
            description: None,
            enabled: true,
        }
    }
}

impl RuleConfig {
    /// Whether the rule is written in Echo's form (any of `type`, `source`,
    /// `payloadConstraints`) rather than with a `pattern`.
    pub fn is_echo_form(&self) -> bool {
        self.echo_type.is_some() || self.source.is_some() || !self.payload_constraints.is_empty()
    }
}

/// One entry of a rule's `targets:` list: exactly one kind key (`webhook:`, `log:`, `notify:`,
/// `datadog:`, `cloudwatch:`) plus the retry settings common to all kinds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Deliver by HTTP request.
    #[serde(default)]
    pub webhook: Option<WebhookTarget>,
    /// Write a log line (useful for testing rules).
    #[serde(default)]
    pub log: Option<LogTarget>,
    /// Send a notification through the named channel (`channels.<name>`).
    #[serde(default)]
    pub notify: Option<String>,
    /// Send metrics (check results) or events to Datadog.
    #[serde(default)]
    pub datadog: Option<crate::sinks::DatadogTarget>,
    /// Send metrics (check results) to CloudWatch or events to EventBridge.
    #[serde(default)]
    pub cloudwatch: Option<crate::sinks::CloudWatchTarget>,
    /// notify: a minijinja template for the title; a default per event kind when absent.
    #[serde(default)]
    pub title: Option<String>,
    /// notify: a minijinja template for the text; a default per event kind when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// notify (PagerDuty): a minijinja template for the `dedup_key` that pairs a trigger with
    /// its resolve; a default per event kind when absent.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// notify: collapse the events of a window into one message.
    #[serde(default)]
    pub digest: Option<crate::channels::DigestConfig>,
    /// A name for the UI and metrics; defaults to the kind and position when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// AWS-style input transformer: placeholder name → JSONPath into the event.
    #[serde(default)]
    pub input_paths: BTreeMap<String, String>,
    /// AWS-style input template with `<name>` placeholders; replaces a webhook's `body` or a
    /// log's `message` (setting both is an error).
    #[serde(default)]
    pub input_template: Option<String>,
    /// Attempts before a delivery is dead, counting the first; at least 1.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// A delivery older than this is dead even with attempts left.
    #[serde(default = "default_max_age", with = "duration")]
    pub max_age: Duration,
    /// Wait before the first retry; doubles on each retry.
    #[serde(default = "default_initial_backoff", with = "duration")]
    pub initial_backoff: Duration,
    /// Cap on the wait between retries.
    #[serde(default = "default_max_backoff", with = "duration")]
    pub max_backoff: Duration,
}

impl Default for TargetConfig {
    /// Retry defaults with no kind set; `load` never produces such a target.
    fn default() -> Self {
        Self {
            webhook: None,
            log: None,
            notify: None,
            datadog: None,
            cloudwatch: None,
            title: None,
            message: None,
            dedup_key: None,
            digest: None,
            name: None,
            input_paths: BTreeMap::new(),
            input_template: None,
            max_attempts: default_max_attempts(),
            max_age: default_max_age(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

/// The kind of a target, borrowed from its [`TargetConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind<'a> {
    /// `webhook:`
    Webhook(&'a WebhookTarget),
    /// `log:`
    Log(&'a LogTarget),
    /// `notify: <channel>`; the notify options are the target's `title`, `message`, `digest`.
    Notify(&'a str),
    /// `datadog:`
    Datadog(&'a crate::sinks::DatadogTarget),
    /// `cloudwatch:`
    CloudWatch(&'a crate::sinks::CloudWatchTarget),
}

/// Stands in for the kind of a hand-built target that has none, so `kind()` needs no panic.
static DEFAULT_LOG_TARGET: LogTarget = LogTarget {
    level: LogLevel::Info,
    message: None,
};

impl TargetConfig {
    /// The target's kind. A loaded config has exactly one kind per target; for a hand-built
    /// value `webhook` wins over `log`, and neither means a default `log` target.
    pub fn kind(&self) -> TargetKind<'_> {
        match (&self.webhook, &self.log, &self.notify) {
            (Some(webhook), _, _) => TargetKind::Webhook(webhook),
            (None, Some(log), _) => TargetKind::Log(log),
            (None, None, Some(channel)) => TargetKind::Notify(channel),
            (None, None, None) => match (&self.datadog, &self.cloudwatch) {
                (Some(datadog), _) => TargetKind::Datadog(datadog),
                (None, Some(cloudwatch)) => TargetKind::CloudWatch(cloudwatch),
                (None, None) => TargetKind::Log(&DEFAULT_LOG_TARGET),
            },
        }
    }
}

/// `webhook:` — an HTTP request per delivery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// HTTP method, uppercase after loading.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A minijinja template for the request body; the event as JSON when absent.
    #[serde(default)]
    pub body: Option<String>,
    /// Time allowed for the whole request.
    #[serde(default = "default_webhook_timeout", with = "duration")]
    pub timeout: Duration,
}

impl Default for WebhookTarget {
    fn default() -> Self {
        Self {
            url: String::new(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            timeout: default_webhook_timeout(),
        }
    }
}

/// `log:` — a log line per delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogTarget {
    /// Level of the log line.
    pub level: LogLevel,
    /// A minijinja template for the message; a summary of the event when absent.
    pub message: Option<String>,
}

/// Level of a `log:` target's line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    #[default]
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

fn default_true() -> bool {
    true
}

fn default_max_attempts() -> u32 {
    10
}

fn default_max_age() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
