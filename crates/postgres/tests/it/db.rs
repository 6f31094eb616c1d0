//! A fresh PostgreSQL schema per test (`t_<random hex>`), dropped again on drop, so tests
//! run in parallel against one database. `TEST_DATABASE_URL` names the database; without
//! it (or when it cannot be reached) tests print a notice and return early, unless
//! `CI=true`, where they fail.

use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::ports::{ConfigRecord, ConfigStore};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use postgres_store::{PgOptions, PgStore};
use serde_json::json;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One row's `n` column (`BIGINT`).
#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The number `sql` answers in its column `n`, with the text `arg` bound to `$1`.
pub fn count(conn: &mut PgConnection, sql: &str, arg: &str) -> i64 {
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(arg)
        .get_result::<N>(conn)
        .unwrap()
        .n
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A schema of its own in the test database.
pub struct TestDb {
    url: String,
    schema: String,
}

impl TestDb {
    /// Creates a fresh schema, or `None` (after a notice) when no database is configured
    /// or reachable outside CI.
    pub fn new() -> Option<Self> {
        let url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                assert!(
                    !in_ci(),
                    "TEST_DATABASE_URL must be set when CI=true (PostgreSQL tests)"
                );
                eprintln!("notice: TEST_DATABASE_URL is not set; skipping a PostgreSQL test");
                return None;
            }
        };
        let mut conn = match PgConnection::establish(&url) {
            Ok(conn) => conn,
            Err(e) => {
                assert!(!in_ci(), "the PostgreSQL test database is unreachable: {e}");
                eprintln!("notice: the PostgreSQL test database is unreachable ({e}); skipping");
                return None;
            }
        };
        let schema = format!("t_{}", random_hex());
        // The name is generated here (hex only): identifiers cannot be bound.
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .unwrap();
        Some(TestDb { url, schema })
    }

    /// The schema's name (also the `application_name` of the store's connections).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The database URL with `application_name` set to the schema name.
    fn tagged_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}application_name={}", self.url, self.schema)
    }

    /// A store whose connections also carry the libpq URL parameters `params`.
    pub fn store_with(&self, params: &str) -> PgStore {
        let url = format!("{}&{params}", self.tagged_url());
        PgStore::connect_with(&url, self.options()).unwrap()
    }

    pub fn options(&self) -> PgOptions {
        PgOptions {
            pool_size: 4,
            connection_timeout: Duration::from_secs(5),
            schema: Some(self.schema.clone()),
        }
    }

    /// A store working in this schema (migrations run at connect).
    pub fn store(&self) -> PgStore {
        PgStore::connect_with(&self.tagged_url(), self.options()).unwrap()
    }

    /// A separate connection working in this schema.
    pub fn conn(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url).unwrap();
        diesel::sql_query("SELECT set_config('search_path', $1, false)")
            .bind::<diesel::sql_types::Text, _>(&self.schema)
            .execute(&mut conn)
            .unwrap();
        conn
    }

    /// A connection holding `tenant`'s apply position locked, as an apply in progress does
    /// (until it runs `COMMIT` or `ROLLBACK`).
    pub fn hold_apply_position(&self, tenant: &str) -> PgConnection {
        let mut conn = self.conn();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("SELECT applied FROM entity_progress WHERE tenant_id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(tenant)
            .execute(&mut conn)
            .unwrap();
        conn
    }

    /// Waits (10 s at most) until a connection of this schema's store waits for a lock.
    pub fn wait_for_a_store_lock_wait(&self) {
        let mut conn = self.conn();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND application_name = $1",
            &self.schema,
        ) == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no store connection waited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.url) {
            let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
                .execute(&mut conn);
        }
    }
}

fn random_hex() -> String {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Opens a test store, or returns from the test (after a notice) when there is no database.
#[macro_export]
macro_rules! test_db {
    () => {
        match $crate::db::TestDb::new() {
            Some(db) => {
                let store = db.store();
                (db, store)
            }
            None => return,
        }
    };
}

pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub fn config(id: &str, name: &str, version: &str) -> ConfigRecord {
    ConfigRecord {
        id: tenant(id),
        artifact_id: format!("{:0>32}", id),
        document: json!({"id": id, "name": name, "version": version}),
        archived_at: None,
        created_at: ts(1_000),
        updated_at: ts(1_000),
    }
}

/// Creates the tenant `id` (a config named `name`).
pub async fn create_tenant(store: &PgStore, id: &str, name: &str) {
    assert!(store.save_config(&config(id, name, "1.0")).await.unwrap());
}
