//! Server accounts: login (rate limited, bcrypt hashes upgraded to argon2id), access tokens,
//! rotating refresh tokens with reuse detection, logout, and per-request authentication that
//! always reflects the stored user (SPEC §5.1).

mod cache;
#[cfg(test)]
mod tests;

pub use super::login_limit::LoginLimits;
pub use cache::{PrincipalCache, DEFAULT_PRINCIPAL_CACHE_ENTRIES, DEFAULT_PRINCIPAL_CACHE_TTL_MS};

use super::credentials::{
    internal_error, later, normalize_email, sha256_hex, DecoyHash, TOKEN_BYTES,
};
use super::housekeeping::CleanUp;
use super::login_limit::LoginLimiter;
use crate::error::DomainError;
use crate::ports::{
    AccessClaims, Clock, IdGenerator, LoginThrottleStore, PasswordHasher, RefreshToken,
    RefreshTokenStore, RefreshUse, Role, RoleAssignment, TokenSigner, User, UserStore,
};
use crate::principal::Principal;
use serde::Serialize;
use std::sync::Arc;

/// The ports the account services use.
#[derive(Clone)]
pub struct AccountPorts {
    /// Server accounts.
    pub users: Arc<dyn UserStore>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// Failed-login counters.
    pub login_throttle: Arc<dyn LoginThrottleStore>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access-token signing.
    pub signer: Arc<dyn TokenSigner>,
    /// Current time.
    pub clock: Arc<dyn Clock>,
    /// Random tokens and ids.
    pub ids: Arc<dyn IdGenerator>,
}

/// Lifetimes and limits of [`AuthService`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Lifetime of an access token in seconds (default 3600).
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token in seconds (default 30 days); each rotation issues a token
    /// with a full lifetime, so a family lives as long as it is used at least this often.
    pub refresh_ttl_secs: u64,
    /// Failed-login thresholds.
    pub login_limits: LoginLimits,
    /// How long an authenticated user stays cached, in ms (0 disables; see [`PrincipalCache`]).
    pub principal_cache_ttl_ms: u64,
    /// Bound on the number of cached users.
    pub principal_cache_entries: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            access_ttl_secs: 3600,
            refresh_ttl_secs: 30 * 24 * 3600,
            login_limits: LoginLimits::default(),
            principal_cache_ttl_ms: DEFAULT_PRINCIPAL_CACHE_TTL_MS,
            principal_cache_entries: DEFAULT_PRINCIPAL_CACHE_ENTRIES,
        }
    }
}

/// Body of a successful `POST /api/users/login`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Access token (JWT).
    pub token: String,
    /// The user's integer id.
    pub user_id: i64,
    /// Refresh token (shown once; only its hash is stored).
    pub refresh_token: String,
    /// Lifetime of `token` in seconds.
    pub expires_in: u64,
}

/// Body of a successful `POST /api/users/refresh`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    /// New access token.
    pub token: String,
    /// Next refresh token of the same family (the presented one is now used).
    pub refresh_token: String,
    /// Lifetime of `token` in seconds.
    pub expires_in: u64,
}

/// A user as the account routes show it (`/me`, user list): never the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Integer id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// `ADMIN` or `USER`.
    pub role: Role,
    /// Tenants a `USER` may access.
    pub tenant_ids: Vec<String>,
    /// Per-tenant grants.
    pub role_assignments: Vec<RoleAssignment>,
}

impl UserView {
    /// The public view of a stored user.
    pub fn of(user: &User) -> Self {
        UserView {
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            tenant_ids: user.tenant_ids.clone(),
            role_assignments: user.role_assignments.clone(),
        }
    }
}

/// A `{"message": "..."}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MessageBody {
    /// The message.
    pub message: &'static str,
}

/// The 401 of a failed login (unknown email and wrong password alike).
fn invalid_credentials() -> DomainError {
    DomainError::unauthenticated("INVALID_CREDENTIALS", "Invalid email or password")
}

/// Whether the token was issued in a second before the user's password was last changed
/// (tokens issued during that second stay valid: `iat` has whole seconds, and a login right
/// after the change must work).
fn issued_before_password_change(claims: &AccessClaims, user: &User) -> bool {
    user.password_changed_at
        .is_some_and(|at| claims.iat < at.millis().div_euclid(1000))
}

/// The 401 of a bad, expired or orphaned access token.
fn invalid_token() -> DomainError {
    DomainError::unauthenticated("INVALID_TOKEN", "Invalid token")
}

/// The 401 of an unknown, expired or revoked refresh token.
fn invalid_refresh() -> DomainError {
    DomainError::unauthenticated("INVALID_REFRESH_TOKEN", "Invalid or expired refresh token")
}

/// A present, non-blank string field, or 400 `INVALID_BODY` naming it.
fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, DomainError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(DomainError::bad_request(
            "INVALID_BODY",
            format!("Invalid request body: {field} is required"),
        )),
    }
}

