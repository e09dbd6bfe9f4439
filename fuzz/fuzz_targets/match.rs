//! Matching raw event bytes against a compiled rule set must never panic, must accept every
//! event `serde_json` accepts, and must agree with the reference interpreter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signalbox_rules::{Pattern, compile};

fuzz_target!(|data: &[u8]| {
    // Leading lines are patterns (up to 8); the first line that is not a JSON object, and
    // everything after it, is the event.
    let mut rest = data;
    let mut patterns = Vec::new();
    while patterns.len() < 8 {
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        match serde_json::from_slice::<Value>(&rest[..end]) {
            Ok(p @ Value::Object(_)) if end < rest.len() => {
                patterns.push(p);
                rest = &rest[end + 1..];
            }
            _ => break,
        }
    }
    let event = rest;
    let rules: Vec<(String, Value)> = patterns
        .iter()
        .filter(|p| Pattern::compile(p).is_ok())
        .enumerate()
        .map(|(i, p)| (format!("r{i}"), p.clone()))
        .collect();
    let Ok(engine) = compile(&rules) else {
        panic!("patterns that compile one by one must compile together");
    };
    let mut out = Vec::new();
    let from_bytes = engine.matching_rules_json(event, &mut out);
    let Ok(value) = serde_json::from_slice::<Value>(event) else {
        return;
    };
    assert!(from_bytes.is_ok(), "serde_json accepts the event, the engine said {from_bytes:?}");
    let reference: Vec<usize> = rules
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| Pattern::compile(p).is_ok_and(|p| p.matches(&value)))
        .map(|(i, _)| i)
        .collect();
    let mut from_value = Vec::new();
    engine.matching_rules(&value, &mut from_value);
    assert_eq!(from_value, reference, "Value path");
    // Re-serialized bytes have no duplicate keys (where a streaming reader sees every copy and
    // a parsed Value keeps the last), so they must agree exactly.
    let canonical = serde_json::to_vec(&value).unwrap_or_default();
    let mut again = Vec::new();
    if engine.matching_rules_json(&canonical, &mut again).is_ok() {
        assert_eq!(again, reference, "byte path");
    }
});
