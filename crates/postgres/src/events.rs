//! [`EventStore`]: the push (stored, then applied: `group_commit`, `apply_stage`), pulls by
//! sequence, event queries, quarantine.

use crate::apply_stage::ApplyJob;
use crate::error::Fail;
use crate::rows::{event_cols_e, stored, EventRow};
use crate::schema::{configs, events, quarantine};
use crate::sql::{instant, limit};
use crate::PgStore;
use async_trait::async_trait;
use diesel::dsl::{min, AsSelect, SqlTypeOf};
use diesel::pg::{Pg, PgRowByRowLoadingMode};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use domain::cursor::Seq;
use domain::duplicates::DuplicateRules;
use domain::error::StoreError;
use domain::event::RejectCode;
use domain::ports::{
    EventFilter, EventPage, EventStore, PageBudget, PushBatch, PushOutcome, QuarantinedEvent,
    StoredEvent,
};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use std::time::Duration;

/// Events of tenant `$1` that reference entity `$2` and have it as `entityGuid`, with seq
/// after `$3`: a range of `event_refs`' key, then each event by primary key (`LATERAL` keeps
/// that plan whatever the statistics say).
macro_rules! events_of_entity {
    () => {
        " FROM event_refs r CROSS JOIN LATERAL (SELECT * FROM events WHERE tenant_id = $1 \
         AND seq = r.seq LIMIT 1) e WHERE r.tenant_id = $1 AND r.entity_guid = $2 \
         AND r.seq > $3 AND e.entity_guid = $2"
    };
}

/// [`events_of_entity!`], unordered; `list_events` adds its filters and order.
pub(crate) const ENTITY_EVENTS_FROM_SQL: &str =
    concat!("SELECT ", event_cols_e!(), events_of_entity!());

/// An entity's events in application order (binds: tenant, guid, 0, limit `$4`).
pub(crate) const ENTITY_EVENTS_SQL: &str = concat!(
    "SELECT ",
    event_cols_e!(),
    events_of_entity!(),
    " ORDER BY e.ts, e.guid LIMIT $4"
);

type QuarantineRow = (i64, String, String, String, i64, Option<String>);

fn quarantined_event(
    (id, raw, code, error, received_at, pushed_by): QuarantineRow,
) -> Result<QuarantinedEvent, Fail> {
    Ok(QuarantinedEvent {
        id,
        raw: serde_json::from_str(&raw).map_err(|_| Fail::corrupt("quarantined event"))?,
        code: RejectCode::parse(&code).ok_or_else(|| Fail::corrupt("reject code"))?,
        error,
        received_at: instant(received_at)?,
        pushed_by,
    })
}

impl PgStore {
    /// A push's two stages, one after the other.
    async fn store_and_apply(
        &self,
        tenant: String,
        batch: PushBatch,
    ) -> Result<PushOutcome, StoreError> {
        let rules = batch.rules.clone();
        let (outcome, events) = self
            .pushes
            .submit(tenant.clone(), batch)
            .await
            .map_err(StoreError::internal)??;
        let job = ApplyJob {
            up_to: outcome.head,
            rules: rules.clone(),
            events,
        };
        // A group dropped by a panic is a failed apply like any other (its events are stored).
        let applied = match self.applies.submit(tenant.clone(), job).await {
            Ok(applied) => applied,
            Err(dropped) => Err(StoreError::internal(dropped)),
        };
        if let Err(e) = applied {
            // The events are stored: their apply is retried behind the answer, so the
            // entities do not wait for the tenant's next push (or a restart) when the failure
            // was a passing one (a lost connection, a pool timeout).
            self.retry_apply(tenant, outcome.head, rules);
            return Err(e);
        }
        Ok(outcome)
    }

