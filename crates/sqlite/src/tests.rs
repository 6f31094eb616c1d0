//! White-box tests: connection settings, query plans, and the entity / duplicate queries
//! driven through the push primitives directly (independent of the domain's fold).

use crate::events::{ENTITY_EVENTS_FROM_SQL, ENTITY_EVENTS_SQL, FIRST_SEQ_SQL, PULL_SQL};
use crate::push_tx::{
    SqliteTx, EVENTS_REFERENCING_SQL, EXISTING_HASHES_SQL, KEY_ID_SQL, LOAD_ENTITIES_SQL,
    MATCH_KEY_SQL,
};
use crate::SqliteStore;
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use domain::cursor::Seq;
use domain::entity::{Entity, EntityKind, EntityRecord};
use domain::event::{validate_event, EventKey};
use domain::ports::{
    ConfigRecord, ConfigStore, DuplicatePair, EntityQuery, EntityStore, EntityTx, NewEvent, PushTx,
};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::{json, Value};
use std::path::PathBuf;

struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_store(name: &str) -> (Temp, SqliteStore) {
    let dir = std::env::temp_dir().join(format!(
        "sqlite-store-unit-{}-{name}-{}",
        std::process::id(),
        crate::sql::now_millis()
    ));
    let store = SqliteStore::open(&format!("sqlite://{}/db.sqlite", dir.display())).unwrap();
    (Temp(dir), store)
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("t1").unwrap()
}

async fn with_tenant(name: &str) -> (Temp, SqliteStore) {
    let (temp, store) = temp_store(name);
    store
        .save_config(&ConfigRecord {
            id: tenant(),
            artifact_id: "a".repeat(32),
            document: json!({"name": "T"}),
            archived_at: None,
            created_at: ts(1),
            updated_at: ts(1),
        })
        .await
        .unwrap();
    (temp, store)
}

fn record(guid: &str, updated: i64, data: Value, key: Option<&str>) -> EntityRecord {
    EntityRecord {
        entity: Entity {
            guid: guid.into(),
            kind: EntityKind::Individual,
            name: data["name"].as_str().unwrap_or("Unnamed").into(),
            version: 1,
            data: data.as_object().cloned().unwrap(),
            member_ids: vec![],
            external_id: None,
            last_updated: ts(updated),
        },
        deleted: false,
        parent_ids: vec!["g1".into()],
        last_key: EventKey {
            timestamp: ts(updated),
            guid: format!("ev-{guid}"),
        },
        match_key: key.map(str::to_owned),
    }
}

fn save(store: &SqliteStore, records: &[EntityRecord]) {
    let mut conn = store.writer_connection();
    SqliteTx::new(&mut conn, "t1")
        .save_entities(records)
        .unwrap();
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    v: String,
}

#[tokio::test]
async fn every_connection_has_the_pragmas() {
    let (_t, store) = temp_store("pragmas");
    for conn in [
        &mut *store.reader_connection(),
        &mut *store.writer_connection(),
    ] {
        let mode = diesel::sql_query("PRAGMA journal_mode")
            .load::<JournalMode>(conn)
            .unwrap();
        assert_eq!(mode[0].journal_mode, "wal");
        let checkpoint = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .load::<Checkpoint>(conn)
            .unwrap();
        assert_eq!(checkpoint[0].wal_autocheckpoint, 65_536);
        let checks = [
            ("synchronous", "synchronous", "2"),
            ("foreign_keys", "foreign_keys", "1"),
            ("busy_timeout", "timeout", "5000"),
        ];
        for (name, column, want) in checks {
            let got = diesel::sql_query(format!(
                "SELECT CAST({column} AS TEXT) AS v FROM pragma_{name}"
            ))
            .load::<Pragma>(conn)
            .unwrap();
            assert_eq!(got[0].v, want, "{name}");
        }
    }
}

