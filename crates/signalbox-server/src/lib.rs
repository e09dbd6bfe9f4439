#![forbid(unsafe_code)]
//! The HTTP API: ingest, inspection, rule testing and operations endpoints (axum).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use signalbox_engine::IngestHandle;
use signalbox_store::Store;
use tokio::sync::Notify;

mod api;
mod error;
mod ops;

pub use error::ApiError;

/// What every handler can reach. Cloned for every request (axum's `State`), so it is one `Arc`:
/// cloning a dozen shared fields meant a dozen atomic updates on cache lines both cores write,
/// a few percent of the CPU of a small request.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(inner: AppStateInner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppStateInner {
    /// Group-commit ingest.
    pub ingest: IngestHandle,
    /// The store, for inspection.
    pub store: Arc<dyn Store>,
    /// Woken when a manual retry makes a delivery due.
    pub dispatcher_wake: Arc<Notify>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Largest accepted ingest body, in bytes.
    pub body_limit: usize,
    /// Set when shutdown begins: readiness fails so load balancers stop sending.
    pub shutting_down: Arc<AtomicBool>,
    /// Notification channels by name, for `POST /v1/channels/{name}/test` (the same ones the
    /// router's notify targets use).
    pub channels: Arc<signalbox_targets::Channels>,
    /// Pokes this instance's scheduler after a schedule changes through the API.
    pub scheduler: signalbox_engine::SchedulerHandle,
    /// `server.timezone`: the zone of schedules that name none.
    pub schedule_timezone: String,
    /// Health checks' state, for `GET /v1/checks`.
    pub checks: signalbox_monitor::CheckStatuses,
    /// Which checks are heartbeats, for the ping routes.
    pub heartbeats: signalbox_monitor::HeartbeatNames,
    /// Where API schedules' own targets are built and kept (the router's).
    pub api_schedules: Arc<signalbox_engine::ApiScheduleTargets>,
}

/// All routes.
pub fn app(state: AppState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/v1/events", post(api::events::post_events))
        .route("/v1/events/{id}", get(api::events::get_event))
        .route("/v1/deliveries", get(api::deliveries::list))
        .route("/v1/deliveries/{id}", get(api::deliveries::get_one))
        .route("/v1/deliveries/{id}/retry", post(api::deliveries::retry))
        .route("/v1/rules/test", post(api::rules::test_pattern))
        .route("/v1/channels/{name}/test", post(api::channels::test))
        .route("/v1/schedules", get(api::schedules::list))
        .route(
            "/v1/schedules/{name}",
            get(api::schedules::get_one)
                .put(api::schedules::put)
                .delete(api::schedules::delete),
        )
        .route("/v1/schedules/{name}/pause", post(api::schedules::pause))
        .route("/v1/schedules/{name}/resume", post(api::schedules::resume))
        .route("/v1/schedules/{name}/fire", post(api::schedules::fire))
        .route("/v1/checks", get(api::checks::list))
        .route("/v1/checks/{name}", get(api::checks::get_one))
        // Pings accept GET and HEAD too, as healthchecks.io does: `curl URL` and agents that
        // only GET can ping.
        .route(
            "/v1/heartbeats/{name}",
            post(api::heartbeats::success).get(api::heartbeats::success),
        )
        .route(
            "/v1/heartbeats/{name}/start",
            post(api::heartbeats::start).get(api::heartbeats::start),
        )
        .route(
            "/v1/heartbeats/{name}/fail",
            post(api::heartbeats::fail).get(api::heartbeats::fail),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        // The handlers read the body as bytes and answer 413 themselves, in JSON.
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
