//! Program configuration admin (SPEC §4.1, §4.2; reference §2.3, §2.6).
//!
//! Decisions: `POST /api/apps` keeps upstream's upsert semantics, but re-posting an existing
//! id keeps its artifact id (links and QR codes already handed out stay valid) and its
//! stored secrets where `"********"` is sent back. Every POST seeds `entityData`: an item
//! whose entity's latest seed event already carries its data is not stored again (so an item
//! changed and changed back is seeded again); `PUT` does not seed (as upstream).

use crate::config::seed::{next_seed, SEED_EVENT_TYPE, SEED_GUID_PREFIX};
use crate::config::{merge_secrets, parse_upload, AppConfig};
use crate::cursor::Seq;
use crate::error::DomainError;
use crate::event::Event;
use crate::event::RejectCode;
use crate::ports::{
    Clock, ConfigQuery, ConfigRecord, ConfigSort, ConfigStore, EventFilter, EventStore,
    IdGenerator, PushBatch,
};
use crate::principal::Principal;
use crate::services::context::tenant_of;
use crate::tenant::TenantId;
use serde_json::{json, Value};
use std::sync::Arc;

/// Default page size of the config list.
pub const DEFAULT_PAGE_SIZE: u64 = 12;
/// Largest page size of the config list.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Query parameters of `GET /api/apps` (raw text as received).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigListParams {
    /// `page` (default 1).
    pub page: Option<String>,
    /// `pageSize` (default 12, clamped to 1..=100; garbage → 12).
    pub page_size: Option<String>,
    /// `sortBy`: `name` | `id` | `entitiesCount` (anything else → `name`).
    pub sort_by: Option<String>,
    /// `sortOrder`: `asc` | `desc`.
    pub sort_order: Option<String>,
    /// `search`: trimmed, lower-cased substring of name, id or version.
    pub search: Option<String>,
    /// `includeArchived=true` also lists archived configs.
    pub include_archived: bool,
}

/// Config administration for one server.
pub struct ConfigService {
    configs: Arc<dyn ConfigStore>,
    events: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

fn success(artifact_id: &str) -> Value {
    json!({"status": "success", "artifactId": artifact_id})
}

impl ConfigService {
    /// Builds the service over its ports.
    pub fn new(
        configs: Arc<dyn ConfigStore>,
        events: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        ConfigService {
            configs,
            events,
            clock,
            ids,
        }
    }

    /// `POST /api/apps` (admin): creates or replaces a config and seeds its `entityData`.
    /// Returns `{status: "success", artifactId}`.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED`; 400/422 config validation (with the failing path); storage errors.
    pub async fn create(&self, who: &Principal, body: &Value) -> Result<Value, DomainError> {
        who.require_admin()?;
        let parsed = parse_upload(body)?;
        let existing = self.configs.get_config(&parsed.id).await?;
        let saved = self.save(parsed, existing).await?;
        self.seed(&saved).await?;
        Ok(success(&saved.artifact_id))
    }

    /// `PUT /api/apps/:id` (admin): replaces an existing config; `"********"` keeps the stored
    /// secret; the artifact id is kept. Returns `{status: "success", artifactId}`.
    ///
    /// # Errors
    /// 403; 400 `CONFIG_ID_MISMATCH`; 404 `CONFIG_NOT_FOUND`; validation; storage errors.
    pub async fn update(
        &self,
        who: &Principal,
        id: &str,
        body: &Value,
    ) -> Result<Value, DomainError> {
        who.require_admin()?;
        let parsed = parse_upload(body)?;
        if parsed.id.as_str() != id {
            return Err(DomainError::bad_request(
                "CONFIG_ID_MISMATCH",
                "Config id mismatch between payload and URL",
            ));
        }
        let existing = self
            .configs
            .get_config(&parsed.id)
            .await?
            .ok_or_else(DomainError::tenant_not_found)?;
        let saved = self.save(parsed, Some(existing)).await?;
        Ok(success(&saved.artifact_id))
    }

