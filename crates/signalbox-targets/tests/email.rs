//! The email channel against a real SMTP server started in the test (mailin-embedded):
//! STARTTLS with a private CA, AUTH PLAIN, several recipients, and the received MIME message
//! parsed and checked.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mail_parser::{MessageParser, MimeHeaders};
use mailin_embedded::response::{AUTH_OK, INVALID_CREDENTIALS, NO_MAILBOX, OK};
use mailin_embedded::{AuthMechanism, Handler, Response, Server, SslConfig};
use signalbox_targets::AttemptOutcome;
use signalbox_targets::channels::{Channel, Field, Notification, Severity, build_channel};

#[derive(Default)]
struct Received {
    auth: Vec<(String, String)>,
    envelopes: Vec<(String, Vec<String>)>,
    messages: Vec<Vec<u8>>,
    current: Vec<u8>,
}

#[derive(Clone)]
struct Collector(Arc<Mutex<Received>>);

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.starts_with("nobody@") {
            NO_MAILBOX
        } else {
            OK
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        let mut r = self.0.lock().unwrap();
        r.envelopes.push((from.to_owned(), to.to_vec()));
        r.current.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut r = self.0.lock().unwrap();
        let message = std::mem::take(&mut r.current);
        r.messages.push(message);
        OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.0
            .lock()
            .unwrap()
            .auth
            .push((user.to_owned(), password.to_owned()));
        if user == "alerts" && password == "s3cret" {
            AUTH_OK
        } else {
            INVALID_CREDENTIALS
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Starts an SMTP server with STARTTLS and AUTH PLAIN on a free port.
fn smtp_server() -> (u16, Arc<Mutex<Received>>) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = Server::new(Collector(received.clone()));
    server
        .with_name("localhost")
        .with_ssl(SslConfig::SelfSigned {
            cert_path: fixture("smtp-test-cert.pem").display().to_string(),
            key_path: fixture("smtp-test-key.pem").display().to_string(),
        })
        .unwrap()
        .with_auth(AuthMechanism::Plain)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, received)
}

fn email_channel(port: u16, password: &str, to: &[&str]) -> Arc<dyn Channel> {
    let ca = std::fs::read_to_string(fixture("smtp-test-cert.pem")).unwrap();
    let yaml = format!(
        "channels:\n  mail:\n    type: email\n    from: \"signalbox <alerts@example.com>\"\n    to: [{}]\n    subject: \"[{{{{ severity }}}}] {{{{ title }}}}\"\n    smtp:\n      host: localhost\n      port: {port}\n      tls: starttls\n      username: alerts\n      password: {password}\n      ca_cert: |\n{}",
        to.iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", "),
        ca.lines()
            .map(|l| format!("        {l}\n"))
            .collect::<String>()
    );
    let loaded = signalbox_config::load_str(&yaml, Path::new("mail.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    build_channel(&loaded.config.channels["mail"], &reqwest::Client::new()).unwrap()
}

fn notification() -> Notification {
    Notification {
        title: "Check api is down".into(),
        text: "GET https://api.example.com/health: connection refused <b>".into(),
        fields: vec![Field {
            name: "Target".into(),
            value: "https://api.example.com/health".into(),
        }],
        link: Some("https://signalbox.example.com/checks/api".into()),
        severity: Severity::Critical,
        dedup_key: "signalbox/check/api".into(),
        time: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_auth_and_a_multipart_message_to_every_recipient() {
    let (port, received) = smtp_server();
    let mail = email_channel(port, "s3cret", &["ops@example.com", "dev@example.com"]);
    let answer = mail.send(&notification(), "d-42").await;
    assert!(
        matches!(
            answer.outcome,
            AttemptOutcome::Delivered { status: Some(250) }
        ),
        "{answer:?}"
    );

    let r = received.lock().unwrap();
    assert_eq!(r.auth, [("alerts".to_owned(), "s3cret".to_owned())]);
    assert_eq!(r.envelopes.len(), 1);
    assert_eq!(r.envelopes[0].0, "alerts@example.com");
    assert_eq!(r.envelopes[0].1, ["ops@example.com", "dev@example.com"]);
    let raw = &r.messages[0];
    let message = MessageParser::default().parse(raw).expect("a MIME message");
    assert_eq!(message.subject(), Some("[critical] Check api is down"));
    let to: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.com", "dev@example.com"]);
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("alerts@example.com")
    );
    assert_eq!(message.message_id(), Some("d-42@signalbox"));
    let content_type = message.content_type().unwrap();
    assert_eq!(content_type.ctype(), "multipart");
    assert_eq!(content_type.subtype(), Some("alternative"));
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(
        text.starts_with("Check api is down\n\nGET https://api.example.com/health"),
        "{text}"
    );
    assert!(text.contains("Target: https://api.example.com/health"));
    let html = message.body_html(0).unwrap();
    assert!(html.contains("connection refused &lt;b&gt;"), "{html}");
    assert!(html.contains("<a href=\"https://signalbox.example.com/checks/api\">Open</a>"));
    assert!(!String::from_utf8_lossy(raw).contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_refusals_are_classified() {
    let (port, _) = smtp_server();
    // 535 bad credentials: sending again will not help.
    let mail = email_channel(port, "wrong", &["ops@example.com"]);
    let answer = mail.send(&notification(), "d-1").await;
    assert!(
        matches!(
            answer.outcome,
            AttemptOutcome::Permanent {
                status: Some(535),
                ..
            }
        ),
        "{answer:?}"
    );
    assert!(!answer.response.contains("wrong"));
    // 550 unknown mailbox.
    let mail = email_channel(port, "s3cret", &["nobody@example.com"]);
    let answer = mail.send(&notification(), "d-2").await;
    assert!(
        matches!(
            answer.outcome,
            AttemptOutcome::Permanent {
                status: Some(550),
                ..
            }
        ),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_server_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mail = email_channel(port, "s3cret", &["ops@example.com"]);
    let answer = mail.send(&notification(), "d-1").await;
    assert!(
        matches!(answer.outcome, AttemptOutcome::Retry { .. }),
        "{answer:?}"
    );
}
