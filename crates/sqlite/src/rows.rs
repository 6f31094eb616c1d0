//! Rows of the event and entity tables as SQL reads them, and their conversion to domain
//! values. Column lists are macros so that SQL text stays `concat!`-able constants.

use crate::error::Fail;
use crate::sql::instant;
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text};
use diesel::QueryableByName;
use domain::cursor::Seq;
use domain::entity::{Entity, EntityKind, EntityRecord};
use domain::event::{Event, EventKey, SyncLevel, UserRef};
use domain::ports::StoredEvent;
use serde_json::{Map, Value};

/// Columns of [`EventRow`] (unqualified).
macro_rules! event_cols {
    () => {
        "seq, guid, entity_guid, type AS event_type, data, ts, user_id, user_id_numeric, \
         sync_level, received_at, pushed_by"
    };
}
pub(crate) use event_cols;

/// Columns of [`EntityRow`] (unqualified).
macro_rules! entity_cols {
    () => {
        "guid, kind, name, version, data, member_ids, parent_ids, external_id, last_updated, \
         last_key_ts, last_key_guid, deleted, match_key"
    };
}
pub(crate) use entity_cols;

/// A stored event.
#[derive(QueryableByName)]
pub(crate) struct EventRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    guid: String,
    #[diesel(sql_type = Text)]
    entity_guid: String,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    data: String,
    #[diesel(sql_type = BigInt)]
    ts: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Bool)]
    user_id_numeric: bool,
    #[diesel(sql_type = SmallInt)]
    sync_level: i16,
    #[diesel(sql_type = BigInt)]
    received_at: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pushed_by: Option<String>,
}

impl EventRow {
    /// Size in bytes of the event's `data` as stored JSON text.
    pub(crate) fn data_bytes(&self) -> usize {
        self.data.len()
    }

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
        let data: Map<String, Value> = serde_json::from_str(&self.data)?;
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

/// A stored entity (tombstones included).
#[derive(QueryableByName)]
pub(crate) struct EntityRow {
    #[diesel(sql_type = Text)]
    guid: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Text)]
    data: String,
    #[diesel(sql_type = Text)]
    member_ids: String,
    #[diesel(sql_type = Text)]
    parent_ids: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    last_updated: i64,
    #[diesel(sql_type = BigInt)]
    last_key_ts: i64,
    #[diesel(sql_type = Text)]
    last_key_guid: String,
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    match_key: Option<String>,
}

impl EntityRow {
    /// The full record.
    pub(crate) fn into_record(self) -> Result<EntityRecord, Fail> {
        Ok(EntityRecord {
            deleted: self.deleted,
            parent_ids: serde_json::from_str(&self.parent_ids)?,
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
                data: serde_json::from_str(&self.data)?,
                member_ids: serde_json::from_str(&self.member_ids)?,
                external_id: self.external_id,
                last_updated: instant(self.last_updated)?,
            },
        })
    }

    /// The entity state alone.
    pub(crate) fn into_entity(self) -> Result<Entity, Fail> {
        self.into_record().map(|r| r.entity)
    }
}
