//! The store value: the connection pool (checked on every checkout, so a connection lost
//! to a database restart is replaced and the next request succeeds), embedded migrations,
//! and the two ways every port method reaches PostgreSQL (`run` on a pooled connection,
//! `transaction` inside one transaction), always on `spawn_blocking`.

use crate::apply_stage::{apply_queue, catch_up_all, ApplyQueue, HeadsBehind};
use crate::error::{store_error, Fail};
use crate::group_commit::{push_queue, PushQueue};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use domain::error::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// The PostgreSQL migrations, embedded in the binary.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Key of the session advisory lock that keeps several server instances from running the
/// migrations at the same time.
const MIGRATION_LOCK: i64 = 0x6964_7061_7373; // "idpass"

type PgPool = Pool<ConnectionManager<PgConnection>>;

/// Connection settings of a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Largest number of open connections (default 10).
    pub pool_size: u32,
    /// How long a request waits for a connection (pooled or new) before failing with
    /// `StoreError::Unavailable` (default 5 s).
    pub connection_timeout: Duration,
    /// Schema every connection works in (`search_path`); `None` keeps the server default.
    /// Tables and the migration bookkeeping live in it.
    pub schema: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 10,
            connection_timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}

/// Every storage port on one PostgreSQL database, through one r2d2 pool.
///
/// A push is stored in one transaction, serialised per tenant by the row lock on its
/// `configs` row (taken first), so sequence order is commit order, and applied to the
/// entities in a second one under the tenant's `entity_progress` row (see `group_commit`
/// and `apply_stage`); concurrent pushes of a tenant share those transactions; pushes of
/// different tenants run in parallel.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    pub(crate) pushes: Arc<PushQueue>,
    pub(crate) applies: Arc<ApplyQueue>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Per-connection setup: custom plans for every prepared statement, durable commits, a
/// bound on transactions left open, and the configured `search_path`, bound as a value.
#[derive(Debug, Clone)]
struct Setup {
    schema: Option<String>,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for Setup {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        // diesel keeps statements prepared; a generic plan cached while a tenant's tables
        // were still empty (before any ANALYZE) keeps scanning them as they grow — measured:
        // match-key probes turned each push of 100 events into seconds. Custom plans cost a
        // fraction of a millisecond and always see the current statistics.
        diesel::sql_query("SET plan_cache_mode = force_custom_plan")
            .execute(conn)
            .map_err(diesel::r2d2::Error::QueryError)?;
        // A push is answered after its commit, so its commit must be flushed: a database
        // (or role) defaulting to `synchronous_commit = off` would let a crash lose
        // acknowledged events and hand their sequence numbers to others. Stricter settings
        // (`remote_write`, `remote_apply` for a standby) are kept.
        diesel::sql_query(
            "SELECT set_config('synchronous_commit', 'on', false) \
             WHERE current_setting('synchronous_commit') = 'off'",
        )
        .execute(conn)
        .map_err(diesel::r2d2::Error::QueryError)?;
        // A server that loses its network path mid-transaction leaves its session idle in
        // that transaction, holding the tenant's row locks (every instance's pushes of the
        // tenant wait) until TCP gives up, hours later; the database ends it after a minute.
        // (A stricter limit set for the database or role is kept.)
        diesel::sql_query(
            "SELECT set_config('idle_in_transaction_session_timeout', '60s', false) \
             WHERE current_setting('idle_in_transaction_session_timeout') = '0' \
             OR current_setting('idle_in_transaction_session_timeout')::interval > '60s'",
        )
        .execute(conn)
        .map_err(diesel::r2d2::Error::QueryError)?;
        if let Some(schema) = &self.schema {
            diesel::sql_query("SELECT set_config('search_path', $1, false)")
                .bind::<Text, _>(schema)
                .execute(conn)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) with the default
    /// [`PgOptions`] and runs pending migrations.
    ///
    /// Blocking: call it at start-up or from `spawn_blocking`.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached, `Internal` when a migration fails.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default())
    }

