//! Group commit of one tenant's pushes.
//!
//! Pushes of a tenant are serialised by the row lock on its `configs` row, and each push
//! holds it for a dozen statements (its batch reads, the `COPY`s, the entity upserts, the
//! match-key probes) and a commit. So pushes queue per tenant in a [`GroupCommit`]: the
//! tenant's leader takes every queued push, runs them in **one** transaction as one group
//! ([`domain::materialize::push_group_in_tx`]: each push gets the outcome and the sequence
//! numbers it would get alone, and the group's statements are one round instead of one per
//! push) and commits once, then takes whatever queued meanwhile. If the group fails,
//! nothing of it is committed and each push runs again in a transaction of its own, so a
//! failing push fails alone. A push is answered only after the commit that holds it.
//! Tenants have their own leaders and run in parallel; the row lock still orders the pushes
//! of several server instances sharing one database.
//!
//! Measured before this (one transaction per push): 100,000 events pushed as 4 clients ×
//! 100-event batches 8,659 events/s, as 2 clients × 400-event batches 12,727.

use crate::error::Fail;
use crate::push_tx::PgTx;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::{Connection, PgConnection};
use domain::error::StoreError;
use domain::materialize::store_group_in_tx;
use domain::ports::{PushBatch, PushOutcome, PushTx};
use group_commit::{together_or_alone, GroupCommit};
use std::sync::Arc;

type Outcome = Result<PushOutcome, StoreError>;

/// Pushes waiting for their tenant's leader, keyed by tenant id.
pub(crate) type PushQueue = GroupCommit<String, PushBatch, Outcome>;

/// The push queues over `pool`.
pub(crate) fn push_queue(pool: Pool<ConnectionManager<PgConnection>>) -> Arc<PushQueue> {
    GroupCommit::new(move |tenant: &String, group: Vec<PushBatch>| {
        match pool.get() {
            Ok(mut conn) => commit(&mut conn, tenant, &group),
            // No connection: the group fails now rather than waiting again.
            Err(e) => {
                let e = StoreError::unavailable(e);
                group.iter().map(|_| Err(e.for_another())).collect()
            }
        }
    })
}

/// Runs `group` in one transaction (or, if that fails, each push alone); one outcome per
/// push.
fn commit(conn: &mut PgConnection, tenant: &str, group: &[PushBatch]) -> Vec<Outcome> {
    let in_transaction = |conn: &mut PgConnection, batches: &[PushBatch]| {
        let batches: Vec<&PushBatch> = batches.iter().collect();
        conn.transaction(|conn| run(conn, tenant, &batches))
            .map_err(Fail::into_store)
    };
    together_or_alone(conn, group, in_transaction, || {
        StoreError::internal("a push produced no outcome")
    })
}

/// The pushes `batches` of `tenant` inside the transaction, its row lock taken first
/// (`NotFound` for an unknown tenant).
fn run(
    conn: &mut PgConnection,
    tenant: &str,
    batches: &[&PushBatch],
) -> Result<Vec<PushOutcome>, Fail> {
    let mut tx = PgTx::new(conn, tenant);
    tx.head().map_err(Fail::Store)?;
    store_group_in_tx(&mut tx, batches).map_err(Fail::Store)
}
