//! `GET /v1/deliveries`, `GET /v1/deliveries/{id}`, `POST /v1/deliveries/{id}/retry`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use signalbox_core::ErrorCode;
use signalbox_core::time::{millis_to_rfc3339, now_millis};
use signalbox_store::{Delivery, DeliveryState};

use crate::AppState;
use crate::error::ApiError;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// Query of the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// A delivery as the API shows it.
pub fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "rule": d.rule,
        "target": d.target,
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "last_error": d.last_error,
        "last_status": d.last_status,
        "created_at": millis_to_rfc3339(d.created_at),
        "updated_at": millis_to_rfc3339(d.updated_at),
        "next_attempt_at": (d.state == DeliveryState::Pending).then(|| millis_to_rfc3339(d.next_attempt_at)),
    })
}

/// Deliveries, optionally by state, with keyset pagination (`after` = the last id seen).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let wanted = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(DeliveryState::parse(s).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("state {s:?} is not one of pending, done, dead"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let items = state
        .store
        .list_deliveries(wanted, q.after.as_deref(), limit)
        .await?;
    let next = (items.len() as u32 == limit)
        .then(|| items.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(json!({
        "deliveries": items.iter().map(delivery_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// One delivery.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.store.delivery(&id).await? {
        Some(d) => Ok(Json(json!({"delivery": delivery_json(&d)}))),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no delivery with id {id:?}"),
        )),
    }
}

/// Puts a delivery back in the queue, due now, with a fresh attempt budget.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.store.retry_delivery(&id, now_millis()).await? {
        Some(d) => {
            state.dispatcher_wake.notify_one();
            Ok(Json(json!({"delivery": delivery_json(&d)})))
        }
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no delivery with id {id:?}"),
        )),
    }
}
