//! The second stage of a push: applying a tenant's stored events to its entities.
//!
//! A push is two transactions on two connections. The first (`group_commit`) stores the
//! events under the tenant's `configs` row lock: dedup, sequence numbers, events, refs,
//! quarantine, head. The second, here, applies them under the tenant's `entity_progress`
//! row lock and advances that row's `applied` position in the same transaction. So while
//! one group of a tenant's pushes is being applied, the next group is already being stored
//! by another PostgreSQL backend: the two halves of a tenant's push work run on two cores
//! (one backend was the limit of a tenant's push rate, measured in docs/benchmarks.md).
//! A push is answered after both commits, so its pusher (and everyone after) reads entities
//! that include it.
//!
//! The applier always catches up: it applies every stored event after `applied` up to the
//! position asked for, read back from `events`, whoever stored them (another server
//! instance, or a push whose apply failed). Events are never applied twice nor out of order:
//! `applied` moves only in the transaction that applied the events before it. Should an
//! apply fail, its push fails (its events are stored: a retry finds them duplicates) and the
//! next apply of the tenant, or [`catch_up_all`] at start-up, applies them.

use crate::error::Fail;
use crate::events::events_between;
use crate::push_tx::PgTx;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{BigInt, Jsonb, Text};
use diesel::{Connection, OptionalExtension, PgConnection, QueryableByName, RunQueryDsl};
use domain::config::AppConfig;
use domain::cursor::Seq;
use domain::duplicates::DuplicateRules;
use domain::error::StoreError;
use domain::event::Event;
use domain::materialize::apply_in_tx;
use group_commit::GroupCommit;
use serde_json::Value;
use std::sync::Arc;

/// One push's request to its tenant's applier: every event up to `up_to` applied, the
/// push's own under `rules` (the tenant's rules when the push was received).
#[derive(Debug)]
pub(crate) struct ApplyJob {
    /// The push's last sequence number (the head after it).
    pub(crate) up_to: Seq,
    /// Duplicate-detection rules the push's events are applied under.
    pub(crate) rules: DuplicateRules,
}

type Applied = Result<(), StoreError>;

/// Apply requests waiting for their tenant's applier, keyed by tenant id.
pub(crate) type ApplyQueue = GroupCommit<String, ApplyJob, Applied>;

/// The apply queues over `pool`: a tenant's queued requests are served together, in one
/// transaction.
pub(crate) fn apply_queue(pool: Pool<ConnectionManager<PgConnection>>) -> Arc<ApplyQueue> {
    GroupCommit::new(move |tenant: &String, jobs: Vec<ApplyJob>| {
        let result = match pool.get() {
            Ok(mut conn) => catch_up(&mut conn, tenant, jobs.iter().map(|j| (j.up_to, &j.rules)))
                .map_err(Fail::into_store),
            Err(e) => Err(StoreError::unavailable(e)),
        };
        match result {
            Ok(()) => jobs.iter().map(|_| Ok(())).collect(),
            Err(e) => jobs.iter().map(|_| Err(e.for_another())).collect(),
        }
    })
}

