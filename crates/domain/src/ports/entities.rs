//! Entity queries and potential-duplicate review.

use crate::entity::{Entity, EntityKind};
use crate::error::StoreError;
use crate::tenant::TenantId;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;

/// Filters and page of an entity listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityQuery {
    /// Only entities whose `data.entityName` equals this.
    pub entity_name: Option<String>,
    /// Only individuals or only groups.
    pub kind: Option<EntityKind>,
    /// Case-insensitive substring of the entity name.
    pub name_contains: Option<String>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u32,
}

/// A pending potential-duplicate pair (legacy wire shape `{entityGuid, duplicateGuid}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DuplicatePair {
    /// The entity that was flagged (the newer one).
    pub entity_guid: String,
    /// The existing entity it matches.
    pub duplicate_guid: String,
}

/// Read side of a tenant's entities.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EntityStore: Send + Sync {
    /// Live (not deleted) entities matching `query`, newest `lastUpdated` first (ties by
    /// guid), paginated in storage.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_entities(
        &self,
        tenant: &TenantId,
        query: &EntityQuery,
    ) -> Result<Vec<Entity>, StoreError>;

    /// Number of live entities of the tenant.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn count_entities(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Number of live entities per `data.entityName` (entities without one are skipped).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn count_by_form(&self, tenant: &TenantId) -> Result<BTreeMap<String, u64>, StoreError>;

    /// A live entity by guid; `None` when absent or deleted.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_entity(&self, tenant: &TenantId, guid: &str)
        -> Result<Option<Entity>, StoreError>;

    /// The live entities among `guids`, in no particular order (absent and deleted ones
    /// left out): one query for a group's members instead of one per member.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn get_entities(
        &self,
        tenant: &TenantId,
        guids: &[String],
    ) -> Result<Vec<Entity>, StoreError>;

    /// Live entities whose `data` has every `(field, value)` of `criteria` (top-level field,
    /// JSON equality; strings compared case-insensitively), at most `limit`. Values are
    /// always bound parameters.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn search_entities(
        &self,
        tenant: &TenantId,
        criteria: &[(String, Value)],
        limit: u32,
    ) -> Result<Vec<Entity>, StoreError>;

    /// Pending duplicate pairs, ordered by `(entity_guid, duplicate_guid)`, paginated.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_duplicates(
        &self,
        tenant: &TenantId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<DuplicatePair>, StoreError>;

    /// Whether the tenant has any pending pair.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn has_duplicates(&self, tenant: &TenantId) -> Result<bool, StoreError>;

    /// Resolves a pair as "keep both": removes it and remembers the decision together with
    /// the flagged entity's current match key, so the pair is flagged again only if that key
    /// changes. Returns whether the pair existed.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn keep_both(&self, tenant: &TenantId, pair: &DuplicatePair) -> Result<bool, StoreError>;
}
