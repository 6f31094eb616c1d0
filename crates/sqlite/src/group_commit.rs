//! Group commit of pushes.
//!
//! Each commit writes every page the transaction dirtied to the WAL and, with
//! `synchronous=FULL`, waits for an `fsync`. Events carry random (UUID v4) guids, so a
//! 100-event push dirties a leaf page per event in each guid index; pushes that commit
//! together share those writes. Pushes therefore queue here, and one *leader* at a time runs
//! on the writer connection: it takes every queued push, runs them one after the other in
//! **one** transaction and commits once, then takes whatever queued meanwhile, until the
//! queue is empty. If any push of a group fails, nothing of the group is committed and each
//! push runs again in a transaction of its own, so a failing push fails alone. A push is
//! answered only after the commit that made it durable, so an acknowledged push is as
//! durable as with one commit per push; sequence numbers stay consecutive per tenant and in
//! commit order because the pushes run one after the other on the one writer connection.
//!
//! The leader takes the writer connection from its pool once per group, so other writes
//! (configs, accounts) get their turn between groups.

use crate::error::Fail;
use crate::push_tx::SqliteTx;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::SqliteConnection;
use domain::error::StoreError;
use domain::ports::{PushBatch, PushOutcome};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

type Outcome = Result<PushOutcome, StoreError>;

/// One push waiting for the writer.
struct Pending {
    tenant: String,
    batch: PushBatch,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// A leader is running and will take what is queued.
    leading: bool,
}

/// The pushes waiting for the writer connection.
#[derive(Default)]
pub(crate) struct PushQueue {
    queue: Mutex<Queue>,
}

impl PushQueue {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a push and, when no leader is running, starts one on a blocking thread;
    /// resolves once the push is committed (or failed).
    pub(crate) async fn push(
        self: &Arc<Self>,
        writer: &Pool<ConnectionManager<SqliteConnection>>,
        tenant: String,
        batch: PushBatch,
    ) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let lead = {
            let mut queue = self.lock();
            queue.pending.push(Pending {
                tenant,
                batch,
                reply,
            });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            let queue = self.clone();
            let writer = writer.clone();
            // Detached: the leader serves every push queued while it runs, not only ours.
            tokio::task::spawn_blocking(move || queue.lead(&writer));
        }
        outcome
            .await
            .map_err(|_| StoreError::internal("a queued push was dropped"))?
    }

    /// Commits groups until the queue is empty, then steps down.
    fn lead(&self, writer: &Pool<ConnectionManager<SqliteConnection>>) {
        let _step_down = StepDown(self);
        loop {
            let mut conn = match writer.get() {
                Ok(conn) => conn,
                Err(e) => {
                    // No connection: everything queued fails now rather than waiting.
                    let e = StoreError::unavailable(e);
                    let failed = {
                        let mut queue = self.lock();
                        queue.leading = false;
                        std::mem::take(&mut queue.pending)
                    };
                    for push in failed {
                        let _ = push.reply.send(Err(same_failure(&e)));
                    }
                    return;
                }
            };
            let group = self.take_or_step_down();
            if group.is_empty() {
                return;
            }
            commit(&mut conn, group);
        }
    }

    /// Everything queued; when nothing is, the leader steps down in the same critical
    /// section, so a push queued right after starts a new leader.
    fn take_or_step_down(&self) -> Vec<Pending> {
        let mut queue = self.lock();
        if queue.pending.is_empty() {
            queue.leading = false;
        }
        std::mem::take(&mut queue.pending)
    }
}

/// Makes sure a leader that panicked steps down and fails what it left queued (dropping a
/// reply fails its push), instead of leaving later pushes waiting for nobody.
struct StepDown<'q>(&'q PushQueue);

impl Drop for StepDown<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.lock();
            queue.pending.clear();
            queue.leading = false;
        }
    }
}

/// Runs `group` in one transaction (or, if that fails, each push alone) and answers each.
fn commit(conn: &mut SqliteConnection, group: Vec<Pending>) {
    let together = conn.immediate_transaction(|conn| {
        group
            .iter()
            .map(|push| run(conn, push))
            .collect::<Result<Vec<_>, Fail>>()
    });
    match together {
        Ok(outcomes) => {
            for (push, outcome) in group.into_iter().zip(outcomes) {
                // The pusher may have gone (client disconnected); its push is committed.
                let _ = push.reply.send(Ok(outcome));
            }
        }
        // Nothing of the group was committed: each push runs again alone. (Savepoints would
        // avoid the rerun but copy every page a push touches into a statement journal: slower
        // in the common case, measured.)
        Err(_) => {
            for push in group {
                let outcome = conn
                    .immediate_transaction(|conn| run(conn, &push))
                    .map_err(Fail::into_store);
                let _ = push.reply.send(outcome);
            }
        }
    }
}

/// One push on a connection inside the write transaction.
fn run(conn: &mut SqliteConnection, push: &Pending) -> Result<PushOutcome, Fail> {
    let mut tx = SqliteTx::new(conn, &push.tenant);
    domain::materialize::push_in_tx(&mut tx, &push.batch).map_err(Fail::Store)
}

/// A failure shared by every push that was waiting, as each of them reports it.
fn same_failure(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(rule) => StoreError::Conflict(rule.clone()),
        StoreError::Unavailable(cause) => StoreError::unavailable(cause.to_string()),
        StoreError::Internal(cause) => StoreError::internal(cause.to_string()),
    }
}
