//! What the HTTP channels share: a request description that can be previewed without its
//! secrets, one send function, and the default reading of an answer.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;
use signalbox_config::{ChannelType, Secret};

use super::{Answer, Channel, Notification};
use crate::outcome::{AttemptOutcome, classify_status, parse_retry_after};

/// How much of an answer's body is kept in errors and shown by `notify test`.
const ANSWER_CHARS: usize = 300;

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// `application/json`.
    Json(Value),
    /// `application/x-www-form-urlencoded`, in order.
    Form(Vec<(String, String)>),
}

/// One HTTP request of a channel.
pub(crate) struct HttpRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// The URL as it may be shown: secrets in it replaced by `***`.
    pub(crate) shown_url: String,
    pub(crate) headers: Vec<(&'static str, Secret)>,
    pub(crate) basic_auth: Option<(String, Secret)>,
    pub(crate) body: Body,
    /// Secrets inside the body (PagerDuty's routing key), hidden by [`HttpRequest::preview`].
    pub(crate) redact: Vec<Secret>,
}

impl HttpRequest {
    /// A JSON POST.
    pub(crate) fn post_json(url: Url, shown_url: String, body: Value) -> HttpRequest {
        HttpRequest {
            method: Method::POST,
            url,
            shown_url,
            headers: Vec::new(),
            basic_auth: None,
            body: Body::Json(body),
            redact: Vec::new(),
        }
    }

    /// Method, shown URL, headers (values redacted) and body, as `notify test --dry-run` and
    /// `rules explain` print it.
    pub(crate) fn preview(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.shown_url);
        for (name, _) in &self.headers {
            out.push_str(&format!("{name}: ***\n"));
        }
        if let Some((user, _)) = &self.basic_auth {
            out.push_str(&format!("authorization: Basic {user}:***\n"));
        }
        match &self.body {
            Body::Json(value) => {
                out.push_str(&serde_json::to_string_pretty(value).unwrap_or_default())
            }
            Body::Form(pairs) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.extend_pairs(pairs);
                out.push_str(&form.finish());
            }
        }
        for secret in &self.redact {
            if !secret.expose().is_empty() {
                out = out.replace(secret.expose(), "***");
            }
        }
        out
    }
}

/// A provider reachable over HTTP: builds its requests and, when its API does not say
/// everything with the status, reads its answers.
pub(crate) trait HttpApi: Send + Sync {
    /// The provider.
    fn kind(&self) -> ChannelType;
    /// The requests that deliver `notification` (several for one-message-per-recipient APIs).
    fn requests(&self, notification: &Notification, key: &str) -> Result<Vec<HttpRequest>, String>;
    /// What an answer means; by default the status decides (2xx done; 408, 429, 5xx retry,
    /// honouring `Retry-After`; other statuses permanent).
    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
        default_classify(status, headers, body)
    }
}

/// The status decides, `Retry-After` (seconds or date) is honoured.
pub(crate) fn default_classify(status: u16, headers: &HeaderMap, body: &str) -> AttemptOutcome {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let hint = if (200..300).contains(&status) {
        ""
    } else {
        body
    };
    classify_status(status, retry_after, &short(hint))
}

/// A channel over an HTTP API (every provider but email).
pub struct HttpChannel<A> {
    pub(crate) api: A,
    pub(crate) http: reqwest::Client,
    pub(crate) timeout: Duration,
}

impl<A> HttpChannel<A> {
    pub(crate) fn over(api: A, http: reqwest::Client, timeout: Duration) -> HttpChannel<A> {
        HttpChannel { api, http, timeout }
    }
}

#[async_trait]
impl<A: HttpApi> Channel for HttpChannel<A> {
    fn kind(&self) -> ChannelType {
        self.api.kind()
    }

    fn preview(&self, notification: &Notification) -> Result<String, String> {
        let requests = self.api.requests(notification, "preview")?;
        Ok(requests
            .iter()
            .map(HttpRequest::preview)
            .collect::<Vec<_>>()
            .join("\n\n"))
    }

