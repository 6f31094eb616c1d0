//! The in-transaction primitives the domain's push algorithm runs on ([`PushTx`],
//! [`EntityTx`]), over the writer connection inside its `BEGIN IMMEDIATE` transaction.
//! Batch reads bind their guids as one JSON array (`json_each`), so they too stay prepared.
//! Writes are one row per
//! statement, each statement kept prepared ([`Stmt`]): a multi-row `INSERT` was parsed again
//! for every push (1,300 placeholders for 100 events) and, as a statement that writes
//! several rows and may fail half-way, copied every page it touched into a statement
//! journal (together 17 % of the writer's time in a push profile).

use crate::error::{store_error, Fail};
use crate::rows::{entity_cols, event_cols, EntityRow, EventRow};
use crate::sql::{now_millis, statement, FixedSql, Int, Val};
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use domain::cursor::Seq;
use domain::entity::EntityRecord;
use domain::error::StoreError;
use domain::event::{ContentHash, Event, Rejection};
use domain::ports::{EntityTx, NewEvent, PushTx};
use domain::time::Timestamp;
use serde_json::Value;
use std::collections::HashMap;

/// A tenant's head (`Int`), bound to its id.
pub(crate) const HEAD_SQL: &str = "SELECT head AS v FROM configs WHERE id = ?";

const INSERT_EVENT: &str = "INSERT INTO events (tenant_id, seq, guid, entity_guid, type, \
     data, ts, user_id, user_id_numeric, sync_level, content_hash, received_at, pushed_by) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const INSERT_REF: &str = "INSERT OR IGNORE INTO event_refs (entity_id, seq) VALUES (?, ?)";

/// The id of an entity guid of a tenant (`Int`; binds: tenant, guid).
pub(crate) const KEY_ID_SQL: &str =
    "SELECT id AS v FROM entity_keys WHERE tenant_id = ? AND guid = ?";

/// Gives an entity guid of a tenant its id (`Int`; binds: tenant, guid).
const NEW_KEY: &str = "INSERT INTO entity_keys (tenant_id, guid) VALUES (?, ?) RETURNING id AS v";

const UPSERT_ENTITY: &str = "INSERT INTO entities (id, tenant_id, guid, kind, name, version, \
     data, member_ids, parent_ids, external_id, entity_name, last_updated, last_key_ts, \
     last_key_guid, deleted, match_key) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
     name = excluded.name, version = excluded.version, data = excluded.data, \
     member_ids = excluded.member_ids, parent_ids = excluded.parent_ids, \
     external_id = excluded.external_id, entity_name = excluded.entity_name, \
     last_updated = excluded.last_updated, last_key_ts = excluded.last_key_ts, \
     last_key_guid = excluded.last_key_guid, deleted = excluded.deleted, \
     match_key = excluded.match_key";

/// The ids of the entity guids of tenant `?` among the JSON array `?` (one unique-key lookup
/// in `entity_keys` each). Batch reads bind their guids as one JSON array read by
/// `json_each`, so their text is fixed and stays prepared (an `IN (?, ?, …)` list has one
/// text per length).
macro_rules! entity_ids_of_guids {
    () => {
        "(SELECT id FROM entity_keys WHERE tenant_id = ? AND guid IN \
         (SELECT value FROM json_each(?)))"
    };
}
pub(crate) use entity_ids_of_guids;

/// The id of the entity guid `?` of tenant `?` (binds: tenant, guid), as a scalar subquery.
macro_rules! entity_id_of_guid {
    () => {
        "(SELECT id FROM entity_keys WHERE tenant_id = ? AND guid = ?)"
    };
}
pub(crate) use entity_id_of_guid;

/// Records of tenant `?` among the guids of the JSON array `?` (a key lookup and a rowid
/// lookup each).
pub(crate) const LOAD_ENTITIES_SQL: &str = concat!(
    "SELECT ",
    entity_cols!(),
    " FROM entities WHERE id IN ",
    entity_ids_of_guids!()
);

