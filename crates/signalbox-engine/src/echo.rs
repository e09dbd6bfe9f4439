//! Rules written in Spinnaker Echo's webhook-trigger form: `type`, `source` and
//! `payloadConstraints`.
//!
//! Such a rule is split in two. `type` and `source` become an ordinary EventBridge pattern
//! (`detail-type` ignoring case, as Echo compares its webhook type; `source` exactly), so the
//! rule goes through the same matcher as every other rule. The constraints are regexes checked
//! only for events that pattern matched.
//!
//! Unlike Echo, whose `Pattern.find()` makes `geo` match `geohash`, each regex must match the
//! whole value: it is compiled as `^(?:regex)$`; write `.*` where a partial match is meant.

use regex::Regex;
use serde_json::{Value, json};
use signalbox_config::RuleConfig;

/// An Echo-form rule's constraint that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rules.{rule}.payloadConstraints.{key}: {reason}")]
pub struct EchoError {
    /// The rule.
    pub rule: String,
    /// The constraint's key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// The EventBridge pattern standing for an Echo-form rule's `type` and `source`.
pub fn pattern_of(rule: &RuleConfig) -> Value {
    let mut pattern = serde_json::Map::new();
    if let Some(source) = &rule.source {
        pattern.insert("source".into(), json!([source]));
    }
    if let Some(kind) = &rule.echo_type {
        pattern.insert(
            "detail-type".into(),
            json!([{ "equals-ignore-case": kind }]),
        );
    }
    Value::Object(pattern)
}

/// Compiled `payloadConstraints`: every one must hold.
#[derive(Debug, Clone)]
pub struct PayloadConstraints {
    constraints: Vec<Constraint>,
}

#[derive(Debug, Clone)]
struct Constraint {
    /// Keys from `detail` down to the value.
    path: Vec<String>,
    regex: Regex,
}

impl PayloadConstraints {
    /// Compiles rule `rule`'s constraints (dot path into `detail`, optionally `$.`-prefixed as
    /// Echo's JsonPath keys are → regex).
    pub fn compile(
        rule: &str,
        constraints: &std::collections::BTreeMap<String, String>,
    ) -> Result<PayloadConstraints, Vec<EchoError>> {
        let mut compiled = Vec::with_capacity(constraints.len());
        let mut errors = Vec::new();
        for (key, regex) in constraints {
            let error = |reason: String| EchoError {
                rule: rule.to_owned(),
                key: key.clone(),
                reason,
            };
            let path: Vec<String> = key
                .strip_prefix("$.")
                .unwrap_or(key)
                .split('.')
                .map(str::to_owned)
                .collect();
            if path.iter().any(String::is_empty) {
                errors.push(error("the key must be a dot path into detail".into()));
                continue;
            }
            // The user's text alone first, so an error message shows what they wrote.
            match Regex::new(regex).and_then(|_| Regex::new(&format!("^(?:{regex})$"))) {
                Ok(regex) => compiled.push(Constraint { path, regex }),
                Err(e) => {
                    let text = e.to_string();
                    let last = text.lines().last().unwrap_or_default();
                    let reason = last.strip_prefix("error: ").unwrap_or(last);
                    errors.push(error(format!("\"{regex}\" is not a valid regex: {reason}")));
                }
            }
        }
        if errors.is_empty() {
            Ok(PayloadConstraints {
                constraints: compiled,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether every constraint holds for `event` (EventBridge shape).
    ///
    /// A constraint holds when the value at its path in `detail` matches the whole regex: a
    /// string as it is, a number or boolean as its JSON text, an array when any element does
    /// (arrays met on the way are searched the same way). Objects, `null` and absent values
    /// never match.
    pub fn matches(&self, event: &Value) -> bool {
        let detail = event.get("detail").unwrap_or(&Value::Null);
        self.constraints
            .iter()
            .all(|c| holds(detail, &c.path, &c.regex))
    }
}

fn holds(value: &Value, path: &[String], regex: &Regex) -> bool {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().any(|item| holds(item, path, regex)),
        (Value::Object(fields), Some((key, rest))) => {
            fields.get(key).is_some_and(|v| holds(v, rest, regex))
        }
        (Value::String(s), None) => regex.is_match(s),
        (Value::Number(n), None) => regex.is_match(&n.to_string()),
        (Value::Bool(b), None) => regex.is_match(if *b { "true" } else { "false" }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn constraints(pairs: &[(&str, &str)]) -> PayloadConstraints {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PayloadConstraints::compile("r", &map).expect("valid")
    }

    #[test]
    fn regexes_match_the_whole_value() {
        let c = constraints(&[("repo.name", "geo")]);
        assert!(c.matches(&json!({"detail": {"repo": {"name": "geo"}}})));
        assert!(!c.matches(&json!({"detail": {"repo": {"name": "geohash"}}})));
        let partial = constraints(&[("repo.name", "geo.*")]);
        assert!(partial.matches(&json!({"detail": {"repo": {"name": "geohash"}}})));
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        let c = constraints(&[("branch", "main|release/.*")]);
        assert!(c.matches(&json!({"detail": {"branch": "main"}})));
        assert!(c.matches(&json!({"detail": {"branch": "release/1.2"}})));
        assert!(!c.matches(&json!({"detail": {"branch": "not-main"}})));
    }

    #[test]
    fn scalars_arrays_and_missing_values() {
        let c = constraints(&[("$.n", "4[0-9]"), ("tags", "prod"), ("ok", "true")]);
        assert!(c.matches(&json!({"detail": {"n": 42, "tags": ["dev", "prod"], "ok": true}})));
        assert!(!c.matches(&json!({"detail": {"n": 42, "tags": ["dev"], "ok": true}})));
        assert!(!c.matches(&json!({"detail": {"tags": ["prod"], "ok": true}})));
        let nested = constraints(&[("commits.author", "ann")]);
        assert!(
            nested.matches(&json!({"detail": {"commits": [{"author": "bob"}, {"author": "ann"}]}}))
        );
        assert!(!nested.matches(&json!({"detail": {"commits": {"author": {"name": "ann"}}}})));
    }

    #[test]
    fn bad_regex_names_rule_and_key() {
        let map = BTreeMap::from([("a".to_string(), "(".to_string())]);
        let errors = PayloadConstraints::compile("hooks", &map).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("rules.hooks.payloadConstraints.a: \"(\" is not a valid regex")
        );
    }

    #[test]
    fn type_and_source_become_a_pattern() {
        let rule = RuleConfig {
            pattern: None,
            echo_type: Some("webhook".into()),
            source: Some("my-app".into()),
            ..RuleConfig::default()
        };
        assert_eq!(
            pattern_of(&rule),
            json!({"source": ["my-app"], "detail-type": [{"equals-ignore-case": "webhook"}]})
        );
    }
}
