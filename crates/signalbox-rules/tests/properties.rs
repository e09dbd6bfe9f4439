//! Property tests: the set matcher agrees with single patterns, and a pattern made from an
//! event's own values matches that event.

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};
use signalbox_rules::{Pattern, compile};

/// Field names are drawn from a tiny set so that random patterns and events overlap often.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")].prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-cA-C]{0,2}".prop_map(Value::String),
        (-3i64..4).prop_map(Value::from),
        // Halves round-trip exactly through f64 and overlap with the integers.
        (-6i64..8)
            .prop_map(|n| Number::from_f64(n as f64 / 2.0).map_or(Value::Null, Value::Number)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), event_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn condition() -> impl Strategy<Value = Value> {
    let op = prop_oneof![Just("="), Just("<"), Just("<="), Just(">"), Just(">=")];
    prop_oneof![
        4 => scalar(),
        1 => "[a-c]{0,1}".prop_map(|s| json!({"prefix": s})),
        1 => "[a-c]{0,1}".prop_map(|s| json!({"suffix": s})),
        1 => "[a-cA-C]{0,2}".prop_map(|s| json!({"prefix": {"equals-ignore-case": s}})),
        1 => "[a-cA-C]{0,2}".prop_map(|s| json!({"equals-ignore-case": s})),
        1 => any::<bool>().prop_map(|b| json!({"exists": b})),
        1 => "[a-c]{0,2}".prop_map(|s| json!({"anything-but": s})),
        1 => prop::collection::vec(-3i64..4, 1..3).prop_map(|v| json!({"anything-but": v})),
        1 => "[a-c]{1,2}".prop_map(|s| json!({"anything-but": {"prefix": s}})),
        1 => (op, -3i64..4).prop_map(|(op, n)| json!({"numeric": [op, n]})),
        1 => "[a-c]{0,2}(\\*[a-c]{1,2}){0,2}\\*?".prop_map(|s| json!({"wildcard": s})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(condition(), 1..4).prop_map(Value::Array)
}

fn pattern_object() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 16, 3, |inner| {
        prop_oneof![
            3 => prop::collection::btree_map(key(), inner.clone(), 1..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => prop::collection::vec(
                prop::collection::btree_map(key(), inner, 1..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                2..4,
            )
            .prop_map(|alternatives| json!({"$or": alternatives})),
        ]
    })
}

fn pattern() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(json!({})),
        8 => prop::collection::btree_map(key(), pattern_object(), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// Every scalar reachable inside an array, through nested arrays (as the matcher flattens them).
fn array_scalars(items: &[Value], out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(inner) => array_scalars(inner, out),
            Value::Object(_) => {}
            scalar => out.push(scalar.clone()),
        }
    }
}

/// A pattern that requires exactly the event's own values; `None` when nothing is left to match.
fn exact_pattern(object: &Map<String, Value>) -> Option<Value> {
    let mut pattern = Map::new();
    for (k, v) in object {
        match v {
            Value::Object(inner) => {
                if let Some(p) = exact_pattern(inner) {
                    pattern.insert(k.clone(), p);
                }
            }
            Value::Array(items) => {
                let mut scalars = Vec::new();
                array_scalars(items, &mut scalars);
                if !scalars.is_empty() {
                    pattern.insert(k.clone(), Value::Array(scalars));
                }
            }
            scalar => {
                pattern.insert(k.clone(), Value::Array(vec![scalar.clone()]));
            }
        }
    }
    (!pattern.is_empty()).then_some(Value::Object(pattern))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matcher_agrees_with_single_patterns(
        patterns in prop::collection::vec(pattern(), 1..12),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let rules: Vec<(String, Value)> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("rule-{i}"), p.clone()))
            .collect();
        let singles: Vec<Pattern> = patterns
            .iter()
            .map(|p| Pattern::compile(p).map_err(|e| TestCaseError::fail(format!("{p}: {e}"))))
            .collect::<Result<_, _>>()?;
        let matcher = compile(&rules).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        for event in &events {
            let mut out = Vec::new();
            matcher.matching_rules(event, &mut out);
            let expected: Vec<usize> = singles
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches(event))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(&out, &expected, "event {}", event);
        }
    }

    #[test]
    fn pattern_of_own_values_matches(event in event()) {
        let Value::Object(object) = &event else {
            return Err(TestCaseError::fail("events are objects"));
        };
        let pattern = exact_pattern(object).unwrap_or_else(|| json!({}));
        let compiled = Pattern::compile(&pattern)
            .map_err(|e| TestCaseError::fail(format!("{pattern}: {e}")))?;
        prop_assert!(compiled.matches(&event), "pattern {} event {}", pattern, event);
    }
}
