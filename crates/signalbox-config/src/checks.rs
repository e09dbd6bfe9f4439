//! `checks.<name>:` — health checks run on a schedule: what to probe (`http`, `tcp`, `dns` or
//! `tls`), when
//! (`schedule`), what must hold (`assert`, CEL), what to carry along (`extract`, JSONPath), and
//! when a run of failures becomes an alert (`failure_threshold`, `success_threshold`,
//! `remind_every`).
//!
//! Everything that can be wrong in a check's text — the URL, the cron expression, the zone, a CEL
//! expression, a JSONPath — is reported at load with its position, so `signalbox validate`
//! catches it before the monitor runs.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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
    /// Probe by asking a DNS resolver.
    #[serde(default)]
    pub dns: Option<DnsProbeConfig>,
    /// Probe by a TLS handshake, for the server's certificate.
    #[serde(default)]
    pub tls: Option<TlsProbeConfig>,
    /// Expect pings (`POST /v1/heartbeats/{name}`) instead of probing: a dead man's switch.
    /// It carries its own schedule, so `schedule` stays empty.
    #[serde(default)]
    pub heartbeat: Option<HeartbeatConfig>,
    /// When the probe runs (required for every kind but `heartbeat`).
    #[serde(default)]
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
    /// `1`: before `Check Failed`, another live instance probes the check once and must see
    /// it fail too; `0` (the default): this instance's runs decide alone.
    #[serde(default)]
    pub confirm: u32,
    /// Windows during which the check keeps running but its verdicts do not change its alert
    /// state, so nothing is announced.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceConfig>,
    /// Free text shown in the API and UI.
    #[serde(default)]
    pub description: Option<String>,
    /// Where this check's run results are reported (targets as a rule's), besides
    /// `monitor.report` (see `docs/checks.md`, "Reporting results").
    #[serde(default)]
    pub report: Vec<crate::model::TargetConfig>,
    /// Whether this check's results also go to `monitor.report`.
    #[serde(default = "default_true")]
    pub report_global: bool,
    /// `report` gets many results per event (`Check Results`); `false`: one event per run
    /// (`Check Result`), for targets that want one request per run.
    #[serde(default = "default_true")]
    pub report_batch: bool,
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
    /// A certificate to present to servers that ask for one (mutual TLS).
    #[serde(default)]
    pub client_cert: Option<ClientCertConfig>,
    /// A PEM file of extra CA certificates to trust besides the system's; relative to the
    /// config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Reuse connections across runs (and with checks of the same settings). `false` opens a
    /// new connection (and TLS handshake) for every run, which also tests that the service
    /// accepts new connections.
    #[serde(default = "default_true")]
    pub keep_alive: bool,
}

/// `client_cert:` — PEM files, relative to the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    /// The certificate (chain), leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// DNS record types a `dns:` probe can ask for.
pub const DNS_RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT",
];

/// `dns:` — one query per run, straight to the resolver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsProbeConfig {
    /// The name asked about.
    pub name: String,
    /// Record type, one of [`DNS_RECORD_TYPES`]; uppercase after loading.
    #[serde(rename = "type", default = "default_record_type")]
    pub record_type: String,
    /// `ip` or `ip:port` (port 53 when absent; `[v6]:port` for IPv6); the first `nameserver`
    /// of `/etc/resolv.conf` when absent.
    #[serde(default)]
    pub resolver: Option<String>,
    /// Transport of the query.
    #[serde(default)]
    pub protocol: DnsProtocol,
    /// Time allowed for the answer.
    #[serde(default = "default_short_timeout", with = "duration")]
    pub timeout: Duration,
}

impl DnsProbeConfig {
    /// The resolver's address when one is set and valid.
    pub fn resolver_addr(&self) -> Option<Result<SocketAddr, String>> {
        self.resolver.as_deref().map(parse_resolver)
    }
}

/// `protocol:` of a `dns:` probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsProtocol {
    /// One datagram each way; a truncated answer is asked again over TCP.
    #[default]
    Udp,
    /// A TCP connection per query.
    Tcp,
}

/// `tls:` — one TLS handshake per run, to read the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsProbeConfig {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    #[serde(default = "default_tls_port")]
    pub port: u16,
    /// Name sent in SNI and verified against the certificate; `host` when absent.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Verify the certificate chain and name; when `false` any certificate is read.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// A PEM file of extra CA certificates to trust besides the system's; relative to the
    /// config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time allowed to connect and complete the handshake.
    #[serde(default = "default_short_timeout", with = "duration")]
    pub timeout: Duration,
}

