//! Metric and event sinks as target kinds: `datadog:` and `cloudwatch:`. Any event can go to
//! them through a rule; check results (`Check Results` / `Check Result` events) become metrics,
//! every other event becomes a Datadog event or an EventBridge event. See
//! `docs/configuration.md` and `docs/checks.md` ("Reporting results").

use std::time::Duration;

use serde::Deserialize;

use crate::channels::Secret;
use crate::units::duration;

/// `datadog:` — the metrics series API (`POST /api/v2/series`) for check results and the
/// events API (`POST /api/v1/events`) for everything else, authenticated by `DD-API-KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogTarget {
    /// The API key (`DD-API-KEY`); use `${env:…}` or `${file:…}`.
    pub api_key: Secret,
    /// The Datadog site: `datadoghq.com` (US1), `datadoghq.eu`, `us3.datadoghq.com`, …; the API
    /// is `https://api.<site>`.
    #[serde(default = "default_datadog_site")]
    pub site: String,
    /// Base URL that replaces `https://api.<site>` (a proxy, or a fake server in tests).
    #[serde(default)]
    pub url: Option<String>,
    /// Tags added to every series and event, `key:value`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Time allowed for each request.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

/// `cloudwatch:` — CloudWatch `PutMetricData` for check results and EventBridge `PutEvents`
/// for everything else, both signed with AWS Signature Version 4.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchTarget {
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Access key id of the credentials that sign requests.
    pub access_key_id: String,
    /// Secret access key; use `${env:…}` or `${file:…}`.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials (`X-Amz-Security-Token`).
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// CloudWatch metric namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Base URL replacing both `https://monitoring.<region>.amazonaws.com` and
    /// `https://events.<region>.amazonaws.com` (a VPC endpoint, or a fake server in tests).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// EventBridge bus that receives `PutEvents`.
    #[serde(default = "default_event_bus")]
    pub event_bus: String,
    /// Put every delivered event, check results included, to EventBridge as this entry
    /// instead of as itself (the watcher format's `post_service: aws-cloudwatch`).
    #[serde(default)]
    pub put_event: Option<PutEventConfig>,
    /// Time allowed for each request.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

/// Problems with a `datadog:` target as (field path below `datadog`, message).
pub(crate) fn datadog_problems(target: &DatadogTarget) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if target.api_key.expose().trim().is_empty() {
        problems.push(("api_key", "api_key must not be empty".to_owned()));
    }
    let site_ok = !target.site.is_empty()
        && target
            .site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !site_ok {
        problems.push((
            "site",
            format!(
                "site \"{}\" must be a host name such as datadoghq.com or datadoghq.eu",
                target.site
            ),
        ));
    }
    if let Some(url) = &target.url
        && let Err(message) = base_url_problem(url)
    {
        problems.push(("url", message));
    }
    for tag in &target.tags {
        if tag.trim().is_empty() || tag.contains(char::is_whitespace) {
            problems.push((
                "tags",
                format!("tag \"{tag}\" must be non-empty and without spaces, e.g. env:prod"),
            ));
        }
    }
    if target.timeout.is_zero() {
        problems.push(("timeout", "timeout must be longer than 0s".to_owned()));
    }
    problems
}

/// `put_event:` — the EventBridge entry a `cloudwatch:` target puts for each delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEventConfig {
    /// The entry's `Source`.
    pub source: String,
    /// The entry's `DetailType`.
    pub detail_type: String,
    /// The entry's `Detail` object: key → minijinja template over `event`, rendered as a
    /// string.
    #[serde(default)]
    pub detail: std::collections::BTreeMap<String, String>,
    /// The entry's `Resources`.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Problems with a `cloudwatch:` target as (field path below `cloudwatch`, message).
pub(crate) fn cloudwatch_problems(target: &CloudWatchTarget) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let region_ok = !target.region.is_empty()
        && target
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        problems.push((
            "region",
            format!(
                "region \"{}\" must be an AWS region such as us-east-1",
                target.region
            ),
        ));
    }
    if target.access_key_id.trim().is_empty() {
        problems.push((
            "access_key_id",
            "access_key_id must not be empty".to_owned(),
        ));
    }
    if target.secret_access_key.expose().is_empty() {
        problems.push((
            "secret_access_key",
            "secret_access_key must not be empty".to_owned(),
        ));
    }
    if target.namespace.is_empty()
        || target.namespace.len() > 255
        || target.namespace.starts_with("AWS/")
    {
        problems.push((
            "namespace",
            format!(
                "namespace \"{}\" must be 1-255 characters and not start with \"AWS/\"",
                target.namespace
            ),
        ));
    }
    if let Some(endpoint) = &target.endpoint
        && let Err(message) = base_url_problem(endpoint)
    {
        problems.push(("endpoint", message));
    }
    if target.event_bus.trim().is_empty() {
        problems.push(("event_bus", "event_bus must not be empty".to_owned()));
    }
    if let Some(put) = &target.put_event {
        if put.source.trim().is_empty() || put.detail_type.trim().is_empty() {
            problems.push((
                "put_event",
                "put_event: source and detail_type must not be empty".to_owned(),
            ));
        }
        for (key, template) in &put.detail {
            if let Err(error) = minijinja::Environment::new().template_from_str(template) {
                problems.push((
                    "put_event",
                    format!("put_event: detail \"{key}\": template: {error}"),
                ));
            }
        }
    }
    if target.timeout.is_zero() {
        problems.push(("timeout", "timeout must be longer than 0s".to_owned()));
    }
    problems
}

fn base_url_problem(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(_) => Err(format!("\"{url}\" must be an http:// or https:// URL")),
        Err(error) => Err(format!("\"{url}\" is not a valid URL: {error}")),
    }
}

fn default_datadog_site() -> String {
    "datadoghq.com".to_owned()
}

fn default_namespace() -> String {
    "Signalbox".to_owned()
}

fn default_event_bus() -> String {
    "default".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
