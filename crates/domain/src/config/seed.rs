//! `entityData` seeding: each reference-data item becomes one `create-individual` event.
//!
//! Upstream seeds with random guids and the current time, so every re-post of a config
//! creates new events. Here an item is seeded only when the entity's latest seed event does
//! not already carry the same data ([`next_seed`]), so re-posting unchanged items stores
//! nothing, while an item changed and later changed back is seeded again. A seed event is:
//! - `guid` = `"seed-"` + lower-case hex SHA-256 of (tenant id, entity guid, canonical data,
//!   guid of the entity's latest earlier seed event or nothing) — 69 characters. Chaining the
//!   earlier seed makes the guid new whenever the data differs from the latest seed (a value
//!   the entity had before gets a guid of its own), and the same for every concurrent or
//!   retried save of one config, so such saves store it once;
//! - `timestamp` = the time of the config save that seeds it (given by the caller), so a
//!   changed item is applied after the version it replaces;
//! - `userId` = `"admin"`, `syncLevel` = 1.
//!
//! When several items of a config name the same entity, the last one is seeded (one value
//! per entity, so that re-posting the config does not seed them again in turn).

use super::AppConfig;
use crate::canonical::{canonical_json, canonical_json_object, truthy};
use crate::digest::length_prefixed_sha256;
use crate::event::{validate_event, Event, SyncLevel, UserRef};
use crate::tenant::TenantId;
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Event type of seed events.
pub const SEED_EVENT_TYPE: &str = "create-individual";
/// Author of seed events.
pub const SEED_USER_ID: &str = "admin";
/// Prefix of seed event guids.
pub const SEED_GUID_PREFIX: &str = "seed-";
/// Prefix of the entity guid given to an item without a usable `id`.
pub const SEED_ENTITY_PREFIX: &str = "seed-entity-";

impl AppConfig {
    /// The `create-individual` events that seed `entityData`, in config order, one per entity
    /// guid (the last item naming it), each with the guid of a first seed (see
    /// [`next_seed`] for the guid of a later one). Each event's `data` is the item plus
    /// `entityName` (the group name), `parentGuid` (from `parentId`, when present) and `name`
    /// (the item's `name` when truthy, else its `id`).
    pub fn seed_events(&self, at: Timestamp) -> Vec<Event> {
        let events: Vec<Event> = self
            .entity_data
            .iter()
            .flat_map(|group| {
                group
                    .items
                    .iter()
                    .map(|item| seed_event(&self.id, &group.name, item, at))
            })
            .collect();
        let last: HashMap<String, usize> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.entity_guid.clone(), i))
            .collect();
        events
            .into_iter()
            .enumerate()
            .filter(|(i, e)| last.get(&e.entity_guid) == Some(i))
            .map(|(_, e)| e)
            .collect()
    }
}

impl AppConfig {
    /// The first `entityData` item whose seed event would fail the validation of a pushed
    /// event (e.g. a group name longer than an `entityName` may be), as `(path, reason)`
    /// (see [`super::parse_upload`]).
    pub(super) fn invalid_seed(&self) -> Option<(String, String)> {
        for (g, group) in self.entity_data.iter().enumerate() {
            for (j, item) in group.items.iter().enumerate() {
                let event = seed_event(&self.id, &group.name, item, Timestamp::EPOCH);
                let wire = serde_json::to_value(&event).unwrap_or(Value::Null);
                if let Err(rejection) = validate_event(&wire) {
                    return Some((format!("entityData[{g}].data[{j}]"), rejection.error));
                }
            }
        }
        None
    }
}

/// The seed event of one item of group `group` (a first seed: no earlier seed in its guid).
fn seed_event(tenant: &TenantId, group: &str, item: &Map<String, Value>, at: Timestamp) -> Event {
    let entity_guid = item.get("id").and_then(id_text).unwrap_or_else(|| {
        format!(
            "{SEED_ENTITY_PREFIX}{}",
            length_prefixed_sha256([tenant.as_str(), group, &canonical_json_object(item),])
        )
    });
    let mut event = Event {
        guid: String::new(),
        entity_guid,
        event_type: SEED_EVENT_TYPE.to_owned(),
        data: seed_data(group, item),
        timestamp: at,
        user_id: UserRef::Text(SEED_USER_ID.to_owned()),
        sync_level: SyncLevel::REMOTE,
    };
    event.guid = seed_guid(tenant, &event, None);
    event
}

