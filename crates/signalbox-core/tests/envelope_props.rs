//! Property tests of the ingest parser: it never panics, and well-formed envelopes round-trip.

use chrono::Utc;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use signalbox_core::{Event, parse_events};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z-]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_events(&bytes, Utc::now(), || "x".into());
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let _ = parse_events(v.to_string().as_bytes(), Utc::now(), || "x".into());
    }

    #[test]
    fn valid_envelopes_round_trip(
        source in "[a-z.]{1,12}",
        detail_type in "\\PC{1,16}",
        detail in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..5),
        n in 1usize..4,
    ) {
        let detail: Map<String, Value> = detail.into_iter().collect();
        let one = json!({"source": source, "detail-type": detail_type, "detail": detail});
        let body = Value::Array(vec![one; n]).to_string();
        let mut i = 0;
        let events = parse_events(body.as_bytes(), Utc::now(), || { i += 1; format!("id-{i}") }).unwrap();
        prop_assert_eq!(events.len(), n);
        for e in &events {
            prop_assert_eq!(&e.source, &source);
            prop_assert_eq!(&e.detail, &detail);
            let back = Event::from_stored(&e.to_value().to_string()).unwrap();
            prop_assert_eq!(&back, e);
        }
    }
}