    async fn send(&self, notification: &Notification, key: &str) -> Answer {
        let requests = match self.api.requests(notification, key) {
            Ok(requests) => requests,
            Err(error) => return Answer::permanent(error),
        };
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            answers.push(send_one(&self.http, &self.api, request, self.timeout).await);
        }
        combine(answers)
    }
}

/// Sends one request and reads the answer with the API's `classify`.
pub(crate) async fn send_one<A: HttpApi + ?Sized>(
    http: &reqwest::Client,
    api: &A,
    request: HttpRequest,
    timeout: Duration,
) -> Answer {
    let mut builder = http
        .request(request.method.clone(), request.url.clone())
        .timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.expose());
    }
    if let Some((user, password)) = &request.basic_auth {
        builder = builder.basic_auth(user, Some(password.expose()));
    }
    builder = match &request.body {
        Body::Json(value) => builder
            .header("content-type", "application/json; charset=utf-8")
            .body(value.to_string()),
        Body::Form(pairs) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(pairs);
            builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish())
        }
    };
    let response = match builder.send().await {
        Ok(response) => response,
        Err(error) => {
            // The URL may hold a secret (webhook URLs, Telegram's bot token): never print it.
            let error = describe(&error.without_url());
            return Answer {
                response: error.clone(),
                outcome: AttemptOutcome::Retry {
                    error,
                    status: None,
                    retry_after: None,
                },
            };
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    let outcome = api.classify(status, &headers, &body);
    Answer {
        outcome,
        response: format!("{} {}: {}", request.shown_url, status, short(&body)),
    }
}

/// Several answers (one per recipient) as one: retry if any asks for it (after the longest
/// wait asked), else give up if any failed for good, else done.
pub(crate) fn combine(answers: Vec<Answer>) -> Answer {
    let response = answers
        .iter()
        .map(|a| a.response.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut retry: Option<AttemptOutcome> = None;
    let mut permanent: Option<AttemptOutcome> = None;
    let mut delivered: Option<AttemptOutcome> = None;
    for answer in answers {
        match answer.outcome {
            AttemptOutcome::Retry {
                error,
                status,
                retry_after,
            } => {
                let longest = match &retry {
                    Some(AttemptOutcome::Retry {
                        retry_after: before,
                        ..
                    }) => (*before).max(retry_after),
                    _ => retry_after,
                };
                if retry.is_none() {
                    retry = Some(AttemptOutcome::Retry {
                        error,
                        status,
                        retry_after: longest,
                    });
                } else if let Some(AttemptOutcome::Retry { retry_after, .. }) = &mut retry {
                    *retry_after = longest;
                }
            }
            outcome @ AttemptOutcome::Permanent { .. } => {
                permanent.get_or_insert(outcome);
            }
            outcome @ AttemptOutcome::Delivered { .. } => {
                delivered.get_or_insert(outcome);
            }
        }
    }
    let outcome = retry
        .or(permanent)
        .or(delivered)
        .unwrap_or(AttemptOutcome::Delivered { status: None });
    Answer { outcome, response }
}

/// The first characters of an answer, on one line.
pub(crate) fn short(text: &str) -> String {
    let text: String = text.chars().take(ANSWER_CHARS).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = what.to_owned();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Parses a URL from config (already checked at load); the error never repeats a secret URL.
pub(crate) fn parse_url(text: &str, what: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{what} is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{what} must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// `base` (a provider's API root, or the configured `api_url`) joined with `path`; a base with
/// a path of its own (a proxy's prefix) keeps it.
pub(crate) fn api_url(base: &str, path: &str) -> Result<Url, String> {
    let base = base.trim_end_matches('/');
    parse_url(&format!("{base}{path}"), "api_url")
}

/// The provider's answer as JSON, when it is JSON.
pub(crate) fn json_body(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

/// Shows a webhook URL as scheme and host only: the rest is the secret.
pub(crate) fn shown_webhook(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}/***", url.scheme()),
        None => format!("{}://{host}/***", url.scheme()),
    }
}
