//! `/v1/heartbeats/{name}` (and `/start`, `/fail`): a job's pings for a heartbeat check, in
//! the style of healthchecks.io. POST, GET and HEAD all ping, so `curl -fsS URL`, `wget URL`
//! and monitoring agents that only GET work alike. The ping is written to the store, so with
//! several instances any of them may receive it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use signalbox_core::ErrorCode;
use signalbox_core::metric_names as m;
use signalbox_core::time::{millis_to_rfc3339, now_millis};
use signalbox_store::HeartbeatSignal;

use crate::AppState;
use crate::error::ApiError;

/// `/v1/heartbeats/{name}` — the job succeeded.
pub async fn success(
    state: State<AppState>,
    name: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    ping(state, name, HeartbeatSignal::Success, body).await
}

/// `/v1/heartbeats/{name}/start` — the job began.
pub async fn start(
    state: State<AppState>,
    name: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    ping(state, name, HeartbeatSignal::Start, body).await
}

/// `/v1/heartbeats/{name}/fail` — the job failed; the body (if any) is kept as the reason.
pub async fn fail(
    state: State<AppState>,
    name: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    ping(state, name, HeartbeatSignal::Fail, body).await
}

async fn ping(
    State(state): State<AppState>,
    Path(name): Path<String>,
    signal: HeartbeatSignal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    if !state.heartbeats.contains(&name) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no heartbeat check named \"{name}\""),
        ));
    }
    let body = super::body_bytes(body, state.body_limit)?;
    let text = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let row = state
        .store
        .record_heartbeat(&name, signal, text.as_deref(), now_millis())
        .await?;
    metrics::counter!(m::HEARTBEAT_PINGS, "check" => name.clone(), "signal" => signal.as_str())
        .increment(1);
    tracing::debug!(check = %name, signal = signal.as_str(), "heartbeat ping");
    Ok(Json(json!({
        "ok": true,
        "check": name,
        "signal": signal.as_str(),
        "at": millis_to_rfc3339(row.last_signal_at),
        "pings": row.pings,
    })))
}
