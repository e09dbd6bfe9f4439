//! Turning a JSON pattern into [`FieldMatch`] alternatives, with a precise error for every way a
//! pattern can be wrong.

use serde_json::{Map, Value};

use crate::cidr::CidrBlock;
use crate::condition::{
    Bound, Condition, Excluded, Literal, NumericRange, canonical_number, fold_case,
};
use crate::pattern::FieldMatch;
use crate::wildcard::Wildcard;

/// `$or` multiplies alternatives; past this many a pattern is almost surely a mistake and would
/// make matching slow, so it is refused instead.
const MAX_ALTERNATIVES: usize = 1024;

/// Distributing `$or` copies every field of one side into each alternative of the other; past
/// this many copied conditions (summed over all alternatives) a pattern is refused, so a few
/// kilobytes of pattern can never become gigabytes of compiled form.
const MAX_EXPANDED_CONDITIONS: usize = 100_000;

/// Patterns nested deeper than this are refused (events rarely nest past a handful of levels).
const MAX_PATTERN_DEPTH: usize = 32;

const OPERATORS: &str =
    "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists";

/// A compile failure before the rule name is attached: (path inside the pattern, reason).
pub(crate) type Failure = (String, String);

type Alternatives = Vec<Vec<FieldMatch>>;

/// Compiles a whole pattern into its alternatives.
pub(crate) fn compile_pattern(pattern: &Value) -> Result<Alternatives, Failure> {
    let Value::Object(object) = pattern else {
        return Err((
            String::new(),
            format!("a pattern must be a JSON object, got {}", kind(pattern)),
        ));
    };
    // `{}` is the one empty object that is allowed: it is how a rule says "every event".
    if object.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let mut at = Location::default();
    compile_object(object, &mut at)
}

/// Where the compiler is: the event field path, and the path as shown in errors (which also
/// names `$or` alternatives).
#[derive(Default)]
struct Location {
    fields: Vec<String>,
    shown: Vec<String>,
}

impl Location {
    fn fail(&self, reason: impl Into<String>) -> Failure {
        (self.shown.join("."), reason.into())
    }

    fn enter(&mut self, field: &str) {
        self.fields.push(field.to_owned());
        self.shown.push(field.to_owned());
    }

    fn leave(&mut self) {
        self.fields.pop();
        self.shown.pop();
    }
}

fn compile_object(object: &Map<String, Value>, at: &mut Location) -> Result<Alternatives, Failure> {
    if at.fields.len() > MAX_PATTERN_DEPTH {
        return Err(at.fail(format!(
            "pattern nests deeper than {MAX_PATTERN_DEPTH} levels"
        )));
    }
    let mut result: Alternatives = vec![Vec::new()];
    for (key, value) in object {
        let sub = if key == "$or" {
            compile_or(value, at)?
        } else {
            at.enter(key);
            let sub = compile_field(value, at);
            at.leave();
            sub?
        };
        result = cross(result, sub).ok_or_else(|| {
            let mut shown = at.shown.clone();
            shown.push(key.clone());
            too_many(&shown)
        })?;
    }
    Ok(result)
}

fn compile_field(value: &Value, at: &mut Location) -> Result<Alternatives, Failure> {
    match value {
        Value::Array(conditions) => {
            let field = FieldMatch::new(at.fields.clone(), compile_leaf(conditions, at)?);
            Ok(vec![vec![field]])
        }
        Value::Object(object) if object.is_empty() => Err(at.fail(
            "an empty object matches nothing specific; remove the field or give it conditions",
        )),
        Value::Object(object) => compile_object(object, at),
        other => Err(at.fail(format!(
            "a leaf must be an array of values, got {}; write [{other}]",
            kind(other)
        ))),
    }
}

