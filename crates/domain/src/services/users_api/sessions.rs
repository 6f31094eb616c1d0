//! Cookie sessions of Users-API apps (`/auth/login|logout|session`) and the app-scoped record
//! listing (`GET /auth/users`).

use super::{invalid_body, is_valid_app_id, OkBody, RecordView, UsersApiService};
use crate::error::DomainError;
use crate::ports::{AppRole, UsersSession};
use crate::services::credentials::{later, sha256_hex, TOKEN_BYTES};
use serde::Serialize;
use serde_json::Value;

/// Default page size of `GET /auth/users`, also its maximum.
pub const APP_USERS_LIMIT: u32 = 1000;

/// An authenticated app session: the body of `GET /auth/session`, and what the session routes
/// receive after [`UsersApiService::session`] succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSession {
    /// App logged in.
    pub source_app_id: String,
    /// Its current role (`"admin"` / `"user"`).
    pub role: AppRole,
}

/// Body of a successful `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionLoginBody {
    /// Always `true`.
    pub ok: bool,
    /// App logged in.
    pub source_app_id: String,
    /// Its role.
    pub role: AppRole,
}

/// A new session: the `sid` cookie value (shown only here; only its SHA-256 is stored), its
/// `Max-Age`, and the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Value of the `sid` cookie (64 hex characters).
    pub token: String,
    /// Cookie `Max-Age` in seconds (the session lifetime).
    pub max_age_secs: u64,
    /// Response body.
    pub body: SessionLoginBody,
}

/// Body of `GET /auth/users`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppUsers {
    /// The app's records, newest first.
    pub users: Vec<RecordView>,
}

fn invalid_credentials() -> DomainError {
    DomainError::unauthenticated("INVALID_CREDENTIALS", "Invalid credentials")
}

fn not_authenticated() -> DomainError {
    DomainError::unauthenticated("NOT_AUTHENTICATED", "Not authenticated")
}

impl UsersApiService {
    /// `POST /auth/login` with `{sourceAppId, password}`: checks the app's password and opens
    /// a session. Failures are counted per app and per client IP.
    ///
    /// # Errors
    /// 400 `INVALID_BODY` (missing or malformed `sourceAppId` or `password`); 429
    /// `RATE_LIMITED`; 401 `INVALID_CREDENTIALS` (unknown app or wrong password); storage
    /// errors.
    pub async fn login(&self, body: &Value, client_ip: &str) -> Result<NewSession, DomainError> {
        let app_id = body
            .get("sourceAppId")
            .and_then(Value::as_str)
            .filter(|id| is_valid_app_id(id))
            .ok_or_else(|| invalid_body("sourceAppId is missing or invalid"))?;
        let password = body
            .get("password")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid_body("password is missing or invalid"))?;
        let _turn = self.limiter.turn().await?;
        let now = self.ports.clock.now();
        self.limiter.check(app_id, client_ip, now).await?;

        let Some(app) = self.ports.store.get_app(app_id).await? else {
            self.decoy
                .burn(
                    self.ports.hasher.as_ref(),
                    self.ports.ids.as_ref(),
                    password,
                )
                .await?;
            self.limiter.failed(app_id, client_ip, now).await?;
            return Err(invalid_credentials());
        };
        if !self
            .ports
            .hasher
            .verify(password, &app.password_hash)
            .await
            .valid
        {
            self.limiter.failed(app_id, client_ip, now).await?;
            return Err(invalid_credentials());
        }
        self.limiter.succeeded(app_id).await?;

        let token = self.ports.ids.hex(TOKEN_BYTES);
        let session = UsersSession {
            token_hash: sha256_hex(&token),
            source_app_id: app.source_app_id.clone(),
            expires_at: later(now, self.settings.session_ttl_secs)?,
        };
        self.ports.store.create_session(&session).await?;
        if self.session_clean_up.due() {
            // Best effort (see `housekeeping`): the session is stored; failing the login now
            // would hand out nothing for it.
            let _ = self.ports.store.delete_expired_sessions(now).await;
        }
        Ok(NewSession {
            token,
            max_age_secs: self.settings.session_ttl_secs,
            body: SessionLoginBody {
                ok: true,
                source_app_id: app.source_app_id,
                role: app.role,
            },
        })
    }

    /// `POST /auth/logout`: deletes the session server-side (if any; idempotent).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn logout(&self, token: Option<&str>) -> Result<OkBody, DomainError> {
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            self.ports.store.delete_session(&sha256_hex(token)).await?;
        }
        Ok(OkBody::OK)
    }

    /// `GET /auth/session`, and the authentication of every session route: the unexpired
    /// session of the `sid` cookie, with the app's current role.
    ///
    /// # Errors
    /// 401 `NOT_AUTHENTICATED` "Not authenticated" (no cookie, unknown or expired session,
    /// app deleted); storage errors.
    pub async fn session(&self, token: Option<&str>) -> Result<AppSession, DomainError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(not_authenticated)?;
        let now = self.ports.clock.now();
        let session = self
            .ports
            .store
            .get_session(&sha256_hex(token), now)
            .await?
            .filter(|s| s.expires_at > now)
            .ok_or_else(not_authenticated)?;
        let app = self
            .ports
            .store
            .get_app(&session.source_app_id)
            .await?
            .ok_or_else(not_authenticated)?;
        Ok(AppSession {
            source_app_id: app.source_app_id,
            role: app.role,
        })
    }

    /// `GET /auth/users?limit&skip`: the session app's records, newest first; `limit`
    /// defaults to 1000, which is also its maximum (larger values are clamped).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn list_users(
        &self,
        session: &AppSession,
        limit: Option<u64>,
        skip: Option<u64>,
    ) -> Result<AppUsers, DomainError> {
        let limit = clamp_limit(limit, APP_USERS_LIMIT, APP_USERS_LIMIT);
        let records = self
            .ports
            .store
            .list_records(Some(&session.source_app_id), skip.unwrap_or(0), limit)
            .await?;
        Ok(AppUsers {
            users: records
                .into_iter()
                .map(|r| RecordView::of(r, false))
                .collect(),
        })
    }
}

/// `limit` defaulting to `default`, clamped to `1..=max`.
pub(super) fn clamp_limit(limit: Option<u64>, default: u32, max: u32) -> u32 {
    match limit {
        None => default,
        Some(n) => u32::try_from(n).unwrap_or(max).clamp(1, max),
    }
}