#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_autocheckpoint: i64,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// The query plan of `sql` with `binds` text parameters: none of its steps scans a table
/// (reading the bound JSON array of a batch read is not a table scan), and a step searches with `index` (the one the query is written for; any index
/// is not enough: a tenant-wide index range is a scan too).
fn assert_plan(conn: &mut diesel::SqliteConnection, sql: &str, binds: usize, index: &str) {
    let mut q = crate::sql::query(format!("EXPLAIN QUERY PLAN {sql}"));
    for _ in 0..binds {
        q = q.bind::<Text, _>("x");
    }
    let plan: Vec<String> = q
        .load::<PlanRow>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.detail)
        .collect();
    assert!(
        plan.iter()
            .all(|step| !step.starts_with("SCAN") || step.starts_with("SCAN json_each")),
        "{sql}: {plan:?}"
    );
    assert!(
        plan.iter()
            .any(|step| step.starts_with("SEARCH") && step.contains(&format!("{index} ("))),
        "{sql} should use {index}: {plan:?}"
    );
}

#[tokio::test]
async fn hot_queries_read_the_index_they_are_written_for() {
    let (_t, store) = temp_store("plans");
    let mut conn = store.reader_connection();
    let events_pk = "INDEX sqlite_autoindex_events_1";
    assert_plan(&mut conn, PULL_SQL, 3, events_pk);
    assert_plan(
        &mut conn,
        ENTITY_EVENTS_SQL,
        6,
        "INDEX sqlite_autoindex_entity_keys_1",
    );
    assert_plan(&mut conn, ENTITY_EVENTS_SQL, 6, "PRIMARY KEY");
    assert_plan(&mut conn, ENTITY_EVENTS_SQL, 6, events_pk);
    let entity_page = format!("{ENTITY_EVENTS_FROM_SQL} ORDER BY seq LIMIT ?");
    assert_plan(&mut conn, &entity_page, 6, "PRIMARY KEY");
    assert_plan(&mut conn, &entity_page, 6, events_pk);
    // With a type filter the event is found through `events_type` (tenant, type, seq): also
    // one lookup per ref.
    let typed_page = format!("{ENTITY_EVENTS_FROM_SQL} AND type = ? ORDER BY seq LIMIT ?");
    assert_plan(&mut conn, &typed_page, 7, "PRIMARY KEY");
    assert_plan(&mut conn, &typed_page, 7, "INDEX events_type");
    assert_plan(&mut conn, FIRST_SEQ_SQL, 2, "INDEX events_ts");
    // The push's batch reads: one unique-key lookup per guid of the bound JSON array.
    assert_plan(
        &mut conn,
        EXISTING_HASHES_SQL,
        2,
        "INDEX sqlite_autoindex_events_2",
    );
    // Entities and refs are found by the guid's id: one `entity_keys` lookup, then rowid or
    // primary-key ranges.
    let keys = "INDEX sqlite_autoindex_entity_keys_1";
    assert_plan(&mut conn, KEY_ID_SQL, 2, keys);
    assert_plan(&mut conn, LOAD_ENTITIES_SQL, 2, keys);
    assert_plan(&mut conn, LOAD_ENTITIES_SQL, 2, "INTEGER PRIMARY KEY");
    assert_plan(&mut conn, EVENTS_REFERENCING_SQL, 4, keys);
    assert_plan(&mut conn, EVENTS_REFERENCING_SQL, 4, "PRIMARY KEY");
    assert_plan(&mut conn, EVENTS_REFERENCING_SQL, 4, events_pk);
    assert_plan(&mut conn, MATCH_KEY_SQL, 4, "INDEX entities_match");
    assert_plan(
        &mut conn,
        "SELECT guid FROM entities WHERE tenant_id = ? AND deleted = 0 \
         ORDER BY last_updated DESC, guid ASC LIMIT ? OFFSET ?",
        3,
        "INDEX entities_recent",
    );
    assert_plan(
        &mut conn,
        "SELECT entity_name, COUNT(*) AS n FROM entities WHERE tenant_id = ? \
         AND entity_name IS NOT NULL AND deleted = 0 GROUP BY entity_name",
        1,
        "INDEX entities_form",
    );
    assert_plan(
        &mut conn,
        "SELECT guid FROM entities WHERE id = (SELECT id FROM entity_keys \
         WHERE tenant_id = ? AND guid = ?) AND deleted = 0",
        2,
        "INTEGER PRIMARY KEY",
    );
    assert_plan(
        &mut conn,
        "DELETE FROM event_refs WHERE entity_id IN \
         (SELECT id FROM entity_keys WHERE tenant_id = ?)",
        1,
        "PRIMARY KEY",
    );
    assert_plan(
        &mut conn,
        "SELECT guid FROM entities WHERE tenant_id = ? AND deleted = 0 AND entity_name = ? \
         ORDER BY last_updated DESC, guid ASC LIMIT ? OFFSET ?",
        4,
        "INDEX entities_form",
    );
    assert_plan(
        &mut conn,
        "SELECT guid, content_hash FROM events WHERE tenant_id = ? AND guid IN (?, ?)",
        3,
        "INDEX sqlite_autoindex_events_2",
    );
    assert_plan(
        &mut conn,
        "SELECT id FROM quarantine WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
        3,
        "INDEX quarantine_tenant",
    );
    assert_plan(
        &mut conn,
        "SELECT id FROM audit_log WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
        3,
        "INDEX audit_log_tenant",
    );
    assert_plan(
        &mut conn,
        "DELETE FROM potential_duplicates WHERE tenant_id = ? AND duplicate_guid = ?",
        2,
        "INDEX potential_duplicates_dup",
    );
}

