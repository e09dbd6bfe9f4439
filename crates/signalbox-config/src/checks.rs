//! `checks.<name>:` — health checks run on a schedule: what to probe (`http` or `tcp`), when
//! (`schedule`), what must hold (`assert`, CEL), what to carry along (`extract`, JSONPath), and
//! when a run of failures becomes an alert (`failure_threshold`, `success_threshold`,
//! `remind_every`).
//!
//! Everything that can be wrong in a check's text — the URL, the cron expression, the zone, a CEL
//! expression, a JSONPath — is reported at load with its position, so `signalbox validate`
//! catches it before the monitor runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use signalbox_schedule::chrono::{DateTime, Utc};
use signalbox_schedule::{QuietPeriod, Schedule, parse_time_zone};

use crate::diagnostic::Diagnostic;
use crate::tree::{Entry, Node, Value};
use crate::units::duration;

/// `checks.<name>:` — one health check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Probe by HTTP request.
    #[serde(default)]
    pub http: Option<HttpProbeConfig>,
    /// Probe by opening a TCP connection.
    #[serde(default)]
    pub tcp: Option<TcpProbeConfig>,
    /// When the probe runs.
    pub schedule: CheckScheduleConfig,
    /// CEL expressions over the result; every one must be true for a run to succeed. With none,
    /// an HTTP run succeeds on a 2xx status and a TCP run on a connection.
    #[serde(default)]
    pub assert: Vec<String>,
    /// Name → JSONPath into the parsed body; the first match travels with the result.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// Consecutive failed runs that make a check failing (and send `Check Failed`).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Consecutive successful runs that make a failing check healthy again (`Check Recovered`).
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// While failing, send `Check Reminder` this often; never when absent.
    #[serde(default, deserialize_with = "optional_duration")]
    pub remind_every: Option<Duration>,
    /// Windows during which the check keeps running but its verdicts do not change its alert
    /// state, so nothing is announced.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceConfig>,
    /// Free text shown in the API and UI.
    #[serde(default)]
    pub description: Option<String>,
}

/// `http:` — one HTTP request per run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbeConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// HTTP method, uppercase after loading.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as is.
    #[serde(default)]
    pub body: Option<String>,
    /// Time allowed for the whole request, body included.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Follow redirects (up to 10); the final response is the result.
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Verify the server's TLS certificate. Turn off only for self-signed test endpoints.
    #[serde(default = "default_true")]
    pub verify_tls: bool,
}

/// `tcp:` — one connection attempt per run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbeConfig {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Time allowed to connect.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

/// `schedule:` — exactly one of `cron` (with an optional `timezone`) or `every`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckScheduleConfig {
    /// Any expression `signalbox-schedule` reads; `H` hashes the check's name.
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA zone of `cron`; `server.timezone` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// A fixed period; runs are offset within it by a hash of the check's name.
    #[serde(default, deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
}

/// One `maintenance:` entry: a recurring window (`cron` + `duration`, optional `timezone`) or a
/// single one (`from` + `to`, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// When each window starts; any expression the scheduler reads (`H` hashes the check name).
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA zone of `cron`; `server.timezone` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// How long each window lasts.
    #[serde(default, deserialize_with = "optional_duration")]
    pub duration: Option<Duration>,
    /// Start of a single window, inclusive.
    #[serde(default)]
    pub from: Option<String>,
    /// End of a single window, exclusive.
    #[serde(default)]
    pub to: Option<String>,
}

/// A maintenance window, ready to test instants against.
#[derive(Debug, Clone, PartialEq)]
pub enum MaintenanceWindow {
    /// Starts at each time of `schedule` in `tz` and lasts `duration`.
    Recurring {
        /// Start times.
        schedule: Box<Schedule>,
        /// Zone of the start times.
        tz: signalbox_schedule::Tz,
        /// Length of each window.
        duration: Duration,
    },
    /// One span, `from` inclusive to `to` exclusive.
    Once(QuietPeriod),
}

impl MaintenanceWindow {
    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        match self {
            MaintenanceWindow::Once(period) => period.contains(t),
            MaintenanceWindow::Recurring {
                schedule,
                tz,
                duration,
            } => {
                // The first start after `t - duration` is inside (t - duration, t] exactly when
                // a window covers `t`.
                let Ok(length) = signalbox_schedule::chrono::Duration::from_std(*duration) else {
                    return false;
                };
                let Some(since) = t.checked_sub_signed(length) else {
                    return false;
                };
                schedule
                    .next_after(since, *tz)
                    .is_some_and(|start| start <= t)
            }
        }
    }
}

