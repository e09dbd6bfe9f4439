//! The EventBridge-shaped event envelope and the parser for ingest bodies.
//!
//! A body is one envelope, an array of envelopes, or CloudEvents 1.0 JSON (one or an array); an
//! object with `specversion` is read as a CloudEvent. Patterns and templates always see the
//! EventBridge shape produced by [`Event::to_value`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::error::ErrorCode;

/// Longest accepted event id, in bytes; ids end up in URLs and indexes.
pub const MAX_ID_LEN: usize = 256;

/// One event, as routed and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id; generated (UUIDv7) when the sender gave none.
    pub id: String,
    /// Who emitted it, e.g. `aws.ecs`, `signalbox.schedule`.
    pub source: String,
    /// What kind of event it is (`detail-type`).
    pub detail_type: String,
    /// When it happened, per the sender; defaults to the time of acceptance.
    pub time: DateTime<Utc>,
    /// ARNs, URLs or names the event is about.
    pub resources: Vec<String>,
    /// The payload; always a JSON object.
    pub detail: Map<String, Value>,
    /// Optional envelope strings kept as given: `account`, `region`, `subject`.
    pub extra: Map<String, Value>,
}

/// Why a body was refused; its `Display` names the array index and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct EnvelopeError {
    /// The API error code.
    pub code: ErrorCode,
    /// Position in the array, when the body was an array.
    pub index: Option<usize>,
    /// The envelope field at fault.
    pub field: Option<String>,
    /// What is wrong, in lowercase without trailing punctuation.
    pub message: String,
}

impl EnvelopeError {
    fn render(&self) -> String {
        let mut at = String::new();
        if let Some(i) = self.index {
            at.push_str(&format!("[{i}]"));
        }
        if let Some(f) = &self.field {
            if !at.is_empty() {
                at.push('.');
            }
            at.push_str(f);
        }
        if at.is_empty() {
            self.message.clone()
        } else {
            format!("{at}: {}", self.message)
        }
    }

    fn field(index: Option<usize>, field: &str, message: impl Into<String>) -> Self {
        EnvelopeError {
            code: ErrorCode::InvalidEvent,
            index,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// Fields copied from a sender's envelope when they are strings.
const KEPT_STRINGS: [&str; 3] = ["account", "region", "subject"];

/// Parses an ingest body into events. `now` fills a missing `time`; `new_id` fills a missing `id`.
pub fn parse_events(
    body: &[u8],
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<Event>, EnvelopeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError {
        code: ErrorCode::InvalidJson,
        index: None,
        field: None,
        message: format!(
            "invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ),
    })?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(EnvelopeError {
                    code: ErrorCode::InvalidEvent,
                    index: None,
                    field: None,
                    message: "the array holds no events".into(),
                });
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| parse_one(v, Some(i), now, &mut new_id))
                .collect()
        }
        v => Ok(vec![parse_one(v, None, now, &mut new_id)?]),
    }
}

// serde_json appends " at line L column C"; the message already says where.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

fn parse_one(
    value: Value,
    index: Option<usize>,
    now: DateTime<Utc>,
    new_id: &mut impl FnMut() -> String,
) -> Result<Event, EnvelopeError> {
    let Value::Object(mut obj) = value else {
        return Err(EnvelopeError {
            code: ErrorCode::InvalidEvent,
            index,
            field: None,
            message: format!("an event must be a JSON object, got {}", kind(&value)),
        });
    };
    let cloud = obj.contains_key("specversion");
    if cloud {
        match obj.get("specversion") {
            Some(Value::String(s)) if s == "1.0" => {}
            _ => {
                return Err(EnvelopeError::field(
                    index,
                    "specversion",
                    "only CloudEvents specversion \"1.0\" is supported",
                ));
            }
        }
    }
    let (type_field, data_field) = if cloud {
        ("type", "data")
    } else {
        ("detail-type", "detail")
    };

    let source = required_string(&mut obj, "source", index)?;
    let detail_type = required_string(&mut obj, type_field, index)?;
    let id = match obj.remove("id") {
        None | Some(Value::Null) if !cloud => new_id(),
        None | Some(Value::Null) => {
            return Err(EnvelopeError::field(index, "id", "missing required field"));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(EnvelopeError::field(index, "id", "must not be empty"));
        }
        Some(Value::String(s)) if s.len() > MAX_ID_LEN => {
            return Err(EnvelopeError::field(
                index,
                "id",
                format!("is longer than {MAX_ID_LEN} bytes"),
            ));
        }
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(EnvelopeError::field(
                index,
                "id",
                format!("must be a string, got {}", kind(&other)),
            ));
        }
    };
    let time = match obj.remove("time") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map_err(|e| {
                EnvelopeError::field(index, "time", format!("is not an RFC 3339 timestamp: {e}"))
            })?
            .with_timezone(&Utc),
        Some(other) => {
            return Err(EnvelopeError::field(
                index,
                "time",
                format!("must be an RFC 3339 string, got {}", kind(&other)),
            ));
        }
    };
    let resources = match obj.remove("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(EnvelopeError::field(
                    index,
                    &format!("resources[{i}]"),
                    format!("must be a string, got {}", kind(&other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(EnvelopeError::field(
                index,
                "resources",
                format!("must be an array of strings, got {}", kind(&other)),
            ));
        }
    };
    let detail = match obj.remove(data_field) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(EnvelopeError::field(
                index,
                data_field,
                format!("must be a JSON object, got {}", kind(&other)),
            ));
        }
    };
    let mut extra = Map::new();
    for key in KEPT_STRINGS {
        if let Some(Value::String(s)) = obj.remove(key) {
            extra.insert(key.to_string(), Value::String(s));
        }
    }
    Ok(Event {
        id,
        source,
        detail_type,
        time,
        resources,
        detail,
        extra,
    })
}

