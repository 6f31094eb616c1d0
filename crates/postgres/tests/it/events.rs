//! Push, pull and event queries; the tenant lock under concurrent pushes.

use crate::db::{create_tenant, tenant, ts};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::event::{validate_event, Event, RejectCode};
use domain::ports::{EventFilter, EventStore, PushBatch};
use postgres_store::PgStore;
use serde_json::{json, Value};
use std::time::Duration;

pub fn raw(guid: &str, entity: &str, ms: i64) -> Value {
    json!({"guid": guid, "entityGuid": entity, "type": "create-individual",
           "data": {"name": format!("N {guid}"), "n": ms}, "timestamp": ts(ms).to_iso(),
           "userId": "admin", "syncLevel": 0})
}

pub fn event(guid: &str, entity: &str, ms: i64) -> Event {
    validate_event(&raw(guid, entity, ms)).unwrap()
}

pub fn batch(events: Vec<Event>) -> PushBatch {
    PushBatch {
        events,
        received_at: ts(5_000),
        pushed_by: Some("7".into()),
        ..PushBatch::default()
    }
}

#[tokio::test]
async fn push_assigns_consecutive_seqs_and_pull_pages_by_seq() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let out = store
        .push(
            &t,
            batch(
                (1..=5)
                    .map(|i| event(&format!("e{i}"), "p1", 10_000 - i))
                    .collect(),
            ),
        )
        .await
        .unwrap();
    assert_eq!((out.applied, out.duplicates, out.head), (5, 0, Seq(5)));
    let page = store.pull(&t, Seq(0), 3, usize::MAX).await.unwrap().events;
    assert_eq!(page.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(page[0].event, event("e1", "p1", 9_999));
    assert_eq!(page[0].received_at, ts(5_000));
    assert_eq!(page[0].pushed_by.as_deref(), Some("7"));
    let rest = store
        .pull(&t, Seq(3), 100, usize::MAX)
        .await
        .unwrap()
        .events;
    assert_eq!(rest.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [4, 5]);
    assert!(store
        .pull(&t, Seq(5), 100, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());
    assert_eq!(store.head(&t).await.unwrap(), Seq(5));
    assert_eq!(store.head(&tenant("nope")).await.unwrap(), Seq(0));
    // Another tenant's sequence is its own.
    create_tenant(&store, "t2", "Two").await;
    let out = store
        .push(&tenant("t2"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    assert_eq!(out.head, Seq(1));
}

#[tokio::test]
async fn duplicates_conflicts_and_rejections() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    store
        .push(&t, batch(vec![event("e1", "p1", 1_000)]))
        .await
        .unwrap();
    let mut changed = event("e1", "p1", 1_000);
    changed.data.insert("name".into(), json!("other"));
    let mut relevel = event("e1", "p1", 1_000);
    relevel.sync_level = domain::event::SyncLevel(2);
    let bad = json!({"guid": "bad", "entityGuid": "p1"});
    let rejection = validate_event(&bad).unwrap_err();
    let mut b = batch(vec![
        relevel,
        changed,
        event("e2", "p2", 2_000),
        event("e2", "p2", 2_000),
        {
            let mut e = event("e3", "p3", 3_000);
            e.entity_guid = "p1".into();
            e
        },
    ]);
    b.rejected = vec![(bad.clone(), rejection.clone())];
    let out = store.push(&t, b).await.unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(out.duplicates, 2);
    assert_eq!(out.head, Seq(3));
    let mut codes: Vec<_> = out.errors.iter().map(|r| r.code.as_str()).collect();
    codes.sort_unstable();
    let mut expected = [
        RejectCode::EventGuidConflict.as_str(),
        rejection.code.as_str(),
    ];
    expected.sort_unstable();
    assert_eq!(codes, expected);
    let q = store.quarantined(&t, 0, 10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].raw, bad);
    assert_eq!(q[0].code, rejection.code);
    assert_eq!(q[0].pushed_by.as_deref(), Some("7"));
    assert!(store.quarantined(&t, q[0].id, 10).await.unwrap().is_empty());
    // The stored event kept its first content.
    let first = store.pull(&t, Seq(0), 1, usize::MAX).await.unwrap().events;
    assert_eq!(first[0].event.data["name"], json!("N e1"));
}

#[tokio::test]
async fn push_to_an_unknown_tenant_is_not_found() {
    let (_db, store) = crate::test_db!();
    let result = store
        .push(&tenant("ghost"), batch(vec![event("e1", "p1", 1)]))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn a_failing_batch_commits_nothing() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    // PostgreSQL's JSONB cannot hold U+0000: the second insert statement fails after the
    // first event's refs and the quarantine are pending.
    let mut nul = event("e2", "p1", 2_000);
    nul.data.insert("x".into(), json!("a\u{0}b"));
    let bad = json!({"guid": 1});
    let mut b = batch(vec![event("e1", "p1", 1_000), nul]);
    b.rejected = vec![(bad.clone(), validate_event(&bad).unwrap_err())];
    assert!(store.push(&t, b).await.is_err());
    assert_eq!(store.head(&t).await.unwrap(), Seq(0));
    assert!(store
        .pull(&t, Seq(0), 10, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());
    assert!(store.quarantined(&t, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn event_queries() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let mut update = event("u1", "p1", 500);
    update.event_type = "update-individual".into();
    store
        .push(
            &t,
            batch(vec![
                event("b", "p1", 2_000),
                event("a", "p1", 2_000),
                update,
                event("c", "p2", 1_000),
            ]),
        )
        .await
        .unwrap();
    let order: Vec<_> = store
        .entity_events(&t, "p1", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.guid)
        .collect();
    assert_eq!(order, ["u1", "a", "b"]);
    assert_eq!(store.entity_events(&t, "p1", 1).await.unwrap().len(), 1);
    let filter = EventFilter {
        entity_guid: Some("p1".into()),
        event_type: Some("create-individual".into()),
    };
    let found: Vec<_> = store
        .list_events(&t, &filter, Seq(0), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq.0)
        .collect();
    assert_eq!(found, [1, 2]);
    assert_eq!(
        store.list_events(&t, &filter, Seq(1), 10).await.unwrap()[0].seq,
        Seq(2)
    );
    let all = store
        .list_events(&t, &EventFilter::default(), Seq(0), 3)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(1_000)).await.unwrap(),
        Some(Seq(1))
    );
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(1_500)).await.unwrap(),
        Some(Seq(1))
    );
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(0)).await.unwrap(),
        Some(Seq(1))
    );
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(2_001)).await.unwrap(),
        None
    );
    let mut late = event("z", "p9", 9_000);
    late.user_id = domain::event::UserRef::Number(7.into());
    store.push(&t, batch(vec![late.clone()])).await.unwrap();
    assert_eq!(
        store.first_seq_at_or_after(&t, ts(2_001)).await.unwrap(),
        Some(Seq(5))
    );
    // A numeric author comes back as a number.
    assert_eq!(
        store.pull(&t, Seq(4), 1, usize::MAX).await.unwrap().events[0].event,
        late
    );
}

