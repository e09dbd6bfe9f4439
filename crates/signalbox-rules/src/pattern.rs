//! One compiled pattern and how it matches an event.

use serde_json::Value;

use crate::condition::Condition;
use crate::error::PatternError;
use crate::event::any_leaf;
use crate::parse;

/// One compiled event pattern.
///
/// Internally a pattern is a disjunction of conjunctions: `$or` is expanded at compile time into
/// alternatives, and each alternative is a list of field paths, each with its ORed conditions.
/// That flat shape is what an index-based engine wants to consume later.
///
/// Array consistency (AWS event-ruler's `rulesForJSONEvent`): an alternative matches when every
/// field finds a matching leaf and the chosen leaves are pairwise consistent, i.e. no array holds
/// two of them inside objects in different elements (nested arrays included). A field that is
/// absent and allowed to be (`exists: false`) chooses nothing and constrains nothing.
///
/// Choices made where the AWS documentation does not say, or where signalbox departs from it
/// (`docs/rules.md` has the user-facing list):
/// - A scalar that is itself an array element (`"tags": ["a", "b"]`) is not "within an object"
///   of that array, so that array constrains nothing: event-ruler's README states the rule for
///   fields within objects only.
/// - `exists: false` holds when the field has no leaf anywhere in the event, not per array
///   element; a field present in some element is present.
/// - Literal numbers (and `anything-but` numbers) compare by written form, as the EventBridge
///   guide states: `300` does not match `300.0`; use `numeric` to compare values. Patterns
///   arrive parsed, so the form is `serde_json`'s: integers as written, anything with a fraction
///   or exponent as its shortest double text; hence `300.0` and `3.0e2` are equal here while
///   AWS says they differ. The rule lives in one function, `canonical_number`.
/// - `exists: true` matches a field whose value is `null` (it is a leaf, only its value is null);
///   a field holding an object or an empty array does not exist as far as `exists` is concerned.
/// - `anything-but` matches any leaf value it does not exclude, of any type: `null`, `true` and
///   numbers pass `{"anything-but": "x"}`, and numbers pass `{"anything-but": {"prefix": "x"}}`.
///   An absent field never matches `anything-but`.
/// - `numeric` uses IEEE-754 doubles and does not enforce AWS's ±1e9 / six-decimals limits.
/// - Ignore-case comparisons fold case per character (upper-case then lower-case), close to
///   Unicode full case folding; there is no normalization (NFC/NFD forms differ).
/// - An empty leaf array, an empty nested object and a `$or` with fewer than two alternatives are
///   refused rather than given a meaning.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub(crate) alternatives: Vec<Vec<FieldMatch>>,
}

/// The conditions on one field path of the event; they match when any of them accepts any leaf
/// value found at the path.
#[derive(Debug, Clone)]
pub(crate) struct FieldMatch {
    pub(crate) path: Vec<String>,
    pub(crate) conditions: Vec<Condition>,
    /// Precomputed: whether the field may be absent (`exists: false` is among the conditions).
    pub(crate) matches_absent: bool,
}

impl FieldMatch {
    pub(crate) fn new(path: Vec<String>, conditions: Vec<Condition>) -> FieldMatch {
        let matches_absent = conditions.contains(&Condition::Exists(false));
        FieldMatch {
            path,
            conditions,
            matches_absent,
        }
    }

    /// Whether the event has any leaf at this field's path.
    fn present(&self, event: &Value) -> bool {
        any_leaf(event, &self.path, &mut |_| true)
    }

    fn accepts(&self, leaf: &Value) -> bool {
        self.conditions.iter().any(|c| c.matches(leaf))
    }
}

