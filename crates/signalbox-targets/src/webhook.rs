//! The `webhook` target: an HTTP request per delivery.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use signalbox_config::WebhookTarget as WebhookConfig;

use crate::outcome::{AttemptOutcome, classify_status, parse_retry_after};
use crate::payload::Payload;
use crate::{DeliveryRequest, Rendered, Target};

/// Receivers use this to de-duplicate: it is the same on every attempt of one delivery.
pub const DELIVERY_HEADER: &str = "x-signalbox-delivery";
/// The attempt number, 1-based.
pub const ATTEMPT_HEADER: &str = "x-signalbox-attempt";

/// How much of an error answer's body is kept in `last_error`.
const ERROR_BODY_CHARS: usize = 200;

/// Sends each delivery as one HTTP request.
pub struct WebhookTarget {
    http: reqwest::Client,
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Payload,
    timeout: Duration,
}

impl WebhookTarget {
    /// Checks the config; `body` is the compiled payload ([`Payload::compile`]).
    pub fn new(
        cfg: &WebhookConfig,
        body: Payload,
        http: reqwest::Client,
    ) -> Result<WebhookTarget, String> {
        let url = Url::parse(&cfg.url).map_err(|e| format!("webhook url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "webhook url: scheme {:?} is not http or https",
                url.scheme()
            ));
        }
        let method = Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("webhook method {:?} is not an HTTP method", cfg.method))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("webhook header name {name:?} is not valid"))?;
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| format!("webhook header {name:?} has a value that is not valid"))?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(WebhookTarget {
            http,
            url,
            method,
            headers,
            body,
            timeout: cfg.timeout,
        })
    }
}

#[async_trait]
impl Target for WebhookTarget {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, req: &DeliveryRequest<'_>) -> AttemptOutcome {
        let body = match self.body.render(req) {
            Ok(body) => body,
            // The same template and event would fail again: retrying cannot help.
            Err(error) => {
                return AttemptOutcome::Permanent {
                    error,
                    status: None,
                };
            }
        };
        let sent = self
            .http
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .header(DELIVERY_HEADER, req.delivery_id)
            .header(ATTEMPT_HEADER, req.attempt)
            .timeout(self.timeout)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return AttemptOutcome::Retry {
                    error: describe(&e),
                    status: None,
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let hint = if resp.status().is_success() {
            String::new()
        } else {
            // Keep a little of the answer: it usually says why.
            let text = resp.text().await.unwrap_or_default();
            text.chars()
                .take(ERROR_BODY_CHARS)
                .collect::<String>()
                .trim()
                .to_string()
        };
        classify_status(status, retry_after, &hint)
    }

    fn render(&self, req: &DeliveryRequest<'_>) -> Result<Rendered, String> {
        Ok(Rendered {
            destination: format!("webhook {} {}", self.method, self.url),
            body: self.body.render(req)?,
        })
    }
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The source chain says *why* (refused, reset, dns), which the top level often hides.
    let mut msg = what.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
