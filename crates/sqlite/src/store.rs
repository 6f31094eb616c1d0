//! The store value: opening the database file, connection setup, migrations, and the two
//! ways every port method reaches SQLite (`read` on the reader pool, `write` on the single
//! writer), always off the async workers.

use crate::cache_trim::CacheTrim;
use crate::checkpoint::{Checkpointer, WRITER_CHECKPOINT_PAGES};
use crate::error::Fail;
use crate::group_commit::{push_queue, PushQueue};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use domain::error::StoreError;
use domain::ports::{PushBatch, PushOutcome};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The SQLite migrations, embedded in the binary.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How long a connection waits on a lock held by another connection or process.
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// How long a request waits for a pooled connection before `Unavailable`.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Reader connections (WAL readers never block the writer nor each other).
const READERS: u32 = 4;
/// Page cache of the writer connection, KiB. Pushes insert random (UUID) keys into several
/// indexes; with SQLite's default 2 MiB the writer re-read most B-tree pages from the OS on
/// every push and spilled dirty pages to the WAL before the commit (`pagerStress`, 8 % of
/// the writer at 60,000 events). Emptied when pushes stop (see `cache_trim`).
const WRITER_CACHE_KIB: u32 = 16_384;

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

diesel::define_sql_function! {
    /// Unicode lower-case of a text (SQLite's own `lower()` only folds ASCII).
    fn casefold(text: Nullable<Text>) -> Nullable<Text>;
}

/// Every storage port on one SQLite database file.
///
/// Reads go through a pool of [`READERS`] connections. Writes go through a pool of exactly
/// one connection: SQLite admits one writer at a time, and funnelling every write through
/// one connection makes writers queue on the pool's condition variable, handing the lock
/// over as soon as a commit ends, instead of several connections racing for the file lock
/// and being put to sleep by SQLite's busy handler (which polls with sleeps of up to 100 ms
/// and wrecks throughput and tail latency under concurrent pushes; measured on this
/// project's 2-core machine with 8 threads committing 100-row transactions: one writer
/// connection ~3,500 tx/s with a worst latency of ~25 ms, eight racing connections
/// 1,400–2,200 tx/s with worst latencies of 180–530 ms). Each write still runs
/// in `BEGIN IMMEDIATE`, so another process (a `migrate` command, the sqlite3 shell) is
/// waited for through `busy_timeout` instead of failing a transaction half-way.
///
/// Concurrent pushes share commits (see `group_commit`). A thread of the store's own does
/// most WAL checkpointing, off the commit path (see `checkpoint`), and empties the
/// writer's page cache once pushes stop (see `cache_trim`).
#[derive(Clone)]
pub struct SqliteStore {
    readers: SqlitePool,
    writer: SqlitePool,
    pushes: Arc<PushQueue>,
    cache_trim: Arc<CacheTrim>,
    _checkpointer: Arc<Checkpointer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Per-connection setup: pragmas and the `casefold` function, and the page cache size in
/// KiB (`None`: SQLite's default of 2 MiB).
#[derive(Debug, Clone, Copy)]
struct Setup {
    cache_kib: Option<u32>,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Setup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        configure(conn).map_err(diesel::r2d2::Error::QueryError)?;
        if let Some(kib) = self.cache_kib {
            conn.batch_execute(&format!("PRAGMA cache_size = -{kib};"))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

fn configure(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}; PRAGMA temp_store = MEMORY;"
    ))?;
    casefold_utils::register_impl(conn, |text: Option<String>| text.map(|t| t.to_lowercase()))
}

/// The file path of `sqlite://path`, `sqlite:path` or a bare path (a `?query` is dropped).
fn database_path(url_or_path: &str) -> Result<PathBuf, StoreError> {
    let rest = url_or_path
        .strip_prefix("sqlite://")
        .or_else(|| url_or_path.strip_prefix("sqlite:"))
        .unwrap_or(url_or_path);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest == ":memory:" || rest.starts_with("file:") {
        return Err(StoreError::internal(
            "the SQLite database must be a file path (sqlite://path/to/file.db)",
        ));
    }
    Ok(PathBuf::from(rest))
}

fn connect(path: &Path) -> Result<SqliteConnection, StoreError> {
    let text = path
        .to_str()
        .ok_or_else(|| StoreError::internal("the SQLite path is not valid UTF-8"))?;
    let mut conn = SqliteConnection::establish(text).map_err(StoreError::unavailable)?;
    configure(&mut conn).map_err(crate::error::store_error)?;
    Ok(conn)
}

