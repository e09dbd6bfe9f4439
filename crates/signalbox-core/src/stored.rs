//! The ingest hot path: an EventBridge envelope read straight into the JSON the store keeps,
//! without building a tree of the payload.
//!
//! [`parse_events`] builds a `serde_json::Value` tree of every event, turns it into an [`Event`]
//! and back into a tree to serialize it; for a small event that was the largest share of a
//! request's CPU after the kernel and SQLite. [`parse_events_stored`] reads the envelope fields
//! into borrowed strings, keeps `detail` as the sender's text (validated, whitespace outside
//! strings removed) and writes the stored JSON directly. Anything it does not take the easy way
//! (CloudEvents, a field of the wrong type, a key given twice in the envelope, an empty id) goes
//! through [`parse_events`], so what is accepted and every error message stay exactly the same.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::envelope::{EnvelopeError, Event, MAX_ID_LEN, parse_events};

/// One event serialized as the store keeps it: the fields it indexes and its EventBridge JSON
/// (what ingest writes; `signalbox_store::StoredEvent` is an event read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializedEvent {
    /// Unique id; generated (UUIDv7) when the sender gave none.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `detail-type`.
    pub detail_type: String,
    /// `time` in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The whole envelope as compact JSON (the shape of [`Event::to_value`]).
    pub body: String,
}

impl From<Event> for SerializedEvent {
    fn from(event: Event) -> Self {
        let id = event.id.clone();
        let source = event.source.clone();
        let detail_type = event.detail_type.clone();
        let time_ms = event.time.timestamp_millis();
        // Not `to_string()`: Display goes through fmt::Write, about twice as slow.
        let body = serde_json::to_string(&event.into_value()).unwrap_or_default();
        SerializedEvent {
            id,
            source,
            detail_type,
            time_ms,
            body,
        }
    }
}

/// The envelope fields, borrowed from the body where they hold no escapes. Unknown fields are
/// skipped (still checked for syntax); a field given twice fails, and the slow path decides.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "detail-type")]
    detail_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resources: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Option<Cow<'a, str>>,
    /// Present only in CloudEvents, which take the slow path.
    specversion: Option<IgnoredAny>,
}

/// Parses an ingest body, like [`parse_events`], into the events as the store keeps them.
/// `now` fills a missing `time`; `new_id` fills a missing `id`.
pub fn parse_events_stored(
    body: &[u8],
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<SerializedEvent>, EnvelopeError> {
    if let Some(events) = fast(body, now, &mut new_id) {
        return Ok(events);
    }
    Ok(parse_events(body, now, new_id)?
        .into_iter()
        .map(SerializedEvent::from)
        .collect())
}

/// `None` when the body needs the slow path; `new_id` is called only once the whole body is known
/// to be taken here, so both paths draw the same ids.
fn fast(
    body: &[u8],
    now: DateTime<Utc>,
    new_id: &mut impl FnMut() -> String,
) -> Option<Vec<SerializedEvent>> {
    let first = *body.iter().find(|b| !b.is_ascii_whitespace())?;
    let envelopes: Vec<Envelope<'_>> = match first {
        b'{' => vec![serde_json::from_slice(body).ok()?],
        b'[' => serde_json::from_slice(body).ok()?,
        _ => return None,
    };
    if envelopes.is_empty() {
        return None;
    }
    let mut checked = Vec::with_capacity(envelopes.len());
    for e in envelopes {
        checked.push(Checked::of(e, now)?);
    }
    Some(checked.into_iter().map(|c| c.store(new_id)).collect())
}

/// An envelope the fast path takes, with its time read.
struct Checked<'a> {
    envelope: Envelope<'a>,
    time: DateTime<Utc>,
}

impl<'a> Checked<'a> {
    fn of(envelope: Envelope<'a>, now: DateTime<Utc>) -> Option<Self> {
        if envelope.specversion.is_some()
            || envelope.source.as_deref().is_none_or(str::is_empty)
            || envelope.detail_type.as_deref().is_none_or(str::is_empty)
            || envelope
                .id
                .as_deref()
                .is_some_and(|id| id.is_empty() || id.len() > MAX_ID_LEN)
            || envelope.detail.is_some_and(|d| !d.get().starts_with('{'))
        {
            return None;
        }
        let time = match envelope.time.as_deref() {
            None => now,
            Some(t) => DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc),
        };
        Some(Checked { envelope, time })
    }

    /// The stored form, keys in the order [`Event::to_value`] serializes them (sorted).
    fn store(self, new_id: &mut impl FnMut() -> String) -> SerializedEvent {
        let e = self.envelope;
        let id = e.id.map_or_else(&mut *new_id, Cow::into_owned);
        let source = e.source.map(Cow::into_owned).unwrap_or_default();
        let detail_type = e.detail_type.map(Cow::into_owned).unwrap_or_default();
        let detail = e.detail.map_or("{}", RawValue::get);
        let mut body = String::with_capacity(160 + detail.len());
        body.push('{');
        if let Some(account) = &e.account {
            push_field(&mut body, "account", account);
        }
        body.push_str("\"detail\":");
        push_minified(&mut body, detail);
        body.push(',');
        push_field(&mut body, "detail-type", &detail_type);
        push_field(&mut body, "id", &id);
        if let Some(region) = &e.region {
            push_field(&mut body, "region", region);
        }
        body.push_str("\"resources\":[");
        for (i, r) in e.resources.iter().flatten().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_str(&mut body, r);
        }
        body.push_str("],");
        push_field(&mut body, "source", &source);
        if let Some(subject) = &e.subject {
            push_field(&mut body, "subject", subject);
        }
        push_field(
            &mut body,
            "time",
            &self.time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        body.push_str("\"version\":\"0\"}");
        SerializedEvent {
            id,
            source,
            detail_type,
            time_ms: self.time.timestamp_millis(),
            body,
        }
    }
}

