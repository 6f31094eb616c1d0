//! Push, pull, listings, quarantine and concurrent pushes.

use crate::db::{create_tenant, tenant, ts, TestDb};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::{validate_event, Event, RejectCode};
use domain::ports::{ConfigStore, EventFilter, EventStore, PushBatch};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

pub fn event(guid: &str, entity: &str, ms: i64) -> Event {
    validate_event(&json!({
        "guid": guid, "entityGuid": entity, "type": "create-individual",
        "data": {"name": format!("N {guid}")},
        "timestamp": ts(ms).to_iso(), "userId": "u1", "syncLevel": 1
    }))
    .unwrap()
}

pub fn batch(events: Vec<Event>) -> PushBatch {
    PushBatch {
        events,
        pushed_by: Some("7".into()),
        received_at: ts(99_000),
        ..PushBatch::default()
    }
}

#[tokio::test]
async fn push_to_an_unknown_tenant_is_not_found() {
    let db = TestDb::new();
    let store = db.open();
    let err = store
        .push(&tenant("nope"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.head(&tenant("nope")).await.unwrap(), Seq(0));
}

#[tokio::test]
async fn push_assigns_sequences_detects_duplicates_and_conflicts() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let out = store
        .push(
            &t,
            batch(vec![event("e1", "p1", 30), event("e2", "p2", 10)]),
        )
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (2, 0, Seq(2)));

    let mut changed = event("e1", "p1", 30);
    changed.data.insert("name".into(), json!("something else"));
    let out = store
        .push(
            &t,
            batch(vec![event("e2", "p2", 10), changed, event("e3", "p1", 20)]),
        )
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (1, 1, Seq(3)));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].code, RejectCode::EventGuidConflict);

    let all = store
        .pull(&t, Seq(0), 100, usize::MAX)
        .await
        .unwrap()
        .events;
    let seqs: Vec<_> = all.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(all[0].event, event("e1", "p1", 30));
    assert_eq!(all[0].received_at, ts(99_000));
    assert_eq!(all[0].pushed_by.as_deref(), Some("7"));

    let page = store.pull(&t, Seq(1), 1, usize::MAX).await.unwrap().events;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event.guid, "e2");
    assert!(store
        .pull(&t, Seq(3), 10, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());

    assert_eq!(
        store.first_seq_at_or_after(&t, ts(15)).await.unwrap(),
        Some(Seq(1))
    );
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(25)).await.unwrap(),
        Some(Seq(1))
    );
    assert_eq!(store.first_seq_at_or_after(&t, ts(31)).await.unwrap(), None);

    let by_entity = store.entity_events(&t, "p1", 10).await.unwrap();
    let guids: Vec<_> = by_entity.iter().map(|e| e.event.guid.as_str()).collect();
    assert_eq!(guids, ["e3", "e1"]);

    let filter = EventFilter {
        entity_guid: Some("p1".into()),
        event_type: Some("create-individual".into()),
    };
    let listed = store.list_events(&t, &filter, Seq(1), 10).await.unwrap();
    let guids: Vec<_> = listed.iter().map(|e| e.event.guid.as_str()).collect();
    assert_eq!(guids, ["e3"]);
    let none = EventFilter {
        event_type: Some("other".into()),
        ..EventFilter::default()
    };
    assert!(store
        .list_events(&t, &none, Seq(0), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn numeric_user_ids_round_trip() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    let e = validate_event(&json!({
        "guid": "g", "entityGuid": "p", "type": "t", "data": {"a": 1.5},
        "timestamp": "2024-01-01T00:00:00Z", "userId": 42
    }))
    .unwrap();
    store
        .push(&tenant("t1"), batch(vec![e.clone()]))
        .await
        .unwrap();
    let got = store
        .pull(&tenant("t1"), Seq(0), 1, usize::MAX)
        .await
        .unwrap()
        .events;
    assert_eq!(got[0].event, e);
}

#[tokio::test]
async fn rejected_events_are_quarantined_in_order() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    let raws = [json!({"guid": "bad1"}), json!([1, 2])];
    let rejected = raws
        .iter()
        .map(|r| (r.clone(), validate_event(r).unwrap_err()))
        .collect();
    let out = store
        .push(
            &tenant("t1"),
            PushBatch {
                rejected,
                ..batch(vec![event("ok", "p", 1)])
            },
        )
        .await
        .unwrap();
    assert_eq!(out.applied, 1);
    let q = store.quarantined(&tenant("t1"), 0, 10).await.unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].raw, raws[0]);
    assert_eq!(q[1].code, RejectCode::EventNotObject);
    assert!(q[0].id < q[1].id);
    assert_eq!(q[0].pushed_by.as_deref(), Some("7"));
    let rest = store.quarantined(&tenant("t1"), q[0].id, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
}

