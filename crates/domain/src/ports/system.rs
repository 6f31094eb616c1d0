//! Clock, identifiers, password hashing and token signing.

use crate::error::DomainError;
use crate::time::Timestamp;
use async_trait::async_trait;

/// Source of the current time.
#[cfg_attr(test, mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC milliseconds.
    fn now(&self) -> Timestamp;
}

/// Source of random identifiers (a CSPRNG in production).
#[cfg_attr(test, mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A random UUID v4 in its hyphenated lower-case form.
    fn uuid(&self) -> String;
    /// `bytes` random bytes as lower-case hex (e.g. 16 → an artifact id).
    fn hex(&self, bytes: usize) -> String;
    /// `len` random characters from `[A-Za-z0-9]` (generated passwords).
    fn alphanumeric(&self, len: usize) -> String;
}

/// Outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The password matches.
    pub valid: bool,
    /// The stored hash uses an old scheme or weaker parameters and should be replaced.
    pub needs_rehash: bool,
}

/// Password hashing (argon2id; verifies imported bcrypt hashes too).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password (runs off the async workers).
    ///
    /// # Errors
    /// Internal error when hashing fails.
    async fn hash(&self, password: &str) -> Result<String, DomainError>;

    /// Checks a password against a stored hash; a malformed hash is simply not valid.
    async fn verify(&self, password: &str, hash: &str) -> PasswordCheck;
}

/// Claims of an access token (JWT HS256).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessClaims {
    /// Subject: the user id as text.
    pub sub: String,
    /// User id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Role at issue time (re-checked against storage on every request).
    pub role: crate::ports::Role,
    /// Tenants at issue time.
    pub tenant_ids: Vec<String>,
    /// Per-tenant grants at issue time.
    pub role_assignments: Vec<crate::ports::RoleAssignment>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Signs and verifies access tokens.
#[cfg_attr(test, mockall::automock)]
pub trait TokenSigner: Send + Sync {
    /// Signs claims into a compact JWT.
    ///
    /// # Errors
    /// Internal error when signing fails.
    fn sign(&self, claims: &AccessClaims) -> Result<String, DomainError>;

    /// Verifies signature, algorithm and expiry; returns the claims.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` for any invalid or expired token.
    fn verify(&self, token: &str) -> Result<AccessClaims, DomainError>;
}
