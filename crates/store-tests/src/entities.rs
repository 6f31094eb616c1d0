//! Clauses of [`domain::ports::EntityStore`]: the entity fold as stored, listings, search
//! and potential duplicates.

use crate::fixtures::{batch, create_tenant, event_with, pull_all, push, ts};
use domain::apply::fold;
use domain::duplicates::{DuplicateRule, DuplicateRules, Normalize};
use domain::entity::{Entity, EntityKind};
use domain::event::Event;
use domain::ports::{DuplicatePair, EntityQuery, PushBatch, Stores};
use domain::tenant::TenantId;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn guids_of(entities: &[Entity]) -> Vec<String> {
    entities.iter().map(|e| e.guid.clone()).collect()
}

fn create(guid: &str, data: Value, ms: i64) -> Event {
    event_with(&format!("c-{guid}"), guid, "create-individual", data, ms)
}

fn update(event_guid: &str, entity: &str, data: Value, ms: i64) -> Event {
    event_with(event_guid, entity, "update-individual", data, ms)
}

/// `get_entities` reads the live entities among the guids asked for, of that tenant only.
pub async fn get_entities_reads_live_ones_of_the_tenant(stores: &Stores) {
    let t1 = create_tenant(stores, "t1").await;
    let t2 = create_tenant(stores, "t2").await;
    let create = |guid: &str, ms: i64| {
        let name = format!("N {guid}");
        event_with(
            &format!("c-{guid}"),
            guid,
            "create-individual",
            json!({"name": name}),
            ms,
        )
    };
    let events = vec![
        create("a", 1),
        create("b", 2),
        create("c", 3),
        event_with("d-b", "b", "delete-entity", json!({"reason": "x"}), 4),
    ];
    assert_eq!(push(stores, &t1, events).await, 4);
    assert_eq!(push(stores, &t2, vec![create("z", 1)]).await, 1);
    let asked: Vec<String> = ["c", "b", "missing", "z", "a"].map(String::from).to_vec();
    let mut got = guids_of(&stores.entities.get_entities(&t1, &asked).await.unwrap());
    got.sort();
    assert_eq!(got, ["a", "c"]);
    let got = stores.entities.get_entities(&t2, &asked).await.unwrap();
    assert_eq!(guids_of(&got), ["z"]);
    assert_eq!(got[0].name, "N z");
    assert!(stores
        .entities
        .get_entities(&t1, &[])
        .await
        .unwrap()
        .is_empty());
}

/// An event that arrives after later ones (by client time) recomputes the entity as if all
/// events had been applied in `(timestamp, guid)` order.
pub async fn late_event_recomputes_entity(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let events = vec![
        create("p1", json!({"name": "A"}), 10),
        update("u30", "p1", json!({"name": "C"}), 30),
    ];
    assert_eq!(push(stores, &t, events).await, 2);
    let late = update("u20", "p1", json!({"name": "B", "age": 5}), 20);
    assert_eq!(push(stores, &t, vec![late]).await, 1);
    let got = stores.entities.get_entity(&t, "p1").await.unwrap().unwrap();
    assert_eq!(got.name, "C");
    assert_eq!(
        Value::Object(got.data.clone()),
        json!({"name": "C", "age": 5})
    );
    assert_eq!(got.version, 3);
    assert_eq!(got.last_updated, ts(30));
    assert_eq!(got.kind, EntityKind::Individual);
    // A late delete removes it; the state always equals the fold of every stored event.
    let delete = event_with("d15", "p1", "delete-entity", json!({"reason": "x"}), 15);
    assert_eq!(push(stores, &t, vec![delete]).await, 1);
    let stored: Vec<Event> = pull_all(stores, &t)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    let expected = fold(&stored);
    let live = expected
        .get("p1")
        .filter(|r| !r.deleted)
        .map(|r| r.entity.clone());
    assert_eq!(stores.entities.get_entity(&t, "p1").await.unwrap(), live);
}

