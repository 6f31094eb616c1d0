//! Push and pull (SPEC §3.2, §3.3): the routes field devices call on every sync.

use crate::config::AppConfig;
use crate::cursor::{Cursor, Seq, Since};
use crate::error::DomainError;
use crate::event::{validate_event, Event, Rejection, SyncLevel};
use crate::ports::{
    AuditEntry, AuditStore, Clock, ConfigStore, EntityStore, EventStore, PushBatch,
};
use crate::principal::Principal;
use crate::services::context::body_config_id;
pub use crate::services::context::tenant_of;
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Most events accepted in one push request (413 beyond).
pub const MAX_PUSH_EVENTS: usize = 5_000;
/// Pull page size when `limit` is absent.
pub const DEFAULT_PULL_LIMIT: u32 = 500;
/// Largest pull page (a larger `limit` is clamped to it).
pub const MAX_PULL_LIMIT: u32 = 5_000;
/// Most bytes of event `data` (as JSON text) in one pull page: a page ends with the event
/// that reaches it, so 5,000 events of up to 256 KiB each never make one response of 1.25 GB.
pub const MAX_PULL_PAGE_DATA_BYTES: usize = 4 << 20;
/// The warning pulls carry while the tenant has unresolved potential duplicates.
pub const DUPLICATES_WARNING: &str =
    "Unresolved potential duplicates exist. Please review them on the admin page.";

/// Body of a successful push (v2 field names).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PushResponse {
    /// Always `"success"` (legacy clients check it).
    pub status: &'static str,
    /// Events newly stored and applied.
    pub applied: u64,
    /// Events already stored with the same content.
    pub duplicates: u64,
    /// Number of rejected events (`errors.len()`).
    pub failed: u64,
    /// One entry per rejected event.
    pub errors: Vec<Rejection>,
    /// Tenant position after this push.
    pub cursor: String,
}

/// Body of a pull page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// Events in commit order.
    pub events: Vec<Event>,
    /// Where to continue, or `null` when this page reached the end.
    pub next_cursor: Option<String>,
    /// Resume position after the last event returned (the input position when empty).
    pub cursor: String,
    /// Present while the tenant has unresolved potential duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<&'static str>>,
}

/// Push and pull for one server.
pub struct SyncService {
    events: Arc<dyn EventStore>,
    entities: Arc<dyn EntityStore>,
    configs: Arc<dyn ConfigStore>,
    audit: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
}

impl SyncService {
    /// Builds the service over its ports.
    pub fn new(
        events: Arc<dyn EventStore>,
        entities: Arc<dyn EntityStore>,
        configs: Arc<dyn ConfigStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SyncService {
            events,
            entities,
            configs,
            audit,
            clock,
        }
    }

