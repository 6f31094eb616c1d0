//! Program configurations (tenants).

use crate::error::StoreError;
use crate::tenant::TenantId;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde_json::Value;

/// A stored program configuration. `document` is the full config JSON (secrets included;
/// the domain redacts before anything leaves the server).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRecord {
    /// Tenant id.
    pub id: TenantId,
    /// Public artifact id (32 hex characters).
    pub artifact_id: String,
    /// The config document as validated by [`crate::config`].
    pub document: Value,
    /// Set when archived (archived tenants refuse pushes and are hidden from lists).
    pub archived_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
}

/// Sort keys of the config list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigSort {
    /// By `name` (default).
    #[default]
    Name,
    /// By `id`.
    Id,
    /// By number of live entities.
    EntitiesCount,
}

/// Query of the config list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigQuery {
    /// Lower-case substring matched against name, id and version.
    pub search: Option<String>,
    /// Sort key.
    pub sort: ConfigSort,
    /// Descending order.
    pub descending: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u32,
    /// Include archived configs.
    pub include_archived: bool,
    /// Restrict to these ids (a non-admin's tenants); `None` = all.
    pub only: Option<Vec<String>>,
}

/// A config with its live entity count, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSummary {
    /// The config.
    pub record: ConfigRecord,
    /// Live entities of the tenant.
    pub entities_count: u64,
}

/// Storage of configs; a config row is also the tenant row (with its event counter).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Inserts the config (creating the tenant with head 0) or replaces the document,
    /// artifact id and `updated_at` of an existing one (keeping its events and entities).
    /// Returns `true` when it was created.
    ///
    /// # Errors
    /// `Conflict` when another config already uses `artifact_id`; `Unavailable`/`Internal`.
    async fn save_config(&self, record: &ConfigRecord) -> Result<bool, StoreError>;

    /// A config by id (archived included).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_config(&self, id: &TenantId) -> Result<Option<ConfigRecord>, StoreError>;

    /// A config by artifact id (archived excluded).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn config_by_artifact(
        &self,
        artifact_id: &str,
    ) -> Result<Option<ConfigRecord>, StoreError>;

    /// A page of configs with entity counts, and the total number matching the query.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_configs(
        &self,
        query: &ConfigQuery,
    ) -> Result<(Vec<ConfigSummary>, u64), StoreError>;

    /// Sets or clears `archived_at`. Returns whether the config exists.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn set_archived(&self, id: &TenantId, at: Option<Timestamp>) -> Result<bool, StoreError>;

    /// Deletes the config and every row of its tenant (events, entities, duplicates,
    /// quarantine, audit log) in one transaction, and takes its id out of every user's
    /// `tenant_ids` and `role_assignments` (a config created again under that id starts with
    /// no users). Returns whether it existed; when it did not, nothing changes.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn purge_config(&self, id: &TenantId) -> Result<bool, StoreError>;

    /// Whether the storage answers (readiness probe).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached.
    async fn ping(&self) -> Result<(), StoreError>;
}
