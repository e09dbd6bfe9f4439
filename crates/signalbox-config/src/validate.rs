//! Checks that types alone cannot express (URLs, methods, ranges, one kind per target), each
//! reported at the position of the value at fault.

use std::net::SocketAddr;

use crate::diagnostic::Diagnostic;
use crate::input_template::{InputField, InputTemplate};
use crate::model::{RuleConfig, ServerConfig, StoreConfig, TargetConfig, WebhookTarget};
use crate::tree::Node;

/// Methods a webhook may use; CONNECT and TRACE make no sense for a delivery.
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Store URL schemes the store crate has backends for.
const STORE_SCHEMES: [&str; 4] = ["sqlite", "postgres", "postgresql", "mysql"];

/// Collects diagnostics positioned inside one section's tree.
struct Checker<'a> {
    node: &'a Node,
    context: String,
    out: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, path: &[&str], message: impl std::fmt::Display) {
        let loc = self.node.loc_of(path);
        self.out.push(Diagnostic::at(
            loc.to_location(),
            format!("{}: {message}", self.context),
        ));
    }
}

pub(crate) fn check_server(server: &ServerConfig, node: &Node, out: &mut Vec<Diagnostic>) {
    let mut check = Checker {
        node,
        context: "server".to_owned(),
        out,
    };
    if !is_host_port(&server.listen) {
        check.report(
            &["listen"],
            format_args!(
                "listen \"{}\" must be host:port, e.g. \"127.0.0.1:8080\"",
                server.listen
            ),
        );
    }
    if server.body_limit.0 == 0 {
        check.report(&["body_limit"], "body_limit must be more than 0 bytes");
    }
    if server.group_commit_max == 0 {
        check.report(&["group_commit_max"], "group_commit_max must be at least 1");
    }
    if let Err(e) = signalbox_schedule::parse_time_zone(&server.timezone) {
        check.report(&["timezone"], format_args!("timezone: {e}"));
    }
}

fn is_host_port(listen: &str) -> bool {
    if listen.parse::<SocketAddr>().is_ok() {
        return true;
    }
    // A host name such as `localhost:8080` is resolved by the server, not here.
    match listen.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !host.contains(':')
                && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

pub(crate) fn check_store(store: &StoreConfig, node: &Node, out: &mut Vec<Diagnostic>) {
    let mut check = Checker {
        node,
        context: "store".to_owned(),
        out,
    };
    let scheme = store.url.split_once(':').map(|(scheme, _)| scheme);
    if !scheme.is_some_and(|scheme| STORE_SCHEMES.contains(&scheme)) {
        check.report(
            &["url"],
            format_args!(
                "url \"{}\" must start with sqlite:, postgres:, postgresql: or mysql:",
                store.url
            ),
        );
    }
    if store.max_connections == 0 {
        check.report(&["max_connections"], "max_connections must be at least 1");
    }
    if store.lease.is_zero() {
        check.report(&["lease"], "lease must be longer than 0s");
    }
    if store.poll_interval.is_zero() {
        check.report(&["poll_interval"], "poll_interval must be longer than 0s");
    }
    if store.schedule_lease < std::time::Duration::from_millis(300) {
        check.report(&["schedule_lease"], "schedule_lease must be at least 300ms");
    }
}

/// Checks a rule's own settings; its targets are checked one by one by [`check_target`].
pub(crate) fn check_rule(name: &str, rule: &RuleConfig, node: &Node, out: &mut Vec<Diagnostic>) {
    let mut check = Checker {
        node,
        context: format!("rule \"{name}\""),
        out,
    };
    if name.trim().is_empty() {
        check.report(&[], "a rule name must not be empty");
    }
    if name.starts_with(crate::schedule::SCHEDULE_RULE_PREFIX) {
        check.report(
            &[],
            "rule names starting with \"schedule:\" are reserved for schedules' own targets",
        );
    }
    if name.starts_with(crate::report::CHECK_REPORT_RULE_PREFIX) {
        check.report(
            &[],
            "rule names starting with \"check-report:\" are reserved for checks' report targets",
        );
    }
    match &rule.pattern {
        Some(_) if rule.is_echo_form() => check.report(
            &["pattern"],
            "pattern and the Echo keys (type, source, payloadConstraints) are two ways to write \
             a rule; keep one",
        ),
        Some(pattern) if !pattern.is_object() => check.report(
            &["pattern"],
            "pattern must be a mapping such as { source: [\"aws.ecs\"] }",
        ),
        Some(_) => {}
        None if rule.is_echo_form() => check_echo_form(rule, &mut check),
        None => check.report(
            &[],
            "a rule needs a pattern (or Echo's type, source and payloadConstraints)",
        ),
    }
    if rule.targets.is_empty() {
        check.report(&["targets"], "targets must list at least one target");
    }
}

/// Echo's form: `type`/`source` must say something, each constraint key must be a dot path and
/// each value a regex (anchored, as the engine compiles it).
fn check_echo_form(rule: &RuleConfig, check: &mut Checker<'_>) {
    for (key, value) in [("type", &rule.echo_type), ("source", &rule.source)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            check.report(&[key], format_args!("{key} must not be empty"));
        }
    }
    for (key, regex) in &rule.payload_constraints {
        let path = key.strip_prefix("$.").unwrap_or(key);
        if path.is_empty() || path.split('.').any(str::is_empty) {
            check.report(
                &["payloadConstraints", key],
                format_args!(
                    "payloadConstraints key \"{key}\" must be a dot path into detail, such as \
                     \"repository.name\""
                ),
            );
        }
        let compiled =
            regex::Regex::new(regex).and_then(|_| regex::Regex::new(&format!("^(?:{regex})$")));
        if let Err(error) = compiled {
            let reason = regex_reason(&error);
            check.report(
                &["payloadConstraints", key],
                format_args!(
                    "payloadConstraints.{key}: \"{regex}\" is not a valid regex: {reason}"
                ),
            );
        }
    }
}

