//! The push algorithm, run by every store inside its transaction for one tenant — or, split
//! after step 2, in two transactions ([`store_group_in_tx`], then [`apply_in_tx`]).
//!
//! 1. Dedup by `(tenant, guid)` + content hash: same content → duplicate, other content →
//!    `EVENT_GUID_CONFLICT` (also for repeats inside the batch).
//! 2. New events get consecutive sequence numbers after the tenant head, in request order,
//!    and are inserted with their refs; invalid events are quarantined.
//! 3. New events are applied in `(timestamp, guid)` order. An event whose key is greater than
//!    the `last_key` of every entity it references or would change is applied on top of the
//!    current state (the fast path). Otherwise the entities' *component* is recomputed.
//! 4. Changed records get their match key, are saved, and duplicate pairs are updated.
//!
//! # Why the fast path is exact
//!
//! Invariant: the stored state `S` is `fold(A)`, `A` the applied events. Let `E` (key `k`)
//! be a new event, `L` the events of `A` with keys greater than `k`, and `T` the entities `E`
//! reads or writes when applied to `S`. The appliers only read entities they reference or
//! write (a cascade walks `memberIds` and `parent_ids`, whose entries are live entities it
//! then writes), and every applied event raises the `last_key` of the entities it references
//! or writes (for absent ones, the *ghost key* plays that role). The fast path requires
//! every entity of `T` to have `last_key < k`, so no event of `L` read or wrote any entity of
//! `T`. Hence the entities of `T` have the same state before and after `L`: applying `E` to
//! `fold(A \ L)` reads the same values, follows the same links and writes the same records
//! as applying it to `S`. Conversely `E` writes only entities of `T`, which no event of `L`
//! reads, so replaying `L` after `E` does exactly what it did before. Therefore
//! `fold(A ∪ {E}) = apply(S, E)`. (The convergence property test checks this.)
//!
//! # The recompute
//!
//! The component of a set of entities is the closure "entities → stored events referencing
//! them → the entities those events reference". Membership links are only ever created by an
//! event that references both the group and the member, so a cascade never leaves the
//! component, and no event outside it reads or writes an entity inside it: folding just the
//! component's events from empty state reproduces exactly the state a full fold gives those
//! entities. The batch's own not-yet-applied events of the component are folded in at the
//! same time, so one batch recomputes a component at most once per late event that reaches
//! it from outside. Work per event is proportional to its component, never to the tenant.

use crate::apply::{apply_event, event_refs, fold, resolved_pairs, Workspace};
use crate::cursor::Seq;
use crate::duplicates::{match_key, DuplicateRules};
use crate::entity::EntityRecord;
use crate::error::StoreError;
use crate::event::{ContentHash, Event, EventKey, RejectCode, Rejection};
use crate::ports::{EntityTx, NewEvent, PushBatch, PushOutcome, PushTx};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Most duplicate candidates probed per changed entity.
const MAX_DUPLICATE_CANDIDATES: u32 = 50;

/// Runs one push inside the store's transaction for one tenant (the store holds the tenant
/// lock). See the module documentation for the steps.
///
/// # Errors
/// Storage failures of `tx`; the caller rolls the transaction back.
pub fn push_in_tx(tx: &mut dyn PushTx, batch: &PushBatch) -> Result<PushOutcome, StoreError> {
    push_group_in_tx(tx, &[batch])?
        .pop()
        .ok_or_else(|| StoreError::internal("a push produced no outcome"))
}

/// Runs several pushes of one tenant inside one transaction (a group commit), with the
/// outcome each would have had alone, in order: each push's events are checked against
/// every event stored before it, its own earlier pushes in the group included, and get
/// the sequence numbers they would have had alone; each push reports its own counts,
/// rejections and head. Consecutive pushes under the same duplicate rules are stored
/// and applied *together*, as one batch would be: the entity state is the same (every
/// batching converges to the fold, see the module documentation), and the group's batch
/// reads and writes are one round of statements instead of one per push.
///
/// # Errors
/// Storage failures of `tx`; the caller rolls the transaction back.
pub fn push_group_in_tx(
    tx: &mut dyn PushTx,
    batches: &[&PushBatch],
) -> Result<Vec<PushOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut rest = batches;
    while let Some(first) = rest.first() {
        let same_rules = rest.iter().take_while(|b| b.rules == first.rules).count();
        let (together, later) = rest.split_at(same_rules);
        outcomes.extend(push_together(tx, together, &first.rules)?);
        rest = later;
    }
    Ok(outcomes)
}