fn compile_or(value: &Value, at: &mut Location) -> Result<Alternatives, Failure> {
    const SHAPE: &str = "$or takes an array of at least two pattern objects";
    at.shown.push("$or".to_owned());
    let Value::Array(items) = value else {
        let failure = at.fail(format!("{SHAPE}, got {}", kind(value)));
        at.shown.pop();
        return Err(failure);
    };
    if items.len() < 2 {
        let failure = at.fail(format!("{SHAPE}, got {}", items.len()));
        at.shown.pop();
        return Err(failure);
    }
    at.shown.pop();
    let mut all = Vec::new();
    for (i, item) in items.iter().enumerate() {
        at.shown.push(format!("$or[{i}]"));
        let sub = match item {
            Value::Object(object) if object.is_empty() => {
                Err(at.fail("an $or alternative must not be empty"))
            }
            Value::Object(object) => compile_object(object, at),
            other => Err(at.fail(format!("{SHAPE}, got {} in it", kind(other)))),
        };
        at.shown.pop();
        all.extend(sub?);
        if all.len() > MAX_ALTERNATIVES || size(&all) > MAX_EXPANDED_CONDITIONS {
            let mut shown = at.shown.clone();
            shown.push("$or".to_owned());
            return Err(too_many(&shown));
        }
    }
    Ok(all)
}

/// AND of two ORs: every alternative of `left` joined with every alternative of `right`; `None`
/// when that would exceed [`MAX_ALTERNATIVES`].
fn cross(left: Alternatives, right: Alternatives) -> Option<Alternatives> {
    let copied = left
        .len()
        .saturating_mul(size(&right))
        .saturating_add(right.len().saturating_mul(size(&left)));
    if left.len().saturating_mul(right.len()) > MAX_ALTERNATIVES || copied > MAX_EXPANDED_CONDITIONS
    {
        return None;
    }
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in &left {
        for r in &right {
            let mut joined = l.clone();
            joined.extend(r.iter().cloned());
            out.push(joined);
        }
    }
    Some(out)
}

/// How much compiled form `alternatives` holds: one per field plus one per condition.
fn size(alternatives: &Alternatives) -> usize {
    alternatives
        .iter()
        .flatten()
        .map(|field| 1 + field.conditions.len())
        .sum()
}

fn too_many(shown: &[String]) -> Failure {
    (
        shown.join("."),
        format!(
            "$or expands to more than {MAX_ALTERNATIVES} alternatives or {MAX_EXPANDED_CONDITIONS} conditions; split the rule into several rules"
        ),
    )
}

fn compile_leaf(values: &[Value], at: &Location) -> Result<Vec<Condition>, Failure> {
    if values.is_empty() {
        return Err(at.fail("a leaf array must hold at least one value or operator"));
    }
    values.iter().map(|v| compile_condition(v, at)).collect()
}

fn compile_condition(value: &Value, at: &Location) -> Result<Condition, Failure> {
    match value {
        Value::Object(object) => {
            let mut entries = object.iter();
            match (entries.next(), entries.next()) {
                (Some((name, arg)), None) => compile_operator(name, arg, at),
                _ => Err(at.fail(format!(
                    "an operator object must have exactly one key, got {}; valid operators are {OPERATORS}",
                    object.len()
                ))),
            }
        }
        Value::Array(_) => Err(at.fail(
            "a match condition must be a string, number, boolean, null or operator object, not an array",
        )),
        scalar => Ok(Condition::Equals(literal(scalar))),
    }
}

fn literal(scalar: &Value) -> Literal {
    match scalar {
        Value::String(s) => Literal::String(s.clone()),
        Value::Number(n) => Literal::Number(canonical_number(n)),
        Value::Bool(b) => Literal::Bool(*b),
        // Arrays and objects never reach here; `null` is the remaining case.
        _ => Literal::Null,
    }
}

