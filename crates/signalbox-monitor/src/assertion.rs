//! A check's `assert:` list: CEL expressions over a [`ProbeResult`], all of which must be
//! `true` for a run to succeed.
//!
//! Variables: `status` (int, 0 without a response), `headers` (map, lowercase names), `body`
//! (string), `json` (the parsed body, `null` when it is not JSON), `response_time_ms` (int),
//! `connected` (bool), `error` (string, `""` when none), `cert_expires_in_days` (double or
//! `null`), `cert` (map or `null`), `dns_answers` (list of strings), `dns_rcode` (string),
//! `last_ping_age_ms` (int or `null`, heartbeats).
//! Which of them a check may use depends on its probe kind ([`ProbeType::variables`]); using
//! another kind's variable is refused when compiling. JSON integers are CEL `int`, so
//! `json.count == 3` and `response_time_ms < 500` compare as written.

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Program, Value};

/// CEL's standard functions, registered once: building them is most of the cost of a
/// `Context::default()`, and a monitor evaluates thousands of results a second.
static STDLIB: std::sync::LazyLock<Arc<cel::Env>> =
    std::sync::LazyLock::new(|| Arc::new(cel::Env::stdlib()));
use signalbox_config::{ProbeType, foreign_variables_message};

use crate::probe::{CertInfo, ProbeResult};

/// Why a run failed: the first assertion that was not `true`, or the default rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionFailure {
    /// The expression as written; `None` when the default rule (no `assert:`) failed.
    pub assertion: Option<String>,
    /// What happened: evaluated to false, an evaluation error, or the probe's error.
    pub reason: String,
}

/// Compiled assertions of one check.
pub struct Assertions {
    programs: Vec<(String, Program)>,
    /// Picks the rule used when there are no assertions.
    kind: ProbeType,
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<&str> = self.programs.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("Assertions")
            .field("programs", &sources)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Assertions {
    /// Compiles `sources` for a `kind` check: `kind` decides which variables exist and the
    /// rule used when there are no assertions.
    pub fn compile(sources: &[String], kind: ProbeType) -> Result<Assertions, String> {
        let mut programs = Vec::with_capacity(sources.len());
        for (i, source) in sources.iter().enumerate() {
            let program = Program::compile(source)
                .map_err(|e| format!("assertion {} is not valid CEL: {e}", i + 1))?;
            if let Some(message) = foreign_variables_message(i, kind, &program) {
                return Err(message);
            }
            programs.push((source.clone(), program));
        }
        Ok(Assertions { programs, kind })
    }

    /// Judges one result: `Ok` when every assertion is `true`.
    pub fn evaluate(&self, result: &ProbeResult) -> Result<(), AssertionFailure> {
        // A heartbeat's own verdict (late, /fail) always holds; assertions only add to it.
        if self.programs.is_empty() || (self.kind == ProbeType::Heartbeat && !result.connected) {
            return self.default_rule(result);
        }
        let mut ctx = Context::with_env(Arc::clone(&STDLIB));
        ctx.add_variable_from_value("status", Value::Int(i64::from(result.status.unwrap_or(0))));
        ctx.add_variable_from_value(
            "headers",
            Value::Map(
                result
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(Arc::new(v.clone()))))
                    .collect::<HashMap<String, Value>>()
                    .into(),
            ),
        );
        ctx.add_variable_from_value("body", Value::String(Arc::new(result.body.clone())));
        ctx.add_variable_from_value(
            "json",
            result.json.as_ref().map_or(Value::Null, json_to_cel),
        );
        ctx.add_variable_from_value(
            "response_time_ms",
            Value::Int(i64::try_from(result.response_time_ms).unwrap_or(i64::MAX)),
        );
        ctx.add_variable_from_value("connected", Value::Bool(result.connected));
        ctx.add_variable_from_value(
            "error",
            Value::String(Arc::new(result.error.clone().unwrap_or_default())),
        );
        ctx.add_variable_from_value(
            "cert_expires_in_days",
            result
                .cert_expires_in_days
                .map_or(Value::Null, Value::Float),
        );
        ctx.add_variable_from_value(
            "cert",
            result.cert.as_ref().map_or(Value::Null, cert_to_cel),
        );
        ctx.add_variable_from_value("dns_answers", string_list(&result.dns_answers));
        ctx.add_variable_from_value(
            "dns_rcode",
            Value::String(Arc::new(result.dns_rcode.clone().unwrap_or_default())),
        );
        ctx.add_variable_from_value(
            "last_ping_age_ms",
            result.last_ping_age_ms.map_or(Value::Null, |ms| {
                Value::Int(i64::try_from(ms).unwrap_or(i64::MAX))
            }),
        );
        for (source, program) in &self.programs {
            let reason = match program.execute(&ctx) {
                Ok(Value::Bool(true)) => continue,
                Ok(Value::Bool(false)) => match &result.error {
                    Some(error) => format!("evaluated to false ({error})"),
                    None => "evaluated to false".to_owned(),
                },
                Ok(other) => format!("evaluated to {other:?}, not a boolean"),
                Err(error) => format!("evaluation failed: {error}"),
            };
            return Err(AssertionFailure {
                assertion: Some(source.clone()),
                reason,
            });
        }
        Ok(())
    }

    fn default_rule(&self, result: &ProbeResult) -> Result<(), AssertionFailure> {
        let fail = |reason: String| {
            Err(AssertionFailure {
                assertion: None,
                reason,
            })
        };
        if !result.connected {
            return fail(
                result
                    .error
                    .clone()
                    .unwrap_or_else(|| "not connected".to_owned()),
            );
        }
        match self.kind {
            ProbeType::Http => match result.status {
                Some(status) if (200..300).contains(&status) => {}
                Some(status) => return fail(format!("status {status} is not 2xx")),
                None => return fail("no response".to_owned()),
            },
            ProbeType::Dns => match result.dns_rcode.as_deref() {
                Some("NOERROR") if result.dns_answers.is_empty() => {
                    return fail("the answer has no records of the asked type".to_owned());
                }
                Some("NOERROR") => {}
                Some(rcode) => return fail(format!("answer {rcode}")),
                None => return fail("no answer".to_owned()),
            },
            ProbeType::Tcp | ProbeType::Tls | ProbeType::Heartbeat => {}
        }
        if let Some(error) = &result.error {
            return fail(error.clone());
        }
        Ok(())
    }
}

