//! Which of many rules match an event: the [`Matcher`] trait and the two ways to build one.

use serde_json::Value;

use crate::engine::IndexedMatcher;
use crate::error::{MatchError, PatternError};
use crate::pattern::Pattern;

/// A compiled set of rules.
///
/// Both methods append to `out` the indices (into the slice given to [`compile`]) of every rule
/// whose pattern matches, ascending, each once; they never clear `out`.
pub trait Matcher: Send + Sync {
    /// Matches an already parsed event.
    fn matching_rules(&self, event: &Value, out: &mut Vec<usize>);

    /// Matches an event given as JSON bytes, reading only the fields some pattern mentions
    /// (the rest is checked for syntax and skipped). Fails, leaving `out` as it was, when the
    /// bytes are not one JSON value.
    fn matching_rules_json(&self, event: &[u8], out: &mut Vec<usize>) -> Result<(), MatchError>;
}

/// Compiles all rules into the index-based engine; returns every error, not just the first.
///
/// Each rule is a name (used in error messages) and its JSON pattern; indices reported by the
/// returned [`Matcher`] refer to positions in `rules`.
pub fn compile(rules: &[(String, Value)]) -> Result<Box<dyn Matcher>, Vec<PatternError>> {
    let patterns = compile_all(rules)?;
    Ok(Box::new(IndexedMatcher::build(&patterns)))
}

/// Compiles all rules into a matcher that tries every pattern in turn with
/// [`Pattern::matches`]: obviously correct and slow. It is the reference the engine is tested
/// and benchmarked against; use [`compile`] otherwise.
pub fn compile_linear(rules: &[(String, Value)]) -> Result<Box<dyn Matcher>, Vec<PatternError>> {
    let patterns = compile_all(rules)?;
    Ok(Box::new(LinearMatcher { patterns }))
}

fn compile_all(rules: &[(String, Value)]) -> Result<Vec<Pattern>, Vec<PatternError>> {
    let mut patterns = Vec::with_capacity(rules.len());
    let mut errors = Vec::new();
    for (name, pattern) in rules {
        match Pattern::compile_named(name, pattern) {
            Ok(p) => patterns.push(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(patterns)
    } else {
        Err(errors)
    }
}

/// Tries every pattern in turn.
struct LinearMatcher {
    patterns: Vec<Pattern>,
}

impl Matcher for LinearMatcher {
    fn matching_rules(&self, event: &Value, out: &mut Vec<usize>) {
        out.extend(
            self.patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches(event))
                .map(|(i, _)| i),
        );
    }

    fn matching_rules_json(&self, event: &[u8], out: &mut Vec<usize>) -> Result<(), MatchError> {
        let event: Value = serde_json::from_slice(event).map_err(|_| MatchError::InvalidJson {
            offset: 0,
            reason: "rejected by serde_json",
        })?;
        self.matching_rules(&event, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(patterns: &[(&str, Value)]) -> Vec<(String, Value)> {
        patterns
            .iter()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .collect()
    }

    #[test]
    fn reports_matching_indices_in_order() {
        let rules = rules(&[
            ("ec2", json!({"source": ["aws.ec2"]})),
            ("all", json!({})),
            ("s3", json!({"source": ["aws.s3"]})),
            ("any-aws", json!({"source": [{"prefix": "aws."}]})),
        ]);
        let matcher = compile(&rules).expect("valid rules");
        let mut out = vec![99];
        matcher.matching_rules(&json!({"source": "aws.ec2"}), &mut out);
        assert_eq!(out, vec![99, 0, 1, 3], "appends without clearing");
    }

    #[test]
    fn linear_and_indexed_agree_on_a_small_set() {
        let rules = rules(&[
            ("ec2", json!({"source": ["aws.ec2"]})),
            ("all", json!({})),
            ("not-s3", json!({"source": [{"anything-but": "aws.s3"}]})),
        ]);
        let fast = compile(&rules).expect("valid rules");
        let slow = compile_linear(&rules).expect("valid rules");
        for event in [r#"{"source":"aws.ec2"}"#, r#"{"source":"aws.s3"}"#, "{}"] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.matching_rules_json(event.as_bytes(), &mut a)
                .expect("json");
            slow.matching_rules_json(event.as_bytes(), &mut b)
                .expect("json");
            assert_eq!(a, b, "{event}");
        }
    }

    #[test]
    fn returns_every_error() {
        let rules = rules(&[
            ("good", json!({"source": ["x"]})),
            ("bad-leaf", json!({"source": "x"})),
            ("bad-op", json!({"detail": {"n": [{"numeric": ["!=", 1]}]}})),
        ]);
        let Err(errors) = compile(&rules) else {
            panic!("expected errors");
        };
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0]
                .starts_with("rules.bad-leaf.pattern.source: a leaf must be an array of values")
        );
        assert!(shown[1].starts_with("rules.bad-op.pattern.detail.n: numeric operator \"!=\""));
    }

    #[test]
    fn matcher_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Matcher>();
    }
}
