//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` of whichever write crosses the
//! threshold: that push then copies the WAL into the database and waits for the database
//! file's `fsync` while every other writer queues behind it. Profiled under concurrent
//! pushes (perf `sched:sched_switch`), that wait was where the single writer spent most of
//! its off-CPU time, and the push rate fell as the database grew. So connections are opened
//! with `wal_autocheckpoint = 0` and this thread runs `wal_checkpoint(PASSIVE)` every
//! [`INTERVAL`] on its own connection: a passive checkpoint never takes the write lock, so it
//! runs on the other core while pushes commit. Should readers keep the WAL from being
//! recycled until it passes [`RESTART_FRAMES`], a `RESTART` checkpoint (which waits for the
//! writer through `busy_timeout`) brings it back to the start.

use diesel::sql_types::Integer;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(250);
/// WAL frames (pages) not yet copied back above which a blocking `RESTART` checkpoint runs
/// (about 400 MiB with 4 KiB pages).
const RESTART_FRAMES: i32 = 100_000;

#[derive(QueryableByName)]
struct Outcome {
    /// Frames in the WAL.
    #[diesel(sql_type = Integer)]
    log: i32,
}

/// Stops the checkpoint thread when the last store clone is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Checkpointer {
    /// Starts the thread on `conn`; it ends within [`INTERVAL`] of the handle's drop.
    pub(crate) fn start(mut conn: SqliteConnection) -> std::io::Result<Checkpointer> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(INTERVAL);
                    if let Err(e) = checkpoint(&mut conn) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
                // A last one, so a clean shutdown leaves little WAL behind.
                let _ = checkpoint(&mut conn);
            })?;
        Ok(Checkpointer { stop })
    }
}

/// One passive checkpoint, and a restarting one when the WAL has grown past the limit.
fn checkpoint(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    let rows = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").load::<Outcome>(conn)?;
    if let Some(r) = rows.first() {
        if r.log > RESTART_FRAMES {
            diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").load::<Outcome>(conn)?;
        }
    }
    Ok(())
}
