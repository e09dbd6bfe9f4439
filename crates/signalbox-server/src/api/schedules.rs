//! `/v1/schedules`: list and inspect schedules, create/replace/delete runtime ones, pause,
//! resume and fire by hand. Config-file schedules are read-only here (409) except for pause
//! and resume, which are operational switches.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use signalbox_config::ScheduleConfig;
use signalbox_config::schedule::check_schedule_name;
use signalbox_core::ErrorCode;
use signalbox_core::time::{millis_to_rfc3339, now_millis};
use signalbox_engine::scheduler::{compile_row, fire_event};
use signalbox_store::{DeleteScheduleOutcome, PutScheduleOutcome, ScheduleRow};

use crate::AppState;
use crate::api::body_bytes;
use crate::error::ApiError;

/// How many upcoming fire times `GET` shows.
const NEXT_COUNT: usize = 5;

fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no schedule named \"{name}\""))
}

fn config_owned(name: &str, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!(
            "schedule \"{name}\" is defined in the config files; {what} it there (only pause, resume and fire work through the API)"
        ),
    )
}

/// A schedule as the API shows it.
fn schedule_json(row: &ScheduleRow, default_tz: &str) -> Value {
    let now = now_millis();
    let definition: Value = serde_json::from_str(&row.definition).unwrap_or(Value::Null);
    let (next, error, timezone) = match compile_row(row, default_tz) {
        Ok(spec) => {
            let from = Utc::now();
            let next: Vec<String> = if row.paused {
                Vec::new()
            } else {
                spec.schedule
                    .upcoming(from, spec.tz)
                    .take(NEXT_COUNT)
                    .map(|t| {
                        t.with_timezone(&spec.tz)
                            .to_rfc3339_opts(SecondsFormat::Secs, false)
                    })
                    .collect()
            };
            (next, None, Some(spec.tz.name().to_owned()))
        }
        Err(e) => (Vec::new(), Some(e), None),
    };
    let owner = (row.lease_until > now)
        .then(|| json!({"id": row.lease_owner, "lease_until": millis_to_rfc3339(row.lease_until)}));
    json!({
        "name": row.name,
        "source": row.source.as_str(),
        "expression": definition.get("cron"),
        "timezone": timezone,
        "misfire": definition.get("misfire"),
        "catch_up_window": definition.get("catch_up_window"),
        "quiet_periods": definition.get("quiet_periods"),
        "description": definition.get("description"),
        "paused": row.paused,
        "version": row.version,
        "next": next,
        "error": error,
        "last_fire": row.last_scheduled_time.map(|t| json!({
            "scheduled_time": millis_to_rfc3339(t),
            "fired_at": row.last_fired_at.map(millis_to_rfc3339),
            "outcome": row.last_outcome,
        })),
        "owner": owner,
        "created_at": millis_to_rfc3339(row.created_at),
        "updated_at": millis_to_rfc3339(row.updated_at),
    })
}

/// `GET /v1/schedules`
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = state.store.list_schedules().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| schedule_json(r, &state.schedule_timezone))
        .collect();
    Ok(Json(json!({ "schedules": items })))
}

/// `GET /v1/schedules/{name}`
pub async fn get_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = state
        .store
        .schedule(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(schedule_json(&row, &state.schedule_timezone)))
}

/// `PUT /v1/schedules/{name}`: the YAML fields as JSON. 201 when created, 200 when replaced.
pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body, state.body_limit)?;
    check_schedule_name(&name).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e))?;
    let config: ScheduleConfig = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("schedule \"{name}\": {e}"),
        )
    })?;
    // Built now so that a bad target is a 400 here rather than a dead delivery later.
    let targets = state
        .api_schedules
        .build(&name, &config.targets)
        .map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("schedule \"{name}\": {}", text.join("; ")),
            )
        })?;
    if let Err(problems) = config.compile(&name, &state.schedule_timezone) {
        let text: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("schedule \"{name}\": {}", text.join("; ")),
        ));
    }
    let mut definition = config.definition_json();
    // The targets as sent: every instance builds them from the store.
    if let Ok(Value::Object(mut sent)) = serde_json::from_slice::<Value>(&body)
        && let Some(sent_targets) = sent.remove("targets")
    {
        definition["targets"] = sent_targets;
    }
    let definition = definition.to_string();
    let outcome = state
        .store
        .put_schedule(&name, &definition, config.paused, now_millis())
        .await?;
    let (status, row) = match outcome {
        PutScheduleOutcome::Created(row) => (StatusCode::CREATED, row),
        PutScheduleOutcome::Updated(row) => (StatusCode::OK, row),
        PutScheduleOutcome::ConfigOwned => return Err(config_owned(&name, "change")),
    };
    state.api_schedules.set(&name, targets);
    state.scheduler.refresh();
    Ok((status, Json(schedule_json(&row, &state.schedule_timezone))).into_response())
}

/// `DELETE /v1/schedules/{name}`: 204, or 409 for a config schedule.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.store.delete_schedule(&name).await? {
        DeleteScheduleOutcome::Deleted => {
            state.api_schedules.set(&name, Vec::new());
            state.scheduler.refresh();
            Ok(StatusCode::NO_CONTENT)
        }
        DeleteScheduleOutcome::NotFound => Err(not_found(&name)),
        DeleteScheduleOutcome::ConfigOwned => Err(config_owned(&name, "remove")),
    }
}

async fn set_paused(state: AppState, name: String, paused: bool) -> Result<Json<Value>, ApiError> {
    let row = state
        .store
        .set_schedule_paused(&name, paused, now_millis())
        .await?
        .ok_or_else(|| not_found(&name))?;
    state.scheduler.refresh();
    Ok(Json(schedule_json(&row, &state.schedule_timezone)))
}

/// `POST /v1/schedules/{name}/pause`
pub async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_paused(state, name, true).await
}

/// `POST /v1/schedules/{name}/resume`: fires resume from now; the paused span is not caught up.
pub async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_paused(state, name, false).await
}

/// `POST /v1/schedules/{name}/fire`: a manual fire now (`manual: true`, a unique id), routed and
/// delivered like a scheduled one. Works on paused schedules too.
pub async fn fire(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let row = state
        .store
        .schedule(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let now = Utc::now();
    let event = fire_event(&row.name, now, now, false, true);
    let result = state
        .ingest
        .submit_schedule_fire(event, &row.name)
        .await
        .map_err(|e| match e {
            signalbox_engine::IngestError::Closed => {
                ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down")
            }
            signalbox_engine::IngestError::Store(e) => {
                ApiError::new(ErrorCode::StoreUnavailable, e.to_string())
            }
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": result.id, "deliveries": result.deliveries})),
    ))
}
