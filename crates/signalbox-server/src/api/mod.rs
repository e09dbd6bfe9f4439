//! `/v1` handlers.

pub mod channels;
pub mod checks;
pub mod deliveries;
pub mod events;
pub mod heartbeats;
pub mod rules;
pub mod schedules;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use signalbox_core::ErrorCode;

use crate::error::ApiError;

/// Reads a body, turning "too large" into a JSON 413.
pub(crate) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than the limit of {limit} bytes (server.body_limit)"),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("cannot read the body: {e}"),
            )
        }
    })
}
