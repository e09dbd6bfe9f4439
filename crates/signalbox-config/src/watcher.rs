//! The "watcher" endpoint-file format our users wrote before signalbox (`monitor.endpoint_dirs`,
//! `docs/checks.md`, "Watcher format"): each top-level key is an endpoint (`host/path`) with
//! its `cron_schedule`, `scheme`, `response_json_values`, `success_test` and where each run's
//! result is posted (`post_endpoint` or `post_service: aws-cloudwatch`); the reserved key
//! `self` says where signalbox posts its own health.
//!
//! A file becomes ordinary [`CheckConfig`]s: an `http:` probe, a cron `schedule`, a CEL
//! assertion for `success_test`, JSONPath extracts for `response_json_values`, and per-result
//! `report:` targets for the posts, so the posts go through durable delivery like any event.
//! The file is read into the same located tree as config files, so every problem has its
//! file, line and column, and `${env:…}` is substituted the same way.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::checks::CheckConfig;
use crate::diagnostic::{Diagnostic, Location};
use crate::model::{TargetConfig, WebhookTarget};
use crate::substitute::{Env, Substitutions, substitute_tree};
use crate::tree::{self, Node, Value};

/// The reserved key of the entry that reports signalbox's own health.
pub const SELF_KEY: &str = "self";

/// Name of the check made from the `self` entry.
pub const SELF_CHECK: &str = "watcher-self";

/// How often the `self` entry reports when it has no `cron_schedule`.
pub const SELF_EVERY: Duration = Duration::from_secs(60);

/// One entry of a watcher file, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatcherEntry {
    /// When the endpoint is checked (5-field cron); every minute when absent.
    #[serde(default)]
    pub cron_schedule: Option<String>,
    /// `http` or `https` (default).
    #[serde(default)]
    pub scheme: Option<String>,
    /// Top-level keys read out of the JSON answer, for `success_test` and placeholders.
    #[serde(default)]
    pub response_json_values: Vec<String>,
    /// The run succeeds when the answer's `key` equals `value`.
    #[serde(default)]
    pub success_test: Option<SuccessTest>,
    /// Where each run's result is posted (JSON `post_json_info`).
    #[serde(default)]
    pub post_endpoint: Option<String>,
    /// An API key added to `post_endpoint` as a URL parameter.
    #[serde(default)]
    pub post_api_key: Option<PostApiKey>,
    /// The body posted to `post_endpoint`; `{name}` placeholders are filled from the answer.
    #[serde(default)]
    pub post_json_info: Option<serde_json::Value>,
    /// `aws-cloudwatch`: also put an event on the default EventBridge bus.
    #[serde(default)]
    pub post_service: Option<String>,
    /// AWS access key id for `post_service`.
    #[serde(default)]
    pub aws_key: Option<String>,
    /// AWS secret access key for `post_service`.
    #[serde(default)]
    pub aws_secret: Option<String>,
    /// The event's `Source`.
    #[serde(default)]
    pub data_source: Option<String>,
    /// The event's `DetailType`.
    #[serde(default)]
    pub data_detail_type: Option<String>,
    /// `"key: value"` lines making the event's `Detail` object, with placeholders.
    #[serde(default)]
    pub data_details_json: Vec<String>,
    /// The event's `Resources`.
    #[serde(default)]
    pub data_resources: Vec<String>,
}

/// `success_test:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessTest {
    /// A key of the JSON answer (`a.b` for nested objects).
    pub key: String,
    /// The value it must have.
    pub value: serde_json::Value,
}

/// `post_api_key:`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostApiKey {
    /// The URL parameter's name.
    pub param_name: String,
    /// Its value (use `${env:…}`).
    pub param_value: String,
}

/// A CloudWatch (EventBridge) post of one entry, for the monitor to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchPost {
    /// AWS access key id.
    pub aws_key: String,
    /// AWS secret access key.
    pub aws_secret: String,
    /// The event's `Source`.
    pub source: String,
    /// The event's `DetailType`.
    pub detail_type: String,
    /// `Detail` as (key, value template) pairs; templates hold `{name}` placeholders.
    pub details: Vec<(String, String)>,
    /// The event's `Resources`.
    pub resources: Vec<String>,
}

