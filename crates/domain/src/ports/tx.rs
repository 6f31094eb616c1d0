//! Synchronous, in-transaction access a store gives the domain's push algorithm
//! ([`crate::materialize::push_in_tx`]). Stores implement these few primitives; all rules
//! (dedup, sequence assignment, incremental vs recompute, duplicate flags) live in the domain.

use crate::cursor::Seq;
use crate::entity::EntityRecord;
use crate::error::StoreError;
use crate::event::{ContentHash, Event, Rejection};
use crate::time::Timestamp;
use serde_json::Value;
use std::collections::HashMap;

/// A new event ready to insert.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Assigned sequence number.
    pub seq: Seq,
    /// The event (its `sync_level` is what will be stored).
    pub event: &'a Event,
    /// Its content hash.
    pub hash: ContentHash,
    /// Entity guids the event references (see [`crate::apply::event_refs`]); the store indexes
    /// them so that [`EntityTx::events_referencing`] is an index lookup.
    pub refs: Vec<String>,
    /// Server receive time of its push.
    pub received_at: Timestamp,
    /// Authenticated pusher of its push.
    pub pushed_by: Option<&'a str>,
}

/// Entity state access inside the push transaction of one tenant.
pub trait EntityTx {
    /// Loads the records (tombstones included) of the given guids; absent guids are simply
    /// missing from the result.
    ///
    /// # Errors
    /// Storage failure.
    fn load_entities(&mut self, guids: &[String]) -> Result<Vec<EntityRecord>, StoreError>;

    /// All stored events (including ones inserted earlier in this transaction) whose refs
    /// include any of `guids` and, when `up_to` is given, whose sequence number is at most
    /// `up_to`; in any order.
    ///
    /// # Errors
    /// Storage failure.
    fn events_referencing(
        &mut self,
        guids: &[String],
        up_to: Option<Seq>,
    ) -> Result<Vec<Event>, StoreError>;

    /// Inserts or replaces these records (keyed by `entity.guid`), including their match key.
    ///
    /// # Errors
    /// Storage failure.
    fn save_entities(&mut self, records: &[EntityRecord]) -> Result<(), StoreError>;

    /// Removes the records of these guids: entities a recompute found never to have existed
    /// (e.g. members created by an event that a late delete made void). Absent guids are
    /// ignored.
    ///
    /// # Errors
    /// Storage failure.
    fn delete_entities(&mut self, guids: &[String]) -> Result<(), StoreError>;

    /// Guids of live entities whose match key equals `key`, excluding `except`, at most
    /// `limit`.
    ///
    /// # Errors
    /// Storage failure.
    fn entities_with_match_key(
        &mut self,
        key: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// For each probe `(key, except)`, what [`EntityTx::entities_with_match_key`] answers
    /// for it with `limit`: one list per probe, in probe order. The default asks once per
    /// probe; a store where every statement is a round trip to a database server answers
    /// all of them in one.
    ///
    /// # Errors
    /// Storage failure.
    fn entities_with_match_keys(
        &mut self,
        probes: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        probes
            .iter()
            .map(|(key, except)| self.entities_with_match_key(key, except, limit))
            .collect()
    }

    /// Records the potential-duplicate pair `(entity, duplicate)` unless it exists already or
    /// was resolved as keep-both while `entity` had this same match key.
    ///
    /// # Errors
    /// Storage failure.
    fn flag_duplicate(
        &mut self,
        entity: &str,
        duplicate: &str,
        match_key: &str,
    ) -> Result<(), StoreError>;

    /// Removes the pair `(entity, duplicate)` if present.
    ///
    /// # Errors
    /// Storage failure.
    fn remove_duplicate(&mut self, entity: &str, duplicate: &str) -> Result<(), StoreError>;

    /// Removes every pending pair that involves `guid` on either side.
    ///
    /// # Errors
    /// Storage failure.
    fn remove_duplicates_of(&mut self, guid: &str) -> Result<(), StoreError>;
}

/// Event insertion inside the push transaction of one tenant (which the store has locked).
pub trait PushTx: EntityTx {
    /// The tenant's current head sequence number (read under the tenant lock).
    ///
    /// # Errors
    /// Storage failure.
    fn head(&mut self) -> Result<Seq, StoreError>;

    /// Content hashes of the given guids that are already stored in the tenant.
    ///
    /// # Errors
    /// Storage failure.
    fn existing_hashes(
        &mut self,
        guids: &[String],
    ) -> Result<HashMap<String, ContentHash>, StoreError>;

    /// Inserts new events (with their refs; they may come from several pushes of a group
    /// commit) and sets the tenant head to the last `seq`.
    ///
    /// # Errors
    /// Storage failure.
    fn insert_events(&mut self, events: &[NewEvent<'_>]) -> Result<(), StoreError>;

    /// Quarantines rejected events.
    ///
    /// # Errors
    /// Storage failure.
    fn quarantine(
        &mut self,
        rejected: &[(Value, Rejection)],
        received_at: Timestamp,
        pushed_by: Option<&str>,
    ) -> Result<(), StoreError>;
}