impl TlsProbeConfig {
    /// The name sent in SNI and checked against the certificate.
    pub fn server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
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

/// `heartbeat:` — when pings are expected (exactly one of `every` or `cron`, with an optional
/// `timezone`), and how late they may be (`grace`). See `docs/checks.md`, "Heartbeats".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// A ping is expected at most this long after the previous one.
    #[serde(default, deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
    /// A ping is expected after each time of this expression (`H` hashes the check's name).
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA zone of `cron`; `server.timezone` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// How late a ping may be before the check fails; also how long a `/start` may run.
    #[serde(default = "default_grace", with = "duration")]
    pub grace: Duration,
}

/// Shortest `heartbeat.every`.
pub const MIN_HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

impl HeartbeatConfig {
    /// How often a heartbeat is evaluated: a quarter of the grace, between 250 ms and 30 s, so a
    /// late ping is noticed well within the grace it was given.
    pub fn evaluate_every(&self) -> Duration {
        (self.grace / 4).clamp(Duration::from_millis(250), Duration::from_secs(30))
    }

    /// When pings are expected: `Every` (relative to the last ping) or `Cron` (each time of the
    /// expression). `name` hashes `H`; `default_tz` is `server.timezone`.
    pub fn expected(
        &self,
        name: &str,
        default_tz: &str,
    ) -> Result<CheckCadence, Vec<CheckProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(CheckProblem {
                field: vec!["heartbeat".to_owned(), field.to_owned()],
                message: format!("heartbeat: {message}"),
            })
        };
        if self.grace.is_zero() {
            problem("grace", "grace must be more than 0".into());
        }
        let expected = match (&self.cron, self.every) {
            (Some(_), Some(_)) => {
                problem("every", "set one of `cron` or `every`, not both".into());
                None
            }
            (None, None) => {
                problem(
                    "grace",
                    "set `every` or `cron` (with an optional `timezone`)".into(),
                );
                None
            }
            (None, Some(every)) => {
                if self.timezone.is_some() {
                    problem("timezone", "`timezone` applies to `cron` only".into());
                }
                if every < MIN_HEARTBEAT_EVERY {
                    problem("every", "`every` must be at least 1s".into());
                }
                Some(CheckCadence::Every(every))
            }
            (Some(cron), None) => {
                let schedule = Schedule::parse(cron, name)
                    .map_err(|e| problem("cron", format!("cron \"{cron}\": {e}")))
                    .ok();
                let zone = self.timezone.as_deref().unwrap_or(default_tz);
                let tz = parse_time_zone(zone)
                    .map_err(|e| problem("timezone", format!("timezone: {e}")))
                    .ok();
                match (schedule, tz) {
                    (Some(schedule), Some(tz)) => Some(CheckCadence::Cron {
                        schedule: Box::new(schedule),
                        tz,
                    }),
                    _ => None,
                }
            }
        };
        match expected {
            Some(expected) if problems.is_empty() => Ok(expected),
            _ => Err(problems),
        }
    }
}

/// `schedule:` — exactly one of `cron` (with an optional `timezone`) or `every`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
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
    /// `dns:`
    Dns(&'a DnsProbeConfig),
    /// `tls:`
    Tls(&'a TlsProbeConfig),
    /// `heartbeat:`
    Heartbeat(&'a HeartbeatConfig),
}

impl ProbeKind<'_> {
    /// The kind without its settings.
    pub fn probe_type(&self) -> ProbeType {
        match self {
            ProbeKind::Http(_) => ProbeType::Http,
            ProbeKind::Tcp(_) => ProbeType::Tcp,
            ProbeKind::Dns(_) => ProbeType::Dns,
            ProbeKind::Tls(_) => ProbeType::Tls,
            ProbeKind::Heartbeat(_) => ProbeType::Heartbeat,
        }
    }
}

/// The kind of a check's probe: it decides the default rule and which assertion variables
/// exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeType {
    /// `http:`
    Http,
    /// `tcp:`
    Tcp,
    /// `dns:`
    Dns,
    /// `tls:`
    Tls,
    /// `heartbeat:`
    Heartbeat,
}

