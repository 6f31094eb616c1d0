//! The one error type of the HTTP layer: every failure renders SPEC §1's JSON body
//! `{"error", "message", "code", "details"?}` with a truthful status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::error::{DomainError, ErrorKind};
use serde_json::json;
use std::fmt;

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
        let mut body = json!({"error": e.message, "message": e.message, "code": e.code});
        if let Some(details) = &e.details {
            body["details"] = details.clone();
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ErrorKind::RateLimited(secs) = e.kind {
            response.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
        }
        response.json(body)
    }
}