    /// Retries, in a task of its own, applying the tenant's events up to `up_to` after
    /// [`APPLY_RETRY_DELAYS`], until an apply succeeds or the tenant is gone; logged when
    /// every retry failed (the tenant's next push, or [`catch_up_all`] at start-up, tries
    /// again).
    ///
    /// [`catch_up_all`]: crate::apply_stage::catch_up_all
    fn retry_apply(&self, tenant: String, up_to: Seq, rules: DuplicateRules) {
        let store = self.clone();
        tokio::spawn(async move {
            for delay in APPLY_RETRY_DELAYS {
                tokio::time::sleep(delay).await;
                let job = ApplyJob {
                    up_to,
                    rules: rules.clone(),
                    events: Vec::new(),
                };
                match store.applies.submit(tenant.clone(), job).await {
                    Ok(Ok(())) | Ok(Err(StoreError::NotFound)) => return,
                    Ok(Err(_)) | Err(_) => {}
                }
            }
            tracing::error!(tenant = %tenant, "applying stored events failed on every retry");
        });
    }
}

/// Waits before each retry of a failed apply (about half a minute in all).
const APPLY_RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

#[derive(QueryableByName)]
struct RetiredHead {
    #[diesel(sql_type = BigInt)]
    head: i64,
}

/// The sequence number before the tenant's first event: 0, or the head a purged tenant of
/// its id left (`retired_heads`; the sequence of a config created again continues there).
fn sequence_base(conn: &mut PgConnection, tenant: &str) -> Result<Seq, Fail> {
    let rows: Vec<RetiredHead> = diesel::sql_query("SELECT head FROM retired_heads WHERE id = $1")
        .bind::<Text, _>(tenant)
        .load(conn)?;
    Ok(Seq(rows.first().map_or(0, |r| r.head)))
}

/// Data sizes of the events of tenant `$1` with seq in `($2, $3]`, in seq order: stored with
/// each event (see the migration `event_data_bytes`), measured from the text for events
/// stored before.
const DATA_BYTES_SQL: &str = "SELECT COALESCE(data_bytes, octet_length(data::text)) AS bytes \
     FROM events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq";

#[derive(QueryableByName)]
struct DataBytes {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    bytes: i32,
}

/// The query of the tenant's events with seq in `(after, last]`, in seq order.
fn range_query(
    tenant: &str,
    after: Seq,
    last: Seq,
) -> events::BoxedQuery<'_, Pg, SqlTypeOf<AsSelect<EventRow, Pg>>> {
    events::table
        .filter(events::tenant_id.eq(tenant))
        .filter(events::seq.gt(after.0))
        .filter(events::seq.le(last.0))
        .order(events::seq)
        .limit(last.0.saturating_sub(after.0).max(0))
        .select(EventRow::as_select())
        .into_boxed()
}

/// The tenant's events with seq in `(after, last]`, in seq order.
pub(crate) fn events_between(
    conn: &mut PgConnection,
    tenant: &str,
    after: Seq,
    last: Seq,
) -> Result<Vec<StoredEvent>, Fail> {
    stored(range_query(tenant, after, last).load(conn)?)
}

#[async_trait]
impl EventStore for PgStore {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, StoreError> {
        // Stored with the tenant's other queued pushes (see `group_commit`), then applied
        // (see `apply_stage`); answered after both. As a task of its own: a caller that
        // stops waiting (a client gone) must not leave stored events unapplied until the
        // tenant's next push.
        let store = self.clone();
        let tenant = tenant.as_str().to_owned();
        tokio::spawn(async move { store.store_and_apply(tenant, batch).await })
            .await
            .map_err(StoreError::internal)?
    }

    async fn pull(
        &self,
        tenant: &TenantId,
        after: Seq,
        max: u32,
        max_data_bytes: usize,
    ) -> Result<EventPage, StoreError> {
        let tenant = tenant.as_str().to_owned();
        // Sequences are gap-free per tenant from its base on, so the page and the row past it
        // are in the range (from, from + max + 1], `from` being `after` or the base when that
        // is later. Saying so bounds the work whatever plan is chosen: measured after a
        // 1,000,000-event bulk push, before autovacuum had analysed the table, the planner
        // picked a bitmap scan of every later event plus a sort — 460 ms a page instead of
        // 3 ms. The events' data sizes are read first (a small column of the rows), so the
        // page's own range is known before its events are: no row past it is sent.
        self.run(move |conn| {
            let from = after.max(sequence_base(conn, &tenant)?);
            let last = Seq(from.0.saturating_add(limit(max)).saturating_add(1));
            let sizes: Vec<DataBytes> = diesel::sql_query(DATA_BYTES_SQL)
                .bind::<Text, _>(&tenant)
                .bind::<BigInt, _>(from.0)
                .bind::<BigInt, _>(last.0)
                .load(conn)?;
            let mut budget = PageBudget::new(max, max_data_bytes);
            let more = !sizes
                .iter()
                .all(|size| budget.admit(usize::try_from(size.bytes).unwrap_or(0)));
            let end = Seq(from.0.saturating_add(budget.admitted() as i64));
            // One row at a time (libpq's single-row mode): measured faster than loading the
            // page at once (283,000 against 200,000–227,000 events/s), and the page is all
            // that is held.
            let events = range_query(&tenant, from, end)
                .load_iter::<EventRow, PgRowByRowLoadingMode>(conn)?
                .map(|row| row.map_err(Fail::from).and_then(EventRow::into_stored))
                .collect::<Result<Vec<_>, Fail>>()?;
            Ok(EventPage { events, more })
        })
        .await
    }

