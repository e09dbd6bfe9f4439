//! The replaceable engine: which of many rules match an event.

use serde_json::Value;

use crate::error::PatternError;
use crate::pattern::Pattern;

/// A compiled set of rules. Replaceable engine.
///
/// Callers only see this trait so that the linear scan behind [`compile`] can later give way to
/// an index-based engine without changing them.
pub trait Matcher: Send + Sync {
    /// Appends to `out` the indices (into the slice given to `compile`) of every rule whose
    /// pattern matches, ascending, each once.
    fn matching_rules(&self, event: &Value, out: &mut Vec<usize>);
}

/// Compiles all rules; returns every error, not just the first.
///
/// Each rule is a name (used in error messages) and its JSON pattern; indices reported by the
/// returned [`Matcher`] refer to positions in `rules`.
pub fn compile(rules: &[(String, Value)]) -> Result<Box<dyn Matcher>, Vec<PatternError>> {
    let mut patterns = Vec::with_capacity(rules.len());
    let mut errors = Vec::new();
    for (name, pattern) in rules {
        match Pattern::compile_named(name, pattern) {
            Ok(p) => patterns.push(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Box::new(LinearMatcher { patterns }))
    } else {
        Err(errors)
    }
}

/// Tries every pattern in turn: correct and simple, fine for tens of rules.
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