/// Pushers race on one tenant (and another tenant in parallel) while a reader follows the
/// sequence: every page the reader sees continues exactly where the previous one ended, and
/// in the end every event is there once, numbered 1..=n.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_are_gap_free_in_commit_order() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    const PUSHERS: usize = 6;
    const PUSHES: usize = 10;
    const PER_PUSH: usize = 5;
    let total = (PUSHERS * PUSHES * PER_PUSH) as i64;
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { follow(&store, total).await })
    };
    let mut pushers = Vec::new();
    for p in 0..PUSHERS {
        for t in ["t1", "t2"] {
            let store = store.clone();
            pushers.push(tokio::spawn(async move {
                for i in 0..PUSHES {
                    let events = (0..PER_PUSH)
                        .map(|k| event(&format!("g{p}-{i}-{k}"), &format!("p{p}"), 1_000))
                        .collect();
                    let out = store.push(&tenant(t), batch(events)).await.unwrap();
                    assert_eq!(out.applied, PER_PUSH as u64);
                }
            }));
        }
    }
    for p in pushers {
        p.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, total);
    for t in ["t1", "t2"] {
        let all = store
            .pull(&tenant(t), Seq(0), 10_000, usize::MAX)
            .await
            .unwrap()
            .events;
        assert_eq!(all.len() as i64, total);
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.seq.0, i as i64 + 1);
        }
        let mut guids: Vec<_> = all.iter().map(|e| e.event.guid.clone()).collect();
        guids.sort();
        guids.dedup();
        assert_eq!(guids.len() as i64, total);
        assert_eq!(store.head(&tenant(t)).await.unwrap(), Seq(total));
    }
}

