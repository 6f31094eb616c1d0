//! Account management by admins (`/api/users`) and the first-admin bootstrap (SPEC §6).
//!
//! Password policy: a password must be non-empty and nothing more, as upstream (which had no
//! policy at all) — existing deployments and the admin UI keep working; operators who want a
//! stronger policy can enforce it in their identity process.

#[cfg(test)]
mod tests;

use super::auth::{AccountPorts, MessageBody, PrincipalCache, UserView};
use super::credentials::{normalize_email, parse_account_email};
use crate::error::{DomainError, StoreError};
use crate::ports::{
    AccountChange, Clock, IdGenerator, NewUser, PasswordHasher, Role, RoleAssignment, User,
    UserChange, UserStore,
};
use crate::principal::Principal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Email of the admin created at first start when `ADMIN_EMAIL` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
/// Length of a generated admin password.
pub const GENERATED_PASSWORD_CHARS: usize = 20;

/// Body of a successful `POST /api/users` (status 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    /// `"User created successfully"`.
    pub message: &'static str,
    /// Id of the new user.
    pub id: i64,
}

/// The admin created by [`UserAdminService::bootstrap_admin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrappedAdmin {
    /// Its email.
    pub email: String,
    /// The generated password, to print once; `None` when the operator supplied one.
    pub generated_password: Option<String>,
}

/// User management, admin only.
pub struct UserAdminService {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    cache: Arc<PrincipalCache>,
}

fn user_not_found() -> DomainError {
    DomainError::not_found("USER_NOT_FOUND", "User not found")
}

fn email_exists() -> DomainError {
    DomainError::conflict("EMAIL_EXISTS", "A user with this email already exists")
}

fn last_admin() -> DomainError {
    DomainError::conflict("LAST_ADMIN", "The last admin cannot be deleted or demoted")
}

/// The answer to an account change the store refused or did not find.
fn written(change: AccountChange) -> Result<(), DomainError> {
    match change {
        AccountChange::Done => Ok(()),
        AccountChange::NotFound => Err(user_not_found()),
        AccountChange::LastAdmin => Err(last_admin()),
    }
}

/// The JSON object of an account create or update. NUL characters are refused anywhere in
/// it (PostgreSQL stores them neither in text nor in `jsonb`; the same answer on every
/// backend).
fn account_body(body: &Value) -> Result<&Map<String, Value>, DomainError> {
    let body = body
        .as_object()
        .ok_or_else(|| invalid_body("expected a JSON object"))?;
    if crate::nul::map_holds_nul(body) {
        return Err(invalid_body("must not contain NUL characters"));
    }
    Ok(body)
}

fn invalid_body(why: &str) -> DomainError {
    DomainError::bad_request("INVALID_BODY", format!("Invalid request body: {why}"))
}

/// Conflicts of the user store are taken emails; other errors pass through.
fn map_conflict(e: StoreError) -> DomainError {
    match e {
        StoreError::Conflict(_) => email_exists(),
        other => other.into(),
    }
}

/// Members of a body that may be absent or `null`.
fn member<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn parse_email_field(value: &Value) -> Result<String, DomainError> {
    value
        .as_str()
        .and_then(parse_account_email)
        .ok_or_else(|| DomainError::bad_request("INVALID_EMAIL", "Invalid email address"))
}

fn parse_role(value: &Value) -> Result<Role, DomainError> {
    value
        .as_str()
        .and_then(Role::parse)
        .ok_or_else(|| DomainError::bad_request("INVALID_ROLE", "Role must be ADMIN or USER"))
}

fn parse_tenant_ids(value: &Value) -> Result<Vec<String>, DomainError> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid_body("tenantIds must be an array of strings"))?;
    items
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid_body("tenantIds must be an array of strings"))
        })
        .collect()
}

fn parse_role_assignments(value: &Value) -> Result<Vec<RoleAssignment>, DomainError> {
    serde_json::from_value(value.clone())
        .map_err(|_| invalid_body("roleAssignments must be an array of {tenantId, role, areaId?}"))
}

