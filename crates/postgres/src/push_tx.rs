//! The in-transaction primitives the domain's push algorithm runs on ([`PushTx`],
//! [`EntityTx`]), over a connection inside the push transaction of one tenant whose
//! `configs` row it has locked. Batch reads bind one array and look each value up in a
//! `LATERAL` subquery by its unique key: with `= ANY($n)` the planner, on statistics older
//! than a bulk push, scanned the tenant's whole range of another index for every push
//! (13 ms instead of 1 ms at 20,000 events, growing with the tenant). They are kept prepared
//! ([`Prepared`]) and planned for each execution's values (`force_custom_plan`); their
//! generic plans are tested too, should that setting ever go. New events and their refs are
//! written with binary `COPY` (nothing of them can exist yet: the push holds the tenant lock
//! and skipped every guid it found); entities with multi-row upserts.

use crate::error::store_error;
use crate::prepared::{prepared, Prepared, Val};
use crate::rows::{entity_cols_n, event_cols_e, EntityRow, EventRow, NewEventRow};
use crate::schema::{
    configs, duplicate_keep_both, entities, event_refs, events, potential_duplicates, quarantine,
};
use crate::sql::{now_millis, INSERT_ROWS};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::PgConnection;
use domain::cursor::Seq;
use domain::entity::EntityRecord;
use domain::error::StoreError;
use domain::event::{ContentHash, Event, Rejection};
use domain::ports::{EntityTx, NewEvent, PushTx};
use domain::time::Timestamp;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Records of the guids `$2` of tenant `$1` (one primary-key lookup each).
pub(crate) const LOAD_ENTITIES_SQL: &str = concat!(
    "SELECT ",
    entity_cols_n!(),
    " FROM unnest($2::text[]) AS g(guid) CROSS JOIN LATERAL (SELECT * FROM entities \
     WHERE tenant_id = $1 AND guid = g.guid LIMIT 1) n"
);

/// Events of tenant `$1` whose refs include any of the guids `$2`, with seq at most `$3`,
/// once each, in seq order (a ref-key range per guid, then a primary-key lookup per ref).
pub(crate) const EVENTS_REFERENCING_SQL: &str = concat!(
    "SELECT DISTINCT ON (e.seq) ",
    event_cols_e!(),
    " FROM unnest($2::text[]) AS g(guid) CROSS JOIN LATERAL (SELECT seq FROM event_refs \
     WHERE tenant_id = $1 AND entity_guid = g.guid AND seq <= $3 OFFSET 0) r CROSS JOIN LATERAL \
     (SELECT * FROM events WHERE tenant_id = $1 AND seq = r.seq LIMIT 1) e ORDER BY e.seq"
);

/// Guid and content hash of the events of tenant `$1` among the guids `$2` (one unique-key
/// lookup each).
pub(crate) const EXISTING_HASHES_SQL: &str = "SELECT e.guid, e.content_hash \
     FROM unnest($2::text[]) AS g(guid) CROSS JOIN LATERAL (SELECT guid, content_hash \
     FROM events WHERE tenant_id = $1 AND guid = g.guid LIMIT 1) e";

/// Candidates of each `(match key $1[i], except guid $2[i])` probe among the live entities
/// of tenant `$3`, at most `$4` per probe, tagged with the probe's 1-based position. The
/// lateral subquery is the single probe's query, with the partial index's predicate
/// repeated literally.
pub(crate) const MATCH_KEY_PROBES_SQL: &str = "SELECT p.ord AS ord, c.guid AS guid \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(key, except_guid, ord) \
     CROSS JOIN LATERAL (SELECT e.guid FROM entities e WHERE e.tenant_id = $3 \
     AND e.match_key = p.key AND e.match_key IS NOT NULL AND NOT e.deleted \
     AND e.guid <> p.except_guid LIMIT $4) c";

