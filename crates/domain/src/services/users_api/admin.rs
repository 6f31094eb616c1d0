//! Admin routes of the Users API (`/auth/apps…`, `/auth/admin/users`, schemas) and the
//! admin-app bootstrap. Every route requires a session of an app with role `admin`.

use super::sessions::{clamp_limit, AppSession};
use super::{invalid_body, is_valid_app_id, RecordView, UsersApiService, DEFAULT_ADMIN_APP_ID};
use crate::error::{DomainError, StoreError};
use crate::ports::{AppRole, UsersApp};
use crate::time::Timestamp;
use crate::users_schema::{default_schema, validate_schema, UserSchema};
use serde::Serialize;
use serde_json::Value;

/// Length of a generated app password (`[A-Za-z0-9]`).
pub const APP_PASSWORD_CHARS: usize = 16;
/// Default page size of `GET /auth/admin/users`.
pub const ADMIN_USERS_DEFAULT_LIMIT: u32 = 50;
/// Largest page of `GET /auth/admin/users` (larger requests are clamped).
pub const ADMIN_USERS_MAX_LIMIT: u32 = 200;

/// One app in `GET /auth/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// App id.
    pub source_app_id: String,
    /// Role.
    pub role: AppRole,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Body of `GET /auth/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppList {
    /// Every app, oldest first.
    pub apps: Vec<AppView>,
}

/// Body of `POST /auth/apps`: the generated password is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApp {
    /// App id.
    pub source_app_id: String,
    /// Always `user`.
    pub role: AppRole,
    /// Generated password (16 characters).
    pub password: String,
}

/// Body of `DELETE /auth/apps/:sourceAppId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedApp {
    /// Always `true`.
    pub ok: bool,
    /// Number of records deleted with the app.
    pub deleted_users: u64,
}

/// Body of `GET /auth/admin/users`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AdminUsersPage {
    /// Records (with `sourceAppId`), newest first.
    pub users: Vec<RecordView>,
    /// Effective page size.
    pub limit: u32,
    /// Offset.
    pub skip: u64,
}

fn require_admin(session: &AppSession) -> Result<(), DomainError> {
    if session.role == AppRole::Admin {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "ADMIN_REQUIRED",
            "Forbidden: Admin access required",
        ))
    }
}

fn app_not_found() -> DomainError {
    DomainError::not_found("APP_NOT_FOUND", "App not found")
}

fn app_exists() -> DomainError {
    DomainError::conflict("APP_EXISTS", "App with this sourceAppId already exists")
}

fn invalid_app_id() -> DomainError {
    DomainError::bad_request(
        "INVALID_APP_ID",
        "Invalid sourceAppId: 1-80 characters of letters, digits, '.', '_' or '-'",
    )
}

impl UsersApiService {
    /// `GET /auth/apps`.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; storage errors.
    pub async fn list_apps(&self, session: &AppSession) -> Result<AppList, DomainError> {
        require_admin(session)?;
        let apps = self.ports.store.list_apps().await?;
        Ok(AppList {
            apps: apps
                .into_iter()
                .map(|a| AppView {
                    source_app_id: a.source_app_id,
                    role: a.role,
                    created_at: a.created_at,
                })
                .collect(),
        })
    }

    /// `POST /auth/apps` with `{sourceAppId}`: creates a `user` app with a generated password
    /// and the default schema.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 400 `INVALID_APP_ID`; 409 `APP_EXISTS`; storage errors.
    pub async fn create_app(
        &self,
        session: &AppSession,
        body: &Value,
    ) -> Result<CreatedApp, DomainError> {
        require_admin(session)?;
        let app_id = body
            .get("sourceAppId")
            .and_then(Value::as_str)
            .filter(|id| is_valid_app_id(id))
            .ok_or_else(invalid_app_id)?;
        let password = self.ports.ids.alphanumeric(APP_PASSWORD_CHARS);
        self.insert_app(app_id, AppRole::User, &password).await?;
        Ok(CreatedApp {
            source_app_id: app_id.to_owned(),
            role: AppRole::User,
            password,
        })
    }

    /// `DELETE /auth/apps/:sourceAppId`: deletes a `user` app with its records and sessions.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 404 `APP_NOT_FOUND`; 400 `CANNOT_DELETE_ADMIN_APP`; storage
    /// errors.
    pub async fn delete_app(
        &self,
        session: &AppSession,
        source_app_id: &str,
    ) -> Result<DeletedApp, DomainError> {
        require_admin(session)?;
        let app = self
            .ports
            .store
            .get_app(source_app_id)
            .await?
            .ok_or_else(app_not_found)?;
        if app.role == AppRole::Admin {
            return Err(DomainError::bad_request(
                "CANNOT_DELETE_ADMIN_APP",
                "Cannot delete admin app",
            ));
        }
        let deleted = self
            .ports
            .store
            .delete_app(source_app_id)
            .await?
            .ok_or_else(app_not_found)?;
        Ok(DeletedApp {
            ok: true,
            deleted_users: deleted,
        })
    }

