//! `POST /v1/events` and `GET /v1/events/{id}`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use signalbox_core::metric_names as m;
use signalbox_core::time::millis_to_rfc3339;
use signalbox_core::{ErrorCode, parse_events_stored};
use signalbox_engine::IngestError;

use super::deliveries::delivery_json;
use crate::AppState;
use crate::error::ApiError;

/// The 202 answer.
#[derive(Serialize)]
pub struct Accepted {
    accepted: usize,
    ids: Vec<String>,
    duplicates: Vec<String>,
}

/// Accepts one envelope, an array, or CloudEvents; answers 202 once committed.
pub async fn post_events(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let result = accept(&state, body).await;
    if let Err(e) = &result {
        metrics::counter!(m::EVENTS_REJECTED, "code" => e.code.as_str()).increment(1);
    }
    result
}

async fn accept(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down",
        ));
    }
    let body = super::body_bytes(body, state.body_limit)?;
    let events = parse_events_stored(&body, chrono::Utc::now(), signalbox_core::ids::new_id)
        .map_err(|e| ApiError::new(e.code, e.to_string()))?;
    let results = state
        .ingest
        .submit_stored(events)
        .await
        .map_err(|e| match e {
            IngestError::Closed => ApiError::new(ErrorCode::ShuttingDown, e.to_string()),
            IngestError::Store(s) => ApiError::new(ErrorCode::StoreUnavailable, s.to_string()),
        })?;
    let duplicates = results
        .iter()
        .filter(|r| r.duplicate)
        .map(|r| r.id.clone())
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: results.len(),
            ids: results.into_iter().map(|r| r.id).collect(),
            duplicates,
        }),
    ))
}

/// The event and the state of each of its deliveries.
pub async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(event) = state.store.event(&id).await? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no event with id {id:?}"),
        ));
    };
    let deliveries = state.store.event_deliveries(&id).await?;
    let body: Value = serde_json::from_str(&event.body).unwrap_or(Value::Null);
    Ok(Json(json!({
        "event": body,
        "accepted_at": millis_to_rfc3339(event.accepted_at),
        "deliveries": deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    })))
}