fn compile_operator(name: &str, arg: &Value, at: &Location) -> Result<Condition, Failure> {
    match name {
        "prefix" => affix(
            name,
            arg,
            at,
            Condition::Prefix,
            Condition::PrefixIgnoreCase,
        ),
        "suffix" => affix(
            name,
            arg,
            at,
            Condition::Suffix,
            Condition::SuffixIgnoreCase,
        ),
        "equals-ignore-case" => match arg {
            Value::String(s) => Ok(Condition::EqualsIgnoreCase(fold_case(s))),
            other => Err(at.fail(format!(
                "equals-ignore-case takes a string, got {}",
                kind(other)
            ))),
        },
        "wildcard" => match arg {
            Value::String(s) => Wildcard::parse(s)
                .map(Condition::Wildcard)
                .map_err(|r| at.fail(r)),
            other => Err(at.fail(format!("wildcard takes a string, got {}", kind(other)))),
        },
        "cidr" => match arg {
            Value::String(s) => CidrBlock::parse(s)
                .map(Condition::Cidr)
                .map_err(|r| at.fail(r)),
            other => Err(at.fail(format!(
                "cidr takes a string like \"10.0.0.0/24\", got {}",
                kind(other)
            ))),
        },
        "exists" => match arg {
            Value::Bool(b) => Ok(Condition::Exists(*b)),
            other => Err(at.fail(format!("exists takes true or false, got {}", kind(other)))),
        },
        "numeric" => compile_numeric(arg, at).map(Condition::Numeric),
        "anything-but" => compile_anything_but(arg, at).map(Condition::AnythingBut),
        other => Err(at.fail(format!(
            "unknown operator {other:?}; valid operators are {OPERATORS}"
        ))),
    }
}

/// `prefix` and `suffix` share a shape: a string, or `{"equals-ignore-case": string}`.
fn affix(
    name: &str,
    arg: &Value,
    at: &Location,
    exact: fn(String) -> Condition,
    ignore_case: fn(String) -> Condition,
) -> Result<Condition, Failure> {
    let shape = format!("{name} takes a string or {{\"equals-ignore-case\": string}}");
    match arg {
        Value::String(s) => Ok(exact(s.clone())),
        Value::Object(object) if object.len() == 1 => match object.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(ignore_case(fold_case(s))),
            Some(other) => Err(at.fail(format!(
                "{shape}, got {} for equals-ignore-case",
                kind(other)
            ))),
            None => {
                let key = object.keys().next().map(String::as_str).unwrap_or_default();
                Err(at.fail(format!(
                    "{shape}, got unknown operator {key:?} inside {name}"
                )))
            }
        },
        other => Err(at.fail(format!("{shape}, got {}", kind(other)))),
    }
}

fn compile_numeric(arg: &Value, at: &Location) -> Result<NumericRange, Failure> {
    const SHAPE: &str = "numeric takes one or two comparisons like [\">\", 0, \"<=\", 5]";
    let Value::Array(items) = arg else {
        return Err(at.fail(format!("{SHAPE}, got {}", kind(arg))));
    };
    if items.is_empty() || items.len() % 2 != 0 {
        return Err(at.fail(format!("{SHAPE}, got {} elements", items.len())));
    }
    if items.len() > 4 {
        return Err(at.fail(format!("{SHAPE}, got {} comparisons", items.len() / 2)));
    }
    let mut range = NumericRange {
        lower: None,
        upper: None,
    };
    for pair in items.chunks(2) {
        let [op, limit] = pair else {
            return Err(at.fail(SHAPE));
        };
        let Value::String(op) = op else {
            return Err(at.fail(format!(
                "numeric operator must be one of =, <, <=, >, >=, got {}",
                kind(op)
            )));
        };
        let limit = match limit {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| at.fail(format!("numeric value {n} is out of range")))?,
            other => {
                return Err(at.fail(format!(
                    "numeric value after {op:?} must be a number, got {}",
                    kind(other)
                )));
            }
        };
        let (is_lower, is_upper, inclusive) = match op.as_str() {
            "=" => (true, true, true),
            ">" => (true, false, false),
            ">=" => (true, false, true),
            "<" => (false, true, false),
            "<=" => (false, true, true),
            other => {
                return Err(at.fail(format!(
                    "numeric operator {other:?} is not one of =, <, <=, >, >="
                )));
            }
        };
        let bound = Some(Bound { limit, inclusive });
        if (is_lower && range.lower.is_some()) || (is_upper && range.upper.is_some()) {
            return Err(at.fail(
                "numeric with two comparisons needs one lower bound (> or >=) and one upper bound (< or <=); = stands alone",
            ));
        }
        if is_lower {
            range.lower = bound;
        }
        if is_upper {
            range.upper = bound;
        }
    }
    if let (Some(lo), Some(hi)) = (range.lower, range.upper) {
        let empty =
            lo.limit > hi.limit || (lo.limit == hi.limit && !(lo.inclusive && hi.inclusive));
        if empty {
            return Err(at.fail(format!(
                "numeric range is empty: the lower bound {} is not below the upper bound {}",
                lo.limit, hi.limit
            )));
        }
    }
    Ok(range)
}