/// Stores and applies `batches` as one, with per-batch outcomes (see [`push_group_in_tx`]).
fn push_together(
    tx: &mut dyn PushTx,
    batches: &[&PushBatch],
    rules: &DuplicateRules,
) -> Result<Vec<PushOutcome>, StoreError> {
    let (stored, before, fresh) = store_together(tx, batches)?;
    let events: Vec<&Event> = fresh.iter().map(|n| n.event).collect();
    // The refs computed for storing the events serve applying them.
    let refs: Vec<Vec<String>> = fresh.into_iter().map(|n| n.refs).collect();
    apply_with_refs(tx, before, &events, &refs, rules)?;
    Ok(stored.into_iter().map(|s| s.outcome).collect())
}

/// What storing one push did ([`store_group_in_tx`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPush {
    /// The push's outcome.
    pub outcome: PushOutcome,
    /// Positions in the push's `events` of those it stored, in sequence order: they have the
    /// sequence numbers up to `outcome.head`, the last one `outcome.head`.
    pub new: Vec<usize>,
}

/// Stores several pushes of one tenant inside one transaction, without applying them:
/// steps 1 and 2 of the module documentation, with the outcome each push would have had
/// alone (see [`push_group_in_tx`]). The new events are left for [`apply_in_tx`], which a
/// store may run in a later transaction of its own, as long as it applies every stored event
/// exactly once and in sequence order.
///
/// # Errors
/// Storage failures of `tx`; the caller rolls the transaction back.
pub fn store_group_in_tx(
    tx: &mut dyn PushTx,
    batches: &[&PushBatch],
) -> Result<Vec<StoredPush>, StoreError> {
    Ok(store_together(tx, batches)?.0)
}

/// Dedups, numbers, inserts and quarantines the events of `batches`: what each push stored,
/// the head before them and the new events in sequence order.
fn store_together<'b>(
    tx: &mut dyn PushTx,
    batches: &[&'b PushBatch],
) -> Result<(Vec<StoredPush>, Seq, Vec<NewEvent<'b>>), StoreError> {
    let guids: Vec<String> = batches
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.guid.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut known: HashMap<String, ContentHash> = tx.existing_hashes(&guids)?;
    let before = tx.head()?;
    let mut next = before.0;
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut fresh: Vec<Vec<NewEvent<'b>>> = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut outcome = PushOutcome {
            errors: batch.rejected.iter().map(|(_, r)| r.clone()).collect(),
            ..PushOutcome::default()
        };
        let mut new = Vec::new();
        let mut positions = Vec::new();
        for (position, event) in batch.events.iter().enumerate() {
            let hash = event.content_hash();
            match known.get(&event.guid) {
                Some(h) if *h == hash => outcome.duplicates += 1,
                Some(_) => outcome.errors.push(Rejection {
                    guid: Some(event.guid.clone()),
                    code: RejectCode::EventGuidConflict,
                    error: "event guid already exists with different content".into(),
                }),
                None => {
                    next += 1;
                    known.insert(event.guid.clone(), hash.clone());
                    positions.push(position);
                    new.push(NewEvent {
                        seq: Seq(next),
                        event,
                        hash,
                        refs: event_refs(event),
                        received_at: batch.received_at,
                        pushed_by: batch.pushed_by.as_deref(),
                    });
                }
            }
        }
        outcome.applied = new.len() as u64;
        outcome.head = Seq(next);
        outcomes.push(StoredPush {
            outcome,
            new: positions,
        });
        fresh.push(new);
    }
    let fresh: Vec<NewEvent<'b>> = fresh.into_iter().flatten().collect();
    if !fresh.is_empty() {
        tx.insert_events(&fresh)?;
    }
    for batch in batches {
        if !batch.rejected.is_empty() {
            tx.quarantine(
                &batch.rejected,
                batch.received_at,
                batch.pushed_by.as_deref(),
            )?;
        }
    }
    Ok((outcomes, before, fresh))
}

