//! Ingest bodies are untrusted: parsing must never panic, and what it accepts must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalbox_core::{Event, parse_events};

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    if let Ok(events) = parse_events(data, now, || "generated".to_string()) {
        for e in events {
            let stored = e.to_value().to_string();
            let back = Event::from_stored(&stored).expect("a stored event parses back");
            assert_eq!(back, e);
        }
    }
});
