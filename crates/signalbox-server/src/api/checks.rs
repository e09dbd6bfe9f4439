//! `/v1/checks`: each health check's alert state and last run, as this instance sees them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use signalbox_core::ErrorCode;

use crate::AppState;
use crate::error::ApiError;

/// `GET /v1/checks` — every check, by name.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let checks: Vec<Value> = state
        .checks
        .all()
        .iter()
        .map(|(name, status)| status.to_json(name))
        .collect();
    Json(json!({ "checks": checks }))
}

/// `GET /v1/checks/{name}` — one check; 404 when there is no such check.
pub async fn get_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .checks
        .get(&name)
        .map(|status| Json(status.to_json(&name)))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no check named \"{name}\"")))
}