/// Pulls t1 until `total` events were seen, asserting each page continues the last.
async fn follow(store: &PgStore, total: i64) -> i64 {
    let mut cursor = 0;
    while cursor < total {
        let page = store
            .pull(&tenant("t1"), Seq(cursor), 7, usize::MAX)
            .await
            .unwrap()
            .events;
        for e in &page {
            assert_eq!(e.seq.0, cursor + 1, "gap or reorder after {cursor}");
            cursor = e.seq.0;
        }
        if page.is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    cursor
}

fn typed(guid: &str, kind: &str, entity: &str, ms: i64, data: Value) -> Event {
    validate_event(
        &json!({"guid": guid, "entityGuid": entity, "type": kind, "data": data,
        "timestamp": ts(ms).to_iso(), "userId": "admin"}),
    )
    .unwrap()
}

#[tokio::test]
async fn push_materializes_entities_and_flags_duplicates() {
    use domain::ports::{DuplicatePair, EntityQuery, EntityStore};
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let person = json!({"name": "Ann", "dob": "2000-01-01", "entityName": "person"});
    store
        .push(
            &t,
            batch(vec![typed(
                "e1",
                "create-individual",
                "p1",
                1_000,
                person.clone(),
            )]),
        )
        .await
        .unwrap();
    store
        .push(
            &t,
            batch(vec![typed("e2", "create-individual", "p2", 2_000, person)]),
        )
        .await
        .unwrap();
    let q = EntityQuery {
        limit: 10,
        ..EntityQuery::default()
    };
    let listed: Vec<_> = store
        .list_entities(&t, &q)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.guid)
        .collect();
    assert_eq!(listed, ["p2", "p1"]);
    assert_eq!(
        store.get_entity(&t, "p1").await.unwrap().unwrap().name,
        "Ann"
    );
    let pair = DuplicatePair {
        entity_guid: "p2".into(),
        duplicate_guid: "p1".into(),
    };
    let pending = store.list_duplicates(&t, 0, 10).await.unwrap();
    assert_eq!(pending, std::slice::from_ref(&pair));
    assert!(store.keep_both(&t, &pair).await.unwrap());
    assert!(!store.has_duplicates(&t).await.unwrap());
    // An update arriving late (older timestamp than the latest state) still folds in.
    store
        .push(
            &t,
            batch(vec![typed(
                "e3",
                "update-individual",
                "p1",
                500,
                json!({"nick": "A"}),
            )]),
        )
        .await
        .unwrap();
    let p1 = store.get_entity(&t, "p1").await.unwrap().unwrap();
    assert_eq!(p1.data["nick"], "A");
    assert_eq!(p1.data["name"], "Ann");
    store
        .push(
            &t,
            batch(vec![typed(
                "e4",
                "delete-entity",
                "p1",
                3_000,
                json!({"reason": "x"}),
            )]),
        )
        .await
        .unwrap();
    assert!(store.get_entity(&t, "p1").await.unwrap().is_none());
    assert_eq!(store.count_entities(&t).await.unwrap(), 1);
    assert_eq!(store.count_by_form(&t).await.unwrap()["person"], 1);
}