fn pool(path: &Path, size: u32, setup: Setup) -> Result<SqlitePool, StoreError> {
    let text = path.to_string_lossy().into_owned();
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .test_on_check_out(true)
        .connection_timeout(POOL_TIMEOUT)
        .connection_customizer(Box::new(setup))
        .build(ConnectionManager::<SqliteConnection>::new(text))
        .map_err(StoreError::unavailable)
}

impl SqliteStore {
    /// Opens (creating it and its parent directory when missing) the database at
    /// `url_or_path` — `sqlite://data/datacollect.db`, `sqlite:///abs/file.db` or a plain
    /// path — sets WAL, `synchronous=FULL`, foreign keys and a busy timeout on every
    /// connection, and runs pending migrations.
    ///
    /// Blocking: call it at start-up or from `spawn_blocking`.
    ///
    /// # Errors
    /// `Internal` for an unusable path or a failed migration, `Unavailable` when the file
    /// cannot be opened.
    pub fn open(url_or_path: &str) -> Result<Self, StoreError> {
        let path = database_path(url_or_path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::unavailable)?;
        }
        let mut conn = connect(&path)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(StoreError::Internal)?;
        let writer = pool(
            &path,
            1,
            Setup {
                cache_kib: Some(WRITER_CACHE_KIB),
            },
        )?;
        let cache_trim = Arc::new(CacheTrim::default());
        let checkpointer = Checkpointer::start(conn, {
            let (cache_trim, writer) = (cache_trim.clone(), writer.clone());
            move || cache_trim.trim_if_idle(&writer)
        })
        .map_err(StoreError::unavailable)?;
        Ok(SqliteStore {
            readers: pool(&path, READERS, Setup { cache_kib: None })?,
            pushes: push_queue(writer.clone()),
            writer,
            cache_trim,
            _checkpointer: Arc::new(checkpointer),
        })
    }

    /// Runs the migrations not applied yet; returns how many ran. ([`SqliteStore::open`]
    /// already does this; this is for an explicit `migrate` command.)
    ///
    /// # Errors
    /// `Unavailable` when no connection is available, `Internal` when a migration fails.
    pub fn run_pending_migrations(&self) -> Result<usize, StoreError> {
        let mut conn = self.writer.get().map_err(StoreError::unavailable)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map(|done| done.len())
            .map_err(StoreError::Internal)
    }

    /// Reverts every applied migration (dropping every table); returns how many were
    /// reverted. Used by the up → down → up test and for a clean reset.
    ///
    /// # Errors
    /// `Unavailable` when no connection is available, `Internal` when a migration fails.
    pub fn revert_all_migrations(&self) -> Result<usize, StoreError> {
        let mut conn = self.writer.get().map_err(StoreError::unavailable)?;
        conn.revert_all_migrations(MIGRATIONS)
            .map(|done| done.len())
            .map_err(StoreError::Internal)
    }

    /// Runs `f` on a reader connection, off the async workers.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Fail> + Send + 'static,
    {
        let pool = self.readers.clone();
        blocking(move || {
            let mut conn = pool.get().map_err(StoreError::unavailable)?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer connection, off the async
    /// workers; an error rolls everything back.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Fail> + Send + 'static,
    {
        let pool = self.writer.clone();
        blocking(move || {
            let mut conn = pool.get().map_err(StoreError::unavailable)?;
            conn.immediate_transaction(f)
        })
        .await
    }
}

impl SqliteStore {
    /// Runs a push in a group commit on the writer connection (see `group_commit`);
    /// returns once the commit that holds it is durable.
    pub(crate) async fn push_grouped(
        &self,
        tenant: String,
        batch: PushBatch,
    ) -> Result<PushOutcome, StoreError> {
        let outcome = self.pushes.submit((), (tenant, batch)).await;
        self.cache_trim.pushed();
        outcome.map_err(StoreError::internal)?
    }
}

#[cfg(test)]
impl SqliteStore {
    /// The writer connection, for tests that drive the push primitives directly.
    pub(crate) fn writer_connection(
        &self,
    ) -> diesel::r2d2::PooledConnection<ConnectionManager<SqliteConnection>> {
        self.writer.get().unwrap()
    }

    /// A reader connection, for tests that inspect connection settings.
    pub(crate) fn reader_connection(
        &self,
    ) -> diesel::r2d2::PooledConnection<ConnectionManager<SqliteConnection>> {
        self.readers.get().unwrap()
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
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_paths() {
        assert_eq!(
            database_path("sqlite://data/datacollect.db").unwrap(),
            PathBuf::from("data/datacollect.db")
        );
        assert_eq!(
            database_path("sqlite:///tmp/x.db?mode=rwc").unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert_eq!(database_path("a.db").unwrap(), PathBuf::from("a.db"));
        assert!(database_path("sqlite::memory:").is_err());
        assert!(database_path("sqlite://").is_err());
    }
}
