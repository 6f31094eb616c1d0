//! Group commit for the store adapters.
//!
//! A store whose writes of one *key* (the database, or one tenant) must run one after the
//! other gives them to a [`GroupCommit`]. Writes queue per key, and one *leader* per key at
//! a time runs on a blocking thread: it takes every write queued for its key, hands them to
//! the store's commit function in one call (which runs them in one transaction and commits
//! once), answers each, then takes whatever queued meanwhile, until the queue is empty and
//! it steps down. Writes of different keys have their own leaders and run in parallel.
//!
//! The commit function answers each write of the group; a write it does not answer (or
//! every write of a group whose commit panicked) resolves to [`Dropped`]; the leader goes on
//! with the next group. Commit functions
//! that run a group in one transaction use [`together_or_alone`], so that a failing write
//! fails alone.

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The commit function: runs a group of writes of one key and returns one answer per
/// write, in the group's order.
type Commit<K, W, A> = dyn Fn(&K, Vec<W>) -> Vec<A> + Send + Sync;

/// A write that was never answered: its group's commit panicked or returned fewer answers
/// than writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a queued write was dropped without an answer")
    }
}

impl std::error::Error for Dropped {}

/// Writes of one key waiting for their leader, each with where its answer goes.
type Queue<W, A> = Vec<(W, oneshot::Sender<A>)>;

/// Queues of writes per key; a key has an entry exactly while its leader runs.
pub struct GroupCommit<K, W, A> {
    queues: Mutex<HashMap<K, Queue<W, A>>>,
    commit: Box<Commit<K, W, A>>,
}

impl<K, W, A> std::fmt::Debug for GroupCommit<K, W, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<K, W, A> GroupCommit<K, W, A>
where
    K: Eq + Hash + Clone + Send + 'static,
    W: Send + 'static,
    A: Send + 'static,
{
    /// Group commit over `commit`, which runs (blocking) one group of writes of one key
    /// and returns one answer per write, in order.
    pub fn new(commit: impl Fn(&K, Vec<W>) -> Vec<A> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(GroupCommit {
            queues: Mutex::new(HashMap::new()),
            commit: Box::new(commit),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Queue<W, A>>> {
        // No code that can panic runs under the lock, so the map is never half-updated.
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `write` under `key` and, when no leader runs for `key`, starts one on a
    /// blocking thread; resolves to the write's answer once its group is committed.
    ///
    /// # Errors
    /// [`Dropped`] when the write was not answered (see the module documentation).
    pub async fn submit(self: &Arc<Self>, key: K, write: W) -> Result<A, Dropped> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queues = self.lock();
            match queues.get_mut(&key) {
                Some(queue) => {
                    queue.push((write, reply));
                    false
                }
                None => {
                    queues.insert(key.clone(), vec![(write, reply)]);
                    true
                }
            }
        };
        if lead {
            let this = self.clone();
            // Detached: the leader serves every write queued for its key while it runs.
            tokio::task::spawn_blocking(move || this.lead(&key));
        }
        answer.await.map_err(|_| Dropped)
    }

    /// Commits groups of `key` until its queue is empty, then steps down. A commit that
    /// panics answers none of its group (each resolves to [`Dropped`]); the leader goes on
    /// with what queued meanwhile, so later writes are never left waiting for nobody.
    fn lead(&self, key: &K) {
        loop {
            let group = self.take_or_step_down(key);
            if group.is_empty() {
                return;
            }
            let (writes, replies): (Vec<W>, Vec<oneshot::Sender<A>>) = group.into_iter().unzip();
            // The commit function owns the writes it was given; nothing of ours is left
            // half-updated by its panic.
            let answers =
                catch_unwind(AssertUnwindSafe(|| (self.commit)(key, writes))).unwrap_or_default();
            for (reply, answer) in replies.into_iter().zip(answers) {
                // The writer may have gone (client disconnected); its write is committed.
                let _ = reply.send(answer);
            }
        }
    }

    /// Everything queued for `key`; when nothing is, the leader steps down (removes the
    /// key's entry) in the same critical section, so a write queued right after starts a
    /// new leader.
    fn take_or_step_down(&self, key: &K) -> Queue<W, A> {
        let mut queues = self.lock();
        match queues.get_mut(key) {
            Some(queue) if !queue.is_empty() => std::mem::take(queue),
            _ => {
                queues.remove(key);
                Vec::new()
            }
        }
    }
}

/// Runs `group` with `run` — one transaction over the writes it is given, one answer per
/// write — and, if that fails (nothing of the group committed), runs each write alone, so
/// that a failing write fails alone and the others still commit. One answer per write of
/// `group`, in order; `unanswered` is the error of a write `run` returned no answer for.
pub fn together_or_alone<C, W, A, E>(
    conn: &mut C,
    group: &[W],
    mut run: impl FnMut(&mut C, &[W]) -> Result<Vec<A>, E>,
    unanswered: impl Fn() -> E,
) -> Vec<Result<A, E>> {
    match run(conn, group) {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) if group.len() == 1 => vec![Err(e)],
        Err(_) => group
            .iter()
            .map(|write| {
                run(conn, std::slice::from_ref(write))?
                    .pop()
                    .ok_or_else(&unanswered)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
