//! `tcp:` — one connection per run, closed at once.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::TcpProbeConfig;

use super::{Probe, ProbeResult, elapsed_ms, humanize};

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
