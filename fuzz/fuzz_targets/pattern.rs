//! Patterns arrive through `POST /v1/rules/test`: compiling and matching must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalbox_rules::Pattern;

fuzz_target!(|data: &[u8]| {
    // First line: the pattern; the rest: the event.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(pattern) = serde_json::from_slice::<serde_json::Value>(&data[..split]) else {
        return;
    };
    let event = serde_json::from_slice::<serde_json::Value>(data.get(split + 1..).unwrap_or(&[]))
        .unwrap_or(serde_json::Value::Null);
    if let Ok(p) = Pattern::compile(&pattern) {
        let _ = p.matches(&event);
    }
});
