//! Entities: individuals and groups, the state that events build.

use crate::event::EventKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether an entity is a person or a group of entities (household, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    /// A person.
    Individual,
    /// A group with `memberIds`.
    Group,
}

impl EntityKind {
    /// `"individual"` or `"group"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Individual => "individual",
            EntityKind::Group => "group",
        }
    }

    /// Parses `"individual"` / `"group"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "individual" => Some(EntityKind::Individual),
            "group" => Some(EntityKind::Group),
            _ => None,
        }
    }
}

/// Current state of an entity (upstream `EntityDoc` / `GroupDoc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// Entity id (= the `entityGuid` of the events that build it).
    pub guid: String,
    /// Individual or group.
    #[serde(rename = "type")]
    pub kind: EntityKind,
    /// Display name (`data.name`, else a default).
    pub name: String,
    /// Number of changes applied (starts at 1 on creation).
    pub version: i64,
    /// Merged payload.
    pub data: Map<String, Value>,
    /// Members of a group, in the order they were added (empty for individuals).
    #[serde(default)]
    pub member_ids: Vec<String>,
    /// Id in an external system, from `data.externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Timestamp of the last event applied (deterministic, not the server clock).
    pub last_updated: Timestamp,
}

impl Entity {
    /// `data.entityName` when it is a string (the entity form the entity belongs to).
    pub fn entity_name(&self) -> Option<&str> {
        self.data.get("entityName").and_then(Value::as_str)
    }
}

/// What a store persists per entity: the state plus bookkeeping the fold needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRecord {
    /// The entity's state (its last state when deleted).
    pub entity: Entity,
    /// Tombstone: deleted entities stay deleted, are hidden from queries, and later events
    /// addressed to them change nothing.
    pub deleted: bool,
    /// Groups that list this entity in `memberIds` (the reverse of `member_ids`).
    pub parent_ids: Vec<String>,
    /// The greatest key of the events that referenced or changed this entity. An event with
    /// a greater key than every entity it affects can be applied incrementally.
    pub last_key: EventKey,
    /// Duplicate-detection key of the current state (`None` when deleted or no rule applies).
    pub match_key: Option<String>,
}