/// Login, tokens and authentication of server accounts.
pub struct AuthService {
    ports: AccountPorts,
    settings: AuthSettings,
    limiter: LoginLimiter,
    cache: Arc<PrincipalCache>,
    decoy: DecoyHash,
    refresh_clean_up: CleanUp,
}

impl AuthService {
    /// Builds the service; its user cache is created from the settings.
    pub fn new(ports: AccountPorts, settings: AuthSettings) -> Self {
        let limiter =
            LoginLimiter::new(ports.login_throttle.clone(), settings.login_limits, "login");
        let cache = Arc::new(PrincipalCache::new(
            settings.principal_cache_ttl_ms,
            settings.principal_cache_entries,
        ));
        AuthService {
            ports,
            settings,
            limiter,
            cache,
            decoy: DecoyHash::default(),
            refresh_clean_up: CleanUp::default(),
        }
    }

    /// The user cache, to hand to
    /// [`UserAdminService::new`](crate::services::user_admin::UserAdminService::new) so that
    /// account changes invalidate it.
    pub fn principal_cache(&self) -> Arc<PrincipalCache> {
        self.cache.clone()
    }

    /// `POST /api/users/login`. The email is trimmed and lower-cased. Failures are counted
    /// per account and per client IP; a success clears the account's count. A hash flagged
    /// `needs_rehash` (imported bcrypt) is replaced by an argon2id hash of the password.
    ///
    /// # Errors
    /// 400 `INVALID_BODY` (missing email or password, a NUL character in the email); 429
    /// `RATE_LIMITED`; 401
    /// `INVALID_CREDENTIALS` "Invalid email or password" (unknown email or wrong password);
    /// storage errors.
    pub async fn login(
        &self,
        email: Option<&str>,
        password: Option<&str>,
        client_ip: &str,
    ) -> Result<LoginResponse, DomainError> {
        let email = normalize_email(required(email, "email")?);
        let password = match password {
            Some(p) if !p.is_empty() => p,
            _ => required(None, "password")?,
        };
        if email.contains('\0') {
            // No account has one, and PostgreSQL cannot compare text holding it.
            return Err(DomainError::bad_request(
                "INVALID_BODY",
                "email must not contain NUL characters",
            ));
        }
        let _turn = self.limiter.turn().await?;
        let now = self.ports.clock.now();
        self.limiter.check(&email, client_ip, now).await?;

        let Some(mut user) = self.ports.users.user_by_email(&email).await? else {
            self.decoy
                .burn(
                    self.ports.hasher.as_ref(),
                    self.ports.ids.as_ref(),
                    password,
                )
                .await?;
            self.limiter.failed(&email, client_ip, now).await?;
            return Err(invalid_credentials());
        };
        let check = self
            .ports
            .hasher
            .verify(password, &user.password_hash)
            .await;
        if !check.valid {
            self.limiter.failed(&email, client_ip, now).await?;
            return Err(invalid_credentials());
        }
        self.limiter.succeeded(&email).await?;
        if check.needs_rehash {
            // Only the hash, and only if it is still the one verified.
            let rehashed = self.ports.hasher.hash(password).await?;
            if self
                .ports
                .users
                .replace_password_hash(user.id, &user.password_hash, &rehashed)
                .await?
            {
                user.password_hash = rehashed;
            } else {
                // Changed meanwhile: re-hashed by a concurrent login, or replaced by an
                // admin. The login stands only if the password verifies the stored hash.
                user = self
                    .ports
                    .users
                    .get_user(user.id)
                    .await?
                    .ok_or_else(invalid_credentials)?;
                if !self
                    .ports
                    .hasher
                    .verify(password, &user.password_hash)
                    .await
                    .valid
                {
                    return Err(invalid_credentials());
                }
            }
            self.cache.invalidate(user.id);
        }
        // Not stored when an admin replaced the password during this login.
        let (token, refresh_token) = self
            .issue(&user, None)
            .await?
            .ok_or_else(invalid_credentials)?;
        Ok(LoginResponse {
            token,
            user_id: user.id,
            refresh_token,
            expires_in: self.settings.access_ttl_secs,
        })
    }

    /// `POST /api/users/refresh`: consumes the refresh token and returns a new access token
    /// and the next refresh token of the same family.
    ///
    /// # Errors
    /// 400 `INVALID_BODY` (missing token); 401 `REFRESH_TOKEN_REUSED` when the token was
    /// already used (its whole family is now revoked); 401 `INVALID_REFRESH_TOKEN` when it is
    /// unknown, expired or revoked, or its user no longer exists; storage errors.
    pub async fn refresh(
        &self,
        refresh_token: Option<&str>,
    ) -> Result<RefreshResponse, DomainError> {
        let presented = required(refresh_token, "refreshToken")?;
        let now = self.ports.clock.now();
        let used = match self
            .ports
            .refresh_tokens
            .use_refresh(&sha256_hex(presented), now)
            .await?
        {
            RefreshUse::Valid(used) => used,
            RefreshUse::Reused { .. } => {
                return Err(DomainError::unauthenticated(
                    "REFRESH_TOKEN_REUSED",
                    "Refresh token already used; all sessions of this login were revoked",
                ))
            }
            RefreshUse::Invalid => return Err(invalid_refresh()),
        };
        // Not stored when the password hash changed, or the family was revoked, meanwhile.
        // A hash that changed without a reset (a login re-hashing an imported password)
        // gets one more try with the stored one: a real reset has revoked the family by
        // then, or revokes the new token after it.
        let mut issued = None;
        for _ in 0..2 {
            let Some(user) = self.ports.users.get_user(used.user_id).await? else {
                return Err(invalid_refresh());
            };
            issued = self.issue(&user, Some(used.family_id.clone())).await?;
            if issued.is_some() {
                break;
            }
        }
        let (token, refresh_token) = issued.ok_or_else(invalid_refresh)?;
        Ok(RefreshResponse {
            token,
            refresh_token,
            expires_in: self.settings.access_ttl_secs,
        })
    }

