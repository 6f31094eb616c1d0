//! Users API storage: apps, versioned schemas, records and sessions.

use crate::error::StoreError;
use crate::time::Timestamp;
use crate::users_schema::UserSchema;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Role of a Users-API app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppRole {
    /// May manage apps, schemas and every app's users.
    Admin,
    /// May read its own users.
    User,
}

/// A Users-API app (identified by `sourceAppId`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsersApp {
    /// App id, 1–80 of `[A-Za-z0-9._-]`.
    pub source_app_id: String,
    /// Role.
    pub role: AppRole,
    /// argon2id hash of the app password.
    pub password_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A sign-up record of one app.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// 24 lower-case hex characters.
    pub id: String,
    /// Owning app.
    pub source_app_id: String,
    /// Normalized email (unique per app).
    pub email: String,
    /// Validated data.
    pub data: Map<String, Value>,
    /// Schema version the data was validated against.
    pub schema_version: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
}

/// A server-side session (only the hash of the `sid` cookie is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct UsersSession {
    /// SHA-256 hex of the session id.
    pub token_hash: String,
    /// App logged in.
    pub source_app_id: String,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// Storage of the Users API.
#[async_trait]
pub trait UsersApiStore: Send + Sync {
    /// Creates an app together with its first schema (version 1).
    ///
    /// # Errors
    /// `Conflict` when the id exists; `Unavailable`/`Internal`.
    async fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError>;

    /// An app by id.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_app(&self, source_app_id: &str) -> Result<Option<UsersApp>, StoreError>;

    /// All apps, oldest first.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError>;

    /// Deletes an app with its schemas, records and sessions in one transaction; returns the
    /// number of records deleted, or `None` when the app does not exist.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError>;

    /// The app's newest schema.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError>;

    /// Stores `schema` as the next version (current + 1, assigned atomically; the given
    /// `version` is ignored) and returns it with its version. Old versions are kept.
    ///
    /// # Errors
    /// `NotFound` when the app does not exist; `Unavailable`/`Internal`.
    async fn save_schema(
        &self,
        source_app_id: &str,
        schema: &UserSchema,
    ) -> Result<UserSchema, StoreError>;

    /// Creates or replaces the `data` of the (app, email) record atomically: concurrent
    /// upserts of one email never create two records. A new record gets `new_id` and
    /// `created_at = now`; an existing one keeps its id and `created_at`.
    ///
    /// # Errors
    /// `NotFound` when the app does not exist; `Unavailable`/`Internal`.
    async fn upsert_record(
        &self,
        source_app_id: &str,
        email: &str,
        data: &Map<String, Value>,
        schema_version: i64,
        new_id: &str,
        now: Timestamp,
    ) -> Result<UserRecord, StoreError>;

    /// Records of one app (or all apps when `None`), newest `created_at` first (ties by id
    /// descending), paginated.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_records(
        &self,
        source_app_id: Option<&str>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError>;

    /// Stores a session.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn create_session(&self, session: &UsersSession) -> Result<(), StoreError>;

    /// The session with this hash if it exists and has not expired at `now`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UsersSession>, StoreError>;

    /// Deletes a session; returns whether it existed.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError>;

    /// Deletes every session that expired at or before `now` (each login adds one, so the
    /// table would otherwise only grow); returns how many.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError>;
}
