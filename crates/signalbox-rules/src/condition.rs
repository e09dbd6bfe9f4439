//! Compiled match conditions: the internal form of one entry of a leaf array.

use serde_json::{Number, Value};

use crate::cidr::CidrBlock;
use crate::flatten::Leaf;
use crate::wildcard::Wildcard;

/// A literal value from a pattern, matched by equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Literal {
    String(String),
    /// The number's canonical text, see [`canonical_number`].
    Number(String),
    Bool(bool),
    Null,
}

impl Literal {
    /// Type-aware equality: a string never equals a number, and `null` only equals `null`.
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Literal::String(a), Value::String(b)) => a == b,
            (Literal::Number(a), Value::Number(b)) => *a == canonical_number(b),
            (Literal::Bool(a), Value::Bool(b)) => a == b,
            (Literal::Null, Value::Null) => true,
            _ => false,
        }
    }

    /// [`Literal::matches`] for a leaf read by the engine.
    pub(crate) fn matches_leaf(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (Literal::String(a), Leaf::Str(b)) => a == b,
            (Literal::Number(a), Leaf::Num(token)) => {
                canonical_number_token(token).is_some_and(|b| *a == b)
            }
            (Literal::Bool(a), Leaf::Bool(b)) => a == b,
            (Literal::Null, Leaf::Null) => true,
            _ => false,
        }
    }
}

/// The text a number is compared by in exact matches (literals and `anything-but` values).
///
/// EventBridge compares numbers by their written form, not their value (`300` and `300.0`
/// differ); `numeric` is the operator that compares values. Patterns reach signalbox already
/// parsed, so the written form is the one `serde_json` gives back: integers as written, any
/// number with a fraction or an exponent as the shortest text of its double (`300.0` and
/// `3.0e2` both read `300.0`).
pub(crate) fn canonical_number(n: &Number) -> String {
    n.to_string()
}

/// [`canonical_number`] for a raw JSON number token taken straight from event bytes; `None`
/// when the token is not a JSON number.
pub(crate) fn canonical_number_token(token: &str) -> Option<String> {
    serde_json::from_str::<Number>(token)
        .ok()
        .map(|n| canonical_number(&n))
}

/// Case folding for the `equals-ignore-case` family.
///
/// Upper-casing then lower-casing each character approximates Unicode full case folding without
/// a table: it maps `ß` to `ss` and both Greek sigmas to `σ`, which plain `to_lowercase` does not.
pub(crate) fn fold_case(text: &str) -> String {
    text.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// One bound of a numeric range: the limit and whether it is included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub(crate) limit: f64,
    pub(crate) inclusive: bool,
}

/// A numeric range from `{"numeric": [...]}`; `=` is a range with two equal inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumericRange {
    pub(crate) lower: Option<Bound>,
    pub(crate) upper: Option<Bound>,
}

impl NumericRange {
    pub(crate) fn contains(&self, x: f64) -> bool {
        let above = self.lower.is_none_or(|b| {
            if b.inclusive {
                x >= b.limit
            } else {
                x > b.limit
            }
        });
        let below = self.upper.is_none_or(|b| {
            if b.inclusive {
                x <= b.limit
            } else {
                x < b.limit
            }
        });
        above && below
    }
}

/// What `anything-but` excludes. A leaf value matches when it is not excluded; that includes
/// values of other types (a number is "anything but" the string `"5"`), as in EventBridge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Excluded {
    /// Only strings or only numbers, as AWS requires.
    Values(Vec<Literal>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Already case-folded.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

impl Excluded {
    /// [`Excluded::excludes`] for a leaf read by the engine.
    fn excludes_leaf(&self, leaf: &Leaf<'_>) -> bool {
        let text = match leaf {
            Leaf::Str(s) => Some(s.as_ref()),
            _ => None,
        };
        match self {
            Excluded::Values(literals) => literals.iter().any(|l| l.matches_leaf(leaf)),
            Excluded::Prefixes(p) => {
                text.is_some_and(|s| p.iter().any(|p| s.starts_with(p.as_str())))
            }
            Excluded::Suffixes(p) => {
                text.is_some_and(|s| p.iter().any(|p| s.ends_with(p.as_str())))
            }
            Excluded::IgnoreCase(p) => text.is_some_and(|s| p.contains(&fold_case(s))),
            Excluded::Wildcards(w) => text.is_some_and(|s| w.iter().any(|w| w.matches(s))),
        }
    }

    fn excludes(&self, value: &Value) -> bool {
        match self {
            Excluded::Values(literals) => literals.iter().any(|l| l.matches(value)),
            Excluded::Prefixes(p) => {
                as_str(value).is_some_and(|s| p.iter().any(|p| s.starts_with(p.as_str())))
            }
            Excluded::Suffixes(p) => {
                as_str(value).is_some_and(|s| p.iter().any(|p| s.ends_with(p.as_str())))
            }
            Excluded::IgnoreCase(p) => as_str(value).is_some_and(|s| {
                let folded = fold_case(s);
                p.contains(&folded)
            }),
            Excluded::Wildcards(w) => as_str(value).is_some_and(|s| w.iter().any(|w| w.matches(s))),
        }
    }
}

/// One compiled entry of a leaf array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    Equals(Literal),
    /// Already case-folded.
    EqualsIgnoreCase(String),
    Prefix(String),
    /// Already case-folded.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// Already case-folded.
    SuffixIgnoreCase(String),
    Wildcard(Wildcard),
    Numeric(NumericRange),
    Cidr(CidrBlock),
    /// `exists: true` matches any leaf; `exists: false` matches only when there is none, which
    /// [`crate::pattern::FieldMatch`] handles because there is no leaf to call this with.
    Exists(bool),
    AnythingBut(Excluded),
}