fn compile_anything_but(arg: &Value, at: &Location) -> Result<Excluded, Failure> {
    const SHAPE: &str =
        "anything-but takes a value, a list or one of prefix/suffix/equals-ignore-case/wildcard";
    match arg {
        Value::String(_) | Value::Number(_) => Ok(Excluded::Values(vec![literal(arg)])),
        Value::Array(items) => {
            let all_strings = items.iter().all(Value::is_string);
            let all_numbers = items.iter().all(Value::is_number);
            if items.is_empty() {
                Err(at.fail("anything-but list must not be empty"))
            } else if !(all_strings || all_numbers) {
                Err(at.fail("anything-but list must hold only strings or only numbers"))
            } else {
                Ok(Excluded::Values(items.iter().map(literal).collect()))
            }
        }
        Value::Object(object) if object.len() == 1 => {
            let Some((name, inner)) = object.iter().next() else {
                return Err(at.fail(SHAPE));
            };
            let strings = || nested_strings(name, inner, at);
            let non_empty = |strings: Vec<String>| {
                if strings.iter().any(String::is_empty) {
                    Err(at.fail(format!(
                        "anything-but {name} must not be empty; it would exclude every string"
                    )))
                } else {
                    Ok(strings)
                }
            };
            match name.as_str() {
                "prefix" => Ok(Excluded::Prefixes(non_empty(strings()?)?)),
                "suffix" => Ok(Excluded::Suffixes(non_empty(strings()?)?)),
                "equals-ignore-case" => Ok(Excluded::IgnoreCase(
                    strings()?.iter().map(|s| fold_case(s)).collect(),
                )),
                "wildcard" => strings()?
                    .iter()
                    .map(|s| Wildcard::parse(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Excluded::Wildcards)
                    .map_err(|r| at.fail(r)),
                other => Err(at.fail(format!("{SHAPE}; got unknown operator {other:?}"))),
            }
        }
        _ => Err(at.fail(SHAPE)),
    }
}

/// The argument of an operator nested in `anything-but`: a string or a non-empty list of them.
fn nested_strings(name: &str, inner: &Value, at: &Location) -> Result<Vec<String>, Failure> {
    let shape = format!("anything-but {name} takes a string or a non-empty list of strings");
    match inner {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(at.fail(format!("{shape}, got {} in the list", kind(other)))),
            })
            .collect(),
        other => Err(at.fail(format!("{shape}, got {}", kind(other)))),
    }
}

