//! Entity queries and duplicate review (rows written directly, as the push would).

use crate::db::{create_tenant, tenant};
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text};
use diesel::{PgConnection, RunQueryDsl};
use domain::entity::EntityKind;
use domain::ports::{DuplicatePair, EntityQuery, EntityStore};
use serde_json::{json, Value};

/// Inserts an entity row of `tenant` (an individual unless `data.memberIds` is given).
#[allow(clippy::too_many_arguments)]
pub fn insert_entity(
    conn: &mut PgConnection,
    tenant: &str,
    guid: &str,
    name: &str,
    data: Value,
    last_updated: i64,
    deleted: bool,
    match_key: Option<&str>,
) {
    let kind = if data.get("memberIds").is_some() {
        "group"
    } else {
        "individual"
    };
    let entity_name = data
        .get("entityName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    diesel::sql_query(
        "INSERT INTO entities (tenant_id, guid, kind, name, version, data, member_ids, \
         parent_ids, external_id, entity_name, last_updated, last_key_ts, last_key_guid, \
         deleted, match_key) VALUES ($1, $2, $3, $4, 1, $5, '[]', '[]', NULL, $6, $7, $7, \
         'e', $8, $9)",
    )
    .bind::<Text, _>(tenant)
    .bind::<Text, _>(guid)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(name)
    .bind::<Jsonb, _>(data)
    .bind::<Nullable<Text>, _>(entity_name)
    .bind::<BigInt, _>(last_updated)
    .bind::<Bool, _>(deleted)
    .bind::<Nullable<Text>, _>(match_key)
    .execute(conn)
    .unwrap();
}

fn guids(list: Vec<domain::entity::Entity>) -> Vec<String> {
    list.into_iter().map(|e| e.guid).collect()
}

#[tokio::test]
async fn listing_filters_orders_and_counts_live_entities() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let mut c = db.conn();
    insert_entity(
        &mut c,
        "t1",
        "b",
        "Ana Lopez",
        json!({"entityName": "person"}),
        20,
        false,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "a",
        "ÉMILE",
        json!({"entityName": "person"}),
        20,
        false,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "c",
        "House",
        json!({"entityName": "household", "memberIds": []}),
        30,
        false,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "d",
        "Gone",
        json!({"entityName": "person"}),
        40,
        true,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "e",
        "No form",
        json!({"x": 1}),
        10,
        false,
        None,
    );
    let t = tenant("t1");
    let all = EntityQuery {
        limit: 10,
        ..EntityQuery::default()
    };
    assert_eq!(
        guids(store.list_entities(&t, &all).await.unwrap()),
        ["c", "a", "b", "e"]
    );
    let page = EntityQuery {
        offset: 1,
        limit: 2,
        ..all.clone()
    };
    assert_eq!(
        guids(store.list_entities(&t, &page).await.unwrap()),
        ["a", "b"]
    );
    let form = EntityQuery {
        entity_name: Some("person".into()),
        ..all.clone()
    };
    assert_eq!(
        guids(store.list_entities(&t, &form).await.unwrap()),
        ["a", "b"]
    );
    let groups = EntityQuery {
        kind: Some(EntityKind::Group),
        ..all.clone()
    };
    assert_eq!(
        guids(store.list_entities(&t, &groups).await.unwrap()),
        ["c"]
    );
    let named = EntityQuery {
        name_contains: Some("émi".into()),
        ..all.clone()
    };
    assert_eq!(guids(store.list_entities(&t, &named).await.unwrap()), ["a"]);
    let literal = EntityQuery {
        name_contains: Some("%".into()),
        ..all
    };
    assert!(store.list_entities(&t, &literal).await.unwrap().is_empty());
    assert_eq!(store.count_entities(&t).await.unwrap(), 4);
    let forms = store.count_by_form(&t).await.unwrap();
    assert_eq!(
        forms.into_iter().collect::<Vec<_>>(),
        [("household".into(), 1), ("person".into(), 2)]
    );
    assert_eq!(
        store.get_entity(&t, "a").await.unwrap().unwrap().name,
        "ÉMILE"
    );
    assert!(store.get_entity(&t, "d").await.unwrap().is_none());
    assert!(store
        .get_entity(&tenant("t2"), "a")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn search_matches_json_fields_with_bound_keys_and_values() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let mut c = db.conn();
    insert_entity(
        &mut c,
        "t1",
        "a",
        "A",
        json!({"name": "María", "age": 30, "ok": true, "it's": "x\"y", "tags": ["a"]}),
        2,
        false,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "b",
        "B",
        json!({"name": "maría", "age": 30.0, "ok": false, "n": null}),
        1,
        false,
        None,
    );
    insert_entity(
        &mut c,
        "t1",
        "c",
        "C",
        json!({"name": "MARÍA", "age": "30"}),
        3,
        true,
        None,
    );
    let t = tenant("t1");
    let search = |criteria: Vec<(&str, Value)>| {
        let store = store.clone();
        let t = t.clone();
        let criteria: Vec<(String, Value)> = criteria
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        async move { guids(store.search_entities(&t, &criteria, 10).await.unwrap()) }
    };
    assert_eq!(search(vec![("name", json!("MARÍA"))]).await, ["a", "b"]);
    assert_eq!(
        search(vec![("name", json!("maría")), ("age", json!(30))]).await,
        ["a", "b"]
    );
    assert!(search(vec![("age", json!("30"))]).await.is_empty());
    assert_eq!(search(vec![("ok", json!(false))]).await, ["b"]);
    assert_eq!(search(vec![("n", Value::Null)]).await, ["b"]);
    assert_eq!(search(vec![("it's", json!("X\"Y"))]).await, ["a"]);
    assert_eq!(search(vec![("tags", json!(["a"]))]).await, ["a"]);
    assert!(search(vec![("name'; DROP TABLE entities; --", json!("x"))])
        .await
        .is_empty());
    assert!(search(vec![("name", json!("%"))]).await.is_empty());
    assert_eq!(search(vec![]).await, ["a", "b"]);
    let limited = store
        .search_entities(&t, &[("name".into(), json!("maría"))], 1)
        .await
        .unwrap();
    assert_eq!(guids(limited), ["a"]);
    assert_eq!(store.count_entities(&t).await.unwrap(), 2);
}

