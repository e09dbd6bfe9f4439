//! Email over SMTP (lettre): STARTTLS (required, not opportunistic), implicit TLS or none;
//! AUTH when a username is set; one message to every recipient, `multipart/alternative` with a
//! text and an HTML part; the subject from a template.
//!
//! SMTP answers decide the outcome: 2xx done, 4xx (and connection trouble) retry, 5xx give up.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{Environment, UndefinedBehavior, context};
use signalbox_config::{ChannelConfig, ChannelType, SmtpTls};

use super::markup::{html, html_lines};
use super::{Answer, Channel, Notification};
use crate::outcome::AttemptOutcome;

/// The subject when the channel sets none.
pub const DEFAULT_SUBJECT: &str = "[signalbox] {{ title }}";

/// The email channel.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject: Environment<'static>,
    /// `host:port (tls)`, for answers.
    server: String,
}

impl Email {
    /// Builds from `channels.<name>` (type `email`).
    pub fn new(config: &ChannelConfig) -> Result<Email, String> {
        let smtp = config.smtp.as_ref().ok_or("email needs smtp")?;
        let from: Mailbox = config
            .from
            .as_deref()
            .ok_or("email needs from")?
            .parse()
            .map_err(|e| format!("from is not an email address: {e}"))?;
        let to = config
            .to
            .iter()
            .map(|to| {
                to.parse::<Mailbox>()
                    .map_err(|e| format!("to \"{to}\" is not an email address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("email needs at least one recipient in to".into());
        }
        let tls_parameters = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(smtp.host.clone());
            if let Some(pem) = &smtp.ca_cert {
                let cert = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| format!("smtp ca_cert is not a PEM certificate: {e}"))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| format!("smtp TLS setup failed: {e}"))
        };
        let tls = match smtp.tls {
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port())
            .tls(tls)
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let mut subject = Environment::new();
        subject.set_undefined_behavior(UndefinedBehavior::Chainable);
        subject
            .add_template_owned(
                "subject",
                config
                    .subject
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SUBJECT.to_owned()),
            )
            .map_err(|e| format!("subject template: {e}"))?;
        let tls_name = match smtp.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "implicit TLS",
            SmtpTls::None => "no TLS",
        };
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            subject,
            server: format!("{}:{} ({tls_name})", smtp.host, smtp.port()),
        })
    }

    /// The subject for `n`: the template with `title`, `severity`, `text`, `link` and
    /// `fields` (a map) in scope, on one line.
    pub fn subject(&self, n: &Notification) -> Result<String, String> {
        let fields: std::collections::BTreeMap<String, String> = n
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect();
        let template = self
            .subject
            .get_template("subject")
            .map_err(|e| e.to_string())?;
        let subject = template
            .render(context! {
                title => n.title.clone(),
                severity => n.severity.as_str(),
                text => n.text.clone(),
                link => n.link.clone(),
                fields => fields,
            })
            .map_err(|e| format!("subject template: {e}"))?;
        // A header is one line.
        Ok(subject.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn message(&self, n: &Notification, key: &str) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(self.subject(n)?);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        // Receivers can de-duplicate a message sent again after a lost answer.
        builder = builder.message_id(Some(format!("<{key}@signalbox>")));
        builder
            .multipart(MultiPart::alternative_plain_html(
                n.plain_text(),
                html_body(n),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }
}

/// The HTML part: title in the severity's colour, the text, a table of fields, the link.
pub fn html_body(n: &Notification) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222\">\n",
    );
    out.push_str(&format!(
        "<h2 style=\"color:#{:06x};margin:0 0 12px\">{} {}</h2>\n",
        n.severity.color(),
        n.severity.emoji(),
        html(&n.title)
    ));
    if !n.text.is_empty() {
        out.push_str(&format!("<p>{}</p>\n", html_lines(&n.text)));
    }
    if !n.fields.is_empty() {
        out.push_str("<table style=\"border-collapse:collapse\">\n");
        for field in &n.fields {
            out.push_str(&format!(
                "<tr><th style=\"text-align:left;padding:2px 12px 2px 0;vertical-align:top\">{}</th><td style=\"padding:2px 0\">{}</td></tr>\n",
                html(&field.name),
                html_lines(&field.value)
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(link) = &n.link {
        out.push_str(&format!("<p><a href=\"{}\">Open</a></p>\n", html(link)));
    }
    out.push_str(&format!(
        "<p style=\"color:#888;font-size:12px\">signalbox · {}{}</p>\n</body></html>\n",
        n.severity.as_str(),
        n.time
            .as_deref()
            .map(|t| format!(" · {}", html(t)))
            .unwrap_or_default()
    ));
    out
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> ChannelType {
        ChannelType::Email
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        let to: Vec<String> = self.to.iter().map(ToString::to_string).collect();
        Ok(format!(
            "SMTP {}\nFrom: {}\nTo: {}\nSubject: {}\n\n{}",
            self.server,
            self.from,
            to.join(", "),
            self.subject(n)?,
            n.plain_text()
        ))
    }

    async fn send(&self, n: &Notification, key: &str) -> Answer {
        let message = match self.message(n, key) {
            Ok(message) => message,
            Err(error) => return Answer::permanent(error),
        };
        match self.transport.send(message).await {
            Ok(response) => Answer {
                response: format!(
                    "{}: {} {}",
                    self.server,
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
                outcome: AttemptOutcome::Delivered {
                    status: Some(code_number(response.code())),
                },
            },
            Err(error) => {
                let text = format!("smtp {}: {error}", self.server);
                let outcome = if error.is_permanent() {
                    AttemptOutcome::Permanent {
                        error: text.clone(),
                        status: error.status().map(code_number),
                    }
                } else {
                    AttemptOutcome::Retry {
                        error: text.clone(),
                        status: error.status().map(code_number),
                        retry_after: None,
                    }
                };
                Answer {
                    response: text,
                    outcome,
                }
            }
        }
    }
}

fn code_number(code: lettre::transport::smtp::response::Code) -> u16 {
    // `Code` displays as its three digits.
    code.to_string().parse().unwrap_or(0)
}
