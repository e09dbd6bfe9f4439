//! `http:` — one request per run, on a connection pool shared with similar checks.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::HttpProbeConfig;
use signalbox_schedule::chrono::Utc;

use super::certificate::{CertInfo, SharedVerifier, read_pem_certificates};
use super::{Probe, ProbeError, ProbeResult, elapsed_ms};

/// Idle connections kept per host and pool (see `client_builder`).
const IDLE_PER_HOST: usize = 256;

/// Most body bytes kept from a response; the rest is not read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What probes share: one HTTP client per (keep-alive, follow redirects, verify TLS)
/// combination, so connections are kept alive across runs and checks, and the platform's TLS roots for `tls:`
/// probes, loaded once.
#[derive(Debug, Clone)]
pub struct HttpClients {
    clients: [reqwest::Client; 8],
    verifier: SharedVerifier,
    /// Where `heartbeat:` checks read their pings.
    heartbeats: Option<crate::heartbeat::PingStore>,
}

fn client_builder(
    keep_alive: bool,
    follow_redirects: bool,
    verify_tls: bool,
) -> reqwest::ClientBuilder {
    let redirect = if follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    // Without a cap, a burst of runs (a start, a takeover, a slow moment) opens a connection
    // per run and the pool keeps them all: thousands of idle sockets with their buffers. The
    // steady state needs far fewer (runs per second × response time). Zero idle connections
    // means every request opens its own.
    let idle = if keep_alive { IDLE_PER_HOST } else { 0 };
    let builder = reqwest::Client::builder().pool_max_idle_per_host(idle);
    builder
        .redirect(redirect)
        .tls_danger_accept_invalid_certs(!verify_tls)
        // The peer certificate, for `cert_expires_in_days`.
        .tls_info(true)
        .user_agent(concat!("signalbox-monitor/", env!("CARGO_PKG_VERSION")))
}

impl HttpClients {
    /// Builds the eight clients.
    pub fn new() -> Result<HttpClients, reqwest::Error> {
        let build = |i: usize| client_builder(i & 4 != 0, i & 2 != 0, i & 1 != 0).build();
        Ok(HttpClients {
            clients: [
                build(0)?,
                build(1)?,
                build(2)?,
                build(3)?,
                build(4)?,
                build(5)?,
                build(6)?,
                build(7)?,
            ],
            verifier: SharedVerifier::default(),
            heartbeats: None,
        })
    }

    /// These clients, with `store` as where `heartbeat:` checks read their pings (without one,
    /// a heartbeat check cannot be built).
    pub fn with_heartbeat_store(
        mut self,
        store: std::sync::Arc<dyn signalbox_store::Store>,
    ) -> HttpClients {
        self.heartbeats = Some(crate::heartbeat::PingStore(store));
        self
    }

    /// Where `heartbeat:` checks read their pings, when set.
    pub fn heartbeat_store(&self) -> Option<&std::sync::Arc<dyn signalbox_store::Store>> {
        self.heartbeats.as_ref().map(|s| &s.0)
    }

    fn get(&self, keep_alive: bool, follow_redirects: bool, verify_tls: bool) -> reqwest::Client {
        let i = usize::from(keep_alive) * 4
            + usize::from(follow_redirects) * 2
            + usize::from(verify_tls);
        self.clients[i].clone()
    }

    /// The platform's TLS roots, shared by `tls:` probes without `ca_file`.
    pub fn tls_verifier(&self) -> &SharedVerifier {
        &self.verifier
    }
}

/// `http:` — one request per run.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    timeout: Duration,
}

impl HttpProbe {
    /// A probe for `config`, on the shared client that matches its redirect and TLS settings,
    /// or on its own client when it has a client certificate or extra CA roots.
    pub fn new(config: &HttpProbeConfig, clients: &HttpClients) -> Result<HttpProbe, ProbeError> {
        let method = reqwest::Method::from_bytes(config.method.as_bytes())
            .map_err(|_| ProbeError::Method(config.method.clone()))?;
        let client = if config.client_cert.is_some() || config.ca_file.is_some() {
            own_client(config)?
        } else {
            clients.get(
                config.keep_alive,
                config.follow_redirects,
                config.verify_tls,
            )
        };
        Ok(HttpProbe {
            client,
            method,
            url: config.url.clone(),
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: config.body.clone(),
            timeout: config.timeout,
        })
    }
}

