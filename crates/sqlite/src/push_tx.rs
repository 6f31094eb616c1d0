//! The in-transaction primitives the domain's push algorithm runs on ([`PushTx`],
//! [`EntityTx`]), over the writer connection inside its `BEGIN IMMEDIATE` transaction.
//! Batch reads bind `IN (...)` lists of at most [`CHUNK`] values; batch writes are
//! multi-row statements.

use crate::error::{store_error, Fail};
use crate::rows::{entity_cols, event_cols, EntityRow, EventRow};
use crate::sql::{now_millis, placeholders, query, value_rows, Int, CHUNK};
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text};
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use domain::cursor::Seq;
use domain::entity::EntityRecord;
use domain::error::StoreError;
use domain::event::{ContentHash, Event, Rejection};
use domain::ports::{EntityTx, NewEvent, PushTx};
use domain::time::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Events per multi-row insert (13 bound values each).
const EVENT_ROWS: usize = 100;
/// Entities per multi-row upsert (15 bound values each).
const ENTITY_ROWS: usize = 100;
/// Refs per multi-row insert (3 bound values each).
const REF_ROWS: usize = 300;

/// Live entities with a match key. The literal `deleted = 0` lets SQLite use the partial
/// index `entities_match`.
// `INDEXED BY`: without statistics the planner preferred `entities_recent` (all live
// entities of the tenant) — a scan per probe that made pushes O(tenant size).
pub(crate) const MATCH_KEY_SQL: &str = "SELECT guid FROM entities INDEXED BY entities_match \
     WHERE tenant_id = ? AND match_key = ? AND match_key IS NOT NULL AND deleted = 0 \
     AND guid <> ? LIMIT ?";

/// Push-transaction access to one tenant's rows.
pub(crate) struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    tenant: &'c str,
}

impl<'c> SqliteTx<'c> {
    /// Wraps a connection that is inside the push transaction of `tenant`.
    pub(crate) fn new(conn: &'c mut SqliteConnection, tenant: &'c str) -> Self {
        SqliteTx { conn, tenant }
    }
}

fn db<T>(r: diesel::QueryResult<T>) -> Result<T, StoreError> {
    r.map_err(store_error)
}

