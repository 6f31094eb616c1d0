//! [`UserStore`], [`RefreshTokenStore`] and [`LoginThrottleStore`]: server accounts, their
//! refresh-token families, and failed-login counters.

use crate::error::Fail;
use crate::schema::{login_failures, refresh_tokens, users};
use crate::sql::{count, instant, now_millis};
use crate::PgStore;
use async_trait::async_trait;
use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text};
use domain::error::StoreError;
use domain::ports::{
    AccountChange, LoginThrottleStore, NewUser, RefreshToken, RefreshTokenStore, RefreshUse, Role,
    User, UserChange, UserStore,
};
use domain::time::Timestamp;
use serde_json::Value;

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
struct UserRow {
    id: i64,
    email: String,
    password_hash: String,
    role: String,
    tenant_ids: Value,
    role_assignments: Value,
    created_at: i64,
    password_changed_at: Option<i64>,
}

impl UserRow {
    fn into_user(self) -> Result<User, Fail> {
        Ok(User {
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
            role: Role::parse(&self.role).ok_or_else(|| Fail::corrupt("role"))?,
            tenant_ids: serde_json::from_value(self.tenant_ids)?,
            role_assignments: serde_json::from_value(self.role_assignments)?,
            created_at: instant(self.created_at)?,
            password_changed_at: self.password_changed_at.map(instant).transpose()?,
        })
    }
}

fn users_of(rows: Vec<UserRow>) -> Result<Vec<User>, Fail> {
    rows.into_iter().map(UserRow::into_user).collect()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(Pg))]
struct TokenRow {
    token_hash: String,
    user_id: i64,
    family_id: String,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TokenRow {
    fn into_token(self) -> Result<RefreshToken, Fail> {
        Ok(RefreshToken {
            token_hash: self.token_hash,
            user_id: self.user_id,
            family_id: self.family_id,
            expires_at: instant(self.expires_at)?,
        })
    }
}

/// Locks the user's row until the transaction ends (nothing when there is no such user).
fn lock_user(conn: &mut PgConnection, user_id: i64) -> Result<(), Fail> {
    users::table
        .filter(users::id.eq(user_id))
        .select(users::id)
        .for_update()
        .load::<i64>(conn)?;
    Ok(())
}

/// Revokes the family, the user's row locked first (as a password change does): an
/// `insert_refresh` into the family in flight (it share-locks that row) commits before the
/// update below, which then revokes its token too, or checks the family after it.
fn revoke_family(
    conn: &mut PgConnection,
    user_id: i64,
    family_id: &str,
    now: i64,
) -> Result<(), Fail> {
    lock_user(conn, user_id)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let u = user.clone();
        self.run(move |conn| {
            let row = diesel::insert_into(users::table)
                .values((
                    users::email.eq(&u.email),
                    users::password_hash.eq(&u.password_hash),
                    users::role.eq(u.role.as_str()),
                    users::tenant_ids.eq(serde_json::to_value(&u.tenant_ids)?),
                    users::role_assignments.eq(serde_json::to_value(&u.role_assignments)?),
                    users::created_at.eq(u.created_at.millis()),
                ))
                .returning(UserRow::as_returning())
                .get_result(conn)?;
            row.into_user()
        })
        .await
    }