/// Applies stored events to the entities: steps 3 and 4 of the module documentation.
/// `events` are the events with sequence numbers `before + 1 ..= before + events.len()`,
/// in that order; every event up to `before` is applied already and none after the last of
/// `events` is (later events may be stored: they are not read).
///
/// # Errors
/// Storage failures of `tx`; the caller rolls the transaction back.
pub fn apply_in_tx(
    tx: &mut dyn EntityTx,
    before: Seq,
    events: &[&Event],
    rules: &DuplicateRules,
) -> Result<(), StoreError> {
    let refs: Vec<Vec<String>> = events.iter().map(|e| event_refs(e)).collect();
    apply_with_refs(tx, before, events, &refs, rules)
}

/// [`apply_in_tx`] with each event's refs (`event_refs`) already at hand.
fn apply_with_refs(
    tx: &mut dyn EntityTx,
    before: Seq,
    events: &[&Event],
    refs: &[Vec<String>],
    rules: &DuplicateRules,
) -> Result<(), StoreError> {
    let pending = events.iter().map(|e| e.guid.clone()).collect();
    let up_to = Seq(before.0 + events.len() as i64);
    Materializer::new(tx, before, up_to, pending).run(events, refs, rules)
}

/// Per-batch cache of entity records over the transaction.
struct Materializer<'t> {
    tx: &'t mut dyn EntityTx,
    /// The last applied event before this batch: every event after it is this batch's own.
    before: Seq,
    /// The batch's last event: events after it are not read (they are applied later).
    up_to: Seq,
    /// Loaded (or computed) records; `None` = known absent.
    cache: HashMap<String, Option<EntityRecord>>,
    /// Match keys as stored before this batch, for every record loaded.
    original_keys: HashMap<String, Option<String>>,
    /// For guids known absent: the greatest key of the applied events that reference them.
    /// Such an event found nothing to change, but it could have, had the entity existed, so
    /// a later-arriving creation with a smaller key is not in order.
    ghost_keys: HashMap<String, EventKey>,
    /// Guids of this batch's new events that are stored but not applied yet.
    pending: HashSet<String>,
    dirty: BTreeSet<String>,
    /// Guids that stopped being live during the batch (some may live again at the end).
    deleted: BTreeSet<String>,
    resolved: Vec<(String, String)>,
}

impl<'t> Materializer<'t> {
    fn new(tx: &'t mut dyn EntityTx, before: Seq, up_to: Seq, pending: HashSet<String>) -> Self {
        Materializer {
            tx,
            before,
            up_to,
            cache: HashMap::new(),
            original_keys: HashMap::new(),
            ghost_keys: HashMap::new(),
            pending,
            dirty: BTreeSet::new(),
            deleted: BTreeSet::new(),
            resolved: Vec::new(),
        }
    }

