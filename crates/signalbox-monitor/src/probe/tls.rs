//! `tls:` — one TLS handshake per run, for the server certificate: how long until it expires,
//! who it names, and whether it is trusted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ConfigBuilder, DigitallySignedStruct, SignatureScheme, WantsVerifier};
use signalbox_config::TlsProbeConfig;
use signalbox_schedule::chrono::Utc;

use super::certificate::{
    CertInfo, SharedVerifier, crypto_provider, platform_verifier, read_pem_certificates,
};
use super::{Probe, ProbeError, ProbeResult, elapsed_ms, humanize};

/// `tls:` — connects, completes a handshake and reads the leaf certificate.
#[derive(Clone)]
pub struct TlsProbe {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    /// `None` when `verify: false`: any certificate is accepted (and still read).
    verifier: Option<Arc<dyn ServerCertVerifier>>,
    provider: Arc<CryptoProvider>,
    /// Provider and protocol versions, checked once; each run adds a fresh verifier.
    builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    timeout: Duration,
}

impl std::fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProbe")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("server_name", &self.server_name)
            .field("verify", &self.verifier.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TlsProbe {
    /// A probe for `config`; checks without `ca_file` share `system` (the platform's roots).
    pub fn new(config: &TlsProbeConfig, system: &SharedVerifier) -> Result<TlsProbe, ProbeError> {
        let name = config.server_name();
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| ProbeError::ServerName(name.to_owned()))?;
        let verifier = match (&config.ca_file, config.verify) {
            (_, false) => None,
            (None, true) => Some(system.get()?),
            (Some(ca), true) => Some(platform_verifier(read_pem_certificates(
                ca,
                "CA certificate",
            )?)?),
        };
        let provider = crypto_provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeError::Tls(e.to_string()))?;
        Ok(TlsProbe {
            host: config.host.clone(),
            port: config.port,
            server_name,
            verifier,
            provider,
            builder,
            timeout: config.timeout,
        })
    }

    fn client_config(&self, seen: Arc<Mutex<Option<CertificateDer<'static>>>>) -> ClientConfig {
        let verifier = RecordingVerifier {
            inner: self.verifier.clone(),
            provider: Arc::clone(&self.provider),
            seen,
        };
        let mut config = self
            .builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // A resumed session shows no certificate; every run must see the one served now.
        config.resumption = Resumption::disabled();
        config
    }
}

#[async_trait]
impl Probe for TlsProbe {
    async fn run(&self) -> ProbeResult {
        let started = Instant::now();
        let seen = Arc::new(Mutex::new(None));
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(self.client_config(Arc::clone(&seen))));
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            connector
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| format!("handshake: {}", describe_io(&e)))
        };
        let mut result = ProbeResult::default();
        match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(_stream)) => result.connected = true,
            Ok(Err(error)) => result.error = Some(error),
            Err(_) => result.error = Some(format!("timed out after {}", humanize(self.timeout))),
        }
        result.response_time_ms = elapsed_ms(started);
        let leaf = seen.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(der) = leaf {
            match CertInfo::from_der(&der, Utc::now()) {
                Ok((info, days)) => {
                    result.cert = Some(info);
                    result.cert_expires_in_days = Some(days);
                }
                Err(error) if result.error.is_none() => result.error = Some(error),
                Err(_) => {}
            }
        }
        result
    }
}

/// rustls puts the reason (`invalid peer certificate: UnknownIssuer`) in the io error's source.
fn describe_io(error: &std::io::Error) -> String {
    match error.get_ref() {
        Some(inner) => inner.to_string(),
        None => error.to_string(),
    }
}

