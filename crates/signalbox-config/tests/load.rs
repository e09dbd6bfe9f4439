//! End-to-end loading: real files and directories, a map for the environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use signalbox_config::{
    ByteSize, Config, Diagnostic, Loaded, LogLevel, TargetKind, load, load_str_with, load_with,
};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn ok(text: &str) -> Loaded {
    load_str_with(text, Path::new("config.yaml"), &env(&[]))
        .unwrap_or_else(|errors| panic!("unexpected errors: {errors:#?}"))
}

fn problems(text: &str) -> Vec<Diagnostic> {
    errors_with(text, &env(&[]))
}

fn errors_with(text: &str, vars: &HashMap<String, String>) -> Vec<Diagnostic> {
    match load_str_with(text, Path::new("config.yaml"), vars) {
        Ok(loaded) => panic!("expected errors, got {:#?}", loaded.config),
        Err(errors) => errors,
    }
}

/// (line, column) of a diagnostic; panics when it has no location.
fn at(diagnostic: &Diagnostic) -> (usize, usize) {
    let location = diagnostic
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("no location: {diagnostic}"));
    (location.line, location.column)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

const MINIMAL_RULE: &str = "
rules:
  r:
    pattern: { source: [app] }
    targets:
      - log: {}
";

#[test]
fn empty_and_comment_only_files_are_the_default_config() {
    for text in ["", "\n", "# nothing yet\n", "---\n"] {
        let loaded = ok(text);
        assert_eq!(loaded.config, Config::default(), "{text:?}");
        assert!(loaded.origins.is_empty());
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::default();
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.server.body_limit, ByteSize(1024 * 1024));
    assert_eq!(config.server.dedup_window, Duration::from_secs(86_400));
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.server.group_commit_max, 1000);
    assert_eq!(config.store.url, "sqlite://signalbox-data/signalbox.db");
    assert_eq!(config.store.max_connections, 8);
    assert_eq!(config.store.lease, Duration::from_secs(30));
    assert_eq!(config.store.poll_interval, Duration::from_secs(1));

    let loaded = ok("
rules:
  r:
    pattern: { source: [app] }
    targets:
      - webhook: { url: \"https://example.com/hook\" }
      - log: {}
");
    let rule = &loaded.config.rules["r"];
    assert!(rule.enabled);
    assert_eq!(rule.description, None);
    let target = &rule.targets[0];
    assert_eq!(target.max_attempts, 10);
    assert_eq!(target.max_age, Duration::from_secs(86_400));
    assert_eq!(target.initial_backoff, Duration::from_secs(1));
    assert_eq!(target.max_backoff, Duration::from_secs(300));
    assert_eq!(target.name, None);
    let TargetKind::Webhook(webhook) = target.kind() else {
        panic!("expected a webhook")
    };
    assert_eq!(webhook.method, "POST");
    assert_eq!(webhook.timeout, Duration::from_secs(10));
    assert!(webhook.headers.is_empty());
    assert_eq!(webhook.body, None);
    let TargetKind::Log(log) = rule.targets[1].kind() else {
        panic!("expected a log target")
    };
    assert_eq!(log.level, LogLevel::Info);
    assert_eq!(log.message, None);
}

#[test]
fn a_full_config_loads() {
    let loaded = ok(r#"
server:
  listen: "0.0.0.0:9000"
  body_limit: 512KiB
  dedup_window: 1h
  shutdown_grace: 5s
  group_commit_max: 50
store:
  url: postgres://signalbox@db/signalbox
  max_connections: 20
  lease: 2m
  poll_interval: 250ms
rules:
  ecs-stopped:
    description: Task stopped
    enabled: false
    pattern:
      source: ["aws.ecs"]
      detail-type: ["ECS Task State Change"]
      detail: { lastStatus: ["STOPPED"], exitCode: [1, 137], on: [on] }
    targets:
      - webhook:
          url: "http://hooks.internal/ecs"
          method: put
          headers: { X-Team: ops }
          body: "{{ event | tojson }}"
          timeout: 3s
        name: ops-hook
        max_attempts: 3
        max_age: 1h
        initial_backoff: 500ms
        max_backoff: 1m
      - log: { level: warn, message: "stopped {{ event.detail.taskArn }}" }
"#);
    let config = &loaded.config;
    assert_eq!(config.server.listen, "0.0.0.0:9000");
    assert_eq!(config.server.body_limit, ByteSize(512 * 1024));
    assert_eq!(config.server.dedup_window, Duration::from_secs(3600));
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(5));
    assert_eq!(config.server.group_commit_max, 50);
    assert_eq!(config.store.url, "postgres://signalbox@db/signalbox");
    assert_eq!(config.store.max_connections, 20);
    assert_eq!(config.store.lease, Duration::from_secs(120));
    assert_eq!(config.store.poll_interval, Duration::from_millis(250));

    let rule = &config.rules["ecs-stopped"];
    assert!(!rule.enabled);
    assert_eq!(rule.description.as_deref(), Some("Task stopped"));
    // YAML 1.2 booleans: `on` stays a string, in keys and in values.
    assert_eq!(
        rule.pattern,
        Some(serde_json::json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Task State Change"],
            "detail": { "lastStatus": ["STOPPED"], "exitCode": [1, 137], "on": ["on"] }
        }))
    );
    let hook = &rule.targets[0];
    assert_eq!(hook.name.as_deref(), Some("ops-hook"));
    assert_eq!(hook.max_attempts, 3);
    assert_eq!(hook.max_age, Duration::from_secs(3600));
    assert_eq!(hook.initial_backoff, Duration::from_millis(500));
    assert_eq!(hook.max_backoff, Duration::from_secs(60));
    let TargetKind::Webhook(webhook) = hook.kind() else {
        panic!("expected a webhook")
    };
    assert_eq!(webhook.method, "PUT", "methods are uppercased");
    assert_eq!(webhook.headers["X-Team"], "ops");
    assert_eq!(webhook.body.as_deref(), Some("{{ event | tojson }}"));
    assert_eq!(webhook.timeout, Duration::from_secs(3));
    let TargetKind::Log(log) = rule.targets[1].kind() else {
        panic!("expected a log target")
    };
    assert_eq!(log.level, LogLevel::Warn);

    let origin = &loaded.origins["rules.ecs-stopped"];
    assert_eq!((origin.line, origin.column), (14, 3));
    assert_eq!(origin.file, Path::new("config.yaml"));
    assert_eq!(loaded.origins["server"].line, 2);
    assert_eq!(loaded.origins["store.lease"].line, 11);
}

