//! The `validate` command and start-up refusal of bad configs, through the real binary.

mod common;

use std::process::Command;

fn signalbox(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quickstart_config_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart/signalbox.yaml"
    );
    let (code, out, err) = signalbox(&["validate", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (2 rules)"), "{out}");
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "server:\n  lisen: \"127.0.0.1:1\"\nrules:\n  r1:\n    pattern: { source: [\"x\"] }\n    targets: [ { log: {} } ]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "rules:\n  r1:\n    pattern: {}\n    targets: [ { log: {} } ]\n  r2:\n    pattern: { source: \"x\" }\n    targets: [ { log: {} } ]\n",
    )
    .unwrap();
    let (code, _, err) = signalbox(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let a = dir.path().join("a.yaml").display().to_string();
    let b = dir.path().join("b.yaml").display().to_string();
    assert!(
        err.contains(&format!("{a}:2:3: ")),
        "unknown key located:\n{err}"
    );
    assert!(err.contains("lisen"), "{err}");
    assert!(
        err.contains(&format!("{b}:2:3: ")) && err.contains(&a),
        "duplicate rule names both files:\n{err}"
    );
}

#[test]
fn validate_reports_pattern_errors_at_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "rules:\n  ecs-stopped:\n    pattern:\n      detail:\n        lastStatus: [ { anything-but: { bogus: 1 } } ]\n    targets: [ { log: {} } ]\n",
    )
    .unwrap();
    let (code, _, err) = signalbox(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    let expected = format!(
        "{}:2:3: rules.ecs-stopped.pattern.detail.lastStatus: ",
        file.display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn validate_names_a_missing_env_var() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.yaml");
    std::fs::write(
        &file,
        "rules:\n  r:\n    pattern: {}\n    targets:\n      - webhook: { url: \"${env:SIGNALBOX_TEST_SURELY_UNSET_VAR}\" }\n",
    )
    .unwrap();
    let (code, _, err) = signalbox(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("SIGNALBOX_TEST_SURELY_UNSET_VAR"), "{err}");
    assert!(err.contains(&format!("{}:5:", file.display())), "{err}");
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "store: { url: \"sqlite://x.db\", bogus: 1 }\n").unwrap();
    let (code, _, err) = signalbox(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn readme_config_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("README has a yaml example") + 8;
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.yaml");
    std::fs::write(&file, &readme[start..start + len]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(["validate", file.to_str().unwrap()])
        .env("HOOK_TOKEN", "t0ken")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