/// Inserts the records given column by column (`$2` guids … `$15` match keys, JSON as
/// text) in tenant `$1`. One statement of fixed text for any number of records: a multi-row
/// `INSERT … VALUES` had one text per row count, so PostgreSQL parsed and planned its 15
/// parameters per row again on every push (parse + bind were half of the statement's time in
/// a push's statement log, under the tenant lock).
macro_rules! insert_entities_sql {
    () => {
        "INSERT INTO entities (tenant_id, guid, kind, \
         name, version, data, member_ids, parent_ids, external_id, entity_name, last_updated, \
         last_key_ts, last_key_guid, deleted, match_key) \
         SELECT $1, r.guid, r.kind, r.name, r.version, r.data::jsonb, r.member_ids::jsonb, \
         r.parent_ids::jsonb, r.external_id, r.entity_name, r.last_updated, r.last_key_ts, \
         r.last_key_guid, r.deleted, r.match_key \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::text[], \
         $14::boolean[], $15::text[]) AS r(guid, kind, name, version, data, member_ids, \
         parent_ids, external_id, entity_name, last_updated, last_key_ts, last_key_guid, \
         deleted, match_key)"
    };
}

/// Inserts records this transaction found absent: no conflict is possible (the tenant's
/// entities are written only under its apply lock, which this transaction holds), so none
/// is checked for — an `ON CONFLICT` insert first probes the key and then inserts
/// speculatively, confirming each row with a WAL record of its own.
pub(crate) const INSERT_ENTITIES_SQL: &str = insert_entities_sql!();

/// Inserts or replaces the records (those that exist, or might).
pub(crate) const UPSERT_ENTITIES_SQL: &str = concat!(
    insert_entities_sql!(),
    " ON CONFLICT (tenant_id, guid) DO UPDATE SET kind = excluded.kind, \
     name = excluded.name, version = excluded.version, data = excluded.data, \
     member_ids = excluded.member_ids, parent_ids = excluded.parent_ids, \
     external_id = excluded.external_id, entity_name = excluded.entity_name, \
     last_updated = excluded.last_updated, last_key_ts = excluded.last_key_ts, \
     last_key_guid = excluded.last_key_guid, deleted = excluded.deleted, \
     match_key = excluded.match_key"
);

// The push's batch reads and its entity upsert, each kept prepared (`prepared::Prepared`).
prepared!(LoadEntities = LOAD_ENTITIES_SQL);
prepared!(EventsReferencing = EVENTS_REFERENCING_SQL);
prepared!(ExistingHashes = EXISTING_HASHES_SQL);
prepared!(MatchKeyProbes = MATCH_KEY_PROBES_SQL);
prepared!(InsertEntities = INSERT_ENTITIES_SQL);
prepared!(UpsertEntities = UPSERT_ENTITIES_SQL);
// Once per group: a diesel `update` was parsed again on every execution.
prepared!(SetHead = "UPDATE configs SET head = $2 WHERE id = $1");

/// A stored event's guid and content hash.
#[derive(QueryableByName)]
struct GuidHash {
    #[diesel(sql_type = Text)]
    guid: String,
    #[diesel(sql_type = Text)]
    content_hash: String,
}

/// One candidate of a batched match-key probe: the probe's 1-based position and a guid.
#[derive(QueryableByName)]
struct ProbeHit {
    #[diesel(sql_type = BigInt)]
    ord: i64,
    #[diesel(sql_type = Text)]
    guid: String,
}

/// Push-transaction access to one tenant's rows.
pub(crate) struct PgTx<'c> {
    conn: &'c mut PgConnection,
    tenant: &'c str,
    /// The head as of the lock, kept current by [`PushTx::insert_events`]: while this
    /// transaction holds the tenant's row lock nothing else changes it, so later reads of
    /// the head need no round trip.
    locked_head: Option<Seq>,
    /// Entities [`EntityTx::load_entities`] asked for and did not find, and not saved since:
    /// [`EntityTx::save_entities`] inserts these without a conflict check.
    absent: HashSet<String>,
}

impl<'c> PgTx<'c> {
    /// Wraps a connection that is inside a transaction; [`PushTx::head`] takes the tenant
    /// lock.
    pub(crate) fn new(conn: &'c mut PgConnection, tenant: &'c str) -> Self {
        PgTx {
            conn,
            tenant,
            locked_head: None,
            absent: HashSet::new(),
        }
    }

