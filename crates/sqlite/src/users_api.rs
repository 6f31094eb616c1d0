//! [`UsersApiStore`]: Users-API apps, versioned schemas, records and sessions.

use crate::error::Fail;
use crate::sql::{instant, limit, now_millis, offset, query, Int};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
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

#[derive(QueryableByName)]
struct AppRow {
    #[diesel(sql_type = Text)]
    source_app_id: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
    #[diesel(sql_type = BigInt)]
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

#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Bool)]
    reject_unknown: bool,
    #[diesel(sql_type = Text)]
    fields: String,
}

#[derive(QueryableByName)]
struct RecordRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    source_app_id: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    data: String,
    #[diesel(sql_type = BigInt)]
    schema_version: i64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    updated_at: i64,
}

impl RecordRow {
    fn into_record(self) -> Result<UserRecord, Fail> {
        Ok(UserRecord {
            id: self.id,
            source_app_id: self.source_app_id,
            email: self.email,
            data: serde_json::from_str(&self.data)?,
            schema_version: self.schema_version,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

const RECORD_COLS: &str = "SELECT id, source_app_id, email, data, schema_version, created_at, \
                           updated_at FROM users_records";

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = Text)]
    source_app_id: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

fn app_exists(conn: &mut SqliteConnection, app: &str) -> Result<bool, Fail> {
    let rows = query("SELECT COUNT(*) AS v FROM users_apps WHERE source_app_id = ?")
        .bind::<Text, _>(app.to_owned())
        .load::<Int>(conn)?;
    Ok(rows.first().is_some_and(|r| r.v > 0))
}

fn insert_schema(
    conn: &mut SqliteConnection,
    app: &str,
    version: i64,
    schema: &UserSchema,
    created_at: i64,
) -> Result<(), Fail> {
    query(
        "INSERT INTO users_schemas (source_app_id, version, reject_unknown, fields, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind::<Text, _>(app.to_owned())
    .bind::<BigInt, _>(version)
    .bind::<Bool, _>(schema.reject_unknown)
    .bind::<Text, _>(serde_json::to_string(&schema.fields)?)
    .bind::<BigInt, _>(created_at)
    .execute(conn)?;
    Ok(())
}

#[async_trait]
impl UsersApiStore for SqliteStore {
    async fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError> {
        let app = app.clone();
        let schema = schema.clone();
        self.write(move |conn| {
            query(
                "INSERT INTO users_apps (source_app_id, role, password_hash, created_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind::<Text, _>(app.source_app_id.clone())
            .bind::<Text, _>(role_text(app.role))
            .bind::<Text, _>(app.password_hash)
            .bind::<BigInt, _>(app.created_at.millis())
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
        self.read(move |conn| {
            let rows = query(
                "SELECT source_app_id, role, password_hash, created_at FROM users_apps \
                 WHERE source_app_id = ?",
            )
            .bind::<Text, _>(id)
            .load::<AppRow>(conn)?;
            rows.into_iter().next().map(AppRow::into_app).transpose()
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError> {
        self.read(move |conn| {
            let rows = query(
                "SELECT source_app_id, role, password_hash, created_at FROM users_apps \
                 ORDER BY created_at, source_app_id",
            )
            .load::<AppRow>(conn)?;
            rows.into_iter().map(AppRow::into_app).collect()
        })
        .await
    }

    async fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError> {
        let id = source_app_id.to_owned();
        self.write(move |conn| {
            if !app_exists(conn, &id)? {
                return Ok(None);
            }
            let records = query("SELECT COUNT(*) AS v FROM users_records WHERE source_app_id = ?")
                .bind::<Text, _>(id.clone())
                .load::<Int>(conn)?;
            // Schemas, records and sessions follow through ON DELETE CASCADE.
            query("DELETE FROM users_apps WHERE source_app_id = ?")
                .bind::<Text, _>(id)
                .execute(conn)?;
            Ok(Some(
                records
                    .first()
                    .map_or(0, |r| u64::try_from(r.v).unwrap_or(0)),
            ))
        })
        .await
    }

    async fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError> {
        let id = source_app_id.to_owned();
        self.read(move |conn| {
            let rows = query(
                "SELECT version, reject_unknown, fields FROM users_schemas \
                 WHERE source_app_id = ? ORDER BY version DESC LIMIT 1",
            )
            .bind::<Text, _>(id)
            .load::<SchemaRow>(conn)?;
            rows.into_iter()
                .next()
                .map(|r| {
                    Ok(UserSchema {
                        version: r.version,
                        reject_unknown: r.reject_unknown,
                        fields: serde_json::from_str(&r.fields)?,
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
        self.write(move |conn| {
            if !app_exists(conn, &id)? {
                return Err(StoreError::NotFound.into());
            }
            // Under the writer's BEGIN IMMEDIATE lock: no other save can interleave.
            let current = query(
                "SELECT COALESCE(MAX(version), 0) AS v FROM users_schemas WHERE source_app_id = ?",
            )
            .bind::<Text, _>(id.clone())
            .load::<Int>(conn)?;
            let version = current.first().map_or(0, |r| r.v) + 1;
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
        let data = serde_json::to_string(data).map_err(StoreError::internal)?;
        let new_id = new_id.to_owned();
        self.write(move |conn| {
            if !app_exists(conn, &app)? {
                return Err(StoreError::NotFound.into());
            }
            query(
                "INSERT INTO users_records (id, source_app_id, email, data, schema_version, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (source_app_id, email) DO UPDATE SET data = excluded.data, \
                 schema_version = excluded.schema_version, updated_at = excluded.updated_at",
            )
            .bind::<Text, _>(new_id)
            .bind::<Text, _>(app.clone())
            .bind::<Text, _>(email.clone())
            .bind::<Text, _>(data)
            .bind::<BigInt, _>(schema_version)
            .bind::<BigInt, _>(now.millis())
            .bind::<BigInt, _>(now.millis())
            .execute(conn)?;
            let rows = query(format!(
                "{RECORD_COLS} WHERE source_app_id = ? AND email = ?"
            ))
            .bind::<Text, _>(app)
            .bind::<Text, _>(email)
            .load::<RecordRow>(conn)?;
            rows.into_iter()
                .next()
                .ok_or_else(|| Fail::corrupt("upserted record"))?
                .into_record()
        })
        .await
    }

    async fn list_records(
        &self,
        source_app_id: Option<&str>,
        skip: u64,
        max: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let app = source_app_id.map(str::to_owned);
        self.read(move |conn| {
            let rows = match app {
                Some(app) => query(format!(
                    "{RECORD_COLS} WHERE source_app_id = ? \
                     ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
                ))
                .bind::<Text, _>(app),
                None => query(format!(
                    "{RECORD_COLS} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
                )),
            }
            .bind::<BigInt, _>(limit(max))
            .bind::<BigInt, _>(offset(skip))
            .load::<RecordRow>(conn)?;
            rows.into_iter().map(RecordRow::into_record).collect()
        })
        .await
    }

    async fn create_session(&self, session: &UsersSession) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |conn| {
            query(
                "INSERT INTO users_sessions (token_hash, source_app_id, expires_at, created_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind::<Text, _>(s.token_hash)
            .bind::<Text, _>(s.source_app_id)
            .bind::<BigInt, _>(s.expires_at.millis())
            .bind::<BigInt, _>(now_millis())
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
        self.read(move |conn| {
            let rows = query(
                "SELECT token_hash, source_app_id, expires_at FROM users_sessions \
                 WHERE token_hash = ? AND expires_at > ?",
            )
            .bind::<Text, _>(token_hash)
            .bind::<BigInt, _>(now.millis())
            .load::<SessionRow>(conn)?;
            rows.into_iter()
                .next()
                .map(|r| {
                    Ok(UsersSession {
                        token_hash: r.token_hash,
                        source_app_id: r.source_app_id,
                        expires_at: instant(r.expires_at)?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            let n = query("DELETE FROM users_sessions WHERE token_hash = ?")
                .bind::<Text, _>(token_hash)
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let n = query("DELETE FROM users_sessions WHERE expires_at <= ?")
                .bind::<BigInt, _>(now.millis())
                .execute(conn)?;
            Ok(n as u64)
        })
        .await
    }
}
