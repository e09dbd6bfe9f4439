//! `POST /v1/channels/{name}/test`: sends one message now through a configured channel and
//! answers with what the provider said.
//!
//! The body is optional: `{}` or empty sends a test message; `{"event": {…}}` renders that
//! event with the default template.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use signalbox_core::ErrorCode;
use signalbox_targets::AttemptOutcome;
use signalbox_targets::channels::{Notification, Severity};

use crate::AppState;
use crate::error::ApiError;

/// Sends and reports `{"channel","type","sent","outcome","error","status","response"}`; 404
/// for an unknown channel. A provider refusal is a 200 with `sent: false`: the test ran.
pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = super::body_bytes(body, state.body_limit)?;
    let Some(channel) = state.channels.get(&name) else {
        let names: Vec<&str> = state.channels.keys().map(String::as_str).collect();
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "no channel \"{name}\" (channels: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    let notification = if body.iter().all(u8::is_ascii_whitespace) {
        test_notification(&name)
    } else {
        let request: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
        match request.get("event") {
            None | Some(Value::Null) => test_notification(&name),
            Some(event) => {
                let bytes = serde_json::to_vec(event).unwrap_or_default();
                let mut events = signalbox_core::parse_events(
                    &bytes,
                    chrono::Utc::now(),
                    signalbox_core::ids::new_id,
                )
                .map_err(|e| ApiError::new(ErrorCode::InvalidEvent, format!("event: {e}")))?;
                if events.len() != 1 {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        "\"event\" must be one event",
                    ));
                }
                signalbox_targets::notify::default_notification(
                    &events.remove(0).into_value(),
                    "channel-test",
                )
            }
        }
    };
    let key = format!("channel-test-{}", signalbox_core::ids::new_id());
    let answer = channel.send(&notification, &key).await;
    let (outcome, error, status) = match &answer.outcome {
        AttemptOutcome::Delivered { status } => ("delivered", None, *status),
        AttemptOutcome::Retry { error, status, .. } => ("retry", Some(error.clone()), *status),
        AttemptOutcome::Permanent { error, status } => ("permanent", Some(error.clone()), *status),
    };
    Ok(Json(json!({
        "channel": name,
        "type": channel.kind().as_str(),
        "sent": outcome == "delivered",
        "outcome": outcome,
        "error": error,
        "status": status,
        "response": answer.response,
    })))
}

fn test_notification(channel: &str) -> Notification {
    let mut n = Notification::new(
        "signalbox test message",
        format!("If you can read this, channel {channel} works."),
    );
    n.severity = Severity::Info;
    n.dedup_key = format!("signalbox/test/{channel}");
    n
}
