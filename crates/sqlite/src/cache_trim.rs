//! Giving the writer's page cache back when pushes stop.
//!
//! The writer connection has a page cache of its own (`WRITER_CACHE_KIB` in `store`) so a
//! push does not re-read the B-tree pages of the previous one and never spills dirty pages
//! to the WAL before its commit. Kept while the server is idle, that cache would be memory
//! held for nothing, so once no push has ended for [`IDLE`], the checkpoint thread empties
//! it (`PRAGMA shrink_memory`); the next push reads its pages back from the OS cache.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::SqliteConnection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long pushes must have stopped before the writer's cache is emptied.
const IDLE: Duration = Duration::from_secs(1);

/// When the last push ended, and whether the cache was filled since the last trim.
#[derive(Debug)]
pub(crate) struct CacheTrim {
    epoch: Instant,
    /// Milliseconds from `epoch` to the end of the last push.
    last_push_ms: AtomicU64,
    filled: AtomicBool,
}

impl Default for CacheTrim {
    fn default() -> Self {
        CacheTrim {
            epoch: Instant::now(),
            last_push_ms: AtomicU64::new(0),
            filled: AtomicBool::new(false),
        }
    }
}

impl CacheTrim {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records that a push just ended on the writer.
    pub(crate) fn pushed(&self) {
        self.last_push_ms.store(self.now_ms(), Ordering::Relaxed);
        self.filled.store(true, Ordering::Relaxed);
    }

    /// Empties the writer's page cache if a push filled it and none has ended for [`IDLE`];
    /// does nothing while the writer connection is in use.
    pub(crate) fn trim_if_idle(&self, writer: &Pool<ConnectionManager<SqliteConnection>>) {
        let idle_ms = self
            .now_ms()
            .saturating_sub(self.last_push_ms.load(Ordering::Relaxed));
        if !self.filled.load(Ordering::Relaxed) || u128::from(idle_ms) < IDLE.as_millis() {
            return;
        }
        let Some(mut conn) = writer.try_get() else {
            return;
        };
        self.filled.store(false, Ordering::Relaxed);
        if let Err(e) = conn.batch_execute("PRAGMA shrink_memory;") {
            tracing::warn!(error = %e, "could not empty the writer's page cache");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn filled(trim: &CacheTrim) -> bool {
        trim.filled.load(Ordering::Relaxed)
    }

    #[test]
    fn trims_once_pushes_stop_and_never_while_the_writer_is_busy() {
        let writer = Pool::builder()
            .max_size(1)
            .build(ConnectionManager::<SqliteConnection>::new(":memory:"))
            .unwrap();
        // A clock that started five seconds ago, so "the last push" can be made old.
        let trim = CacheTrim {
            epoch: Instant::now().checked_sub(Duration::from_secs(5)).unwrap(),
            ..CacheTrim::default()
        };
        trim.trim_if_idle(&writer);
        assert!(!filled(&trim), "nothing pushed, nothing to trim");
        trim.pushed();
        trim.trim_if_idle(&writer);
        assert!(filled(&trim), "a push just ended: not idle yet");
        trim.last_push_ms.store(0, Ordering::Relaxed);
        let busy = writer.get().unwrap();
        trim.trim_if_idle(&writer);
        assert!(filled(&trim), "the writer is in use: left for a later tick");
        drop(busy);
        trim.trim_if_idle(&writer);
        assert!(!filled(&trim), "idle and free: trimmed");
    }
}
