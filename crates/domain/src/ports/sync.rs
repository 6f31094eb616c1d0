//! Event storage: atomic batch push, pull by sequence, event queries, quarantine.

use crate::cursor::Seq;
use crate::duplicates::DuplicateRules;
use crate::error::StoreError;
use crate::event::{Event, RejectCode, Rejection};
use crate::tenant::TenantId;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde_json::Value;

/// An accepted event as stored: its tenant sequence number and server-side facts.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Per-tenant, gap-free, commit-ordered position.
    pub seq: Seq,
    /// The event as validated (sync level as stored).
    pub event: Event,
    /// Server time the push that brought it was received.
    pub received_at: Timestamp,
    /// Authenticated pusher (user id or identity provider subject), when known.
    pub pushed_by: Option<String>,
}

/// An invalid pushed event kept for admins (never relayed).
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedEvent {
    /// Store-assigned id, increasing in insertion order within a tenant.
    pub id: i64,
    /// The event exactly as received.
    pub raw: Value,
    /// The rule it failed.
    pub code: RejectCode,
    /// Human-readable reason.
    pub error: String,
    /// Server time of the push.
    pub received_at: Timestamp,
    /// Authenticated pusher, when known.
    pub pushed_by: Option<String>,
}

/// One push request, already validated by the domain.
#[derive(Debug, Clone, Default)]
pub struct PushBatch {
    /// Valid events, in request order.
    pub events: Vec<Event>,
    /// Invalid events with their raw JSON and reason, to quarantine.
    pub rejected: Vec<(Value, Rejection)>,
    /// Authenticated pusher.
    pub pushed_by: Option<String>,
    /// Server receive time.
    pub received_at: Timestamp,
    /// Duplicate-detection rules of the tenant's config.
    pub rules: DuplicateRules,
}

/// Result of a push: counts, per-event errors, and the tenant position after it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushOutcome {
    /// Events newly stored and applied.
    pub applied: u64,
    /// Events whose guid was already stored with the same content (no change).
    pub duplicates: u64,
    /// Rejections: quarantined invalid events and `EVENT_GUID_CONFLICT`s, in request order.
    pub errors: Vec<Rejection>,
    /// The tenant's last sequence number after the push.
    pub head: Seq,
}

/// One page of a tenant's events, read by [`EventStore::pull`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventPage {
    /// Events in `seq` order.
    pub events: Vec<StoredEvent>,
    /// Whether the tenant held events after the page's last one when it was read.
    pub more: bool,
}

/// The bounds of one pull page, applied event by event in `seq` order: at most `limit`
/// events, and none after the one that brings their `data` (as JSON text) to
/// `max_data_bytes` — so a page holds at least one event when there is one.
#[derive(Debug, Clone, Copy)]
pub struct PageBudget {
    limit: usize,
    max_data_bytes: usize,
    len: usize,
    data_bytes: usize,
}

impl PageBudget {
    /// An empty page's budget.
    pub fn new(limit: u32, max_data_bytes: usize) -> Self {
        PageBudget {
            limit: limit as usize,
            max_data_bytes,
            len: 0,
            data_bytes: 0,
        }
    }

    /// Counts the next event, of `data_bytes`, into the page, unless the page is already
    /// complete: then returns `false` (the event, and every later one, belong to the next
    /// page).
    pub fn admit(&mut self, data_bytes: usize) -> bool {
        if self.len >= self.limit || self.data_bytes >= self.max_data_bytes {
            return false;
        }
        self.len += 1;
        self.data_bytes = self.data_bytes.saturating_add(data_bytes);
        true
    }

    /// Events admitted.
    pub fn admitted(&self) -> usize {
        self.len
    }
}

impl EventPage {
    /// Builds a page from `rows`: a tenant's events in `seq` order from the page's start,
    /// each with the size in bytes of its `data` as JSON text, bounded by [`PageBudget`]. It
    /// reads at most one row past its last event, to tell [`EventPage::more`]; a store
    /// therefore reads at most `limit + 1` rows.
    ///
    /// # Errors
    /// The first error among the rows read.
    pub fn fill<E>(
        rows: impl IntoIterator<Item = Result<(StoredEvent, usize), E>>,
        limit: u32,
        max_data_bytes: usize,
    ) -> Result<EventPage, E> {
        let mut budget = PageBudget::new(limit, max_data_bytes);
        let mut page = EventPage::default();
        for row in rows {
            let (event, size) = row?;
            if !budget.admit(size) {
                page.more = true;
                break;
            }
            page.events.push(event);
        }
        Ok(page)
    }
}

/// Filters of the admin event listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only events addressed to this entity.
    pub entity_guid: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
}

/// Storage of a tenant's events.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores a batch atomically: in one transaction, new events get consecutive sequence
    /// numbers after the tenant's head (taken under the tenant's lock, so sequence order is
    /// commit order and a concurrent reader never sees a gap that is later filled); a guid
    /// already stored with the same content hash counts as a duplicate and changes nothing;
    /// a guid stored with other content is rejected with `EVENT_GUID_CONFLICT` (also when it
    /// repeats inside the batch); rejected events are quarantined; entities are updated by
    /// [`crate::materialize::push_in_tx`]. Either everything of the batch is committed or
    /// nothing is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the tenant does not exist; `Unavailable`/`Internal` on
    /// storage failure (nothing committed).
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, StoreError>;

    /// One page of the events with `seq > after`, in `seq` order, as [`EventPage::fill`]
    /// bounds it: at most `limit` events, ending with the one whose `data` (as JSON text)
    /// brings the page's to `max_data_bytes`. Reads an index, never scans the tenant, and
    /// holds no more than the page (and one row past it) in memory.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn pull(
        &self,
        tenant: &TenantId,
        after: Seq,
        limit: u32,
        max_data_bytes: usize,
    ) -> Result<EventPage, StoreError>;

    /// The smallest `seq` of an event whose client timestamp is `>= at`, or `None` when there
    /// is none (used to serve the legacy ISO `since`).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn first_seq_at_or_after(
        &self,
        tenant: &TenantId,
        at: Timestamp,
    ) -> Result<Option<Seq>, StoreError>;

    /// The tenant's last sequence number (0 when it has no events or does not exist).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn head(&self, tenant: &TenantId) -> Result<Seq, StoreError>;

    /// Events matching `filter` with `seq > after`, in `seq` order, at most `limit`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        after: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Events whose `entityGuid` is `entity_guid`, in application order `(timestamp, guid)`,
    /// at most `limit`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn entity_events(
        &self,
        tenant: &TenantId,
        entity_guid: &str,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Quarantined events with `id > after`, in id order, at most `limit`.
    ///
    /// # Errors
    /// `Unavailable`/`Internal` on storage failure.
    async fn quarantined(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<QuarantinedEvent>, StoreError>;
}

#[cfg(test)]
mod tests;