/// `"key":"value",` with the value escaped as JSON.
fn push_field(out: &mut String, key: &str, value: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    push_str(out, value);
    out.push(',');
}

fn push_str(out: &mut String, s: &str) {
    // Writing a str into a String cannot fail.
    let quoted = serde_json::to_string(s).unwrap_or_default();
    out.push_str(&quoted);
}

/// Appends valid JSON text without the whitespace between tokens.
fn push_minified(out: &mut String, json: &str) {
    let bytes = json.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            // Whitespace is ASCII, so `run..i` and the rest stay on char boundaries.
            out.push_str(&json[run..i]);
            run = i + 1;
        }
    }
    out.push_str(&json[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn both(
        body: &str,
    ) -> (
        Result<Vec<SerializedEvent>, EnvelopeError>,
        Result<Vec<Event>, EnvelopeError>,
    ) {
        let now = Utc::now();
        let mut a = 0;
        let mut b = 0;
        let fast = parse_events_stored(body.as_bytes(), now, || {
            a += 1;
            format!("gen-{a}")
        });
        let slow = parse_events(body.as_bytes(), now, || {
            b += 1;
            format!("gen-{b}")
        });
        (fast, slow)
    }

    fn same(body: &str) {
        match both(body) {
            (Ok(fast), Ok(slow)) => {
                assert_eq!(fast.len(), slow.len(), "{body}");
                for (f, s) in fast.iter().zip(slow) {
                    let body_value: Value = serde_json::from_str(&f.body).unwrap();
                    let expected = SerializedEvent::from(s);
                    assert_eq!(
                        body_value,
                        serde_json::from_str::<Value>(&expected.body).unwrap()
                    );
                    assert_eq!(
                        (&f.id, &f.source, &f.detail_type, f.time_ms),
                        (
                            &expected.id,
                            &expected.source,
                            &expected.detail_type,
                            expected.time_ms
                        )
                    );
                }
            }
            (Err(f), Err(s)) => assert_eq!(f, s, "{body}"),
            (f, s) => panic!("{body}: fast {f:?}, slow {s:?}"),
        }
    }

    #[test]
    fn plain_envelope_is_stored_compact_with_sorted_envelope_keys() {
        let body = r#"{ "source": "ci.github", "detail-type": "Deployment", "region": "eu-west-1",
            "id": "e-1", "time": "2026-01-02T03:04:05.123+01:00", "resources": ["a", "b\"c"],
            "detail": { "service" : "checkout", "n": [1, 2.50, {"k": "a b"}] }, "other": [1] }"#;
        let events = parse_events_stored(body.as_bytes(), Utc::now(), || unreachable!()).unwrap();
        assert_eq!(
            events[0].body,
            r#"{"detail":{"service":"checkout","n":[1,2.50,{"k":"a b"}]},"detail-type":"Deployment","id":"e-1","region":"eu-west-1","resources":["a","b\"c"],"source":"ci.github","time":"2026-01-02T02:04:05.123Z","version":"0"}"#
        );
        assert_eq!(events[0].time_ms, 1_767_319_445_123);
        same(body);
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        for body in [
            r#"{"source":"s","detail-type":"t"}"#,
            r#"[{"source":"s","detail-type":"t"},{"source":"s2","detail-type":"t2","id":"x"}]"#,
            r#"{"source":"s","detail-type":"t","detail":null,"time":null,"id":null,"resources":null}"#,
            r#"{"source":"s","detail-type":"t","account":"1","subject":"sub","region":5}"#,
            r#"{"source":"s","detail-type":"t","source":"again"}"#,
            r#"{"source":"s\u00e9","detail-type":"t\n"}"#,
            r#"{"source":"","detail-type":"t"}"#,
            r#"{"source":"s","detail-type":"t","id":""}"#,
            r#"{"source":"s","detail-type":"t","detail":[1]}"#,
            r#"{"source":"s","detail-type":"t","detail":"x"}"#,
            r#"{"source":"s","detail-type":"t","time":"yesterday"}"#,
            r#"{"source":"s","detail-type":"t","resources":[1]}"#,
            r#"{"source":1,"detail-type":"t"}"#,
            r#"{"specversion":"1.0","id":"c","source":"s","type":"t","data":{"a":1}}"#,
            r#"[]"#,
            r#"[{"source":"s","detail-type":"t"}, 3]"#,
            r#"3"#,
            r#"{"source":"s""#,
            "",
        ] {
            same(body);
        }
    }

    #[test]
    fn minify_keeps_whitespace_inside_strings() {
        let mut out = String::new();
        push_minified(&mut out, "{ \"a b\" :\t[ 1 ,\n \"c\\\" d\" ] }");
        assert_eq!(out, r#"{"a b":[1,"c\" d"]}"#);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"a b": [1, "c\" d"]}));
    }
}