fn required_string(
    obj: &mut Map<String, Value>,
    field: &str,
    index: Option<usize>,
) -> Result<String, EnvelopeError> {
    match obj.remove(field) {
        None | Some(Value::Null) => {
            Err(EnvelopeError::field(index, field, "missing required field"))
        }
        Some(Value::String(s)) if s.is_empty() => {
            Err(EnvelopeError::field(index, field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(EnvelopeError::field(
            index,
            field,
            format!("must be a string, got {}", kind(&other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Event {
    /// A new event from an internal source, stamped now with a fresh id.
    pub fn new(source: &str, detail_type: &str, detail: Map<String, Value>) -> Event {
        Event {
            id: crate::ids::new_id(),
            source: source.to_string(),
            detail_type: detail_type.to_string(),
            time: Utc::now(),
            resources: Vec::new(),
            detail,
            extra: Map::new(),
        }
    }

    /// The EventBridge-shaped JSON that patterns, templates and the store see.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// [`Event::to_value`] without copying the payload (the ingest hot path).
    pub fn into_value(self) -> Value {
        let mut m = Map::with_capacity(8 + self.extra.len());
        m.insert("version".into(), Value::String("0".into()));
        m.insert("id".into(), Value::String(self.id));
        m.insert("detail-type".into(), Value::String(self.detail_type));
        m.insert("source".into(), Value::String(self.source));
        m.extend(self.extra);
        m.insert(
            "time".into(),
            Value::String(self.time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        );
        m.insert(
            "resources".into(),
            Value::Array(self.resources.into_iter().map(Value::String).collect()),
        );
        m.insert("detail".into(), Value::Object(self.detail));
        Value::Object(m)
    }

    /// Reads back an event stored with [`Event::to_value`].
    pub fn from_stored(json: &str) -> Result<Event, EnvelopeError> {
        let now = Utc::now();
        let mut events = parse_events(json.as_bytes(), now, crate::ids::new_id)?;
        events.pop().ok_or_else(|| EnvelopeError {
            code: ErrorCode::Internal,
            index: None,
            field: None,
            message: "stored event is empty".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<Event>, EnvelopeError> {
        let mut n = 0;
        parse_events(body.as_bytes(), Utc::now(), || {
            n += 1;
            format!("gen-{n}")
        })
    }

    #[test]
    fn one_envelope_with_defaults() {
        let e = parse(r#"{"source":"a","detail-type":"b","detail":{"x":1}}"#).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "gen-1");
        assert_eq!(e[0].detail["x"], 1);
        let v = e[0].to_value();
        assert_eq!(v["detail-type"], "b");
        assert_eq!(v["version"], "0");
    }

    #[test]
    fn array_error_names_index_and_field() {
        let err = parse(r#"[{"source":"a","detail-type":"b"},{"source":"a"}]"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEvent);
        assert_eq!(err.to_string(), "[1].detail-type: missing required field");
    }

    #[test]
    fn non_object_detail_is_refused() {
        let err = parse(r#"{"source":"a","detail-type":"b","detail":[1]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "detail: must be a JSON object, got an array"
        );
    }

    #[test]
    fn bad_json_says_where() {
        let err = parse("{\"source\":").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(
            err.message.starts_with("invalid JSON at line 1 column 10"),
            "{}",
            err.message
        );
    }

    #[test]
    fn cloudevent_is_mapped() {
        let e = parse(
            r#"{"specversion":"1.0","id":"c1","source":"/ci","type":"build.done","subject":"x","time":"2026-01-02T03:04:05+01:00","data":{"ok":true}}"#,
        )
        .unwrap();
        assert_eq!(e[0].id, "c1");
        assert_eq!(e[0].detail_type, "build.done");
        assert_eq!(e[0].detail["ok"], true);
        assert_eq!(e[0].extra["subject"], "x");
        assert_eq!(e[0].to_value()["time"], "2026-01-02T02:04:05Z");
    }

    #[test]
    fn cloudevent_requires_id() {
        let err = parse(r#"{"specversion":"1.0","source":"/ci","type":"t"}"#).unwrap_err();
        assert_eq!(err.to_string(), "id: missing required field");
    }

    #[test]
    fn stored_round_trip() {
        let e = parse(r#"{"id":"k","source":"a","detail-type":"b","resources":["r"],"account":"1","detail":{"n":[1,2]}}"#).unwrap();
        let back = Event::from_stored(&e[0].to_value().to_string()).unwrap();
        assert_eq!(back, e[0]);
    }

    #[test]
    fn wrong_types_are_named() {
        let err = parse(r#"{"source":1,"detail-type":"b"}"#).unwrap_err();
        assert_eq!(err.to_string(), "source: must be a string, got a number");
        let err = parse(r#"{"source":"a","detail-type":"b","time":"yesterday"}"#).unwrap_err();
        assert!(err.to_string().starts_with("time: is not an RFC 3339"));
        let err = parse("[]").unwrap_err();
        assert_eq!(err.to_string(), "the array holds no events");
    }
}
