//! Audit log entries pushed by clients.

use crate::error::StoreError;
use crate::tenant::TenantId;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An audit log entry (upstream `AuditLogEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Entry id as sent by the client.
    pub guid: String,
    /// When the action happened.
    pub timestamp: Timestamp,
    /// Who did it (the server overwrites it with the authenticated user).
    pub user_id: String,
    /// Action name.
    pub action: String,
    /// Related event guid (may be empty).
    #[serde(default)]
    pub event_guid: String,
    /// Related entity guid (may be empty).
    #[serde(default)]
    pub entity_guid: String,
    /// What changed.
    #[serde(default)]
    pub changes: Value,
    /// Signature (upstream always sends `""`).
    #[serde(default)]
    pub signature: String,
}

/// Storage of a tenant's audit log.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends entries; an entry whose `guid` is already stored for the tenant is ignored
    /// (idempotent re-push). Returns how many were new.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entries: &[AuditEntry],
    ) -> Result<u64, StoreError>;

    /// Entries with `timestamp > since` (all when `None`) after store id `after`, in store id
    /// order, at most `limit`; each with its store id (the pagination cursor).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_audit(
        &self,
        tenant: &TenantId,
        since: Option<Timestamp>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError>;
}
