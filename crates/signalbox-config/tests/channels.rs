//! `channels:` and `notify:` targets: loading, the checks, and positions in errors.

use std::path::Path;

use signalbox_config::{ChannelType, SmtpTls, TargetKind, load_str};

fn errors(yaml: &str) -> Vec<String> {
    match load_str(yaml, Path::new("c.yaml")) {
        Ok(_) => Vec::new(),
        Err(ds) => ds.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn channels_and_notify_targets_load() {
    let yaml = r#"
channels:
  ops:
    type: slack
    webhook_url: https://hooks.slack.com/services/T/B/X
    rate_limit: 1/s
  mail:
    type: email
    from: alerts@example.com
    to: [ops@example.com, dev@example.com]
    smtp: { host: smtp.example.com, tls: implicit, username: u, password: p }
rules:
  r:
    pattern: {}
    targets:
      - notify: ops
        title: "{{ event.detail.name }}"
        digest: { window: 1m, max: 5 }
      - notify: mail
"#;
    let loaded = load_str(yaml, Path::new("c.yaml")).unwrap();
    let ops = &loaded.config.channels["ops"];
    assert_eq!(ops.kind, ChannelType::Slack);
    assert_eq!(ops.rate_limit.unwrap().count, 1);
    let mail = &loaded.config.channels["mail"];
    let smtp = mail.smtp.as_ref().unwrap();
    assert_eq!((smtp.tls, smtp.port()), (SmtpTls::Implicit, 465));
    // Secrets never print.
    assert!(!format!("{ops:?}").contains("hooks.slack.com"));
    assert!(!format!("{mail:?}").contains("password: p"));
    let target = &loaded.config.rules["r"].targets[0];
    assert_eq!(target.kind(), TargetKind::Notify("ops"));
    assert_eq!(target.digest.unwrap().max, 5);
    assert!(loaded.origins.contains_key("channels.ops"));
}

#[test]
fn an_unknown_channel_is_an_error_at_its_place() {
    let yaml = "channels:\n  ops:\n    type: discord\n    webhook_url: https://discord.com/api/webhooks/1/x\nrules:\n  r:\n    pattern: {}\n    targets:\n      - notify: opz\n";
    assert_eq!(
        errors(yaml),
        [
            "c.yaml:9:17: target 1 of rule \"r\": notify names channel \"opz\", which is not defined; the channels are \"ops\""
        ]
    );
}

#[test]
fn channel_keys_are_checked_per_type() {
    let yaml = r#"
channels:
  tg:
    type: telegram
    token: "1:A"
    webhook_url: https://example.com/x
  s:
    type: slack
  sms:
    type: twilio
    account_sid: AC1
    auth_token: t
    from: "+1"
    to: []
  r:
    type: discord
    webhook_url: https://discord.com/api/webhooks/1/x
    rate_limit: 0/s
  bad:
    type: pigeon
"#;
    let errors = errors(yaml);
    let expected = [
        "c.yaml:4:5: channel \"tg\": type telegram needs `chat_id`",
        "c.yaml:6:18: channel \"tg\": `webhook_url` is not used by type telegram",
        "c.yaml:8:5: channel \"s\": slack needs `webhook_url`, or `token` with `channel`",
        "c.yaml:10:5: channel \"sms\": type twilio needs `to`",
        "c.yaml:18:17: channel \"r\": rate_limit \"0/s\" must allow at least one message per interval longer than 0s",
    ];
    for e in expected {
        assert!(
            errors.iter().any(|got| got == e),
            "missing {e:?} in {errors:#?}"
        );
    }
    assert!(errors.iter().any(|e| e.contains("pigeon")), "{errors:#?}");
}

#[test]
fn a_bad_webhook_url_is_reported_without_its_value() {
    let yaml = "channels:\n  t:\n    type: teams\n    webhook_url: ${env:TEAMS_URL}\n";
    let env: std::collections::BTreeMap<String, String> =
        [("TEAMS_URL".to_owned(), "not a url secretpart".to_owned())].into();
    let result = signalbox_config::load_str_with(yaml, Path::new("c.yaml"), &env);
    let errors: Vec<String> = result
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["c.yaml:4:18: channel \"t\": webhook_url must be an http:// or https:// URL"]
    );
}

#[test]
fn notify_options_belong_to_notify_targets() {
    let yaml = r#"
channels:
  ops: { type: webhook, webhook_url: "https://example.com/h" }
rules:
  r:
    pattern: {}
    targets:
      - log: {}
        title: "x"
      - notify: ops
        message: "{{ event."
      - notify: ops
        digest: { window: 0s }
        max_attempts: 1
"#;
    let errors = errors(yaml);
    for e in [
        "`title` is only used by notify targets",
        "message: template syntax error",
        "digest window must be longer than 0s",
        "a digest needs max_attempts of at least 2",
    ] {
        assert!(
            errors.iter().any(|got| got.contains(e)),
            "missing {e:?} in {errors:#?}"
        );
    }
}
