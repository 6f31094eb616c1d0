//! Rows of the event and entity tables and their conversion to and from domain values.

use crate::error::Fail;
use crate::schema::{entities, events};
use crate::sql::instant;
use diesel::{Insertable, Queryable, QueryableByName, Selectable};
use domain::cursor::Seq;
use domain::entity::{Entity, EntityKind, EntityRecord};
use domain::event::{Event, EventKey, SyncLevel, UserRef};
use domain::ports::{NewEvent, StoredEvent};
use serde_json::Value;

/// A stored event as read (typed DSL, or raw SQL selecting `event_cols_e!()`).
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct EventRow {
    seq: i64,
    guid: String,
    entity_guid: String,
    event_type: String,
    data: Value,
    ts: i64,
    user_id: String,
    user_id_numeric: bool,
    sync_level: i16,
    received_at: i64,
    pushed_by: Option<String>,
}

/// The columns of [`EventRow`] from `events` aliased `e`, for raw SQL.
macro_rules! event_cols_e {
    () => {
        "e.seq, e.guid, e.entity_guid, e.type AS event_type, e.data, e.ts, e.user_id, \
         e.user_id_numeric, e.sync_level, e.received_at, e.pushed_by"
    };
}
pub(crate) use event_cols_e;

/// The columns of [`EntityRow`] from `entities` aliased `n`, for raw SQL.
macro_rules! entity_cols_n {
    () => {
        "n.guid, n.kind, n.name, n.version, n.data, n.member_ids, n.parent_ids, \
         n.external_id, n.last_updated, n.last_key_ts, n.last_key_guid, n.deleted, n.match_key"
    };
}
pub(crate) use entity_cols_n;

impl EventRow {
    /// The stored event with its server-side facts.
    pub(crate) fn into_stored(self) -> Result<StoredEvent, Fail> {
        let received_at = instant(self.received_at)?;
        let seq = Seq(self.seq);
        let pushed_by = self.pushed_by.clone();
        Ok(StoredEvent {
            seq,
            event: self.into_event()?,
            received_at,
            pushed_by,
        })
    }

    /// The event alone.
    pub(crate) fn into_event(self) -> Result<Event, Fail> {
        let Value::Object(data) = self.data else {
            return Err(Fail::corrupt("event data"));
        };
        Ok(Event {
            guid: self.guid,
            entity_guid: self.entity_guid,
            event_type: self.event_type,
            data,
            timestamp: instant(self.ts)?,
            user_id: UserRef::from_stored(&self.user_id, self.user_id_numeric),
            sync_level: SyncLevel(
                u8::try_from(self.sync_level).map_err(|_| Fail::corrupt("sync level"))?,
            ),
        })
    }
}

/// All stored events as domain values.
pub(crate) fn stored(rows: Vec<EventRow>) -> Result<Vec<StoredEvent>, Fail> {
    rows.into_iter().map(EventRow::into_stored).collect()
}

/// An event row to insert.
#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub(crate) struct NewEventRow<'a> {
    tenant_id: &'a str,
    seq: i64,
    guid: &'a str,
    entity_guid: &'a str,
    event_type: &'a str,
    data: Value,
    ts: i64,
    user_id: String,
    user_id_numeric: bool,
    sync_level: i16,
    content_hash: &'a str,
    received_at: i64,
    pushed_by: Option<&'a str>,
    data_bytes: Option<i32>,
}

impl<'a> NewEventRow<'a> {
    /// The row of a new event of `tenant`.
    pub(crate) fn new(tenant: &'a str, n: &'a NewEvent<'a>) -> Self {
        let e = n.event;
        NewEventRow {
            tenant_id: tenant,
            seq: n.seq.0,
            guid: &e.guid,
            entity_guid: &e.entity_guid,
            event_type: &e.event_type,
            data: Value::Object(e.data.clone()),
            ts: e.timestamp.millis(),
            user_id: e.user_id.canonical(),
            user_id_numeric: e.user_id.is_numeric(),
            sync_level: i16::from(e.sync_level.0),
            content_hash: &n.hash.0,
            received_at: n.received_at.millis(),
            pushed_by: n.pushed_by,
            data_bytes: i32::try_from(json_text_len(&e.data)).ok(),
        }
    }
}

/// Length in bytes of `value` as compact JSON text (counted, not built).
fn json_text_len(value: &serde_json::Map<String, Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, nor can serializing a JSON object.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A stored entity (tombstones included) as read (typed DSL or raw SQL by column name).
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = entities, check_for_backend(diesel::pg::Pg))]
pub(crate) struct EntityRow {
    guid: String,
    kind: String,
    name: String,
    version: i64,
    data: Value,
    member_ids: Value,
    parent_ids: Value,
    external_id: Option<String>,
    last_updated: i64,
    last_key_ts: i64,
    last_key_guid: String,
    deleted: bool,
    match_key: Option<String>,
}

impl EntityRow {
    /// The full record.
    pub(crate) fn into_record(self) -> Result<EntityRecord, Fail> {
        let Value::Object(data) = self.data else {
            return Err(Fail::corrupt("entity data"));
        };
        Ok(EntityRecord {
            deleted: self.deleted,
            parent_ids: serde_json::from_value(self.parent_ids)?,
            last_key: EventKey {
                timestamp: instant(self.last_key_ts)?,
                guid: self.last_key_guid,
            },
            match_key: self.match_key,
            entity: Entity {
                kind: EntityKind::parse(&self.kind).ok_or_else(|| Fail::corrupt("entity kind"))?,
                guid: self.guid,
                name: self.name,
                version: self.version,
                data,
                member_ids: serde_json::from_value(self.member_ids)?,
                external_id: self.external_id,
                last_updated: instant(self.last_updated)?,
            },
        })
    }
}

/// Live entity states of rows.
pub(crate) fn entities_of(rows: Vec<EntityRow>) -> Result<Vec<Entity>, Fail> {
    rows.into_iter()
        .map(|r| r.into_record().map(|r| r.entity))
        .collect()
}
