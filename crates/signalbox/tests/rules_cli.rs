//! `signalbox rules test` and `signalbox rules explain`, through the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn signalbox(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

#[test]
fn rules_test_exit_codes_with_json_yaml_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let yaml_pattern = write(
        dir.path(),
        "pattern.yaml",
        "source: [ci]\ndetail:\n  env: [{ prefix: prod }]\n  flag: [on]\n",
    );
    let json_pattern = write(dir.path(), "pattern.json", r#"{"source": ["ci"]}"#);
    let prod = write(
        dir.path(),
        "prod.json",
        r#"{"source": "ci", "detail": {"env": "production", "flag": "on"}}"#,
    );
    let staging_yaml = write(
        dir.path(),
        "staging.yml",
        "source: ci\ndetail: { env: staging, flag: \"on\" }\n",
    );

    let (code, out, err) = signalbox(&["rules", "test", &yaml_pattern, &prod], None);
    assert_eq!((code, out.as_str()), (0, "matched\n"), "{err}");
    let (code, out, _) = signalbox(&["rules", "test", &yaml_pattern, &staging_yaml], None);
    assert_eq!((code, out.as_str()), (1, "no match\n"));
    let (code, out, _) = signalbox(&["rules", "test", &json_pattern, &staging_yaml], None);
    assert_eq!((code, out.as_str()), (0, "matched\n"));

    // `-` reads stdin, for the pattern or the event.
    let (code, out, _) = signalbox(
        &["rules", "test", &yaml_pattern, "-"],
        Some(r#"{"source": "ci", "detail": {"env": "prod-eu", "flag": "on"}}"#),
    );
    assert_eq!((code, out.as_str()), (0, "matched\n"));
    let (code, out, _) = signalbox(&["rules", "test", "-", &prod], Some("source: [other]\n"));
    assert_eq!((code, out.as_str()), (1, "no match\n"));
    let (code, _, err) = signalbox(&["rules", "test", "-", "-"], Some("{}"));
    assert_eq!(code, 2);
    assert!(err.contains("only one of the files can be `-`"), "{err}");
}

#[test]
fn rules_test_reports_an_invalid_pattern_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"detail": {"n": [{"numeric": ["!=", 1]}]}}"#,
    );
    let event = write(dir.path(), "event.json", r#"{"detail": {"n": 1}}"#);
    let (code, out, err) = signalbox(&["rules", "test", &bad, &event], None);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!("{bad}: pattern.detail.n: numeric operator")),
        "{err}"
    );

    let broken = write(dir.path(), "broken.json", "{\"source\": [");
    let (code, _, err) = signalbox(&["rules", "test", &broken, &event], None);
    assert_eq!(code, 2);
    assert!(err.contains("invalid JSON"), "{err}");
}

const CONFIG: &str = r#"
rules:
  deploys:
    pattern: { source: [ci], detail-type: [Deploy] }
    targets:
      - webhook: { url: "https://hooks.example.com/deploys" }
        input_paths: { service: "$.detail.service", owner: "$.detail.owner" }
        input_template: '{"service": <service>, "owner": <owner>, "rule": <aws.events.rule-name>}'
      - log: { level: warn, message: "deploy of {{ event.detail.service }}" }
  echo-deploys:
    type: deploy
    source: ci
    payloadConstraints: { service: "ap" }
    targets: [{ log: {} }]
  other:
    pattern: { source: [elsewhere] }
    targets: [{ webhook: { url: "https://hooks.example.com/other" } }]
"#;

#[test]
fn rules_explain_shows_matching_rules_and_rendered_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "signalbox.yaml", CONFIG);
    let event = write(
        dir.path(),
        "event.yaml",
        "source: ci\ndetail-type: Deploy\ndetail: { service: api }\n",
    );
    let (code, out, err) = signalbox(&["rules", "explain", &config, &event], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "rule deploys matches\n\
         \x20 target 1: webhook POST https://hooks.example.com/deploys\n\
         \x20   {\"service\": \"api\", \"owner\": null, \"rule\": \"deploys\"}\n\
         \x20 target 2: log at warn\n\
         \x20   deploy of api\n\
         1 of 3 enabled rules match; nothing was sent\n"
    );

    let (code, out, _) = signalbox(
        &["rules", "explain", &config, "-"],
        Some(r#"{"source": "nobody", "detail-type": "x"}"#),
    );
    assert_eq!(code, 1);
    assert_eq!(out, "0 of 3 enabled rules match; nothing was sent\n");
}

#[test]
fn rules_explain_reports_config_errors_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "signalbox.yaml",
        "rules:\n  r:\n    pattern: {}\n    targets:\n      - log: {}\n        input_template: \"<nope>\"\n",
    );
    let event = write(
        dir.path(),
        "event.json",
        r#"{"source": "a", "detail-type": "b"}"#,
    );
    let (code, out, err) = signalbox(&["rules", "explain", &config, &event], None);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(&format!(
            "{config}:6:25: target 1 of rule \"r\": input_template: unknown placeholder <nope>"
        )),
        "{err}"
    );
}