/// Whether `fields` (each with the rest of its path below `value`) can all find a matching leaf
/// in `value` with no two of them inside objects in different elements of one array.
///
/// Fields under different keys of an object lie in different subtrees, which share no array: they
/// are checked independently. At an array, a field whose path ends here takes scalar elements
/// (through nested arrays too), which are within no object of the array: it is free. Every other
/// field must go through an object inside an element, so all of them must be found within one
/// and the same element.
fn satisfied(value: &Value, fields: &[(&[String], &FieldMatch)]) -> bool {
    if fields.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) => {
            let (ends, goes_on): (Vec<_>, Vec<_>) = fields
                .iter()
                .copied()
                .partition(|(rest, _)| rest.is_empty());
            ends.iter()
                .all(|(_, field)| any_leaf(value, &[], &mut |leaf| field.accepts(leaf)))
                && (goes_on.is_empty() || items.iter().any(|item| satisfied(item, &goes_on)))
        }
        Value::Object(map) => {
            let mut heads: Vec<&String> = Vec::new();
            for (rest, _) in fields {
                match rest.first() {
                    // An object is not a leaf.
                    None => return false,
                    Some(head) if !heads.contains(&head) => heads.push(head),
                    Some(_) => {}
                }
            }
            heads.into_iter().all(|head| {
                let below: Vec<(&[String], &FieldMatch)> = fields
                    .iter()
                    .filter(|(rest, _)| rest.first() == Some(head))
                    .map(|(rest, field)| (&rest[1..], *field))
                    .collect();
                map.get(head.as_str())
                    .is_some_and(|child| satisfied(child, &below))
            })
        }
        scalar => fields
            .iter()
            .all(|(rest, field)| rest.is_empty() && field.accepts(scalar)),
    }
}

impl Pattern {
    /// Compiles a pattern that belongs to no named rule; errors carry an empty rule name.
    pub fn compile(pattern: &Value) -> Result<Pattern, PatternError> {
        Pattern::compile_named("", pattern)
    }

    /// Compiles the pattern of rule `rule`, so that an error names the rule it came from.
    pub fn compile_named(rule: &str, pattern: &Value) -> Result<Pattern, PatternError> {
        let alternatives =
            parse::compile_pattern(pattern).map_err(|(path, reason)| PatternError {
                rule: rule.to_owned(),
                path,
                reason,
            })?;
        Ok(Pattern { alternatives })
    }

    /// Whether `event` matches: some alternative has every field matching, with the leaves that
    /// match consistent with each other (no two inside objects in different elements of one
    /// array; see [`Pattern`]).
    pub fn matches(&self, event: &Value) -> bool {
        self.alternatives.iter().any(|fields| {
            // A field with no leaf at all is either allowed to be absent or fails the
            // alternative; the others must match, consistently.
            let mut present = Vec::with_capacity(fields.len());
            for field in fields {
                if field.present(event) {
                    present.push((field.path.as_slice(), field));
                } else if !field.matches_absent {
                    return false;
                }
            }
            satisfied(event, &present)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: Value, event: Value) -> bool {
        match Pattern::compile(&pattern) {
            Ok(p) => p.matches(&event),
            Err(e) => panic!("{pattern} should compile: {e}"),
        }
    }

    #[test]
    fn empty_pattern_matches_everything() {
        assert!(matches(json!({}), json!({})));
        assert!(matches(json!({}), json!({"a": 1})));
        assert!(matches(json!({}), json!([1, 2])));
    }

    #[test]
    fn literals() {
        let event = json!({"s": "x", "n": 5, "f": 5.5, "t": true, "z": null, "e": ""});
        assert!(matches(json!({"s": ["y", "x"]}), event.clone()));
        assert!(!matches(json!({"s": ["X"]}), event.clone()));
        // Numbers compare by written form, as EventBridge does: 5 is not 5.0.
        assert!(matches(json!({"n": [5]}), event.clone()));
        assert!(!matches(json!({"n": [5.0]}), event.clone()));
        assert!(!matches(json!({"n": [5e0]}), event.clone()));
        assert!(!matches(json!({"n": ["5"]}), event.clone()));
        assert!(!matches(json!({"s": [5]}), json!({"s": "5"})));
        assert!(matches(json!({"f": [5.5]}), event.clone()));
        assert!(matches(json!({"t": [true]}), event.clone()));
        assert!(!matches(json!({"t": ["true"]}), event.clone()));
        assert!(matches(json!({"z": [null]}), event.clone()));
        assert!(!matches(json!({"missing": [null]}), event.clone()));
        assert!(!matches(json!({"e": [null]}), event.clone()));
        assert!(matches(json!({"e": [""]}), event.clone()));
        assert!(!matches(json!({"z": [""]}), event));
    }

    #[test]
    fn fields_are_anded_and_nested() {
        let event = json!({"source": "aws.ec2", "detail": {"state": "running"}});
        assert!(matches(
            json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}),
            event.clone()
        ));
        assert!(!matches(json!({"detail": {"other": ["x"]}}), event.clone()));
        // The pattern's nesting must be the event's nesting.
        assert!(!matches(json!({"state": ["running"]}), event));
    }

