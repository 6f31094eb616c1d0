//! `entityData` seeding: each reference-data item becomes one `create-individual` event.
//!
//! Upstream seeds with random guids and the current time, so every re-post of a config
//! creates new events. Here a seed event is a pure function of (tenant id, group name,
//! canonical item JSON):
//! - `guid` = `"seed-"` + lower-case hex SHA-256 of those three parts (69 characters);
//! - `timestamp` = the time of the config save that seeds it (given by the caller), so a
//!   changed item re-posted later is applied after the version it replaces;
//! - `userId` = `"admin"`, `syncLevel` = 1.
//!
//! Re-posting an unchanged item yields the same guid again: the push reports it as a
//! duplicate or, because the timestamp differs, as a guid conflict — either way it is not
//! stored twice, and the seeding use case treats both as "already seeded". A changed item
//! yields a new guid, a new event for the same entity, applied after the old one.

use super::AppConfig;
use crate::canonical::canonical_json;
use crate::event::{Event, SyncLevel, UserRef};
use crate::time::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Event type of seed events.
pub const SEED_EVENT_TYPE: &str = "create-individual";
/// Author of seed events.
pub const SEED_USER_ID: &str = "admin";
/// Prefix of seed event guids.
pub const SEED_GUID_PREFIX: &str = "seed-";
/// Prefix of the entity guid given to an item without a usable `id`.
pub const SEED_ENTITY_PREFIX: &str = "seed-entity-";

impl AppConfig {
    /// The `create-individual` events that seed `entityData`, in config order (see the
    /// module documentation for the deterministic guid and timestamp). Each event's `data`
    /// is the item plus `entityName` (the group name), `parentGuid` (from `parentId`, when
    /// present) and `name` (the item's `name` when truthy, else its `id`).
    pub fn seed_events(&self, at: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        for group in &self.entity_data {
            for item in &group.items {
                let hash = seed_hash(self.id.as_str(), &group.name, item);
                let entity_guid = item
                    .get("id")
                    .and_then(id_text)
                    .unwrap_or_else(|| format!("{SEED_ENTITY_PREFIX}{hash}"));
                events.push(Event {
                    guid: format!("{SEED_GUID_PREFIX}{hash}"),
                    entity_guid,
                    event_type: SEED_EVENT_TYPE.to_owned(),
                    data: seed_data(&group.name, item),
                    timestamp: at,
                    user_id: UserRef::Text(SEED_USER_ID.to_owned()),
                    sync_level: SyncLevel::REMOTE,
                });
            }
        }
        events
    }
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

/// JavaScript truthiness, as upstream's `item.name || item.id`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn seed_hash(tenant: &str, group: &str, item: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    for part in [tenant, group, &canonical_json(&Value::Object(item.clone()))] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    fn no_entity_data_means_no_events() {
        let c = parse_config(&json!({"id": "p", "name": "P", "entityForms": []})).unwrap();
        assert!(c.seed_events(Timestamp::EPOCH).is_empty());
    }

    #[test]
    fn truthiness_follows_javascript() {
        assert!(!truthy(&json!(null)));
        assert!(!truthy(&json!(false)));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!("")));
        assert!(truthy(&json!("0")));
        assert!(truthy(&json!([])));
        assert!(truthy(&json!(-1.5)));
    }
}