#[tokio::test]
async fn duplicate_pairs_are_listed_and_kept_both() {
    let (db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    assert!(!store.has_duplicates(&t).await.unwrap());
    let mut c = db.conn();
    insert_entity(&mut c, "t1", "n1", "A", json!({}), 1, false, Some("key-1"));
    for (e, d) in [("n1", "o1"), ("n1", "o0"), ("n2", "o1")] {
        diesel::sql_query(
            "INSERT INTO potential_duplicates (tenant_id, entity_guid, duplicate_guid, \
             created_at) VALUES ('t1', $1, $2, 0)",
        )
        .bind::<Text, _>(e)
        .bind::<Text, _>(d)
        .execute(&mut c)
        .unwrap();
    }
    assert!(store.has_duplicates(&t).await.unwrap());
    assert!(!store.has_duplicates(&tenant("t2")).await.unwrap());
    let pairs = store.list_duplicates(&t, 0, 10).await.unwrap();
    let pair = |e: &str, d: &str| DuplicatePair {
        entity_guid: e.into(),
        duplicate_guid: d.into(),
    };
    assert_eq!(
        pairs,
        [pair("n1", "o0"), pair("n1", "o1"), pair("n2", "o1")]
    );
    assert_eq!(
        store.list_duplicates(&t, 2, 10).await.unwrap(),
        [pair("n2", "o1")]
    );
    assert!(store.keep_both(&t, &pair("n1", "o1")).await.unwrap());
    assert!(!store.keep_both(&t, &pair("n1", "o1")).await.unwrap());
    assert_eq!(
        store.list_duplicates(&t, 0, 10).await.unwrap(),
        [pair("n1", "o0"), pair("n2", "o1")]
    );
    #[derive(diesel::QueryableByName)]
    struct Kept {
        #[diesel(sql_type = Text)]
        match_key: String,
    }
    let kept: Vec<Kept> = diesel::sql_query("SELECT match_key FROM duplicate_keep_both")
        .load(&mut c)
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].match_key, "key-1");
}
