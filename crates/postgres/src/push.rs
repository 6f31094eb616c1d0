//! Interim event-only push, used until `domain::materialize::push_in_tx` lands: sequence
//! assignment, duplicate / conflict detection and quarantine, without entity updates.

use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::{RejectCode, Rejection};
use domain::ports::{NewEvent, PushBatch, PushOutcome, PushTx};
use std::collections::HashMap;

/// Runs one push inside the caller's transaction (whose `head()` takes the tenant lock).
pub(crate) fn run(tx: &mut dyn PushTx, batch: &PushBatch) -> Result<PushOutcome, StoreError> {
    let head = tx.head()?;
    let guids: Vec<String> = batch.events.iter().map(|e| e.guid.clone()).collect();
    let mut known: HashMap<String, _> = tx.existing_hashes(&guids)?;
    let mut outcome = PushOutcome::default();
    let mut fresh = Vec::new();
    let mut next = head.0;
    for event in &batch.events {
        let hash = event.content_hash();
        match known.get(&event.guid) {
            Some(h) if *h == hash => outcome.duplicates += 1,
            Some(_) => outcome.errors.push(Rejection {
                guid: Some(event.guid.clone()),
                code: RejectCode::EventGuidConflict,
                error: "event guid already stored with different content".into(),
            }),
            None => {
                next += 1;
                known.insert(event.guid.clone(), hash.clone());
                fresh.push(NewEvent {
                    seq: Seq(next),
                    event,
                    hash,
                    refs: vec![event.entity_guid.clone()],
                });
            }
        }
    }
    tx.insert_events(&fresh, batch.received_at, batch.pushed_by.as_deref())?;
    tx.quarantine(
        &batch.rejected,
        batch.received_at,
        batch.pushed_by.as_deref(),
    )?;
    outcome.applied = fresh.len() as u64;
    outcome
        .errors
        .extend(batch.rejected.iter().map(|(_, r)| r.clone()));
    outcome.head = Seq(next);
    Ok(outcome)
}