/// Concurrent pushes of one tenant share transactions (`group_commit`); a push that fails
/// (JSONB cannot hold U+0000) fails alone, every other one is committed with the outcome it
/// would have alone, and a guid pushed twice at once is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_share_commits_and_a_failing_one_fails_alone() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let mut tasks = Vec::new();
    for p in 0..24_i64 {
        let store = store.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut events: Vec<Event> = (0..20)
                .map(|i| event(&format!("e{p}-{i}"), &format!("p{p}-{i}"), p * 100 + i))
                .collect();
            // Every push also carries the same shared event.
            events.push(event("shared", "s", 1));
            if p % 8 == 7 {
                events[0].data.insert("x".into(), json!("a\u{0}b"));
            }
            (p, store.push(&t, batch(events)).await)
        }));
    }
    let (mut applied, mut shared_dups) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (p, Err(_)) if p % 8 == 7 => {}
            (p, Err(e)) => panic!("push {p} failed: {e:?}"),
            (p, Ok(_)) if p % 8 == 7 => panic!("push {p} with U+0000 succeeded"),
            (_, Ok(out)) => {
                assert!(out.errors.is_empty());
                applied += out.applied;
                shared_dups += out.duplicates;
            }
        }
    }
    // 21 pushes of 20 events, plus the shared event once; 20 pushes saw it stored already.
    assert_eq!((applied, shared_dups), (21 * 20 + 1, 20));
    let all = store
        .pull(&t, Seq(0), 10_000, usize::MAX)
        .await
        .unwrap()
        .events;
    let seqs: Vec<i64> = all.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, (1..=21 * 20 + 1).collect::<Vec<_>>());
    assert_eq!(store.head(&t).await.unwrap(), Seq(21 * 20 + 1));
    assert!(!all.iter().any(|e| e.event.guid.starts_with("e7-")));
}

#[derive(diesel::QueryableByName)]
struct Bytes {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    data_bytes: Option<i32>,
}

/// Each event stores its data's size as compact JSON text; a pull bounds its pages by it,
/// and by the size measured from the text for events stored before the column existed.
#[tokio::test]
async fn pull_pages_use_stored_data_sizes_and_measure_older_events() {
    use diesel::RunQueryDsl;
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let events: Vec<Event> = (1..=9)
        .map(|i| {
            let data = json!({"blob": format!("{i}").repeat(1_000)});
            validate_event(&json!({"guid": format!("e{i}"), "entityGuid": "p",
                "type": "update-individual", "data": data, "timestamp": ts(i).to_iso(),
                "userId": "u"}))
            .unwrap()
        })
        .collect();
    let compact = serde_json::to_string(&events[0].data).unwrap().len();
    assert_eq!(compact, 1_011);
    store.push(&t, batch(events)).await.unwrap();
    let mut conn = db.conn();
    let stored: Vec<Bytes> =
        diesel::sql_query("SELECT data_bytes FROM events WHERE tenant_id = 't1' ORDER BY seq")
            .load(&mut conn)
            .unwrap();
    assert!(stored.iter().all(|b| b.data_bytes == Some(1_011)));
    // Events 4–6 as if stored before the column: measured from their text (1,012 bytes, as
    // PostgreSQL writes a space after the colon).
    diesel::sql_query("UPDATE events SET data_bytes = NULL WHERE seq BETWEEN 4 AND 6")
        .execute(&mut conn)
        .unwrap();
    let mut pages = Vec::new();
    let mut after = Seq(0);
    loop {
        let page = store.pull(&t, after, 100, 2_500).await.unwrap();
        let seqs: Vec<i64> = page.events.iter().map(|e| e.seq.0).collect();
        after = page.events.last().map_or(after, |e| e.seq);
        pages.push(seqs);
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]);
    // 3,033 bytes of stored sizes reach 3,033 exactly: the third event ends the page.
    let page = store.pull(&t, Seq(0), 100, 3_033).await.unwrap();
    assert_eq!((page.events.len(), page.more), (3, true));
    let page = store.pull(&t, Seq(0), 100, 3_034).await.unwrap();
    assert_eq!((page.events.len(), page.more), (4, true));
}
