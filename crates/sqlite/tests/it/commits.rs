//! Group commit of concurrent pushes, and WAL checkpoints off the commit path.

use crate::db::{create_tenant, tenant, TestDb};
use crate::events::{batch, event};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::ports::EventStore;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_commit_together_and_a_failing_one_fails_alone() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "a", "A").await;
    create_tenant(&store, "b", "B").await;
    let mut tasks = Vec::new();
    for p in 0..24_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Every eighth push goes to a tenant that does not exist.
            let id = match p % 8 {
                7 => "missing",
                n if n % 2 == 0 => "a",
                _ => "b",
            };
            let events = (0..50)
                .map(|i| event(&format!("e{p}-{i}"), &format!("p{p}-{i}"), p * 100 + i))
                .collect();
            (id, store.push(&tenant(id), batch(events)).await)
        }));
    }
    let mut applied = 0;
    for t in tasks {
        let (id, outcome) = t.await.unwrap();
        match (id, outcome) {
            ("missing", Err(StoreError::NotFound)) => {}
            ("missing", other) => panic!("push to a missing tenant: {other:?}"),
            (_, Ok(out)) => applied += out.applied,
            (_, Err(e)) => panic!("push failed: {e:?}"),
        }
    }
    assert_eq!(applied, 21 * 50);
    // Sequences are consecutive per tenant and every event is there once.
    for (id, pushes) in [("a", 12_i64), ("b", 9)] {
        let t = tenant(id);
        assert_eq!(store.head(&t).await.unwrap(), Seq(pushes * 50), "{id}");
        let events = store
            .pull(&t, Seq(0), 5_000, usize::MAX)
            .await
            .unwrap()
            .events;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq.0).collect();
        assert_eq!(seqs, (1..=pushes * 50).collect::<Vec<_>>(), "{id}");
        let guids: HashSet<_> = events.iter().map(|e| e.event.guid.clone()).collect();
        assert_eq!(guids.len() as i64, pushes * 50);
    }
    assert_eq!(store.head(&tenant("missing")).await.unwrap(), Seq(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_without_any_commit_doing_it() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "c", "C").await;
    let file = db.url().trim_start_matches("sqlite://").to_owned();
    let before = std::fs::metadata(&file).unwrap().len();
    for p in 0..10_i64 {
        let events = (0..100)
            .map(|i| event(&format!("e{p}-{i}"), &format!("p{p}-{i}"), p * 1000 + i))
            .collect();
        store.push(&tenant("c"), batch(events)).await.unwrap();
    }
    // Commits write to the WAL only; the checkpoint thread copies the pages into the
    // database file within a few of its intervals.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&file).unwrap().len();
        if now > before + 100 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "database file still {now} bytes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