/// Decides what to store for an item's seed `event` (built by [`AppConfig::seed_events`]),
/// given the latest seed event already stored for its entity, if any: nothing when that one
/// carries the same data (the item is unchanged since it was last seeded); else `event`,
/// its guid chained to the latest seed's guid and its timestamp at least a millisecond
/// after the latest seed's (so it is applied after it even if two saves share a
/// millisecond or the clock went back).
pub fn next_seed(tenant: &TenantId, mut event: Event, latest: Option<&Event>) -> Option<Event> {
    match latest {
        None => Some(event),
        Some(seeded) if same_data(&seeded.data, &event.data) => None,
        Some(seeded) => {
            event.guid = seed_guid(tenant, &event, Some(&seeded.guid));
            if event.timestamp <= seeded.timestamp {
                event.timestamp =
                    Timestamp::from_millis(seeded.timestamp.millis().saturating_add(1))
                        .unwrap_or(seeded.timestamp);
            }
            Some(event)
        }
    }
}

fn same_data(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    canonical_json_object(a) == canonical_json_object(b)
}

fn seed_guid(tenant: &TenantId, event: &Event, previous: Option<&str>) -> String {
    let data = canonical_json_object(&event.data);
    let hash = length_prefixed_sha256([
        tenant.as_str(),
        &event.entity_guid,
        &data,
        previous.unwrap_or(""),
    ]);
    format!("{SEED_GUID_PREFIX}{hash}")
}

/// An item id as an entity guid: a non-empty string as is, a number in canonical form.
pub(super) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(_) => Some(canonical_json(value)),
        _ => None,
    }
}

