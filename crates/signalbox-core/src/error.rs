//! Error codes: the stable, machine-readable part of every API error (`{"error":{"code",...}}`).

/// A stable error code; the HTTP layer maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not valid JSON.
    InvalidJson,
    /// The JSON is valid but an envelope field is missing or has the wrong type.
    InvalidEvent,
    /// A request field other than an event is wrong.
    InvalidRequest,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The requested object does not exist.
    NotFound,
    /// The route exists but not with this HTTP method.
    MethodNotAllowed,
    /// The request conflicts with the object's state.
    Conflict,
    /// The store could not be reached or failed.
    StoreUnavailable,
    /// The server is shutting down and takes no more work.
    ShuttingDown,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// The snake_case name written into API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson | ErrorCode::InvalidEvent | ErrorCode::InvalidRequest => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::StoreUnavailable | ErrorCode::ShuttingDown => 503,
            ErrorCode::Internal => 500,
        }
    }
}