/// Events of tenant `?` whose refs (tenant `?`) include any guid of the JSON array `?`, with
/// seq at most `?`, once each, in seq order.
pub(crate) const EVENTS_REFERENCING_SQL: &str = concat!(
    "SELECT ",
    event_cols!(),
    " FROM events WHERE tenant_id = ? AND seq IN (SELECT seq FROM event_refs \
     WHERE entity_id IN ",
    entity_ids_of_guids!(),
    " AND seq <= ?) ORDER BY seq"
);

/// Guid and content hash of the events of tenant `?` among the guids of the JSON array `?`.
pub(crate) const EXISTING_HASHES_SQL: &str = "SELECT guid, content_hash FROM events \
     WHERE tenant_id = ? AND guid IN (SELECT value FROM json_each(?))";

/// Live entities with a match key. The literal `deleted = 0` lets SQLite use the partial
/// index `entities_match`.
// `INDEXED BY`: without statistics the planner preferred `entities_recent` (all live
// entities of the tenant) — a scan per probe that made pushes O(tenant size).
pub(crate) const MATCH_KEY_SQL: &str = "SELECT guid FROM entities INDEXED BY entities_match \
     WHERE tenant_id = ? AND match_key = ? AND match_key IS NOT NULL AND deleted = 0 \
     AND guid <> ? LIMIT ?";

// One type per statement the push runs, so each stays prepared (`sql::FixedSql`).
statement!(Head = HEAD_SQL);
statement!(InsertEvent = INSERT_EVENT);
statement!(InsertRef = INSERT_REF);
statement!(KeyId = KEY_ID_SQL);
statement!(NewKey = NEW_KEY);
statement!(UpsertEntity = UPSERT_ENTITY);
statement!(LoadEntities = LOAD_ENTITIES_SQL);
statement!(EventsReferencing = EVENTS_REFERENCING_SQL);
statement!(ExistingHashes = EXISTING_HASHES_SQL);
statement!(MatchKey = MATCH_KEY_SQL);
statement!(SetHead = "UPDATE configs SET head = ? WHERE id = ?");
statement!(
    KeptPair = "SELECT match_key FROM duplicate_keep_both WHERE tenant_id = ? \
        AND entity_guid = ? AND duplicate_guid = ?"
);
statement!(
    ForgetKeptPair = "DELETE FROM duplicate_keep_both WHERE tenant_id = ? AND entity_guid = ? \
        AND duplicate_guid = ?"
);
statement!(
    FlagPair = "INSERT OR IGNORE INTO potential_duplicates (tenant_id, entity_guid, \
        duplicate_guid, created_at) VALUES (?, ?, ?, ?)"
);
statement!(
    UnflagPair = "DELETE FROM potential_duplicates WHERE tenant_id = ? AND entity_guid = ? \
        AND duplicate_guid = ?"
);
statement!(DeleteEntity = concat!("DELETE FROM entities WHERE id = ", entity_id_of_guid!()));
statement!(
    /// On the primary key.
    UnflagAsEntity = "DELETE FROM potential_duplicates WHERE tenant_id = ? AND entity_guid = ?"
);
statement!(
    /// On `potential_duplicates_dup`.
    UnflagAsDuplicate =
        "DELETE FROM potential_duplicates WHERE tenant_id = ? AND duplicate_guid = ?"
);
statement!(
    Quarantine = "INSERT INTO quarantine (tenant_id, raw, code, error, received_at, pushed_by) \
        VALUES (?, ?, ?, ?, ?, ?)"
);

/// Push-transaction access to one tenant's rows.
pub(crate) struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    tenant: &'c str,
    /// Entity ids (`entity_keys`) this push has looked up or handed out; valid for the
    /// transaction it runs in, which lives longer than this value.
    keys: HashMap<String, i64>,
}

impl<'c> SqliteTx<'c> {
    /// Wraps a connection that is inside the push transaction of `tenant`.
    pub(crate) fn new(conn: &'c mut SqliteConnection, tenant: &'c str) -> Self {
        SqliteTx {
            conn,
            tenant,
            keys: HashMap::new(),
        }
    }