    /// Connects with explicit options and runs pending migrations (under an advisory lock,
    /// so concurrent instances do not race).
    ///
    /// Blocking: call it at start-up or from `spawn_blocking`.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached, `Internal` when a migration fails
    /// or the options are unusable.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        if options.pool_size == 0 {
            return Err(StoreError::internal("the pool size must be at least 1"));
        }
        let pool = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .test_on_check_out(true)
            .connection_timeout(options.connection_timeout)
            .connection_customizer(Box::new(Setup {
                schema: options.schema,
            }))
            .build(ConnectionManager::<PgConnection>::new(url))
            .map_err(StoreError::unavailable)?;
        let store = PgStore {
            pushes: push_queue(pool.clone()),
            applies: apply_queue(pool.clone()),
            pool,
        };
        store.run_pending_migrations()?;
        store.catch_up_entities(None)?;
        Ok(store)
    }

    /// Every `every`, applies in a background task the events stored but not applied yet,
    /// in every tenant: those of a push whose apply failed on every retry or was cut short
    /// by a stop of another instance would otherwise wait for the tenant's next push or a
    /// restart. Failures are logged and tried again at the next round. Call it within a
    /// tokio runtime, once per server.
    pub fn start_catch_up_sweep(&self, every: Duration) {
        let store = self.clone();
        tokio::spawn(async move {
            // Only what was already behind a round ago: a busy tenant is nearly always a
            // little behind (one group stored while the previous one is applied), and its
            // pushes' own applies are not to be taken over.
            let mut behind = HeadsBehind::new();
            loop {
                tokio::time::sleep(every).await;
                let (sweep, earlier) = (store.clone(), behind.clone());
                match tokio::task::spawn_blocking(move || sweep.catch_up_entities(Some(&earlier)))
                    .await
                {
                    Ok(Ok(now)) => behind = now,
                    Ok(Err(e)) => tracing::warn!(error = %e, "catching up stored events failed"),
                    Err(e) => tracing::warn!(error = %e, "the catch-up task failed"),
                }
            }
        });
    }

    /// Applies the events stored but not applied yet, in every tenant — with `earlier`, only
    /// those already stored then (see `apply_stage::catch_up_all`); returns the heads of the
    /// tenants behind now. Blocking.
    ///
    /// # Errors
    /// `Unavailable` when no connection is available, `Internal` when the tenants cannot be
    /// listed (a tenant whose events fail to apply is logged and skipped).
    fn catch_up_entities(&self, earlier: Option<&HeadsBehind>) -> Result<HeadsBehind, StoreError> {
        let mut conn = self.pool.get().map_err(StoreError::unavailable)?;
        let (caught_up, behind) = catch_up_all(&mut conn, earlier).map_err(Fail::into_store)?;
        if caught_up > 0 {
            tracing::info!(tenants = caught_up, "applied stored events left unapplied");
        }
        Ok(behind)
    }

    /// Runs the migrations not applied yet; returns how many ran. ([`PgStore::connect`]
    /// already does this; this is for an explicit `migrate` command.) Blocking.
    ///
    /// # Errors
    /// `Unavailable` when no connection is available, `Internal` when a migration fails.
    pub fn run_pending_migrations(&self) -> Result<usize, StoreError> {
        self.with_migration_lock(|conn| {
            conn.run_pending_migrations(MIGRATIONS)
                .map(|done| done.len())
                .map_err(StoreError::Internal)
        })
    }

    /// Reverts every applied migration (dropping every table); returns how many were
    /// reverted. For the up → down → up test and a clean reset. Blocking.
    ///
    /// # Errors
    /// `Unavailable` when no connection is available, `Internal` when a migration fails.
    pub fn revert_all_migrations(&self) -> Result<usize, StoreError> {
        self.with_migration_lock(|conn| {
            conn.revert_all_migrations(MIGRATIONS)
                .map(|done| done.len())
                .map_err(StoreError::Internal)
        })
    }

    fn with_migration_lock<T>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection()?;
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .map_err(store_error)?;
        let result = f(&mut conn);
        let unlocked = conn
            .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .map_err(store_error);
        let value = result?;
        unlocked?;
        Ok(value)
    }

    fn connection(&self) -> Result<PooledConnection<ConnectionManager<PgConnection>>, StoreError> {
        self.pool.get().map_err(StoreError::unavailable)
    }

    /// Runs `f` on a pooled connection (autocommit), off the async workers.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, Fail> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || {
            let mut conn = store.connection()?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` in one transaction on a pooled connection, off the async workers; an error
    /// rolls everything back.
    pub(crate) async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, Fail> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || {
            let mut conn = store.connection()?;
            let conn: &mut PgConnection = &mut conn;
            conn.transaction(f)
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Fail> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::internal)?
        .map_err(Fail::into_store)
}

#[cfg(test)]
impl PgStore {
    /// A pooled connection, for tests that drive the push primitives directly.
    pub(crate) fn test_connection(&self) -> PooledConnection<ConnectionManager<PgConnection>> {
        #[allow(clippy::unwrap_used)]
        self.connection().unwrap()
    }
}