    #[test]
    fn arrays_in_events() {
        let event = json!({"resources": ["a", "b"], "items": [{"id": 1}, {"id": 2}], "deep": [[{"x": "y"}]]});
        assert!(matches(json!({"resources": ["b", "c"]}), event.clone()));
        assert!(!matches(json!({"resources": ["c"]}), event.clone()));
        assert!(matches(json!({"items": {"id": [2]}}), event.clone()));
        assert!(!matches(json!({"items": {"id": [3]}}), event.clone()));
        assert!(matches(json!({"deep": {"x": ["y"]}}), event));
    }

    #[test]
    fn fields_match_inside_one_array_element() {
        let event = json!({"e": [
            {"first": "Anna", "last": "Smith", "tags": ["x", "y"]},
            {"first": "Peter", "last": "Jones", "tags": ["z"]}
        ], "top": 1});
        assert!(matches(
            json!({"e": {"first": ["Anna"], "last": ["Smith"]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"e": {"first": ["Anna"], "last": ["Jones"]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"e": {"first": ["Anna"], "tags": ["y"]}, "top": [1]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"e": {"first": ["Anna"], "tags": ["z"]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"e": {"last": ["Jones"], "first": [{"anything-but": "Peter"}]}}),
            event.clone()
        ));
        // Nested arrays: the inner elements must agree too.
        let nested = json!({"a": [[{"b": 1}, {"c": 2}], [{"b": 3, "c": 4}]]});
        assert!(!matches(json!({"a": {"b": [1], "c": [2]}}), nested.clone()));
        assert!(matches(json!({"a": {"b": [3], "c": [4]}}), nested));
        // Polynomial: 200 outer elements with 200 inner ones each, never consistent.
        let inner: Vec<Value> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    json!({"y": 1})
                } else {
                    json!({"z": 1})
                }
            })
            .collect();
        let outer: Vec<Value> = (0..200).map(|_| json!({"x": 1, "b": inner})).collect();
        assert!(!matches(
            json!({"a": {"x": [1], "b": {"y": [1], "z": [1]}}}),
            json!({"a": outer})
        ));
    }