fn read(path: &std::path::Path, what: &'static str) -> Result<Vec<u8>, ProbeError> {
    std::fs::read(path).map_err(|source| ProbeError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

/// A client of the check's own: reqwest sets the identity and roots per client.
fn own_client(config: &HttpProbeConfig) -> Result<reqwest::Client, ProbeError> {
    let mut builder = client_builder(
        config.keep_alive,
        config.follow_redirects,
        config.verify_tls,
    );
    if let Some(client_cert) = &config.client_cert {
        let mut pem = read(&client_cert.cert, "client certificate")?;
        pem.push(b'\n');
        pem.extend(read(&client_cert.key, "client key")?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ProbeError::Pem {
            what: "client certificate and key",
            path: client_cert.cert.clone(),
            reason: describe(&e),
        })?;
        builder = builder.identity(identity);
    }
    if let Some(ca) = &config.ca_file {
        let roots = read_pem_certificates(ca, "CA certificate")?
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProbeError::Pem {
                what: "CA certificate",
                path: ca.clone(),
                reason: describe(&e),
            })?;
        builder = builder.tls_certs_merge(roots);
    }
    builder
        .build()
        .map_err(|e| ProbeError::Client(describe(&e)))
}

#[async_trait]
impl Probe for HttpProbe {
    async fn run(&self) -> ProbeResult {
        let started = Instant::now();
        let mut request = self
            .client
            .request(self.method.clone(), &self.url)
            .timeout(self.timeout);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let mut result = ProbeResult::default();
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                result.response_time_ms = elapsed_ms(started);
                result.error = Some(describe(&error));
                return result;
            }
        };
        result.connected = true;
        result.status = Some(response.status().as_u16());
        if let Some(der) = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            && let Ok((info, days)) = CertInfo::from_der(der, Utc::now())
        {
            result.cert = Some(info);
            result.cert_expires_in_days = Some(days);
        }
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            result
                .headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= MAX_BODY_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    result.error = Some(describe(&error));
                    break;
                }
            }
        }
        result.response_time_ms = elapsed_ms(started);
        result.json = serde_json::from_slice(&body).ok();
        result.body = String::from_utf8_lossy(&body).into_owned();
        result
    }
}

