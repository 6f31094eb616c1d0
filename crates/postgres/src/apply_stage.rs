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
//! position asked for, whoever stored them (another server instance, or a push whose apply
//! failed): each push hands over its own new events, and the applier reads the events back
//! from `events` when those do not cover the whole stretch. Events are never applied twice nor out of order:
//! `applied` moves only in the transaction that applied the events before it. Should an
//! apply fail, its push fails (its events are stored: a retry finds them duplicates) and
//! the apply is retried behind the answer for about half a minute; the tenant's next apply,
//! or [`catch_up_all`] at start-up, applies them otherwise — a bounded number per
//! transaction ([`CATCH_UP_EVENTS`]).

use crate::error::Fail;
use crate::events::events_between;
use crate::prepared::{prepared, Prepared, Val};
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
use std::collections::HashMap;
use std::sync::Arc;

/// One push's request to its tenant's applier: every event up to `up_to` applied, the
/// push's own under `rules` (the tenant's rules when the push was received).
#[derive(Debug)]
pub(crate) struct ApplyJob {
    /// The push's last sequence number (the head after it).
    pub(crate) up_to: Seq,
    /// Duplicate-detection rules the push's events are applied under.
    pub(crate) rules: DuplicateRules,
    /// The push's new events, in sequence order (the last one is `up_to`), so that they need
    /// not be read back; empty when not at hand (they are read back).
    pub(crate) events: Vec<Event>,
}

type Applied = Result<(), StoreError>;

/// Apply requests waiting for their tenant's applier, keyed by tenant id.
pub(crate) type ApplyQueue = GroupCommit<String, ApplyJob, Applied>;

/// The apply queues over `pool`: a tenant's queued requests are served together, in one
/// transaction.
pub(crate) fn apply_queue(pool: Pool<ConnectionManager<PgConnection>>) -> Arc<ApplyQueue> {
    GroupCommit::new(move |tenant: &String, jobs: Vec<ApplyJob>| {
        let result = match pool.get() {
            Ok(mut conn) => {
                catch_up(&mut conn, tenant, jobs.iter().collect()).map_err(Fail::into_store)
            }
            Err(e) => Err(StoreError::unavailable(e)),
        };
        match result {
            Ok(()) => jobs.iter().map(|_| Ok(())).collect(),
            Err(e) => jobs.iter().map(|_| Err(e.for_another())).collect(),
        }
    })
}

/// Most events one transaction of a catch-up reads back. A longer backlog (stored events
/// whose apply failed, or was cut short by a stop, for a while) is applied in transactions
/// of at most this many events, so neither memory nor a transaction grows with it.
pub(crate) const CATCH_UP_EVENTS: i64 = 5_000;

/// Applies the tenant's stored events after its `applied` position up to the greatest
/// position asked for. The events up to a job's position are applied under its rules (the
/// stretch after the previous job's position; events before every job, stored by someone
/// else, under the first job's rules). One transaction when the jobs hold the events;
/// otherwise they are read back and applied [`CATCH_UP_EVENTS`] at a time.
pub(crate) fn catch_up(
    conn: &mut PgConnection,
    tenant: &str,
    mut jobs: Vec<&ApplyJob>,
) -> Result<(), Fail> {
    jobs.sort_by_key(|j| j.up_to);
    while catch_up_step(conn, tenant, &jobs)? {}
    Ok(())
}

