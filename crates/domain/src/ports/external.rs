//! External-sync adapters (OpenSPP, OpenFn, mock): implemented by the adapter crates.

use crate::error::DomainError;
use crate::event::Event;
use crate::ports::StoredEvent;
use async_trait::async_trait;
use serde_json::Value;

/// Credentials an admin may pass to an external sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCredentials {
    /// User name.
    pub username: String,
    /// Password (never logged).
    pub password: String,
}

/// What an external push achieved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalPushOutcome {
    /// Events delivered.
    pub pushed: u64,
    /// Events the external system refused (guid, reason).
    pub failed: Vec<(String, String)>,
    /// External ids assigned to entities (entity guid → external id), to write back.
    pub external_ids: Vec<(String, String)>,
}

/// What an external pull brought.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalPullOutcome {
    /// Events to push into the tenant (server-generated; sync level set by the adapter).
    pub events: Vec<Event>,
    /// Opaque watermark to pass as `since` next time.
    pub watermark: Option<String>,
    /// Records that could not be transformed (raw record, reason).
    pub skipped: Vec<(Value, String)>,
}

/// One external system bound to one tenant's `externalSync` settings.
#[async_trait]
pub trait ExternalSync: Send + Sync {
    /// Checks the configured (or given) credentials against the external system.
    ///
    /// # Errors
    /// `EXTERNAL_UNAVAILABLE` (503) when the system cannot be reached.
    async fn authenticate(
        &self,
        credentials: Option<&ExternalCredentials>,
    ) -> Result<bool, DomainError>;

    /// Delivers events (in sequence order) to the external system.
    ///
    /// # Errors
    /// `EXTERNAL_UNAVAILABLE` when the system cannot be reached; per-event refusals are
    /// reported in the outcome instead.
    async fn push(&self, events: &[StoredEvent]) -> Result<ExternalPushOutcome, DomainError>;

    /// Fetches what changed since `since` and turns it into events.
    ///
    /// # Errors
    /// `EXTERNAL_UNAVAILABLE` when the system cannot be reached.
    async fn pull(&self, since: Option<&str>) -> Result<ExternalPullOutcome, DomainError>;
}
