//! AWS-style input templates: `input_paths` (name → JSONPath into the event) and an
//! `input_template` with `<name>` placeholders, as EventBridge's input transformer.
//!
//! The template is parsed and its paths compiled here, at load, so that `signalbox validate`
//! reports a bad path or an unknown placeholder with its position; targets keep the compiled
//! [`InputTemplate`] and call [`InputTemplate::render`] per delivery.
//!
//! # Semantics
//!
//! - A template is *JSON* when it parses as JSON once every placeholder is replaced by a value
//!   (`null` outside strings, nothing inside them); otherwise it is *text*.
//! - In a JSON template, a placeholder in a value position renders its value as JSON (strings
//!   quoted, objects and arrays as JSON, a path matching nothing as `null`); inside a JSON string
//!   it renders the value's text escaped for that string (nothing when missing).
//! - In a text template, a string renders as its raw text, other values as compact JSON, and a
//!   path matching nothing as empty text.
//! - A singular path (`$.detail.id`) gives its one value; a path with wildcards, slices, filters
//!   or `..` gives an array of everything it matched (still "nothing" when it matched nothing).
//! - Paths are RFC 9535 JSONPath, plus what AWS accepts beyond it: a dotted name may contain `-`
//!   or start with a digit (`$.detail-type`), read as `$['detail-type']`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;

/// The rule's name.
pub const RULE_NAME: &str = "aws.events.rule-name";
/// When signalbox accepted the event (RFC 3339, UTC, milliseconds).
pub const INGESTION_TIME: &str = "aws.events.event.ingestion-time";
/// The event without its `detail`, as JSON.
pub const EVENT: &str = "aws.events.event";
/// The whole event, `detail` included, as JSON.
pub const EVENT_JSON: &str = "aws.events.event.json";
/// Reserved by AWS for the rule's ARN; signalbox rules have none.
const RULE_ARN: &str = "aws.events.rule-arn";
/// Names under this prefix are AWS's predefined variables and cannot be defined in `input_paths`.
const RESERVED_PREFIX: &str = "aws.events.";

/// Where in a target's config an [`InputTemplateError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputField {
    /// The `input_paths` entry of that name.
    Path(String),
    /// The `input_template` text.
    Template,
}

/// A problem with `input_paths` or `input_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputTemplateError {
    /// What is at fault.
    pub field: InputField,
    /// What is wrong, lowercase, without trailing punctuation.
    pub message: String,
}

impl fmt::Display for InputTemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            InputField::Path(name) => write!(f, "input_paths.{name}: {}", self.message),
            InputField::Template => write!(f, "input_template: {}", self.message),
        }
    }
}

/// What one delivery's rendering needs besides the template.
#[derive(Debug, Clone, Copy)]
pub struct InputValues<'a> {
    /// The event in its EventBridge shape.
    pub event: &'a Value,
    /// The rule that matched.
    pub rule: &'a str,
    /// When the event was accepted, RFC 3339.
    pub ingestion_time: &'a str,
}

/// A compiled input template.
#[derive(Debug, Clone)]
pub struct InputTemplate {
    paths: Vec<CompiledPath>,
    segments: Vec<Segment>,
    /// Whether the template is JSON (see the module docs).
    json: bool,
}

#[derive(Debug, Clone)]
struct CompiledPath {
    path: JsonPath,
    singular: bool,
}

#[derive(Debug, Clone)]
enum Segment {
    Text(String),
    Placeholder { var: Var, in_string: bool },
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Path(usize),
    RuleName,
    IngestionTime,
    Event,
    EventJson,
}