/// One transaction of [`catch_up`] (`jobs` sorted by position): applies the events after
/// `applied` up to the last job's position, or the next [`CATCH_UP_EVENTS`] of them when
/// they must be read back. Whether events remain (each step moves `applied` forward).
pub(crate) fn catch_up_step(
    conn: &mut PgConnection,
    tenant: &str,
    jobs: &[&ApplyJob],
) -> Result<bool, Fail> {
    let Some(last) = jobs.last().map(|j| j.up_to) else {
        return Ok(false);
    };
    conn.transaction(|conn| {
        let applied = lock_progress(conn, tenant)?;
        if applied >= last {
            return Ok(false);
        }
        let read_back;
        let (events, end): (Vec<&Event>, Seq) = match at_hand(jobs, applied, last) {
            Some(events) => (events, last),
            None => {
                let end = Seq(last.0.min(applied.0.saturating_add(CATCH_UP_EVENTS)));
                read_back = events_between(conn, tenant, applied, end)?;
                let gap_free = read_back.len() == offset(applied, end)
                    && read_back.first().is_none_or(|e| e.seq.0 == applied.0 + 1);
                if !gap_free {
                    return Err(Fail::corrupt("a gap in the tenant's event sequence"));
                }
                (read_back.iter().map(|s| &s.event).collect(), end)
            }
        };
        let mut tx = PgTx::new(conn, tenant);
        let mut done = applied;
        let mut rest = jobs;
        while let Some(first) = rest.first() {
            // Consecutive jobs under the same rules are one stretch.
            let same = rest.iter().take_while(|j| j.rules == first.rules).count();
            let (stretch, later) = rest.split_at(same);
            rest = later;
            let stop = stretch.last().map_or(done, |j| j.up_to).min(end);
            if stop <= done {
                continue;
            }
            let slice = events
                .get(offset(applied, done)..offset(applied, stop))
                .ok_or_else(|| Fail::corrupt("an apply stretch outside the stored events"))?;
            apply_in_tx(&mut tx, done, slice, &first.rules).map_err(Fail::Store)?;
            done = stop;
        }
        SetApplied::with(vec![Val::Text(tenant), Val::BigInt(done.0)]).execute(conn)?;
        Ok(done > applied && done < last)
    })
}

/// How many events lie in `(from, to]`: in a vector of the events after `from`, where
/// those after `to` start.
fn offset(from: Seq, to: Seq) -> usize {
    usize::try_from(to.0 - from.0).unwrap_or(0)
}

/// The events `(applied, last]` from the jobs' own events, when they hold all of them.
fn at_hand<'j>(jobs: &[&'j ApplyJob], applied: Seq, last: Seq) -> Option<Vec<&'j Event>> {
    let mut slots: Vec<Option<&Event>> = vec![None; offset(applied, last)];
    for job in jobs {
        let len = i64::try_from(job.events.len()).ok()?;
        let first = Seq(job.up_to.0 - len);
        for (i, event) in job.events.iter().enumerate() {
            let seq = first.0 + i as i64 + 1;
            if seq > applied.0 {
                *slots.get_mut(offset(applied, Seq(seq)) - 1)? = Some(event);
            }
        }
    }
    slots.into_iter().collect()
}

// The statements every apply runs, kept prepared (`diesel::sql_query` is parsed anew on
// every execution).
prepared!(LockProgress = "SELECT applied FROM entity_progress WHERE tenant_id = $1 FOR UPDATE");
prepared!(SetApplied = "UPDATE entity_progress SET applied = $2 WHERE tenant_id = $1");

#[derive(QueryableByName)]
struct Progress {
    #[diesel(sql_type = BigInt)]
    applied: i64,
}

