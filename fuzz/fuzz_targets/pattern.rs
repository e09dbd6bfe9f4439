//! Patterns arrive through `POST /v1/rules/test`: compiling and matching must never panic, and
//! the engine must agree with the single-pattern interpreter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalbox_rules::{Pattern, compile};

fuzz_target!(|data: &[u8]| {
    // First line: the pattern; the rest: the event.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(pattern) = serde_json::from_slice::<serde_json::Value>(&data[..split]) else {
        return;
    };
    let event = serde_json::from_slice::<serde_json::Value>(data.get(split + 1..).unwrap_or(&[]))
        .unwrap_or(serde_json::Value::Null);
    let single = Pattern::compile(&pattern);
    let set = compile(&[("r".to_owned(), pattern)]);
    assert_eq!(single.is_ok(), set.is_ok(), "compile paths disagree");
    if let (Ok(p), Ok(m)) = (single, set) {
        let mut out = Vec::new();
        m.matching_rules(&event, &mut out);
        assert_eq!(p.matches(&event), out == [0]);
    }
});