impl InputTemplate {
    /// Compiles `paths` and `template`; returns every problem, not just the first.
    pub fn compile(
        paths: &BTreeMap<String, String>,
        template: &str,
    ) -> Result<InputTemplate, Vec<InputTemplateError>> {
        let mut errors = Vec::new();
        let mut compiled = Vec::with_capacity(paths.len());
        let mut index = BTreeMap::new();
        for (name, path) in paths {
            let at = |message: String| InputTemplateError {
                field: InputField::Path(name.clone()),
                message,
            };
            if !is_name(name) {
                errors.push(at(format!(
                    "\"{name}\" cannot be a placeholder name: use letters, digits, `_`, `-` and `.`"
                )));
                continue;
            }
            if name.starts_with(RESERVED_PREFIX) {
                errors.push(at(format!(
                    "\"{name}\" is reserved for the predefined values (<{RULE_NAME}>, \
                     <{INGESTION_TIME}>, <{EVENT}>, <{EVENT_JSON}>); choose another name"
                )));
                continue;
            }
            match compile_path(path) {
                Ok(path) => {
                    index.insert(name.as_str(), compiled.len());
                    compiled.push(path);
                }
                Err(message) => errors.push(at(message)),
            }
        }

        let mut segments = Vec::new();
        let mut text = String::new();
        let mut in_string = false;
        let mut escaped = false;
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            if c == '<'
                && let Some((name, after)) = placeholder(rest)
            {
                let var = match name {
                    RULE_NAME => Some(Var::RuleName),
                    INGESTION_TIME => Some(Var::IngestionTime),
                    EVENT => Some(Var::Event),
                    EVENT_JSON => Some(Var::EventJson),
                    _ => index.get(name).map(|&i| Var::Path(i)),
                };
                match var {
                    Some(var) => {
                        if !text.is_empty() {
                            segments.push(Segment::Text(std::mem::take(&mut text)));
                        }
                        segments.push(Segment::Placeholder { var, in_string });
                    }
                    // A name whose path failed to compile was reported above.
                    None if paths.contains_key(name) => {}
                    None => errors.push(InputTemplateError {
                        field: InputField::Template,
                        message: unknown_placeholder(name, index.keys()),
                    }),
                }
                escaped = false;
                rest = after;
                continue;
            }
            // Track JSON string state so a placeholder knows whether it sits inside quotes.
            if !in_string {
                in_string = c == '"';
            } else if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // A lone `<name>` stays text: JSON needs an object, array or string around placeholders.
        let json = template.trim_start().starts_with(['{', '[', '"'])
            && serde_json::from_str::<Value>(&probe(&segments)).is_ok();
        Ok(InputTemplate {
            paths: compiled,
            segments,
            json,
        })
    }

