//! `POST /v1/rules/test`: does a pattern match an event, without sending anything.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde_json::{Value, json};
use signalbox_core::ErrorCode;
use signalbox_rules::Pattern;

use crate::AppState;
use crate::error::ApiError;

/// `{"pattern":{…},"event":{…}}` → `{"matched":bool}`; 400 with the reason for a bad pattern.
pub async fn test_pattern(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = super::body_bytes(body, state.body_limit)?;
    let mut req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    let (Some(pattern), Some(event)) = (req.get_mut("pattern").map(Value::take), req.get("event"))
    else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the body must have \"pattern\" and \"event\"",
        ));
    };
    let compiled = Pattern::compile(&pattern)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    Ok(Json(json!({"matched": compiled.matches(event)})))
}