/// The regex crate's message spans several lines with a caret under the fault; its last line
/// says what the fault is.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

/// Checks target `index` (0-based) of rule `rule`; also uppercases a webhook's method, which
/// is why it takes the target mutably.
pub(crate) fn check_target(
    rule: &str,
    index: usize,
    target: &mut TargetConfig,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) {
    let mut check = Checker {
        node,
        context: match rule.strip_prefix(crate::schedule::SCHEDULE_RULE_PREFIX) {
            Some(schedule) => format!("target {} of schedule \"{schedule}\"", index + 1),
            None => match crate::report::report_owner(rule) {
                Some(owner) => format!("report target {} of {owner}", index + 1),
                None => format!("target {} of rule \"{rule}\"", index + 1),
            },
        },
        out,
    };
    let kinds = usize::from(target.webhook.is_some())
        + usize::from(target.log.is_some())
        + usize::from(target.notify.is_some())
        + usize::from(target.datadog.is_some())
        + usize::from(target.cloudwatch.is_some());
    if kinds != 1 {
        // Phrased as a sentence of its own: the usual "context: problem" reads badly here.
        let message = format!(
            "{} must have exactly one of webhook, log, notify, datadog, cloudwatch",
            check.context
        );
        check
            .out
            .push(Diagnostic::at(node.loc.to_location(), message));
    }
    if target.max_attempts == 0 {
        check.report(&["max_attempts"], "max_attempts must be at least 1");
    }
    if target.initial_backoff > target.max_backoff {
        check.report(
            &["initial_backoff"],
            format_args!(
                "initial_backoff ({}) must not exceed max_backoff ({})",
                humantime::format_duration(target.initial_backoff),
                humantime::format_duration(target.max_backoff)
            ),
        );
    }
    if let Some(webhook) = &mut target.webhook {
        for (field, message) in webhook_problems(webhook) {
            let mut path = vec!["webhook"];
            path.extend(field.split('.'));
            check.report(&path, message);
        }
    }
    if let Some(datadog) = &target.datadog {
        for (field, message) in crate::sinks::datadog_problems(datadog) {
            check.report(&["datadog", field], message);
        }
    }
    if let Some(cloudwatch) = &target.cloudwatch {
        for (field, message) in crate::sinks::cloudwatch_problems(cloudwatch) {
            check.report(&["cloudwatch", field], message);
        }
    }
    if let Some(log) = &target.log
        && let Some(message) = &log.message
        && let Err(error) = check_template(message)
    {
        check.report(&["log", "message"], error);
    }
    crate::channels::check_notify_target(target, node, &check.context, check.out);
    check_input_template(target, &mut check);
}