#[test]
fn byte_sizes_accept_integers_and_units() {
    for (written, bytes) in [
        ("2048", 2048),
        ("\"512KiB\"", 512 * 1024),
        ("1MiB", 1 << 20),
        ("2MB", 2_000_000),
        ("10kb", 10_000),
    ] {
        let loaded = ok(&format!("server:\n  body_limit: {written}\n"));
        assert_eq!(
            loaded.config.server.body_limit,
            ByteSize(bytes),
            "{written}"
        );
    }
    let errors = problems("server:\n  body_limit: 12 parsecs\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(at(&errors[0]), (2, 15));
    assert!(
        errors[0]
            .message
            .contains("invalid byte size \"12 parsecs\""),
        "{}",
        errors[0]
    );
    let errors = problems("server:\n  body_limit: -5\n");
    assert_eq!(at(&errors[0]), (2, 15));
}

#[test]
fn durations_are_humantime_strings() {
    let loaded =
        ok("server:\n  dedup_window: 90s\n  shutdown_grace: 500ms\nstore:\n  lease: 1h 30m\n");
    assert_eq!(loaded.config.server.dedup_window, Duration::from_secs(90));
    assert_eq!(
        loaded.config.server.shutdown_grace,
        Duration::from_millis(500)
    );
    assert_eq!(loaded.config.store.lease, Duration::from_secs(5400));

    let errors = problems("server:\n  dedup_window: soon\n  shutdown_grace: 30\n");
    assert_eq!(
        errors.len(),
        2,
        "both bad durations are reported: {errors:#?}"
    );
    assert_eq!(at(&errors[0]), (2, 17));
    assert!(
        errors[0].message.contains("invalid duration \"soon\""),
        "{}",
        errors[0]
    );
    assert_eq!(at(&errors[1]), (3, 19));
    assert!(
        errors[1].message.contains("invalid duration \"30\""),
        "{}",
        errors[1]
    );
}

#[test]
fn unknown_key_points_at_the_key_and_lists_expected_ones() {
    let errors = problems("server: { lisen: x }\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(at(&errors[0]), (1, 11));
    let message = &errors[0].message;
    assert!(
        message.starts_with("server: unknown field `lisen`"),
        "{message}"
    );
    assert!(
        message.contains("`listen`") && message.contains("`group_commit_max`"),
        "{message}"
    );
    assert_eq!(
        errors[0].to_string(),
        format!("config.yaml:1:11: {message}"),
        "Display is file:line:col: message"
    );
}

#[test]
fn unknown_top_level_key_is_reported() {
    let errors = problems("servers: {}\n");
    assert_eq!(at(&errors[0]), (1, 1));
    assert!(
        errors[0]
            .message
            .contains("unknown top-level key `servers`"),
        "{}",
        errors[0]
    );
    assert!(errors[0].message.contains("`rules`"), "{}", errors[0]);
}

#[test]
fn wrong_types_are_located() {
    let errors = problems("store:\n  max_connections: many\n  url: [a]\n");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(at(&errors[0]), (2, 20));
    assert!(
        errors[0]
            .message
            .contains("invalid type: string \"many\", expected u32"),
        "{}",
        errors[0]
    );
    assert_eq!(at(&errors[1]), (3, 8));
}

#[test]
fn yaml_syntax_errors_carry_file_line_and_column() {
    let errors = problems("rules:\n  r: { pattern: [1 }\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let location = errors[0].location.as_ref().expect("located");
    assert_eq!(location.file, Path::new("config.yaml"));
    assert_eq!(location.line, 2);
    assert!(
        errors[0].message.starts_with("invalid YAML"),
        "{}",
        errors[0]
    );
}

#[test]
fn missing_path_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.yaml");
    let errors = load(&missing).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].location, None);
    assert!(errors[0].message.contains("nope.yaml"), "{}", errors[0]);
}

