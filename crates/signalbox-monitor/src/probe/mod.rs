//! Probes: one run of a check against the outside world, observed as a [`ProbeResult`].
//!
//! One file per kind: [`http`], [`tcp`], [`dns`], [`tls`]; [`certificate`] reads the server
//! certificates that `tls:` and `https:` probes see and builds their TLS settings.
//!
//! A probe never fails: a refused connection, a timeout or an unreadable body are part of
//! the result (`connected`, `error`), for the assertions to judge. Building one can fail
//! ([`ProbeError`]) when its settings cannot be used: a key file that does not parse, say.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;

pub mod certificate;
pub mod dns;
pub mod http;
pub mod tcp;
pub mod tls;

#[cfg(test)]
pub(crate) mod testing;

pub use certificate::CertInfo;
pub use dns::DnsProbe;
pub use http::{HttpClients, HttpProbe, MAX_BODY_BYTES};
pub use tcp::TcpProbe;
pub use tls::TlsProbe;

/// What one run observed. Fields a probe kind does not fill keep their default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeResult {
    /// HTTP status code; `None` without a response (and for other probes).
    pub status: Option<u16>,
    /// Response headers, names lowercase; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Response body as text (invalid UTF-8 replaced), at most [`MAX_BODY_BYTES`].
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
    /// Time from the start of the run to the end of the body (TCP: to the connection; DNS: to
    /// the answer; TLS: to the end of the handshake).
    pub response_time_ms: u64,
    /// Whether the probe got through: HTTP a response, TCP a connection, DNS an answer, TLS a
    /// completed handshake.
    pub connected: bool,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// Days until the server certificate's `notAfter` (negative once expired), for `tls:` and
    /// `https:` probes that saw a certificate.
    pub cert_expires_in_days: Option<f64>,
    /// The server's leaf certificate, when one was seen (even if it failed verification).
    pub cert: Option<CertInfo>,
    /// DNS: the answer records of the asked type, in presentation form (`"10 mail.example."`).
    pub dns_answers: Vec<String>,
    /// DNS: the response code (`NOERROR`, `NXDOMAIN`, …) when an answer came back.
    pub dns_rcode: Option<String>,
    /// Heartbeat: milliseconds since the last success ping, when there was one.
    pub last_ping_age_ms: Option<u64>,
}

impl ProbeResult {
    /// The fields only some probe kinds fill, for events and the API: `cert_expires_in_days`
    /// and `cert` when a certificate was seen, `dns_rcode` and `dns_answers` when a DNS answer
    /// came back. Empty for HTTP without TLS and for TCP, so their JSON stays as it was.
    pub fn kind_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::{Value, json};
        let mut fields = serde_json::Map::new();
        if let Some(days) = self.cert_expires_in_days {
            fields.insert("cert_expires_in_days".into(), json!(days));
        }
        if let Some(cert) = &self.cert {
            fields.insert(
                "cert".into(),
                json!({
                    "subject": cert.subject,
                    "issuer": cert.issuer,
                    "not_before": cert.not_before,
                    "not_after": cert.not_after,
                    "dns_names": cert.dns_names,
                }),
            );
        }
        if let Some(rcode) = &self.dns_rcode {
            fields.insert("dns_rcode".into(), Value::String(rcode.clone()));
            fields.insert("dns_answers".into(), json!(self.dns_answers));
        }
        fields
    }
}

/// One kind of probe. Implementations hold their settings; `run` may be called concurrently.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Runs once. Never fails: problems are in the result.
    async fn run(&self) -> ProbeResult;
}

/// Why a probe could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The HTTP method is not a token.
    #[error("invalid HTTP method \"{0}\"")]
    Method(String),
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {what} file \"{}\": {source}", path.display())]
    ReadFile {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should.
    #[error("{what} file \"{}\": {reason}", path.display())]
    Pem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings were refused (no system roots and no `ca_file`, say).
    #[error("TLS settings: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// A DNS name or record type that cannot be asked.
    #[error("{0}")]
    Dns(String),
    /// A `server_name` that is neither a DNS name nor an IP address.
    #[error("server name \"{0}\" is not a valid DNS name or IP address")]
    ServerName(String),
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn humanize(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kind_fields_appear_only_when_the_probe_filled_them() {
        assert!(ProbeResult::default().kind_fields().is_empty());
        let dns = ProbeResult {
            dns_rcode: Some("NXDOMAIN".into()),
            ..ProbeResult::default()
        };
        assert_eq!(
            serde_json::Value::Object(dns.kind_fields()),
            json!({"dns_rcode": "NXDOMAIN", "dns_answers": []})
        );
        let tls = ProbeResult {
            cert_expires_in_days: Some(-1.5),
            cert: Some(CertInfo {
                subject: "CN=a".into(),
                issuer: "CN=ca".into(),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: "2026-02-01T00:00:00Z".into(),
                dns_names: vec!["a".into()],
            }),
            ..ProbeResult::default()
        };
        let fields = tls.kind_fields();
        assert_eq!(fields["cert_expires_in_days"], json!(-1.5));
        assert_eq!(fields["cert"]["issuer"], "CN=ca");
        assert_eq!(fields["cert"]["dns_names"], json!(["a"]));
        assert_eq!(fields.len(), 2);
    }
}
