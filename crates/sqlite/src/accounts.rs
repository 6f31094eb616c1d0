//! [`UserStore`], [`RefreshTokenStore`] and [`LoginThrottleStore`].

use crate::error::Fail;
use crate::sql::{instant, now_millis, query, Int};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::error::StoreError;
use domain::ports::{
    AccountChange, LoginThrottleStore, NewUser, RefreshToken, RefreshTokenStore, RefreshUse, Role,
    User, UserChange, UserStore,
};
use domain::time::Timestamp;

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    tenant_ids: String,
    #[diesel(sql_type = Text)]
    role_assignments: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    password_changed_at: Option<i64>,
}

impl UserRow {
    fn into_user(self) -> Result<User, Fail> {
        Ok(User {
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
            role: Role::parse(&self.role).ok_or_else(|| Fail::corrupt("role"))?,
            tenant_ids: serde_json::from_str(&self.tenant_ids)?,
            role_assignments: serde_json::from_str(&self.role_assignments)?,
            created_at: instant(self.created_at)?,
            password_changed_at: self.password_changed_at.map(instant).transpose()?,
        })
    }
}

const USER_COLS: &str = "SELECT id, email, password_hash, role, tenant_ids, role_assignments, \
     created_at, password_changed_at FROM users";

fn users(rows: Vec<UserRow>) -> Result<Vec<User>, Fail> {
    rows.into_iter().map(UserRow::into_user).collect()
}

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    family_id: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    used_at: Option<i64>,
}

fn token_row(
    conn: &mut diesel::SqliteConnection,
    token_hash: &str,
) -> Result<Option<TokenRow>, Fail> {
    let rows = query(
        "SELECT token_hash, user_id, family_id, expires_at, used_at FROM refresh_tokens \
         WHERE token_hash = ?",
    )
    .bind::<Text, _>(token_hash.to_owned())
    .load::<TokenRow>(conn)?;
    Ok(rows.into_iter().next())
}

