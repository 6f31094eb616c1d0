//! WAL checkpoints, mostly on a thread of their own.
//!
//! A checkpoint copies WAL pages into the database file and `fsync`s it. Run by SQLite's
//! automatic checkpoint inside the `COMMIT` of every 1,000th page, that work and that wait
//! fell on the single writer while every other push queued behind it (profiled with perf
//! `sched:sched_switch`: the writer's main off-CPU time, and the push rate fell as the
//! database grew). So this thread runs `wal_checkpoint(PASSIVE)` every [`INTERVAL`] on its
//! own connection: a passive checkpoint never takes the write lock, so the copying runs on
//! the other core while pushes commit.
//!
//! A passive checkpoint alone cannot bound the WAL under continuous writes: the WAL restarts
//! from its beginning only when a write starts after a checkpoint that copied *every* frame,
//! and a busy writer always appends more frames while the thread copies. So the writer keeps
//! an automatic checkpoint every [`WRITER_CHECKPOINT_PAGES`] pages: when it runs, this thread
//! has already copied almost everything, no other connection is appending (there is one
//! writer), so it completes — one `fsync` per 256 MiB of WAL instead of per 4 MiB — and the
//! next write restarts the WAL.

use diesel::{RunQueryDsl, SqliteConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(250);
/// WAL pages after which a commit runs a (by then small) checkpoint itself: 256 MiB of 4 KiB
/// pages. Measured at 200,000–400,000 pushed events: 64 MiB spent ~10 % of the writer's time
/// in these checkpoints' `fsync` (12,100 events/s); 128 MiB 9,600–12,300; 256 MiB
/// 11,000–14,800; 512 MiB and 1 GiB slower again (11,400–11,800: every page read first
/// searches a larger WAL index).
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 65_536;

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
    /// Starts the thread on `conn`; it also calls `tick` every [`INTERVAL`] (for other
    /// background upkeep), and ends within [`INTERVAL`] of the handle's drop.
    pub(crate) fn start(
        mut conn: SqliteConnection,
        mut tick: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Checkpointer> {
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
                    tick();
                }
                // A last one, so a clean shutdown leaves little WAL behind.
                let _ = checkpoint(&mut conn);
            })?;
        Ok(Checkpointer { stop })
    }
}

/// One passive checkpoint.
fn checkpoint(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(conn)
        .map(|_| ())
}