#[tokio::test]
async fn purge_removes_every_row_of_the_tenant() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    for t in ["t1", "t2"] {
        store
            .push(&tenant(t), batch(vec![event("e1", "p1", 1)]))
            .await
            .unwrap();
    }
    assert!(store.purge_config(&tenant("t1")).await.unwrap());
    assert!(!store.purge_config(&tenant("t1")).await.unwrap());
    assert!(store
        .pull(&tenant("t1"), Seq(0), 10, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());
    assert_eq!(
        store
            .pull(&tenant("t2"), Seq(0), 10, usize::MAX)
            .await
            .unwrap()
            .events
            .len(),
        1
    );
    // The id can be reused from scratch; its sequence continues after the purged head.
    create_tenant(&store, "t1", "One").await;
    let out = store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    assert_eq!((out.applied, out.head), (1, Seq(2)));
}

/// Writers on many tasks, one reader following the head: sequence numbers are gap-free
/// and in commit order, so the reader never skips an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_are_gap_free_and_never_skipped_by_a_reader() {
    const WRITERS: usize = 8;
    const PUSHES: usize = 10;
    const PER_PUSH: usize = 10;
    let total = (WRITERS * PUSHES * PER_PUSH) as i64;
    let db = TestDb::new();
    let store = Arc::new(db.open());
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");

    let reader = {
        let store = store.clone();
        let t = t.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = Seq(0);
            while after.0 < total {
                let page = store.pull(&t, after, 37, usize::MAX).await.unwrap().events;
                for e in page {
                    assert_eq!(e.seq.0, after.0 + 1, "a gap in what a reader saw");
                    after = e.seq;
                    seen.push(e.event.guid);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let t = t.clone();
            tokio::spawn(async move {
                for p in 0..PUSHES {
                    let events = (0..PER_PUSH)
                        .map(|i| event(&format!("w{w}-p{p}-e{i}"), &format!("ent{w}"), 1))
                        .collect();
                    let out = store.push(&t, batch(events)).await.unwrap();
                    assert_eq!(out.applied, PER_PUSH as u64);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let seen = reader.await.unwrap();
    assert_eq!(seen.len() as i64, total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len() as i64, total);
    assert_eq!(store.head(&t).await.unwrap(), Seq(total));
    // Each push's events are consecutive (one transaction each).
    let all = store
        .pull(&t, Seq(0), u32::MAX, usize::MAX)
        .await
        .unwrap()
        .events;
    for chunk in all.chunks(PER_PUSH) {
        let prefix = chunk[0].event.guid.rsplit_once('-').unwrap().0.to_owned();
        assert!(chunk.iter().all(|e| e.event.guid.starts_with(&prefix)));
    }
    assert!(store.get_config(&t).await.unwrap().is_some());
}

/// Not a benchmark (no timing assert): pushes 5,000 events in 100-event batches, in client
/// time order as devices usually send them, over 500 entities, and checks they all land.
#[tokio::test]
async fn push_throughput_sanity() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    for b in 0..50i64 {
        let events = (0..100i64)
            .map(|i| {
                let n = b * 100 + i;
                event(&format!("e{n}"), &format!("p{}", n % 500), 1_000 + n)
            })
            .collect();
        let out = store.push(&t, batch(events)).await.unwrap();
        assert_eq!(out.applied, 100);
    }
    assert_eq!(store.head(&t).await.unwrap(), Seq(5_000));
    assert_eq!(
        store
            .pull(&t, Seq(4_990), 100, usize::MAX)
            .await
            .unwrap()
            .events
            .len(),
        10
    );
}