fn revoke_family(
    conn: &mut diesel::SqliteConnection,
    family_id: &str,
    now: i64,
) -> Result<(), Fail> {
    query("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL")
        .bind::<BigInt, _>(now)
        .bind::<Text, _>(family_id.to_owned())
        .execute(conn)?;
    Ok(())
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let u = user.clone();
        self.write(move |conn| {
            query(
                "INSERT INTO users (email, password_hash, role, tenant_ids, role_assignments, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind::<Text, _>(u.email.clone())
            .bind::<Text, _>(u.password_hash.clone())
            .bind::<Text, _>(u.role.as_str())
            .bind::<Text, _>(serde_json::to_string(&u.tenant_ids)?)
            .bind::<Text, _>(serde_json::to_string(&u.role_assignments)?)
            .bind::<BigInt, _>(u.created_at.millis())
            .execute(conn)?;
            let id = query("SELECT last_insert_rowid() AS v").load::<Int>(conn)?;
            let id = id
                .first()
                .map(|r| r.v)
                .ok_or_else(|| Fail::corrupt("user id"))?;
            Ok(User {
                id,
                email: u.email,
                password_hash: u.password_hash,
                role: u.role,
                tenant_ids: u.tenant_ids,
                role_assignments: u.role_assignments,
                created_at: u.created_at,
                password_changed_at: None,
            })
        })
        .await
    }

    async fn get_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.read(move |conn| {
            let rows = query(format!("{USER_COLS} WHERE id = ?"))
                .bind::<BigInt, _>(id)
                .load::<UserRow>(conn)?;
            Ok(users(rows)?.into_iter().next())
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_owned();
        self.read(move |conn| {
            let rows = query(format!("{USER_COLS} WHERE email = ?"))
                .bind::<Text, _>(email)
                .load::<UserRow>(conn)?;
            Ok(users(rows)?.into_iter().next())
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.read(move |conn| {
            let rows = query(format!("{USER_COLS} ORDER BY id")).load::<UserRow>(conn)?;
            users(rows)
        })
        .await
    }

    async fn update_user(&self, id: i64, change: &UserChange) -> Result<AccountChange, StoreError> {
        let c = change.clone();
        // One writer: the check and the write below are one atomic step.
        self.write(move |conn| {
            if c.demotes() && is_last_admin(conn, id)? {
                return Ok(AccountChange::LastAdmin);
            }
            let tenants = c
                .tenant_ids
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?;
            let new_password = c.password_hash.is_some();
            let grants = c
                .role_assignments
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?;
            // A member bound NULL keeps its stored value.
            let n = query(
                "UPDATE users SET email = COALESCE(?, email), \
                 password_hash = COALESCE(?, password_hash), \
                 password_changed_at = COALESCE(?, password_changed_at), \
                 role = COALESCE(?, role), tenant_ids = COALESCE(?, tenant_ids), \
                 role_assignments = COALESCE(?, role_assignments) WHERE id = ?",
            )
            .bind::<Nullable<Text>, _>(c.email)
            .bind::<Nullable<Text>, _>(c.password_hash)
            .bind::<Nullable<BigInt>, _>(c.password_changed_at.map(|at| at.millis()))
            .bind::<Nullable<Text>, _>(c.role.map(Role::as_str))
            .bind::<Nullable<Text>, _>(tenants)
            .bind::<Nullable<Text>, _>(grants)
            .bind::<BigInt, _>(id)
            .execute(conn)?;
            if n > 0 && new_password {
                query(
                    "UPDATE refresh_tokens SET revoked_at = ? \
                     WHERE user_id = ? AND revoked_at IS NULL",
                )
                .bind::<BigInt, _>(now_millis())
                .bind::<BigInt, _>(id)
                .execute(conn)?;
            }
            Ok(AccountChange::found(n > 0))
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<AccountChange, StoreError> {
        self.write(move |conn| {
            if is_last_admin(conn, id)? {
                return Ok(AccountChange::LastAdmin);
            }
            // Refresh tokens follow through ON DELETE CASCADE.
            let n = query("DELETE FROM users WHERE id = ?")
                .bind::<BigInt, _>(id)
                .execute(conn)?;
            Ok(AccountChange::found(n > 0))
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        id: i64,
        current: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let (current, new) = (current.to_owned(), new.to_owned());
        self.write(move |conn| {
            let n = query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
                .bind::<Text, _>(new)
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(current)
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let rows =
                query("SELECT COUNT(*) AS v FROM users WHERE role = 'ADMIN'").load::<Int>(conn)?;
            Ok(rows.first().map_or(0, |r| u64::try_from(r.v).unwrap_or(0)))
        })
        .await
    }
}

/// Whether user `id` is the only `ADMIN`.
fn is_last_admin(conn: &mut diesel::SqliteConnection, id: i64) -> Result<bool, Fail> {
    let rows = query(
        "SELECT COUNT(*) AS v FROM users WHERE role = 'ADMIN' \
         HAVING COUNT(*) = 1 AND MAX(id) = ?",
    )
    .bind::<BigInt, _>(id)
    .load::<Int>(conn)?;
    Ok(!rows.is_empty())
}

#[async_trait]
impl RefreshTokenStore for SqliteStore {
    async fn insert_refresh(
        &self,
        token: &RefreshToken,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let (t, password_hash) = (token.clone(), password_hash.to_owned());
        // One writer: the checks and the insert are one atomic step.
        self.write(move |conn| {
            let current =
                query("SELECT COUNT(*) AS v FROM users WHERE id = ? AND password_hash = ?")
                    .bind::<BigInt, _>(t.user_id)
                    .bind::<Text, _>(password_hash)
                    .load::<Int>(conn)?;
            let revoked = query(
                "SELECT COUNT(*) AS v FROM refresh_tokens \
                 WHERE family_id = ? AND revoked_at IS NOT NULL",
            )
            .bind::<Text, _>(t.family_id.clone())
            .load::<Int>(conn)?;
            let count = |rows: &[Int]| rows.first().map_or(0, |r| r.v);
            if count(&current) == 0 || count(&revoked) > 0 {
                return Ok(false);
            }
            query(
                "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at, \
                 used_at, revoked_at, created_at) VALUES (?, ?, ?, ?, NULL, NULL, ?)",
            )
            .bind::<Text, _>(t.token_hash)
            .bind::<BigInt, _>(t.user_id)
            .bind::<Text, _>(t.family_id)
            .bind::<BigInt, _>(t.expires_at.millis())
            .bind::<BigInt, _>(now_millis())
            .execute(conn)?;
            Ok(true)
        })
        .await
    }

    async fn use_refresh(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<RefreshUse, StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            let now = now.millis();
            // Single use: only one caller can flip used_at from NULL.
            let claimed = query(
                "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            )
            .bind::<BigInt, _>(now)
            .bind::<Text, _>(token_hash.clone())
            .bind::<BigInt, _>(now)
            .execute(conn)?;
            let Some(row) = token_row(conn, &token_hash)? else {
                return Ok(RefreshUse::Invalid);
            };
            if claimed == 1 {
                return Ok(RefreshUse::Valid(RefreshToken {
                    token_hash: row.token_hash,
                    user_id: row.user_id,
                    family_id: row.family_id,
                    expires_at: instant(row.expires_at)?,
                }));
            }
            if row.used_at.is_some() {
                revoke_family(conn, &row.family_id, now)?;
                return Ok(RefreshUse::Reused {
                    user_id: row.user_id,
                });
            }
            Ok(RefreshUse::Invalid)
        })
        .await
    }

    async fn revoke_refresh(&self, token_hash: &str) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            let Some(row) = token_row(conn, &token_hash)? else {
                return Ok(false);
            };
            revoke_family(conn, &row.family_id, now_millis())?;
            Ok(true)
        })
        .await
    }

    async fn delete_expired_refresh(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let n = query("DELETE FROM refresh_tokens WHERE expires_at <= ?")
                .bind::<BigInt, _>(now.millis())
                .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl LoginThrottleStore for SqliteStore {
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.write(move |conn| {
            query("INSERT INTO login_failures (key, at) VALUES (?, ?)")
                .bind::<Text, _>(key.clone())
                .bind::<BigInt, _>(now.millis())
                .execute(conn)?;
            failures(conn, key, window_start)
        })
        .await
    }

    async fn failures_since(&self, key: &str, window_start: Timestamp) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| failures(conn, key, window_start))
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |conn| {
            query("DELETE FROM login_failures WHERE key = ?")
                .bind::<Text, _>(key)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn forget_failures_before(
        &self,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        let prefix = prefix.to_owned();
        self.write(move |conn| {
            let n = query(
                "DELETE FROM login_failures WHERE at < ?1 AND substr(key, 1, length(?2)) = ?2",
            )
            .bind::<BigInt, _>(before.millis())
            .bind::<Text, _>(prefix)
            .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}

fn failures(
    conn: &mut diesel::SqliteConnection,
    key: String,
    window_start: Timestamp,
) -> Result<u32, Fail> {
    let rows = query("SELECT COUNT(*) AS v FROM login_failures WHERE key = ? AND at >= ?")
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(window_start.millis())
        .load::<Int>(conn)?;
    Ok(rows
        .first()
        .map_or(0, |r| u32::try_from(r.v).unwrap_or(u32::MAX)))
}