/// Listings hold live entities only, newest `lastUpdated` first with ties by guid, filtered
/// by form, kind and case-insensitive name, paged; counts cover live entities only.
pub async fn entity_list_order_filters_and_counts(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let events = vec![
        create("i1", json!({"name": "Alice", "entityName": "person"}), 100),
        create("i2", json!({"name": "bob", "entityName": "person"}), 300),
        create("i3", json!({"name": "Carol", "entityName": "staff"}), 200),
        create("i4", json!({"name": "ALINA"}), 300),
        event_with(
            "c-g1",
            "g1",
            "create-group",
            json!({"name": "Ali household", "entityName": "household"}),
            250,
        ),
        create(
            "i5",
            json!({"name": "Zed Ali", "entityName": "person"}),
            400,
        ),
        event_with(
            "d-i5",
            "i5",
            "delete-entity",
            json!({"reason": "gone"}),
            500,
        ),
    ];
    assert_eq!(push(stores, &t, events).await, 7);
    let list = |q: EntityQuery| {
        let stores = stores.clone();
        let t = t.clone();
        async move { guids_of(&stores.entities.list_entities(&t, &q).await.unwrap()) }
    };
    let all = EntityQuery {
        limit: 100,
        ..EntityQuery::default()
    };
    assert_eq!(list(all.clone()).await, ["i2", "i4", "g1", "i3", "i1"]);
    let person = EntityQuery {
        entity_name: Some("person".into()),
        ..all.clone()
    };
    assert_eq!(list(person).await, ["i2", "i1"]);
    let groups = EntityQuery {
        kind: Some(EntityKind::Group),
        ..all.clone()
    };
    assert_eq!(list(groups).await, ["g1"]);
    let individuals = EntityQuery {
        kind: Some(EntityKind::Individual),
        ..all.clone()
    };
    assert_eq!(list(individuals).await, ["i2", "i4", "i3", "i1"]);
    let ali = EntityQuery {
        name_contains: Some("ALI".into()),
        ..all.clone()
    };
    assert_eq!(list(ali.clone()).await, ["i4", "g1", "i1"]);
    let ali_page = EntityQuery {
        offset: 1,
        limit: 1,
        ..ali
    };
    assert_eq!(list(ali_page).await, ["g1"]);
    let page = EntityQuery {
        offset: 1,
        limit: 2,
        ..all.clone()
    };
    assert_eq!(list(page).await, ["i4", "g1"]);
    let past_end = EntityQuery {
        offset: 10,
        ..all.clone()
    };
    assert!(list(past_end).await.is_empty());
    let combined = EntityQuery {
        entity_name: Some("person".into()),
        name_contains: Some("b".into()),
        kind: Some(EntityKind::Individual),
        ..all
    };
    assert_eq!(list(combined).await, ["i2"]);

    assert_eq!(stores.entities.count_entities(&t).await.unwrap(), 5);
    let by_form = stores.entities.count_by_form(&t).await.unwrap();
    let expected: BTreeMap<String, u64> = [
        ("household".to_owned(), 1),
        ("person".to_owned(), 2),
        ("staff".to_owned(), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_form, expected);
    assert_eq!(stores.entities.get_entity(&t, "i5").await.unwrap(), None);
    assert_eq!(stores.entities.get_entity(&t, "nope").await.unwrap(), None);
    let alice = stores.entities.get_entity(&t, "i1").await.unwrap().unwrap();
    assert_eq!((alice.name.as_str(), alice.version), ("Alice", 1));
    assert_eq!(alice.last_updated, ts(100));
    let g1 = stores.entities.get_entity(&t, "g1").await.unwrap().unwrap();
    assert_eq!(g1.kind, EntityKind::Group);
}

/// Search compares top-level data fields by JSON equality (strings case-insensitively);
/// values are bound, so quotes and SQL text are plain data.
pub async fn search_entities_binds_values(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    let injection = "\"; DROP TABLE x; --";
    let events = vec![
        create(
            "p1",
            json!({"name": "O'Brien", "city": "Cork", "age": 40}),
            1,
        ),
        create(
            "p2",
            json!({"name": injection, "city": "cork", "age": 41}),
            2,
        ),
        create("p3", json!({"name": "Ann", "city": "Dublin", "age": 40}), 3),
        create(
            "p4",
            json!({"name": "' OR '1'='1", "city": "Cork", "age": 40}),
            4,
        ),
        event_with("d-p4", "p4", "delete-entity", json!({"reason": "x"}), 5),
    ];
    assert_eq!(push(stores, &t, events).await, 5);
    let search = |criteria: Vec<(&str, Value)>, limit: u32| {
        let criteria: Vec<(String, Value)> = criteria
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let stores = stores.clone();
        let t = t.clone();
        async move {
            let mut found = guids_of(
                &stores
                    .entities
                    .search_entities(&t, &criteria, limit)
                    .await
                    .unwrap(),
            );
            found.sort();
            found
        }
    };
    assert_eq!(search(vec![("name", json!("o'brien"))], 10).await, ["p1"]);
    assert_eq!(search(vec![("name", json!(injection))], 10).await, ["p2"]);
    assert!(search(vec![("name", json!("' OR '1'='1"))], 10)
        .await
        .is_empty());
    assert_eq!(
        search(vec![("city", json!("CORK"))], 10).await,
        ["p1", "p2"]
    );
    assert_eq!(
        search(vec![("city", json!("cork")), ("age", json!(40))], 10).await,
        ["p1"]
    );
    assert_eq!(search(vec![("age", json!(40))], 10).await, ["p1", "p3"]);
    assert!(search(vec![("age", json!("40"))], 10).await.is_empty());
    assert!(search(vec![("missing", json!("x"))], 10).await.is_empty());
    assert!(search(vec![("city", json!("Co"))], 10).await.is_empty());
    assert_eq!(search(vec![("city", json!("cork"))], 1).await.len(), 1);
    // Nothing was executed as SQL: the data and the tables are intact.
    assert_eq!(stores.entities.count_entities(&t).await.unwrap(), 3);
    assert_eq!(pull_all(stores, &t).await.len(), 5);
    let p2 = stores.entities.get_entity(&t, "p2").await.unwrap().unwrap();
    assert_eq!(p2.name, injection);
}

fn person(nid: &str, name: &str) -> Value {
    json!({"entityName": "person", "name": name, "nid": nid})
}

fn rules() -> DuplicateRules {
    DuplicateRules {
        by_form: [(
            "person".to_owned(),
            vec![DuplicateRule {
                fields: vec!["nid".into()],
                normalize: Normalize::Casefold,
            }],
        )]
        .into_iter()
        .collect(),
    }
}

async fn push_ruled(stores: &Stores, t: &TenantId, events: Vec<Event>) {
    let out = stores
        .events
        .push(
            t,
            PushBatch {
                rules: rules(),
                ..batch(events)
            },
        )
        .await
        .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
}

fn pair(entity: &str, duplicate: &str) -> DuplicatePair {
    DuplicatePair {
        entity_guid: entity.into(),
        duplicate_guid: duplicate.into(),
    }
}

async fn pairs(stores: &Stores, t: &TenantId) -> Vec<DuplicatePair> {
    stores.entities.list_duplicates(t, 0, 100).await.unwrap()
}

/// A new entity whose match key equals a live one's is flagged against it; "keep both"
/// removes the pair and it is not flagged again until the flagged entity's key changes.
pub async fn duplicates_flagged_and_keep_both_remembered(stores: &Stores) {
    let t = create_tenant(stores, "t1").await;
    assert!(!stores.entities.has_duplicates(&t).await.unwrap());
    push_ruled(stores, &t, vec![create("pa", person("X1", "Ann"), 10)]).await;
    push_ruled(stores, &t, vec![create("pb", person("x1", "Ann B"), 20)]).await;
    push_ruled(stores, &t, vec![create("pc", person("Y2", "Cy"), 30)]).await;
    assert_eq!(pairs(stores, &t).await, [pair("pb", "pa")]);
    assert!(stores.entities.has_duplicates(&t).await.unwrap());

    assert!(stores
        .entities
        .keep_both(&t, &pair("pb", "pa"))
        .await
        .unwrap());
    assert!(pairs(stores, &t).await.is_empty());
    assert!(!stores.entities.has_duplicates(&t).await.unwrap());
    assert!(!stores
        .entities
        .keep_both(&t, &pair("pb", "pa"))
        .await
        .unwrap());
    assert!(!stores
        .entities
        .keep_both(&t, &pair("pa", "pb"))
        .await
        .unwrap());

    // Same key: the decision holds.
    push_ruled(
        stores,
        &t,
        vec![update("u1", "pb", json!({"note": "n"}), 40)],
    )
    .await;
    assert!(pairs(stores, &t).await.is_empty());
    // Another key: flagged against the entity it now matches.
    push_ruled(
        stores,
        &t,
        vec![update("u2", "pb", json!({"nid": "y2"}), 50)],
    )
    .await;
    assert_eq!(pairs(stores, &t).await, [pair("pb", "pc")]);
    // Two more matching entities: pairs are listed in (entity, duplicate) order and paged.
    push_ruled(
        stores,
        &t,
        vec![
            create("pd", person("Y2", "D"), 60),
            create("pe", person("Y2", "E"), 70),
        ],
    )
    .await;
    let all = pairs(stores, &t).await;
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(
        all,
        [
            pair("pb", "pc"),
            pair("pd", "pb"),
            pair("pd", "pc"),
            pair("pe", "pb"),
            pair("pe", "pc"),
            pair("pe", "pd"),
        ]
    );
    let page = stores.entities.list_duplicates(&t, 2, 3).await.unwrap();
    assert_eq!(page, all[2..5].to_vec());
    assert!(stores
        .entities
        .list_duplicates(&t, 6, 3)
        .await
        .unwrap()
        .is_empty());
    // A deleted entity's pairs go away.
    push_ruled(
        stores,
        &t,
        vec![event_with(
            "d-pe",
            "pe",
            "delete-entity",
            json!({"reason": "x"}),
            80,
        )],
    )
    .await;
    assert_eq!(
        pairs(stores, &t).await,
        [pair("pb", "pc"), pair("pd", "pb"), pair("pd", "pc")]
    );
}