    /// The transaction's connection, for tests that inspect rows directly.
    #[cfg(test)]
    pub(crate) fn connection(&mut self) -> &mut PgConnection {
        self.conn
    }
}

fn db<T>(r: QueryResult<T>) -> Result<T, StoreError> {
    r.map_err(store_error)
}

impl EntityTx for PgTx<'_> {
    fn load_entities(&mut self, guids: &[String]) -> Result<Vec<EntityRecord>, StoreError> {
        if guids.is_empty() {
            return Ok(Vec::new());
        }
        let vals = vec![Val::Text(self.tenant), Val::Texts(guids)];
        let rows = db(LoadEntities::with(vals).load::<EntityRow>(self.conn))?;
        let records = rows
            .into_iter()
            .map(|r| r.into_record().map_err(crate::error::Fail::into_store))
            .collect::<Result<Vec<_>, _>>()?;
        let found: HashSet<&str> = records.iter().map(|r| r.entity.guid.as_str()).collect();
        for guid in guids {
            if found.contains(guid.as_str()) {
                self.absent.remove(guid);
            } else {
                self.absent.insert(guid.clone());
            }
        }
        Ok(records)
    }

    fn events_referencing(
        &mut self,
        guids: &[String],
        up_to: Option<Seq>,
    ) -> Result<Vec<Event>, StoreError> {
        if guids.is_empty() {
            return Ok(Vec::new());
        }
        let vals = vec![
            Val::Text(self.tenant),
            Val::Texts(guids),
            Val::BigInt(up_to.map_or(i64::MAX, |s| s.0)),
        ];
        let rows = db(EventsReferencing::with(vals).load::<EventRow>(self.conn))?;
        rows.into_iter()
            .map(|r| r.into_event().map_err(crate::error::Fail::into_store))
            .collect()
    }

    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError> {
        let (new, known): (Vec<&EntityRecord>, Vec<&EntityRecord>) = records
            .iter()
            .partition(|r| self.absent.contains(&r.entity.guid));
        if !new.is_empty() {
            write_entities::<InsertEntities>(self.conn, self.tenant, &new)?;
            for r in &new {
                self.absent.remove(&r.entity.guid);
            }
        }
        if !known.is_empty() {
            write_entities::<UpsertEntities>(self.conn, self.tenant, &known)?;
        }
        Ok(())
    }

    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError> {
        if guids.is_empty() {
            return Ok(());
        }
        db(diesel::delete(
            entities::table
                .filter(entities::tenant_id.eq(self.tenant))
                .filter(entities::guid.eq_any(guids)),
        )
        .execute(self.conn))?;
        Ok(())
    }

    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        // `match_key IS NOT NULL AND NOT deleted` repeats the partial index's predicate
        // literally: a bound `deleted = $n` cannot prove it, and the planner then scanned the
        // tenant's entities on every probe.
        db(entities::table
            .filter(entities::tenant_id.eq(self.tenant))
            .filter(entities::match_key.eq(key))
            .filter(entities::match_key.is_not_null())
            .filter(diesel::dsl::not(entities::deleted))
            .filter(entities::guid.ne(except))
            // No ORDER BY: with it, the generic prepared plan walked the primary key in
            // guid order instead of the match-key index.
            .limit(i64::from(limit))
            .select(entities::guid)
            .load(self.conn))
    }

    fn entities_with_match_keys(
        &mut self,
        probes: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        // One statement for every probe of a push instead of a round trip each (100 per
        // 100-event push of new individuals).
        let (keys, excepts): (Vec<&str>, Vec<&str>) = probes
            .iter()
            .map(|(key, except)| (key.as_str(), except.as_str()))
            .unzip();
        let vals = vec![
            Val::Strs(&keys),
            Val::Strs(&excepts),
            Val::Text(self.tenant),
            Val::BigInt(i64::from(limit)),
        ];
        let rows = db(MatchKeyProbes::with(vals).load::<ProbeHit>(self.conn))?;
        let mut found = vec![Vec::new(); probes.len()];
        for hit in rows {
            let slot = usize::try_from(hit.ord - 1)
                .ok()
                .and_then(|i| found.get_mut(i))
                .ok_or_else(|| StoreError::internal("match-key probe out of range"))?;
            slot.push(hit.guid);
        }
        Ok(found)
    }

    fn flag_duplicate(
        &mut self,
        entity: &str,
        duplicate: &str,
        match_key: &str,
    ) -> Result<(), StoreError> {
        let pair = duplicate_keep_both::table
            .filter(duplicate_keep_both::tenant_id.eq(self.tenant))
            .filter(duplicate_keep_both::entity_guid.eq(entity))
            .filter(duplicate_keep_both::duplicate_guid.eq(duplicate));
        let kept: Option<String> = db(pair
            .select(duplicate_keep_both::match_key)
            .first(self.conn)
            .optional())?;
        match kept {
            Some(k) if k == match_key => return Ok(()),
            // The key changed since "keep both": that decision no longer applies.
            Some(_) => {
                db(diesel::delete(pair).execute(self.conn))?;
            }
            None => {}
        }
        db(diesel::insert_into(potential_duplicates::table)
            .values((
                potential_duplicates::tenant_id.eq(self.tenant),
                potential_duplicates::entity_guid.eq(entity),
                potential_duplicates::duplicate_guid.eq(duplicate),
                potential_duplicates::created_at.eq(now_millis()),
            ))
            .on_conflict_do_nothing()
            .execute(self.conn))?;
        Ok(())
    }

    fn remove_duplicate(&mut self, entity: &str, duplicate: &str) -> Result<(), StoreError> {
        db(diesel::delete(
            potential_duplicates::table
                .filter(potential_duplicates::tenant_id.eq(self.tenant))
                .filter(potential_duplicates::entity_guid.eq(entity))
                .filter(potential_duplicates::duplicate_guid.eq(duplicate)),
        )
        .execute(self.conn))?;
        Ok(())
    }

    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError> {
        // One statement; each side of the OR reads its own index (primary key / _dup).
        db(diesel::delete(
            potential_duplicates::table
                .filter(potential_duplicates::tenant_id.eq(self.tenant))
                .filter(
                    potential_duplicates::entity_guid
                        .eq(guid)
                        .or(potential_duplicates::duplicate_guid.eq(guid)),
                ),
        )
        .execute(self.conn))?;
        Ok(())
    }
}

