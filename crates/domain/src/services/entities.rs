//! Entity queries and potential-duplicate review (SPEC §3.5, §4.3; reference §2.4, §2.5).

use crate::canonical::truthy;
use crate::cursor::{Cursor, Seq};
use crate::entity::{Entity, EntityKind};
use crate::error::DomainError;
use crate::event::{Event, SyncLevel, UserRef};
use crate::ports::{
    Clock, ConfigStore, DuplicatePair, EntityQuery, EntityStore, EventFilter, EventStore,
    IdGenerator, PushBatch,
};
use crate::principal::Principal;
use crate::services::context::{body_config_id, tenant_of};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Entity list page size when `limit` is absent.
pub const DEFAULT_ENTITY_LIMIT: u32 = 100;
/// Largest entity list page.
pub const MAX_ENTITY_LIMIT: u32 = 1_000;
/// Most criteria of one entity search.
pub const MAX_SEARCH_CRITERIA: usize = 10;
/// Events returned for one entity's history.
pub const MAX_ENTITY_EVENTS: u32 = 10_000;
/// Members of a group read per storage query by `GET /api/entities/:guid/members`.
const MEMBERS_PER_QUERY: usize = 1_000;

/// Legacy list item and v2 entity view: `{guid, id, name, entityName, type, data, memberIds?,
/// lastUpdated}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityView {
    /// Entity guid.
    pub guid: String,
    /// Same as `guid` (upstream `id`).
    pub id: String,
    /// `data.name`, else the entity name.
    pub name: Value,
    /// `data.entityName`.
    pub entity_name: Value,
    /// `individual` or `group`.
    #[serde(rename = "type")]
    pub kind: EntityKind,
    /// Merged data.
    pub data: Map<String, Value>,
    /// Members, for groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_ids: Option<Vec<String>>,
    /// Timestamp of the last event applied.
    pub last_updated: String,
}

impl From<Entity> for EntityView {
    fn from(e: Entity) -> Self {
        // Upstream: `data.name || modified.name`.
        let name = e
            .data
            .get("name")
            .filter(|n| truthy(n))
            .cloned()
            .unwrap_or(Value::String(e.name.clone()));
        EntityView {
            guid: e.guid.clone(),
            id: e.guid,
            name,
            entity_name: e.data.get("entityName").cloned().unwrap_or(Value::Null),
            kind: e.kind,
            member_ids: (e.kind == EntityKind::Group).then_some(e.member_ids),
            data: e.data,
            last_updated: e.last_updated.to_iso(),
        }
    }
}

/// A page of events with the cursor to continue from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    /// Events in commit order.
    pub events: Vec<Event>,
    /// Where to continue, or `null` at the end.
    pub next_cursor: Option<String>,
}

/// Legacy duplicate pair `{entityGuid, duplicateGuid}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateView {
    /// The flagged (newer) entity.
    pub entity_guid: String,
    /// The existing entity it matches.
    pub duplicate_guid: String,
}

/// Query parameters of `GET /api/entities` (raw text as received).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityListParams {
    /// `configId`.
    pub config_id: Option<String>,
    /// `limit` (default 100, max 1000).
    pub limit: Option<String>,
    /// `offset` (default 0).
    pub offset: Option<String>,
    /// `entityName` filter.
    pub entity_name: Option<String>,
    /// `type` filter (`individual` / `group`).
    pub kind: Option<String>,
    /// `q`: name substring.
    pub q: Option<String>,
}

/// Entity queries and duplicate review for one server.
pub struct EntityService {
    events: Arc<dyn EventStore>,
    entities: Arc<dyn EntityStore>,
    configs: Arc<dyn ConfigStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

fn parse_number(
    text: Option<&str>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, DomainError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => t.parse::<u64>().map(|n| n.min(max)).map_err(|_| {
            DomainError::bad_request(
                if name == "offset" {
                    "INVALID_OFFSET"
                } else {
                    "INVALID_LIMIT"
                },
                format!("{name} must be a non-negative integer"),
            )
        }),
    }
}

