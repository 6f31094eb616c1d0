//! Event appliers: how one event changes the entities it addresses (reference §3.6, with the
//! fixes of SPEC §3.4).
//!
//! Decisions, where upstream is buggy or silent:
//! - A new entity has version 1 after its first event; every applied change adds 1.
//!   `lastUpdated` is the timestamp of the last event applied (never the wall clock).
//! - `create-*` and `update-*` both upsert (as upstream); an existing entity keeps its kind.
//! - Inline members (`data.members` of group events and `add-member`) are created only when
//!   they do not exist: an existing member is linked, never overwritten. Every entry of
//!   `add-member`'s `members` is handled, not only the first.
//! - `delete-entity` tombstones the entity and, through `memberIds`, its descendants, and
//!   removes each deleted guid from its live parents' `memberIds`.
//! - **Delete wins**: a tombstoned entity stays deleted; later events addressed to it change
//!   nothing (they are still stored and relayed).
//! - `resolve-duplicate` resolves every pair of `data.duplicates`.
//! - Other event types change no entity.
//! - Malformed payloads (members not an array, a member without a guid, …) are ignored where
//!   they cannot apply; nothing panics.

use crate::canonical::{canonical_json, truthy};
use crate::entity::{Entity, EntityKind, EntityRecord};
use crate::error::StoreError;
use crate::event::{Event, MAX_GUID_CHARS};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Default name of an individual without `data.name`.
pub const UNNAMED_INDIVIDUAL: &str = "Unnamed Individual";
/// Default name of a group without `data.name`.
pub const UNNAMED_GROUP: &str = "Unnamed Group";

/// The entity guids an event references, independent of any state (sorted, deduplicated):
/// its `entityGuid`; the `guid` of every inline member (recursively) of `create-group`,
/// `update-group` and `add-member`; `data.memberId` of `remove-member`; both guids of every
/// pair of `resolve-duplicate`. Stores index events by these guids.
pub fn event_refs(event: &Event) -> Vec<String> {
    let mut refs = BTreeSet::new();
    refs.insert(event.entity_guid.clone());
    match event.event_type.as_str() {
        "create-group" | "update-group" | "add-member" => {
            let mut stack: Vec<&Value> = event.data.get("members").into_iter().collect();
            while let Some(members) = stack.pop() {
                for member in members.as_array().into_iter().flatten() {
                    if let Some(guid) = member_guid(member) {
                        refs.insert(guid);
                    }
                    if let Some(nested) = member.get("members") {
                        stack.push(nested);
                    }
                }
            }
        }
        "remove-member" => {
            if let Some(id) = event.data.get("memberId").and_then(guid_text) {
                refs.insert(id);
            }
        }
        "resolve-duplicate" => {
            for (a, b) in duplicate_pairs(&event.data) {
                refs.insert(a);
                refs.insert(b);
            }
        }
        _ => {}
    }
    refs.into_iter().collect()
}

/// Read/write access to entity records while applying events.
pub trait Workspace {
    /// The record of `guid` (tombstones included), if any.
    ///
    /// # Errors
    /// Storage failure while loading.
    fn get(&mut self, guid: &str) -> Result<Option<EntityRecord>, StoreError>;

    /// Replaces the record of `record.entity.guid`.
    fn put(&mut self, record: EntityRecord);

    /// Says that the records of `guids` are about to be read, so a workspace backed by a
    /// store can load them in one round trip. The default does nothing.
    ///
    /// # Errors
    /// Storage failure while loading.
    fn hint(&mut self, guids: &[String]) -> Result<(), StoreError> {
        let _ = guids;
        Ok(())
    }
}

/// An in-memory workspace (the fold's state).
impl Workspace for BTreeMap<String, EntityRecord> {
    fn get(&mut self, guid: &str) -> Result<Option<EntityRecord>, StoreError> {
        Ok(BTreeMap::get(self, guid).cloned())
    }

    fn put(&mut self, record: EntityRecord) {
        self.insert(record.entity.guid.clone(), record);
    }
}