    /// The id of the tenant's entity `guid`, handed out the first time the guid is seen.
    fn key_id(&mut self, guid: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.keys.get(guid) {
            return Ok(*id);
        }
        let tenant = self.tenant;
        let vals = || vec![Val::Text(tenant), Val::Text(guid)];
        let mut found = db(KeyId::with(vals()).load::<Int>(self.conn))?;
        if found.is_empty() {
            found = db(NewKey::with(vals()).load::<Int>(self.conn))?;
        }
        let id = found
            .first()
            .map(|r| r.v)
            .ok_or_else(|| StoreError::internal("an entity key was stored without an id"))?;
        self.keys.insert(guid.to_owned(), id);
        Ok(id)
    }
}

fn db<T>(r: diesel::QueryResult<T>) -> Result<T, StoreError> {
    r.map_err(store_error)
}

/// `v` as JSON text (batch reads bind their guids as one JSON array).
pub(crate) fn json(v: &(impl serde::Serialize + ?Sized)) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::internal)
}

#[derive(QueryableByName)]
struct GuidHash {
    #[diesel(sql_type = Text)]
    guid: String,
    #[diesel(sql_type = Text)]
    content_hash: String,
}

#[derive(QueryableByName)]
struct KeepBoth {
    #[diesel(sql_type = Text)]
    match_key: String,
}

#[derive(QueryableByName)]
struct Guid {
    #[diesel(sql_type = Text)]
    guid: String,
}

impl EntityTx for SqliteTx<'_> {
    fn load_entities(&mut self, guids: &[String]) -> Result<Vec<EntityRecord>, StoreError> {
        let list = json(guids)?;
        let vals = vec![Val::Text(self.tenant), Val::Text(&list)];
        db(LoadEntities::with(vals).load::<EntityRow>(self.conn))?
            .into_iter()
            .map(|row| row.into_record().map_err(Fail::into_store))
            .collect()
    }

    fn events_referencing(
        &mut self,
        guids: &[String],
        up_to: Option<Seq>,
    ) -> Result<Vec<Event>, StoreError> {
        let list = json(guids)?;
        let vals = vec![
            Val::Text(self.tenant),
            Val::Text(self.tenant),
            Val::Text(&list),
            Val::Int(up_to.map_or(i64::MAX, |s| s.0)),
        ];
        db(EventsReferencing::with(vals).load::<EventRow>(self.conn))?
            .into_iter()
            .map(|r| r.into_event().map_err(Fail::into_store))
            .collect()
    }

    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError> {
        for r in records {
            let e = &r.entity;
            let (data, members, parents) =
                (json(&e.data)?, json(&e.member_ids)?, json(&r.parent_ids)?);
            let id = self.key_id(&e.guid)?;
            let vals = vec![
                Val::Int(id),
                Val::Text(self.tenant),
                Val::Text(&e.guid),
                Val::Text(e.kind.as_str()),
                Val::Text(&e.name),
                Val::Int(e.version),
                Val::Text(&data),
                Val::Text(&members),
                Val::Text(&parents),
                Val::OptText(e.external_id.as_deref()),
                Val::OptText(e.entity_name()),
                Val::Int(e.last_updated.millis()),
                Val::Int(r.last_key.timestamp.millis()),
                Val::Text(&r.last_key.guid),
                Val::Bool(r.deleted),
                Val::OptText(r.match_key.as_deref()),
            ];
            db(UpsertEntity::with(vals).execute(self.conn))?;
        }
        Ok(())
    }

    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let vals = vec![
            Val::Text(self.tenant),
            Val::Text(key),
            Val::Text(except),
            Val::Int(i64::from(limit)),
        ];
        let rows = db(MatchKey::with(vals).load::<Guid>(self.conn))?;
        Ok(rows.into_iter().map(|r| r.guid).collect())
    }

    fn flag_duplicate(
        &mut self,
        entity: &str,
        duplicate: &str,
        match_key: &str,
    ) -> Result<(), StoreError> {
        let pair = || {
            vec![
                Val::Text(self.tenant),
                Val::Text(entity),
                Val::Text(duplicate),
            ]
        };
        let kept = db(KeptPair::with(pair()).load::<KeepBoth>(self.conn))?;
        match kept.first() {
            Some(k) if k.match_key == match_key => return Ok(()),
            Some(_) => {
                // The key changed since "keep both": that decision no longer applies.
                db(ForgetKeptPair::with(pair()).execute(self.conn))?;
            }
            None => {}
        }
        let mut vals = pair();
        vals.push(Val::Int(now_millis()));
        db(FlagPair::with(vals).execute(self.conn))?;
        Ok(())
    }

    fn remove_duplicate(&mut self, entity: &str, duplicate: &str) -> Result<(), StoreError> {
        db(UnflagPair::with(vec![
            Val::Text(self.tenant),
            Val::Text(entity),
            Val::Text(duplicate),
        ])
        .execute(self.conn))?;
        Ok(())
    }

    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError> {
        for guid in guids {
            db(
                DeleteEntity::with(vec![Val::Text(self.tenant), Val::Text(guid)])
                    .execute(self.conn),
            )?;
        }
        Ok(())
    }

    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError> {
        // Two statements, each on its own index.
        let vals = || vec![Val::Text(self.tenant), Val::Text(guid)];
        db(UnflagAsEntity::with(vals()).execute(self.conn))?;
        db(UnflagAsDuplicate::with(vals()).execute(self.conn))?;
        Ok(())
    }
}