/// The tenant's applied position, its row locked (created, for a tenant that has none yet,
/// where its sequence starts: 0, or the head a purged tenant of its id left); `NotFound` once
/// the tenant is gone.
fn lock_progress(conn: &mut PgConnection, tenant: &str) -> Result<Seq, Fail> {
    let select = || LockProgress::with(vec![Val::Text(tenant)]);
    if let Some(p) = select().get_result::<Progress>(conn).optional()? {
        return Ok(Seq(p.applied));
    }
    diesel::sql_query(
        "INSERT INTO entity_progress (tenant_id, applied) SELECT c.id, COALESCE(r.head, 0) \
         FROM configs c LEFT JOIN retired_heads r ON r.id = c.id WHERE c.id = $1 \
         ON CONFLICT DO NOTHING",
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
    #[diesel(sql_type = BigInt)]
    applied: i64,
    #[diesel(sql_type = Jsonb)]
    document: Value,
}

/// The heads of the tenants whose entities were behind, by tenant id.
pub(crate) type HeadsBehind = HashMap<String, i64>;

/// Applies the stored events of tenants whose entities are behind their head (pushes whose
/// apply failed or was cut short by a stop), under each tenant's current rules. Blocking.
/// With `earlier` (the answer of a previous round) only the events a tenant already had
/// stored then and are still unapplied now — left over, not a push's apply in flight — else
/// (at start-up) all. A tenant that fails is logged and left for its next push's apply or
/// the next round; the others go on. Returns how many tenants were caught up, and the heads
/// of the tenants behind now, for the next round.
///
/// # Errors
/// The tenants behind cannot be listed.
pub(crate) fn catch_up_all(
    conn: &mut PgConnection,
    earlier: Option<&HeadsBehind>,
) -> Result<(usize, HeadsBehind), Fail> {
    let behind: Vec<Behind> = diesel::sql_query(
        "SELECT c.id, c.head, COALESCE(p.applied, r.head, 0) AS applied, c.document \
         FROM configs c \
         LEFT JOIN entity_progress p ON p.tenant_id = c.id \
         LEFT JOIN retired_heads r ON r.id = c.id \
         WHERE c.head > COALESCE(p.applied, r.head, 0)",
    )
    .load(conn)?;
    let now_behind: HeadsBehind = behind.iter().map(|t| (t.id.clone(), t.head)).collect();
    let mut done = 0;
    for tenant in behind {
        let up_to = match earlier {
            None => tenant.head,
            Some(earlier) => match earlier.get(&tenant.id) {
                Some(&head) if tenant.applied < head => head,
                _ => continue,
            },
        };
        let rules = match AppConfig::from_document(&tenant.document) {
            Ok(config) => config.duplicate_rules(),
            Err(_) => {
                tracing::warn!(tenant = %tenant.id, "config unreadable; default duplicate rules");
                DuplicateRules::default()
            }
        };
        let job = ApplyJob {
            up_to: Seq(up_to),
            rules,
            events: Vec::new(),
        };
        match catch_up(conn, &tenant.id, vec![&job]) {
            Ok(()) => done += 1,
            Err(e) => {
                let e = e.into_store();
                tracing::error!(tenant = %tenant.id, error = %e, "applying stored events failed");
            }
        }
    }
    Ok((done, now_behind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::event::validate_event;
    use serde_json::json;

    fn job(up_to: i64, guids: &[&str]) -> ApplyJob {
        let events = guids
            .iter()
            .map(|g| {
                let raw = json!({"guid": g, "entityGuid": "p", "type": "x", "data": {"a": 1},
                    "timestamp": "2024-01-01T00:00:00Z", "userId": 1});
                validate_event(&raw).unwrap()
            })
            .collect();
        ApplyJob {
            up_to: Seq(up_to),
            rules: DuplicateRules::default(),
            events,
        }
    }

    fn guids(events: Option<Vec<&Event>>) -> Option<Vec<&str>> {
        events.map(|v| v.iter().map(|e| e.guid.as_str()).collect())
    }

    #[test]
    fn the_jobs_own_events_serve_when_they_cover_the_range() {
        let (a, b) = (job(2, &["e1", "e2"]), job(5, &["e4", "e5"]));
        // Seqs 1–2 and 4–5 are at hand, 3 is not (a duplicate-only push's job holds none).
        assert_eq!(guids(at_hand(&[&a, &b], Seq(0), Seq(5))), None);
        let c = job(3, &["e3"]);
        assert_eq!(
            guids(at_hand(&[&c, &b, &a], Seq(0), Seq(5))),
            Some(vec!["e1", "e2", "e3", "e4", "e5"])
        );
        // Events up to the applied position are left out.
        assert_eq!(
            guids(at_hand(&[&a, &c, &b], Seq(1), Seq(5))),
            Some(vec!["e2", "e3", "e4", "e5"])
        );
        assert_eq!(
            guids(at_hand(&[&a], Seq(0), Seq(2))),
            Some(vec!["e1", "e2"])
        );
        assert_eq!(guids(at_hand(&[&job(4, &[])], Seq(0), Seq(4))), None);
    }
}