/// What a check probes, borrowed from its [`CheckConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind<'a> {
    /// `http:`
    Http(&'a HttpProbeConfig),
    /// `tcp:`
    Tcp(&'a TcpProbeConfig),
}

impl CheckConfig {
    /// The probe. A loaded check has exactly one; for a hand-built value without either, `None`.
    pub fn probe(&self) -> Option<ProbeKind<'_>> {
        match (&self.http, &self.tcp) {
            (Some(http), _) => Some(ProbeKind::Http(http)),
            (None, Some(tcp)) => Some(ProbeKind::Tcp(tcp)),
            (None, None) => None,
        }
    }

    /// What the check points at, for events and logs: the URL or `host:port`.
    pub fn target(&self) -> String {
        match self.probe() {
            Some(ProbeKind::Http(http)) => http.url.clone(),
            Some(ProbeKind::Tcp(tcp)) => format!("{}:{}", tcp.host, tcp.port),
            None => String::new(),
        }
    }
}

/// When a check runs, ready to compute next times.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckCadence {
    /// A cron expression read in a zone.
    Cron {
        /// The parsed expression (its `H` tokens hashed with the check's name).
        schedule: Box<Schedule>,
        /// The zone it is read in.
        tz: signalbox_schedule::Tz,
    },
    /// A fixed period.
    Every(Duration),
}

/// A problem with one field of a check: `field` is the path below the check where it is
/// reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckProblem {
    /// Path of the field at fault below the check (`["assert", "0"]`); empty for the check.
    pub field: Vec<String>,
    /// What is wrong, without the check's name.
    pub message: String,
}