/// reqwest's message plus its sources: "error sending request" alone does not say why.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::get;
    use signalbox_config::ClientCertConfig;

    use super::*;
    use crate::probe::testing::{Role, TestCa, serve_tls, write};

    async fn serve(app: Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn http(url: String) -> HttpProbeConfig {
        HttpProbeConfig {
            url,
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            timeout: Duration::from_secs(5),
            follow_redirects: true,
            verify_tls: true,
            client_cert: None,
            ca_file: None,
            keep_alive: true,
        }
    }

    #[tokio::test]
    async fn http_probe_reads_status_headers_and_json() {
        let app = Router::new().route(
            "/h",
            get(|| async {
                (
                    [("x-version", "7")],
                    axum::Json(serde_json::json!({"status": "ok"})),
                )
            }),
        );
        let addr = serve(app).await;
        let clients = HttpClients::new().unwrap();
        let probe = HttpProbe::new(&http(format!("http://{addr}/h")), &clients).unwrap();
        let r = probe.run().await;
        assert_eq!(r.status, Some(200));
        assert!(r.connected);
        assert_eq!(r.error, None);
        assert_eq!(r.headers["x-version"], "7");
        assert_eq!(r.json, Some(serde_json::json!({"status": "ok"})));
        assert_eq!(r.body, r#"{"status":"ok"}"#);
        // Plain HTTP has no certificate.
        assert_eq!(r.cert_expires_in_days, None);
    }

    /// A bare HTTP/1.1 server that counts the connections it accepts and answers every
    /// request on a connection with a kept-alive 200.
    async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply =
                                b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
                            if socket.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn keep_alive_false_opens_a_connection_per_run() {
        let clients = HttpClients::new().unwrap();
        for (keep_alive, expected) in [(true, 1), (false, 3)] {
            let (addr, accepted) = counting_server().await;
            let mut config = http(format!("http://{addr}/h"));
            config.keep_alive = keep_alive;
            let probe = HttpProbe::new(&config, &clients).unwrap();
            for _ in 0..3 {
                let result = probe.run().await;
                assert_eq!(result.status, Some(200), "{result:?}");
                assert_eq!(result.json.as_ref().unwrap()["status"], "ok");
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                expected,
                "keep_alive: {keep_alive}"
            );
        }
    }

    #[tokio::test]
    async fn http_probe_reports_refused_connections_and_timeouts() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let clients = HttpClients::new().unwrap();
        let probe = HttpProbe::new(&http(format!("http://127.0.0.1:{port}/")), &clients).unwrap();
        let r = probe.run().await;
        assert!(!r.connected);
        assert_eq!(r.status, None);
        assert!(r.error.is_some());

        let app = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        let addr = serve(app).await;
        let mut config = http(format!("http://{addr}/slow"));
        config.timeout = Duration::from_millis(100);
        let r = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert!(r.error.as_deref().unwrap().contains("timed out"), "{r:?}");
    }

    #[tokio::test]
    async fn https_probe_reports_the_certificate_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Signalbox Test CA");
        let addr = serve_tls(&ca.issue(&["localhost"], 20, Role::Server), None).await;
        let clients = HttpClients::new().unwrap();
        let url = format!("https://localhost:{}/", addr.port());

        // The shared client without verification still sees the certificate.
        let mut config = http(url.clone());
        config.verify_tls = false;
        let r = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert_eq!(r.status, Some(200), "{r:?}");
        let days = r.cert_expires_in_days.unwrap();
        assert!((19.9..=20.0).contains(&days), "{days}");
        assert_eq!(r.cert.unwrap().subject, "CN=localhost");

        // With verification, the test CA is unknown until `ca_file` names it.
        let r = HttpProbe::new(&http(url.clone()), &clients)
            .unwrap()
            .run()
            .await;
        assert!(!r.connected);
        assert!(r.error.unwrap().contains("UnknownIssuer"));
        let mut config = http(url);
        config.ca_file = Some(write(dir.path(), "ca.pem", &ca.pem));
        let r = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert_eq!(r.status, Some(200), "{r:?}");
        assert_eq!(r.body, "ok");
    }

    #[tokio::test]
    async fn a_server_requiring_a_client_certificate_accepts_ours() {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = TestCa::new("Server CA");
        let client_ca = TestCa::new("Client CA");
        let addr = serve_tls(
            &server_ca.issue(&["localhost"], 30, Role::Server),
            Some(&client_ca),
        )
        .await;
        let client = client_ca.issue(&["probe.signalbox"], 30, Role::Client);
        let clients = HttpClients::new().unwrap();
        let mut config = http(format!("https://localhost:{}/", addr.port()));
        config.ca_file = Some(write(dir.path(), "server-ca.pem", &server_ca.pem));

        let without = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert_eq!(without.status, None, "{without:?}");
        assert!(without.error.is_some());

        config.client_cert = Some(ClientCertConfig {
            cert: write(dir.path(), "client.pem", &client.pem),
            key: write(dir.path(), "client.key", &client.key_pem),
        });
        let with = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert_eq!(with.status, Some(200), "{with:?}");
        assert_eq!(with.body, "ok");

        // A certificate from another CA is refused like none.
        let stranger = server_ca.issue(&["probe.signalbox"], 30, Role::Client);
        config.client_cert = Some(ClientCertConfig {
            cert: write(dir.path(), "stranger.pem", &stranger.pem),
            key: write(dir.path(), "stranger.key", &stranger.key_pem),
        });
        let refused = HttpProbe::new(&config, &clients).unwrap().run().await;
        assert_eq!(refused.status, None, "{refused:?}");
    }

    #[test]
    fn unusable_certificate_files_are_build_errors() {
        let dir = tempfile::tempdir().unwrap();
        let clients = HttpClients::new().unwrap();
        let mut config = http("https://localhost/".into());
        config.client_cert = Some(ClientCertConfig {
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("missing.key"),
        });
        let err = HttpProbe::new(&config, &clients).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read client certificate file"),
            "{err}"
        );
        config.client_cert = None;
        config.ca_file = Some(write(dir.path(), "ca.pem", "not a certificate"));
        let err = HttpProbe::new(&config, &clients).unwrap_err().to_string();
        assert!(err.starts_with("CA certificate file"), "{err}");

        // A key that is not the certificate's.
        let ca = TestCa::new("CA");
        let (one, other) = (
            ca.issue(&["a.test"], 30, Role::Client),
            ca.issue(&["b.test"], 30, Role::Client),
        );
        config.ca_file = None;
        config.client_cert = Some(ClientCertConfig {
            cert: write(dir.path(), "one.pem", &one.pem),
            key: write(dir.path(), "other.key", &other.key_pem),
        });
        let err = HttpProbe::new(&config, &clients).unwrap_err().to_string();
        assert!(err.starts_with("HTTP client:"), "{err}");
    }
}