    /// `POST /api/users/logout`: revokes the family of the refresh token. Idempotent: an
    /// unknown or already revoked token also succeeds.
    ///
    /// # Errors
    /// 400 `INVALID_BODY` (missing token); storage errors.
    pub async fn logout(&self, refresh_token: Option<&str>) -> Result<MessageBody, DomainError> {
        let presented = required(refresh_token, "refreshToken")?;
        self.ports
            .refresh_tokens
            .revoke_refresh(&sha256_hex(presented))
            .await?;
        Ok(MessageBody {
            message: "Logged out successfully",
        })
    }

    /// Authenticates a bearer access token: verifies it, then builds the principal from the
    /// *stored* user (briefly cached, see [`PrincipalCache`]), so deletions and role or tenant
    /// changes apply at once.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` "Invalid token" (bad signature, expired, or user deleted);
    /// storage errors.
    pub async fn authenticate(&self, bearer_token: &str) -> Result<Principal, DomainError> {
        let claims = self
            .ports
            .signer
            .verify(bearer_token)
            .map_err(|_| invalid_token())?;
        let now = self.ports.clock.now();
        let user = match self.cache.get(claims.id, now) {
            Some(user) => user,
            None => {
                let stamp = self.cache.stamp();
                let user = self
                    .ports
                    .users
                    .get_user(claims.id)
                    .await?
                    .ok_or_else(invalid_token)?;
                self.cache.put(&user, now, stamp);
                user
            }
        };
        if issued_before_password_change(&claims, &user) {
            return Err(invalid_token());
        }
        Ok(Principal::of(&user))
    }

    /// `GET /api/users/me`: the caller's stored account.
    ///
    /// # Errors
    /// 401 `INVALID_TOKEN` when the user was deleted meanwhile; storage errors.
    pub async fn me(&self, principal: &Principal) -> Result<UserView, DomainError> {
        let user = self
            .ports
            .users
            .get_user(principal.user_id)
            .await?
            .ok_or_else(invalid_token)?;
        Ok(UserView::of(&user))
    }

    /// `GET /api/users/check-token` (after [`AuthService::authenticate`] succeeded).
    pub fn check_token(&self, _principal: &Principal) -> MessageBody {
        MessageBody {
            message: "Token is valid",
        }
    }

    /// Signs an access token for `user` and stores a new refresh token, in `family` or a
    /// new family; `None` when the store refused it (`user`'s password hash is no longer
    /// the stored one, or the family was revoked: see
    /// [`RefreshTokenStore::insert_refresh`](crate::ports::RefreshTokenStore::insert_refresh)).
    async fn issue(
        &self,
        user: &User,
        family: Option<String>,
    ) -> Result<Option<(String, String)>, DomainError> {
        let now = self.ports.clock.now();
        let iat = now.millis().div_euclid(1000);
        let ttl = i64::try_from(self.settings.access_ttl_secs).map_err(|_| internal_error())?;
        let claims = AccessClaims {
            sub: user.id.to_string(),
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            tenant_ids: user.tenant_ids.clone(),
            role_assignments: user.role_assignments.clone(),
            iat,
            exp: iat.checked_add(ttl).ok_or_else(internal_error)?,
        };
        let token = self.ports.signer.sign(&claims)?;
        let refresh_token = self.ports.ids.hex(TOKEN_BYTES);
        let stored = RefreshToken {
            token_hash: sha256_hex(&refresh_token),
            user_id: user.id,
            family_id: family.unwrap_or_else(|| self.ports.ids.uuid()),
            expires_at: later(now, self.settings.refresh_ttl_secs)?,
        };
        if !self
            .ports
            .refresh_tokens
            .insert_refresh(&stored, &user.password_hash)
            .await?
        {
            return Ok(None);
        }
        if self.refresh_clean_up.due() {
            // Best effort (see `housekeeping`): the token is stored; answering an error now
            // would lose it, and a refresh that already used the old one would be refused.
            let _ = self.ports.refresh_tokens.delete_expired_refresh(now).await;
        }
        Ok(Some((token, refresh_token)))
    }
}
