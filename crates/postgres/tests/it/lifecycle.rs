//! Connecting, migrations up → down → up, recovery after lost connections.

use crate::db::{count, create_tenant, tenant, TestDb};
use crate::events::{batch, event};
use diesel::RunQueryDsl;
use domain::error::StoreError;
use domain::ports::{ConfigStore, EventStore};
use postgres_store::{PgOptions, PgStore};
use std::time::{Duration, Instant};

fn tables_in(db: &TestDb) -> i64 {
    count(
        &mut db.conn(),
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = $1 \
         AND table_name <> '__diesel_schema_migrations'",
        db.schema(),
    )
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let (db, store) = crate::test_db!();
    assert_eq!(tables_in(&db), 17);
    create_tenant(&store, "t1", "One").await;
    store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 1_000)]))
        .await
        .unwrap();
    assert_eq!(store.run_pending_migrations().unwrap(), 0);

    // Every migration of `migrations/postgres` reverts, and runs again.
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!(store.revert_all_migrations().unwrap(), migrations);
    assert_eq!(tables_in(&db), 0);
    assert!(store.get_config(&tenant("t1")).await.is_err());

    assert_eq!(store.run_pending_migrations().unwrap(), migrations);
    assert_eq!(tables_in(&db), 17);
    assert_eq!(store.get_config(&tenant("t1")).await.unwrap(), None);
    create_tenant(&store, "t1", "One").await;
    let out = store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 1_000)]))
        .await
        .unwrap();
    assert_eq!(out.applied, 1);
    // A second store on the same schema finds nothing to migrate.
    let again = db.store();
    assert_eq!(again.run_pending_migrations().unwrap(), 0);
}

/// Terminates every backend of the store's pool from a separate connection and waits
/// until they are gone; returns how many the first pass terminated. The pool may still be
/// opening a replacement for a connection it dropped in the previous round (it keeps one
/// idle in the background), so each pass terminates whatever has appeared since.
fn terminate_pool_backends(db: &TestDb) -> i64 {
    let mut admin = db.conn();
    let mut terminate = || {
        count(
            &mut admin,
            "SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend(pid, 5000) FROM \
             pg_stat_activity WHERE application_name = $1) t",
            db.schema(),
        )
    };
    let n = terminate();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if terminate() == 0 {
            return n;
        }
        assert!(Instant::now() < deadline, "backends still alive");
    }
}

#[tokio::test]
async fn the_next_request_after_backends_are_terminated_succeeds() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    // Open every connection of the pool (4) with concurrent requests.
    let pings: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.ping().await })
        })
        .collect();
    for p in pings {
        p.await.unwrap().unwrap();
    }
    for round in 0..3 {
        let killed = terminate_pool_backends(&db);
        assert!(killed >= 1, "round {round}: no backend terminated");
        // No retry loop: the very next call must succeed.
        store.ping().await.unwrap();
        let cfg = store.get_config(&tenant("t1")).await.unwrap();
        assert!(cfg.is_some());
        let guid = format!("e{round}");
        let out = store
            .push(&tenant("t1"), batch(vec![event(&guid, "p1", 1_000)]))
            .await
            .unwrap();
        assert_eq!(out.applied, 1);
    }
    assert_eq!(store.head(&tenant("t1")).await.unwrap().0, 3);
}

#[tokio::test]
async fn a_transaction_cut_by_a_terminated_backend_is_unavailable_and_rolled_back() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    // Hold the tenant lock from outside so the push waits inside its transaction, then
    // kill the push's backend.
    let mut blocker = db.conn();
    diesel::sql_query("BEGIN").execute(&mut blocker).unwrap();
    diesel::sql_query("SELECT head FROM configs WHERE id = 't1' FOR UPDATE")
        .execute(&mut blocker)
        .unwrap();
    let pusher = {
        let s = store.clone();
        tokio::spawn(async move {
            s.push(&tenant("t1"), batch(vec![event("e1", "p1", 1_000)]))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate_pool_backends(&db);
    let result = pusher.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
    diesel::sql_query("ROLLBACK").execute(&mut blocker).unwrap();
    assert_eq!(store.head(&tenant("t1")).await.unwrap().0, 0);
    assert!(store
        .pull(&tenant("t1"), Default::default(), 10, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let options = PgOptions {
        pool_size: 1,
        connection_timeout: Duration::from_millis(500),
        schema: None,
    };
    // Port 1 on localhost: connection refused.
    let started = Instant::now();
    let result = PgStore::connect_with("postgres://postgres@127.0.0.1:1/test", options);
    assert!(matches!(result, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(10));
    let zero = PgOptions {
        pool_size: 0,
        ..PgOptions::default()
    };
    assert!(matches!(
        PgStore::connect_with("postgres://postgres@127.0.0.1:1/test", zero),
        Err(StoreError::Internal(_))
    ));
}

/// Every guid column a listing orders by compares bytewise, as on SQLite and in the domain
/// (whatever the database's default collation), so pages are the same on every backend.
#[tokio::test]
async fn ordered_guid_columns_compare_bytewise() {
    let (db, _store) = crate::test_db!();
    let not_bytewise = count(
        &mut db.conn(),
        "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = $1 \
         AND (table_name, column_name) IN (('events', 'guid'), ('entities', 'guid'), \
         ('potential_duplicates', 'entity_guid'), ('potential_duplicates', 'duplicate_guid'), \
         ('duplicate_keep_both', 'entity_guid'), ('duplicate_keep_both', 'duplicate_guid')) \
         AND collation_name IS DISTINCT FROM 'C'",
        db.schema(),
    );
    assert_eq!(not_bytewise, 0);
}
