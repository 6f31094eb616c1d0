//! Every query the ports run can be served by an index: with sequential scans disabled for
//! the store's connections, the tables' statistics must show no sequential scan after every
//! port method ran (PostgreSQL still seq-scans when no index can serve a query). Left out:
//! the full listings of configs and Users-API apps, which read every row by definition, and
//! a purge's pass over the users (checked to be its only scan).

use crate::db::{config, create_tenant, tenant, ts};
use crate::entities::insert_entity;
use crate::events::{batch, event};
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::cursor::Seq;
use domain::ports::*;
use domain::users_schema::default_schema;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(QueryableByName)]
struct Scans {
    #[diesel(sql_type = Text)]
    relname: String,
    #[diesel(sql_type = BigInt)]
    seq_scan: i64,
}

#[tokio::test]
async fn tenant_queries_never_scan_a_table() {
    let Some(db) = crate::db::TestDb::new() else {
        return;
    };
    // Migrations build indexes, which counts as scanning: measure from after them.
    drop(db.store());
    let before = seq_scans(&db);
    let store = db.store_with("options=-c%20enable_seqscan%3Doff");
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    let t = tenant("t1");
    let mut conn = db.conn();
    for i in 0..50 {
        insert_entity(
            &mut conn,
            "t1",
            &format!("p{i}"),
            "N",
            json!({"entityName": "person", "name": "x"}),
            i,
            false,
            Some("k"),
        );
    }
    let bad = json!({"guid": 1});
    let mut b = batch(
        (0..50)
            .map(|i| event(&format!("e{i}"), &format!("p{i}"), i))
            .collect(),
    );
    b.rejected = vec![(
        bad.clone(),
        domain::event::validate_event(&bad).unwrap_err(),
    )];
    store.push(&t, b.clone()).await.unwrap();
    store.push(&t, b).await.unwrap();
    store.pull(&t, Seq(3), 10, usize::MAX).await.unwrap();
    store.first_seq_at_or_after(&t, ts(10)).await.unwrap();
    store.head(&t).await.unwrap();
    let filter = EventFilter {
        entity_guid: Some("p1".into()),
        event_type: Some("x".into()),
    };
    store.list_events(&t, &filter, Seq(0), 10).await.unwrap();
    let filter = EventFilter {
        entity_guid: None,
        event_type: Some("x".into()),
    };
    store.list_events(&t, &filter, Seq(0), 10).await.unwrap();
    store.entity_events(&t, "p1", 10).await.unwrap();
    store.quarantined(&t, 0, 10).await.unwrap();
    let q = EntityQuery {
        entity_name: Some("person".into()),
        name_contains: Some("n".into()),
        limit: 5,
        ..EntityQuery::default()
    };
    store.list_entities(&t, &q).await.unwrap();
    store.count_entities(&t).await.unwrap();
    store.count_by_form(&t).await.unwrap();
    store.get_entity(&t, "p1").await.unwrap();
    store
        .get_entities(&t, &["p1".into(), "p2".into()])
        .await
        .unwrap();
    store
        .search_entities(&t, &[("name".into(), json!("X"))], 5)
        .await
        .unwrap();
    store.list_duplicates(&t, 0, 10).await.unwrap();
    store.has_duplicates(&t).await.unwrap();
    let pair = DuplicatePair {
        entity_guid: "p1".into(),
        duplicate_guid: "p2".into(),
    };
    store.keep_both(&t, &pair).await.unwrap();
    store.get_config(&t).await.unwrap();
    store
        .config_by_artifact(&config("t1", "", "").artifact_id)
        .await
        .unwrap();
    store.set_archived(&t, None).await.unwrap();
    let audit = AuditEntry {
        guid: "a".into(),
        timestamp: ts(1),
        user_id: "u".into(),
        action: "x".into(),
        event_guid: String::new(),
        entity_guid: String::new(),
        changes: json!({}),
        signature: String::new(),
    };
    store.append_audit(&t, &[audit]).await.unwrap();
    store.list_audit(&t, Some(ts(0)), 0, 10).await.unwrap();
    let user = store
        .create_user(&NewUser {
            email: "a@x".into(),
            password_hash: "h".into(),
            role: Role::User,
            tenant_ids: vec![],
            role_assignments: vec![],
            created_at: ts(1),
        })
        .await
        .unwrap();
    store.get_user(user.id).await.unwrap();
    store.user_by_email("a@x").await.unwrap();
    store
        .update_user(user.id, &UserChange::every_member(&user))
        .await
        .unwrap();
    let token = RefreshToken {
        token_hash: "h".into(),
        user_id: user.id,
        family_id: "f".into(),
        expires_at: ts(100),
    };
    store
        .insert_refresh(&token, &user.password_hash)
        .await
        .unwrap();
    store.use_refresh("h", ts(1)).await.unwrap();
    store.use_refresh("h", ts(1)).await.unwrap();
    store.revoke_refresh("h").await.unwrap();
    store.record_failure("k", ts(1), ts(0)).await.unwrap();
    store.failures_since("k", ts(0)).await.unwrap();
    store.clear_failures("k").await.unwrap();
    let app = UsersApp {
        source_app_id: "a".into(),
        role: AppRole::User,
        password_hash: "h".into(),
        created_at: ts(1),
    };
    store.create_app(&app, &default_schema()).await.unwrap();
    store.get_app("a").await.unwrap();
    store.save_schema("a", &default_schema()).await.unwrap();
    store.current_schema("a").await.unwrap();
    store
        .upsert_record("a", "e@x", &serde_json::Map::new(), 1, "r1", ts(1))
        .await
        .unwrap();
    store.list_records(Some("a"), 0, 10).await.unwrap();
    store.list_records(None, 0, 10).await.unwrap();
    let session = UsersSession {
        token_hash: "s".into(),
        source_app_id: "a".into(),
        expires_at: ts(9),
    };
    store.create_session(&session).await.unwrap();
    store.get_session("s", ts(1)).await.unwrap();
    store.delete_session("s").await.unwrap();
    store.delete_app("a").await.unwrap();
    store.count_admins().await.unwrap();
    store.list_users().await.unwrap();
    store.delete_user(user.id).await.unwrap();

    drop(store);
    let after = seq_scans(&db);
    assert_eq!(after.len(), 17);
    let scanned: Vec<_> = after
        .iter()
        .filter(|(table, n)| before.get(*table) != Some(n))
        .collect();
    assert!(scanned.is_empty(), "sequential scans: {scanned:?}");

    // A purge reads every user, to find those holding the tenant (no index on
    // `tenant_ids`: a rare admin action on a small table); every tenant table by index.
    let store = db.store_with("options=-c%20enable_seqscan%3Doff");
    assert!(store.purge_config(&tenant("t2")).await.unwrap());
    drop(store);
    let scanned: Vec<_> = seq_scans(&db)
        .into_iter()
        .filter(|(table, n)| after.get(table) != Some(n))
        .map(|(table, _)| table)
        .collect();
    assert_eq!(scanned, ["users"]);
}

/// Sequential scans per table of the schema, once the store's connections are closed
/// (exiting backends flush their statistics).
fn seq_scans(db: &crate::db::TestDb) -> BTreeMap<String, i64> {
    let mut admin = db.conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::db::count(
        &mut admin,
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = $1",
        db.schema(),
    ) > 0
    {
        assert!(Instant::now() < deadline, "pool connections still open");
        std::thread::sleep(Duration::from_millis(20));
    }
    let scans: Vec<Scans> = diesel::sql_query(
        "SELECT relname::text AS relname, COALESCE(seq_scan, 0) AS seq_scan \
         FROM pg_stat_user_tables WHERE schemaname = $1 \
         AND relname <> '__diesel_schema_migrations'",
    )
    .bind::<Text, _>(db.schema())
    .load(&mut admin)
    .unwrap();
    scans.into_iter().map(|s| (s.relname, s.seq_scan)).collect()
}
