//! Twilio Messages API: one `POST /2010-04-01/Accounts/{sid}/Messages.json` per recipient,
//! form-encoded `To`, `From`, `Body`, with HTTP basic auth (account SID, auth token). A body
//! longer than Twilio's 1,600 characters is cut, ending with a marker. Twilio answers `201`;
//! `400` with an error code for a bad number, `429` when over its queue limits.

use signalbox_config::{ChannelConfig, ChannelType, Secret};

use super::Notification;
use super::http::{Body, HttpApi, HttpChannel, HttpRequest, api_url};

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

/// The Twilio channel.
pub type Twilio = HttpChannel<TwilioApi>;

impl Twilio {
    /// Builds from `channels.<name>` (type `twilio`).
    pub fn new(config: &ChannelConfig, http: reqwest::Client) -> Result<Twilio, String> {
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

impl HttpApi for TwilioApi {
    fn kind(&self) -> ChannelType {
        ChannelType::Twilio
    }

    fn requests(&self, n: &Notification, _key: &str) -> Result<Vec<HttpRequest>, String> {
        let body = body(n);
        Ok(self
            .to
            .iter()
            .map(|to| HttpRequest {
                method: reqwest::Method::POST,
                url: self.url.clone(),
                shown_url: self.url.to_string(),
                headers: Vec::new(),
                redact: Vec::new(),
                basic_auth: Some((self.account_sid.clone(), self.auth_token.clone())),
                body: Body::Form(vec![
                    ("To".into(), to.clone()),
                    ("From".into(), self.from.clone()),
                    ("Body".into(), body.clone()),
                ]),
            })
            .collect())
    }
}
