//! Constructors the clauses share, public so adapter tests can reuse them.

use domain::cursor::Seq;
use domain::event::{validate_event, Event};
use domain::ports::{ConfigRecord, PushBatch, StoredEvent, Stores};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::{json, Value};

/// The instant `ms` milliseconds after the epoch.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).expect("test timestamps are in range")
}

/// A tenant id (panics on an invalid one: test input).
pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("test tenant ids are valid")
}

/// A deterministic 32-hex-character artifact id for a config id (FNV-1a, 128 bits).
pub fn artifact_for(id: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in id.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}")
}

/// A config record for `id`: document `{id, name, version}`, artifact [`artifact_for`],
/// created and updated at 1,000 ms, not archived.
pub fn config_record(id: &str, name: &str, version: &str) -> ConfigRecord {
    ConfigRecord {
        id: tenant(id),
        artifact_id: artifact_for(id),
        document: json!({"id": id, "name": name, "version": version}),
        archived_at: None,
        created_at: ts(1_000),
        updated_at: ts(1_000),
    }
}

/// Creates the tenant `id` (a config named after it) and returns its id.
pub async fn create_tenant(stores: &Stores, id: &str) -> TenantId {
    let created = stores
        .configs
        .save_config(&config_record(id, id, "1.0"))
        .await
        .expect("save_config");
    assert!(created, "tenant {id} already existed");
    tenant(id)
}

/// A validated event of any type with `data`, at `ms`, by user `u1`, sync level 1.
pub fn event_with(guid: &str, entity: &str, kind: &str, data: Value, ms: i64) -> Event {
    validate_event(&json!({
        "guid": guid, "entityGuid": entity, "type": kind, "data": data,
        "timestamp": ts(ms).to_iso(), "userId": "u1", "syncLevel": 1
    }))
    .expect("test events are valid")
}

/// A `create-individual` event named `N <guid>` for `entity` at `ms`.
pub fn event(guid: &str, entity: &str, ms: i64) -> Event {
    event_with(
        guid,
        entity,
        "create-individual",
        json!({"name": format!("N {guid}")}),
        ms,
    )
}

/// A batch of valid events pushed by `"7"`, received at 99,000 ms, default duplicate rules.
pub fn batch(events: Vec<Event>) -> PushBatch {
    PushBatch {
        events,
        pushed_by: Some("7".into()),
        received_at: ts(99_000),
        ..PushBatch::default()
    }
}

/// Pushes `events` as one batch and returns how many were applied.
pub async fn push(stores: &Stores, t: &TenantId, events: Vec<Event>) -> u64 {
    stores
        .events
        .push(t, batch(events))
        .await
        .expect("push")
        .applied
}

/// The sequence numbers of stored events.
pub fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq.0).collect()
}

/// The guids of stored events.
pub fn guids(events: &[StoredEvent]) -> Vec<String> {
    events.iter().map(|e| e.event.guid.clone()).collect()
}

/// The events of one pull page after `after`, at most `limit`, bounded by count alone.
pub async fn pull_page(stores: &Stores, t: &TenantId, after: Seq, limit: u32) -> Vec<StoredEvent> {
    let page = stores.events.pull(t, after, limit, usize::MAX).await;
    page.expect("pull").events
}

/// Every event of the tenant, in seq order.
pub async fn pull_all(stores: &Stores, t: &TenantId) -> Vec<StoredEvent> {
    pull_page(stores, t, Seq(0), u32::MAX).await
}
