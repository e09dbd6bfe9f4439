//! The index-based engine against the reference interpreter (`Pattern::matches`, one pattern
//! at a time over a parsed `Value`), on random patterns using every operator and random events
//! written as JSON text with varied number spellings and string escapes.

use proptest::prelude::*;
use serde_json::{Value, json};
use signalbox_rules::{Pattern, compile};

/// A JSON event as text, so that number tokens keep their spelling (`3.0e2`, `-0`) and strings
/// may be written with `\u` escapes.
#[derive(Debug, Clone)]
enum Json {
    Num(&'static str),
    Str(String),
    Bool(bool),
    Null,
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn render(&self, escape_all: bool, out: &mut String) {
        match self {
            Json::Num(token) => out.push_str(token),
            Json::Str(s) => render_string(s, escape_all, out),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Null => out.push_str("null"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render(escape_all, out);
                }
                out.push(']');
            }
            Json::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render_string(k, escape_all, out);
                    out.push(':');
                    v.render(escape_all, out);
                }
                out.push('}');
            }
        }
    }
}

fn render_string(s: &str, escape_all: bool, out: &mut String) {
    if !escape_all {
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
        return;
    }
    out.push('"');
    let mut units = [0u16; 2];
    for c in s.chars() {
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
    out.push('"');
}

const NUMBERS: &[&str] = &[
    "0", "-0", "1", "1.0", "1e0", "10", "1e1", "2.5", "25e-1", "-3", "300", "3.0e2", "300.0",
    "0.1", "-0.0", "1E2",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("é")].prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-cA-C]{0,3}",
        1 => prop_oneof![
            Just("10.0.0.1"), Just("10.0.1.5"), Just("::1"), Just("2001:db8::7"),
            Just("éx"), Just("ß"), Just("SS"), Just("a*b"), Just("😀a"),
        ]
        .prop_map(str::to_owned),
    ]
}

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => text().prop_map(Json::Str),
        2 => prop::sample::select(NUMBERS).prop_map(Json::Num),
        1 => any::<bool>().prop_map(Json::Bool),
        1 => Just(Json::Null),
    ]
}

/// A scalar from a tiny set, so that several fields of one pattern often match inside one array
/// element (and often in different elements).
fn small_scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        2 => prop_oneof![Just("a"), Just("b")].prop_map(|s| Json::Str(s.to_owned())),
        2 => prop_oneof![Just("1"), Just("2")].prop_map(Json::Num),
        1 => scalar(),
    ]
}

/// Arrays of records for the array-consistency rule: 1–3 objects with 1–3 fields each, whose
/// values may be scalars, arrays of scalars, or arrays of smaller records (nested arrays of
/// objects), sometimes wrapped in one more array level.
fn records() -> impl Strategy<Value = Json> {
    let record = |inner: BoxedStrategy<Json>| {
        prop::collection::btree_map(key(), inner, 1..4)
            .prop_map(|m| Json::Obj(m.into_iter().collect()))
            .boxed()
    };
    let flat = record(
        prop_oneof![
            4 => small_scalar(),
            1 => prop::collection::vec(small_scalar(), 0..3).prop_map(Json::Arr),
        ]
        .boxed(),
    );
    let nested = record(
        prop_oneof![
            3 => small_scalar(),
            1 => prop::collection::vec(small_scalar(), 0..3).prop_map(Json::Arr),
            2 => prop::collection::vec(flat.clone(), 1..3).prop_map(Json::Arr),
        ]
        .boxed(),
    );
    let list = prop::collection::vec(nested, 1..4)
        .prop_map(Json::Arr)
        .boxed();
    prop_oneof![
        4 => list.clone(),
        1 => prop::collection::vec(list, 1..3).prop_map(Json::Arr),
        1 => prop::collection::vec(prop_oneof![flat, small_scalar()], 1..4).prop_map(Json::Arr),
    ]
}

/// Mostly shallow values, so that random patterns often find what they look for; arrays of
/// objects and nested arrays still appear.
fn json_value() -> impl Strategy<Value = Json> {
    let object = || {
        prop::collection::btree_map(
            key(),
            prop_oneof![
                3 => scalar(),
                1 => prop::collection::vec(scalar(), 0..3).prop_map(Json::Arr),
            ],
            0..4,
        )
        .prop_map(|m| Json::Obj(m.into_iter().collect()))
    };
    prop_oneof![
        5 => scalar(),
        2 => prop::collection::vec(scalar(), 0..4).prop_map(Json::Arr),
        2 => object(),
        1 => prop::collection::vec(prop_oneof![object(), scalar()], 0..3).prop_map(Json::Arr),
        1 => prop::collection::vec(prop::collection::vec(object(), 0..2).prop_map(Json::Arr), 0..2)
            .prop_map(Json::Arr),
        3 => records(),
    ]
}

fn event() -> impl Strategy<Value = Json> {
    prop::collection::btree_map(key(), json_value(), 0..5)
        .prop_map(|m| Json::Obj(m.into_iter().collect()))
}

fn number_literal() -> impl Strategy<Value = Value> {
    prop::sample::select(NUMBERS).prop_map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
}

