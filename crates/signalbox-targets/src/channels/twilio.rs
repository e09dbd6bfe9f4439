//! Twilio Messages API: one `POST /2010-04-01/Accounts/{sid}/Messages.json` per recipient,
//! form-encoded `To`, `From`, `Body`, with HTTP basic auth (account SID, auth token). A body
//! longer than Twilio's 1,600 characters is cut, ending with a marker. Twilio answers `201`;
//! `400` with an error code for a bad number, `429` when over its queue limits.
//!
//! # Several recipients and retries
//!
//! One delivery sends one message per recipient, and Twilio's Messages API takes no
//! idempotency key. When some recipients' requests succeed and another's asks for a retry,
//! the delivery is retried; the channel remembers, in memory and per delivery, which
//! recipients Twilio already accepted, and the retry sends only to the others. That memory is
//! not durable: after a restart, or when another instance takes over the retry, recipients who
//! already got the message get it again. Delivery is therefore at least once per recipient,
//! and usually exactly once. (Reporting success while a recipient failed would lose messages;
//! recording recipients in the store is a change to the delivery spine.)

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::http::{Body, HttpApi, HttpChannel, HttpRequest, api_url, combine, send_one};
use super::{Answer, Channel, Notification};
use crate::outcome::AttemptOutcome;

/// What is remembered of a delivery whose recipients were not all reached is forgotten after
/// this (its retries have long stopped).
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The REST API root.
pub const DEFAULT_API: &str = "https://api.twilio.com";

/// Twilio refuses bodies longer than this (in characters).
pub const BODY_MAX: usize = 1_600;
/// Ends a body that was cut.
pub const CUT_MARKER: &str = "… [truncated]";

/// The Twilio API side.
pub struct TwilioApi {
    url: reqwest::Url,
    account_sid: String,
    auth_token: Secret,
    from: String,
    to: Vec<String>,
}

/// The Twilio channel: the API plus, per delivery still being retried, the recipients Twilio
/// already accepted.
pub struct Twilio {
    channel: HttpChannel<TwilioApi>,
    /// Delivery key → (last attempt, recipients accepted).
    accepted: Mutex<HashMap<String, (Instant, BTreeSet<String>)>>,
}

impl Twilio {
    /// Builds from `channels.<name>` (type `twilio`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Twilio, String> {
        Ok(Twilio {
            channel: TwilioApi::channel(config, http)?,
            accepted: Mutex::new(HashMap::new()),
        })
    }

    fn accepted(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, BTreeSet<String>)>> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Channel for Twilio {
    fn kind(&self) -> ChannelType {
        ChannelType::Twilio
    }

    fn preview(&self, notification: &Notification) -> Result<String, String> {
        self.channel.preview(notification)
    }

    async fn send(&self, notification: &Notification, key: &str) -> Answer {
        let api = &self.channel.api;
        let done: BTreeSet<String> = {
            let mut accepted = self.accepted();
            let now = Instant::now();
            accepted.retain(|_, (at, _)| now.duration_since(*at) < FORGET_AFTER);
            accepted
                .get(key)
                .map(|(_, done)| done.clone())
                .unwrap_or_default()
        };
        let body = body(notification);
        let mut answers = Vec::with_capacity(api.to.len());
        let mut newly = Vec::new();
        for to in &api.to {
            if done.contains(to) {
                answers.push(Answer {
                    response: format!("{to}: accepted on an earlier attempt, not sent again"),
                    outcome: AttemptOutcome::Delivered { status: None },
                });
                continue;
            }
            let answer = send_one(
                &self.channel.http,
                api,
                api.request(to, &body),
                self.channel.timeout,
            )
            .await;
            if matches!(answer.outcome, AttemptOutcome::Delivered { .. }) {
                newly.push(to.clone());
            }
            answers.push(answer);
        }
        let answer = combine(answers);
        let mut accepted = self.accepted();
        if matches!(answer.outcome, AttemptOutcome::Retry { .. }) {
            // Coming back: remember who has it.
            let (at, done) = accepted
                .entry(key.to_owned())
                .or_insert_with(|| (Instant::now(), BTreeSet::new()));
            *at = Instant::now();
            done.extend(newly);
        } else {
            // Done, or dead (a later replay of a dead delivery is meant to send again).
            accepted.remove(key);
        }
        answer
    }
}

impl TwilioApi {
    fn channel(
        config: &ChannelConfig,
        http: reqwest::Client,
    ) -> Result<HttpChannel<TwilioApi>, String> {
        let account_sid = config
            .account_sid
            .clone()
            .ok_or("twilio needs account_sid")?;
        let url = api_url(
            config.api_url.as_deref().unwrap_or(DEFAULT_API),
            &format!("/2010-04-01/Accounts/{account_sid}/Messages.json"),
        )?;
        Ok(HttpChannel::over(
            TwilioApi {
                url,
                account_sid,
                auth_token: config.auth_token.clone().ok_or("twilio needs auth_token")?,
                from: config.from.clone().ok_or("twilio needs from")?,
                to: config.to.clone(),
            },
            http,
            config.timeout,
        ))
    }
}

/// The SMS body: the notification as plain text, at most [`BODY_MAX`] characters.
pub fn body(n: &Notification) -> String {
    let text = n.plain_text();
    if text.chars().count() <= BODY_MAX {
        return text;
    }
    let keep = BODY_MAX - CUT_MARKER.chars().count();
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(CUT_MARKER);
    out
}

impl TwilioApi {
    /// The request sending `body` to `to`.
    fn request(&self, to: &str, body: &str) -> HttpRequest {
        HttpRequest {
            method: reqwest::Method::POST,
            url: self.url.clone(),
            shown_url: self.url.to_string(),
            headers: Vec::new(),
            redact: Vec::new(),
            basic_auth: Some((self.account_sid.clone(), self.auth_token.clone())),
            body: Body::Form(vec![
                ("To".into(), to.to_owned()),
                ("From".into(), self.from.clone()),
                ("Body".into(), body.to_owned()),
            ]),
        }
    }
}

impl HttpApi for TwilioApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Twilio
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        let body = body(n);
        Ok(self.to.iter().map(|to| self.request(to, &body)).collect())
    }
}