    /// `GET /auth/admin/users?sourceAppId&limit&skip`: records of one app or of all apps,
    /// newest first; `limit` defaults to 50 and is clamped to 1–200.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; storage errors.
    pub async fn admin_users(
        &self,
        session: &AppSession,
        source_app_id: Option<&str>,
        limit: Option<u64>,
        skip: Option<u64>,
    ) -> Result<AdminUsersPage, DomainError> {
        require_admin(session)?;
        let limit = clamp_limit(limit, ADMIN_USERS_DEFAULT_LIMIT, ADMIN_USERS_MAX_LIMIT);
        let skip = skip.unwrap_or(0);
        let app = source_app_id.filter(|id| !id.is_empty());
        let records = self.ports.store.list_records(app, skip, limit).await?;
        Ok(AdminUsersPage {
            users: records
                .into_iter()
                .map(|r| RecordView::of(r, true))
                .collect(),
            limit,
            skip,
        })
    }

    /// `GET /auth/apps/:sourceAppId/schema`.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 404 `APP_NOT_FOUND`; storage errors.
    pub async fn get_schema(
        &self,
        session: &AppSession,
        source_app_id: &str,
    ) -> Result<UserSchema, DomainError> {
        require_admin(session)?;
        self.ports
            .store
            .current_schema(source_app_id)
            .await?
            .ok_or_else(app_not_found)
    }

    /// `PUT /auth/apps/:sourceAppId/schema` with `{rejectUnknown?, fields}`: stores the next
    /// version (old ones are kept for the records validated against them).
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 404 `APP_NOT_FOUND`; 400 `INVALID_SCHEMA` (details list every
    /// problem); storage errors.
    pub async fn put_schema(
        &self,
        session: &AppSession,
        source_app_id: &str,
        body: &Value,
    ) -> Result<UserSchema, DomainError> {
        require_admin(session)?;
        if self.ports.store.get_app(source_app_id).await?.is_none() {
            return Err(app_not_found());
        }
        let (reject_unknown, fields) = validate_schema(body)?;
        let schema = UserSchema {
            version: 0,
            reject_unknown,
            fields,
        };
        self.ports
            .store
            .save_schema(source_app_id, &schema)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => app_not_found(),
                other => other.into(),
            })
    }

    /// First start: unless an `admin` app exists, creates one named `app_id` (default
    /// [`DEFAULT_ADMIN_APP_ID`], from `USERS_ADMIN_APP_ID`) with `password` (from
    /// `USERS_ADMIN_PASSWORD`) or a generated one. Returns the generated password, to print
    /// once; `None` when nothing was generated (also when another instance starting on the
    /// same database created the admin app first).
    ///
    /// # Errors
    /// 400 `INVALID_APP_ID` (malformed id) or `INVALID_BODY` (empty password); 409
    /// `APP_EXISTS` when `app_id` is taken by a `user` app; storage errors.
    pub async fn bootstrap_admin_app(
        &self,
        app_id: Option<&str>,
        password: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        if self.has_admin_app().await? {
            return Ok(None);
        }
        let app_id = app_id.unwrap_or(DEFAULT_ADMIN_APP_ID);
        if !is_valid_app_id(app_id) {
            return Err(invalid_app_id());
        }
        let (password, generated) = match password {
            Some("") => return Err(invalid_body("the admin app password must not be empty")),
            Some(p) => (p.to_owned(), None),
            None => {
                let p = self.ports.ids.alphanumeric(APP_PASSWORD_CHARS);
                (p.clone(), Some(p))
            }
        };
        match self.insert_app(app_id, AppRole::Admin, &password).await {
            Ok(()) => Ok(generated),
            // Another instance starting on the same database created the admin app between
            // our listing and our insert: nothing left to do.
            Err(e) if e.code == app_exists().code && self.has_admin_app().await? => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn has_admin_app(&self) -> Result<bool, DomainError> {
        let apps = self.ports.store.list_apps().await?;
        Ok(apps.iter().any(|a| a.role == AppRole::Admin))
    }

    /// Stores a new app with the hash of `password` and the default schema.
    async fn insert_app(
        &self,
        app_id: &str,
        role: AppRole,
        password: &str,
    ) -> Result<(), DomainError> {
        let app = UsersApp {
            source_app_id: app_id.to_owned(),
            role,
            password_hash: self.ports.hasher.hash(password).await?,
            created_at: self.ports.clock.now(),
        };
        self.ports
            .store
            .create_app(&app, &default_schema())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => app_exists(),
                other => other.into(),
            })
    }
}
