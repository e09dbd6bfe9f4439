//! Compiled match conditions: the internal form of one entry of a leaf array.

use serde_json::{Number, Value};

use crate::cidr::CidrBlock;
use crate::wildcard::Wildcard;

/// A literal value from a pattern, matched by equality.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

impl Literal {
    /// Type-aware equality: a string never equals a number, and `null` only equals `null`.
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Literal::String(a), Value::String(b)) => a == b,
            (Literal::Number(a), Value::Number(b)) => numbers_equal(a, b),
            (Literal::Bool(a), Value::Bool(b)) => a == b,
            (Literal::Null, Value::Null) => true,
            _ => false,
        }
    }
}

/// Numbers compare by value so that `5`, `5.0` and `5e0` are equal. Integers compare exactly
/// first, because going through `f64` would merge distinct integers above 2^53.
pub(crate) fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
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
    fn contains(&self, x: f64) -> bool {
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
    fn numbers_compare_by_value() {
        assert!(numbers_equal(&num(json!(5)), &num(json!(5.0))));
        assert!(numbers_equal(&num(json!(300)), &num(json!(3.0e2))));
        assert!(numbers_equal(&num(json!(-0.0)), &num(json!(0))));
        assert!(!numbers_equal(
            &num(json!(9007199254740993u64)),
            &num(json!(9007199254740992u64))
        ));
        assert!(!numbers_equal(&num(json!(-1)), &num(json!(u64::MAX))));
    }

    #[test]
    fn literal_types_do_not_mix() {
        assert!(!Literal::String("5".into()).matches(&json!(5)));
        assert!(!Literal::Number(num(json!(5))).matches(&json!("5")));
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
