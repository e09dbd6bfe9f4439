//! Property tests of the ingest parsers: they never panic, well-formed envelopes round-trip, and
//! the stored-form parser agrees with `parse_events`.

use chrono::Utc;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use signalbox_core::{Event, SerializedEvent, parse_events, parse_events_stored};

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

/// Envelope-like objects: every envelope key (and some other) with values of any type, so both
/// the fast path and each way of falling back to the slow one are exercised.
fn envelope_like() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "source",
        "detail-type",
        "id",
        "time",
        "resources",
        "detail",
        "account",
        "region",
        "subject",
        "version",
        "other",
    ]);
    let value = prop_oneof![
        3 => "[a-z .]{0,8}".prop_map(Value::from),
        1 => Just(Value::from("2026-03-04T05:06:07.5+02:00")),
        1 => prop::collection::vec("[a-z\"]{0,4}", 0..3).prop_map(|v| json!(v)),
        2 => prop::collection::btree_map("[a-z ]{1,4}", json_value(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        2 => json_value(),
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
        let mut obj = Map::new();
        obj.insert("source".into(), json!("src"));
        obj.insert("detail-type".into(), json!("type"));
        for (k, v) in pairs {
            obj.insert(k.to_string(), v);
        }
        Value::Object(obj)
    })
}

/// Pretty-printed with a given key twice now and then, as senders write by hand.
fn render(v: &Value, pretty: bool, repeat_source: bool) -> String {
    let mut text = if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        v.to_string()
    };
    if repeat_source && text.starts_with('{') && text.len() > 2 {
        text.insert_str(1, r#""source":"first","#);
    }
    text
}

proptest! {
    /// The stored-form parser accepts and refuses exactly what `parse_events` does, with the
    /// same ids, times and errors, and a body that reads back as the same JSON.
    #[test]
    fn stored_parser_agrees_with_parse_events(
        items in prop::collection::vec(envelope_like(), 1..4),
        as_array in any::<bool>(),
        pretty in any::<bool>(),
        repeat_source in any::<bool>(),
    ) {
        let body = if as_array {
            render(&Value::Array(items), pretty, false)
        } else {
            render(&items[0], pretty, repeat_source)
        };
        let now = Utc::now();
        let (mut a, mut b) = (0, 0);
        let fast = parse_events_stored(body.as_bytes(), now, || { a += 1; format!("id-{a}") });
        let slow = parse_events(body.as_bytes(), now, || { b += 1; format!("id-{b}") });
        match (fast, slow) {
            (Ok(fast), Ok(slow)) => {
                prop_assert_eq!(fast.len(), slow.len());
                for (f, s) in fast.into_iter().zip(slow) {
                    let expected = SerializedEvent::from(s);
                    prop_assert_eq!(&f.id, &expected.id);
                    prop_assert_eq!(&f.source, &expected.source);
                    prop_assert_eq!(&f.detail_type, &expected.detail_type);
                    prop_assert_eq!(f.time_ms, expected.time_ms);
                    let got: Value = serde_json::from_str(&f.body).unwrap();
                    let want: Value = serde_json::from_str(&expected.body).unwrap();
                    prop_assert_eq!(got, want);
                    prop_assert!(!f.body.contains('\n'));
                }
            }
            (Err(f), Err(s)) => prop_assert_eq!(f, s),
            (f, s) => prop_assert!(false, "{}: fast {:?}, slow {:?}", body, f, s),
        }
    }
}