#[test]
fn a_single_file_loads_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "signalbox.yml", MINIMAL_RULE);
    let loaded = load_with(&path, &env(&[])).expect("loads");
    assert!(loaded.config.rules.contains_key("r"));
    assert_eq!(loaded.origins["rules.r"].file, path);
}

#[test]
fn directory_files_are_merged_in_name_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "10-server.yaml",
        "server:\n  listen: \"0.0.0.0:1\"\n",
    );
    write(dir.path(), "20-rules.yml", MINIMAL_RULE);
    write(
        dir.path(),
        "30-more.yaml",
        "server:\n  group_commit_max: 7\nrules:\n  other:\n    pattern: {}\n    targets: [{ log: {} }]\n",
    );
    write(dir.path(), "notes.txt", "not: [yaml");
    std::fs::create_dir(dir.path().join("nested.yaml")).expect("subdir is skipped");
    let loaded = load_with(dir.path(), &env(&[])).expect("loads");
    assert_eq!(loaded.config.server.listen, "0.0.0.0:1");
    assert_eq!(loaded.config.server.group_commit_max, 7);
    assert_eq!(loaded.config.rules.len(), 2);
    assert_eq!(
        loaded.origins["rules.other"].file,
        dir.path().join("30-more.yaml")
    );
    assert_eq!(
        loaded.origins["server"].file,
        dir.path().join("10-server.yaml")
    );
}

#[test]
fn unknown_key_in_second_file_of_a_directory_is_located_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", MINIMAL_RULE);
    let second = write(
        dir.path(),
        "b.yaml",
        "rules:\n  s:\n    pattern: {}\n    targets:\n      - log: {}\n        retries: 3\n",
    );
    let errors = load_with(dir.path(), &env(&[])).expect_err("unknown key");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let location = errors[0].location.as_ref().expect("located");
    assert_eq!(location.file, second);
    assert_eq!((location.line, location.column), (6, 9));
    assert!(
        errors[0]
            .message
            .starts_with("target 1 of rule \"s\": unknown field `retries`"),
        "{}",
        errors[0]
    );
}

