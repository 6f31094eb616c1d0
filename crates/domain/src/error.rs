//! Errors: what a storage adapter can report, and what a use case reports to its caller.

use serde_json::Value;
use std::borrow::Cow;

/// Boxed source error of an adapter failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a storage port can fail with. Adapters map unique violations to
/// [`StoreError::Conflict`], absent rows to [`StoreError::NotFound`], lost connections to
/// [`StoreError::Unavailable`], and everything else to [`StoreError::Internal`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken (the text names the rule, never the data).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now; retrying later may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other storage failure.
    #[error("storage failure")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Wraps an unexpected adapter error.
    pub fn internal(e: impl Into<BoxError>) -> Self {
        StoreError::Internal(e.into())
    }

    /// Wraps a connectivity error.
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(e.into())
    }

    /// The same failure for another caller (a failure shared by several writes of one
    /// group commit): the same variant, the source kept as its message.
    pub fn for_another(&self) -> StoreError {
        match self {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict(rule) => StoreError::Conflict(rule.clone()),
            StoreError::Unavailable(cause) => StoreError::unavailable(cause.to_string()),
            StoreError::Internal(cause) => StoreError::internal(cause.to_string()),
        }
    }
}

/// The class of a [`DomainError`]; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed input (HTTP 400).
    BadRequest,
    /// Missing or invalid credentials (HTTP 401).
    Unauthenticated,
    /// Authenticated but not allowed (HTTP 403).
    Forbidden,
    /// Unknown resource (HTTP 404).
    NotFound,
    /// State conflict (HTTP 409).
    Conflict,
    /// Request too large (HTTP 413).
    TooLarge,
    /// Well-formed but semantically invalid (HTTP 422).
    Unprocessable,
    /// Rate limited (HTTP 429); the number is the suggested wait in seconds.
    RateLimited(u64),
    /// Storage unavailable (HTTP 503).
    Unavailable,
    /// Unexpected failure (HTTP 500); the message shown is generic.
    Internal,
}

/// A use-case failure: a class, a stable `UPPER_SNAKE` code, a human message safe to show,
/// and optional structured details (e.g. the failing fields).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DomainError {
    /// Class of the failure.
    pub kind: ErrorKind,
    /// Stable machine-readable code.
    pub code: Cow<'static, str>,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// Optional structured details.
    pub details: Option<Value>,
    /// Underlying cause, logged but never shown.
    #[source]
    pub source: Option<BoxError>,
}

impl DomainError {
    /// Builds an error of `kind` with `code` and `message`.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        DomainError {
            kind,
            code: code.into(),
            message: message.into(),
            details: None,
            source: None,
        }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// 403 with `code`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }

    /// 401 with `code`.
    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// 422 with `code`.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, code, message)
    }

    /// The 403 every tenant route returns for a tenant the user may not access.
    pub fn tenant_forbidden() -> Self {
        Self::forbidden("TENANT_FORBIDDEN", "Forbidden: No access to this tenant")
    }

    /// The 404 for an unknown `configId`.
    pub fn tenant_not_found() -> Self {
        Self::not_found("CONFIG_NOT_FOUND", "App instance not found")
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => DomainError::not_found("NOT_FOUND", "Not found"),
            StoreError::Conflict(rule) => {
                DomainError::conflict("CONFLICT", format!("Conflict: {rule}"))
            }
            StoreError::Unavailable(src) => DomainError {
                source: Some(src),
                ..DomainError::new(
                    ErrorKind::Unavailable,
                    "STORAGE_UNAVAILABLE",
                    "Storage is unavailable, retry later",
                )
            },
            StoreError::Internal(src) => DomainError {
                source: Some(src),
                ..DomainError::new(ErrorKind::Internal, "INTERNAL", "Internal server error")
            },
        }
    }
}