    #[test]
    fn prefix_suffix_and_ignore_case() {
        let event = json!({"time": "2017-10-02T18:43:48Z", "file": "photo.PNG", "n": 2017});
        assert!(matches(
            json!({"time": [{"prefix": "2017-10-02"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"time": [{"prefix": "2017-10-03"}]}),
            event.clone()
        ));
        assert!(matches(json!({"time": [{"prefix": ""}]}), event.clone()));
        assert!(!matches(json!({"n": [{"prefix": "20"}]}), event.clone()));
        assert!(!matches(
            json!({"file": [{"suffix": ".png"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"file": [{"suffix": ".PNG"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"file": [{"suffix": {"equals-ignore-case": ".png"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"file": [{"prefix": {"equals-ignore-case": "PHOTO"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"file": [{"equals-ignore-case": "Photo.png"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"file": [{"equals-ignore-case": "photo"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"n": [{"equals-ignore-case": "2017"}]}),
            event
        ));
    }

    #[test]
    fn exists() {
        let event = json!({"d": {"v": 1, "z": null, "o": {"x": 1}, "e": [], "a": [1]}});
        assert!(matches(
            json!({"d": {"v": [{"exists": true}]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"d": {"v": [{"exists": false}]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"d": {"z": [{"exists": true}]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"d": {"missing": [{"exists": false}]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"d": {"missing": [{"exists": true}]}}),
            event.clone()
        ));
        // Only leaves exist: an object or an empty array does not.
        assert!(matches(
            json!({"d": {"o": [{"exists": false}]}}),
            event.clone()
        ));
        assert!(!matches(
            json!({"d": {"o": [{"exists": true}]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"d": {"e": [{"exists": false}]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"d": {"a": [{"exists": true}]}}),
            event.clone()
        ));
        // ORed with a value: absent or equal.
        assert!(matches(
            json!({"d": {"missing": ["x", {"exists": false}]}}),
            event.clone()
        ));
        assert!(matches(
            json!({"d": {"v": [1, {"exists": false}]}}),
            event.clone()
        ));
        assert!(!matches(json!({"d": {"v": [2, {"exists": false}]}}), event));
    }

    #[test]
    fn anything_but() {
        let event = json!({"state": "running", "n": 200, "list": ["a", "b"], "z": null});
        assert!(matches(
            json!({"state": [{"anything-but": "stopped"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": "running"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": ["running", "stopped"]}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"n": [{"anything-but": [100, 200]}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"n": [{"anything-but": [100, 200.0]}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"n": [{"anything-but": [100, 300]}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"n": [{"anything-but": "200"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"missing": [{"anything-but": "x"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"list": [{"anything-but": "a"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"list": [{"anything-but": ["a", "b"]}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"z": [{"anything-but": "x"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": {"prefix": "run"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"state": [{"anything-but": {"prefix": ["stop", "init"]}}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": {"suffix": "ing"}}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": {"equals-ignore-case": "RUNNING"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"state": [{"anything-but": {"equals-ignore-case": ["STOPPED"]}}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"state": [{"anything-but": {"wildcard": "r*g"}}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"n": [{"anything-but": {"prefix": "2"}}]}),
            event
        ));
    }

    #[test]
    fn numeric() {
        let m = |range: Value, value: Value| {
            matches(json!({"n": [{"numeric": range}]}), json!({"n": value}))
        };
        assert!(m(json!([">", 0, "<=", 5]), json!(5)));
        assert!(!m(json!([">", 0, "<=", 5]), json!(0)));
        assert!(m(json!([">", 0, "<=", 5]), json!(0.5)));
        assert!(!m(json!([">", 0, "<=", 5]), json!("3")));
        assert!(m(json!(["<", 10]), json!(-1e9)));
        assert!(m(json!(["=", 3.018e2]), json!(301.8)));
        assert!(m(json!(["=", 300]), json!(3.0e2)));
        assert!(m(json!([">=", 1, "<", 2]), json!(1)));
        assert!(!m(json!([">=", 1, "<", 2]), json!(2)));
        assert!(m(json!([">", 1]), json!([0, 2])));
        assert!(!m(json!([">", 1]), Value::Null));
    }

    #[test]
    fn wildcard_and_cidr() {
        let event = json!({"path": "dir/a.png", "ip": "10.0.0.33", "ip6": "2001:db8::7"});
        assert!(matches(
            json!({"path": [{"wildcard": "dir/*.png"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"path": [{"wildcard": "*.jpg"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
            event.clone()
        ));
        assert!(!matches(
            json!({"ip": [{"cidr": "10.0.1.0/24"}]}),
            event.clone()
        ));
        assert!(matches(
            json!({"ip6": [{"cidr": "2001:db8::/32"}]}),
            event.clone()
        ));
        assert!(!matches(json!({"path": [{"cidr": "0.0.0.0/0"}]}), event));
    }

    #[test]
    fn or_at_any_level() {
        let p = json!({
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
            "detail": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}
        });
        assert!(matches(
            p.clone(),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2", "detail": {"b": "2"}})
        ));
        assert!(!matches(
            p.clone(),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2", "detail": {"c": "2"}})
        ));
        assert!(!matches(
            p,
            json!({"source": "aws.cloudwatch", "other": "x", "detail": {"a": "1"}})
        ));
        let nested = json!({"$or": [
            {"a": ["1"]},
            {"b": ["2"], "$or": [{"c": ["3"]}, {"d": ["4"]}]}
        ]});
        assert!(matches(nested.clone(), json!({"b": "2", "d": "4"})));
        assert!(!matches(nested.clone(), json!({"b": "2"})));
        assert!(matches(nested, json!({"a": "1"})));
    }

    #[test]
    fn unicode_is_compared_by_code_point() {
        // "é" precomposed vs "e" + combining accent: no normalization.
        assert!(!matches(json!({"s": ["\u{e9}"]}), json!({"s": "e\u{301}"})));
        assert!(matches(json!({"s": ["日本"]}), json!({"s": "日本"})));
        assert!(matches(
            json!({"s": [{"equals-ignore-case": "STRASSE"}]}),
            json!({"s": "straße"})
        ));
        assert!(matches(
            json!({"s": [{"prefix": {"equals-ignore-case": "ÉV"}}]}),
            json!({"s": "événement"})
        ));
    }
}