/// The password of a body: `Ok(None)` when absent, `null` or empty (for updates).
fn parse_password(body: &Map<String, Value>) -> Result<Option<&str>, DomainError> {
    match member(body, "password") {
        None => Ok(None),
        Some(Value::String(p)) if p.is_empty() => Ok(None),
        Some(Value::String(p)) => Ok(Some(p)),
        Some(_) => Err(DomainError::bad_request(
            "INVALID_PASSWORD",
            "Password must be a non-empty string",
        )),
    }
}

impl UserAdminService {
    /// Builds the service; `cache` is [`AuthService::principal_cache`](super::auth::AuthService::principal_cache),
    /// invalidated on every change so that it applies to the next request at once.
    pub fn new(ports: &AccountPorts, cache: Arc<PrincipalCache>) -> Self {
        UserAdminService {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            cache,
        }
    }

    /// `GET /api/users`: every account, by id.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; storage errors.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<UserView>, DomainError> {
        principal.require_admin()?;
        let users = self.users.list_users().await?;
        Ok(users.iter().map(UserView::of).collect())
    }

    /// `POST /api/users` with `{email, password, role?, tenantIds?, roleAssignments?}`;
    /// `role` defaults to `USER`.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 400 `INVALID_BODY` (not an object, bad `tenantIds` or
    /// `roleAssignments`), `INVALID_EMAIL`, `INVALID_PASSWORD` (missing or empty),
    /// `INVALID_ROLE`; 409 `EMAIL_EXISTS`; storage errors.
    pub async fn create(
        &self,
        principal: &Principal,
        body: &Value,
    ) -> Result<CreatedUser, DomainError> {
        principal.require_admin()?;
        let body = account_body(body)?;
        let email = parse_email_field(member(body, "email").unwrap_or(&Value::Null))?;
        let password = parse_password(body)?.ok_or_else(|| {
            DomainError::bad_request("INVALID_PASSWORD", "Password must be a non-empty string")
        })?;
        let role = member(body, "role")
            .map(parse_role)
            .transpose()?
            .unwrap_or(Role::User);
        let tenant_ids = member(body, "tenantIds")
            .map(parse_tenant_ids)
            .transpose()?
            .unwrap_or_default();
        let role_assignments = member(body, "roleAssignments")
            .map(parse_role_assignments)
            .transpose()?
            .unwrap_or_default();
        let new = NewUser {
            email,
            password_hash: self.hasher.hash(password).await?,
            role,
            tenant_ids,
            role_assignments,
            created_at: self.clock.now(),
        };
        let user = self.users.create_user(&new).await.map_err(map_conflict)?;
        Ok(CreatedUser {
            message: "User created successfully",
            id: user.id,
        })
    }

    /// `PUT /api/users/:id` with any of `{email, password, role, tenantIds, roleAssignments}`;
    /// absent members (and an absent or empty password) keep their current value. The last
    /// admin cannot be demoted.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 404 `USER_NOT_FOUND`; 400 as in [`UserAdminService::create`];
    /// 409 `EMAIL_EXISTS` or `LAST_ADMIN`; storage errors.
    pub async fn update(
        &self,
        principal: &Principal,
        id_or_email: &str,
        body: &Value,
    ) -> Result<MessageBody, DomainError> {
        principal.require_admin()?;
        let body = account_body(body)?;
        let user = self
            .resolve(id_or_email)
            .await?
            .ok_or_else(user_not_found)?;
        let mut change = UserChange {
            email: member(body, "email").map(parse_email_field).transpose()?,
            role: member(body, "role").map(parse_role).transpose()?,
            tenant_ids: member(body, "tenantIds")
                .map(parse_tenant_ids)
                .transpose()?,
            role_assignments: member(body, "roleAssignments")
                .map(parse_role_assignments)
                .transpose()?,
            password_hash: None,
            password_changed_at: None,
        };
        let new_password = parse_password(body)?;
        if let Some(password) = new_password {
            change.password_hash = Some(self.hasher.hash(password).await?);
            // Sessions opened with the old password end now: the store revokes their refresh
            // tokens with the change, and access tokens issued before it are refused.
            change.password_changed_at = Some(self.clock.now());
        }
        // Only the members the body names are written: an admin changing another member at
        // the same time keeps that change.
        let outcome = self
            .users
            .update_user(user.id, &change)
            .await
            .map_err(map_conflict)?;
        self.cache.invalidate(user.id);
        written(outcome)?;
        Ok(MessageBody {
            message: "User updated successfully",
        })
    }

    /// `DELETE /api/users/:idOrEmail`: all digits means an id, anything else an email. The
    /// last admin cannot be deleted.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 404 `USER_NOT_FOUND`; 409 `LAST_ADMIN`; storage errors.
    pub async fn delete(
        &self,
        principal: &Principal,
        id_or_email: &str,
    ) -> Result<MessageBody, DomainError> {
        principal.require_admin()?;
        let user = self
            .resolve(id_or_email)
            .await?
            .ok_or_else(user_not_found)?;
        let change = self.users.delete_user(user.id).await?;
        self.cache.invalidate(user.id);
        written(change)?;
        Ok(MessageBody {
            message: "User deleted successfully",
        })
    }

    /// First start (SPEC §6): when no `ADMIN` exists, creates one from `ADMIN_EMAIL` /
    /// `ADMIN_PASSWORD`, defaulting to [`DEFAULT_ADMIN_EMAIL`] and a random 20-character
    /// password, which is returned so that the server prints it once. `None` when an admin
    /// already exists (existing admins are never changed), also when another instance
    /// starting on the same database created it first.
    ///
    /// # Errors
    /// 400 `INVALID_EMAIL` (a supplied email that does not look like one) or
    /// `INVALID_PASSWORD` (a supplied empty password); 409 `EMAIL_EXISTS` when the email
    /// belongs to an existing non-admin user; storage errors.
    pub async fn bootstrap_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Option<BootstrappedAdmin>, DomainError> {
        if self.users.count_admins().await? > 0 {
            return Ok(None);
        }
        let email = match email {
            Some(e) => parse_email_field(&Value::String(e.to_owned()))?,
            None => DEFAULT_ADMIN_EMAIL.to_owned(),
        };
        let (password, generated) = match password {
            Some("") => {
                return Err(DomainError::bad_request(
                    "INVALID_PASSWORD",
                    "ADMIN_PASSWORD must not be empty",
                ))
            }
            Some(p) => (p.to_owned(), None),
            None => {
                let p = self.ids.alphanumeric(GENERATED_PASSWORD_CHARS);
                (p.clone(), Some(p))
            }
        };
        let new = NewUser {
            email: email.clone(),
            password_hash: self.hasher.hash(&password).await?,
            role: Role::Admin,
            tenant_ids: vec![],
            role_assignments: vec![],
            created_at: self.clock.now(),
        };
        match self.users.create_user(&new).await {
            Ok(_) => {}
            // Another instance starting on the same database created the first admin
            // between our count and our insert: nothing left to do.
            Err(StoreError::Conflict(_)) if self.users.count_admins().await? > 0 => {
                return Ok(None)
            }
            Err(StoreError::Conflict(_)) => {
                return Err(DomainError::conflict(
                    "EMAIL_EXISTS",
                    "The admin email belongs to an existing non-admin user",
                ))
            }
            Err(other) => return Err(other.into()),
        }
        Ok(Some(BootstrappedAdmin {
            email,
            generated_password: generated,
        }))
    }

    /// The user addressed by a path segment: all digits → id, else email.
    async fn resolve(&self, id_or_email: &str) -> Result<Option<User>, DomainError> {
        let key = id_or_email.trim();
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            return match key.parse::<i64>() {
                Ok(id) => Ok(self.users.get_user(id).await?),
                Err(_) => Ok(None),
            };
        }
        Ok(self.users.user_by_email(&normalize_email(key)).await?)
    }
}