fn string_list(items: &[String]) -> Value {
    Value::List(Arc::new(
        items
            .iter()
            .map(|s| Value::String(Arc::new(s.clone())))
            .collect(),
    ))
}

fn cert_to_cel(cert: &CertInfo) -> Value {
    let text = |s: &str| Value::String(Arc::new(s.to_owned()));
    Value::Map(
        HashMap::from([
            ("subject".to_owned(), text(&cert.subject)),
            ("issuer".to_owned(), text(&cert.issuer)),
            ("not_before".to_owned(), text(&cert.not_before)),
            ("not_after".to_owned(), text(&cert.not_after)),
            ("dns_names".to_owned(), string_list(&cert.dns_names)),
        ])
        .into(),
    )
}

/// JSON → CEL with integers as `int` where they fit (CEL literals are `int`).
fn json_to_cel(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (_, _, Some(f)) => Value::Float(f),
            _ => Value::Null,
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_cel(v)))
                .collect::<HashMap<String, Value>>()
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok_result(body: serde_json::Value, ms: u64) -> ProbeResult {
        ProbeResult {
            status: Some(200),
            headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
            body: body.to_string(),
            json: Some(body),
            response_time_ms: ms,
            connected: true,
            ..ProbeResult::default()
        }
    }

    fn assertions(sources: &[&str]) -> Assertions {
        let sources: Vec<String> = sources.iter().map(|s| (*s).to_owned()).collect();
        Assertions::compile(&sources, ProbeType::Http).unwrap()
    }

    #[test]
    fn the_documented_example_holds_and_fails() {
        let a = assertions(&[r#"json.status == "ok" && response_time_ms < 500"#]);
        assert_eq!(a.evaluate(&ok_result(json!({"status": "ok"}), 20)), Ok(()));
        let failure = a
            .evaluate(&ok_result(json!({"status": "down"}), 20))
            .unwrap_err();
        assert_eq!(
            failure.assertion.as_deref(),
            Some(r#"json.status == "ok" && response_time_ms < 500"#)
        );
        assert_eq!(failure.reason, "evaluated to false");
        assert!(
            a.evaluate(&ok_result(json!({"status": "ok"}), 900))
                .is_err()
        );
    }

    #[test]
    fn every_variable_is_bound() {
        let a = assertions(&[
            "status == 200",
            r#"headers["content-type"] == "application/json""#,
            r#"body.contains("items")"#,
            "json.items.size() == 2 && json.items[1] == 3",
            "json.ratio > 0.5",
            "connected",
            r#"error == """#,
            r#"headers["content-type"].startsWith("application/")"#,
            r#"body.matches("^\\{")"#,
        ]);
        assert_eq!(
            a.evaluate(&ok_result(json!({"items": [1, 3], "ratio": 0.75}), 5)),
            Ok(())
        );
    }

    #[test]
    fn the_first_failing_assertion_is_named() {
        let a = assertions(&["status == 200", "json.version == 2", "json.x == 1"]);
        let f = a
            .evaluate(&ok_result(json!({"version": 1, "x": 0}), 5))
            .unwrap_err();
        assert_eq!(f.assertion.as_deref(), Some("json.version == 2"));
    }

    #[test]
    fn missing_fields_and_non_booleans_fail_with_a_reason() {
        let a = assertions(&["json.nope == 1"]);
        let f = a.evaluate(&ok_result(json!({}), 5)).unwrap_err();
        assert!(f.reason.starts_with("evaluation failed"), "{f:?}");
        let a = assertions(&["status"]);
        let f = a.evaluate(&ok_result(json!({}), 5)).unwrap_err();
        assert!(f.reason.contains("not a boolean"), "{f:?}");
    }

    #[test]
    fn a_failed_probe_explains_a_false_assertion() {
        let a = assertions(&["connected"]);
        let r = ProbeResult {
            error: Some("connection refused".into()),
            ..ProbeResult::default()
        };
        let f = a.evaluate(&r).unwrap_err();
        assert_eq!(f.reason, "evaluated to false (connection refused)");
        // Asserting that a port is closed is allowed.
        assert_eq!(assertions(&["!connected"]).evaluate(&r), Ok(()));
    }

    #[test]
    fn default_rules_without_assertions() {
        let http = Assertions::compile(&[], ProbeType::Http).unwrap();
        assert_eq!(http.evaluate(&ok_result(json!({}), 1)), Ok(()));
        let mut r = ok_result(json!({}), 1);
        r.status = Some(503);
        assert_eq!(
            http.evaluate(&r).unwrap_err().reason,
            "status 503 is not 2xx"
        );
        let tcp = Assertions::compile(&[], ProbeType::Tcp).unwrap();
        let connected = ProbeResult {
            connected: true,
            ..ProbeResult::default()
        };
        assert_eq!(tcp.evaluate(&connected), Ok(()));
        let refused = ProbeResult {
            error: Some("connect: refused".into()),
            ..ProbeResult::default()
        };
        assert_eq!(
            tcp.evaluate(&refused).unwrap_err().reason,
            "connect: refused"
        );
    }

    #[test]
    fn invalid_cel_is_refused() {
        let err = Assertions::compile(&["json.status ==".to_owned()], ProbeType::Http).unwrap_err();
        assert!(err.starts_with("assertion 1 is not valid CEL"), "{err}");
    }

    #[test]
    fn another_kinds_variables_are_refused() {
        let sources = vec!["connected".to_owned(), "dns_answers.size() > 0".to_owned()];
        let err = Assertions::compile(&sources, ProbeType::Http).unwrap_err();
        assert!(
            err.starts_with("assertion 2 uses `dns_answers`, which http checks do not have"),
            "{err}"
        );
        assert!(Assertions::compile(&sources, ProbeType::Dns).is_ok());
        let status = vec!["status == 0".to_owned()];
        assert!(Assertions::compile(&status, ProbeType::Tcp).is_err());
        // Comprehension variables are not taken for result variables.
        let each = vec![r#"dns_answers.all(a, a.startsWith("10."))"#.to_owned()];
        assert!(Assertions::compile(&each, ProbeType::Dns).is_ok());
    }

    #[test]
    fn certificate_variables() {
        let result = ProbeResult {
            connected: true,
            cert_expires_in_days: Some(10.5),
            cert: Some(CertInfo {
                subject: "CN=api.test".into(),
                issuer: "CN=Test CA".into(),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: "2026-12-01T00:00:00Z".into(),
                dns_names: vec!["api.test".into()],
            }),
            ..ProbeResult::default()
        };
        let holds = |source: &str| {
            Assertions::compile(&[source.to_owned()], ProbeType::Tls)
                .unwrap()
                .evaluate(&result)
        };
        assert_eq!(holds("cert_expires_in_days > 5"), Ok(()));
        let f = holds("cert_expires_in_days > 30").unwrap_err();
        assert_eq!(f.assertion.as_deref(), Some("cert_expires_in_days > 30"));
        assert_eq!(f.reason, "evaluated to false");
        assert_eq!(
            holds(r#"cert.issuer == "CN=Test CA" && "api.test" in cert.dns_names"#),
            Ok(())
        );
        assert_eq!(holds(r#"cert.not_after.startsWith("2026-12")"#), Ok(()));
        // Without a certificate the variable is null: comparing it fails with a reason.
        let none = Assertions::compile(&["cert_expires_in_days > 5".to_owned()], ProbeType::Http)
            .unwrap()
            .evaluate(&ProbeResult::default())
            .unwrap_err();
        assert!(none.reason.starts_with("evaluation failed"), "{none:?}");
    }

    #[test]
    fn dns_variables_and_default_rule() {
        let answer = ProbeResult {
            connected: true,
            dns_rcode: Some("NOERROR".into()),
            dns_answers: vec![
                "10 mail.example.test.".into(),
                "20 mx2.example.test.".into(),
            ],
            ..ProbeResult::default()
        };
        let a = Assertions::compile(
            &[
                r#""10 mail.example.test." in dns_answers"#.to_owned(),
                "dns_answers.size() == 2".to_owned(),
                r#"dns_rcode == "NOERROR""#.to_owned(),
            ],
            ProbeType::Dns,
        )
        .unwrap();
        assert_eq!(a.evaluate(&answer), Ok(()));
        let default = Assertions::compile(&[], ProbeType::Dns).unwrap();
        assert_eq!(default.evaluate(&answer), Ok(()));
        let empty = ProbeResult {
            dns_answers: Vec::new(),
            ..answer.clone()
        };
        assert_eq!(
            default.evaluate(&empty).unwrap_err().reason,
            "the answer has no records of the asked type"
        );
        let nx = ProbeResult {
            dns_rcode: Some("NXDOMAIN".into()),
            ..empty
        };
        assert_eq!(default.evaluate(&nx).unwrap_err().reason, "answer NXDOMAIN");
        let timeout = ProbeResult {
            error: Some("no answer from 127.0.0.1:53 within 100ms".into()),
            ..ProbeResult::default()
        };
        assert_eq!(
            default.evaluate(&timeout).unwrap_err().reason,
            "no answer from 127.0.0.1:53 within 100ms"
        );
    }

    #[test]
    fn tls_default_rule_needs_a_handshake() {
        let tls = Assertions::compile(&[], ProbeType::Tls).unwrap();
        let done = ProbeResult {
            connected: true,
            cert_expires_in_days: Some(3.0),
            ..ProbeResult::default()
        };
        assert_eq!(tls.evaluate(&done), Ok(()));
        let untrusted = ProbeResult {
            error: Some("handshake: invalid peer certificate: UnknownIssuer".into()),
            cert_expires_in_days: Some(3.0),
            ..ProbeResult::default()
        };
        assert_eq!(
            tls.evaluate(&untrusted).unwrap_err().reason,
            "handshake: invalid peer certificate: UnknownIssuer"
        );
    }
}
