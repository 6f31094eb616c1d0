//! [`EventStore`]: the atomic push, pulls by sequence, event queries, quarantine.

use crate::error::Fail;
use crate::push_tx::PgTx;
use crate::rows::{stored, EventRow};
use crate::schema::{configs, events, quarantine};
use crate::sql::{instant, limit};
use crate::PgStore;
use async_trait::async_trait;
use diesel::dsl::min;
use diesel::prelude::*;
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::RejectCode;
use domain::ports::{
    EventFilter, EventStore, PushBatch, PushOutcome, PushTx, QuarantinedEvent, StoredEvent,
};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::Value;

type QuarantineRow = (i64, Value, String, String, i64, Option<String>);

fn quarantined_event(
    (id, raw, code, error, received_at, pushed_by): QuarantineRow,
) -> Result<QuarantinedEvent, Fail> {
    Ok(QuarantinedEvent {
        id,
        raw,
        code: RejectCode::parse(&code).ok_or_else(|| Fail::corrupt("reject code"))?,
        error,
        received_at: instant(received_at)?,
        pushed_by,
    })
}

#[async_trait]
impl EventStore for PgStore {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.transaction(move |conn| {
            let mut tx = PgTx::new(conn, &tenant);
            // Take the tenant lock first (NotFound for an unknown tenant): pushes of one
            // tenant queue here, so sequence order is commit order.
            tx.head()?;
            domain::materialize::push_in_tx(&mut tx, &batch).map_err(Fail::Store)
        })
        .await
    }

    async fn pull(
        &self,
        tenant: &TenantId,
        after: Seq,
        max: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        // Sequences are gap-free per tenant, so the page is exactly the range
        // (after, after + max]. Saying so bounds the work whatever plan is chosen: measured
        // after a 1,000,000-event bulk push, before autovacuum had analysed the table, the
        // planner picked a bitmap scan of every later event plus a sort — 460 ms a page
        // instead of 3 ms.
        let last = after.0.saturating_add(limit(max));
        self.run(move |conn| {
            let rows = events::table
                .filter(events::tenant_id.eq(tenant))
                .filter(events::seq.gt(after.0))
                .filter(events::seq.le(last))
                .order(events::seq)
                .limit(limit(max))
                .select(EventRow::as_select())
                .load(conn)?;
            stored(rows)
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
            let mut q = events::table
                .filter(events::tenant_id.eq(tenant))
                .filter(events::seq.gt(after.0))
                .into_boxed();
            if let Some(guid) = filter.entity_guid {
                q = q.filter(events::entity_guid.eq(guid));
            }
            if let Some(kind) = filter.event_type {
                q = q.filter(events::event_type.eq(kind));
            }
            let rows = q
                .order(events::seq)
                .limit(limit(max))
                .select(EventRow::as_select())
                .load(conn)?;
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
            let rows = events::table
                .filter(events::tenant_id.eq(tenant))
                .filter(events::entity_guid.eq(entity_guid))
                .order((events::ts, events::guid))
                .limit(limit(max))
                .select(EventRow::as_select())
                .load(conn)?;
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