impl CheckConfig {
    /// Checks every field serde cannot, and returns the cadence. `default_tz` is
    /// `server.timezone`.
    pub fn compile(&self, name: &str, default_tz: &str) -> Result<CheckCadence, Vec<CheckProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &[&str], message: String| {
            problems.push(CheckProblem {
                field: field.iter().map(|s| (*s).to_owned()).collect(),
                message,
            });
        };
        if let Err(reason) = crate::schedule::check_schedule_name(name) {
            problem(&[], reason);
        }
        match (&self.http, &self.tcp) {
            (Some(_), Some(_)) => problem(&["tcp"], "set one of `http` or `tcp`, not both".into()),
            (None, None) => problem(&[], "a check needs a probe: `http` or `tcp`".into()),
            _ => {}
        }
        if let Some(http) = &self.http {
            match url::Url::parse(&http.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                Ok(url) => problem(
                    &["http", "url"],
                    format!("url scheme \"{}\" is not http or https", url.scheme()),
                ),
                Err(error) => problem(&["http", "url"], format!("invalid url: {error}")),
            }
            let valid_method =
                !http.method.is_empty() && http.method.bytes().all(|b| b.is_ascii_alphabetic());
            if !valid_method {
                problem(
                    &["http", "method"],
                    format!("invalid HTTP method \"{}\"", http.method),
                );
            }
            if http.timeout.is_zero() {
                problem(&["http", "timeout"], "timeout must be more than 0".into());
            }
        }
        if let Some(tcp) = &self.tcp {
            if tcp.host.trim().is_empty() {
                problem(&["tcp", "host"], "host must not be empty".into());
            }
            if tcp.port == 0 {
                problem(&["tcp", "port"], "port must be 1-65535".into());
            }
            if tcp.timeout.is_zero() {
                problem(&["tcp", "timeout"], "timeout must be more than 0".into());
            }
        }
        for (i, expression) in self.assert.iter().enumerate() {
            if let Err(error) = cel::Program::compile(expression) {
                let error = error.to_string();
                problem(
                    &["assert", &i.to_string()],
                    format!(
                        "assertion {} is not valid CEL: {}",
                        i + 1,
                        error.lines().next().unwrap_or("syntax error").trim()
                    ),
                );
            }
        }
        for (key, path) in &self.extract {
            if let Err(error) = serde_json_path::JsonPath::parse(path) {
                problem(
                    &["extract", key],
                    format!("extract \"{key}\": invalid JSONPath \"{path}\": {error}"),
                );
            }
        }
        if self.failure_threshold == 0 {
            problem(
                &["failure_threshold"],
                "failure_threshold must be at least 1".into(),
            );
        }
        if self.success_threshold == 0 {
            problem(
                &["success_threshold"],
                "success_threshold must be at least 1".into(),
            );
        }
        if self.remind_every.is_some_and(|d| d.is_zero()) {
            problem(&["remind_every"], "remind_every must be more than 0".into());
        }
        if let Err(windows) = self.maintenance_windows(name, default_tz) {
            for p in windows {
                let path: Vec<&str> = p.field.iter().map(String::as_str).collect();
                problem(&path, p.message);
            }
        }
        let cadence = self.cadence(name, default_tz, &mut problem);
        match cadence {
            Some(cadence) if problems.is_empty() => Ok(cadence),
            _ => Err(problems),
        }
    }

    /// The compiled `maintenance:` windows, or every problem with them.
    pub fn maintenance_windows(
        &self,
        name: &str,
        default_tz: &str,
    ) -> Result<Vec<MaintenanceWindow>, Vec<CheckProblem>> {
        let mut windows = Vec::new();
        let mut problems = Vec::new();
        for (i, m) in self.maintenance.iter().enumerate() {
            let index = i.to_string();
            let mut problem = |field: &str, message: String| {
                let mut path = vec!["maintenance".to_owned(), index.clone()];
                if !field.is_empty() {
                    path.push(field.to_owned());
                }
                problems.push(CheckProblem {
                    field: path,
                    message: format!("maintenance window {}: {message}", i + 1),
                });
            };
            match (&m.cron, m.duration, &m.from, &m.to) {
                (Some(cron), Some(duration), None, None) => {
                    if duration.is_zero() {
                        problem("duration", "duration must be more than 0".into());
                        continue;
                    }
                    let schedule = Schedule::parse(cron, name)
                        .map_err(|e| problem("cron", format!("cron \"{cron}\": {e}")))
                        .ok();
                    let zone = m.timezone.as_deref().unwrap_or(default_tz);
                    let tz = parse_time_zone(zone)
                        .map_err(|e| problem("timezone", format!("timezone: {e}")))
                        .ok();
                    if let (Some(schedule), Some(tz)) = (schedule, tz) {
                        windows.push(MaintenanceWindow::Recurring {
                            schedule: Box::new(schedule),
                            tz,
                            duration,
                        });
                    }
                }
                (None, None, Some(from), Some(to)) if m.timezone.is_none() => {
                    match QuietPeriod::parse(from, to) {
                        Ok(period) => windows.push(MaintenanceWindow::Once(period)),
                        Err(e) => problem(
                            "",
                            e.to_string()
                                .trim_start_matches("quiet period is not valid: ")
                                .to_owned(),
                        ),
                    }
                }
                _ => problem(
                    "",
                    "set `cron` and `duration` (with an optional `timezone`), or `from` and `to`"
                        .into(),
                ),
            }
        }
        if problems.is_empty() {
            Ok(windows)
        } else {
            Err(problems)
        }
    }

    fn cadence(
        &self,
        name: &str,
        default_tz: &str,
        problem: &mut impl FnMut(&[&str], String),
    ) -> Option<CheckCadence> {
        let s = &self.schedule;
        match (&s.cron, s.every) {
            (Some(_), Some(_)) => {
                problem(
                    &["schedule", "every"],
                    "schedule: set one of `cron` or `every`, not both".into(),
                );
                None
            }
            (None, None) => {
                problem(
                    &["schedule"],
                    "schedule: set `cron` (with an optional `timezone`) or `every`".into(),
                );
                None
            }
            (None, Some(every)) => {
                if s.timezone.is_some() {
                    problem(
                        &["schedule", "timezone"],
                        "schedule: `timezone` applies to `cron` only".into(),
                    );
                    return None;
                }
                if every < Duration::from_millis(100) {
                    problem(
                        &["schedule", "every"],
                        "schedule: `every` must be at least 100ms".into(),
                    );
                    return None;
                }
                Some(CheckCadence::Every(every))
            }
            (Some(cron), None) => {
                let schedule = Schedule::parse(cron, name)
                    .map_err(|e| problem(&["schedule", "cron"], format!("cron \"{cron}\": {e}")))
                    .ok();
                let zone = s.timezone.as_deref().unwrap_or(default_tz);
                let tz = parse_time_zone(zone)
                    .map_err(|e| problem(&["schedule", "timezone"], format!("timezone: {e}")))
                    .ok();
                Some(CheckCadence::Cron {
                    schedule: Box::new(schedule?),
                    tz: tz?,
                })
            }
        }
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration::deserialize(d).map(Some)
}