/// One entry of a watcher file, as a check.
#[derive(Debug, Clone, PartialEq)]
pub struct WatcherCheck {
    /// The check's name: the endpoint with every character a check name cannot hold
    /// replaced by `_` (`www.example.com/health` → `www.example.com_health`), or
    /// [`SELF_CHECK`].
    pub name: String,
    /// The entry's key as written (`www.example.com/health`, or `self`).
    pub endpoint: String,
    /// Where the entry is written.
    pub location: Location,
    /// The check, its `post_endpoint` as a per-result `webhook` report target.
    pub check: CheckConfig,
    /// `post_service: aws-cloudwatch`, when set.
    pub cloudwatch: Option<CloudWatchPost>,
}

/// What a watcher file is read with.
#[derive(Clone, Copy)]
pub struct WatcherOptions<'a> {
    /// Values of `${env:NAME}`.
    pub env: &'a dyn Env,
    /// `server.timezone`, the zone of `cron_schedule`.
    pub default_tz: &'a str,
    /// Base URL of this instance's own API (`http://127.0.0.1:8080`); the `self` entry checks
    /// its `/readyz`.
    pub self_url: &'a str,
}

/// Reads one watcher file: every entry as a check, or every problem (a file with any problem
/// is not used at all).
pub fn parse_watcher_file(
    text: &str,
    file: &Path,
    options: WatcherOptions<'_>,
) -> Result<Vec<WatcherCheck>, Vec<Diagnostic>> {
    let file: Arc<Path> = Arc::from(file);
    let mut node = tree::parse(text, &file).map_err(|d| vec![d])?;
    let mut out = Vec::new();
    let base_dir = file.parent().unwrap_or_else(|| Path::new("")).to_path_buf();
    substitute_tree(
        &mut node,
        &base_dir,
        options.env,
        &mut out,
        &mut Substitutions::default(),
    );
    if !out.is_empty() {
        return Err(out);
    }
    let entries = match &node.value {
        Value::Map(entries) => entries,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(vec![Diagnostic::at(
                node.loc.to_location(),
                "a watcher file must be a mapping from endpoint (host/path) to its settings",
            )]);
        }
    };
    let mut checks = Vec::new();
    let mut names = BTreeSet::new();
    for entry in entries {
        let endpoint = entry.key.as_str();
        let context = if endpoint == SELF_KEY {
            "watcher entry \"self\"".to_owned()
        } else {
            format!("endpoint \"{endpoint}\"")
        };
        let Some(typed) =
            crate::load::typed_section::<WatcherEntry>(&entry.value, &context, &mut out)
        else {
            continue;
        };
        let at = entry.key_loc.to_location();
        if let Some(check) = to_check(
            endpoint,
            at,
            &typed,
            &entry.value,
            &context,
            options,
            &mut out,
        ) {
            if !names.insert(check.name.clone()) {
                out.push(Diagnostic::at(
                    entry.key_loc.to_location(),
                    format!(
                        "{context}: its check name \"{}\" is already used by another endpoint of this file",
                        check.name
                    ),
                ));
                continue;
            }
            checks.push(check);
        }
    }
    if out.is_empty() { Ok(checks) } else { Err(out) }
}