#[test]
fn duplicate_rule_across_files_names_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", MINIMAL_RULE);
    write(
        dir.path(),
        "b.yaml",
        &format!("# moved here\n{MINIMAL_RULE}"),
    );
    let errors = load_with(dir.path(), &env(&[])).expect_err("duplicate");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let location = errors[0].location.as_ref().expect("located");
    assert_eq!(location.file, dir.path().join("b.yaml"));
    assert_eq!((location.line, location.column), (4, 3));
    let message = &errors[0].message;
    assert!(message.contains("rule \"r\" is defined twice"), "{message}");
    assert!(
        message.contains(&format!("{}:3:3", dir.path().join("a.yaml").display())),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}:4:3", dir.path().join("b.yaml").display())),
        "{message}"
    );
}

#[test]
fn same_server_key_in_two_files_names_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", "server:\n  listen: \"127.0.0.1:1\"\n");
    write(
        dir.path(),
        "b.yaml",
        "server:\n  body_limit: 1KiB\n  listen: \"127.0.0.1:2\"\n",
    );
    let errors = load_with(dir.path(), &env(&[])).expect_err("duplicate");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(
        errors[0].location.as_ref().map(|l| &l.file),
        Some(&dir.path().join("b.yaml"))
    );
    assert_eq!(at(&errors[0]), (3, 3));
    let message = &errors[0].message;
    assert!(message.contains("server.listen is set twice"), "{message}");
    assert!(
        message.contains("a.yaml:2:3") && message.contains("b.yaml:3:3"),
        "{message}"
    );
}

#[test]
fn errors_from_every_file_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", "server: { lisen: x }\n");
    write(dir.path(), "b.yaml", "rules: [oops\n");
    write(dir.path(), "c.yaml", "store: { url: \"${env:DB_URL}\" }\n");
    let errors = load_with(dir.path(), &env(&[])).expect_err("three problems");
    let files: Vec<_> = errors
        .iter()
        .map(|e| {
            e.location
                .as_ref()
                .and_then(|l| l.file.file_name())
                .and_then(|f| f.to_str())
        })
        .collect();
    assert_eq!(
        files,
        [Some("a.yaml"), Some("b.yaml"), Some("c.yaml")],
        "{errors:#?}"
    );
}

#[test]
fn empty_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let errors = load_with(dir.path(), &env(&[])).expect_err("nothing to load");
    assert!(
        errors[0].message.contains("no *.yaml or *.yml files"),
        "{}",
        errors[0]
    );
}