    /// `POST /api/sync/push/audit-logs {configId, auditLogs: [...]}`: stores the entries with
    /// `userId` set to the caller (clients cannot write in someone else's name); an entry
    /// whose guid is already stored is ignored. Returns `{status, stored}`.
    ///
    /// # Errors
    /// 400 `INVALID_CONFIG_ID`; 400 `INVALID_BODY` (not an array, or an entry without
    /// `guid`/`timestamp`/`action`); 413 `TOO_MANY_EVENTS` beyond 5,000 entries; 403; 404;
    /// storage errors.
    pub async fn push_audit(&self, who: &Principal, body: &Value) -> Result<Value, DomainError> {
        let config_id = body_config_id(body)?;
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let raw = body
            .get("auditLogs")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                DomainError::bad_request("INVALID_BODY", "auditLogs must be an array")
            })?;
        if raw.len() > MAX_PUSH_EVENTS {
            return Err(DomainError::new(
                crate::error::ErrorKind::TooLarge,
                "TOO_MANY_EVENTS",
                format!("At most {MAX_PUSH_EVENTS} audit entries per push"),
            ));
        }
        let mut entries = Vec::with_capacity(raw.len());
        for (i, item) in raw.iter().enumerate() {
            if crate::nul::holds_nul(item) {
                // PostgreSQL cannot store it; refused on every backend alike.
                return Err(DomainError::bad_request(
                    "INVALID_BODY",
                    format!("auditLogs[{i}] must not contain NUL characters"),
                ));
            }
            let mut item = item.clone();
            if let Value::Object(map) = &mut item {
                map.insert("userId".into(), Value::String(who.user_id.to_string()));
            }
            let entry: AuditEntry = serde_json::from_value(item).map_err(|_| {
                DomainError::bad_request(
                    "INVALID_BODY",
                    format!("auditLogs[{i}] needs guid, timestamp, userId and action"),
                )
            })?;
            entries.push(entry);
        }
        let stored = self.audit.append_audit(&tenant, &entries).await?;
        Ok(serde_json::json!({"status": "success", "stored": stored}))
    }

    /// `GET /api/sync/pull/audit-logs?configId=&since=&after=&limit=`: entries with a timestamp
    /// after `since` (all when absent), in storage order, each with its `id`; pass the last
    /// `id` as `after` for the next page. Legacy shape: a bare array.
    ///
    /// # Errors
    /// 400 `INVALID_SINCE` / `INVALID_LIMIT`; 403; 404; storage errors.
    pub async fn pull_audit(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        since: Option<&str>,
        after: Option<i64>,
        limit: Option<&str>,
    ) -> Result<Vec<Value>, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(Timestamp::parse(text).ok_or_else(|| {
                DomainError::bad_request("INVALID_SINCE", "since must be an ISO-8601 timestamp")
            })?),
        };
        let limit = parse_limit(limit)?;
        let rows = self
            .audit
            .list_audit(&tenant, since, after.unwrap_or(0), limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, entry)| {
                let mut v = serde_json::to_value(entry).unwrap_or_default();
                v["id"] = Value::from(id);
                v
            })
            .collect())
    }

    /// `GET /api/sync/rejected?configId=&after=&limit=` (admin): `{events: [{id, event,
    /// code, error, receivedAt, pushedBy}], nextAfter}` — quarantined events with their
    /// reason, oldest first; `nextAfter` (the last `id`, to pass as `after`) is `null` exactly
    /// when this page reached the end. `limit` as for pulls (default 500, max 5,000).
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 400 `INVALID_LIMIT`; 404; storage errors.
    pub async fn rejected(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        after: Option<i64>,
        limit: Option<&str>,
    ) -> Result<Value, DomainError> {
        who.require_admin()?;
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let limit = parse_limit(limit)?;
        let mut rows = self
            .events
            .quarantined(&tenant, after.unwrap_or(0), limit + 1)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = more.then(|| rows.last().map(|r| r.id)).flatten();
        let events: Vec<Value> = rows
            .into_iter()
            .map(|q| {
                serde_json::json!({"id": q.id, "event": q.raw, "code": q.code, "error": q.error,
                                   "receivedAt": q.received_at, "pushedBy": q.pushed_by})
            })
            .collect();
        Ok(serde_json::json!({"events": events, "nextAfter": next}))
    }

    /// `GET /api/sync/pull/callback?configId=`: upstream's placeholder. Checks the caller's
    /// access and the tenant like every tenant route, then answers
    /// `{"status": "not implemented"}`.
    ///
    /// # Errors
    /// 400 `INVALID_CONFIG_ID`; 403; 404; storage errors.
    pub async fn pull_callback(
        &self,
        who: &Principal,
        config_id: Option<&str>,
    ) -> Result<Value, DomainError> {
        tenant_of(self.configs.as_ref(), who, config_id).await?;
        Ok(serde_json::json!({"status": "not implemented"}))
    }

    /// Pushes a batch: `{configId?, events: [...]}`. Valid events are stored with sync
    /// level 1 whatever the client sent; invalid ones are quarantined and reported.
    ///
    /// # Errors
    /// 400 `INVALID_CONFIG_ID` / `INVALID_BODY`; 403 `TENANT_FORBIDDEN` (checked before the
    /// tenant's existence is revealed); 404 unknown tenant; 409 `CONFIG_ARCHIVED`; 413
    /// `TOO_MANY_EVENTS`; storage errors.
    pub async fn push(&self, who: &Principal, body: &Value) -> Result<PushResponse, DomainError> {
        let config_id = body_config_id(body)?;
        let (tenant, record) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        if record.archived_at.is_some() {
            return Err(DomainError::conflict(
                "CONFIG_ARCHIVED",
                "This program is archived and accepts no pushes",
            ));
        }
        let raw_events = body
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| DomainError::bad_request("INVALID_BODY", "events must be an array"))?;
        if raw_events.len() > MAX_PUSH_EVENTS {
            return Err(DomainError::new(
                crate::error::ErrorKind::TooLarge,
                "TOO_MANY_EVENTS",
                format!("At most {MAX_PUSH_EVENTS} events per push"),
            ));
        }
        let config = AppConfig::from_document(&record.document)?;
        let mut batch = PushBatch {
            pushed_by: Some(who.user_id.to_string()),
            received_at: self.clock.now(),
            rules: config.duplicate_rules(),
            ..PushBatch::default()
        };
        for raw in raw_events {
            match validate_event(raw) {
                Ok(mut event) => {
                    event.sync_level = SyncLevel::REMOTE;
                    batch.events.push(event);
                }
                Err(why) => batch.rejected.push((raw.clone(), why)),
            }
        }
        let outcome = self.events.push(&tenant, batch).await?;
        Ok(PushResponse {
            status: "success",
            applied: outcome.applied,
            duplicates: outcome.duplicates,
            failed: outcome.errors.len() as u64,
            errors: outcome.errors,
            cursor: Cursor(outcome.head).encode(),
        })
    }

    /// One pull page (SPEC §3.3). `since` may be empty, a cursor we issued, or a legacy ISO
    /// timestamp; `limit` defaults to 500 and is clamped to 5,000.
    ///
    /// # Errors
    /// 400 `INVALID_CONFIG_ID` / `INVALID_SINCE` / `INVALID_LIMIT`; 403; 404; storage errors.
    pub async fn pull(
        &self,
        who: &Principal,
        config_id: Option<&str>,
        since: Option<&str>,
        limit: Option<&str>,
    ) -> Result<PullResponse, DomainError> {
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, config_id).await?;
        let limit = parse_limit(limit)?;
        let since = Since::parse(since)
            .map_err(|e| DomainError::bad_request("INVALID_SINCE", e.to_string()))?;
        let after = match since {
            Since::Start => Seq(0),
            Since::After(seq) => seq,
            Since::Timestamp(at) => {
                // The head is read first: an event committed between the two reads then lies
                // after it and is served, where a head read second could count it and skip it.
                let head = self.events.head(&tenant).await?;
                match self.events.first_seq_at_or_after(&tenant, at).await? {
                    Some(first) => Seq(first.0 - 1),
                    None => head,
                }
            }
        };
        let page = self
            .events
            .pull(&tenant, after, limit, MAX_PULL_PAGE_DATA_BYTES)
            .await?;
        let last = page.events.last().map_or(after, |e| e.seq);
        let cursor = Cursor(last).encode();
        let warnings = if self.entities.has_duplicates(&tenant).await? {
            Some(vec![DUPLICATES_WARNING])
        } else {
            None
        };
        Ok(PullResponse {
            events: page.events.into_iter().map(|e| e.event).collect(),
            next_cursor: page.more.then(|| cursor.clone()),
            cursor,
            warnings,
        })
    }
}

/// Parses `limit` of a pull: absent → 500; 1..; larger than 5,000 → 5,000.
fn parse_limit(limit: Option<&str>) -> Result<u32, DomainError> {
    match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(DEFAULT_PULL_LIMIT),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n.min(u64::from(MAX_PULL_LIMIT)) as u32),
            _ => Err(DomainError::bad_request(
                "INVALID_LIMIT",
                "limit must be a positive integer",
            )),
        },
    }
}

#[cfg(test)]
mod tests;