    /// Loads the records of `guids` not cached yet (one `load_entities` call); returns the
    /// ones found absent.
    fn load(&mut self, guids: &[String]) -> Result<Vec<String>, StoreError> {
        let missing: Vec<String> = guids
            .iter()
            .filter(|g| !self.cache.contains_key(*g))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(missing);
        }
        let loaded = self.tx.load_entities(&missing)?;
        for guid in &missing {
            self.cache.insert(guid.clone(), None);
            self.original_keys.insert(guid.clone(), None);
        }
        for rec in loaded {
            self.original_keys
                .insert(rec.entity.guid.clone(), rec.match_key.clone());
            self.cache.insert(rec.entity.guid.clone(), Some(rec));
        }
        Ok(missing
            .into_iter()
            .filter(|g| matches!(self.cache.get(g), Some(None)))
            .collect())
    }

    /// Loads records and, for the absent ones, their ghost keys from the applied events
    /// that reference them.
    fn prefetch(&mut self, guids: &[String]) -> Result<(), StoreError> {
        let absent = self.load(guids)?;
        if absent.is_empty() {
            return Ok(());
        }
        let absent_set: HashSet<&String> = absent.iter().collect();
        // This push's own events are not applied when the ghost keys are first needed (they
        // are skipped below), and every guid they reference is loaded here before any of
        // them is applied: asking only for earlier events changes nothing and spares
        // loading the creating event of every new entity.
        for ev in self.tx.events_referencing(&absent, Some(self.before))? {
            if self.pending.contains(&ev.guid) {
                continue;
            }
            let key = ev.key();
            for r in event_refs(&ev)
                .into_iter()
                .filter(|r| absent_set.contains(r))
            {
                raise(&mut self.ghost_keys, r, &key);
            }
        }
        Ok(())
    }

    fn run(
        mut self,
        events: &[&Event],
        refs: &[Vec<String>],
        rules: &DuplicateRules,
    ) -> Result<(), StoreError> {
        let all_refs: Vec<String> = refs.iter().flatten().cloned().collect();
        self.prefetch(&all_refs)?;
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| events[i].key());
        for i in order {
            // Events a recompute already folded in are skipped.
            if self.pending.contains(&events[i].guid) {
                self.apply(events[i], &refs[i])?;
            }
        }
        self.finish(rules)
    }

    fn apply(&mut self, event: &Event, refs: &[String]) -> Result<(), StoreError> {
        let key = event.key();
        let mut overlay = Overlay {
            base: self,
            changes: BTreeMap::new(),
        };
        let effects = apply_event(&mut overlay, event)?;
        let changes = overlay.changes;
        let affected: BTreeSet<String> = refs
            .iter()
            .cloned()
            .chain(changes.keys().cloned())
            .collect();
        let in_order = affected.iter().all(|g| match self.cache.get(g) {
            Some(Some(rec)) => rec.last_key < key,
            _ => self.ghost_keys.get(g).is_none_or(|k| *k < key),
        });
        self.pending.remove(&event.guid);
        self.resolved.extend(effects.resolved);
        if in_order {
            for (guid, rec) in changes {
                self.dirty.insert(guid.clone());
                self.cache.insert(guid, Some(rec));
            }
            for guid in refs {
                if matches!(self.cache.get(guid), Some(None)) {
                    raise(&mut self.ghost_keys, guid.clone(), &key);
                }
            }
            self.deleted.extend(effects.deleted);
            Ok(())
        } else {
            self.recompute(affected)
        }
    }

    /// Re-folds the component of `start` from all its stored events and replaces the cached
    /// records of the component. Batch events of the component that were not applied yet
    /// are folded in too (they are stored already), so a batch recomputes a component once
    /// rather than once per late event.
    fn recompute(&mut self, start: BTreeSet<String>) -> Result<(), StoreError> {
        let mut component = start.clone();
        let mut frontier: Vec<String> = start.into_iter().collect();
        let mut events: BTreeMap<EventKey, Event> = BTreeMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        while !frontier.is_empty() {
            let found = self.tx.events_referencing(&frontier, Some(self.up_to))?;
            frontier = Vec::new();
            for ev in found {
                if !seen.insert(ev.guid.clone()) {
                    continue;
                }
                for r in event_refs(&ev) {
                    if component.insert(r.clone()) {
                        frontier.push(r);
                    }
                }
                events.insert(ev.key(), ev);
            }
        }
        for ev in events.values() {
            if self.pending.remove(&ev.guid) {
                self.resolved.extend(resolved_pairs(ev));
            }
        }
        let guids: Vec<String> = component.iter().cloned().collect();
        self.load(&guids)?;
        let folded = fold(events.values());
        // Every event referencing the component is in `events` and now applied: the ghost
        // keys of its absent guids are exact.
        let mut ghosts: HashMap<String, EventKey> = HashMap::new();
        for (key, ev) in &events {
            for r in event_refs(ev)
                .into_iter()
                .filter(|r| !folded.contains_key(r))
            {
                raise(&mut ghosts, r, key);
            }
        }
        for guid in component {
            self.ghost_keys.remove(&guid);
            let before = self.cache.get(&guid).cloned().flatten();
            let after = folded.get(&guid).cloned();
            let was_live = before.as_ref().is_some_and(|r| !r.deleted);
            let is_live = after.as_ref().is_some_and(|r| !r.deleted);
            if was_live && !is_live {
                self.deleted.insert(guid.clone());
            }
            if before.is_some() || after.is_some() {
                self.dirty.insert(guid.clone());
            }
            if after.is_none() {
                if let Some(k) = ghosts.remove(&guid) {
                    self.ghost_keys.insert(guid.clone(), k);
                }
            }
            self.cache.insert(guid, after);
        }
        Ok(())
    }

    /// Saves changed records with their match keys and updates duplicate pairs.
    fn finish(mut self, rules: &DuplicateRules) -> Result<(), StoreError> {
        let mut to_save = Vec::new();
        let mut vanished = Vec::new();
        let mut probes = Vec::new();
        for guid in &self.dirty {
            let Some(Some(rec)) = self.cache.get_mut(guid) else {
                vanished.push(guid.clone());
                continue;
            };
            rec.match_key = if rec.deleted {
                None
            } else {
                match_key(&rec.entity, rules)
            };
            let before = self.original_keys.get(guid).cloned().flatten();
            if let Some(key) = &rec.match_key {
                if Some(key) != before.as_ref() {
                    probes.push((rec.last_key.clone(), guid.clone(), key.clone()));
                }
            }
            to_save.push(rec.clone());
        }
        if !to_save.is_empty() {
            self.tx.save_entities(&to_save)?;
        }
        if !vanished.is_empty() {
            self.tx.delete_entities(&vanished)?;
            self.deleted.extend(vanished);
        }
        // Pairs of entities that are not live at the end of the batch go; an entity deleted
        // and revived within the batch keeps its pairs.
        for guid in &self.deleted {
            let live_now = matches!(self.cache.get(guid), Some(Some(r)) if !r.deleted);
            if !live_now {
                self.tx.remove_duplicates_of(guid)?;
            }
        }
        // Oldest change first; a pair is flagged once, from the newer entity to the older
        // one (upstream's `{entityGuid: newer, duplicateGuid: existing}`).
        // Every changed record is saved and flagging changes no match key, so all probes can
        // be asked at once.
        probes.sort();
        let asks: Vec<(String, String)> = probes
            .iter()
            .map(|(_, guid, key)| (key.clone(), guid.clone()))
            .collect();
        let found = if asks.is_empty() {
            Vec::new()
        } else {
            self.tx
                .entities_with_match_keys(&asks, MAX_DUPLICATE_CANDIDATES)?
        };
        if found.len() != asks.len() {
            return Err(StoreError::internal(
                "match-key probes answered for a different number of keys",
            ));
        }
        let mut waiting: HashSet<String> = probes.iter().map(|(_, g, _)| g.clone()).collect();
        for ((_, guid, key), candidates) in probes.into_iter().zip(found) {
            waiting.remove(&guid);
            for other in candidates {
                if !waiting.contains(&other) {
                    self.tx.flag_duplicate(&guid, &other, &key)?;
                }
            }
        }
        // Pairs the batch's `resolve-duplicate` events resolved, last: a pair such an event
        // names is gone after the push even if this batch flagged it.
        for (a, b) in &self.resolved {
            self.tx.remove_duplicate(a, b)?;
        }
        Ok(())
    }
}

/// Raises `keys[guid]` to at least `key`.
fn raise(keys: &mut HashMap<String, EventKey>, guid: String, key: &EventKey) {
    let slot = keys.entry(guid).or_insert_with(|| key.clone());
    if *slot < *key {
        *slot = key.clone();
    }
}

/// Writes of one event, kept apart until the fast-path check passes.
struct Overlay<'m, 't> {
    base: &'m mut Materializer<'t>,
    changes: BTreeMap<String, EntityRecord>,
}

impl Workspace for Overlay<'_, '_> {
    fn get(&mut self, guid: &str) -> Result<Option<EntityRecord>, StoreError> {
        if let Some(rec) = self.changes.get(guid) {
            return Ok(Some(rec.clone()));
        }
        if !self.base.cache.contains_key(guid) {
            self.base.prefetch(&[guid.to_owned()])?;
        }
        Ok(self.base.cache.get(guid).cloned().flatten())
    }

    fn put(&mut self, record: EntityRecord) {
        self.changes.insert(record.entity.guid.clone(), record);
    }

    fn hint(&mut self, guids: &[String]) -> Result<(), StoreError> {
        self.base.prefetch(guids)
    }
}

#[cfg(test)]
mod tests;