    async fn save(
        &self,
        parsed: AppConfig,
        existing: Option<ConfigRecord>,
    ) -> Result<ConfigRecord, DomainError> {
        let old = existing
            .as_ref()
            .map(|r| AppConfig::from_document(&r.document))
            .transpose()?;
        let merged = merge_secrets(parsed, old.as_ref())?;
        let now = self.clock.now();
        let record = ConfigRecord {
            id: merged.id.clone(),
            artifact_id: existing
                .as_ref()
                .map_or_else(|| self.ids.hex(16), |r| r.artifact_id.clone()),
            document: merged.to_document(),
            archived_at: existing.as_ref().and_then(|r| r.archived_at),
            created_at: existing.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
        };
        self.configs.save_config(&record).await?;
        Ok(record)
    }

    /// Pushes the seed events of `entityData` whose data differs from their entity's latest
    /// seed event ([`next_seed`]). A guid conflict (the same seed stored meanwhile by a
    /// concurrent save of the config, with another timestamp) counts as seeded.
    async fn seed(&self, record: &ConfigRecord) -> Result<(), DomainError> {
        let config = AppConfig::from_document(&record.document)?;
        let mut events = Vec::new();
        for event in config.seed_events(self.clock.now()) {
            let latest = self.latest_seed(&record.id, &event.entity_guid).await?;
            events.extend(next_seed(&record.id, event, latest.as_ref()));
        }
        if events.is_empty() {
            return Ok(());
        }
        let batch = PushBatch {
            events,
            received_at: self.clock.now(),
            pushed_by: None,
            rules: config.duplicate_rules(),
            ..PushBatch::default()
        };
        let outcome = self.events.push(&record.id, batch).await?;
        if let Some(bad) = outcome
            .errors
            .iter()
            .find(|e| e.code != RejectCode::EventGuidConflict)
        {
            return Err(DomainError::unprocessable(
                "INVALID_CONFIG",
                format!("entityData item rejected: {}", bad.error),
            ));
        }
        Ok(())
    }

    /// The last stored seed event of an entity (by sequence), read page by page.
    async fn latest_seed(
        &self,
        tenant: &TenantId,
        entity_guid: &str,
    ) -> Result<Option<Event>, DomainError> {
        const PAGE: u32 = 500;
        let filter = EventFilter {
            entity_guid: Some(entity_guid.to_owned()),
            event_type: Some(SEED_EVENT_TYPE.to_owned()),
        };
        let (mut latest, mut after) = (None, Seq(0));
        loop {
            let page = self
                .events
                .list_events(tenant, &filter, after, PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(latest);
            };
            after = last.seq;
            let full = page.len() == PAGE as usize;
            if let Some(seed) = page.into_iter().rev().find(|s| {
                s.event.guid.starts_with(SEED_GUID_PREFIX) && s.event.entity_guid == entity_guid
            }) {
                latest = Some(seed.event);
            }
            if !full {
                return Ok(latest);
            }
        }
    }

    /// `GET /api/apps/:id`: the config with secrets masked (users need access to the tenant).
    ///
    /// # Errors
    /// 403; 404; storage errors.
    pub async fn get(&self, who: &Principal, id: &str) -> Result<Value, DomainError> {
        let (_, record) = tenant_of(self.configs.as_ref(), who, Some(id)).await?;
        let config = AppConfig::from_document(&record.document)?;
        let mut view = config.admin_view(&record.artifact_id);
        if let Value::Object(map) = &mut view {
            map.insert(
                "archivedAt".into(),
                json!(record.archived_at.map(|t| t.to_iso())),
            );
        }
        Ok(view)
    }