/// The check name of endpoint `key`.
pub fn check_name(key: &str) -> String {
    if key == SELF_KEY {
        return SELF_CHECK.to_owned();
    }
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

fn to_check(
    endpoint: &str,
    location: Location,
    entry: &WatcherEntry,
    node: &Node,
    context: &str,
    options: WatcherOptions<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<WatcherCheck> {
    let before = out.len();
    let mut problem = |path: &[&str], message: String| {
        out.push(Diagnostic::at(
            node.loc_of(path).to_location(),
            format!("{context}: {message}"),
        ));
    };
    let is_self = endpoint == SELF_KEY;
    let name = check_name(endpoint);
    let url = if is_self {
        format!("{}/readyz", options.self_url.trim_end_matches('/'))
    } else {
        let scheme = entry.scheme.as_deref().unwrap_or("https");
        if !matches!(scheme, "http" | "https") {
            problem(
                &["scheme"],
                format!("scheme \"{scheme}\" is not http or https"),
            );
        }
        format!("{scheme}://{endpoint}")
    };
    let mut values: Vec<String> = entry.response_json_values.clone();
    if is_self && !values.iter().any(|v| v == "status") {
        // `/readyz` answers `{"status": "ready"}`: `{status}` is always there for `self`.
        values.push("status".to_owned());
    }
    for (i, value) in values.iter().enumerate() {
        if !valid_key(value) {
            problem(
                &["response_json_values", &i.to_string()],
                format!(
                    "response_json_values: \"{value}\" must be a key of letters, digits, `_`, `-` and `.` (for nested keys)"
                ),
            );
        }
    }
    let extract: std::collections::BTreeMap<String, String> =
        values.iter().map(|v| (v.clone(), json_path(v))).collect();
    let assert = match &entry.success_test {
        Some(test) if valid_key(&test.key) => vec![format!(
            "{} == {}",
            cel_access(&test.key),
            cel_literal(&test.value)
        )],
        Some(test) => {
            problem(
                &["success_test", "key"],
                format!(
                    "success_test: key \"{}\" must be letters, digits, `_`, `-` and `.`",
                    test.key
                ),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    let schedule = match &entry.cron_schedule {
        Some(cron) => serde_json::json!({ "cron": cron }),
        None => serde_json::json!({ "every": format!("{}s", SELF_EVERY.as_secs()) }),
    };

    let mut report = Vec::new();
    match (&entry.post_endpoint, &entry.post_json_info) {
        (Some(post), info) => {
            let mut url = post.clone();
            match url::Url::parse(post) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    if let Some(key) = &entry.post_api_key {
                        let mut parsed = parsed;
                        parsed
                            .query_pairs_mut()
                            .append_pair(&key.param_name, &key.param_value);
                        url = parsed.to_string();
                    }
                }
                Ok(parsed) => problem(
                    &["post_endpoint"],
                    format!(
                        "post_endpoint scheme \"{}\" is not http or https",
                        parsed.scheme()
                    ),
                ),
                Err(error) => problem(
                    &["post_endpoint"],
                    format!("invalid post_endpoint: {error}"),
                ),
            }
            let info = info
                .clone()
                .unwrap_or(serde_json::Value::Object(Default::default()));
            for (path, unknown) in unknown_placeholders(&info, &values) {
                let mut at = vec!["post_json_info"];
                at.extend(path.iter().map(String::as_str));
                problem(
                    &at,
                    format!(
                        "placeholder {{{unknown}}} is not one of response_json_values ({})",
                        values.join(", ")
                    ),
                );
            }
            report.push(TargetConfig {
                webhook: Some(WebhookTarget {
                    url,
                    method: "POST".to_owned(),
                    headers: [("content-type".to_owned(), "application/json".to_owned())]
                        .into_iter()
                        .collect(),
                    body: Some(body_template(&info)),
                    ..WebhookTarget::default()
                }),
                ..TargetConfig::default()
            });
        }
        (None, Some(_)) => problem(
            &["post_json_info"],
            "post_json_info needs post_endpoint".to_owned(),
        ),
        (None, None) => {}
    }
    if entry.post_api_key.is_some() && entry.post_endpoint.is_none() {
        problem(
            &["post_api_key"],
            "post_api_key needs post_endpoint".to_owned(),
        );
    }

    let cloudwatch = match entry.post_service.as_deref() {
        None => None,
        Some("aws-cloudwatch") => {
            let mut details = Vec::new();
            for (i, line) in entry.data_details_json.iter().enumerate() {
                match line.split_once(':') {
                    Some((key, value)) if !key.trim().is_empty() => {
                        for unknown in placeholders(value).filter(|p| !values.contains(p)) {
                            problem(
                                &["data_details_json", &i.to_string()],
                                format!(
                                    "placeholder {{{unknown}}} is not one of response_json_values ({})",
                                    values.join(", ")
                                ),
                            );
                        }
                        details.push((key.trim().to_owned(), value.trim().to_owned()));
                    }
                    _ => problem(
                        &["data_details_json", &i.to_string()],
                        format!("data_details_json: \"{line}\" is not a \"key: value\" line"),
                    ),
                }
            }
            let required =
                |value: &Option<String>, key: &str, out: &mut dyn FnMut(&[&str], String)| {
                    match value.as_deref().map(str::trim) {
                        Some(v) if !v.is_empty() => v.to_owned(),
                        _ => {
                            out(
                                &[key],
                                format!("post_service: aws-cloudwatch needs `{key}`"),
                            );
                            String::new()
                        }
                    }
                };
            let post = CloudWatchPost {
                aws_key: required(&entry.aws_key, "aws_key", &mut problem),
                aws_secret: required(&entry.aws_secret, "aws_secret", &mut problem),
                source: required(&entry.data_source, "data_source", &mut problem),
                detail_type: entry
                    .data_detail_type
                    .clone()
                    .unwrap_or_else(|| "Check Result".to_owned()),
                details,
                resources: entry.data_resources.clone(),
            };
            match cloudwatch_target(&post, options.env) {
                Ok(target) => report.push(target),
                Err(error) => problem(&["post_service"], format!("post_service: {error}")),
            }
            Some(post)
        }
        Some(other) => {
            problem(
                &["post_service"],
                format!(
                    "post_service \"{other}\" is not supported; the one known is aws-cloudwatch"
                ),
            );
            None
        }
    };

    // Built through serde so every setting not written here keeps its default, also
    // settings added to checks later.
    let built = serde_json::from_value::<CheckConfig>(serde_json::json!({
        "http": {"url": url},
        "schedule": schedule,
        "assert": assert,
        "extract": extract,
        // One post per run, as the watcher did.
        "report_batch": false,
    }));
    let mut check = match built {
        Ok(check) => check,
        Err(error) => {
            problem(&[], format!("cannot be made a check: {error}"));
            return None;
        }
    };
    check.report = report;
    if let Err(problems) = check.compile(&name, options.default_tz) {
        for p in problems {
            // The check's fields come from these keys of the entry.
            let at: &[&str] = match p.field.first().map(String::as_str) {
                Some("schedule") => &["cron_schedule"],
                Some("assert") => &["success_test"],
                Some("extract") => &["response_json_values"],
                _ => &[],
            };
            problem(at, p.message);
        }
    }
    if out.len() > before {
        return None;
    }
    Some(WatcherCheck {
        name,
        endpoint: endpoint.to_owned(),
        location,
        check,
        cloudwatch,
    })
}

/// The per-result `cloudwatch` report target of `post`: an EventBridge `PutEvents` of the
/// entry's own source, detail type, detail (placeholders filled) and resources. The region is
/// `AWS_REGION` or `AWS_DEFAULT_REGION` (`us-east-1` without either), the endpoint
/// `AWS_ENDPOINT_URL_EVENTBRIDGE` or `AWS_ENDPOINT_URL` when set, as AWS SDKs read them.
fn cloudwatch_target(post: &CloudWatchPost, env: &dyn Env) -> Result<TargetConfig, String> {
    let region = env
        .var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let endpoint = env
        .var("AWS_ENDPOINT_URL_EVENTBRIDGE")
        .or_else(|| env.var("AWS_ENDPOINT_URL"))
        .filter(|e| !e.is_empty());
    let detail: serde_json::Map<String, serde_json::Value> = post
        .details
        .iter()
        .map(|(key, value)| (key.clone(), serde_json::Value::String(text_template(value))))
        .collect();
    let cloudwatch = serde_json::from_value(serde_json::json!({
        "region": region,
        "access_key_id": post.aws_key,
        "secret_access_key": post.aws_secret,
        "endpoint": endpoint,
        "put_event": {
            "source": post.source,
            "detail_type": post.detail_type,
            "detail": detail,
            "resources": post.resources,
        },
    }))
    .map_err(|e| e.to_string())?;
    Ok(TargetConfig {
        cloudwatch: Some(cloudwatch),
        ..TargetConfig::default()
    })
}

/// A minijinja template rendering `text` with its `{name}` placeholders filled from the
/// result's extracts (empty when missing or null).
pub fn text_template(text: &str) -> String {
    let mut out = String::new();
    for part in split_placeholders(text) {
        match part {
            Part::Text(text) => write_literal(text, &mut out),
            Part::Placeholder(name) => {
                let access = format!("event.detail.extracts[\"{name}\"]");
                out.push_str(&format!(
                    "{{{{ {access} if {access} is not none else \"\" }}}}"
                ));
            }
        }
    }
    out
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// `a.b` → `$['a']['b']`.
fn json_path(key: &str) -> String {
    let mut path = "$".to_owned();
    for part in key.split('.') {
        path.push_str(&format!("['{part}']"));
    }
    path
}

/// `a.b` → `json["a"]["b"]`.
fn cel_access(key: &str) -> String {
    let mut access = "json".to_owned();
    for part in key.split('.') {
        access.push_str(&format!("[\"{part}\"]"));
    }
    access
}

/// A JSON scalar as a CEL literal (strings quoted as JSON, which CEL reads the same).
fn cel_literal(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        serde_json::Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// The `{name}` placeholders of `text`, in order.
pub fn placeholders(text: &str) -> impl Iterator<Item = String> + '_ {
    split_placeholders(text).filter_map(|part| match part {
        Part::Placeholder(name) => Some(name.to_owned()),
        Part::Text(_) => None,
    })
}

enum Part<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits `text` into literal runs and `{name}` placeholders (`name` made of key characters;
/// any other brace is literal).
fn split_placeholders(text: &str) -> impl Iterator<Item = Part<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut search = 0;
        while let Some(open) = rest[search..].find('{').map(|i| i + search) {
            if let Some(len) = rest[open + 1..].find('}')
                && valid_key(&rest[open + 1..open + 1 + len])
            {
                if open > 0 {
                    let (text, tail) = rest.split_at(open);
                    rest = tail;
                    return Some(Part::Text(text));
                }
                let name = &rest[1..1 + len];
                rest = &rest[len + 2..];
                return Some(Part::Placeholder(name));
            }
            search = open + 1;
        }
        let text = rest;
        rest = "";
        Some(Part::Text(text))
    })
}

/// Placeholders of `info` not in `values`, with the path (keys, indexes) of their string.
fn unknown_placeholders(info: &serde_json::Value, values: &[String]) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    fn walk(
        value: &serde_json::Value,
        path: &mut Vec<String>,
        values: &[String],
        found: &mut Vec<(Vec<String>, String)>,
    ) {
        match value {
            serde_json::Value::String(s) => {
                for p in placeholders(s).filter(|p| !values.contains(p)) {
                    found.push((path.clone(), p));
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, path, values, found);
                    path.pop();
                }
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, values, found);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    walk(info, &mut Vec::new(), values, &mut found);
    found
}

/// The webhook body template posting `info` with each `{name}` filled from the result's
/// extracts (`event.detail.extracts`; empty when the value is missing or null). Literal text
/// is written JSON-escaped outside template tags (inside `raw` blocks when it holds template
/// delimiters), so no value of the file can break the template.
pub fn body_template(info: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(info, &mut out);
    out
}

fn write_value(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => write_string(s, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_literal(&serde_json::Value::String(k.clone()).to_string(), out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
        other => write_literal(&other.to_string(), out),
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for part in split_placeholders(s) {
        match part {
            Part::Text(text) => {
                let quoted = serde_json::Value::String(text.to_owned()).to_string();
                write_literal(&quoted[1..quoted.len() - 1], out);
            }
            Part::Placeholder(name) => {
                // Extracts are named after the whole key, dots included.
                let access = format!("event.detail.extracts[\"{name}\"]");
                // JSON-escaped without its quotes; null and missing values are empty.
                out.push_str(&format!(
                    "{{{{ (({access} if {access} is not none else \"\") | string | tojson)[1:-1] }}}}"
                ));
            }
        }
    }
    out.push('"');
}

fn write_literal(text: &str, out: &mut String) {
    // Any brace could join a neighbouring tag into a delimiter (`{` + `{{ … }}`).
    if text.contains(['{', '}']) {
        out.push_str("{% raw %}");
        out.push_str(text);
        out.push_str("{% endraw %}");
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    struct MapEnv(HashMap<&'static str, &'static str>);

    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_owned())
        }
    }

    fn env() -> MapEnv {
        MapEnv(HashMap::from([
            ("DD_API_KEY", "dd-key"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]))
    }

    fn fixture(name: &str) -> (PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/watcher")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
        (path, text)
    }

    fn parse(name: &str) -> Result<Vec<WatcherCheck>, Vec<Diagnostic>> {
        let (path, text) = fixture(name);
        let env = env();
        parse_watcher_file(
            &text,
            &path,
            WatcherOptions {
                env: &env,
                default_tz: "UTC",
                self_url: "http://127.0.0.1:7777",
            },
        )
    }

    #[test]
    fn the_broken_fixture_is_refused_with_its_position() {
        let errors = parse("broken.yml").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let at = errors[0].location.as_ref().unwrap();
        assert!(at.file.ends_with("broken.yml"));
        assert_eq!((at.line, at.column), (4, 18), "{}", errors[0]);
    }

    #[test]
    fn fabricsounds_becomes_two_http_checks_with_posts() {
        let checks = parse("fabricsounds.yml").expect("parses");
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "www.fabricsounds.com_health",
                "mixsig.fabricsounds.com_health"
            ]
        );
        let www = &checks[0];
        assert_eq!(www.endpoint, "www.fabricsounds.com/health");
        assert_eq!((www.location.line, www.location.column), (4, 1));
        let c = &www.check;
        assert_eq!(
            c.http.as_ref().unwrap().url,
            "http://www.fabricsounds.com/health"
        );
        assert_eq!(c.schedule.cron.as_deref(), Some("* * * * *"));
        assert_eq!(c.assert, [r#"json["status"] == "ok""#]);
        assert_eq!(c.extract["status"], "$['status']");
        assert!(!c.report_batch);
        let hook = c.report[0].webhook.as_ref().unwrap();
        assert_eq!(
            hook.url,
            "https://app.datadoghq.com/api/v1/events?api_key=dd-key"
        );
        assert_eq!(hook.method, "POST");
        assert!(www.cloudwatch.is_none());

        let mixsig = &checks[1];
        assert_eq!(mixsig.check.extract.len(), 3);
        // The CloudWatch post: one per-result EventBridge entry of the file's own shape.
        assert_eq!(mixsig.check.report.len(), 1);
        let cw_target = mixsig.check.report[0].cloudwatch.as_ref().unwrap();
        assert_eq!(cw_target.region, "us-east-1");
        assert_eq!(cw_target.access_key_id, "AKIDEXAMPLE");
        assert_eq!(cw_target.secret_access_key.expose(), "secret");
        assert_eq!(cw_target.endpoint, None);
        let put = cw_target.put_event.as_ref().unwrap();
        assert_eq!(
            (put.source.as_str(), put.detail_type.as_str()),
            ("mixsig.fabricsounds.com/health", "type1")
        );
        assert_eq!(
            put.detail["version"],
            r#"{{ event.detail.extracts["version"] if event.detail.extracts["version"] is not none else "" }}"#
        );
        assert_eq!(put.resources, ["health"]);
        let cw = mixsig.cloudwatch.as_ref().unwrap();
        assert_eq!(
            (cw.aws_key.as_str(), cw.aws_secret.as_str()),
            ("AKIDEXAMPLE", "secret")
        );
        assert_eq!(cw.source, "mixsig.fabricsounds.com/health");
        assert_eq!(cw.detail_type, "type1");
        assert_eq!(cw.resources, ["health"]);
        assert_eq!(
            cw.details,
            [
                ("status".to_owned(), "{status}".to_owned()),
                ("app".to_owned(), "{app}".to_owned()),
                ("version".to_owned(), "{version}".to_owned()),
            ]
        );
    }

    #[test]
    fn self_checks_our_own_readiness_every_minute() {
        let checks = parse("self.yml").expect("parses");
        assert_eq!(checks.len(), 1);
        let s = &checks[0];
        assert_eq!(s.name, SELF_CHECK);
        assert_eq!(
            s.check.http.as_ref().unwrap().url,
            "http://127.0.0.1:7777/readyz"
        );
        assert_eq!(s.check.schedule.every, Some(SELF_EVERY));
        assert_eq!(s.check.extract["status"], "$['status']");
        assert_eq!(
            s.check.report[0].webhook.as_ref().unwrap().url,
            "https://app.datadoghq.com/api/v1/events?api_key=dd-key"
        );
        assert_eq!(
            s.cloudwatch.as_ref().unwrap().source,
            "watcher.fabricsounds.com"
        );
        let cw = s.check.report[1].cloudwatch.as_ref().unwrap();
        assert_eq!(cw.put_event.as_ref().unwrap().detail_type, "Check Result");
    }

    #[test]
    fn the_body_template_renders_the_json_with_placeholders_filled() {
        let info = serde_json::json!({
            "title": "a \"b\" {{ x }} {%",
            "n": 3.5,
            "ok": true,
            "tags": ["status: {status}", "{x y}", "v{version}}", "{nested.app}"],
        });
        let template = body_template(&info);
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_template_owned("t", template.clone())
            .expect(&template);
        let render = |detail: serde_json::Value| {
            let text = env
                .get_template("t")
                .unwrap()
                .render(minijinja::context! { event => minijinja::Value::from(minijinja::value::Serde(serde_json::json!({"detail": detail}))) })
                .unwrap();
            serde_json::from_str::<serde_json::Value>(&text).expect(&text)
        };
        let filled = render(serde_json::json!({"extracts": {
            "status": "o\"k\n", "version": 2, "nested.app": "web"
        }}));
        assert_eq!(
            filled,
            serde_json::json!({
                "title": "a \"b\" {{ x }} {%",
                "n": 3.5,
                "ok": true,
                "tags": ["status: o\"k\n", "{x y}", "v2}", "web"],
            })
        );
        // A failed run has no extracts: placeholders are empty.
        let empty = render(serde_json::json!({}));
        assert_eq!(empty["tags"][0], "status: ");
        let null = render(serde_json::json!({"extracts": {"status": null}}));
        assert_eq!(null["tags"][0], "status: ");
    }

    #[test]
    fn cloudwatch_region_and_endpoint_come_from_the_aws_variables() {
        let post = CloudWatchPost {
            aws_key: "AKID".into(),
            aws_secret: "s".into(),
            source: "src".into(),
            detail_type: "t".into(),
            details: vec![("status".into(), "is {status}".into())],
            resources: vec![],
        };
        let env = MapEnv(HashMap::from([
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]));
        let target = cloudwatch_target(&post, &env).unwrap();
        let cw = target.cloudwatch.unwrap();
        assert_eq!(cw.region, "eu-west-3");
        assert_eq!(cw.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        let env = MapEnv(HashMap::from([
            ("AWS_REGION", "ap-south-1"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
        ]));
        let cw = cloudwatch_target(&post, &env).unwrap().cloudwatch.unwrap();
        assert_eq!(cw.region, "ap-south-1");
        assert_eq!(cw.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert!(cw.put_event.unwrap().detail["status"].starts_with("is {{ event.detail.extracts"));
    }

    #[test]
    fn problems_are_located_at_their_keys() {
        let env = env();
        let options = WatcherOptions {
            env: &env,
            default_tz: "UTC",
            self_url: "http://127.0.0.1:1",
        };
        let text = "a.example/h:\n  cron_schedule: \"0 0 32 * *\"\n  scheme: ftp\n  post_endpoint: https://x/y\n  post_json_info:\n    tags: [\"{nope}\"]\n  colour: red\nb.example/h:\n  post_service: carrier-pigeon\n  data_source: ${env:MISSING}\n";
        let errors: Vec<String> = parse_watcher_file(text, Path::new("w.yml"), options)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("w.yml:10:16:") && e.contains("MISSING")),
            "{errors:#?}"
        );
        // Substitution problems stop the file before anything else is looked at.
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let text = text.replace("${env:MISSING}", "x");
        let errors: Vec<String> = parse_watcher_file(&text, Path::new("w.yml"), options)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e
                    .starts_with("w.yml:7:3: endpoint \"a.example/h\": unknown field `colour`")),
            "{errors:#?}"
        );
        let text = text.replace("  colour: red\n", "");
        let errors: Vec<String> = parse_watcher_file(&text, Path::new("w.yml"), options)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        let expect = [
            "w.yml:3:11: endpoint \"a.example/h\": scheme \"ftp\" is not http or https",
            "w.yml:6:12: endpoint \"a.example/h\": placeholder {nope} is not one of response_json_values",
            "w.yml:2:18: endpoint \"a.example/h\": cron \"0 0 32 * *\"",
            "w.yml:8:17: endpoint \"b.example/h\": post_service \"carrier-pigeon\" is not supported",
        ];
        for e in expect {
            assert!(errors.iter().any(|x| x.starts_with(e)), "{e}\n{errors:#?}");
        }
    }
}
