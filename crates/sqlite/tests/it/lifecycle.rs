//! Opening, reopening and migrating.

use crate::db::{create_tenant, tenant, TestDb};
use crate::events::{batch, event};
use domain::cursor::Seq;
use domain::error::StoreError;
use domain::ports::{ConfigStore, EventStore};

#[tokio::test]
async fn open_creates_parent_directories_and_answers_ping() {
    let db = TestDb::new();
    let store = db.open();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn rejects_in_memory_urls() {
    assert!(sqlite_store::SqliteStore::open("sqlite::memory:").is_err());
}

#[tokio::test]
async fn reopening_an_existing_file_keeps_data() {
    let db = TestDb::new();
    {
        let store = db.open();
        create_tenant(&store, "t1", "One").await;
        let out = store
            .push(
                &tenant("t1"),
                batch(vec![event("e1", "p1", 10), event("e2", "p1", 20)]),
            )
            .await
            .unwrap();
        assert_eq!(out.head, Seq(2));
    }
    let store = db.open();
    assert_eq!(store.head(&tenant("t1")).await.unwrap(), Seq(2));
    let events = store
        .pull(&tenant("t1"), Seq(0), 10, usize::MAX)
        .await
        .unwrap()
        .events;
    let guids: Vec<_> = events.iter().map(|e| e.event.guid.as_str()).collect();
    assert_eq!(guids, ["e1", "e2"]);
    assert!(store.get_config(&tenant("t1")).await.unwrap().is_some());
    // Migrations already applied: nothing pending.
    assert_eq!(store.run_pending_migrations().unwrap(), 0);
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    assert!(store.revert_all_migrations().unwrap() >= 1);
    // Every table is gone.
    assert!(matches!(
        store.get_config(&tenant("t1")).await,
        Err(StoreError::Internal(_))
    ));
    assert!(store.run_pending_migrations().unwrap() >= 1);
    assert!(store.get_config(&tenant("t1")).await.unwrap().is_none());
    create_tenant(&store, "t1", "One").await;
    store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 10)]))
        .await
        .unwrap();
    assert_eq!(store.head(&tenant("t1")).await.unwrap(), Seq(1));
}