/// In one transaction, applies the tenant's stored events after its `applied` position up
/// to the greatest position asked for. `asks` are `(position, rules)`: the events up to a
/// position are applied under its rules (the stretch after the previous position asked for;
/// events before every ask, stored by someone else, under the first ask's rules).
pub(crate) fn catch_up<'r>(
    conn: &mut PgConnection,
    tenant: &str,
    asks: impl Iterator<Item = (Seq, &'r DuplicateRules)>,
) -> Result<(), Fail> {
    let mut asks: Vec<(Seq, &DuplicateRules)> = asks.collect();
    asks.sort_by_key(|(seq, _)| *seq);
    let Some(&(last, _)) = asks.last() else {
        return Ok(());
    };
    conn.transaction(|conn| {
        let applied = lock_progress(conn, tenant)?;
        if applied >= last {
            return Ok(());
        }
        let stored = events_between(conn, tenant, applied, last)?;
        let expected = usize::try_from(last.0 - applied.0).unwrap_or(usize::MAX);
        if stored.len() != expected || stored.first().is_some_and(|e| e.seq.0 != applied.0 + 1) {
            return Err(Fail::corrupt("a gap in the tenant's event sequence"));
        }
        let events: Vec<Event> = stored.into_iter().map(|s| s.event).collect();
        let mut tx = PgTx::new(conn, tenant);
        let mut done = applied;
        let mut rest = asks.as_slice();
        while let Some(&(_, rules)) = rest.first() {
            // Consecutive asks under the same rules are one stretch.
            let same = rest.iter().take_while(|(_, r)| *r == rules).count();
            let (stretch, later) = rest.split_at(same);
            rest = later;
            let end = stretch.last().map_or(done, |(seq, _)| *seq);
            if end <= done {
                continue;
            }
            let from = usize::try_from(done.0 - applied.0).unwrap_or(usize::MAX);
            let to = usize::try_from(end.0 - applied.0).unwrap_or(usize::MAX);
            let slice: Vec<&Event> = events.get(from..to).unwrap_or_default().iter().collect();
            apply_in_tx(&mut tx, done, &slice, rules).map_err(Fail::Store)?;
            done = end;
        }
        diesel::sql_query("UPDATE entity_progress SET applied = $2 WHERE tenant_id = $1")
            .bind::<Text, _>(tenant)
            .bind::<BigInt, _>(done.0)
            .execute(conn)?;
        Ok(())
    })
}

#[derive(QueryableByName)]
struct Progress {
    #[diesel(sql_type = BigInt)]
    applied: i64,
}

/// The tenant's applied position, its row locked (created at 0 for a tenant that has none
/// yet); `NotFound` once the tenant is gone.
fn lock_progress(conn: &mut PgConnection, tenant: &str) -> Result<Seq, Fail> {
    let select = || {
        diesel::sql_query("SELECT applied FROM entity_progress WHERE tenant_id = $1 FOR UPDATE")
            .bind::<Text, _>(tenant)
    };
    if let Some(p) = select().get_result::<Progress>(conn).optional()? {
        return Ok(Seq(p.applied));
    }
    diesel::sql_query(
        "INSERT INTO entity_progress (tenant_id, applied) SELECT id, 0 FROM configs \
         WHERE id = $1 ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(tenant)
    .execute(conn)?;
    match select().get_result::<Progress>(conn).optional()? {
        Some(p) => Ok(Seq(p.applied)),
        None => Err(Fail::Store(StoreError::NotFound)),
    }
}

#[derive(QueryableByName)]
struct Behind {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    head: i64,
    #[diesel(sql_type = Jsonb)]
    document: Value,
}

/// Applies the stored events of every tenant whose entities are behind its head (pushes
/// whose apply failed or was cut short by a stop), under each tenant's current rules.
/// Blocking; run at start-up. A tenant that fails is logged and left for its next push's
/// apply; the others go on. Returns how many tenants were caught up.
///
/// # Errors
/// The tenants behind cannot be listed.
pub(crate) fn catch_up_all(conn: &mut PgConnection) -> Result<usize, Fail> {
    let behind: Vec<Behind> = diesel::sql_query(
        "SELECT c.id, c.head, c.document FROM configs c LEFT JOIN entity_progress p \
         ON p.tenant_id = c.id WHERE c.head > COALESCE(p.applied, 0)",
    )
    .load(conn)?;
    let mut done = 0;
    for tenant in behind {
        let rules = match AppConfig::from_document(&tenant.document) {
            Ok(config) => config.duplicate_rules(),
            Err(_) => {
                tracing::warn!(tenant = %tenant.id, "config unreadable; default duplicate rules");
                DuplicateRules::default()
            }
        };
        match catch_up(
            conn,
            &tenant.id,
            std::iter::once((Seq(tenant.head), &rules)),
        ) {
            Ok(()) => done += 1,
            Err(e) => {
                let e = e.into_store();
                tracing::error!(tenant = %tenant.id, error = %e, "applying stored events failed");
            }
        }
    }
    Ok(done)
}