fn json(v: &impl serde::Serialize) -> Result<String, StoreError> {
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
        let mut out = Vec::with_capacity(guids.len());
        for chunk in guids.chunks(CHUNK) {
            let sql = format!(
                concat!(
                    "SELECT ",
                    entity_cols!(),
                    " FROM entities WHERE tenant_id = ? AND guid IN ({})"
                ),
                placeholders(chunk.len())
            );
            let mut q = query(sql).bind::<Text, _>(self.tenant.to_owned());
            for g in chunk {
                q = q.bind::<Text, _>(g.clone());
            }
            for row in db(q.load::<EntityRow>(self.conn))? {
                out.push(row.into_record().map_err(Fail::into_store)?);
            }
        }
        Ok(out)
    }

    fn events_referencing(&mut self, guids: &[String]) -> Result<Vec<Event>, StoreError> {
        let mut by_seq = BTreeMap::new();
        for chunk in guids.chunks(CHUNK) {
            let sql = format!(
                concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE tenant_id = ? AND seq IN (SELECT seq FROM event_refs \
                     WHERE tenant_id = ? AND entity_guid IN ({}))"
                ),
                placeholders(chunk.len())
            );
            let mut q = query(sql)
                .bind::<Text, _>(self.tenant.to_owned())
                .bind::<Text, _>(self.tenant.to_owned());
            for g in chunk {
                q = q.bind::<Text, _>(g.clone());
            }
            for row in db(q.load::<EventRow>(self.conn))? {
                by_seq.insert(row.seq(), row);
            }
        }
        by_seq
            .into_values()
            .map(|r| r.into_event().map_err(Fail::into_store))
            .collect()
    }

    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError> {
        for chunk in records.chunks(ENTITY_ROWS) {
            let sql = format!(
                "INSERT INTO entities (tenant_id, guid, kind, name, version, data, member_ids, \
                 parent_ids, external_id, entity_name, last_updated, last_key_ts, \
                 last_key_guid, deleted, match_key) VALUES {} \
                 ON CONFLICT (tenant_id, guid) DO UPDATE SET kind = excluded.kind, \
                 name = excluded.name, version = excluded.version, data = excluded.data, \
                 member_ids = excluded.member_ids, parent_ids = excluded.parent_ids, \
                 external_id = excluded.external_id, entity_name = excluded.entity_name, \
                 last_updated = excluded.last_updated, last_key_ts = excluded.last_key_ts, \
                 last_key_guid = excluded.last_key_guid, deleted = excluded.deleted, \
                 match_key = excluded.match_key",
                value_rows(chunk.len(), 15)
            );
            let mut q = query(sql);
            for r in chunk {
                let e = &r.entity;
                q = q
                    .bind::<Text, _>(self.tenant.to_owned())
                    .bind::<Text, _>(e.guid.clone())
                    .bind::<Text, _>(e.kind.as_str())
                    .bind::<Text, _>(e.name.clone())
                    .bind::<BigInt, _>(e.version)
                    .bind::<Text, _>(json(&e.data)?)
                    .bind::<Text, _>(json(&e.member_ids)?)
                    .bind::<Text, _>(json(&r.parent_ids)?)
                    .bind::<Nullable<Text>, _>(e.external_id.clone())
                    .bind::<Nullable<Text>, _>(e.entity_name().map(str::to_owned))
                    .bind::<BigInt, _>(e.last_updated.millis())
                    .bind::<BigInt, _>(r.last_key.timestamp.millis())
                    .bind::<Text, _>(r.last_key.guid.clone())
                    .bind::<Bool, _>(r.deleted)
                    .bind::<Nullable<Text>, _>(r.match_key.clone());
            }
            db(q.execute(self.conn))?;
        }
        Ok(())
    }

    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows = db(query(MATCH_KEY_SQL)
            .bind::<Text, _>(self.tenant.to_owned())
            .bind::<Text, _>(key.to_owned())
            .bind::<Text, _>(except.to_owned())
            .bind::<BigInt, _>(i64::from(limit))
            .load::<Guid>(self.conn))?;
        Ok(rows.into_iter().map(|r| r.guid).collect())
    }

    fn flag_duplicate(
        &mut self,
        entity: &str,
        duplicate: &str,
        match_key: &str,
    ) -> Result<(), StoreError> {
        let kept = db(query(
            "SELECT match_key FROM duplicate_keep_both WHERE tenant_id = ? AND entity_guid = ? \
             AND duplicate_guid = ?",
        )
        .bind::<Text, _>(self.tenant.to_owned())
        .bind::<Text, _>(entity.to_owned())
        .bind::<Text, _>(duplicate.to_owned())
        .load::<KeepBoth>(self.conn))?;
        match kept.first() {
            Some(k) if k.match_key == match_key => return Ok(()),
            Some(_) => {
                // The key changed since "keep both": that decision no longer applies.
                db(query(
                    "DELETE FROM duplicate_keep_both WHERE tenant_id = ? AND entity_guid = ? \
                     AND duplicate_guid = ?",
                )
                .bind::<Text, _>(self.tenant.to_owned())
                .bind::<Text, _>(entity.to_owned())
                .bind::<Text, _>(duplicate.to_owned())
                .execute(self.conn))?;
            }
            None => {}
        }
        db(query(
            "INSERT OR IGNORE INTO potential_duplicates (tenant_id, entity_guid, \
             duplicate_guid, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind::<Text, _>(self.tenant.to_owned())
        .bind::<Text, _>(entity.to_owned())
        .bind::<Text, _>(duplicate.to_owned())
        .bind::<BigInt, _>(now_millis())
        .execute(self.conn))?;
        Ok(())
    }

    fn remove_duplicate(&mut self, entity: &str, duplicate: &str) -> Result<(), StoreError> {
        db(query(
            "DELETE FROM potential_duplicates WHERE tenant_id = ? AND entity_guid = ? \
             AND duplicate_guid = ?",
        )
        .bind::<Text, _>(self.tenant.to_owned())
        .bind::<Text, _>(entity.to_owned())
        .bind::<Text, _>(duplicate.to_owned())
        .execute(self.conn))?;
        Ok(())
    }

    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError> {
        for guid in guids {
            db(
                query("DELETE FROM entities WHERE tenant_id = ? AND guid = ?")
                    .bind::<Text, _>(self.tenant.to_owned())
                    .bind::<Text, _>(guid.to_owned())
                    .execute(self.conn),
            )?;
        }
        Ok(())
    }

    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError> {
        // Two statements, each on its own index (primary key / potential_duplicates_dup).
        for sql in [
            "DELETE FROM potential_duplicates WHERE tenant_id = ? AND entity_guid = ?",
            "DELETE FROM potential_duplicates WHERE tenant_id = ? AND duplicate_guid = ?",
        ] {
            db(query(sql)
                .bind::<Text, _>(self.tenant.to_owned())
                .bind::<Text, _>(guid.to_owned())
                .execute(self.conn))?;
        }
        Ok(())
    }
}