/// `limit` of the entity, event and duplicate listings: absent → `default`; 1..; larger
/// than 1,000 → 1,000.
fn parse_limit(text: Option<&str>, default: u32) -> Result<u32, DomainError> {
    let limit = parse_number(
        text,
        "limit",
        u64::from(default),
        u64::from(MAX_ENTITY_LIMIT),
    )?;
    if limit == 0 {
        return Err(DomainError::bad_request(
            "INVALID_LIMIT",
            "limit must be a positive integer",
        ));
    }
    Ok(limit as u32)
}

impl EntityService {
    /// Builds the service over its ports.
    pub fn new(
        events: Arc<dyn EventStore>,
        entities: Arc<dyn EntityStore>,
        configs: Arc<dyn ConfigStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        EntityService {
            events,
            entities,
            configs,
            clock,
            ids,
        }
    }

    /// `GET /api/entities`: live entities, newest first, paginated in storage.
    ///
    /// # Errors
    /// 400 `INVALID_LIMIT` / `INVALID_OFFSET` / `INVALID_TYPE`; 403; 404; storage errors.
    pub async fn list(
        &self,
        who: &Principal,
        p: &EntityListParams,
    ) -> Result<Vec<EntityView>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, p.config_id.as_deref()).await?;
        let limit = parse_limit(p.limit.as_deref(), DEFAULT_ENTITY_LIMIT)?;
        let offset = parse_number(p.offset.as_deref(), "offset", 0, u64::MAX)?;
        let kind = match p.kind.as_deref().filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => Some(EntityKind::parse(k).ok_or_else(|| {
                DomainError::bad_request("INVALID_TYPE", "type must be individual or group")
            })?),
        };
        let query = EntityQuery {
            entity_name: p.entity_name.clone().filter(|s| !s.is_empty()),
            kind,
            name_contains: p.q.clone().filter(|s| !s.trim().is_empty()),
            offset,
            limit,
        };
        Ok(self
            .entities
            .list_entities(&tenant, &query)
            .await?
            .into_iter()
            .map(EntityView::from)
            .collect())
    }

    /// `GET /api/entities/count` → `{count}`.
    ///
    /// # Errors
    /// 403; 404; storage errors.
    pub async fn count(
        &self,
        who: &Principal,
        config_id: Option<&str>,
    ) -> Result<Value, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        Ok(json!({"count": self.entities.count_entities(&tenant).await?}))
    }

    /// `GET /api/entities/count-by-form` → `{"<entityName>": n}`.
    ///
    /// # Errors
    /// 403; 404; storage errors.
    pub async fn count_by_form(
        &self,
        who: &Principal,
        config_id: Option<&str>,
    ) -> Result<BTreeMap<String, u64>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        Ok(self.entities.count_by_form(&tenant).await?)
    }

    /// `GET /api/entities/:guid`.
    ///
    /// # Errors
    /// 404 `ENTITY_NOT_FOUND`; 403; storage errors.
    pub async fn get(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        guid: &str,
    ) -> Result<EntityView, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        self.entities
            .get_entity(&tenant, guid)
            .await?
            .map(EntityView::from)
            .ok_or_else(|| DomainError::not_found("ENTITY_NOT_FOUND", "Entity not found"))
    }

    /// `GET /api/entities/:guid/members`: the live members of a group.
    ///
    /// # Errors
    /// 404 `ENTITY_NOT_FOUND`; 403; storage errors.
    pub async fn members(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        guid: &str,
    ) -> Result<Vec<EntityView>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let group = self
            .entities
            .get_entity(&tenant, guid)
            .await?
            .ok_or_else(|| DomainError::not_found("ENTITY_NOT_FOUND", "Entity not found"))?;
        let mut found = HashMap::with_capacity(group.member_ids.len());
        for chunk in group.member_ids.chunks(MEMBERS_PER_QUERY) {
            for m in self.entities.get_entities(&tenant, chunk).await? {
                found.insert(m.guid.clone(), m);
            }
        }
        // In the group's member order, each member once.
        Ok(group
            .member_ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(EntityView::from)
            .collect())
    }

    /// `GET /api/entities/:guid/events`: the entity's events in application order, at most
    /// [`MAX_ENTITY_EVENTS`] (`[]` for a guid with no events).
    ///
    /// # Errors
    /// 403; 404 `CONFIG_NOT_FOUND`; storage errors.
    pub async fn entity_events(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        guid: &str,
    ) -> Result<Vec<Event>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let events = self
            .events
            .entity_events(&tenant, guid, MAX_ENTITY_EVENTS)
            .await?;
        Ok(events.into_iter().map(|e| e.event).collect())
    }

    /// `POST /api/entities/search {configId, criteria: [{field: value}], limit}`: ANDed
    /// equality on top-level data fields, parameterised in storage.
    ///
    /// # Errors
    /// 400 `INVALID_CRITERIA` (not a list of one-key objects, more than 10, bad field name,
    /// a NUL character); 400 `INVALID_LIMIT` (a `limit` that is not a positive integer;
    /// larger ones are clamped to 1,000); 403; 404; storage errors.
    pub async fn search(
        &self,
        who: &Principal,
        body: &Value,
    ) -> Result<Vec<EntityView>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, body_config_id(body)?).await?;
        let bad = |m: &str| DomainError::bad_request("INVALID_CRITERIA", m.to_owned());
        let list = body
            .get("criteria")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("criteria must be an array"))?;
        if list.len() > MAX_SEARCH_CRITERIA {
            return Err(bad("at most 10 criteria"));
        }
        let mut criteria = Vec::new();
        for c in list {
            let obj = c
                .as_object()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| bad("each criterion must be an object {field: value}"))?;
            for (field, value) in obj {
                let valid = !field.is_empty()
                    && field.len() <= 64
                    && field
                        .chars()
                        .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '-');
                if !valid || value.is_object() || value.is_array() {
                    return Err(bad("criteria fields are data keys with primitive values"));
                }
                if crate::nul::holds_nul(value) {
                    // Nothing stored holds one, and PostgreSQL cannot compare text with it.
                    return Err(bad("criteria values must not contain NUL characters"));
                }
                criteria.push((field.clone(), value.clone()));
            }
        }
        if criteria.len() > MAX_SEARCH_CRITERIA {
            return Err(bad("at most 10 criteria"));
        }
        let limit = match body.get("limit") {
            None | Some(Value::Null) => u64::from(DEFAULT_ENTITY_LIMIT),
            Some(n) => n.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                DomainError::bad_request("INVALID_LIMIT", "limit must be a positive integer")
            })?,
        }
        .min(u64::from(MAX_ENTITY_LIMIT));
        let found = self
            .entities
            .search_entities(&tenant, &criteria, limit as u32)
            .await?;
        Ok(found.into_iter().map(EntityView::from).collect())
    }

    /// `GET /api/events?configId=&entityGuid=&type=&cursor=&limit=`.
    ///
    /// `limit` defaults to 100 and is clamped to 1,000; `nextCursor` is `null` exactly when
    /// this page reached the end.
    ///
    /// # Errors
    /// 400 `INVALID_CURSOR` / `INVALID_LIMIT`; 403; 404; storage errors.
    pub async fn events(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        filter: EventFilter,
        cursor: Option<&str>,
        limit: Option<&str>,
    ) -> Result<EventPage, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => Seq(0),
            Some(c) => {
                Cursor::decode(c)
                    .ok_or_else(|| {
                        DomainError::bad_request(
                            "INVALID_CURSOR",
                            "cursor was not issued by this server",
                        )
                    })?
                    .0
            }
        };
        let limit = parse_limit(limit, DEFAULT_ENTITY_LIMIT)?;
        let mut page = self
            .events
            .list_events(&tenant, &filter, after, limit + 1)
            .await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_cursor = more
            .then(|| page.last().map(|e| Cursor(e.seq).encode()))
            .flatten();
        Ok(EventPage {
            events: page.into_iter().map(|e| e.event).collect(),
            next_cursor,
        })
    }

    /// `GET /api/potential-duplicates?configId=&offset=&limit=`: pending pairs (legacy
    /// shape), paginated; `limit` as for the entity listing but 1,000 when absent (upstream
    /// lists every pair).
    ///
    /// # Errors
    /// 400 `INVALID_LIMIT` / `INVALID_OFFSET`; 403; 404; storage errors.
    pub async fn duplicates(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        offset: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Vec<DuplicateView>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let limit = parse_limit(limit, MAX_ENTITY_LIMIT)?;
        let offset = parse_number(offset, "offset", 0, u64::MAX)?;
        let pairs = self
            .entities
            .list_duplicates(&tenant, offset, limit)
            .await?;
        Ok(pairs
            .into_iter()
            .map(|p| DuplicateView {
                entity_guid: p.entity_guid,
                duplicate_guid: p.duplicate_guid,
            })
            .collect())
    }

    /// `POST /api/potential-duplicates/resolve {newItem, existingItem, shouldDeleteNewItem,
    /// configId}`. Deleting emits a `resolve-duplicate` event (sync level 0, author = the
    /// caller's id) so the resolution replicates to devices; keeping both is remembered.
    ///
    /// The pair is not looked up before a delete (upstream does not either; the port has no
    /// single-pair probe): deleting an entity that does not exist is refused, deleting one
    /// that exists emits the event, which also clears the pair when it is pending.
    ///
    /// # Errors
    /// 400 `INVALID_CONFIG_ID`; 400 `INVALID_BODY` (missing guids, guids with a NUL
    /// character, non-boolean `shouldDeleteNewItem`); 404 `DUPLICATE_NOT_FOUND` (keep-both of an unknown pair, or
    /// delete of an entity that does not exist); 403; storage errors.
    pub async fn resolve(&self, who: &Principal, body: &Value) -> Result<Value, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, body_config_id(body)?).await?;
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (Some(new_item), Some(existing)) = (text("newItem"), text("existingItem")) else {
            return Err(DomainError::bad_request(
                "INVALID_BODY",
                "newItem and existingItem are required",
            ));
        };
        if new_item.contains('\0') || existing.contains('\0') {
            // No entity guid holds one, and PostgreSQL cannot compare text with it.
            return Err(DomainError::bad_request(
                "INVALID_BODY",
                "newItem and existingItem must not contain NUL characters",
            ));
        }
        let pair = DuplicatePair {
            entity_guid: new_item.clone(),
            duplicate_guid: existing.clone(),
        };
        let delete = match body.get("shouldDeleteNewItem") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(DomainError::bad_request(
                    "INVALID_BODY",
                    "shouldDeleteNewItem must be a boolean",
                ))
            }
        };
        if !delete {
            if !self.entities.keep_both(&tenant, &pair).await? {
                return Err(DomainError::not_found(
                    "DUPLICATE_NOT_FOUND",
                    "No such potential duplicate",
                ));
            }
            return Ok(json!({"status": "success"}));
        }
        if self
            .entities
            .get_entity(&tenant, &new_item)
            .await?
            .is_none()
        {
            return Err(DomainError::not_found(
                "DUPLICATE_NOT_FOUND",
                "No such potential duplicate",
            ));
        }
        let mut data = Map::new();
        data.insert(
            "duplicates".into(),
            json!([{"entityGuid": new_item, "duplicateGuid": existing}]),
        );
        data.insert("shouldDelete".into(), Value::Bool(true));
        let now = self.clock.now();
        let event = Event {
            guid: self.ids.uuid(),
            entity_guid: new_item,
            event_type: "resolve-duplicate".into(),
            data,
            timestamp: now,
            user_id: UserRef::Number(who.user_id.into()),
            sync_level: SyncLevel::LOCAL,
        };
        let batch = PushBatch {
            events: vec![event],
            pushed_by: Some(who.user_id.to_string()),
            received_at: now,
            ..PushBatch::default()
        };
        self.events.push(&tenant, batch).await?;
        Ok(json!({"status": "success"}))
    }
}

#[cfg(test)]
mod tests;
