//! One tenant's event stream and entity state in memory, implementing the in-transaction
//! primitives ([`PushTx`], [`EntityTx`]) so that [`crate::materialize::push_in_tx`] runs on it
//! exactly as it runs on a database.

use crate::cursor::Seq;
use crate::entity::EntityRecord;
use crate::error::StoreError;
use crate::event::{ContentHash, Event, Rejection};
use crate::ports::{EntityTx, NewEvent, PushTx, QuarantinedEvent, StoredEvent};
use crate::time::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A tenant held in memory. Clone it, push into the clone, and keep the clone only when the
/// push succeeded: that is an atomic batch.
#[derive(Debug, Clone, Default)]
pub struct MemTenant {
    events: Vec<StoredEvent>,
    hashes: HashMap<String, ContentHash>,
    refs: HashMap<String, BTreeSet<i64>>,
    entities: BTreeMap<String, EntityRecord>,
    duplicates: BTreeSet<(String, String)>,
    keep_both: HashMap<(String, String), String>,
    quarantine: Vec<QuarantinedEvent>,
    next_quarantine_id: i64,
    head: Seq,
    /// The position before the first event (0, or the head a purged tenant of the id left).
    base: i64,
}

impl MemTenant {
    /// A tenant without events whose sequence continues after `head`.
    pub fn starting_at(head: Seq) -> Self {
        MemTenant {
            head,
            base: head.0,
            ..MemTenant::default()
        }
    }

    /// Stored events in sequence order (index `i` holds seq `base + i + 1`).
    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// Every entity record, tombstones included, by guid.
    pub fn entities(&self) -> &BTreeMap<String, EntityRecord> {
        &self.entities
    }

    /// Pending potential-duplicate pairs `(entity, duplicate)`.
    pub fn duplicates(&self) -> &BTreeSet<(String, String)> {
        &self.duplicates
    }

    /// Resolves a pending pair as keep-both, remembering the flagged entity's match key.
    /// Returns whether the pair existed.
    pub fn keep_both(&mut self, entity: &str, duplicate: &str) -> bool {
        let pair = (entity.to_owned(), duplicate.to_owned());
        if !self.duplicates.remove(&pair) {
            return false;
        }
        let key = self
            .entities
            .get(entity)
            .and_then(|r| r.match_key.clone())
            .unwrap_or_default();
        self.keep_both.insert(pair, key);
        true
    }

    /// Quarantined events in insertion order.
    pub fn quarantine_rows(&self) -> &[QuarantinedEvent] {
        &self.quarantine
    }

    /// The last sequence number.
    pub fn head_seq(&self) -> Seq {
        self.head
    }
}

impl EntityTx for MemTenant {
    fn load_entities(&mut self, guids: &[String]) -> Result<Vec<EntityRecord>, StoreError> {
        Ok(guids
            .iter()
            .filter_map(|g| self.entities.get(g).cloned())
            .collect())
    }

    fn events_referencing(
        &mut self,
        guids: &[String],
        up_to: Option<Seq>,
    ) -> Result<Vec<Event>, StoreError> {
        let last = up_to.map_or(i64::MAX, |s| s.0);
        let seqs: BTreeSet<i64> = guids
            .iter()
            .filter_map(|g| self.refs.get(g))
            .flatten()
            .copied()
            .filter(|s| *s <= last)
            .collect();
        Ok(seqs
            .into_iter()
            .filter_map(|s| {
                usize::try_from(s - self.base - 1)
                    .ok()
                    .and_then(|i| self.events.get(i))
            })
            .map(|e| e.event.clone())
            .collect())
    }

    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError> {
        for r in records {
            self.entities.insert(r.entity.guid.clone(), r.clone());
        }
        Ok(())
    }

    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError> {
        for g in guids {
            self.entities.remove(g);
        }
        Ok(())
    }

    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .entities
            .values()
            .filter(|r| {
                !r.deleted && r.entity.guid != except && r.match_key.as_deref() == Some(key)
            })
            .take(limit as usize)
            .map(|r| r.entity.guid.clone())
            .collect())
    }

    fn flag_duplicate(
        &mut self,
        entity: &str,
        duplicate: &str,
        match_key: &str,
    ) -> Result<(), StoreError> {
        let pair = (entity.to_owned(), duplicate.to_owned());
        if self.keep_both.get(&pair).map(String::as_str) != Some(match_key) {
            self.duplicates.insert(pair);
        }
        Ok(())
    }

    fn remove_duplicate(&mut self, entity: &str, duplicate: &str) -> Result<(), StoreError> {
        self.duplicates
            .remove(&(entity.to_owned(), duplicate.to_owned()));
        Ok(())
    }

    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError> {
        self.duplicates.retain(|(a, b)| a != guid && b != guid);
        Ok(())
    }
}

impl PushTx for MemTenant {
    fn head(&mut self) -> Result<Seq, StoreError> {
        Ok(self.head)
    }

    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError> {
        Ok(guids
            .iter()
            .filter_map(|g| self.hashes.get(g).map(|h| (g.clone(), h.clone())))
            .collect())
    }

    fn insert_events(&mut self, events: &[NewEvent<'_>]) -> Result<(), StoreError> {
        for new in events {
            if new.seq.0 != self.head.0 + 1 || self.hashes.contains_key(&new.event.guid) {
                return Err(StoreError::Conflict("events(tenant_id, seq|guid)".into()));
            }
            self.head = new.seq;
            self.hashes.insert(new.event.guid.clone(), new.hash.clone());
            for r in &new.refs {
                self.refs.entry(r.clone()).or_default().insert(new.seq.0);
            }
            self.events.push(StoredEvent {
                seq: new.seq,
                event: new.event.clone(),
                received_at: new.received_at,
                pushed_by: new.pushed_by.map(str::to_owned),
            });
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
            self.next_quarantine_id += 1;
            self.quarantine.push(QuarantinedEvent {
                id: self.next_quarantine_id,
                raw: raw.clone(),
                code: why.code,
                error: why.error.clone(),
                received_at,
                pushed_by: pushed_by.map(str::to_owned),
            });
        }
        Ok(())
    }
}