impl PushTx for SqliteTx<'_> {
    fn head(&mut self) -> Result<Seq, StoreError> {
        let rows = db(query("SELECT head AS v FROM configs WHERE id = ?")
            .bind::<Text, _>(self.tenant.to_owned())
            .load::<Int>(self.conn))?;
        rows.first().map(|r| Seq(r.v)).ok_or(StoreError::NotFound)
    }

    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError> {
        let mut out = HashMap::new();
        for chunk in guids.chunks(CHUNK) {
            let sql = format!(
                "SELECT guid, content_hash FROM events WHERE tenant_id = ? AND guid IN ({})",
                placeholders(chunk.len())
            );
            let mut q = query(sql).bind::<Text, _>(self.tenant.to_owned());
            for g in chunk {
                q = q.bind::<Text, _>(g.clone());
            }
            for row in db(q.load::<GuidHash>(self.conn))? {
                out.insert(row.guid, ContentHash(row.content_hash));
            }
        }
        Ok(out)
    }

    fn insert_events(
        &mut self,
        events: &[NewEvent<'_>],
        received_at: Timestamp,
        pushed_by: Option<&str>,
    ) -> Result<(), StoreError> {
        for chunk in events.chunks(EVENT_ROWS) {
            let sql = format!(
                "INSERT INTO events (tenant_id, seq, guid, entity_guid, type, data, ts, user_id, \
                 user_id_numeric, sync_level, content_hash, received_at, pushed_by) VALUES {}",
                value_rows(chunk.len(), 13)
            );
            let mut q = query(sql);
            for n in chunk {
                let e = n.event;
                q = q
                    .bind::<Text, _>(self.tenant.to_owned())
                    .bind::<BigInt, _>(n.seq.0)
                    .bind::<Text, _>(e.guid.clone())
                    .bind::<Text, _>(e.entity_guid.clone())
                    .bind::<Text, _>(e.event_type.clone())
                    .bind::<Text, _>(json(&e.data)?)
                    .bind::<BigInt, _>(e.timestamp.millis())
                    .bind::<Text, _>(e.user_id.canonical())
                    .bind::<Bool, _>(e.user_id.is_numeric())
                    .bind::<SmallInt, _>(i16::from(e.sync_level.0))
                    .bind::<Text, _>(n.hash.0.clone())
                    .bind::<BigInt, _>(received_at.millis())
                    .bind::<Nullable<Text>, _>(pushed_by.map(str::to_owned));
            }
            db(q.execute(self.conn))?;
        }
        let refs: Vec<(&str, i64)> = events
            .iter()
            .flat_map(|n| n.refs.iter().map(move |r| (r.as_str(), n.seq.0)))
            .collect();
        for chunk in refs.chunks(REF_ROWS) {
            let sql = format!(
                "INSERT OR IGNORE INTO event_refs (tenant_id, entity_guid, seq) VALUES {}",
                value_rows(chunk.len(), 3)
            );
            let mut q = query(sql);
            for (guid, seq) in chunk {
                q = q
                    .bind::<Text, _>(self.tenant.to_owned())
                    .bind::<Text, _>((*guid).to_owned())
                    .bind::<BigInt, _>(*seq);
            }
            db(q.execute(self.conn))?;
        }
        if let Some(last) = events.iter().map(|n| n.seq.0).max() {
            db(query("UPDATE configs SET head = ? WHERE id = ?")
                .bind::<BigInt, _>(last)
                .bind::<Text, _>(self.tenant.to_owned())
                .execute(self.conn))?;
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
            db(query(
                "INSERT INTO quarantine (tenant_id, raw, code, error, received_at, pushed_by) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind::<Text, _>(self.tenant.to_owned())
            .bind::<Text, _>(json(raw)?)
            .bind::<Text, _>(why.code.as_str())
            .bind::<Text, _>(why.error.clone())
            .bind::<BigInt, _>(received_at.millis())
            .bind::<Nullable<Text>, _>(pushed_by.map(str::to_owned))
            .execute(self.conn))?;
        }
        Ok(())
    }
}