/// What applying one event did besides changing records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Guids tombstoned by this event.
    pub deleted: Vec<String>,
    /// Potential-duplicate pairs `(entity, duplicate)` this event resolved.
    pub resolved: Vec<(String, String)>,
}

/// Applies one event to the workspace and bumps `last_key` of every existing entity it
/// references or changed.
///
/// # Errors
/// Only storage failures of the workspace; odd payloads are ignored.
pub fn apply_event(ws: &mut dyn Workspace, event: &Event) -> Result<Effects, StoreError> {
    let mut applier = Applier {
        ws,
        event,
        effects: Effects::default(),
        touched: BTreeSet::new(),
    };
    applier.dispatch()?;
    let Applier {
        ws,
        touched,
        effects,
        ..
    } = applier;
    let key = event.key();
    for guid in touched.into_iter().chain(event_refs(event)) {
        if let Some(mut rec) = ws.get(&guid)? {
            if rec.last_key < key {
                rec.last_key = key.clone();
                ws.put(rec);
            }
        }
    }
    Ok(effects)
}

struct Applier<'w, 'e> {
    ws: &'w mut dyn Workspace,
    event: &'e Event,
    effects: Effects,
    touched: BTreeSet<String>,
}

impl Applier<'_, '_> {
    fn dispatch(&mut self) -> Result<(), StoreError> {
        let event = self.event;
        let guid = event.entity_guid.as_str();
        match event.event_type.as_str() {
            "create-individual" | "update-individual" => {
                self.upsert(guid, EntityKind::Individual, &event.data)?;
            }
            "create-group" | "update-group" => {
                let live = self.upsert(guid, EntityKind::Group, &event.data)?;
                match event.data.get("members") {
                    Some(members) if live => {
                        self.link_members(guid, members)?;
                    }
                    _ => {}
                }
            }
            "add-member" => {
                let is_group = self.live_group(guid)?.is_some();
                let added = match event.data.get("members") {
                    Some(members) if is_group => self.link_members(guid, members)?,
                    _ => false,
                };
                if added {
                    self.bump(guid)?;
                }
            }
            "remove-member" => {
                if let Some(member) = event.data.get("memberId").and_then(guid_text) {
                    self.remove_member(guid, &member)?;
                }
            }
            "delete-entity" => self.cascade_delete(guid)?,
            "resolve-duplicate" => {
                self.effects.resolved.extend(duplicate_pairs(&event.data));
                if event.data.get("shouldDelete").is_some_and(truthy) {
                    self.cascade_delete(guid)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn save(&mut self, rec: EntityRecord) {
        self.touched.insert(rec.entity.guid.clone());
        self.ws.put(rec);
    }

    fn live_group(&mut self, guid: &str) -> Result<Option<EntityRecord>, StoreError> {
        Ok(self
            .ws
            .get(guid)?
            .filter(|r| !r.deleted && r.entity.kind == EntityKind::Group))
    }

    /// Creates or updates an entity from event data; returns whether it is live afterwards.
    fn upsert(
        &mut self,
        guid: &str,
        kind: EntityKind,
        data: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let mut rec = match self.ws.get(guid)? {
            Some(rec) if rec.deleted => return Ok(false),
            Some(rec) => rec,
            None => self.blank(guid, kind),
        };
        merge_data(&mut rec.entity, data);
        rec.entity.version += 1;
        rec.entity.last_updated = self.event.timestamp;
        self.save(rec);
        Ok(true)
    }

    fn blank(&self, guid: &str, kind: EntityKind) -> EntityRecord {
        EntityRecord {
            entity: Entity {
                guid: guid.to_owned(),
                kind,
                name: String::new(),
                version: 0,
                data: Map::new(),
                member_ids: Vec::new(),
                external_id: None,
                last_updated: self.event.timestamp,
            },
            deleted: false,
            parent_ids: Vec::new(),
            last_key: self.event.key(),
            match_key: None,
        }
    }

    /// Creates missing inline members (recursively) and links every member to its group.
    /// Returns whether the top-level group gained a member.
    ///
    /// Each group is read and written once per member list, so a large inline member list
    /// costs time linear in its length.
    fn link_members(&mut self, group: &str, members: &Value) -> Result<bool, StoreError> {
        let mut added_to_top = false;
        let mut work: Vec<(String, &Value)> = vec![(group.to_owned(), members)];
        while let Some((parent, members)) = work.pop() {
            let Some(mut parent_rec) = self.live_group(&parent)? else {
                continue;
            };
            let mut listed: HashSet<String> =
                parent_rec.entity.member_ids.iter().cloned().collect();
            let before = parent_rec.entity.member_ids.len();
            for member in members.as_array().into_iter().flatten() {
                let Some(guid) = member_guid(member) else {
                    continue;
                };
                if guid == parent {
                    continue;
                }
                let mut rec = match self.ws.get(&guid)? {
                    Some(rec) if rec.deleted => continue,
                    Some(rec) => rec,
                    None => {
                        let rec = self.new_member(&guid, member);
                        if rec.entity.kind == EntityKind::Group {
                            if let Some(nested) = member.get("members") {
                                work.push((guid.clone(), nested));
                            }
                        }
                        rec
                    }
                };
                if listed.insert(guid.clone()) {
                    parent_rec.entity.member_ids.push(guid.clone());
                }
                if !rec.parent_ids.contains(&parent) {
                    rec.parent_ids.push(parent.clone());
                    self.save(rec);
                }
            }
            if parent_rec.entity.member_ids.len() != before {
                added_to_top |= parent == group;
                self.save(parent_rec);
            }
        }
        Ok(added_to_top)
    }

    /// A member created from its inline object: a group when `type` is `"group"`, else an
    /// individual; its data is the object without `guid` and `members`; version 1.
    fn new_member(&self, guid: &str, member: &Value) -> EntityRecord {
        let kind = if member.get("type").and_then(Value::as_str) == Some("group") {
            EntityKind::Group
        } else {
            EntityKind::Individual
        };
        let mut rec = self.blank(guid, kind);
        let mut data = member.as_object().cloned().unwrap_or_default();
        data.remove("guid");
        data.remove("members");
        merge_data(&mut rec.entity, &data);
        rec.entity.version = 1;
        rec
    }

    fn bump(&mut self, guid: &str) -> Result<(), StoreError> {
        if let Some(mut rec) = self.ws.get(guid)? {
            rec.entity.version += 1;
            rec.entity.last_updated = self.event.timestamp;
            self.save(rec);
        }
        Ok(())
    }

    fn remove_member(&mut self, group: &str, member: &str) -> Result<(), StoreError> {
        let Some(mut group_rec) = self.live_group(group)? else {
            return Ok(());
        };
        let before = group_rec.entity.member_ids.len();
        group_rec.entity.member_ids.retain(|m| m != member);
        if group_rec.entity.member_ids.len() == before {
            return Ok(());
        }
        group_rec.entity.version += 1;
        group_rec.entity.last_updated = self.event.timestamp;
        self.save(group_rec);
        if let Some(mut member_rec) = self.ws.get(member)? {
            member_rec.parent_ids.retain(|p| p != group);
            let is_group = member_rec.entity.kind == EntityKind::Group && !member_rec.deleted;
            self.save(member_rec);
            if is_group {
                self.cascade_delete(member)?;
            }
        }
        Ok(())
    }

    /// Tombstones `guid` and its descendants; removes each from its live parents.
    fn cascade_delete(&mut self, guid: &str) -> Result<(), StoreError> {
        let mut work = vec![guid.to_owned()];
        // Tombstoned by this cascade: parents not to read again (a group of N members is
        // a parent of each; reading its record N times would copy N member ids each time).
        let mut tombstoned = HashSet::new();
        while let Some(guid) = work.pop() {
            let Some(mut rec) = self.ws.get(&guid)? else {
                continue;
            };
            if rec.deleted {
                continue;
            }
            rec.deleted = true;
            rec.entity.version += 1;
            rec.entity.last_updated = self.event.timestamp;
            let parents = std::mem::take(&mut rec.parent_ids);
            let links: Vec<String> = rec
                .entity
                .member_ids
                .iter()
                .chain(&parents)
                .cloned()
                .collect();
            self.ws.hint(&links)?;
            work.extend(rec.entity.member_ids.iter().cloned());
            self.save(rec);
            self.effects.deleted.push(guid.clone());
            tombstoned.insert(guid.clone());
            for parent in parents {
                if tombstoned.contains(&parent) {
                    continue;
                }
                if let Some(mut p) = self.ws.get(&parent)? {
                    if p.deleted {
                        continue;
                    }
                    p.entity.member_ids.retain(|m| *m != guid);
                    p.entity.version += 1;
                    p.entity.last_updated = self.event.timestamp;
                    self.save(p);
                }
            }
        }
        Ok(())
    }
}

/// Shallow merge of event data into an entity, then the `name` and `externalId` rules.
fn merge_data(entity: &mut Entity, data: &Map<String, Value>) {
    for (k, v) in data {
        if k == "members" && entity.kind == EntityKind::Group {
            continue;
        }
        entity.data.insert(k.clone(), v.clone());
    }
    let default = match entity.kind {
        EntityKind::Individual => UNNAMED_INDIVIDUAL,
        EntityKind::Group => UNNAMED_GROUP,
    };
    // Upstream: `name` := `data.name` (when truthy) or the current name; a group's
    // `data.name` := that name, an individual's `data.name` keeps what was merged (its
    // default only when it has none).
    let given = entity.data.get("name").filter(|v| truthy(v));
    let name = match given {
        Some(Value::String(s)) => s.clone(),
        Some(other) => canonical_json(other),
        None if !entity.name.is_empty() => entity.name.clone(),
        None => default.to_owned(),
    };
    let keep_data_name = match entity.kind {
        EntityKind::Group => given.is_some(),
        EntityKind::Individual => entity.data.contains_key("name"),
    };
    if !keep_data_name {
        entity
            .data
            .insert("name".into(), Value::String(name.clone()));
    }
    entity.name = name;
    if let Some(id) = entity.data.get("externalId").and_then(guid_text) {
        entity.external_id = Some(id);
    }
}

/// A guid-like value: a non-empty string (≤ 128 chars) or a number, as text — a number in
/// canonical form (`1e2` and `100.0` are `100`, `-0.0` is `0`), as PostgreSQL gives it
/// back from `jsonb` and as `entityData` seeding writes item ids, so one member is one
/// entity however its guid was written and wherever its event was read from.
fn guid_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(_) => canonical_json(v),
        _ => return None,
    };
    (!text.is_empty() && text.chars().count() <= MAX_GUID_CHARS).then_some(text)
}

fn member_guid(member: &Value) -> Option<String> {
    member.get("guid").and_then(guid_text)
}

/// The potential-duplicate pairs `(entity, duplicate)` a `resolve-duplicate` event resolves
/// (every entry of `data.duplicates` with both guids); empty for other types. Resolution does
/// not depend on entity state.
pub fn resolved_pairs(event: &Event) -> Vec<(String, String)> {
    if event.event_type == "resolve-duplicate" {
        duplicate_pairs(&event.data)
    } else {
        Vec::new()
    }
}

fn duplicate_pairs(data: &Map<String, Value>) -> Vec<(String, String)> {
    data.get("duplicates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let a = d.get("entityGuid").and_then(guid_text)?;
            let b = d.get("duplicateGuid").and_then(guid_text)?;
            Some((a, b))
        })
        .collect()
}

/// Entity state from scratch: applies `events` in `(timestamp, guid)` order to an empty
/// state. This is the definition of the correct state; stores reach the same result
/// incrementally.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> BTreeMap<String, EntityRecord> {
    let mut sorted: Vec<&Event> = events.into_iter().collect();
    sorted.sort_by_key(|a| a.key());
    let mut state = BTreeMap::new();
    for event in sorted {
        // The in-memory workspace cannot fail.
        let _ = apply_event(&mut state, event);
    }
    state
}

#[cfg(test)]
pub(crate) mod tests;