#[tokio::test]
async fn entity_listing_filters_counts_and_search() {
    let (_t, store) = with_tenant("entities").await;
    let mut deleted = record(
        "d",
        50,
        json!({"name": "Gone", "entityName": "person"}),
        None,
    );
    deleted.deleted = true;
    let mut group = record(
        "g1",
        30,
        json!({"name": "Household", "entityName": "hh"}),
        None,
    );
    group.entity.kind = EntityKind::Group;
    group.entity.member_ids = vec!["a".into()];
    save(
        &store,
        &[
            record(
                "a",
                10,
                json!({"name": "Ádám Smith", "entityName": "person", "age": 30, "ok": true}),
                Some("k1"),
            ),
            record(
                "b",
                30,
                json!({"name": "Bob", "entityName": "person", "age": 30.0, "x\"y\\z": "q", "n": null, "a.b": [1, {"c": "D"}]}),
                Some("k1"),
            ),
            group.clone(),
            deleted,
        ],
    );
    let t = tenant();
    let all = store
        .list_entities(
            &t,
            &EntityQuery {
                limit: 10,
                ..EntityQuery::default()
            },
        )
        .await
        .unwrap();
    let guids: Vec<_> = all.iter().map(|e| e.guid.as_str()).collect();
    assert_eq!(guids, ["b", "g1", "a"]);
    assert_eq!(all[1], group.entity);
    let page = store
        .list_entities(
            &t,
            &EntityQuery {
                limit: 1,
                offset: 1,
                ..EntityQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page[0].guid, "g1");
    let q = EntityQuery {
        entity_name: Some("person".into()),
        kind: Some(EntityKind::Individual),
        name_contains: Some("ÁDÁM".into()),
        limit: 10,
        offset: 0,
    };
    let found = store.list_entities(&t, &q).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].guid, "a");
    assert_eq!(store.count_entities(&t).await.unwrap(), 3);
    let forms = store.count_by_form(&t).await.unwrap();
    assert_eq!(forms.get("person"), Some(&2));
    assert_eq!(forms.get("hh"), Some(&1));
    assert!(store.get_entity(&t, "d").await.unwrap().is_none());
    assert!(store.get_entity(&t, "a").await.unwrap().is_some());

    let search = |criteria: Vec<(&str, Value)>| {
        let store = store.clone();
        let criteria: Vec<(String, Value)> = criteria
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        async move {
            let mut guids: Vec<String> = store
                .search_entities(&tenant(), &criteria, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.guid)
                .collect();
            guids.sort();
            guids
        }
    };
    assert_eq!(search(vec![("name", json!("ádám SMITH"))]).await, ["a"]);
    assert_eq!(search(vec![("age", json!(30))]).await, ["a", "b"]);
    assert_eq!(
        search(vec![("age", json!("30"))]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(vec![("age", json!(30)), ("ok", json!(true))]).await,
        ["a"]
    );
    assert_eq!(
        search(vec![("ok", json!(false))]).await,
        Vec::<String>::new()
    );
    assert_eq!(search(vec![("n", Value::Null)]).await, ["b"]);
    assert_eq!(search(vec![("x\"y\\z", json!("Q"))]).await, ["b"]);
    assert_eq!(
        search(vec![("x\"y", json!("Q"))]).await,
        Vec::<String>::new()
    );
    assert_eq!(search(vec![("a.b", json!([1, {"c": "D"}]))]).await, ["b"]);
    assert_eq!(
        search(vec![("a.b", json!([1]))]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(vec![("name", json!("Gone"))]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(vec![("$.name' OR 1=1 --", json!("Bob"))]).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn duplicates_flag_keep_both_and_reflag_on_key_change() {
    let (_t, store) = with_tenant("dups").await;
    let t = tenant();
    save(
        &store,
        &[
            record("a", 1, json!({"name": "A"}), Some("k")),
            record("b", 2, json!({"name": "A"}), Some("k")),
        ],
    );
    {
        let mut conn = store.writer_connection();
        let mut tx = SqliteTx::new(&mut conn, "t1");
        assert_eq!(tx.entities_with_match_key("k", "b", 10).unwrap(), ["a"]);
        tx.flag_duplicate("b", "a", "k").unwrap();
        tx.flag_duplicate("b", "a", "k").unwrap();
    }
    let pair = DuplicatePair {
        entity_guid: "b".into(),
        duplicate_guid: "a".into(),
    };
    assert!(store.has_duplicates(&t).await.unwrap());
    assert_eq!(
        store.list_duplicates(&t, 0, 10).await.unwrap(),
        std::slice::from_ref(&pair)
    );
    assert!(store.keep_both(&t, &pair).await.unwrap());
    assert!(!store.keep_both(&t, &pair).await.unwrap());
    assert!(!store.has_duplicates(&t).await.unwrap());
    {
        let mut conn = store.writer_connection();
        let mut tx = SqliteTx::new(&mut conn, "t1");
        // Same key as when kept: stays resolved.
        tx.flag_duplicate("b", "a", "k").unwrap();
    }
    assert!(!store.has_duplicates(&t).await.unwrap());
    {
        let mut conn = store.writer_connection();
        let mut tx = SqliteTx::new(&mut conn, "t1");
        tx.flag_duplicate("b", "a", "k2").unwrap();
        tx.flag_duplicate("c", "b", "k2").unwrap();
        tx.flag_duplicate("c", "d", "k2").unwrap();
    }
    assert_eq!(store.list_duplicates(&t, 1, 10).await.unwrap().len(), 2);
    {
        let mut conn = store.writer_connection();
        let mut tx = SqliteTx::new(&mut conn, "t1");
        tx.remove_duplicates_of("b").unwrap();
        tx.remove_duplicate("c", "d").unwrap();
    }
    assert!(!store.has_duplicates(&t).await.unwrap());

    let mut gone = record("a", 3, json!({"name": "A"}), Some("k"));
    gone.deleted = true;
    save(&store, &[gone]);
    let mut conn = store.writer_connection();
    let mut tx = SqliteTx::new(&mut conn, "t1");
    assert!(tx.entities_with_match_key("k", "b", 10).unwrap().is_empty());
}

#[tokio::test]
async fn push_primitives_round_trip_events_and_refs() {
    let (_t, store) = with_tenant("prims").await;
    let e1 = validate_event(
        &json!({"guid": "e1", "entityGuid": "g", "type": "add-member",
        "data": {"memberId": "m"}, "timestamp": "2024-01-01T00:00:00Z", "userId": "u"}),
    )
    .unwrap();
    let e2 = validate_event(&json!({"guid": "e2", "entityGuid": "m", "type": "update",
        "data": {"a": 1}, "timestamp": "2024-01-02T00:00:00Z", "userId": "u"}))
    .unwrap();
    let mut conn = store.writer_connection();
    let mut tx = SqliteTx::new(&mut conn, "t1");
    assert_eq!(tx.head().unwrap(), Seq(0));
    let new = [
        NewEvent {
            seq: Seq(1),
            event: &e1,
            hash: e1.content_hash(),
            refs: vec!["g".into(), "m".into(), "m".into()],
            received_at: ts(5),
            pushed_by: None,
        },
        NewEvent {
            seq: Seq(2),
            event: &e2,
            hash: e2.content_hash(),
            refs: vec!["m".into()],
            // From another push of the same group commit.
            received_at: ts(9),
            pushed_by: Some("7"),
        },
    ];
    tx.insert_events(&new).unwrap();
    assert_eq!(tx.head().unwrap(), Seq(2));
    let hashes = tx.existing_hashes(&["e2".into(), "zz".into()]).unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes["e2"], e2.content_hash());
    let mut refs: Vec<_> = tx
        .events_referencing(&["m".into(), "g".into()], None)
        .unwrap()
        .into_iter()
        .map(|e| e.guid)
        .collect();
    refs.sort();
    assert_eq!(refs, ["e1", "e2"]);
    assert!(tx
        .events_referencing(&["none".into()], None)
        .unwrap()
        .is_empty());
    // `up_to` leaves out later events.
    let first: Vec<_> = tx
        .events_referencing(&["m".into(), "g".into()], Some(Seq(1)))
        .unwrap()
        .into_iter()
        .map(|e| e.guid)
        .collect();
    assert_eq!(first, ["e1"]);
    let many: Vec<String> = (0..1_200).map(|i| format!("x{i}")).collect();
    assert!(tx.existing_hashes(&many).unwrap().is_empty());
    assert!(tx.load_entities(&many).unwrap().is_empty());
    let mut other = SqliteTx::new(&mut conn, "nope");
    assert!(matches!(
        other.head(),
        Err(domain::error::StoreError::NotFound)
    ));
    drop(conn);
    // Each event keeps its own push's receive time and pusher.
    let stored = domain::ports::EventStore::pull(&store, &tenant(), Seq(0), 10, usize::MAX)
        .await
        .unwrap()
        .events;
    let pushes: Vec<_> = stored
        .iter()
        .map(|e| (e.received_at, e.pushed_by.as_deref()))
        .collect();
    assert_eq!(pushes, [(ts(5), None), (ts(9), Some("7"))]);
}

/// The `COUNT(*) AS v` that `sql` selects.
fn count_rows(conn: &mut diesel::SqliteConnection, sql: &str) -> i64 {
    crate::sql::query(sql)
        .load::<crate::sql::Int>(conn)
        .unwrap()[0]
        .v
}

/// A household `g` listing a member `m` (refs g and m), an individual `p` of it
/// (`parentGuid`, not a ref), then an update of `p`.
fn household_events() -> Vec<domain::event::Event> {
    use store_tests::fixtures::event_with;
    vec![
        event_with(
            "e1",
            "g",
            "create-group",
            json!({"name": "G", "members": [{"guid": "m"}]}),
            1,
        ),
        event_with(
            "e2",
            "p",
            "create-individual",
            json!({"name": "P", "parentGuid": "g"}),
            2,
        ),
        event_with("e3", "p", "update-individual", json!({"phone": "1"}), 3),
    ]
}

/// A store whose tenant holds [`household_events`].
async fn with_household(name: &str) -> (Temp, SqliteStore) {
    let (temp, store) = with_tenant(name).await;
    let batch = store_tests::fixtures::batch(household_events());
    domain::ports::EventStore::push(&store, &tenant(), batch)
        .await
        .unwrap();
    (temp, store)
}

async fn entity_events(store: &SqliteStore, guid: &str) -> Vec<String> {
    domain::ports::EventStore::entity_events(store, &tenant(), guid, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.guid)
        .collect()
}

/// The migration to entity ids carries entities and refs over, and its down migration
/// carries them back to the guid-keyed tables.
#[tokio::test]
async fn entity_keys_migration_carries_entities_and_refs_both_ways() {
    use diesel_migrations::MigrationHarness;
    let (_t, store) = with_household("keys-migration").await;
    let t = tenant();
    let before = (
        store.get_entity(&t, "p").await.unwrap(),
        entity_events(&store, "p").await,
    );
    assert_eq!(before.1, ["e2", "e3"]);
    {
        let mut conn = store.writer_connection();
        conn.revert_last_migration(crate::store::MIGRATIONS)
            .unwrap();
        // The guid-keyed layout: e1 references g and m (a member, so an entity too), e2 and
        // e3 reference p.
        assert_eq!(
            count_rows(
                &mut conn,
                "SELECT COUNT(*) AS v FROM event_refs WHERE entity_guid = 'm'"
            ),
            1
        );
        assert_eq!(
            count_rows(
                &mut conn,
                "SELECT COUNT(*) AS v FROM event_refs WHERE entity_guid = 'g'"
            ),
            1
        );
        assert_eq!(
            count_rows(
                &mut conn,
                "SELECT COUNT(*) AS v FROM event_refs WHERE entity_guid = 'p'"
            ),
            2
        );
        assert_eq!(
            count_rows(&mut conn, "SELECT COUNT(*) AS v FROM entities"),
            3
        );
        conn.run_pending_migrations(crate::store::MIGRATIONS)
            .unwrap();
        assert_eq!(
            count_rows(&mut conn, "SELECT COUNT(*) AS v FROM entity_keys"),
            3
        );
    }
    let after = (
        store.get_entity(&t, "p").await.unwrap(),
        entity_events(&store, "p").await,
    );
    assert_eq!(after, before);
    assert_eq!(entity_events(&store, "g").await, ["e1"]);
    // Pushes go on: a later update of p is applied to the carried-over entity.
    let later =
        store_tests::fixtures::event_with("e4", "p", "update-individual", json!({"phone": "2"}), 4);
    domain::ports::EventStore::push(&store, &t, store_tests::fixtures::batch(vec![later]))
        .await
        .unwrap();
    let p = store.get_entity(&t, "p").await.unwrap().unwrap();
    assert_eq!(p.data["phone"], "2");
    assert_eq!(p.data["name"], "P");
    assert_eq!(entity_events(&store, "p").await, ["e2", "e3", "e4"]);
}

/// A purge leaves no entity key or ref of the tenant behind, and those of another tenant
/// with the same entity guids in place.
#[tokio::test]
async fn purge_removes_the_tenants_entity_keys_and_refs() {
    let (_t, store) = with_household("keys-purge").await;
    let t2 = TenantId::parse("t2").unwrap();
    store
        .save_config(&ConfigRecord {
            id: t2.clone(),
            artifact_id: "b".repeat(32),
            document: json!({"name": "T2"}),
            archived_at: None,
            created_at: ts(1),
            updated_at: ts(1),
        })
        .await
        .unwrap();
    let batch = store_tests::fixtures::batch(household_events());
    domain::ports::EventStore::push(&store, &t2, batch)
        .await
        .unwrap();
    let mut conn = store.writer_connection();
    assert_eq!(
        count_rows(&mut conn, "SELECT COUNT(*) AS v FROM event_refs"),
        8
    );
    drop(conn);
    assert!(store.purge_config(&tenant()).await.unwrap());
    let mut conn = store.writer_connection();
    assert_eq!(
        count_rows(&mut conn, "SELECT COUNT(*) AS v FROM entity_keys"),
        3
    );
    assert_eq!(
        count_rows(
            &mut conn,
            "SELECT COUNT(*) AS v FROM entity_keys WHERE tenant_id = 't1'"
        ),
        0
    );
    assert_eq!(
        count_rows(&mut conn, "SELECT COUNT(*) AS v FROM event_refs"),
        4
    );
    drop(conn);
    let p_events: Vec<String> = domain::ports::EventStore::entity_events(&store, &t2, "p", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.guid)
        .collect();
    assert_eq!(p_events, ["e2", "e3"]);
}