fn condition() -> impl Strategy<Value = Value> {
    let op = || prop_oneof![Just("="), Just("<"), Just("<="), Just(">"), Just(">=")];
    let short = || "[a-cA-C]{0,2}";
    prop_oneof![
        3 => text().prop_map(Value::String),
        2 => prop_oneof![Just(json!("a")), Just(json!("b")), Just(json!(1)), Just(json!(2))],
        2 => number_literal(),
        1 => prop_oneof![Just(json!(true)), Just(json!(false)), Just(Value::Null)],
        1 => short().prop_map(|s| json!({"prefix": s})),
        1 => short().prop_map(|s| json!({"suffix": s})),
        1 => short().prop_map(|s| json!({"prefix": {"equals-ignore-case": s}})),
        1 => short().prop_map(|s| json!({"suffix": {"equals-ignore-case": s}})),
        1 => prop_oneof![short().boxed(), Just("ss".to_owned()).boxed()]
            .prop_map(|s| json!({"equals-ignore-case": s})),
        1 => any::<bool>().prop_map(|b| json!({"exists": b})),
        1 => text().prop_map(|s| json!({"anything-but": s})),
        1 => number_literal().prop_map(|n| json!({"anything-but": n})),
        1 => prop::collection::vec(number_literal(), 1..3).prop_map(|v| json!({"anything-but": v})),
        1 => prop::collection::vec(text(), 1..3).prop_map(|v| json!({"anything-but": v})),
        1 => "[a-c]{1,2}".prop_map(|s| json!({"anything-but": {"prefix": s}})),
        1 => "[a-c]{1,2}".prop_map(|s| json!({"anything-but": {"suffix": s}})),
        1 => short().prop_map(|s| json!({"anything-but": {"equals-ignore-case": s}})),
        1 => "[a-c]{0,1}\\*[a-c]{0,1}".prop_map(|s| json!({"anything-but": {"wildcard": s}})),
        1 => (op(), -3i64..4).prop_map(|(op, n)| json!({"numeric": [op, n]})),
        1 => (0i64..2, 2i64..4).prop_map(|(lo, hi)| json!({"numeric": [">=", lo, "<", hi]})),
        1 => "[a-c]{0,2}(\\*[a-c]{1,2}){0,2}\\*?".prop_map(|s| json!({"wildcard": s})),
        1 => prop_oneof![
            Just("10.0.0.0/24"), Just("10.0.0.0/8"), Just("::/0"), Just("2001:db8::/32"),
        ]
        .prop_map(|c| json!({"cidr": c})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(condition(), 1..4).prop_map(Value::Array)
}

fn object_of(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), inner, 1..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn pattern_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => leaf(),
        2 => object_of(leaf()),
        1 => prop::collection::vec(object_of(leaf()), 2..4)
            .prop_map(|alternatives| json!({"$or": alternatives})),
        1 => object_of(prop_oneof![
            2 => leaf(),
            1 => prop::collection::vec(object_of(leaf()), 2..3)
                .prop_map(|alternatives| json!({"$or": alternatives})),
        ]),
        // Several fields inside the records of `records()`, one or two levels down.
        2 => prop::collection::btree_map(key(), leaf(), 2..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => object_of(prop_oneof![2 => leaf(), 1 => object_of(leaf())]),
    ]
}

fn pattern() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(json!({})),
        12 => prop::collection::btree_map(key(), pattern_object(), 1..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_agrees_with_reference(
        patterns in prop::collection::vec(pattern(), 1..16),
        events in prop::collection::vec((event(), any::<bool>()), 1..6),
    ) {
        let rules: Vec<(String, Value)> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("rule-{i}"), p.clone()))
            .collect();
        let reference: Vec<Pattern> = patterns
            .iter()
            .map(|p| Pattern::compile(p).map_err(|e| TestCaseError::fail(format!("{p}: {e}"))))
            .collect::<Result<_, _>>()?;
        let engine = compile(&rules).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        for (event, escape_all) in &events {
            let mut text = String::new();
            event.render(*escape_all, &mut text);
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let expected: Vec<usize> = reference
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches(&value))
                .map(|(i, _)| i)
                .collect();
            let mut from_value = Vec::new();
            engine.matching_rules(&value, &mut from_value);
            prop_assert_eq!(&from_value, &expected, "Value path, event {}", text);
            let mut from_bytes = Vec::new();
            engine
                .matching_rules_json(text.as_bytes(), &mut from_bytes)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&from_bytes, &expected, "byte path, event {}", text);
        }
    }

    #[test]
    fn mangled_bytes_never_panic(
        patterns in prop::collection::vec(pattern(), 1..6),
        event in event(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let rules: Vec<(String, Value)> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("rule-{i}"), p.clone()))
            .collect();
        let engine = compile(&rules).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let mut text = String::new();
        event.render(false, &mut text);
        let mut bytes = text.into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let mut out = Vec::new();
        let ours = engine.matching_rules_json(&bytes, &mut out);
        if serde_json::from_slice::<Value>(&bytes).is_ok() {
            prop_assert!(ours.is_ok(), "serde_json accepts {:?}, we said {:?}", String::from_utf8_lossy(&bytes), ours);
        } else if ours.is_err() {
            prop_assert!(out.is_empty());
        }
    }
}