/// Keeps the leaf certificate the server sent, then verifies (or, with `verify: false`, only
/// checks the handshake signatures): an untrusted or expired certificate is still reported.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<dyn ServerCertVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(end_entity.clone().into_owned());
        match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.inner {
            Some(inner) => inner.verify_tls12_signature(message, cert, dss),
            None => verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.inner {
            Some(inner) => inner.verify_tls13_signature(message, cert, dss),
            None => verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.inner {
            Some(inner) => inner.supported_verify_schemes(),
            None => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::check::CompiledCheck;
    use crate::probe::HttpClients;
    use crate::probe::testing::{Role, TestCa, serve_tls, write};

    fn check(dir: &Path, tls: &str, asserts: &[&str]) -> CompiledCheck {
        let mut yaml = format!("checks:\n  cert:\n    tls: {tls}\n    schedule: {{ every: 1m }}\n");
        if !asserts.is_empty() {
            yaml.push_str("    assert:\n");
            for a in asserts {
                yaml.push_str(&format!("      - '{a}'\n"));
            }
        }
        let loaded = signalbox_config::load_str(&yaml, &dir.join("c.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let clients = HttpClients::new().unwrap();
        CompiledCheck::build("cert", &loaded.config.checks["cert"], "UTC", &clients).unwrap()
    }

    #[tokio::test]
    async fn expiry_of_a_trusted_certificate_is_judged_by_assertions() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Signalbox Test CA");
        write(dir.path(), "ca.pem", &ca.pem);
        let addr = serve_tls(&ca.issue(&["api.test"], 10, Role::Server), None).await;
        let tls = format!(
            "{{ host: 127.0.0.1, port: {}, server_name: api.test, ca_file: ca.pem, timeout: 5s }}",
            addr.port()
        );

        let soon = check(dir.path(), &tls, &["cert_expires_in_days > 30"]);
        assert_eq!(
            soon.target,
            format!("tls://127.0.0.1:{}?sni=api.test", addr.port())
        );
        let outcome = soon.run_once().await;
        assert!(outcome.result.connected, "{:?}", outcome.result);
        assert_eq!(outcome.result.error, None);
        let days = outcome.result.cert_expires_in_days.unwrap();
        assert!((9.9..=10.0).contains(&days), "{days}");
        let cert = outcome.result.cert.as_ref().unwrap();
        assert_eq!(cert.subject, "CN=api.test");
        assert_eq!(cert.issuer, "CN=Signalbox Test CA");
        assert_eq!(cert.dns_names, ["api.test"]);
        let failure = outcome.failure.unwrap();
        assert_eq!(
            failure.assertion.as_deref(),
            Some("cert_expires_in_days > 30")
        );
        assert_eq!(failure.reason, "evaluated to false");

        let fine = check(
            dir.path(),
            &tls,
            &[
                "cert_expires_in_days > 5",
                r#"cert.issuer == "CN=Signalbox Test CA""#,
            ],
        );
        let outcome = fine.run_once().await;
        assert!(outcome.success(), "{outcome:?}");
        // Without assertions a completed handshake is a success.
        assert!(check(dir.path(), &tls, &[]).run_once().await.success());
    }

    #[tokio::test]
    async fn an_untrusted_certificate_fails_verification_but_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Unknown CA");
        let addr = serve_tls(&ca.issue(&["api.test"], 40, Role::Server), None).await;
        let port = addr.port();

        let verified = check(
            dir.path(),
            &format!("{{ host: 127.0.0.1, port: {port}, server_name: api.test }}"),
            &[],
        )
        .run_once()
        .await;
        assert!(!verified.result.connected);
        let error = verified.result.error.as_deref().unwrap();
        assert!(
            error.starts_with("handshake: invalid peer certificate"),
            "{error}"
        );
        assert_eq!(verified.failure.unwrap().reason, error);
        // The certificate is reported even though it was refused.
        let days = verified.result.cert_expires_in_days.unwrap();
        assert!((39.9..=40.0).contains(&days), "{days}");

        let unverified = check(
            dir.path(),
            &format!("{{ host: 127.0.0.1, port: {port}, server_name: api.test, verify: false }}"),
            &["cert_expires_in_days > 30"],
        )
        .run_once()
        .await;
        assert!(unverified.success(), "{unverified:?}");
        assert!(unverified.result.connected);

        // A name the certificate does not carry is refused too.
        let mut other_dir = dir.path().to_owned();
        other_dir.push("other");
        std::fs::create_dir(&other_dir).unwrap();
        write(&other_dir, "ca.pem", &ca.pem);
        let wrong_name = check(
            &other_dir,
            &format!(
                "{{ host: 127.0.0.1, port: {port}, server_name: other.test, ca_file: ca.pem }}"
            ),
            &[],
        )
        .run_once()
        .await;
        let error = wrong_name.result.error.unwrap();
        assert!(
            error.contains("not valid for name \"other.test\""),
            "{error}"
        );
    }

    #[tokio::test]
    async fn refused_connections_and_silent_servers_are_errors() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let refused = check(
            dir.path(),
            &format!("{{ host: 127.0.0.1, port: {port}, verify: false }}"),
            &[],
        )
        .run_once()
        .await;
        assert!(refused.result.error.unwrap().starts_with("connect:"));
        assert_eq!(refused.result.cert_expires_in_days, None);

        // Accepts and never answers the ClientHello.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let r = check(
            dir.path(),
            &format!("{{ host: 127.0.0.1, port: {port}, verify: false, timeout: 200ms }}"),
            &[],
        )
        .run_once()
        .await;
        assert_eq!(r.result.error.as_deref(), Some("timed out after 200ms"));
        drop(silent);
    }
}
