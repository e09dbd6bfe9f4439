//! Ingest bodies are untrusted: parsing must never panic, what it accepts must round-trip, and
//! the stored-form parser (the HTTP hot path) must agree with `parse_events`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signalbox_core::{Event, SerializedEvent, parse_events, parse_events_stored};

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    let slow = parse_events(data, now, || "generated".to_string());
    let fast = parse_events_stored(data, now, || "generated".to_string());
    match (&slow, fast) {
        (Ok(events), Ok(stored)) => {
            assert_eq!(events.len(), stored.len());
            for (e, s) in events.iter().zip(stored) {
                let back = Event::from_stored(&e.to_value().to_string())
                    .expect("a stored event parses back");
                assert_eq!(&back, e);
                let want = SerializedEvent::from(e.clone());
                assert_eq!((&s.id, &s.source, &s.detail_type, s.time_ms),
                    (&want.id, &want.source, &want.detail_type, want.time_ms));
                let got: Value = serde_json::from_str(&s.body).expect("stored body is JSON");
                let want: Value = serde_json::from_str(&want.body).expect("stored body is JSON");
                assert_eq!(got, want);
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("parsers disagree: {a:?} vs {b:?}"),
    }
});
