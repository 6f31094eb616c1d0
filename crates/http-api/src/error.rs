//! The one error type of the HTTP layer: every failure renders SPEC §1's JSON body
//! `{"error", "message", "code", "details"?}` with a truthful status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::error::{DomainError, ErrorKind};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// The JSON body of every error response (SPEC §1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable message (the same text as `message`, for upstream clients).
    pub error: String,
    /// Human-readable message.
    pub message: String,
    /// Stable machine-readable code, e.g. `TENANT_FORBIDDEN`.
    pub code: String,
    /// Structured details, e.g. every failing field of a validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// A failure as the client sees it.
#[derive(Debug)]
pub struct ApiError(pub DomainError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError(DomainError::bad_request(code, message))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.0.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        if matches!(e.kind, ErrorKind::Internal | ErrorKind::Unavailable) {
            // The cause is logged, never returned.
            tracing::error!(code = %e.code, cause = ?e.source, "request failed");
        }
        let body = ErrorBody {
            error: e.message.clone(),
            message: e.message.clone(),
            code: e.code.to_string(),
            details: e.details.clone(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ErrorKind::RateLimited(secs) = e.kind {
            response.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
        }
        response.json(body)
    }
}