    /// Whether the template is JSON (placeholders then render as JSON values).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Renders the template for one delivery.
    pub fn render(&self, values: &InputValues<'_>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Placeholder { var, in_string } => {
                    let value = self.resolve(*var, values);
                    let context = match (self.json, in_string) {
                        (true, false) => Context::JsonValue,
                        (true, true) => Context::JsonString,
                        (false, _) => Context::Text,
                    };
                    write_value(&mut out, value.as_ref(), context);
                }
            }
        }
        out
    }

    fn resolve(&self, var: Var, values: &InputValues<'_>) -> Option<Value> {
        match var {
            Var::RuleName => Some(Value::String(values.rule.to_owned())),
            Var::IngestionTime => Some(Value::String(values.ingestion_time.to_owned())),
            Var::EventJson => Some(values.event.clone()),
            Var::Event => {
                let mut event = values.event.clone();
                if let Value::Object(fields) = &mut event {
                    fields.remove("detail");
                }
                Some(event)
            }
            Var::Path(i) => {
                let path = &self.paths[i];
                let nodes = path.path.query(values.event);
                if nodes.is_empty() {
                    None
                } else if path.singular {
                    nodes.first().cloned()
                } else {
                    Some(Value::Array(nodes.iter().map(|v| (*v).clone()).collect()))
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Context {
    JsonValue,
    JsonString,
    Text,
}

fn write_value(out: &mut String, value: Option<&Value>, context: Context) {
    match (value, context) {
        (None, Context::JsonValue) => out.push_str("null"),
        (None, _) => {}
        (Some(value), Context::JsonValue) => out.push_str(&value.to_string()),
        (Some(Value::String(s)), Context::Text) => out.push_str(s),
        (Some(value), Context::Text) => out.push_str(&value.to_string()),
        (Some(value), Context::JsonString) => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // A JSON string literal without its quotes is the escaped form of `text`.
            let quoted = Value::String(text).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

/// The template with every placeholder replaced by a stand-in value, to tell JSON from text.
fn probe(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Placeholder {
                in_string: true, ..
            } => {}
            Segment::Placeholder {
                in_string: false, ..
            } => out.push_str("null"),
        }
    }
    out
}

/// `<name>` at the start of `text`: the name and what follows the `>`.
fn placeholder(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    is_name(name).then(|| (name, &inner[end + 1..]))
}

/// Placeholder names: what AWS's examples use. Anything else between `<` and `>` is literal
/// text, so `a < b` or `<https://x|link>` stay as written.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn unknown_placeholder<'a>(name: &str, defined: impl Iterator<Item = &'a &'a str>) -> String {
    if name == RULE_ARN {
        return format!(
            "<{RULE_ARN}> is not available: signalbox rules have no ARN; use <{RULE_NAME}>"
        );
    }
    let mut known: Vec<String> = defined.map(|k| format!("<{k}>")).collect();
    known.extend([RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON].map(|k| format!("<{k}>")));
    format!(
        "unknown placeholder <{name}>: define it in input_paths; known placeholders are {}",
        known.join(", ")
    )
}

fn compile_path(path: &str) -> Result<CompiledPath, String> {
    let rewritten = aws_compatible(path);
    let parsed = JsonPath::parse(&rewritten).map_err(|error| {
        format!(
            "\"{path}\" is not a valid JSONPath (RFC 9535) at character {}: {}",
            error.position() + 1,
            error.message()
        )
    })?;
    Ok(CompiledPath {
        path: parsed,
        singular: is_singular(&rewritten),
    })
}

/// RFC 9535 allows only singular queries as comparison operands in a filter, so the parser
/// itself tells whether a query yields at most one node; `serde_json_path` does not expose it.
fn is_singular(path: &str) -> bool {
    let relative = path.strip_prefix('$').unwrap_or(path);
    JsonPath::parse(&format!("$[?@{relative} == 0]")).is_ok()
}

/// Rewrites dotted names that RFC 9535 refuses but AWS accepts (`$.detail-type`,
/// `$.detail.0abc`) into bracket form; everything else is left as written.
fn aws_compatible(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut chars = path.char_indices().peekable();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' if depth > 0 => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push('.');
                if chars.peek().map(|&(_, c)| c) == Some('.') {
                    out.push('.');
                    chars.next();
                }
                let start = chars.peek().map_or(path.len(), |&(j, _)| j);
                let mut end = start;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '-' {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let name = &path[start..end];
                let shorthand = name
                    .chars()
                    .next()
                    .is_some_and(|first| !first.is_ascii_digit())
                    && !name.contains('-');
                if name.is_empty() || shorthand {
                    out.push_str(name);
                } else {
                    // `.name` → `['name']`; `..name` keeps its `..` before the bracket.
                    if out.ends_with("..") {
                        out.push_str(&format!("['{name}']"));
                    } else {
                        out.pop();
                        out.push_str(&format!("['{name}']"));
                    }
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn event() -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "time": "2015-11-11T21:29:54Z",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
            "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "n": 3,
                       "quote": "say \"hi\"\n", "tags": {"a": 1}, "items": [{"k": "x"}, {"k": "y"}]}
        })
    }

    fn render(pairs: &[(&str, &str)], template: &str) -> String {
        let t = InputTemplate::compile(&paths(pairs), template).expect("compiles");
        let event = event();
        t.render(&InputValues {
            event: &event,
            rule: "r1",
            ingestion_time: "2026-01-02T03:04:05.678Z",
        })
    }

    #[test]
    fn json_value_positions_render_json() {
        let out = render(
            &[
                ("instance", "$.detail.instance-id"),
                ("n", "$.detail.n"),
                ("tags", "$.detail.tags"),
            ],
            r#"{"instance": <instance>, "n": <n>, "tags": <tags>, "list": [9, <instance>, true]}"#,
        );
        let parsed: Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(
            parsed,
            json!({"instance": "i-0123456789", "n": 3, "tags": {"a": 1}, "list": [9, "i-0123456789", true]})
        );
    }

    #[test]
    fn missing_path_is_null_in_json_and_empty_in_text() {
        let json_out = render(
            &[("gone", "$.detail.nope")],
            r#"{"v": <gone>, "s": "x<gone>y"}"#,
        );
        assert_eq!(json_out, r#"{"v": null, "s": "xy"}"#);
        let text_out = render(&[("gone", "$.detail.nope")], "value=<gone>;");
        assert_eq!(text_out, "value=;");
    }

    #[test]
    fn strings_inside_json_strings_are_escaped() {
        let out = render(
            &[("q", "$.detail.quote"), ("tags", "$.detail.tags")],
            r#"{"msg": "got <q> and <tags>"}"#,
        );
        let parsed: Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(parsed, json!({"msg": "got say \"hi\"\n and {\"a\":1}"}));
    }

    #[test]
    fn a_whole_string_template_is_json_too() {
        let out = render(
            &[
                ("instance", "$.detail.instance-id"),
                ("state", "$.detail.state"),
            ],
            r#""instance <instance> is in <state>""#,
        );
        assert_eq!(out, r#""instance i-0123456789 is in RUNNING""#);
    }

    #[test]
    fn text_templates_render_raw_values() {
        let out = render(
            &[
                ("q", "$.detail.quote"),
                ("tags", "$.detail.tags"),
                ("n", "$.detail.n"),
            ],
            "q=<q> tags=<tags> n=<n> a < b <not a placeholder/>",
        );
        assert_eq!(
            out,
            "q=say \"hi\"\n tags={\"a\":1} n=3 a < b <not a placeholder/>"
        );
    }

    #[test]
    fn predefined_placeholders() {
        let out = render(
            &[],
            r#"{"rule": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>, "e": <aws.events.event>, "all": <aws.events.event.json>}"#,
        );
        let parsed: Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(parsed["rule"], "r1");
        assert_eq!(parsed["at"], "2026-01-02T03:04:05.678Z");
        assert_eq!(parsed["all"], event());
        let mut without_detail = event();
        without_detail.as_object_mut().unwrap().remove("detail");
        assert_eq!(parsed["e"], without_detail);
        assert_eq!(
            render(&[], "<aws.events.rule-name> triggered"),
            "r1 triggered"
        );
    }

    #[test]
    fn non_singular_paths_give_arrays() {
        let out = render(&[("ks", "$.detail.items[*].k")], r#"{"ks": <ks>}"#);
        assert_eq!(out, r#"{"ks": ["x","y"]}"#);
        let one = render(&[("k", "$.detail.items[0].k")], r#"{"k": <k>}"#);
        assert_eq!(one, r#"{"k": "x"}"#);
    }

    #[test]
    fn aws_dotted_names_with_dashes() {
        assert_eq!(aws_compatible("$.detail-type"), "$['detail-type']");
        assert_eq!(
            aws_compatible("$.detail.instance-id"),
            "$.detail['instance-id']"
        );
        assert_eq!(aws_compatible("$..a-b"), "$..['a-b']");
        assert_eq!(aws_compatible("$['x.y-z'].a"), "$['x.y-z'].a");
        assert_eq!(
            render(&[("t", "$.detail-type")], "<t>"),
            "EC2 Instance State-change Notification"
        );
        assert_eq!(
            render(&[("t", "$.detail-type")], "[<t>]"),
            r#"["EC2 Instance State-change Notification"]"#
        );
    }

    #[test]
    fn errors_name_the_field() {
        let errors = InputTemplate::compile(
            &paths(&[("bad", "$.detail[?"), ("aws.events.mine", "$.id")]),
            "<bad> <other> <aws.events.rule-arn>",
        )
        .unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(
            shown[0].starts_with("input_paths.aws.events.mine: \"aws.events.mine\" is reserved"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("input_paths.bad: \"$.detail[?\" is not a valid JSONPath"),
            "{shown:?}"
        );
        assert!(shown[2].starts_with("input_template: unknown placeholder <other>: define it in input_paths; known placeholders are <aws.events.rule-name>,"), "{shown:?}");
        assert!(shown[3].contains("no ARN"), "{shown:?}");
    }
}