    /// `GET /api/apps`: `{data, meta}` paged, sorted and searched in storage; users see only
    /// their tenants.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn list(&self, who: &Principal, p: &ConfigListParams) -> Result<Value, DomainError> {
        let page_size = p
            .page_size
            .as_deref()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        let requested_page = p
            .page
            .as_deref()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        let (sort, sort_by) = match p.sort_by.as_deref() {
            Some("id") => (ConfigSort::Id, "id"),
            Some("entitiesCount") => (ConfigSort::EntitiesCount, "entitiesCount"),
            _ => (ConfigSort::Name, "name"),
        };
        let descending = p.sort_order.as_deref() == Some("desc");
        let search = p
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_default();
        let mut query = ConfigQuery {
            search: (!search.is_empty()).then(|| search.clone()),
            sort,
            descending,
            offset: (requested_page - 1).saturating_mul(page_size),
            limit: page_size as u32,
            include_archived: p.include_archived,
            only: (!who.is_admin()).then(|| who.tenant_ids.clone()),
        };
        let (mut rows, total) = self.configs.list_configs(&query).await?;
        let total_pages = total.div_ceil(page_size).max(1);
        let page = requested_page.min(total_pages);
        if page != requested_page {
            query.offset = (page - 1) * page_size;
            rows = self.configs.list_configs(&query).await?.0;
        }
        let mut data = Vec::with_capacity(rows.len());
        for row in rows {
            let config = AppConfig::from_document(&row.record.document)?;
            data.push(config.list_item(&row.record.artifact_id, row.entities_count));
        }
        Ok(json!({
            "data": data,
            "meta": {"total": total, "page": page, "pageSize": page_size, "totalPages": total_pages,
                     "sortBy": sort_by, "sortOrder": if descending { "desc" } else { "asc" }, "search": search},
        }))
    }

    /// `DELETE /api/apps/:id` (admin): archives; with `purge`, erases an archived config and
    /// all its data.
    ///
    /// # Errors
    /// 403; 404; 409 `CONFIG_NOT_ARCHIVED` when purging a live config; storage errors.
    pub async fn delete(
        &self,
        who: &Principal,
        id: &str,
        purge: bool,
    ) -> Result<Value, DomainError> {
        who.require_admin()?;
        let (tenant, record) = tenant_of(self.configs.as_ref(), who, Some(id)).await?;
        if purge {
            if record.archived_at.is_none() {
                return Err(DomainError::conflict(
                    "CONFIG_NOT_ARCHIVED",
                    "Archive the config before purging it",
                ));
            }
            self.configs.purge_config(&tenant).await?;
        } else if record.archived_at.is_none() {
            self.configs
                .set_archived(&tenant, Some(self.clock.now()))
                .await?;
        }
        Ok(json!({"status": "success"}))
    }

    /// `POST /api/apps/:id/restore` (admin): un-archives.
    ///
    /// # Errors
    /// 403; 404; storage errors.
    pub async fn restore(&self, who: &Principal, id: &str) -> Result<Value, DomainError> {
        who.require_admin()?;
        let (tenant, _) = tenant_of(self.configs.as_ref(), who, Some(id)).await?;
        self.configs.set_archived(&tenant, None).await?;
        Ok(json!({"status": "success"}))
    }

    /// `GET /api/apps/:id/public` (no auth): `{name, description, authConfigs: [{type}]}`.
    ///
    /// # Errors
    /// 404 for unknown or archived configs; storage errors.
    pub async fn public_info(&self, id: &str) -> Result<Value, DomainError> {
        let tenant = TenantId::parse(id).map_err(|_| DomainError::tenant_not_found())?;
        let record = self
            .configs
            .get_config(&tenant)
            .await?
            .filter(|r| r.archived_at.is_none())
            .ok_or_else(DomainError::tenant_not_found)?;
        Ok(AppConfig::from_document(&record.document)?.public_info())
    }

    /// `GET /artifacts/<artifactId>.json` (no auth): the public artifact with
    /// `syncServerUrl`. Never contains a secret. Hidden while the config is archived, as its
    /// public info is.
    ///
    /// # Errors
    /// 404 `ARTIFACT_NOT_FOUND` (also for a malformed artifact id or an archived config);
    /// storage errors.
    pub async fn artifact(
        &self,
        artifact_id: &str,
        sync_server_url: &str,
    ) -> Result<Value, DomainError> {
        let not_found = || DomainError::not_found("ARTIFACT_NOT_FOUND", "Config not found");
        let valid = !artifact_id.is_empty()
            && artifact_id.len() <= 128
            && artifact_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(not_found());
        }
        let record = self
            .configs
            .config_by_artifact(artifact_id)
            .await?
            .filter(|r| r.archived_at.is_none())
            .ok_or_else(not_found)?;
        Ok(AppConfig::from_document(&record.document)?.public_artifact(sync_server_url))
    }
}

#[cfg(test)]
mod tests;
