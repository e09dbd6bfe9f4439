//! Liveness, readiness, metrics, and the JSON 404.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signalbox_core::ErrorCode;
use signalbox_core::metric_names as m;

use crate::AppState;
use crate::error::ApiError;

/// The process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can take work: the store answers and shutdown has not begun.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting down"})),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "store unavailable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Prometheus text format. Queue depth is read from the store at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.store.count_by_state().await {
        Ok(c) => {
            metrics::gauge!(m::QUEUE_DEPTH, "state" => "pending").set(c.pending as f64);
            metrics::gauge!(m::QUEUE_DEPTH, "state" => "done").set(c.done as f64);
            metrics::gauge!(m::QUEUE_DEPTH, "state" => "dead").set(c.dead as f64);
        }
        Err(e) => tracing::warn!(error = %e, "queue depth unavailable for /metrics"),
    }
    let text = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Unknown routes answer in JSON too.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}

/// A known route with the wrong method answers in JSON too.
pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    )
}
