//! [`UsersApiStore`]: Users-API apps, their versioned schemas, sign-up records and sessions.

use crate::error::Fail;
use crate::schema::{users_apps, users_records, users_schemas, users_sessions};
use crate::sql::{instant, limit, now_millis, offset};
use crate::PgStore;
use async_trait::async_trait;
use diesel::dsl::max;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::excluded;
use domain::error::StoreError;
use domain::ports::{AppRole, UserRecord, UsersApiStore, UsersApp, UsersSession};
use domain::time::Timestamp;
use domain::users_schema::UserSchema;
use serde_json::{Map, Value};

fn role_text(role: AppRole) -> &'static str {
    match role {
        AppRole::Admin => "admin",
        AppRole::User => "user",
    }
}

fn parse_role(text: &str) -> Result<AppRole, Fail> {
    match text {
        "admin" => Ok(AppRole::Admin),
        "user" => Ok(AppRole::User),
        _ => Err(Fail::corrupt("app role")),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users_apps, check_for_backend(Pg))]
struct AppRow {
    source_app_id: String,
    role: String,
    password_hash: String,
    created_at: i64,
}

impl AppRow {
    fn into_app(self) -> Result<UsersApp, Fail> {
        Ok(UsersApp {
            role: parse_role(&self.role)?,
            source_app_id: self.source_app_id,
            password_hash: self.password_hash,
            created_at: instant(self.created_at)?,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users_records, check_for_backend(Pg))]
struct RecordRow {
    id: String,
    source_app_id: String,
    email: String,
    data: Value,
    schema_version: i64,
    created_at: i64,
    updated_at: i64,
}

impl RecordRow {
    fn into_record(self) -> Result<UserRecord, Fail> {
        let Value::Object(data) = self.data else {
            return Err(Fail::corrupt("record data"));
        };
        Ok(UserRecord {
            id: self.id,
            source_app_id: self.source_app_id,
            email: self.email,
            data,
            schema_version: self.schema_version,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

/// Locks the app's row for the rest of the transaction; `false` when it does not exist.
fn lock_app(conn: &mut PgConnection, app: &str) -> Result<bool, Fail> {
    let found: Option<String> = users_apps::table
        .filter(users_apps::source_app_id.eq(app))
        .select(users_apps::source_app_id)
        .for_update()
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

fn insert_schema(
    conn: &mut PgConnection,
    app: &str,
    version: i64,
    schema: &UserSchema,
    created_at: i64,
) -> Result<(), Fail> {
    diesel::insert_into(users_schemas::table)
        .values((
            users_schemas::source_app_id.eq(app),
            users_schemas::version.eq(version),
            users_schemas::reject_unknown.eq(schema.reject_unknown),
            users_schemas::fields.eq(serde_json::to_value(&schema.fields)?),
            users_schemas::created_at.eq(created_at),
        ))
        .execute(conn)?;
    Ok(())
}

#[async_trait]
impl UsersApiStore for PgStore {
    async fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError> {
        let app = app.clone();
        let schema = schema.clone();
        self.transaction(move |conn| {
            diesel::insert_into(users_apps::table)
                .values((
                    users_apps::source_app_id.eq(&app.source_app_id),
                    users_apps::role.eq(role_text(app.role)),
                    users_apps::password_hash.eq(&app.password_hash),
                    users_apps::created_at.eq(app.created_at.millis()),
                ))
                .execute(conn)?;
            insert_schema(
                conn,
                &app.source_app_id,
                1,
                &schema,
                app.created_at.millis(),
            )
        })
        .await
    }

    async fn get_app(&self, source_app_id: &str) -> Result<Option<UsersApp>, StoreError> {
        let id = source_app_id.to_owned();
        self.run(move |conn| {
            users_apps::table
                .filter(users_apps::source_app_id.eq(id))
                .select(AppRow::as_select())
                .first(conn)
                .optional()?
                .map(AppRow::into_app)
                .transpose()
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError> {
        self.run(move |conn| {
            let rows = users_apps::table
                .order((users_apps::created_at, users_apps::source_app_id))
                .select(AppRow::as_select())
                .load(conn)?;
            rows.into_iter().map(AppRow::into_app).collect()
        })
        .await
    }

    async fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError> {
        let id = source_app_id.to_owned();
        self.transaction(move |conn| {
            if !lock_app(conn, &id)? {
                return Ok(None);
            }
            let records =
                diesel::delete(users_records::table.filter(users_records::source_app_id.eq(&id)))
                    .execute(conn)?;
            // Schemas and sessions follow through ON DELETE CASCADE.
            diesel::delete(users_apps::table.filter(users_apps::source_app_id.eq(&id)))
                .execute(conn)?;
            Ok(Some(records as u64))
        })
        .await
    }

    async fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError> {
        let id = source_app_id.to_owned();
        self.run(move |conn| {
            let row: Option<(i64, bool, Value)> = users_schemas::table
                .filter(users_schemas::source_app_id.eq(id))
                .order(users_schemas::version.desc())
                .select((
                    users_schemas::version,
                    users_schemas::reject_unknown,
                    users_schemas::fields,
                ))
                .first(conn)
                .optional()?;
            row.map(|(version, reject_unknown, fields)| {
                Ok(UserSchema {
                    version,
                    reject_unknown,
                    fields: serde_json::from_value(fields)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn save_schema(
        &self,
        source_app_id: &str,
        schema: &UserSchema,
    ) -> Result<UserSchema, StoreError> {
        let id = source_app_id.to_owned();
        let schema = schema.clone();
        self.transaction(move |conn| {
            // The app's row lock serialises concurrent saves, so each gets its own version.
            if !lock_app(conn, &id)? {
                return Err(StoreError::NotFound.into());
            }
            let current: Option<i64> = users_schemas::table
                .filter(users_schemas::source_app_id.eq(&id))
                .select(max(users_schemas::version))
                .first(conn)?;
            let version = current.unwrap_or(0) + 1;
            insert_schema(conn, &id, version, &schema, now_millis())?;
            Ok(UserSchema { version, ..schema })
        })
        .await
    }

    async fn upsert_record(
        &self,
        source_app_id: &str,
        email: &str,
        data: &Map<String, Value>,
        schema_version: i64,
        new_id: &str,
        now: Timestamp,
    ) -> Result<UserRecord, StoreError> {
        let app = source_app_id.to_owned();
        let email = email.to_owned();
        let data = Value::Object(data.clone());
        let new_id = new_id.to_owned();
        self.run(move |conn| {
            // One statement: concurrent upserts of one email never create two records. An
            // unknown app fails its foreign key (→ NotFound).
            let row = diesel::insert_into(users_records::table)
                .values((
                    users_records::id.eq(&new_id),
                    users_records::source_app_id.eq(&app),
                    users_records::email.eq(&email),
                    users_records::data.eq(&data),
                    users_records::schema_version.eq(schema_version),
                    users_records::created_at.eq(now.millis()),
                    users_records::updated_at.eq(now.millis()),
                ))
                .on_conflict((users_records::source_app_id, users_records::email))
                .do_update()
                .set((
                    users_records::data.eq(excluded(users_records::data)),
                    users_records::schema_version.eq(excluded(users_records::schema_version)),
                    users_records::updated_at.eq(excluded(users_records::updated_at)),
                ))
                .returning(RecordRow::as_returning())
                .get_result(conn)?;
            row.into_record()
        })
        .await
    }

    async fn list_records(
        &self,
        source_app_id: Option<&str>,
        skip: u64,
        max_rows: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let app = source_app_id.map(str::to_owned);
        self.run(move |conn| {
            let mut q = users_records::table.into_boxed();
            if let Some(app) = app {
                q = q.filter(users_records::source_app_id.eq(app));
            }
            let rows = q
                .order((users_records::created_at.desc(), users_records::id.desc()))
                .limit(limit(max_rows))
                .offset(offset(skip))
                .select(RecordRow::as_select())
                .load(conn)?;
            rows.into_iter().map(RecordRow::into_record).collect()
        })
        .await
    }

    async fn create_session(&self, session: &UsersSession) -> Result<(), StoreError> {
        let s = session.clone();
        self.run(move |conn| {
            diesel::insert_into(users_sessions::table)
                .values((
                    users_sessions::token_hash.eq(&s.token_hash),
                    users_sessions::source_app_id.eq(&s.source_app_id),
                    users_sessions::expires_at.eq(s.expires_at.millis()),
                    users_sessions::created_at.eq(now_millis()),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn get_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UsersSession>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.run(move |conn| {
            let row: Option<(String, String, i64)> = users_sessions::table
                .filter(users_sessions::token_hash.eq(token_hash))
                .filter(users_sessions::expires_at.gt(now.millis()))
                .select((
                    users_sessions::token_hash,
                    users_sessions::source_app_id,
                    users_sessions::expires_at,
                ))
                .first(conn)
                .optional()?;
            row.map(|(token_hash, source_app_id, expires_at)| {
                Ok(UsersSession {
                    token_hash,
                    source_app_id,
                    expires_at: instant(expires_at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_owned();
        self.run(move |conn| {
            let n = diesel::delete(
                users_sessions::table.filter(users_sessions::token_hash.eq(token_hash)),
            )
            .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let n = diesel::delete(
                users_sessions::table.filter(users_sessions::expires_at.le(now.millis())),
            )
            .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}
