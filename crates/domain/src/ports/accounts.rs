//! Server accounts, refresh tokens and login throttling.

use crate::error::StoreError;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Account role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Everything, including user and config management.
    Admin,
    /// Tenant routes of its `tenantIds` only.
    User,
}

impl Role {
    /// `"ADMIN"` or `"USER"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::User => "USER",
        }
    }

    /// Parses `"ADMIN"` / `"USER"` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ADMIN" => Some(Role::Admin),
            "USER" => Some(Role::User),
            _ => None,
        }
    }
}

/// A per-tenant role grant (v2 `roleAssignments`), stored and returned as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// Tenant the grant applies to.
    pub tenant_id: String,
    /// Role name within the tenant.
    pub role: String,
    /// Optional area restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_id: Option<String>,
}

/// A server account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Integer id (upstream `userId`).
    pub id: i64,
    /// Unique email (stored trimmed and lower-cased).
    pub email: String,
    /// argon2id PHC string (or an imported bcrypt hash until the next login).
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Tenants a `USER` may access.
    pub tenant_ids: Vec<String>,
    /// Per-tenant grants.
    pub role_assignments: Vec<RoleAssignment>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When an account change last set the password (`None`: not since creation). Access
    /// tokens issued before that second are refused.
    pub password_changed_at: Option<Timestamp>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// Email (already normalized).
    pub email: String,
    /// Password hash.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Tenants.
    pub tenant_ids: Vec<String>,
    /// Per-tenant grants.
    pub role_assignments: Vec<RoleAssignment>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// The members of a user that an update writes; `None` keeps the stored value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserChange {
    /// New email (already normalized).
    pub email: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// When the new password was set (given with a new password hash).
    pub password_changed_at: Option<Timestamp>,
    /// New role.
    pub role: Option<Role>,
    /// New tenants.
    pub tenant_ids: Option<Vec<String>>,
    /// New per-tenant grants.
    pub role_assignments: Option<Vec<RoleAssignment>>,
}

impl UserChange {
    /// A change that writes every member of `user` (all but its id and creation time).
    pub fn every_member(user: &User) -> UserChange {
        UserChange {
            email: Some(user.email.clone()),
            password_hash: Some(user.password_hash.clone()),
            password_changed_at: user.password_changed_at,
            role: Some(user.role),
            tenant_ids: Some(user.tenant_ids.clone()),
            role_assignments: Some(user.role_assignments.clone()),
        }
    }

    /// `user` with this change's members written.
    pub fn applied_to(&self, user: &User) -> User {
        let mut next = user.clone();
        if let Some(email) = &self.email {
            next.email.clone_from(email);
        }
        if let Some(hash) = &self.password_hash {
            next.password_hash.clone_from(hash);
        }
        if let Some(at) = self.password_changed_at {
            next.password_changed_at = Some(at);
        }
        if let Some(role) = self.role {
            next.role = role;
        }
        if let Some(tenants) = &self.tenant_ids {
            next.tenant_ids.clone_from(tenants);
        }
        if let Some(grants) = &self.role_assignments {
            next.role_assignments.clone_from(grants);
        }
        next
    }

    /// Whether it demotes its user from `ADMIN`, were the user one.
    pub fn demotes(&self) -> bool {
        self.role.is_some_and(|r| r != Role::Admin)
    }
}

