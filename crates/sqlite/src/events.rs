//! [`EventStore`]: push in one writer transaction, pull and listings by index.

use crate::error::Fail;
use crate::push_tx::{entity_id_of_guid, HEAD_SQL};
use crate::rows::{event_cols, EventRow};
use crate::sql::{instant, limit, query, Int, OptInt, Query};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::connection::DefaultLoadingMode;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::RejectCode;
use domain::ports::{
    EventFilter, EventPage, EventStore, PushBatch, PushOutcome, QuarantinedEvent, StoredEvent,
};
use domain::tenant::TenantId;
use domain::time::Timestamp;

/// Pull: a range of the primary key (tenant_id, seq).
pub(crate) const PULL_SQL: &str = concat!(
    "SELECT ",
    event_cols!(),
    " FROM events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?"
);

/// Events that reference one entity, in commit order: a range of `event_refs` under the
/// entity's id (binds: tenant, entity guid, seq after which to start), each joined to its
/// event by primary key. `CROSS JOIN` keeps `event_refs` the outer loop whatever the
/// statistics say.
macro_rules! events_of_entity {
    () => {
        concat!(
            " FROM (SELECT seq AS ref_seq FROM event_refs WHERE entity_id = ",
            entity_id_of_guid!(),
            " AND seq > ?) CROSS JOIN events ON events.tenant_id = ? \
             AND events.seq = ref_seq WHERE entity_guid = ?"
        )
    };
}

/// Events that reference an entity and have it as `entityGuid`, unordered (binds: tenant,
/// guid, after, tenant, guid); `list_events` adds its filters and order.
pub(crate) const ENTITY_EVENTS_FROM_SQL: &str =
    concat!("SELECT ", event_cols!(), events_of_entity!());

/// Binds the values of `events_of_entity!()` to `q`, in order.
fn bind_entity_refs<'a>(q: Query<'a>, tenant: &str, guid: &str, after: i64) -> Query<'a> {
    q.bind::<Text, _>(tenant.to_owned())
        .bind::<Text, _>(guid.to_owned())
        .bind::<BigInt, _>(after)
        .bind::<Text, _>(tenant.to_owned())
        .bind::<Text, _>(guid.to_owned())
}

/// An entity's events in application order (binds: tenant, guid, 0, tenant, guid, limit).
pub(crate) const ENTITY_EVENTS_SQL: &str = concat!(
    "SELECT ",
    event_cols!(),
    events_of_entity!(),
    " ORDER BY ts, guid LIMIT ?"
);

/// Index-only range scan of `events_ts` (tenant_id, ts, seq).
pub(crate) const FIRST_SEQ_SQL: &str =
    "SELECT MIN(seq) AS v FROM events WHERE tenant_id = ? AND ts >= ?";

#[derive(QueryableByName)]
struct QuarantineRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    raw: String,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    error: String,
    #[diesel(sql_type = BigInt)]
    received_at: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pushed_by: Option<String>,
}

impl QuarantineRow {
    fn into_domain(self) -> Result<QuarantinedEvent, Fail> {
        Ok(QuarantinedEvent {
            id: self.id,
            raw: serde_json::from_str(&self.raw)?,
            code: RejectCode::parse(&self.code).ok_or_else(|| Fail::corrupt("reject code"))?,
            error: self.error,
            received_at: instant(self.received_at)?,
            pushed_by: self.pushed_by,
        })
    }
}

fn stored(rows: Vec<EventRow>) -> Result<Vec<StoredEvent>, Fail> {
    rows.into_iter().map(EventRow::into_stored).collect()
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, StoreError> {
        // BEGIN IMMEDIATE holds the database's single write lock: that is the tenant lock,
        // so the `head` a push reads is final until commit. An unknown tenant fails in
        // `PushTx::head` with `NotFound`.
        self.push_grouped(tenant.as_str().to_owned(), batch).await
    }

    async fn pull(
        &self,
        tenant: &TenantId,
        after: Seq,
        max: u32,
        max_data_bytes: usize,
    ) -> Result<EventPage, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            // Stepped row by row: the page keeps only what it returns.
            let rows = query(PULL_SQL)
                .bind::<Text, _>(tenant)
                .bind::<BigInt, _>(after.0)
                .bind::<BigInt, _>(limit(max).saturating_add(1))
                .load_iter::<EventRow, DefaultLoadingMode>(conn)?
                .map(|row| {
                    let row = row?;
                    let size = row.data_bytes();
                    Ok((row.into_stored()?, size))
                });
            EventPage::fill(rows, max, max_data_bytes)
        })
        .await
    }

    async fn first_seq_at_or_after(
        &self,
        tenant: &TenantId,
        at: Timestamp,
    ) -> Result<Option<Seq>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let rows = query(FIRST_SEQ_SQL)
                .bind::<Text, _>(tenant)
                .bind::<BigInt, _>(at.millis())
                .load::<OptInt>(conn)?;
            Ok(rows.first().and_then(|r| r.v).map(Seq))
        })
        .await
    }

    async fn head(&self, tenant: &TenantId) -> Result<Seq, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let rows = query(HEAD_SQL).bind::<Text, _>(tenant).load::<Int>(conn)?;
            Ok(Seq(rows.first().map_or(0, |r| r.v)))
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
        self.read(move |conn| {
            // By entity: that entity's refs (few); otherwise the tenant's events from `after`.
            let (mut sql, mut q) = match filter.entity_guid {
                Some(g) => (
                    String::from(ENTITY_EVENTS_FROM_SQL),
                    bind_entity_refs(query(""), &tenant, &g, after.0),
                ),
                None => (
                    String::from(concat!(
                        "SELECT ",
                        event_cols!(),
                        " FROM events WHERE tenant_id = ? AND seq > ?"
                    )),
                    query("").bind::<Text, _>(tenant).bind::<BigInt, _>(after.0),
                ),
            };
            if let Some(t) = filter.event_type {
                sql.push_str(" AND type = ?");
                q = q.bind::<Text, _>(t);
            }
            sql.push_str(" ORDER BY seq LIMIT ?");
            let rows = q
                .sql(sql)
                .bind::<BigInt, _>(limit(max))
                .load::<EventRow>(conn)?;
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
        self.read(move |conn| {
            let rows = bind_entity_refs(query(ENTITY_EVENTS_SQL), &tenant, &entity_guid, 0)
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
        self.read(move |conn| {
            let rows = query(
                "SELECT id, raw, code, error, received_at, pushed_by FROM quarantine \
                 WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
            )
            .bind::<Text, _>(tenant)
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(limit(max))
            .load::<QuarantineRow>(conn)?;
            rows.into_iter().map(QuarantineRow::into_domain).collect()
        })
        .await
    }
}
