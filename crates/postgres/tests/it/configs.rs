//! Configs: save/replace, lookups, the list (search, sort, paging, archive), purge.

use crate::db::{config, count, create_tenant, tenant, ts};
use crate::entities::insert_entity;
use crate::events::{batch, event};
use diesel::RunQueryDsl;
use domain::error::StoreError;
use domain::ports::{ConfigQuery, ConfigSort, ConfigStore, EntityStore, EventStore};
use serde_json::json;

#[tokio::test]
async fn save_replaces_and_artifact_ids_are_unique() {
    let (_db, store) = crate::test_db!();
    let mut c = config("app1", "First", "1.0");
    assert!(store.save_config(&c).await.unwrap());
    assert_eq!(
        store.get_config(&tenant("app1")).await.unwrap(),
        Some(c.clone())
    );
    store
        .push(&tenant("app1"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    c.document = json!({"id": "app1", "name": "Renamed", "version": "2"});
    c.updated_at = ts(2_000);
    c.artifact_id = "a".repeat(32);
    assert!(!store.save_config(&c).await.unwrap());
    let got = store.get_config(&tenant("app1")).await.unwrap().unwrap();
    assert_eq!(got.document["name"], "Renamed");
    assert_eq!(got.created_at, ts(1_000));
    assert_eq!(got.updated_at, ts(2_000));
    // Events survive a replace.
    assert_eq!(store.head(&tenant("app1")).await.unwrap().0, 1);
    assert_eq!(
        store
            .config_by_artifact(&"a".repeat(32))
            .await
            .unwrap()
            .map(|c| c.id),
        Some(tenant("app1"))
    );
    let mut other = config("app2", "Second", "1");
    other.artifact_id = "a".repeat(32);
    assert!(matches!(
        store.save_config(&other).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.get_config(&tenant("app2")).await.unwrap().is_none());
    // Archived configs are hidden from the artifact lookup only.
    assert!(store
        .set_archived(&tenant("app1"), Some(ts(3_000)))
        .await
        .unwrap());
    assert!(store
        .config_by_artifact(&"a".repeat(32))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .get_config(&tenant("app1"))
            .await
            .unwrap()
            .unwrap()
            .archived_at,
        Some(ts(3_000))
    );
    assert!(store.set_archived(&tenant("app1"), None).await.unwrap());
    assert!(!store.set_archived(&tenant("ghost"), None).await.unwrap());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn the_list_searches_sorts_pages_and_counts() {
    let (db, store) = crate::test_db!();
    for (id, name, version) in [
        ("alpha", "Zeta Program", "1.0"),
        ("beta", "alpha survey", "2.0"),
        ("gamma", "Census", "X.9"),
        ("delta", "100%_done", "1"),
    ] {
        store.save_config(&config(id, name, version)).await.unwrap();
    }
    let mut conn = db.conn();
    for (i, t) in ["gamma", "gamma", "beta"].iter().enumerate() {
        insert_entity(
            &mut conn,
            t,
            &format!("g{i}"),
            "x",
            json!({}),
            1,
            false,
            None,
        );
    }
    insert_entity(&mut conn, "gamma", "dead", "x", json!({}), 1, true, None);
    store
        .set_archived(&tenant("delta"), Some(ts(1)))
        .await
        .unwrap();

    let ids = |page: &[domain::ports::ConfigSummary]| {
        page.iter()
            .map(|s| s.record.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let q = ConfigQuery {
        limit: 10,
        ..ConfigQuery::default()
    };
    let (page, total) = store.list_configs(&q).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(ids(&page), ["gamma", "alpha", "beta"]); // byte order: 'C' < 'Z' < 'a'
    let by_count = ConfigQuery {
        sort: ConfigSort::EntitiesCount,
        descending: true,
        ..q.clone()
    };
    let (page, _) = store.list_configs(&by_count).await.unwrap();
    assert_eq!(ids(&page), ["gamma", "beta", "alpha"]);
    assert_eq!(page[0].entities_count, 2);
    let search = ConfigQuery {
        search: Some("ALPHA".into()),
        ..q.clone()
    };
    let (page, total) = store.list_configs(&search).await.unwrap();
    assert_eq!(
        (ids(&page), total),
        (vec!["alpha".to_owned(), "beta".to_owned()], 2)
    );
    let by_version = ConfigQuery {
        search: Some("x.9".into()),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_configs(&by_version).await.unwrap().0),
        ["gamma"]
    );
    // Wildcards are literal.
    let literal = ConfigQuery {
        search: Some("%_".into()),
        include_archived: true,
        ..q.clone()
    };
    assert_eq!(
        ids(&store.list_configs(&literal).await.unwrap().0),
        ["delta"]
    );
    let paged = ConfigQuery {
        sort: ConfigSort::Id,
        offset: 1,
        limit: 2,
        include_archived: true,
        ..ConfigQuery::default()
    };
    let (page, total) = store.list_configs(&paged).await.unwrap();
    assert_eq!(
        (ids(&page), total),
        (vec!["beta".to_owned(), "delta".to_owned()], 4)
    );
    let only = ConfigQuery {
        only: Some(vec!["beta".into(), "nope".into()]),
        ..q.clone()
    };
    assert_eq!(ids(&store.list_configs(&only).await.unwrap().0), ["beta"]);
    let none = ConfigQuery {
        only: Some(vec![]),
        ..q
    };
    assert_eq!(store.list_configs(&none).await.unwrap().1, 0);
}

/// Rows of `tenant` in every table that has a `tenant_id` column.
fn tenant_rows(db: &crate::db::TestDb, tenant: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    use diesel::RunQueryDsl;
    let mut conn = db.conn();
    let tables = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.columns \
         WHERE table_schema = $1 AND column_name = 'tenant_id'",
    )
    .bind::<diesel::sql_types::Text, _>(db.schema())
    .load::<Table>(&mut conn)
    .unwrap();
    assert_eq!(tables.len(), 8, "tables with a tenant_id");
    tables
        .iter()
        .map(|t| {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM \"{}\" WHERE tenant_id = $1",
                t.table_name
            );
            crate::db::count(&mut conn, &sql, tenant)
        })
        .sum()
}

#[tokio::test]
async fn purge_removes_every_row_of_the_tenant_only() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    for t in ["t1", "t2"] {
        let mut b = batch(vec![event("e1", "p1", 1)]);
        let bad = json!({"x": 1});
        b.rejected = vec![(
            bad.clone(),
            domain::event::validate_event(&bad).unwrap_err(),
        )];
        store.push(&tenant(t), b).await.unwrap();
        insert_entity(&mut db.conn(), t, "x1", "x", json!({}), 1, false, Some("k"));
    }
    assert!(store.purge_config(&tenant("t1")).await.unwrap());
    assert!(!store.purge_config(&tenant("t1")).await.unwrap());
    assert!(store.get_config(&tenant("t1")).await.unwrap().is_none());
    assert_eq!(store.head(&tenant("t1")).await.unwrap().0, 0);
    assert!(store
        .pull(&tenant("t1"), Default::default(), 10, usize::MAX)
        .await
        .unwrap()
        .events
        .is_empty());
    assert_eq!(store.count_entities(&tenant("t1")).await.unwrap(), 0);
    assert!(store
        .quarantined(&tenant("t1"), 0, 10)
        .await
        .unwrap()
        .is_empty());
    // No row of t1 is left in any table (the push tables have no foreign key to cascade).
    assert_eq!(tenant_rows(&db, "t1"), 0);
    assert!(tenant_rows(&db, "t2") > 0);
    assert_eq!(store.head(&tenant("t2")).await.unwrap().0, 1);
    assert_eq!(store.count_entities(&tenant("t2")).await.unwrap(), 2);
    assert_eq!(
        store.quarantined(&tenant("t2"), 0, 10).await.unwrap().len(),
        1
    );
    // The id is free again; its sequence continues after the purged head, and the entities
    // are applied from there.
    create_tenant(&store, "t1", "Again").await;
    let out = store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    assert_eq!(out.head.0, 2);
    assert_eq!(store.count_entities(&tenant("t1")).await.unwrap(), 1);
}

/// A purge waits for an apply in progress without a deadlock: the apply holds the tenant's
/// apply position and may still flag a duplicate (an insert that checks the foreign key to
/// the tenant's row), so the purge takes the apply position before the tenant's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_waits_for_an_apply_without_deadlock() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    store
        .push(&tenant("t1"), batch(vec![event("e1", "p1", 1)]))
        .await
        .unwrap();
    // An apply in progress, as `apply_stage` runs it.
    let mut apply = db.hold_apply_position("t1");
    let purge = tokio::spawn({
        let store = store.clone();
        async move { store.purge_config(&tenant("t1")).await }
    });
    db.wait_for_a_store_lock_wait();
    // The apply flags a duplicate and commits; the purge then goes through.
    for sql in [
        "INSERT INTO potential_duplicates (tenant_id, entity_guid, duplicate_guid, created_at) \
         VALUES ('t1', 'p1', 'p2', 0)",
        "COMMIT",
    ] {
        diesel::sql_query(sql).execute(&mut apply).unwrap();
    }
    assert!(purge.await.unwrap().unwrap());
    assert_eq!(
        count(
            &mut db.conn(),
            "SELECT COUNT(*) AS n FROM potential_duplicates WHERE tenant_id = $1",
            "t1"
        ),
        0
    );
}