    async fn first_seq_at_or_after(
        &self,
        tenant: &TenantId,
        at: Timestamp,
    ) -> Result<Option<Seq>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let first: Option<i64> = events::table
                .filter(events::tenant_id.eq(tenant))
                .filter(events::ts.ge(at.millis()))
                .select(min(events::seq))
                .first(conn)?;
            Ok(first.map(Seq))
        })
        .await
    }

    async fn head(&self, tenant: &TenantId) -> Result<Seq, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let head: Option<i64> = configs::table
                .filter(configs::id.eq(tenant))
                .select(configs::head)
                .first(conn)
                .optional()?;
            Ok(Seq(head.unwrap_or(0)))
        })
        .await
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        after: Seq,
        max: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let filter = filter.clone();
        self.run(move |conn| {
            let rows = match filter.entity_guid {
                // That entity's refs (few), in seq order by the refs' key.
                Some(guid) => {
                    // `$4` is bound with or without a type filter (PostgreSQL accepts an
                    // unused parameter of a given type), so the binds keep one order.
                    let mut sql = String::from(ENTITY_EVENTS_FROM_SQL);
                    if filter.event_type.is_some() {
                        sql.push_str(" AND e.type = $4");
                    }
                    sql.push_str(" ORDER BY r.seq LIMIT $5");
                    diesel::sql_query(sql)
                        .bind::<Text, _>(tenant)
                        .bind::<Text, _>(guid)
                        .bind::<BigInt, _>(after.0)
                        .bind::<Text, _>(filter.event_type.unwrap_or_default())
                        .bind::<BigInt, _>(limit(max))
                        .load::<EventRow>(conn)?
                }
                None => {
                    let mut q = events::table
                        .filter(events::tenant_id.eq(tenant))
                        .filter(events::seq.gt(after.0))
                        .into_boxed();
                    if let Some(kind) = filter.event_type {
                        q = q.filter(events::event_type.eq(kind));
                    }
                    q.order(events::seq)
                        .limit(limit(max))
                        .select(EventRow::as_select())
                        .load(conn)?
                }
            };
            stored(rows)
        })
        .await
    }

    async fn entity_events(
        &self,
        tenant: &TenantId,
        entity_guid: &str,
        max: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let entity_guid = entity_guid.to_owned();
        self.run(move |conn| {
            let rows = diesel::sql_query(ENTITY_EVENTS_SQL)
                .bind::<Text, _>(tenant)
                .bind::<Text, _>(entity_guid)
                .bind::<BigInt, _>(0)
                .bind::<BigInt, _>(limit(max))
                .load::<EventRow>(conn)?;
            stored(rows)
        })
        .await
    }

    async fn quarantined(
        &self,
        tenant: &TenantId,
        after: i64,
        max: u32,
    ) -> Result<Vec<QuarantinedEvent>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let rows: Vec<QuarantineRow> = quarantine::table
                .filter(quarantine::tenant_id.eq(tenant))
                .filter(quarantine::id.gt(after))
                .order(quarantine::id)
                .limit(limit(max))
                .select((
                    quarantine::id,
                    quarantine::raw,
                    quarantine::code,
                    quarantine::error,
                    quarantine::received_at,
                    quarantine::pushed_by,
                ))
                .load(conn)?;
            rows.into_iter().map(quarantined_event).collect()
        })
        .await
    }
}