/// Storage of server accounts.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user and returns it with its id.
    ///
    /// # Errors
    /// `Conflict` when the email is taken; `Unavailable`/`Internal`.
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;

    /// A user by id.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_user(&self, id: i64) -> Result<Option<User>, StoreError>;

    /// A user by (normalized) email.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// All users ordered by id.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Writes the members `change` sets on user `id` and keeps the others as stored (so two
    /// admins changing different members at once both take effect), unless it would demote
    /// the only `ADMIN` ([`AccountChange::LastAdmin`], nothing written). A change that sets a
    /// password hash also revokes every refresh token of the user: a session opened with the
    /// old password must not keep the account open, and none can slip in between the two
    /// (see [`RefreshTokenStore::insert_refresh`]). The checks and the writes are one atomic
    /// step: of two concurrent changes that each demote or delete one of the last two admins,
    /// one is refused.
    ///
    /// # Errors
    /// `Conflict` when the new email belongs to another user; `Unavailable`/`Internal`.
    async fn update_user(&self, id: i64, change: &UserChange) -> Result<AccountChange, StoreError>;

    /// Deletes a user and its refresh tokens, unless it is the only `ADMIN`
    /// ([`AccountChange::LastAdmin`]; atomic, as [`UserStore::update_user`]).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn delete_user(&self, id: i64) -> Result<AccountChange, StoreError>;

    /// Replaces the password hash of user `id` with `new` if it is still `current` (a
    /// compare-and-set: re-hashing a password at login must not undo an account change
    /// made meanwhile). Returns whether it was replaced.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn replace_password_hash(
        &self,
        id: i64,
        current: &str,
        new: &str,
    ) -> Result<bool, StoreError>;

    /// Number of `ADMIN` users.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn count_admins(&self) -> Result<u64, StoreError>;
}

/// What [`UserStore::update_user`] or [`UserStore::delete_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Written.
    Done,
    /// No user has that id.
    NotFound,
    /// Refused, nothing written: no `ADMIN` would be left.
    LastAdmin,
}

impl AccountChange {
    /// `Done` when the user's row was found (and written), else `NotFound`.
    pub fn found(found: bool) -> Self {
        if found {
            AccountChange::Done
        } else {
            AccountChange::NotFound
        }
    }
}

/// A stored refresh token (only its hash is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// Owner.
    pub user_id: i64,
    /// Rotation family (all tokens descending from one login).
    pub family_id: String,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// Result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshUse {
    /// Valid and unused: it is now marked used; the caller issues the next one in the family.
    Valid(RefreshToken),
    /// Already used: the whole family has now been revoked (RFC 9700 reuse detection).
    Reused {
        /// Owner of the family.
        user_id: i64,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Storage of refresh tokens.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new, unused token — only while its user's password hash is still
    /// `password_hash` (the one a login verified, or the one read for a refresh) and no token
    /// of its family is revoked; otherwise stores nothing and answers `false` (also for an
    /// unknown user). Serialized with password changes ([`UserStore::update_user`]), so a
    /// token is never stored for a password already replaced, nor left unrevoked by a reset
    /// that runs meanwhile.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn insert_refresh(
        &self,
        token: &RefreshToken,
        password_hash: &str,
    ) -> Result<bool, StoreError>;

    /// Atomically consumes a token: an unused, unrevoked, unexpired token is marked used
    /// and returned; a used one revokes its whole family; anything else is `Invalid`. Two
    /// concurrent uses of one token yield at most one `Valid`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn use_refresh(&self, token_hash: &str, now: Timestamp)
        -> Result<RefreshUse, StoreError>;

    /// Revokes the family of the token with this hash (logout). Returns whether it existed.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn revoke_refresh(&self, token_hash: &str) -> Result<bool, StoreError>;

    /// Deletes every token that expired at or before `now`, used, revoked or not (each
    /// refresh adds a token, so the table would otherwise only grow). A deleted token is
    /// `Invalid` to [`RefreshTokenStore::use_refresh`], as it was expired; only the family
    /// revocation its reuse would have caused is lost, for a token past its lifetime.
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn delete_expired_refresh(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// Failed-login counters, shared by all server instances.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// Records a failure for `key` at `now` and returns the failures for `key` since
    /// `window_start` (this one included).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError>;

    /// Failures for `key` since `window_start`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn failures_since(&self, key: &str, window_start: Timestamp) -> Result<u32, StoreError>;

    /// Forgets the failures of `key` (after a successful login).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;

    /// Forgets every failure recorded before `before` under a key that starts with `prefix`
    /// (whatever its key: clients that never come back leave failures nothing else
    /// removes). Returns how many were forgotten.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn forget_failures_before(
        &self,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError>;
}