/// A short description of a JSON value's type for error messages.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) if a.is_empty() => "an empty array".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Pattern, PatternError};
    use serde_json::{Value, json};

    fn error(pattern: Value) -> PatternError {
        match Pattern::compile_named("r", &pattern) {
            Ok(p) => panic!("expected an error for {pattern}, compiled to {p:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error sits at `path` and its reason contains `reason`.
    fn assert_error(pattern: Value, path: &str, reason: &str) {
        let e = error(pattern.clone());
        assert_eq!(e.path, path, "path for {pattern}: {e}");
        assert!(
            e.reason.contains(reason),
            "reason for {pattern}: {e:?} lacks {reason:?}"
        );
        assert!(!e.reason.ends_with('.'), "no trailing punctuation: {e}");
    }

    #[test]
    fn pattern_must_be_an_object() {
        assert_error(
            json!([1]),
            "",
            "a pattern must be a JSON object, got an array",
        );
        assert_error(json!("x"), "", "a pattern must be a JSON object");
        assert_error(Value::Null, "", "a pattern must be a JSON object");
        assert_eq!(
            error(json!(1)).to_string(),
            "rules.r.pattern: a pattern must be a JSON object, got number 1"
        );
    }

    #[test]
    fn leaves_must_be_non_empty_arrays() {
        assert_error(
            json!({"source": "aws.ec2"}),
            "source",
            "a leaf must be an array of values",
        );
        assert_error(
            json!({"detail": {"n": 5}}),
            "detail.n",
            "a leaf must be an array of values",
        );
        assert_error(
            json!({"detail": {"n": null}}),
            "detail.n",
            "a leaf must be an array of values",
        );
        assert_error(
            json!({"source": []}),
            "source",
            "at least one value or operator",
        );
        assert_error(json!({"detail": {}}), "detail", "an empty object");
        assert_error(json!({"source": [["x"]]}), "source", "not an array");
    }

    #[test]
    fn operator_objects() {
        assert_error(
            json!({"detail": {"lastStatus": [{"regex": "x"}]}}),
            "detail.lastStatus",
            "unknown operator \"regex\"; valid operators are prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists",
        );
        assert_error(json!({"a": [{}]}), "a", "exactly one key, got 0");
        assert_error(
            json!({"a": [{"prefix": "x", "suffix": "y"}]}),
            "a",
            "exactly one key, got 2",
        );
    }

    #[test]
    fn prefix_and_suffix_arguments() {
        assert_error(json!({"a": [{"prefix": 5}]}), "a", "prefix takes a string");
        assert_error(
            json!({"a": [{"prefix": ["x"]}]}),
            "a",
            "prefix takes a string",
        );
        assert_error(
            json!({"a": [{"suffix": null}]}),
            "a",
            "suffix takes a string",
        );
        assert_error(
            json!({"a": [{"prefix": {"equals-ignore-case": 1}}]}),
            "a",
            "got number 1 for equals-ignore-case",
        );
        assert_error(
            json!({"a": [{"suffix": {"wildcard": "x"}}]}),
            "a",
            "unknown operator \"wildcard\" inside suffix",
        );
        assert_error(
            json!({"a": [{"equals-ignore-case": ["x"]}]}),
            "a",
            "equals-ignore-case takes a string",
        );
    }

    #[test]
    fn exists_wildcard_cidr_arguments() {
        assert_error(
            json!({"a": [{"exists": "true"}]}),
            "a",
            "exists takes true or false",
        );
        assert_error(
            json!({"a": [{"exists": 1}]}),
            "a",
            "exists takes true or false",
        );
        assert_error(
            json!({"a": [{"wildcard": 1}]}),
            "a",
            "wildcard takes a string",
        );
        assert_error(
            json!({"a": [{"wildcard": "a**"}]}),
            "a",
            "consecutive wildcard characters",
        );
        assert_error(json!({"a": [{"wildcard": "a\\b"}]}), "a", "invalid escape");
        assert_error(json!({"a": [{"cidr": 10}]}), "a", "cidr takes a string");
        assert_error(
            json!({"a": [{"cidr": "10.0.0.0"}]}),
            "a",
            "not an address block",
        );
        assert_error(
            json!({"a": [{"cidr": "10.0.0.0/40"}]}),
            "a",
            "prefix length above 32",
        );
    }

    #[test]
    fn numeric_arguments() {
        let at = |arg: Value, reason: &str| {
            assert_error(json!({"d": {"n": [{"numeric": arg}]}}), "d.n", reason)
        };
        at(json!(5), "numeric takes one or two comparisons");
        at(json!([]), "got 0 elements");
        at(json!([">"]), "got 1 elements");
        at(json!([">", 0, "<"]), "got 3 elements");
        at(json!([">", 0, "<", 5, "<", 6]), "got 3 comparisons");
        at(
            json!(["!=", 1]),
            "numeric operator \"!=\" is not one of =, <, <=, >, >=",
        );
        at(json!([1, ">"]), "numeric operator must be one of");
        at(
            json!([">", "5"]),
            "numeric value after \">\" must be a number, got string \"5\"",
        );
        at(json!([">", 1, ">=", 2]), "one lower bound");
        at(json!(["<", 1, "<=", 2]), "one lower bound");
        at(json!(["=", 1, "<", 2]), "= stands alone");
        at(json!([">", 5, "<", 1]), "numeric range is empty");
        at(json!([">", 5, "<=", 5]), "numeric range is empty");
    }

    #[test]
    fn numeric_accepts_valid_ranges() {
        for arg in [
            json!([">", 0, "<=", 5]),
            json!(["<", 10]),
            json!(["=", 3.018e2]),
            json!(["<=", 5, ">", 0]),
            json!([">=", 5, "<=", 5]),
        ] {
            assert!(
                Pattern::compile(&json!({"n": [{"numeric": arg}]})).is_ok(),
                "{arg}"
            );
        }
    }

    #[test]
    fn anything_but_arguments() {
        let shape = "anything-but takes a value, a list or one of prefix/suffix/equals-ignore-case/wildcard";
        assert_eq!(
            error(json!({"detail": {"lastStatus": [{"anything-but": true}]}})).to_string(),
            format!("rules.r.pattern.detail.lastStatus: {shape}")
        );
        assert_error(json!({"a": [{"anything-but": null}]}), "a", shape);
        assert_error(json!({"a": [{"anything-but": {}}]}), "a", shape);
        assert_error(
            json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}),
            "a",
            "unknown operator \"numeric\"",
        );
        assert_error(
            json!({"a": [{"anything-but": ["x", 1]}]}),
            "a",
            "only strings or only numbers",
        );
        assert_error(
            json!({"a": [{"anything-but": [null]}]}),
            "a",
            "only strings or only numbers",
        );
        assert_error(
            json!({"a": [{"anything-but": []}]}),
            "a",
            "must not be empty",
        );
        assert_error(
            json!({"a": [{"anything-but": {"prefix": 1}}]}),
            "a",
            "anything-but prefix takes a string",
        );
        assert_error(
            json!({"a": [{"anything-but": {"prefix": []}}]}),
            "a",
            "non-empty list of strings",
        );
        assert_error(
            json!({"a": [{"anything-but": {"prefix": ""}}]}),
            "a",
            "must not be empty",
        );
        assert_error(
            json!({"a": [{"anything-but": {"suffix": ["x", ""]}}]}),
            "a",
            "must not be empty",
        );
        assert_error(
            json!({"a": [{"anything-but": {"equals-ignore-case": [1]}}]}),
            "a",
            "got number 1 in the list",
        );
        assert_error(
            json!({"a": [{"anything-but": {"wildcard": "**"}}]}),
            "a",
            "consecutive wildcard",
        );
    }

    #[test]
    fn or_shape() {
        assert_error(
            json!({"$or": {"a": ["x"]}}),
            "$or",
            "$or takes an array of at least two pattern objects",
        );
        assert_error(json!({"$or": [{"a": ["x"]}]}), "$or", "got 1");
        assert_error(
            json!({"$or": [{"a": ["x"]}, {}]}),
            "$or[1]",
            "must not be empty",
        );
        assert_error(
            json!({"$or": [{"a": ["x"]}, ["b"]]}),
            "$or[1]",
            "got an array in it",
        );
        assert_error(
            json!({"d": {"$or": [{"a": ["x"]}, {"b": "y"}]}}),
            "d.$or[1].b",
            "a leaf must be an array",
        );
    }

    #[test]
    fn or_expansion_is_bounded() {
        let or = json!({"$or": [{"a": ["1"]}, {"b": ["2"]}, {"c": ["3"]}, {"d": ["4"]}]});
        let mut pattern = serde_json::Map::new();
        for i in 0..6 {
            pattern.insert(format!("f{i}"), or.clone());
        }
        // 4^6 = 4096 alternatives.
        assert_error(Value::Object(pattern), "f5", "more than 1024 alternatives");
    }

    #[test]
    fn or_expansion_of_large_leaves_is_bounded() {
        // 32 alternatives, each copying a 10,000-value leaf: 320,000 conditions.
        let values: Vec<Value> = (0..10_000).map(|i| json!(format!("v{i}"))).collect();
        let alternatives: Vec<Value> = (0..32).map(|i| json!({format!("k{i}"): ["x"]})).collect();
        let pattern = json!({"big": values, "$or": alternatives});
        let e = error(pattern);
        assert!(e.reason.contains("100000 conditions"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut pattern = json!({"leaf": ["x"]});
        for _ in 0..40 {
            pattern = json!({ "n": pattern });
        }
        let e = error(pattern);
        assert!(e.reason.contains("deeper than 32 levels"), "{e}");
    }

    #[test]
    fn compile_uses_an_empty_rule_name() {
        let e = Pattern::compile(&json!({"a": 1})).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("rules..pattern.a: a leaf must be an array of values, got number 1; write [1]")
        );
    }
}