impl PushTx for PgTx<'_> {
    /// Locks the tenant's row (`FOR UPDATE`: pushes of one tenant queue here, so sequence
    /// order is commit order) and reads its head; once locked, the head this transaction
    /// last wrote. `NotFound` for an unknown tenant.
    fn head(&mut self) -> Result<Seq, StoreError> {
        if let Some(head) = self.locked_head {
            return Ok(head);
        }
        let head: Option<i64> = db(configs::table
            .filter(configs::id.eq(self.tenant))
            .select(configs::head)
            .for_update()
            .first(self.conn)
            .optional())?;
        let head = head.map(Seq).ok_or(StoreError::NotFound)?;
        self.locked_head = Some(head);
        Ok(head)
    }

    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError> {
        if guids.is_empty() {
            return Ok(HashMap::new());
        }
        let vals = vec![Val::Text(self.tenant), Val::Texts(guids)];
        let rows = db(ExistingHashes::with(vals).load::<GuidHash>(self.conn))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.guid, ContentHash(r.content_hash)))
            .collect())
    }

    fn insert_events(&mut self, events: &[NewEvent<'_>]) -> Result<(), StoreError> {
        let rows: Vec<NewEventRow<'_>> = events
            .iter()
            .map(|n| NewEventRow::new(self.tenant, n))
            .collect();
        db(diesel::copy_from(events::table)
            .from_insertable(&rows)
            .execute(self.conn))?;
        let mut refs: Vec<(&str, i64)> = events
            .iter()
            .flat_map(|n| n.refs.iter().map(move |r| (r.as_str(), n.seq.0)))
            .collect();
        refs.sort_unstable();
        refs.dedup();
        let rows: Vec<_> = refs
            .iter()
            .map(|(guid, seq)| {
                (
                    event_refs::tenant_id.eq(self.tenant),
                    event_refs::entity_guid.eq(*guid),
                    event_refs::seq.eq(*seq),
                )
            })
            .collect();
        db(diesel::copy_from(event_refs::table)
            .from_insertable(&rows)
            .execute(self.conn))?;
        if let Some(last) = events.iter().map(|n| n.seq.0).max() {
            let vals = vec![Val::Text(self.tenant), Val::BigInt(last)];
            db(SetHead::with(vals).execute(self.conn))?;
            if self.locked_head.is_some() {
                self.locked_head = Some(Seq(last));
            }
        }
        Ok(())
    }

    fn quarantine(
        &mut self,
        rejected: &[(Value, Rejection)],
        received_at: Timestamp,
        pushed_by: Option<&str>,
    ) -> Result<(), StoreError> {
        for chunk in rejected.chunks(INSERT_ROWS) {
            // As JSON text: JSONB cannot hold the NUL characters an event is often
            // quarantined for.
            let raws = chunk
                .iter()
                .map(|(raw, _)| serde_json::to_string(raw))
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::internal)?;
            let rows: Vec<_> = chunk
                .iter()
                .zip(&raws)
                .map(|((_, why), raw)| {
                    (
                        quarantine::tenant_id.eq(self.tenant),
                        quarantine::raw.eq(raw),
                        quarantine::code.eq(why.code.as_str()),
                        quarantine::error.eq(why.error.as_str()),
                        quarantine::received_at.eq(received_at.millis()),
                        quarantine::pushed_by.eq(pushed_by),
                    )
                })
                .collect();
            db(diesel::insert_into(quarantine::table)
                .values(&rows)
                .execute(self.conn))?;
        }
        Ok(())
    }
}