    async fn get_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.run(move |conn| {
            let rows = users::table
                .filter(users::id.eq(id))
                .select(UserRow::as_select())
                .load(conn)?;
            Ok(users_of(rows)?.into_iter().next())
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_owned();
        self.run(move |conn| {
            let rows = users::table
                .filter(users::email.eq(email))
                .select(UserRow::as_select())
                .load(conn)?;
            Ok(users_of(rows)?.into_iter().next())
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(move |conn| {
            let rows = users::table
                .order(users::id)
                .select(UserRow::as_select())
                .load(conn)?;
            users_of(rows)
        })
        .await
    }

    async fn update_user(&self, id: i64, change: &UserChange) -> Result<AccountChange, StoreError> {
        let c = change.clone();
        self.transaction(move |conn| {
            if c.demotes() && is_last_admin(conn, id)? {
                return Ok(AccountChange::LastAdmin);
            }
            let tenants = c
                .tenant_ids
                .as_ref()
                .map(serde_json::to_value)
                .transpose()?;
            let new_password = c.password_hash.is_some();
            let grants = c
                .role_assignments
                .as_ref()
                .map(serde_json::to_value)
                .transpose()?;
            // A member bound NULL keeps its stored value.
            let n = diesel::sql_query(
                "UPDATE users SET email = COALESCE($1, email), \
                 password_hash = COALESCE($2, password_hash), \
                 password_changed_at = COALESCE($3, password_changed_at), \
                 role = COALESCE($4, role), tenant_ids = COALESCE($5, tenant_ids), \
                 role_assignments = COALESCE($6, role_assignments) WHERE id = $7",
            )
            .bind::<Nullable<Text>, _>(c.email)
            .bind::<Nullable<Text>, _>(c.password_hash)
            .bind::<Nullable<BigInt>, _>(c.password_changed_at.map(|at| at.millis()))
            .bind::<Nullable<Text>, _>(c.role.map(Role::as_str))
            .bind::<Nullable<Jsonb>, _>(tenants)
            .bind::<Nullable<Jsonb>, _>(grants)
            .bind::<BigInt, _>(id)
            .execute(conn)?;
            if n > 0 && new_password {
                // The user's row is locked by the update above: an `insert_refresh` in
                // flight (it share-locks that row) committed before, and its token is revoked
                // here; one that comes after finds the new hash and stores nothing.
                diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::user_id.eq(id))
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set(refresh_tokens::revoked_at.eq(now_millis()))
                .execute(conn)?;
            }
            Ok(AccountChange::found(n > 0))
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<AccountChange, StoreError> {
        self.transaction(move |conn| {
            if is_last_admin(conn, id)? {
                return Ok(AccountChange::LastAdmin);
            }
            // Refresh tokens follow through ON DELETE CASCADE.
            let n = diesel::delete(users::table.filter(users::id.eq(id))).execute(conn)?;
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
        self.run(move |conn| {
            let n = diesel::update(
                users::table
                    .filter(users::id.eq(id))
                    .filter(users::password_hash.eq(current)),
            )
            .set(users::password_hash.eq(new))
            .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let n: i64 = users::table
                .filter(users::role.eq(Role::Admin.as_str()))
                .select(count_star())
                .first(conn)?;
            Ok(count(n))
        })
        .await
    }
}

/// Whether user `id` is the only `ADMIN`, the admins' rows locked until the transaction
/// ends: concurrent changes of admins take turns here, and each one counts what the one
/// before it left.
fn is_last_admin(conn: &mut PgConnection, id: i64) -> Result<bool, Fail> {
    let admins: Vec<i64> = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .select(users::id)
        .order(users::id)
        .for_update()
        .load(conn)?;
    Ok(admins == [id])
}

#[async_trait]
impl RefreshTokenStore for PgStore {
    async fn insert_refresh(
        &self,
        token: &RefreshToken,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let (t, password_hash) = (token.clone(), password_hash.to_owned());
        self.transaction(move |conn| {
            // The user's row share-locked until the insert commits: a password change or a
            // revocation of the user's tokens (which locks it first) runs wholly before the
            // checks below, each a statement of its own that sees it, or wholly after the
            // insert, which it then revokes.
            let current: Option<String> = users::table
                .filter(users::id.eq(t.user_id))
                .select(users::password_hash)
                .for_share()
                .first(conn)
                .optional()?;
            if current.as_deref() != Some(password_hash.as_str()) {
                return Ok(false);
            }
            let revoked: i64 = refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(&t.family_id))
                .filter(refresh_tokens::revoked_at.is_not_null())
                .select(count_star())
                .first(conn)?;
            if revoked > 0 {
                return Ok(false);
            }
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::token_hash.eq(&t.token_hash),
                    refresh_tokens::user_id.eq(t.user_id),
                    refresh_tokens::family_id.eq(&t.family_id),
                    refresh_tokens::expires_at.eq(t.expires_at.millis()),
                    refresh_tokens::created_at.eq(now_millis()),
                ))
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
        self.transaction(move |conn| {
            let now = now.millis();
            // The user's row first, as every change of a user's tokens locks it (a revocation
            // of the family below, waiting on a token row another use holds, would otherwise
            // deadlock with that use waiting on the user's row).
            let owner: Option<i64> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&token_hash))
                .select(refresh_tokens::user_id)
                .first(conn)
                .optional()?;
            let Some(owner) = owner else {
                return Ok(RefreshUse::Invalid);
            };
            lock_user(conn, owner)?;
            // The conditional UPDATE is the single-use check: of two concurrent uses, the
            // second finds it no longer matches.
            let claimed = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&token_hash))
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::revoked_at.is_null())
                    .filter(refresh_tokens::expires_at.gt(now)),
            )
            .set(refresh_tokens::used_at.eq(now))
            .returning(TokenRow::as_returning())
            .get_result(conn)
            .optional()?;
            if let Some(row) = claimed {
                return Ok(RefreshUse::Valid(row.into_token()?));
            }
            let row = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&token_hash))
                .select(TokenRow::as_select())
                .first(conn)
                .optional()?;
            match row {
                Some(row) if row.used_at.is_some() => {
                    revoke_family(conn, owner, &row.family_id, now)?;
                    Ok(RefreshUse::Reused {
                        user_id: row.user_id,
                    })
                }
                _ => Ok(RefreshUse::Invalid),
            }
        })
        .await
    }

    async fn revoke_refresh(&self, token_hash: &str) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_owned();
        self.transaction(move |conn| {
            let family: Option<(i64, String)> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&token_hash))
                .select((refresh_tokens::user_id, refresh_tokens::family_id))
                .first(conn)
                .optional()?;
            let Some((user_id, family)) = family else {
                return Ok(false);
            };
            revoke_family(conn, user_id, &family, now_millis())?;
            Ok(true)
        })
        .await
    }

    async fn delete_expired_refresh(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let n = diesel::delete(
                refresh_tokens::table.filter(refresh_tokens::expires_at.le(now.millis())),
            )
            .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}

fn failures(conn: &mut PgConnection, key: &str, window_start: Timestamp) -> Result<u32, Fail> {
    let n: i64 = login_failures::table
        .filter(login_failures::key.eq(key))
        .filter(login_failures::at.ge(window_start.millis()))
        .select(count_star())
        .first(conn)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[async_trait]
impl LoginThrottleStore for PgStore {
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.transaction(move |conn| {
            diesel::insert_into(login_failures::table)
                .values((
                    login_failures::key.eq(&key),
                    login_failures::at.eq(now.millis()),
                ))
                .execute(conn)?;
            failures(conn, &key, window_start)
        })
        .await
    }

    async fn failures_since(&self, key: &str, window_start: Timestamp) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.run(move |conn| failures(conn, &key, window_start))
            .await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |conn| {
            diesel::delete(login_failures::table.filter(login_failures::key.eq(key)))
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
        self.run(move |conn| {
            let n = diesel::sql_query(
                "DELETE FROM login_failures WHERE at < $1 AND left(key, char_length($2)) = $2",
            )
            .bind::<diesel::sql_types::BigInt, _>(before.millis())
            .bind::<diesel::sql_types::Text, _>(prefix)
            .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}
