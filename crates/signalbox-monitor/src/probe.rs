//! Probes: one run of a check against the outside world, observed as a [`ProbeResult`].
//!
//! A probe never fails: a refused connection, a timeout or an unreadable body are part of
//! the result (`connected`, `error`), for the assertions to judge.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::{HttpProbeConfig, TcpProbeConfig};

/// Most body bytes kept from a response; the rest is not read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What one run observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeResult {
    /// HTTP status code; `None` without a response (and for TCP).
    pub status: Option<u16>,
    /// Response headers, names lowercase; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Response body as text (invalid UTF-8 replaced), at most [`MAX_BODY_BYTES`].
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
    /// Time from the start of the run to the end of the body (TCP: to the connection).
    pub response_time_ms: u64,
    /// Whether a connection was made (HTTP: whether a response came back).
    pub connected: bool,
    /// What went wrong, when something did.
    pub error: Option<String>,
}

/// One kind of probe. Implementations hold their settings; `run` may be called concurrently.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Runs once. Never fails: problems are in the result.
    async fn run(&self) -> ProbeResult;
}

/// The HTTP clients probes share, one per (follow redirects, verify TLS) combination, so
/// connections are kept alive across runs and checks.
#[derive(Debug, Clone)]
pub struct HttpClients {
    clients: [reqwest::Client; 4],
}

impl HttpClients {
    /// Builds the four clients.
    pub fn new() -> Result<HttpClients, reqwest::Error> {
        let build = |follow: bool, verify: bool| {
            let redirect = if follow {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            };
            reqwest::Client::builder()
                .redirect(redirect)
                .tls_danger_accept_invalid_certs(!verify)
                .user_agent(concat!("signalbox-monitor/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(HttpClients {
            clients: [
                build(false, false)?,
                build(false, true)?,
                build(true, false)?,
                build(true, true)?,
            ],
        })
    }

    fn get(&self, follow_redirects: bool, verify_tls: bool) -> reqwest::Client {
        self.clients[usize::from(follow_redirects) * 2 + usize::from(verify_tls)].clone()
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
    /// A probe for `config`, on the shared client that matches its redirect and TLS settings.
    pub fn new(config: &HttpProbeConfig, clients: &HttpClients) -> Result<HttpProbe, String> {
        let method = reqwest::Method::from_bytes(config.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method \"{}\"", config.method))?;
        Ok(HttpProbe {
            client: clients.get(config.follow_redirects, config.verify_tls),
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

/// `tcp:` — one connection per run, closed at once.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    host: String,
    port: u16,
    timeout: Duration,
}

impl TcpProbe {
    /// A probe for `config`.
    pub fn new(config: &TcpProbeConfig) -> TcpProbe {
        TcpProbe {
            host: config.host.clone(),
            port: config.port,
            timeout: config.timeout,
        }
    }
}

#[async_trait]
impl Probe for TcpProbe {
    async fn run(&self) -> ProbeResult {
        let started = Instant::now();
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let mut result = ProbeResult::default();
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(_stream)) => result.connected = true,
            Ok(Err(error)) => result.error = Some(format!("connect: {error}")),
            Err(_) => {
                result.error = Some(format!(
                    "connect: timed out after {}",
                    humanize(self.timeout)
                ))
            }
        }
        result.response_time_ms = elapsed_ms(started);
        result
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn humanize(d: Duration) -> String {
    format!("{}ms", d.as_millis())
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

    use axum::Router;
    use axum::routing::get;

    use super::*;

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
    async fn tcp_probe_connects_or_says_why_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = TcpProbeConfig {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_secs(2),
        };
        assert!(TcpProbe::new(&config).run().await.connected);
        drop(listener);
        let r = TcpProbe::new(&config).run().await;
        assert!(!r.connected);
        assert!(r.error.unwrap().starts_with("connect:"));
    }
}