/// `input_paths`/`input_template`: compiled here so a bad path or placeholder is reported at
/// its place; they replace a webhook's `body` or a log's `message`, so both at once is an error.
fn check_input_template(target: &TargetConfig, check: &mut Checker<'_>) {
    // Sinks send a fixed, documented shape; a template would be silently ignored.
    if (target.datadog.is_some() || target.cloudwatch.is_some())
        && (target.input_template.is_some() || !target.input_paths.is_empty())
    {
        let key = if target.input_template.is_some() {
            "input_template"
        } else {
            "input_paths"
        };
        check.report(
            &[key],
            format_args!("`{key}` is not used by datadog and cloudwatch targets"),
        );
        return;
    }
    let Some(template) = &target.input_template else {
        if !target.input_paths.is_empty() {
            check.report(
                &["input_paths"],
                "input_paths is only used by an input_template; add one or remove input_paths",
            );
        }
        return;
    };
    let other = match (&target.webhook, &target.log) {
        (Some(webhook), _) if webhook.body.is_some() => Some("webhook.body"),
        (_, Some(log)) if log.message.is_some() => Some("log.message"),
        _ if target.notify.is_some() && target.message.is_some() => Some("message"),
        _ => None,
    };
    if let Some(other) = other {
        check.report(
            &["input_template"],
            format_args!("input_template and {other} both say what to send; keep one of them"),
        );
    }
    if let Err(errors) = InputTemplate::compile(&target.input_paths, template) {
        for error in errors {
            match &error.field {
                InputField::Path(name) => check.report(&["input_paths", name], &error),
                InputField::Template => check.report(&["input_template"], &error),
            }
        }
    }
}

/// Problems with a webhook as (field path, message); uppercases the method in place.
fn webhook_problems(webhook: &mut WebhookTarget) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    match url::Url::parse(&webhook.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        Ok(_) => problems.push((
            "url".to_owned(),
            format!("url \"{}\" must be an http:// or https:// URL", webhook.url),
        )),
        Err(error) => problems.push((
            "url".to_owned(),
            format!("url \"{}\" is not a valid URL: {error}", webhook.url),
        )),
    }
    webhook.method = webhook.method.to_ascii_uppercase();
    if !HTTP_METHODS.contains(&webhook.method.as_str()) {
        problems.push((
            "method".to_owned(),
            format!(
                "method \"{}\" is not one of {}",
                webhook.method,
                HTTP_METHODS.join(", ")
            ),
        ));
    }
    for (name, value) in &webhook.headers {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            problems.push((
                "headers".to_owned(),
                format!("header name \"{name}\" is not a valid HTTP header name"),
            ));
        }
        // A CR or LF in a header value would split the request.
        if value.contains(['\r', '\n', '\0']) {
            problems.push((
                format!("headers.{name}"),
                format!("header \"{name}\" must not contain line breaks"),
            ));
        }
    }
    if let Some(body) = &webhook.body
        && let Err(error) = check_template(body)
    {
        problems.push(("body".to_owned(), error));
    }
    if webhook.timeout.is_zero() {
        problems.push((
            "timeout".to_owned(),
            "timeout must be longer than 0s".to_owned(),
        ));
    }
    problems
}

/// Template syntax is checked at load so `signalbox validate` catches it before any event.
fn check_template(source: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|error| format!("template syntax error: {error}"))
}