fn default_failure_threshold() -> u32 {
    3
}

fn default_success_threshold() -> u32 {
    2
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_true() -> bool {
    true
}

/// Adds one file's `checks:`; a name given twice is an error naming both places.
pub(crate) fn merge_checks(value: Node, merged: &mut Vec<Entry>, out: &mut Vec<Diagnostic>) {
    match value.value {
        Value::Map(checks) => {
            for check in checks {
                if let Some(first) = merged.iter().find(|c| c.key == check.key) {
                    out.push(Diagnostic::at(
                        check.key_loc.to_location(),
                        format!(
                            "check \"{}\" is defined twice: at {} and at {}",
                            check.key, first.key_loc, check.key_loc
                        ),
                    ));
                } else {
                    merged.push(check);
                }
            }
        }
        Value::Null => {}
        _ => out.push(Diagnostic::at(
            value.loc.to_location(),
            "checks must be a mapping from check name to check",
        )),
    }
}

/// Types and checks one check; `None` (with diagnostics) when anything is wrong.
pub(crate) fn typed_check(
    name: &str,
    node: &Node,
    default_tz: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<CheckConfig> {
    let context = format!("check \"{name}\"");
    let mut check = crate::load::typed_section::<CheckConfig>(node, &context, out)?;
    if let Some(http) = &mut check.http {
        http.method = http.method.to_ascii_uppercase();
    }
    if let Err(problems) = check.compile(name, default_tz) {
        for p in problems {
            let path: Vec<&str> = p.field.iter().map(String::as_str).collect();
            let loc = if path.is_empty() {
                &node.loc
            } else {
                node.loc_of(&path)
            };
            out.push(Diagnostic::at(
                loc.to_location(),
                format!("{context}: {}", p.message),
            ));
        }
        return None;
    }
    Some(check)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load_str;

    #[test]
    fn loads_with_defaults() {
        let yaml = "checks:\n  api:\n    http: { url: \"http://127.0.0.1:1/health\" }\n    schedule: { every: 30s }\n    assert: ['json.status == \"ok\" && response_time_ms < 500']\n    extract: { version: $.version }\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let c = &loaded.config.checks["api"];
        assert_eq!(c.failure_threshold, 3);
        assert_eq!(c.success_threshold, 2);
        assert_eq!(c.remind_every, None);
        let http = c.http.as_ref().unwrap();
        assert_eq!(http.method, "GET");
        assert!(http.follow_redirects && http.verify_tls);
        assert_eq!(http.timeout, Duration::from_secs(10));
        assert_eq!(
            c.compile("api", "UTC").unwrap(),
            CheckCadence::Every(Duration::from_secs(30))
        );
        assert!(loaded.origins.contains_key("checks.api"));
    }

    #[test]
    fn loads_tcp_with_cron_and_h() {
        let yaml = "server: { timezone: Europe/Paris }\nchecks:\n  db:\n    tcp: { host: localhost, port: 5432, timeout: 2s }\n    schedule: { cron: \"H/5 * * * *\" }\n    remind_every: 1h\n    failure_threshold: 1\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let c = &loaded.config.checks["db"];
        assert_eq!(c.target(), "localhost:5432");
        assert_eq!(c.remind_every, Some(Duration::from_secs(3600)));
        match c.compile("db", "Europe/Paris").unwrap() {
            CheckCadence::Cron { tz, .. } => assert_eq!(tz.name(), "Europe/Paris"),
            other => panic!("{other:?}"),
        }
    }

    fn errors(yaml: &str) -> Vec<String> {
        load_str(yaml, Path::new("c.yaml"))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn bad_cel_jsonpath_and_cron_are_reported_at_their_fields() {
        let yaml = "checks:\n  api:\n    http: { url: \"http://x/h\" }\n    schedule: { cron: \"0 0 32 * *\" }\n    assert:\n      - 'json.status == '\n    extract:\n      version: \"$..[\"\n";
        let text = errors(yaml);
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(
            text[0].starts_with("c.yaml:4:23: check \"api\": cron")
                && text[0].contains("out of range 1-31"),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with("c.yaml:6:9: check \"api\": assertion 1 is not valid CEL"),
            "{text:#?}"
        );
        assert!(
            text[2]
                .starts_with("c.yaml:8:16: check \"api\": extract \"version\": invalid JSONPath"),
            "{text:#?}"
        );
    }

    #[test]
    fn probe_and_schedule_must_be_exactly_one() {
        let none = errors("checks:\n  a:\n    schedule: { every: 1s }\n");
        assert!(none[0].contains("needs a probe"), "{none:?}");
        let both = errors(
            "checks:\n  a:\n    http: { url: \"http://x\" }\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s, cron: \"* * * * *\" }\n",
        );
        assert!(
            both.iter()
                .any(|t| t.contains("not both") && t.contains("`tcp`")),
            "{both:?}"
        );
        assert!(
            both.iter()
                .any(|t| t.contains("`cron` or `every`, not both")),
            "{both:?}"
        );
        let neither = errors("checks:\n  a:\n    tcp: { host: x, port: 1 }\n    schedule: {}\n");
        assert!(neither[0].contains("set `cron`"), "{neither:?}");
    }

    #[test]
    fn thresholds_urls_and_unknown_keys() {
        let text = errors(
            "checks:\n  a:\n    http: { url: \"ftp://x\", verify: false }\n    schedule: { every: 1s }\n",
        );
        assert!(text[0].contains("unknown field `verify`"), "{text:?}");
        let text = errors(
            "checks:\n  a:\n    http: { url: \"ftp://x\" }\n    schedule: { every: 10ms }\n    failure_threshold: 0\n",
        );
        assert!(
            text.iter().any(|t| t.contains("scheme \"ftp\"")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("at least 100ms")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("failure_threshold must be at least 1")),
            "{text:?}"
        );
    }

    #[test]
    fn maintenance_windows_load_and_contain_their_times() {
        let yaml = "checks:\n  api:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s }\n    maintenance:\n      - { cron: \"0 2 * * SUN\", duration: 2h, timezone: Europe/Paris }\n      - { from: \"2026-12-24T00:00:00Z\", to: \"2026-12-25T00:00:00Z\" }\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let windows = loaded.config.checks["api"]
            .maintenance_windows("api", "UTC")
            .unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Sunday 2026-03-01, 02:00-04:00 in Paris is 01:00-03:00 UTC.
        assert!(!windows[0].contains(at("2026-03-01T00:59:59Z")));
        assert!(windows[0].contains(at("2026-03-01T01:00:00Z")));
        assert!(windows[0].contains(at("2026-03-01T02:59:59Z")));
        assert!(!windows[0].contains(at("2026-03-01T03:00:00Z")));
        assert!(!windows[0].contains(at("2026-03-02T01:30:00Z")));
        assert!(windows[1].contains(at("2026-12-24T12:00:00Z")));
        assert!(!windows[1].contains(at("2026-12-25T00:00:00Z")));
    }

    #[test]
    fn bad_maintenance_windows_are_located() {
        let text = errors(
            "checks:\n  api:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1s }\n    maintenance:\n      - { cron: \"0 2 * * SUN\" }\n      - { cron: \"0 25 * * *\", duration: 1h }\n      - { from: \"2026-12-25T00:00:00Z\", to: \"2026-12-24T00:00:00Z\" }\n",
        );
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(
            text[0].starts_with(
                "c.yaml:6:9: check \"api\": maintenance window 1: set `cron` and `duration`"
            ),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with("c.yaml:7:17: check \"api\": maintenance window 2: cron"),
            "{text:#?}"
        );
        assert!(
            text[2].starts_with("c.yaml:8:9: check \"api\": maintenance window 3: from 2026-12-25"),
            "{text:#?}"
        );
    }

    #[test]
    fn a_name_twice_is_an_error() {
        let yaml = "checks:\n  a: { tcp: { host: x, port: 1 }, schedule: { every: 1s } }\nchecks:\n  a: { tcp: { host: x, port: 1 }, schedule: { every: 1s } }\n";
        let result = load_str(yaml, Path::new("c.yaml"));
        assert!(result.is_err());
    }
}