/// Every assertion variable of any probe kind.
pub const ASSERTION_VARIABLES: &[&str] = &[
    "status",
    "headers",
    "body",
    "json",
    "response_time_ms",
    "connected",
    "error",
    "cert_expires_in_days",
    "cert",
    "dns_answers",
    "dns_rcode",
    "last_ping_age_ms",
];

impl ProbeType {
    /// The config key (`http`, `tcp`, `dns`, `tls`).
    pub fn key(self) -> &'static str {
        match self {
            ProbeType::Http => "http",
            ProbeType::Tcp => "tcp",
            ProbeType::Dns => "dns",
            ProbeType::Tls => "tls",
            ProbeType::Heartbeat => "heartbeat",
        }
    }

    /// The assertion variables a result of this kind has.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            ProbeType::Http => &[
                "status",
                "headers",
                "body",
                "json",
                "response_time_ms",
                "connected",
                "error",
                "cert_expires_in_days",
                "cert",
            ],
            ProbeType::Tcp => &["response_time_ms", "connected", "error"],
            ProbeType::Dns => &[
                "dns_answers",
                "dns_rcode",
                "response_time_ms",
                "connected",
                "error",
            ],
            ProbeType::Tls => &[
                "cert_expires_in_days",
                "cert",
                "response_time_ms",
                "connected",
                "error",
            ],
            ProbeType::Heartbeat => &["last_ping_age_ms", "connected", "error"],
        }
    }

    /// The variables `program` uses that results of this kind never have.
    pub fn foreign_variables(self, program: &cel::Program) -> Vec<&'static str> {
        let references = program.references();
        // Only known names count: comprehension variables (`x` in `list.all(x, …)`) are free.
        ASSERTION_VARIABLES
            .iter()
            .copied()
            .filter(|v| references.has_variable(v) && !self.variables().contains(v))
            .collect()
    }
}

impl CheckConfig {
    /// The probe. A loaded check has exactly one; for a hand-built value without any, `None`
    /// (with several, the first of `http`, `tcp`, `dns`, `tls`).
    pub fn probe(&self) -> Option<ProbeKind<'_>> {
        if let Some(http) = &self.http {
            Some(ProbeKind::Http(http))
        } else if let Some(tcp) = &self.tcp {
            Some(ProbeKind::Tcp(tcp))
        } else if let Some(dns) = &self.dns {
            Some(ProbeKind::Dns(dns))
        } else if let Some(tls) = &self.tls {
            Some(ProbeKind::Tls(tls))
        } else {
            self.heartbeat.as_ref().map(ProbeKind::Heartbeat)
        }
    }

    /// What the check points at, for events and logs: the URL, `host:port` (TCP),
    /// `dns://resolver/name?type=A` (`dns://system/…` for the system resolver) or
    /// `tls://host:port` (`tls://host:port?sni=name` when the server name differs).
    pub fn target(&self) -> String {
        match self.probe() {
            Some(ProbeKind::Http(http)) => http.url.clone(),
            Some(ProbeKind::Tcp(tcp)) => format!("{}:{}", tcp.host, tcp.port),
            Some(ProbeKind::Dns(dns)) => {
                let resolver = match dns.resolver_addr() {
                    Some(Ok(addr)) => addr.to_string(),
                    Some(Err(_)) => dns.resolver.clone().unwrap_or_default(),
                    None => "system".to_owned(),
                };
                let protocol = match dns.protocol {
                    DnsProtocol::Udp => "",
                    DnsProtocol::Tcp => "&protocol=tcp",
                };
                format!(
                    "dns://{resolver}/{}?type={}{protocol}",
                    dns.name, dns.record_type
                )
            }
            Some(ProbeKind::Tls(tls)) => {
                let host = match tls.host.parse::<IpAddr>() {
                    Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
                    _ => tls.host.clone(),
                };
                match &tls.server_name {
                    Some(name) if *name != tls.host => {
                        format!("tls://{host}:{}?sni={name}", tls.port)
                    }
                    _ => format!("tls://{host}:{}", tls.port),
                }
            }
            // The ping URL needs the check's name, which the monitor adds.
            Some(ProbeKind::Heartbeat(_)) => "heartbeat".to_owned(),
            None => String::new(),
        }
    }
}

