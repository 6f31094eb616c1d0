//! The Users API (SPEC §7, `reference/users-api.md`): public schema-validated upserts keyed by
//! `x-app-id`, cookie sessions of apps, and admin management of apps, schemas and records.

mod admin;
mod schema_cache;
mod sessions;
#[cfg(test)]
mod tests;

pub use super::login_limit::LoginLimits;
pub use admin::{
    AdminUsersPage, AppList, AppView, CreatedApp, DeletedApp, ADMIN_USERS_DEFAULT_LIMIT,
    ADMIN_USERS_MAX_LIMIT, APP_PASSWORD_CHARS,
};
pub use sessions::{AppSession, AppUsers, NewSession, SessionLoginBody, APP_USERS_LIMIT};

use super::credentials::{parse_email, DecoyHash};
use super::housekeeping::CleanUp;
use super::login_limit::LoginLimiter;
use crate::error::{DomainError, StoreError};
use crate::ports::{
    Clock, IdGenerator, LoginThrottleStore, PasswordHasher, UserRecord, UsersApiStore,
};
use crate::time::Timestamp;
use crate::users_schema::UserSchema;
use schema_cache::SchemaCache;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Longest `sourceAppId`.
pub const MAX_APP_ID_CHARS: usize = 80;
/// Default lifetime of a session: 7 days.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 7 * 24 * 3600;
/// Default id of the admin app created at first start.
pub const DEFAULT_ADMIN_APP_ID: &str = "admin";

/// The ports the Users API uses.
#[derive(Clone)]
pub struct UsersApiPorts {
    /// Apps, schemas, records and sessions.
    pub store: Arc<dyn UsersApiStore>,
    /// Failed-login counters.
    pub login_throttle: Arc<dyn LoginThrottleStore>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Current time.
    pub clock: Arc<dyn Clock>,
    /// Random ids, tokens and passwords.
    pub ids: Arc<dyn IdGenerator>,
}

/// Lifetimes and limits of [`UsersApiService`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersApiSettings {
    /// Lifetime of a session in seconds (default 7 days), also the cookie's `Max-Age`.
    pub session_ttl_secs: u64,
    /// Failed-login thresholds of `POST /auth/login` (per app and per client IP).
    pub login_limits: LoginLimits,
}

impl Default for UsersApiSettings {
    fn default() -> Self {
        UsersApiSettings {
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            login_limits: LoginLimits::default(),
        }
    }
}

/// Body of a successful `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpsertedRecord {
    /// Record id (24 hex characters).
    pub id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time (now).
    pub updated_at: Timestamp,
}

/// A record as listed by `/auth/users` (without `sourceAppId`) and `/auth/admin/users`
/// (with it).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// Record id.
    pub id: String,
    /// Owning app (admin listing only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_app_id: Option<String>,
    /// Normalized email.
    pub email: String,
    /// Stored data.
    pub data: Map<String, Value>,
    /// Schema version the data was validated against.
    pub schema_version: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
}

impl RecordView {
    fn of(record: UserRecord, with_app: bool) -> Self {
        RecordView {
            id: record.id,
            source_app_id: with_app.then_some(record.source_app_id),
            email: record.email,
            data: record.data,
            schema_version: record.schema_version,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// A `{"ok": true}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OkBody {
    /// Always `true`.
    pub ok: bool,
}

impl OkBody {
    const OK: OkBody = OkBody { ok: true };
}

/// Whether `id` is a valid `sourceAppId`: 1–80 of `[A-Za-z0-9._-]`.
pub fn is_valid_app_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_APP_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid_app_id_header() -> DomainError {
    DomainError::bad_request("INVALID_APP_ID", "Missing or invalid x-app-id header")
}

fn invalid_body(why: &str) -> DomainError {
    DomainError::bad_request("INVALID_BODY", format!("Invalid request body: {why}"))
}

/// The Users API use cases.
pub struct UsersApiService {
    ports: UsersApiPorts,
    settings: UsersApiSettings,
    limiter: LoginLimiter,
    decoy: DecoyHash,
    schemas: SchemaCache,
    session_clean_up: CleanUp,
}

impl UsersApiService {
    /// Builds the service.
    pub fn new(ports: UsersApiPorts, settings: UsersApiSettings) -> Self {
        let limiter = LoginLimiter::new(
            ports.login_throttle.clone(),
            settings.login_limits,
            "users-login",
        );
        UsersApiService {
            ports,
            settings,
            limiter,
            decoy: DecoyHash::default(),
            schemas: SchemaCache::default(),
            session_clean_up: CleanUp::default(),
        }
    }

    /// `POST /v1/users` with `{email, data}`: creates or replaces the `data` of the app's
    /// record with that (normalized) email, after validating `data` against the app's current
    /// schema (absent `data` is validated as `{}`).
    ///
    /// # Errors
    /// 400 `INVALID_APP_ID` (missing, malformed or unknown `x-app-id`), `INVALID_BODY` (not
    /// an object), `INVALID_EMAIL`, `SCHEMA_VALIDATION` (details list every failing field);
    /// storage errors.
    pub async fn upsert(
        &self,
        app_id_header: Option<&str>,
        body: &Value,
    ) -> Result<UpsertedRecord, DomainError> {
        let app_id = self.public_app(app_id_header).await?;
        let body = body
            .as_object()
            .ok_or_else(|| invalid_body("expected a JSON object"))?;
        let email = body
            .get("email")
            .and_then(Value::as_str)
            .and_then(parse_email)
            .ok_or_else(|| DomainError::bad_request("INVALID_EMAIL", "Invalid email address"))?;
        let schema = self
            .ports
            .store
            .current_schema(&app_id)
            .await?
            .ok_or_else(invalid_app_id_header)?;
        let compiled = self.schemas.compiled(&app_id, &schema)?;
        let empty = Value::Object(Map::new());
        let data = match body.get("data") {
            None | Some(Value::Null) => &empty,
            Some(d) => d,
        };
        let data = compiled.validate(data)?;
        let new_id = self.ports.ids.hex(12);
        let now = self.ports.clock.now();
        let record = self
            .ports
            .store
            .upsert_record(&app_id, &email, &data, compiled.version(), &new_id, now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => invalid_app_id_header(),
                other => other.into(),
            })?;
        Ok(UpsertedRecord {
            id: record.id,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// `GET /v1/schema`: the current schema of the `x-app-id` app.
    ///
    /// # Errors
    /// 400 `INVALID_APP_ID`; storage errors.
    pub async fn schema(&self, app_id_header: Option<&str>) -> Result<UserSchema, DomainError> {
        let app_id = self.public_app(app_id_header).await?;
        self.ports
            .store
            .current_schema(&app_id)
            .await?
            .ok_or_else(invalid_app_id_header)
    }

    /// The app named by an `x-app-id` header, which must exist.
    async fn public_app(&self, header: Option<&str>) -> Result<String, DomainError> {
        let id = header
            .filter(|id| is_valid_app_id(id))
            .ok_or_else(invalid_app_id_header)?;
        match self.ports.store.get_app(id).await? {
            Some(app) => Ok(app.source_app_id),
            None => Err(invalid_app_id_header()),
        }
    }
}