impl PushTx for SqliteTx<'_> {
    fn head(&mut self) -> Result<Seq, StoreError> {
        let rows = db(Head::with(vec![Val::Text(self.tenant)]).load::<Int>(self.conn))?;
        rows.first().map(|r| Seq(r.v)).ok_or(StoreError::NotFound)
    }

    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError> {
        let list = json(guids)?;
        let vals = vec![Val::Text(self.tenant), Val::Text(&list)];
        Ok(db(ExistingHashes::with(vals).load::<GuidHash>(self.conn))?
            .into_iter()
            .map(|row| (row.guid, ContentHash(row.content_hash)))
            .collect())
    }

    fn insert_events(&mut self, events: &[NewEvent<'_>]) -> Result<(), StoreError> {
        for n in events {
            let e = n.event;
            let (data, user) = (json(&e.data)?, e.user_id.canonical());
            let vals = vec![
                Val::Text(self.tenant),
                Val::Int(n.seq.0),
                Val::Text(&e.guid),
                Val::Text(&e.entity_guid),
                Val::Text(&e.event_type),
                Val::Text(&data),
                Val::Int(e.timestamp.millis()),
                Val::Text(&user),
                Val::Bool(e.user_id.is_numeric()),
                Val::SmallInt(i16::from(e.sync_level.0)),
                Val::Text(&n.hash.0),
                Val::Int(n.received_at.millis()),
                Val::OptText(n.pushed_by),
            ];
            db(InsertEvent::with(vals).execute(self.conn))?;
            for guid in &n.refs {
                let vals = vec![Val::Int(self.key_id(guid)?), Val::Int(n.seq.0)];
                db(InsertRef::with(vals).execute(self.conn))?;
            }
        }
        if let Some(last) = events.iter().map(|n| n.seq.0).max() {
            db(SetHead::with(vec![Val::Int(last), Val::Text(self.tenant)]).execute(self.conn))?;
        }
        Ok(())
    }

    fn quarantine(
        &mut self,
        rejected: &[(Value, Rejection)],
        received_at: Timestamp,
        pushed_by: Option<&str>,
    ) -> Result<(), StoreError> {
        for (raw, why) in rejected {
            let raw = json(raw)?;
            let vals = vec![
                Val::Text(self.tenant),
                Val::Text(&raw),
                Val::Text(why.code.as_str()),
                Val::Text(&why.error),
                Val::Int(received_at.millis()),
                Val::OptText(pushed_by),
            ];
            db(Quarantine::with(vals).execute(self.conn))?;
        }
        Ok(())
    }
}