/// `ip` or `ip:port` (`[v6]:port`), port 53 when absent.
fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!("resolver \"{text}\" is not an IP address with an optional port (\"10.0.0.2\", \"10.0.0.2:5353\", \"[::1]:53\")")
        })
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
        let probes: Vec<&str> = [
            ("http", self.http.is_some()),
            ("tcp", self.tcp.is_some()),
            ("dns", self.dns.is_some()),
            ("tls", self.tls.is_some()),
            ("heartbeat", self.heartbeat.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        match probes.as_slice() {
            [] => problem(
                &[],
                "a check needs a probe: `http`, `tcp`, `dns`, `tls` or `heartbeat`".into(),
            ),
            [_] => {}
            [first, second] => problem(
                &[*second],
                format!(
                    "set one probe of `http`, `tcp`, `dns`, `tls` or `heartbeat`, not both `{first}` and `{second}`"
                ),
            ),
            [.., last] => problem(
                &[*last],
                format!(
                    "set one probe of `http`, `tcp`, `dns`, `tls` or `heartbeat`, not {}",
                    probes
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
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
            if let Some(client) = &http.client_cert {
                if let Err(message) = check_pem(&client.cert, "certificate", "CERTIFICATE") {
                    problem(
                        &["http", "client_cert", "cert"],
                        format!("client_cert: {message}"),
                    );
                }
                if let Err(message) = check_pem(&client.key, "private key", "PRIVATE KEY") {
                    problem(
                        &["http", "client_cert", "key"],
                        format!("client_cert: {message}"),
                    );
                }
            }
            if let Some(ca) = &http.ca_file
                && let Err(message) = check_pem(ca, "CA certificate", "CERTIFICATE")
            {
                problem(&["http", "ca_file"], format!("ca_file: {message}"));
            }
        }
        if let Some(dns) = &self.dns {
            if dns.name.trim().is_empty() {
                problem(&["dns", "name"], "name must not be empty".into());
            }
            if !DNS_RECORD_TYPES.contains(&dns.record_type.as_str()) {
                problem(
                    &["dns", "type"],
                    format!(
                        "record type \"{}\" is not supported; use one of {}",
                        dns.record_type,
                        DNS_RECORD_TYPES.join(", ")
                    ),
                );
            }
            if let Some(Err(message)) = dns.resolver_addr() {
                problem(&["dns", "resolver"], message);
            }
            if dns.timeout.is_zero() {
                problem(&["dns", "timeout"], "timeout must be more than 0".into());
            }
        }
        if let Some(tls) = &self.tls {
            if tls.host.trim().is_empty() {
                problem(&["tls", "host"], "host must not be empty".into());
            }
            if tls.port == 0 {
                problem(&["tls", "port"], "port must be 1-65535".into());
            }
            if tls
                .server_name
                .as_deref()
                .is_some_and(|n| n.trim().is_empty())
            {
                problem(
                    &["tls", "server_name"],
                    "server_name must not be empty".into(),
                );
            }
            if let Some(ca) = &tls.ca_file
                && let Err(message) = check_pem(ca, "CA certificate", "CERTIFICATE")
            {
                problem(&["tls", "ca_file"], format!("ca_file: {message}"));
            }
            if tls.timeout.is_zero() {
                problem(&["tls", "timeout"], "timeout must be more than 0".into());
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
        let probe_type = self.probe().map(|p| p.probe_type());
        for (i, expression) in self.assert.iter().enumerate() {
            match cel::Program::compile(expression) {
                Err(error) => {
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
                Ok(program) => {
                    if let Some(kind) = probe_type
                        && let Some(message) = foreign_variables_message(i, kind, &program)
                    {
                        problem(&["assert", &i.to_string()], message);
                    }
                }
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
        if self.confirm > 1 {
            problem(
                &["confirm"],
                format!(
                    "confirm is {}: it must be 0 or 1 (one other instance confirms a failure)",
                    self.confirm
                ),
            );
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
        if let Some(heartbeat) = &self.heartbeat {
            if *s != CheckScheduleConfig::default() {
                problem(
                    &["schedule"],
                    "a heartbeat check takes its schedule in `heartbeat:` (`every` or `cron`), not in `schedule`".into(),
                );
            }
            return match heartbeat.expected(name, default_tz) {
                Ok(_) => Some(CheckCadence::Every(heartbeat.evaluate_every())),
                Err(problems) => {
                    for p in problems {
                        let path: Vec<&str> = p.field.iter().map(String::as_str).collect();
                        problem(&path, p.message);
                    }
                    None
                }
            };
        }
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

/// Why assertion `index` (0-based) cannot hold for a `kind` check, when it uses variables of
/// another probe kind.
pub fn foreign_variables_message(
    index: usize,
    kind: ProbeType,
    program: &cel::Program,
) -> Option<String> {
    let foreign = kind.foreign_variables(program);
    if foreign.is_empty() {
        return None;
    }
    let quoted = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "assertion {} uses {}, which {} checks do not have (they have {})",
        index + 1,
        quoted(&foreign),
        kind.key(),
        quoted(kind.variables())
    ))
}

/// Whether `path` can be read and holds well-formed PEM with a block of `label`
/// (`CERTIFICATE`, or any `… PRIVATE KEY`), as the monitor will read it.
fn check_pem(path: &Path, what: &str, label: &str) -> Result<(), String> {
    use rustls_pki_types::pem::{self, PemObject};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read {what} file \"{}\": {e}", path.display()))?;
    let found = if label == "CERTIFICATE" {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map(|certs| !certs.is_empty())
    } else {
        match PrivateKeyDer::from_pem_slice(&bytes) {
            Ok(_) => Ok(true),
            Err(pem::Error::NoItemsFound) => Ok(false),
            Err(e) => Err(e),
        }
    };
    match found {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "{what} file \"{}\" holds no PEM {label} block",
            path.display()
        )),
        Err(e) => Err(format!(
            "{what} file \"{}\" is not valid PEM: {e}",
            path.display()
        )),
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration::deserialize(d).map(Some)
}

fn default_grace() -> Duration {
    Duration::from_secs(60)
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

fn default_short_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_record_type() -> String {
    "A".to_owned()
}

fn default_tls_port() -> u16 {
    443
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
    if !crate::report::check_report_targets(name, &mut check.report, node, out) {
        return None;
    }
    // Certificate files are relative to the file the check is written in, as `${file:…}`.
    let base_dir = node.loc.file.parent().unwrap_or_else(|| Path::new(""));
    let relative = |path: &mut PathBuf| *path = base_dir.join(&*path);
    if let Some(http) = &mut check.http {
        http.method = http.method.to_ascii_uppercase();
        if let Some(client) = &mut http.client_cert {
            relative(&mut client.cert);
            relative(&mut client.key);
        }
        if let Some(ca) = &mut http.ca_file {
            relative(ca);
        }
    }
    if let Some(dns) = &mut check.dns {
        dns.record_type = dns.record_type.to_ascii_uppercase();
    }
    if let Some(ca) = check.tls.as_mut().and_then(|tls| tls.ca_file.as_mut()) {
        relative(ca);
    }
    if check.heartbeat.is_some() {
        // The grace already forgives a late ping, and each evaluation is a fresh verdict on the
        // pings so far: one failing evaluation is an outage, one good one a recovery.
        if node.get("failure_threshold").is_none() {
            check.failure_threshold = 1;
        }
        if node.get("success_threshold").is_none() {
            check.success_threshold = 1;
        }
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
    fn confirm_is_zero_or_one() {
        let text = errors(
            "checks:\n  a:\n    http: { url: \"http://x\" }\n    schedule: { every: 1s }\n    confirm: 2\n",
        );
        assert!(
            text.iter()
                .any(|t| t.contains("confirm is 2: it must be 0 or 1") && t.contains(":5:")),
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
    fn heartbeats_take_their_own_schedule_and_threshold_one() {
        let yaml = "checks:\n  backup:\n    heartbeat: { every: 5m, grace: 1m }\n  nightly:\n    heartbeat: { cron: \"0 3 * * *\", timezone: Europe/Paris }\n    failure_threshold: 2\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let backup = &loaded.config.checks["backup"];
        assert_eq!(
            backup.probe().map(|p| p.probe_type()),
            Some(ProbeType::Heartbeat)
        );
        assert_eq!((backup.failure_threshold, backup.success_threshold), (1, 1));
        let hb = backup.heartbeat.as_ref().unwrap();
        assert_eq!(
            hb.expected("backup", "UTC").unwrap(),
            CheckCadence::Every(Duration::from_secs(300))
        );
        // Evaluated every quarter of the grace.
        assert_eq!(
            backup.compile("backup", "UTC").unwrap(),
            CheckCadence::Every(Duration::from_secs(15))
        );
        let nightly = &loaded.config.checks["nightly"];
        assert_eq!(
            (nightly.failure_threshold, nightly.success_threshold),
            (2, 1)
        );
        let hb = nightly.heartbeat.as_ref().unwrap();
        assert_eq!(hb.grace, Duration::from_secs(60));
        match hb.expected("nightly", "UTC").unwrap() {
            CheckCadence::Cron { tz, .. } => assert_eq!(tz.name(), "Europe/Paris"),
            other => panic!("{other:?}"),
        }
        assert_eq!(hb.evaluate_every(), Duration::from_secs(15));
        let tiny = HeartbeatConfig {
            every: Some(Duration::from_secs(1)),
            cron: None,
            timezone: None,
            grace: Duration::from_millis(200),
        };
        assert_eq!(tiny.evaluate_every(), Duration::from_millis(250));
    }

    #[test]
    fn bad_heartbeats_are_located() {
        let text = errors(
            "checks:\n  a:\n    heartbeat: { every: 5m, cron: \"* * * * *\" }\n  b:\n    heartbeat: { every: 500ms, grace: 0s }\n  c:\n    heartbeat: { cron: \"0 0 32 * *\" }\n    schedule: { every: 1s }\n  d:\n    heartbeat: { every: 1m }\n    tcp: { host: x, port: 1 }\n",
        );
        assert!(
            text.iter().any(|t| t
                .starts_with("c.yaml:3:25: check \"a\": heartbeat: set one of `cron` or `every`")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t
                    .starts_with("c.yaml:5:39: check \"b\": heartbeat: grace must be more than 0")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t
                .starts_with("c.yaml:5:25: check \"b\": heartbeat: `every` must be at least 1s")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("check \"c\": heartbeat: cron \"0 0 32 * *\"")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with(
                "c.yaml:8:15: check \"c\": a heartbeat check takes its schedule in `heartbeat:`"
            )),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("check \"d\"") && t.contains("not both `tcp` and `heartbeat`")),
            "{text:#?}"
        );
        // Without `heartbeat`, `schedule` is still required.
        let text = errors("checks:\n  a:\n    tcp: { host: x, port: 1 }\n");
        assert!(text[0].contains("schedule: set `cron`"), "{text:?}");
    }

    #[test]
    fn dns_and_tls_load_with_defaults_and_show_their_targets() {
        let yaml = "checks:\n  a:\n    dns: { name: example.test }\n    schedule: { every: 1m }\n  mx:\n    dns: { name: example.test, type: mx, resolver: \"10.0.0.2\", protocol: tcp }\n    schedule: { every: 1m }\n  v6:\n    dns: { name: example.test, type: AAAA, resolver: \"[::1]:5353\" }\n    schedule: { every: 1m }\n  cert:\n    tls: { host: example.test }\n    schedule: { every: 1h }\n    assert: ['cert_expires_in_days > 14']\n  sni:\n    tls: { host: \"::1\", port: 8443, server_name: api.test, verify: false, timeout: 2s }\n    schedule: { every: 1h }\n";
        let loaded = load_str(yaml, Path::new("c.yaml")).expect("loads");
        let checks = &loaded.config.checks;
        let a = checks["a"].dns.as_ref().unwrap();
        assert_eq!(
            (a.record_type.as_str(), a.protocol, a.resolver.as_deref()),
            ("A", DnsProtocol::Udp, None)
        );
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(checks["a"].target(), "dns://system/example.test?type=A");
        assert_eq!(checks["a"].probe().unwrap().probe_type(), ProbeType::Dns);
        assert_eq!(
            checks["mx"].target(),
            "dns://10.0.0.2:53/example.test?type=MX&protocol=tcp"
        );
        assert_eq!(
            checks["v6"].target(),
            "dns://[::1]:5353/example.test?type=AAAA"
        );
        let tls = checks["cert"].tls.as_ref().unwrap();
        assert_eq!(
            (tls.port, tls.verify, tls.server_name()),
            (443, true, "example.test")
        );
        assert_eq!(tls.timeout, Duration::from_secs(5));
        assert_eq!(checks["cert"].target(), "tls://example.test:443");
        assert_eq!(checks["sni"].target(), "tls://[::1]:8443?sni=api.test");
        assert!(!checks["sni"].tls.as_ref().unwrap().verify);
    }

    #[test]
    fn bad_dns_and_tls_settings_are_located() {
        let text = errors(
            "checks:\n  a:\n    dns: { name: example.test, type: AXFR, resolver: dns.example }\n    schedule: { every: 1m }\n  b:\n    tls: { host: example.test, port: 0, protocol: tcp }\n    schedule: { every: 1m }\n  c:\n    tls: { host: example.test, port: 0 }\n    schedule: { every: 1m }\n",
        );
        assert_eq!(text.len(), 4, "{text:#?}");
        assert_eq!(
            text[0],
            "c.yaml:3:38: check \"a\": record type \"AXFR\" is not supported; use one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT"
        );
        assert!(
            text[1].starts_with(
                "c.yaml:3:54: check \"a\": resolver \"dns.example\" is not an IP address"
            ),
            "{text:#?}"
        );
        assert!(text[2].contains("unknown field `protocol`"), "{text:#?}");
        assert!(
            text[3].starts_with("c.yaml:9:38: check \"c\": port must be 1-65535"),
            "{text:#?}"
        );
    }

    fn errors_at(yaml: &str, file: &Path) -> Vec<String> {
        load_str(yaml, file)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn certificate_files_are_read_at_load_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        let yaml = "checks:\n  mtls:\n    http:\n      url: \"https://api.test/\"\n      client_cert: { cert: certs/client.pem, key: certs/client.key }\n      ca_file: certs/ca.pem\n    schedule: { every: 1m }\n";
        let text = errors_at(yaml, &file);
        assert_eq!(text.len(), 3, "{text:#?}");
        let shown = |name: &str| dir.path().join("certs").join(name).display().to_string();
        assert!(
            text[0].contains(":5:28: check \"mtls\": client_cert: cannot read certificate file")
                && text[0].contains(&shown("client.pem")),
            "{text:#?}"
        );
        assert!(
            text[1].contains(":5:51: check \"mtls\": client_cert: cannot read private key file"),
            "{text:#?}"
        );
        assert!(
            text[2].contains(":6:16: check \"mtls\": ca_file: cannot read CA certificate file"),
            "{text:#?}"
        );

        std::fs::create_dir(dir.path().join("certs")).unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("certs/client.pem"), cert).unwrap();
        std::fs::write(dir.path().join("certs/ca.pem"), cert).unwrap();
        std::fs::write(dir.path().join("certs/client.key"), cert).unwrap();
        let text = errors_at(yaml, &file);
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(
            text[0].contains("client_cert: private key file")
                && text[0].contains("holds no PEM PRIVATE KEY block"),
            "{text:#?}"
        );

        let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.path().join("certs/client.key"), key).unwrap();
        let loaded = load_str(yaml, &file).expect("loads");
        let http = loaded.config.checks["mtls"].http.as_ref().unwrap();
        let client = http.client_cert.as_ref().unwrap();
        assert_eq!(client.cert, dir.path().join("certs/client.pem"));
        assert_eq!(client.key, dir.path().join("certs/client.key"));
        assert_eq!(
            http.ca_file.as_deref(),
            Some(dir.path().join("certs/ca.pem").as_path())
        );

        std::fs::write(
            dir.path().join("certs/ca.pem"),
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let text = errors_at(yaml, &file);
        assert!(
            text.len() == 1
                && text[0].contains("ca_file: CA certificate file")
                && text[0].contains("is not valid PEM"),
            "{text:#?}"
        );
    }

    #[test]
    fn assertions_may_use_only_their_probe_kinds_variables() {
        let text = errors(
            "checks:\n  db:\n    tcp: { host: x, port: 1 }\n    schedule: { every: 1m }\n    assert:\n      - 'connected'\n      - 'status == 200 && dns_answers.size() > 0'\n",
        );
        assert_eq!(
            text,
            [
                "c.yaml:7:9: check \"db\": assertion 2 uses `status`, `dns_answers`, which tcp checks do not have (they have `response_time_ms`, `connected`, `error`)"
            ]
        );
        let ok = "checks:\n  d:\n    dns: { name: x.test }\n    schedule: { every: 1m }\n    assert: ['dns_answers.all(a, a.startsWith(\"10.\")) && response_time_ms < 100']\n";
        assert!(load_str(ok, Path::new("c.yaml")).is_ok());
    }

    #[test]
    fn a_name_twice_is_an_error() {
        let yaml = "checks:\n  a: { tcp: { host: x, port: 1 }, schedule: { every: 1s } }\nchecks:\n  a: { tcp: { host: x, port: 1 }, schedule: { every: 1s } }\n";
        let result = load_str(yaml, Path::new("c.yaml"));
        assert!(result.is_err());
    }
}