#[test]
fn env_substitution_fills_string_values() {
    let vars = env(&[
        ("DB", "postgres://db/x"),
        ("TOKEN", "s3cret"),
        ("ATTEMPTS", "4"),
    ]);
    let loaded = load_str_with(
        "
store: { url: \"${env:DB}\" }
rules:
  r:
    pattern: { source: [app] }
    targets:
      - webhook:
          url: https://example.com
          headers: { Authorization: \"Bearer ${env:TOKEN}\" }
        max_attempts: ${env:ATTEMPTS}
",
        Path::new("config.yaml"),
        &vars,
    )
    .expect("loads");
    assert_eq!(loaded.config.store.url, "postgres://db/x");
    let target = &loaded.config.rules["r"].targets[0];
    assert_eq!(
        target.max_attempts, 4,
        "a substituted string may be a number"
    );
    let TargetKind::Webhook(webhook) = target.kind() else {
        panic!("expected a webhook")
    };
    assert_eq!(webhook.headers["Authorization"], "Bearer s3cret");
}

#[test]
fn missing_env_vars_are_all_named_with_locations() {
    let errors = problems(
        "store:\n  url: \"${env:DB_URL}\"\nserver:\n  listen: \"${env:HOST}:${env:PORT}\"\n",
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert_eq!(at(&errors[0]), (2, 8));
    assert!(
        errors[0]
            .message
            .contains("environment variable \"DB_URL\" is not set"),
        "{}",
        errors[0]
    );
    assert_eq!(at(&errors[1]), (4, 11));
    assert!(errors[1].message.contains("\"HOST\""), "{}", errors[1]);
    assert_eq!(at(&errors[2]), (4, 11));
    assert!(errors[2].message.contains("\"PORT\""), "{}", errors[2]);
}

#[test]
fn dollar_dollar_brace_is_a_literal() {
    let loaded = ok("
rules:
  r:
    pattern: { source: [app] }
    targets:
      - log: { message: \"cost $$${x} and $5\" }
");
    let TargetKind::Log(log) = loaded.config.rules["r"].targets[0].kind() else {
        panic!("expected a log target")
    };
    assert_eq!(log.message.as_deref(), Some("cost $${x} and $5"));
}

#[test]
fn file_substitution_reads_relative_to_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    write(&dir.path().join("secrets"), "token", "abc123\n");
    write(dir.path(), "two-lines", "line1\nline2\n\n");
    let path = write(
        dir.path(),
        "signalbox.yaml",
        "
rules:
  r:
    pattern: { source: [app] }
    targets:
      - webhook:
          url: https://example.com
          headers: { X-Token: \"${file:secrets/token}\" }
          body: \"${file:two-lines}\"
",
    );
    let loaded = load_with(&path, &env(&[])).expect("loads");
    let TargetKind::Webhook(webhook) = loaded.config.rules["r"].targets[0].kind() else {
        panic!("expected a webhook")
    };
    assert_eq!(
        webhook.headers["X-Token"], "abc123",
        "one trailing newline trimmed"
    );
    assert_eq!(
        webhook.body.as_deref(),
        Some("line1\nline2\n"),
        "only one newline trimmed"
    );
}

#[test]
fn missing_file_substitution_is_named_and_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "c.yaml", "store:\n  url: ${file:db-url}\n");
    let errors = load_with(&path, &env(&[])).expect_err("missing file");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(at(&errors[0]), (2, 8));
    assert!(errors[0].message.contains("db-url"), "{}", errors[0]);
}

#[test]
fn substituted_values_cannot_inject_yaml() {
    let vars = env(&[
        ("DESC", "x\nrules:\n  evil:\n    pattern: {}\n"),
        ("LISTEN", "127.0.0.1:80\", body_limit: 1"),
        ("NAME", "a: b"),
    ]);
    let loaded = load_str_with(
        "
server: { listen: \"${env:LISTEN}\" }
rules:
  r:
    description: ${env:DESC}
    pattern: { source: [app] }
    targets:
      - log: {}
        name: ${env:NAME}
",
        Path::new("config.yaml"),
        &vars,
    );
    // The listen value is one string (and so not a valid host:port); nothing else changed.
    let errors = loaded.expect_err("listen is invalid");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.contains("must be host:port"),
        "{}",
        errors[0]
    );

    let vars = env(&[
        ("DESC", "x\nrules:\n  evil:\n    pattern: {}\n"),
        ("NAME", "a: b"),
    ]);
    let loaded = load_str_with(
        "
rules:
  r:
    description: ${env:DESC}
    pattern: { source: [app] }
    targets:
      - log: {}
        name: ${env:NAME}
",
        Path::new("config.yaml"),
        &vars,
    )
    .expect("loads");
    let rules = &loaded.config.rules;
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules["r"].description.as_deref(),
        Some("x\nrules:\n  evil:\n    pattern: {}\n")
    );
    assert_eq!(rules["r"].targets[0].name.as_deref(), Some("a: b"));
}

#[test]
fn target_with_two_kinds_or_none_is_an_error() {
    let errors = problems(
        "
rules:
  x:
    pattern: { source: [app] }
    targets:
      - log: {}
      - webhook: { url: https://example.com }
        log: {}
      - name: nothing
",
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(
        errors[0].message,
        "target 2 of rule \"x\" must have exactly one of webhook, log, notify, datadog, cloudwatch"
    );
    assert_eq!(at(&errors[0]), (7, 9));
    assert_eq!(
        errors[1].message,
        "target 3 of rule \"x\" must have exactly one of webhook, log, notify, datadog, cloudwatch"
    );
}

#[test]
fn log_shorthand_true_is_refused() {
    let errors = problems("rules:\n  x:\n    pattern: {}\n    targets:\n      - log: true\n");
    assert_eq!(at(&errors[0]), (5, 14));
    assert!(
        errors[0].message.contains("invalid type: boolean `true`"),
        "{}",
        errors[0]
    );
}

#[test]
fn every_bad_target_of_every_rule_is_reported() {
    let errors = problems(
        "
rules:
  a:
    pattern: { source: [app] }
    targets:
      - webhook: { url: ftp://example.com, method: FETCH }
        max_attempts: 0
      - log: { level: loud }
  b:
    pattern: [not, an, object]
    targets: []
    colour: red
",
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let expect = [
        "config.yaml:6:25: target 1 of rule \"a\": url \"ftp://example.com\" must be an http:// or https:// URL",
        "config.yaml:6:52: target 1 of rule \"a\": method \"FETCH\" is not one of",
        "config.yaml:7:23: target 1 of rule \"a\": max_attempts must be at least 1",
        "config.yaml:8:23: target 2 of rule \"a\": unknown variant `loud`",
        "config.yaml:12:5: rule \"b\": unknown field `colour`",
    ];
    assert_eq!(messages.len(), expect.len(), "{messages:#?}");
    for (message, expected) in messages.iter().zip(expect) {
        assert!(
            message.starts_with(expected),
            "{message}\n  does not start with\n{expected}"
        );
    }
}

#[test]
fn semantic_rule_checks() {
    let errors = problems("rules:\n  b:\n    pattern: [x]\n    targets: []\n");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0].starts_with("config.yaml:3:14: rule \"b\": pattern must be a mapping"));
    assert!(
        messages[1].starts_with("config.yaml:4:14: rule \"b\": targets must list at least one")
    );

    let errors = problems("rules:\n  c:\n    targets: [{ log: {} }]\n");
    assert_eq!(
        errors[0].to_string(),
        "config.yaml:3:5: rule \"c\": a rule needs a pattern (or Echo's type, source and payloadConstraints)"
    );

    let errors =
        problems("rules:\n  c:\n    pattern: {}\n    targets: [{ webhook: { method: GET } }]\n");
    assert!(
        errors[0].message.contains("missing field `url`"),
        "{}",
        errors[0]
    );
}

#[test]
fn template_syntax_is_checked() {
    let errors = problems(
        "rules:\n  t:\n    pattern: {}\n    targets:\n      - log: { message: \"{{ event.id \" }\n",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(at(&errors[0]), (5, 25));
    assert!(
        errors[0].message.contains("template syntax error"),
        "{}",
        errors[0]
    );
}

#[test]
fn server_and_store_values_are_checked() {
    let errors = problems(
        "server:\n  listen: nowhere\n  group_commit_max: 0\nstore:\n  url: oracle://x\n  max_connections: 0\n",
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].starts_with("config.yaml:2:11: server: listen \"nowhere\" must be host:port")
    );
    assert!(
        messages[1].starts_with("config.yaml:3:21: server: group_commit_max must be at least 1")
    );
    assert!(messages[2].starts_with("config.yaml:5:8: store: url \"oracle://x\""));
    assert!(messages[3].starts_with("config.yaml:6:20: store: max_connections must be at least 1"));
    ok("server: { listen: \"localhost:80\" }\nstore: { url: \"sqlite::memory:\" }\n");
    ok("server: { listen: \"[::1]:8080\" }\n");
}

#[test]
fn aliases_and_merge_keys_work() {
    let loaded = ok("
rules:
  a:
    pattern: &p { source: [app] }
    targets: &t
      - log: {}
  b:
    pattern: *p
    targets: *t
");
    assert_eq!(
        loaded.config.rules["a"].pattern,
        loaded.config.rules["b"].pattern
    );
}

#[test]
fn duplicate_keys_in_one_file_are_errors() {
    let errors = problems(
        "rules:\n  r:\n    pattern: {}\n    targets: [{ log: {} }]\n  r:\n    pattern: {}\n    targets: [{ log: {} }]\n",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(at(&errors[0]), (5, 3));
    assert_eq!(errors[0].message, "invalid YAML: duplicate mapping key: r");
}

#[test]
fn substituted_secrets_are_not_echoed_in_diagnostics() {
    let vars = env(&[
        ("HOOK", "https//hunter2@example.com"),
        ("GRACE", "hunter2"),
        ("ATTEMPTS", "x\"y"),
    ]);
    let errors = errors_with(
        "
server: { shutdown_grace: \"${env:GRACE}\" }
rules:
  r:
    pattern: {}
    targets:
      - webhook: { url: \"${env:HOOK}\" }
      - log: {}
        max_attempts: \"${env:ATTEMPTS}\"
",
        &vars,
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for error in &errors {
        assert!(!error.message.contains("hunter2"), "{error}");
        assert!(!error.message.contains("x\\\"y"), "{error}");
        assert!(error.message.contains("***"), "{error}");
    }
}

#[test]
fn the_quickstart_example_loads() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/signalbox.yaml");
    let loaded = load_with(&path, &env(&[])).unwrap_or_else(|errors| panic!("{errors:#?}"));
    assert_eq!(loaded.config.rules.len(), 2);
    assert!(!loaded.config.rules["prod-deploys"].enabled);
}

#[test]
fn input_template_errors_point_at_the_entry() {
    let errors = problems(
        "rules:
  t:
    pattern: {}
    targets:
      - webhook: { url: \"http://x.test/\", body: \"{}\" }
        input_paths:
          ok: \"$.detail-type\"
          bad: \"$.detail[\"
        input_template: '{\"a\": <ok>, \"b\": <missing>}'
      - log: {}
        input_paths: { lonely: \"$.id\" }
",
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].starts_with(
            "config.yaml:8:16: target 1 of rule \"t\": input_paths.bad: \"$.detail[\" is not a valid JSONPath"
        ),
        "{messages:#?}"
    );
    assert!(messages[1].starts_with(
        "config.yaml:9:25: target 1 of rule \"t\": input_template and webhook.body both say what to send"
    ));
    assert!(messages[2].starts_with(
        "config.yaml:9:25: target 1 of rule \"t\": input_template: unknown placeholder <missing>"
    ));
    assert_eq!(
        messages[3],
        "config.yaml:11:22: target 2 of rule \"t\": input_paths is only used by an input_template; add one or remove input_paths"
    );
}

#[test]
fn echo_form_rules_load_and_are_checked() {
    let loaded = signalbox_config::load_str(
        "rules:
  hook:
    type: webhook
    source: my-app
    payloadConstraints: { repository.name: \"geo\", \"$.ref\": \"refs/heads/.*\" }
    targets: [{ log: {} }]
",
        Path::new("config.yaml"),
    )
    .expect("valid");
    let rule = &loaded.config.rules["hook"];
    assert!(rule.is_echo_form());
    assert_eq!(rule.pattern, None);
    assert_eq!(rule.echo_type.as_deref(), Some("webhook"));
    assert_eq!(rule.payload_constraints["repository.name"], "geo");

    let errors = problems(
        "rules:
  both:
    pattern: { source: [a] }
    source: a
    targets: [{ log: {} }]
  bad-regex:
    type: webhook
    payloadConstraints:
      name: \"geo(\"
    targets: [{ log: {} }]
",
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "config.yaml:3:14: rule \"both\": pattern and the Echo keys (type, source, payloadConstraints) are two ways to write a rule; keep one",
            "config.yaml:9:13: rule \"bad-regex\": payloadConstraints.name: \"geo(\" is not a valid regex: unclosed group",
        ]
    );
}

#[test]
fn a_schedule_in_two_files_is_reported_with_both_places() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = write(
        dir.path(),
        "10-a.yaml",
        "schedules:\n  a: { cron: \"@daily\" }\n  b: { cron: \"@daily\" }\n",
    );
    let second = write(
        dir.path(),
        "20-b.yaml",
        "schedules:\n  c: { cron: \"@daily\" }\n  b: { cron: \"@hourly\" }\n",
    );
    let errors = load_with(dir.path(), &env(&[])).expect_err("b twice");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        format!(
            "schedule \"b\" is defined twice: at {}:3:3 and at {}:3:3",
            first.display(),
            second.display()
        )
    );
}
