//! Server certificates as the `tls:` and `https:` probes see them, and the TLS settings both
//! share with reqwest: rustls with its default crypto provider, the platform verifier's roots
//! plus any `ca_file`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use signalbox_schedule::chrono::{DateTime, SecondsFormat, Utc};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::ProbeError;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// What a probe read from the server's leaf certificate (CEL `cert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, RFC 4514 style (`CN=api.internal, O=Example`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// Subject alternative names: DNS names and IP addresses.
    pub dns_names: Vec<String>,
}

impl CertInfo {
    /// Reads a DER certificate; returns it with the days from `now` to its `notAfter`.
    pub fn from_der(der: &[u8], now: DateTime<Utc>) -> Result<(CertInfo, f64), String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("unreadable server certificate: {e}"))?;
        let validity = cert.validity();
        let not_after = validity.not_after.timestamp();
        let rfc3339 = |secs: i64| {
            DateTime::<Utc>::from_timestamp(secs, 0)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            dns_names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        // Milliseconds keep sub-second precision out of a figure read in days.
        let days = (not_after * 1000 - now.timestamp_millis()) as f64 / 1000.0 / SECONDS_PER_DAY;
        Ok((
            CertInfo {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before: rfc3339(validity.not_before.timestamp()),
                not_after: rfc3339(not_after),
                dns_names,
            },
            days,
        ))
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// The certificates of a PEM file (`ca_file`, a client certificate chain).
pub fn read_pem_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ProbeError> {
    let bytes = std::fs::read(path).map_err(|source| ProbeError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })?;
    let pem_error = |reason: String| ProbeError::Pem {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The crypto provider reqwest uses: the process default, else aws-lc-rs.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// A verifier trusting the platform's roots plus `extra` (reqwest's behaviour with
/// `tls_certs_merge`).
pub fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
) -> Result<Arc<dyn ServerCertVerifier>, ProbeError> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra, crypto_provider())
        .map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
        .map_err(|e| ProbeError::Tls(e.to_string()))
}

/// The platform verifier without extra roots, loaded once and shared by every `tls:` check
/// that has no `ca_file` (reading the system's roots per check would slow start-up).
#[derive(Debug, Clone, Default)]
pub struct SharedVerifier {
    cell: Arc<OnceLock<Result<Arc<dyn ServerCertVerifier>, String>>>,
}

impl SharedVerifier {
    /// The verifier, built on first use.
    pub fn get(&self) -> Result<Arc<dyn ServerCertVerifier>, ProbeError> {
        self.cell
            .get_or_init(|| platform_verifier(Vec::new()).map_err(|e| e.to_string()))
            .clone()
            .map_err(ProbeError::Tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_dates_and_days_left() {
        let mut params = rcgen::CertificateParams::new(vec!["api.test".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "api.test");
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 3, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let now = "2026-02-19T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let (info, days) = CertInfo::from_der(cert.der(), now).unwrap();
        assert_eq!(days, 9.5);
        assert_eq!(info.subject, "CN=api.test");
        assert_eq!(info.issuer, "CN=api.test");
        assert_eq!(info.not_before, "2026-01-01T00:00:00Z");
        assert_eq!(info.not_after, "2026-03-01T00:00:00Z");
        assert_eq!(info.dns_names, ["api.test", "127.0.0.1"]);
        let later = "2026-03-03T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(CertInfo::from_der(cert.der(), later).unwrap().1, -2.0);
        assert!(CertInfo::from_der(b"nope", now).is_err());
    }
}