impl Condition {
    /// Whether this condition accepts one leaf value of the event.
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match self {
            Condition::Equals(literal) => literal.matches(value),
            Condition::EqualsIgnoreCase(folded) => {
                as_str(value).is_some_and(|s| fold_case(s) == *folded)
            }
            Condition::Prefix(p) => as_str(value).is_some_and(|s| s.starts_with(p.as_str())),
            Condition::PrefixIgnoreCase(p) => {
                as_str(value).is_some_and(|s| fold_case(s).starts_with(p.as_str()))
            }
            Condition::Suffix(p) => as_str(value).is_some_and(|s| s.ends_with(p.as_str())),
            Condition::SuffixIgnoreCase(p) => {
                as_str(value).is_some_and(|s| fold_case(s).ends_with(p.as_str()))
            }
            Condition::Wildcard(w) => as_str(value).is_some_and(|s| w.matches(s)),
            Condition::Numeric(range) => match value {
                Value::Number(n) => n.as_f64().is_some_and(|x| range.contains(x)),
                _ => false,
            },
            Condition::Cidr(block) => as_str(value).is_some_and(|s| block.contains(s)),
            Condition::Exists(present) => *present,
            Condition::AnythingBut(excluded) => !excluded.excludes(value),
        }
    }

    /// [`Condition::matches`] for a leaf read by the engine; kept apart from it so that the
    /// property tests compare two implementations.
    pub(crate) fn matches_leaf(&self, leaf: &Leaf<'_>) -> bool {
        let text = match leaf {
            Leaf::Str(s) => Some(s.as_ref()),
            _ => None,
        };
        match self {
            Condition::Equals(literal) => literal.matches_leaf(leaf),
            Condition::EqualsIgnoreCase(folded) => text.is_some_and(|s| fold_case(s) == *folded),
            Condition::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
            Condition::PrefixIgnoreCase(p) => {
                text.is_some_and(|s| fold_case(s).starts_with(p.as_str()))
            }
            Condition::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
            Condition::SuffixIgnoreCase(p) => {
                text.is_some_and(|s| fold_case(s).ends_with(p.as_str()))
            }
            Condition::Wildcard(w) => text.is_some_and(|s| w.matches(s)),
            Condition::Numeric(range) => match leaf {
                Leaf::Num(token) => token.parse::<f64>().is_ok_and(|x| range.contains(x)),
                _ => false,
            },
            Condition::Cidr(block) => text.is_some_and(|s| block.contains(s)),
            Condition::Exists(present) => *present,
            Condition::AnythingBut(excluded) => !excluded.excludes_leaf(leaf),
        }
    }
}

fn as_str(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn numbers_compare_by_written_form() {
        let eq = |a: Value, b: Value| canonical_number(&num(a)) == canonical_number(&num(b));
        assert!(!eq(json!(5), json!(5.0)));
        assert!(!eq(json!(300), json!(3.0e2)));
        assert!(eq(json!(300.0), json!(3.0e2)));
        assert!(eq(json!(7), json!(7)));
        assert!(!eq(json!(9007199254740993u64), json!(9007199254740992u64)));
        assert!(!eq(json!(-1), json!(u64::MAX)));
    }

    #[test]
    fn raw_tokens_canonicalize_like_parsed_numbers() {
        for token in [
            "300",
            "300.0",
            "3.0e2",
            "3E2",
            "-0",
            "-0.0",
            "18446744073709551616",
            "1.5e-7",
            "0.1",
        ] {
            let parsed: Number = serde_json::from_str(token).expect("number");
            assert_eq!(
                canonical_number_token(token),
                Some(canonical_number(&parsed)),
                "{token}"
            );
        }
        assert_eq!(canonical_number_token("abc"), None);
    }

    #[test]
    fn literal_types_do_not_mix() {
        assert!(!Literal::String("5".into()).matches(&json!(5)));
        assert!(!Literal::Number("5".into()).matches(&json!("5")));
        assert!(Literal::Number("5".into()).matches(&json!(5)));
        assert!(!Literal::Number("5".into()).matches(&json!(5.0)));
        assert!(!Literal::Null.matches(&json!("")));
        assert!(!Literal::String(String::new()).matches(&Value::Null));
        assert!(!Literal::Bool(true).matches(&json!("true")));
        assert!(Literal::Bool(false).matches(&json!(false)));
    }

    #[test]
    fn case_folding() {
        assert_eq!(fold_case("EventBridge"), "eventbridge");
        assert_eq!(fold_case("STRASSE"), fold_case("straße"));
        assert_eq!(fold_case("ΟΔΟΣ"), fold_case("οδος"));
    }

    #[test]
    fn numeric_range_bounds() {
        let range = NumericRange {
            lower: Some(Bound {
                limit: 0.0,
                inclusive: false,
            }),
            upper: Some(Bound {
                limit: 5.0,
                inclusive: true,
            }),
        };
        assert!(!range.contains(0.0));
        assert!(range.contains(0.000001));
        assert!(range.contains(5.0));
        assert!(!range.contains(5.000001));
    }
}