/// The `data` of an item's seed event.
pub(super) fn seed_data(group: &str, item: &Map<String, Value>) -> Map<String, Value> {
    let mut data = item.clone();
    data.insert("entityName".into(), Value::String(group.to_owned()));
    if let Some(parent) = item.get("parentId").and_then(id_text) {
        data.insert("parentGuid".into(), Value::String(parent));
    }
    if !item.get("name").is_some_and(truthy) {
        if let Some(id) = item.get("id").and_then(id_text) {
            data.insert("name".into(), Value::String(id));
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::event::{validate_event, MAX_GUID_CHARS};
    use serde_json::json;

    fn config(entity_data: Value) -> AppConfig {
        parse_config(&json!({"id": "prog", "name": "P", "entityForms": [],
            "entityData": entity_data}))
        .unwrap()
    }

    #[test]
    fn builds_upstream_shaped_create_individual_events() {
        let c = config(json!([{"name": "region", "data": [
            {"id": "r-001", "name": "Central", "parentId": "c-001", "code": 7},
            {"id": 42, "parentId": 9},
            {"label": "no id"}
        ]}]));
        let events = c.seed_events(Timestamp::EPOCH);
        assert_eq!(events.len(), 3);
        let e = &events[0];
        assert_eq!(e.entity_guid, "r-001");
        assert_eq!(e.event_type, "create-individual");
        assert_eq!(e.timestamp, Timestamp::EPOCH);
        assert_eq!(
            c.seed_events(Timestamp::from_millis(5).unwrap())[0]
                .timestamp
                .millis(),
            5
        );
        assert_eq!(e.user_id, UserRef::Text("admin".into()));
        assert_eq!(e.sync_level, SyncLevel::REMOTE);
        assert_eq!(
            Value::Object(e.data.clone()),
            json!({"id": "r-001", "name": "Central", "parentId": "c-001", "code": 7,
                   "entityName": "region", "parentGuid": "c-001"})
        );
        let n = &events[1];
        assert_eq!(n.entity_guid, "42");
        assert_eq!(n.data["name"], "42");
        assert_eq!(n.data["parentGuid"], "9");
        let anon = &events[2];
        assert!(anon.entity_guid.starts_with(SEED_ENTITY_PREFIX));
        assert!(anon.data.get("name").is_none());
        assert!(anon.data.get("parentGuid").is_none());
        for e in &events {
            assert!(e.guid.starts_with(SEED_GUID_PREFIX));
            assert!(e.guid.chars().count() <= MAX_GUID_CHARS);
            assert!(e.entity_guid.chars().count() <= MAX_GUID_CHARS);
            // A seed event passes the same validation as a pushed one.
            let back = validate_event(&serde_json::to_value(e).unwrap()).unwrap();
            assert_eq!(back.content_hash(), e.content_hash());
        }
    }

    #[test]
    fn falsy_name_falls_back_to_id() {
        let c = config(
            json!([{"name": "g", "data": [{"id": "x", "name": ""}, {"id": "y", "name": 0}]}]),
        );
        let events = c.seed_events(Timestamp::EPOCH);
        assert_eq!(events[0].data["name"], "x");
        assert_eq!(events[1].data["name"], "y");
    }

    #[test]
    fn group_name_overrides_an_item_entity_name() {
        let c = config(json!([{"name": "g", "data": [{"id": "x", "entityName": "other"}]}]));
        assert_eq!(c.seed_events(Timestamp::EPOCH)[0].data["entityName"], "g");
    }

    #[test]
    fn same_items_give_identical_events_and_changes_give_new_ones() {
        let a = config(json!([{"name": "g", "data": [{"id": "x", "name": "A", "n": 1.0}]}]));
        // Key order and number form do not matter.
        let same = config(json!([{"name": "g", "data": [{"n": 1, "name": "A", "id": "x"}]}]));
        let changed = config(json!([{"name": "g", "data": [{"id": "x", "name": "B", "n": 1}]}]));
        let other_group =
            config(json!([{"name": "h", "data": [{"id": "x", "name": "A", "n": 1}]}]));
        let ea = a.seed_events(Timestamp::EPOCH);
        let es = same.seed_events(Timestamp::EPOCH);
        assert_eq!(ea[0].guid, es[0].guid);
        assert_eq!(ea[0].content_hash(), es[0].content_hash());
        let ec = changed.seed_events(Timestamp::EPOCH);
        assert_ne!(ea[0].guid, ec[0].guid);
        assert_eq!(ea[0].entity_guid, ec[0].entity_guid);
        assert_ne!(
            ea[0].guid,
            other_group.seed_events(Timestamp::EPOCH)[0].guid
        );
        // Another tenant gets other guids.
        let mut t = a.clone();
        t.id = crate::tenant::TenantId::parse("prog2").unwrap();
        assert_ne!(t.seed_events(Timestamp::EPOCH)[0].guid, ea[0].guid);
    }

    #[test]
    fn the_last_item_naming_an_entity_is_seeded() {
        let c = config(json!([
            {"name": "g", "data": [{"id": "x", "name": "first"}, {"id": "y"}]},
            {"name": "h", "data": [{"id": "x", "name": "last"}]}
        ]));
        let events = c.seed_events(Timestamp::EPOCH);
        let seeded: Vec<_> = events
            .iter()
            .map(|e| (e.entity_guid.as_str(), e.data["name"].as_str().unwrap()))
            .collect();
        assert_eq!(seeded, [("y", "y"), ("x", "last")]);
    }

    #[test]
    fn next_seed_skips_the_latest_data_and_chains_the_guid_otherwise() {
        let tenant = crate::tenant::TenantId::parse("prog").unwrap();
        let seed = |name: &str| {
            config(json!([{"name": "g", "data": [{"id": "x", "name": name}]}]))
                .seed_events(Timestamp::from_millis(7).unwrap())
                .remove(0)
        };
        let (a, b) = (seed("A"), seed("B"));
        // First seed: kept as built.
        assert_eq!(next_seed(&tenant, a.clone(), None), Some(a.clone()));
        // Unchanged since the latest seed (whatever its timestamp or number form): nothing.
        let mut latest = a.clone();
        latest.timestamp = Timestamp::EPOCH;
        latest.data.insert("n".into(), json!(1.0));
        let mut same = a.clone();
        same.data.insert("n".into(), json!(1));
        assert_eq!(next_seed(&tenant, same, Some(&latest)), None);
        // Changed: a guid chained to the latest seed, the same for every save that sees it.
        let b_after_a = next_seed(&tenant, b.clone(), Some(&a)).unwrap();
        assert_ne!(b_after_a.guid, b.guid);
        assert_eq!(
            next_seed(&tenant, b.clone(), Some(&a)),
            Some(b_after_a.clone())
        );
        assert!(b_after_a.guid.starts_with(SEED_GUID_PREFIX));
        assert_eq!(b_after_a.guid.chars().count(), 69);
        // Changed back: not the guid A was first seeded with, which is already stored.
        let a_again = next_seed(&tenant, a.clone(), Some(&b_after_a)).unwrap();
        assert_ne!(a_again.guid, a.guid);
        assert_eq!(a_again.data, a.data);
        // A save in the same millisecond as the latest seed, or with the clock gone back,
        // still comes after it.
        assert_eq!(
            (b_after_a.timestamp.millis(), a_again.timestamp.millis()),
            (8, 9)
        );
        let mut later = b_after_a.clone();
        later.timestamp = Timestamp::from_millis(100).unwrap();
        assert_eq!(
            next_seed(&tenant, a.clone(), Some(&later))
                .unwrap()
                .timestamp
                .millis(),
            101
        );
    }

    #[test]
    fn no_entity_data_means_no_events() {
        let c = parse_config(&json!({"id": "p", "name": "P", "entityForms": []})).unwrap();
        assert!(c.seed_events(Timestamp::EPOCH).is_empty());
    }
}