/// Writes `records` in tenant `tenant` with statement `S` (an entity insert or upsert).
fn write_entities<S: Prepared>(
    conn: &mut PgConnection,
    tenant: &str,
    records: &[&EntityRecord],
) -> Result<(), StoreError> {
    let mut data = Vec::with_capacity(records.len());
    let mut members = Vec::with_capacity(records.len());
    let mut parents = Vec::with_capacity(records.len());
    for r in records {
        data.push(serde_json::to_string(&r.entity.data).map_err(StoreError::internal)?);
        members.push(serde_json::to_string(&r.entity.member_ids).map_err(StoreError::internal)?);
        parents.push(serde_json::to_string(&r.parent_ids).map_err(StoreError::internal)?);
    }
    let col = |f: fn(&EntityRecord) -> &str| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    let opt =
        |f: fn(&EntityRecord) -> Option<&str>| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    let int = |f: fn(&EntityRecord) -> i64| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    let (guids, kinds, names, key_guids) = (
        col(|r| &r.entity.guid),
        col(|r| r.entity.kind.as_str()),
        col(|r| &r.entity.name),
        col(|r| &r.last_key.guid),
    );
    let (external_ids, entity_names, match_keys) = (
        opt(|r| r.entity.external_id.as_deref()),
        opt(|r| r.entity.entity_name()),
        opt(|r| r.match_key.as_deref()),
    );
    let (versions, last_updated, key_ts) = (
        int(|r| r.entity.version),
        int(|r| r.entity.last_updated.millis()),
        int(|r| r.last_key.timestamp.millis()),
    );
    let deleted: Vec<bool> = records.iter().map(|r| r.deleted).collect();
    let vals = vec![
        Val::Text(tenant),
        Val::Strs(&guids),
        Val::Strs(&kinds),
        Val::Strs(&names),
        Val::BigInts(&versions),
        Val::Texts(&data),
        Val::Texts(&members),
        Val::Texts(&parents),
        Val::OptStrs(&external_ids),
        Val::OptStrs(&entity_names),
        Val::BigInts(&last_updated),
        Val::BigInts(&key_ts),
        Val::Strs(&key_guids),
        Val::Bools(&deleted),
        Val::OptStrs(&match_keys),
    ];
    db(S::with(vals).execute(conn))?;
    Ok(())
}
