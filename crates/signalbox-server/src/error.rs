//! API errors: `{"error":{"code","message"}}` with the status the code maps to.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signalbox_core::ErrorCode;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// Machine-readable code; decides the status.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"code": self.code.as_str(), "message": self.message}});
        (status, Json(body)).into_response()
    }
}

impl From<signalbox_store::StoreError> for ApiError {
    fn from(e: signalbox_store::StoreError) -> Self {
        tracing::error!(error = %e, "store request failed");
        ApiError::new(ErrorCode::StoreUnavailable, e.to_string())
    }
}
