use super::*;
use crate::error::ErrorKind;
use crate::ports::{
    ConfigRecord, MockClock, MockConfigStore, MockEntityStore, MockEventStore, MockIdGenerator,
    PushOutcome, Role, StoredEvent,
};
use crate::tenant::TenantId;
use crate::time::Timestamp;

fn user(tenants: &[&str]) -> Principal {
    Principal {
        user_id: 7,
        email: "u@x.org".into(),
        role: Role::User,
        tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
    }
}

fn configs() -> MockConfigStore {
    let mut c = MockConfigStore::new();
    c.expect_get_config().returning(|t| {
        Ok((t.as_str() == "prog").then(|| ConfigRecord {
            id: TenantId::parse("prog").unwrap(),
            artifact_id: "a".repeat(32),
            document: json!({"id": "prog", "name": "P", "entityForms": [{"name": "person"}]}),
            archived_at: None,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }))
    });
    c
}

fn service(events: MockEventStore, entities: MockEntityStore) -> EntityService {
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(|| Timestamp::from_millis(5_000).unwrap());
    let mut ids = MockIdGenerator::new();
    ids.expect_uuid()
        .returning(|| "11111111-2222-4333-8444-555555555555".into());
    EntityService::new(
        Arc::new(events),
        Arc::new(entities),
        Arc::new(configs()),
        Arc::new(clock),
        Arc::new(ids),
    )
}

fn group() -> Entity {
    Entity {
        guid: "hh".into(),
        kind: EntityKind::Group,
        name: "House".into(),
        version: 2,
        data: serde_json::from_value(json!({"name": "House", "entityName": "household"})).unwrap(),
        member_ids: vec!["m1".into()],
        external_id: None,
        last_updated: Timestamp::from_millis(1).unwrap(),
    }
}

#[tokio::test]
async fn list_maps_params_to_a_storage_query_and_the_legacy_shape() {
    let mut entities = MockEntityStore::new();
    entities.expect_list_entities().returning(|_, q| {
        assert_eq!(
            q,
            &EntityQuery {
                entity_name: Some("household".into()),
                kind: Some(EntityKind::Group),
                name_contains: Some("ho".into()),
                offset: 20,
                limit: 1000
            }
        );
        Ok(vec![group()])
    });
    let svc = service(MockEventStore::new(), entities);
    let p = EntityListParams {
        config_id: Some("prog".into()),
        limit: Some("5000".into()),
        offset: Some("20".into()),
        entity_name: Some("household".into()),
        kind: Some("group".into()),
        q: Some("ho".into()),
    };
    let out = svc.list(&user(&["prog"]), &p).await.unwrap();
    let wire = serde_json::to_value(&out).unwrap();
    assert_eq!(
        wire,
        json!([{"guid": "hh", "id": "hh", "name": "House", "entityName": "household", "type": "group",
        "data": {"name": "House", "entityName": "household"}, "memberIds": ["m1"], "lastUpdated": "1970-01-01T00:00:00.001Z"}])
    );
}

#[tokio::test]
async fn list_rejects_bad_parameters() {
    let svc = service(MockEventStore::new(), MockEntityStore::new());
    let who = user(&["prog"]);
    for (limit, offset, kind, code) in [
        (Some("-5"), None, None, "INVALID_LIMIT"),
        (Some("0"), None, None, "INVALID_LIMIT"),
        (None, Some("x"), None, "INVALID_OFFSET"),
        (None, None, Some("cat"), "INVALID_TYPE"),
    ] {
        let p = EntityListParams {
            config_id: Some("prog".into()),
            limit: limit.map(Into::into),
            offset: offset.map(Into::into),
            kind: kind.map(Into::into),
            ..EntityListParams::default()
        };
        let err = svc.list(&who, &p).await.unwrap_err();
        assert_eq!((err.kind, err.code.as_ref()), (ErrorKind::BadRequest, code));
    }
    let err = svc.count(&user(&[]), Some("prog")).await.unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[tokio::test]
async fn get_members_and_not_found() {
    let member = |guid: &str| Entity {
        guid: guid.into(),
        kind: EntityKind::Individual,
        member_ids: vec![],
        ..group()
    };
    let mut entities = MockEntityStore::new();
    entities.expect_get_entity().returning(|_, g| {
        Ok(match g {
            "hh" => Some(Entity {
                member_ids: vec!["m1".into(), "gone".into(), "m3".into()],
                ..group()
            }),
            _ => None,
        })
    });
    // One query for the members; the store answers in its own order, without the absent.
    entities
        .expect_get_entities()
        .times(1)
        .withf(|_, guids| guids == ["m1", "gone", "m3"])
        .returning(move |_, _| Ok(vec![member("m3"), member("m1")]));
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    assert_eq!(svc.get(&who, Some("prog"), "hh").await.unwrap().guid, "hh");
    let members = svc.members(&who, Some("prog"), "hh").await.unwrap();
    let guids: Vec<_> = members.iter().map(|m| m.guid.as_str()).collect();
    assert_eq!(guids, ["m1", "m3"], "in the group's member order");
    assert!(serde_json::to_value(&members[0])
        .unwrap()
        .get("memberIds")
        .is_none());
    let err = svc.get(&who, Some("prog"), "nope").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "ENTITY_NOT_FOUND")
    );
}

/// A big group's members are read a thousand per query.
#[tokio::test]
async fn members_of_a_big_group_are_read_in_chunks() {
    let ids: Vec<String> = (0..2_500).map(|i| format!("m{i}")).collect();
    let mut entities = MockEntityStore::new();
    let all = ids.clone();
    entities.expect_get_entity().returning(move |_, _| {
        Ok(Some(Entity {
            member_ids: all.clone(),
            ..group()
        }))
    });
    let mut order = mockall::Sequence::new();
    for (from, to) in [(0, 1_000), (1_000, 2_000), (2_000, 2_500)] {
        let expected = ids[from..to].to_vec();
        entities
            .expect_get_entities()
            .times(1)
            .in_sequence(&mut order)
            .withf(move |_, guids| guids == expected.as_slice())
            .returning(|_, guids| {
                Ok(guids
                    .iter()
                    .map(|g| Entity {
                        guid: g.clone(),
                        member_ids: vec![],
                        ..group()
                    })
                    .collect())
            });
    }
    let svc = service(MockEventStore::new(), entities);
    let members = svc
        .members(&user(&["prog"]), Some("prog"), "hh")
        .await
        .unwrap();
    assert_eq!(members.len(), 2_500);
    assert_eq!(members[2_499].guid, "m2499");
}

#[tokio::test]
async fn search_validates_criteria() {
    let mut entities = MockEntityStore::new();
    entities.expect_search_entities().returning(|_, c, limit| {
        assert_eq!(
            c,
            &[
                ("first".to_string(), json!("O'Brien")),
                ("age".to_string(), json!(3))
            ]
        );
        assert_eq!(limit, 100);
        Ok(vec![])
    });
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    svc.search(
        &who,
        &json!({"configId": "prog", "criteria": [{"first": "O'Brien"}, {"age": 3}]}),
    )
    .await
    .unwrap();
    let eleven: Vec<Value> = (0..11).map(|i| json!({format!("f{i}"): i})).collect();
    for bad in [
        json!({"configId": "prog"}),
        json!({"configId": "prog", "criteria": eleven}),
        json!({"configId": "prog", "criteria": [{"a b": 1}]}),
        json!({"configId": "prog", "criteria": [{"a": {"$gt": 1}}]}),
    ] {
        let err = svc.search(&who, &bad).await.unwrap_err();
        assert_eq!(err.code, "INVALID_CRITERIA");
    }
}

#[tokio::test]
async fn events_listing_pages_by_cursor() {
    let mut events = MockEventStore::new();
    events.expect_list_events().returning(|_, f, after, limit| {
        assert_eq!(f.entity_guid.as_deref(), Some("p"));
        assert_eq!((after, limit), (Seq(4), 3));
        let e = crate::event::validate_event(&json!({"guid": "g", "entityGuid": "p", "type": "t", "data": {"a": 1}, "timestamp": "2024-01-01T00:00:00Z", "userId": 1})).unwrap();
        Ok((5..8).map(|s| StoredEvent { seq: Seq(s), event: e.clone(), received_at: Timestamp::EPOCH, pushed_by: None }).collect())
    });
    let svc = service(events, MockEntityStore::new());
    let filter = EventFilter {
        entity_guid: Some("p".into()),
        event_type: None,
    };
    let page = svc
        .events(
            &user(&["prog"]),
            Some("prog"),
            filter.clone(),
            Some(&Cursor(Seq(4)).encode()),
            Some("2"),
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_cursor, Some(Cursor(Seq(6)).encode()));
    let err = svc
        .events(&user(&["prog"]), Some("prog"), filter, Some("nope"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CURSOR");
}

#[tokio::test]
async fn resolve_with_delete_emits_a_resolve_duplicate_event() {
    let mut entities = MockEntityStore::new();
    entities
        .expect_get_entity()
        .returning(|_, _| Ok(Some(group())));
    let mut events = MockEventStore::new();
    events.expect_push().times(1).returning(|t, batch| {
        assert_eq!(t.as_str(), "prog");
        assert_eq!(batch.events.len(), 1);
        assert!(batch.rejected.is_empty());
        assert_eq!(batch.pushed_by.as_deref(), Some("7"));
        assert_eq!(batch.received_at.millis(), 5_000);
        let wire = serde_json::to_value(&batch.events[0]).unwrap();
        assert_eq!(
            wire,
            json!({"guid": "11111111-2222-4333-8444-555555555555", "entityGuid": "new",
                   "type": "resolve-duplicate",
                   "data": {"duplicates": [{"entityGuid": "new", "duplicateGuid": "old"}], "shouldDelete": true},
                   "timestamp": "1970-01-01T00:00:05.000Z", "userId": 7, "syncLevel": 0})
        );
        let e = &batch.events[0];
        assert_eq!(e.event_type, "resolve-duplicate");
        assert_eq!(e.entity_guid, "new");
        assert_eq!(e.sync_level, SyncLevel::LOCAL);
        assert_eq!(e.timestamp.millis(), 5_000);
        assert_eq!(serde_json::to_value(&e.user_id).unwrap(), json!(7));
        assert_eq!(Value::Object(e.data.clone()), json!({"duplicates": [{"entityGuid": "new", "duplicateGuid": "old"}], "shouldDelete": true}));
        Ok(PushOutcome { applied: 1, ..PushOutcome::default() })
    });
    let svc = service(events, entities);
    let out = svc.resolve(&user(&["prog"]), &json!({"configId": "prog", "newItem": "new", "existingItem": "old", "shouldDeleteNewItem": true})).await.unwrap();
    assert_eq!(out, json!({"status": "success"}));
}

#[tokio::test]
async fn resolve_keep_both_and_unknown_pairs() {
    let mut entities = MockEntityStore::new();
    entities
        .expect_keep_both()
        .returning(|_, p| Ok(p.entity_guid == "new"));
    entities.expect_get_entity().returning(|_, _| Ok(None));
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    svc.resolve(
        &who,
        &json!({"configId": "prog", "newItem": "new", "existingItem": "old"}),
    )
    .await
    .unwrap();
    let err = svc.resolve(&who, &json!({"configId": "prog", "newItem": "x", "existingItem": "old", "shouldDeleteNewItem": false})).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "DUPLICATE_NOT_FOUND")
    );
    let err = svc.resolve(&who, &json!({"configId": "prog", "newItem": "x", "existingItem": "old", "shouldDeleteNewItem": true})).await.unwrap_err();
    assert_eq!(err.code, "DUPLICATE_NOT_FOUND");
    let err = svc
        .resolve(&who, &json!({"configId": "prog", "newItem": ""}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_BODY");
}

#[tokio::test]
async fn resolve_body_errors_touch_no_store() {
    let svc = service(MockEventStore::new(), MockEntityStore::new());
    let who = user(&["prog"]);
    let err = svc
        .resolve(&who, &json!({"configId": "prog", "newItem": "n", "existingItem": "o", "shouldDeleteNewItem": "true"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::BadRequest, "INVALID_BODY")
    );
    let err = svc
        .resolve(
            &who,
            &json!({"configId": 1, "newItem": "n", "existingItem": "o"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG_ID");
    let err = svc
        .resolve(
            &who,
            &json!({"configId": "other", "newItem": "n", "existingItem": "o"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[tokio::test]
async fn count_and_count_by_form() {
    let mut entities = MockEntityStore::new();
    entities.expect_count_entities().returning(|_| Ok(42));
    entities.expect_count_by_form().returning(|_| {
        Ok(BTreeMap::from([
            ("household".to_string(), 3),
            ("person".to_string(), 39),
        ]))
    });
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    assert_eq!(
        svc.count(&who, Some("prog")).await.unwrap(),
        json!({"count": 42})
    );
    let by_form = svc.count_by_form(&who, Some("prog")).await.unwrap();
    assert_eq!(
        serde_json::to_value(by_form).unwrap(),
        json!({"household": 3, "person": 39})
    );
    let err = svc
        .count_by_form(&user(&[]), Some("prog"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[tokio::test]
async fn get_is_403_before_404_and_unknown_tenant_is_404() {
    let svc = service(MockEventStore::new(), MockEntityStore::new());
    let err = svc
        .get(&user(&["prog"]), Some("ghost"), "hh")
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
    let admin = Principal {
        role: Role::Admin,
        ..user(&[])
    };
    let err = svc.get(&admin, Some("ghost"), "hh").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "CONFIG_NOT_FOUND")
    );
}

#[tokio::test]
async fn members_of_an_unknown_group_is_404() {
    let mut entities = MockEntityStore::new();
    entities.expect_get_entity().returning(|_, _| Ok(None));
    let svc = service(MockEventStore::new(), entities);
    let err = svc
        .members(&user(&["prog"]), Some("prog"), "x")
        .await
        .unwrap_err();
    assert_eq!(err.code, "ENTITY_NOT_FOUND");
}

#[tokio::test]
async fn entity_events_are_the_legacy_event_array_in_storage_order() {
    let mut events = MockEventStore::new();
    events
        .expect_entity_events()
        .times(1)
        .returning(|t, guid, limit| {
            assert_eq!((t.as_str(), guid, limit), ("prog", "p", MAX_ENTITY_EVENTS));
            Ok(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    let event = crate::event::validate_event(
                        &json!({"guid": format!("g{i}"), "entityGuid": "p",
                    "type": "update-individual", "data": {"a": i}, "timestamp": ts, "userId": "u"}),
                    )
                    .unwrap();
                    StoredEvent {
                        seq: Seq(i as i64 + 1),
                        event,
                        received_at: Timestamp::EPOCH,
                        pushed_by: None,
                    }
                })
                .collect())
        });
    let svc = service(events, MockEntityStore::new());
    let out = svc
        .entity_events(&user(&["prog"]), Some("prog"), "p")
        .await
        .unwrap();
    let wire = serde_json::to_value(&out).unwrap();
    assert_eq!(wire[0]["guid"], "g0");
    assert_eq!(wire[1]["timestamp"], "2024-01-02T00:00:00.000Z");
    assert_eq!(wire.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn duplicates_list_the_legacy_pairs_with_a_clamped_page() {
    let mut entities = MockEntityStore::new();
    entities
        .expect_list_duplicates()
        .times(3)
        .returning(|_, offset, limit| {
            assert!(matches!(
                (offset, limit),
                (0, 1) | (10, MAX_ENTITY_LIMIT) | (0, MAX_ENTITY_LIMIT)
            ));
            Ok(vec![DuplicatePair {
                entity_guid: "new".into(),
                duplicate_guid: "old".into(),
            }])
        });
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    let out = svc
        .duplicates(&who, Some("prog"), None, Some("1"))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!([{"entityGuid": "new", "duplicateGuid": "old"}])
    );
    // Larger limits are clamped; absent, every pair up to 1,000.
    svc.duplicates(&who, Some("prog"), Some("10"), Some("50000"))
        .await
        .unwrap();
    svc.duplicates(&who, Some("prog"), None, None)
        .await
        .unwrap();
    for (offset, limit, code) in [
        (None, Some("0"), "INVALID_LIMIT"),
        (None, Some("-1"), "INVALID_LIMIT"),
        (None, Some("abc"), "INVALID_LIMIT"),
        (Some("-1"), None, "INVALID_OFFSET"),
    ] {
        let err = svc
            .duplicates(&who, Some("prog"), offset, limit)
            .await
            .unwrap_err();
        assert_eq!(err.code, code, "offset {offset:?} limit {limit:?}");
    }
    let err = svc
        .duplicates(&who, Some("other"), None, Some("10"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[tokio::test]
async fn search_limit_is_clamped_and_must_be_a_positive_integer() {
    let mut entities = MockEntityStore::new();
    entities
        .expect_search_entities()
        .times(3)
        .returning(|_, _, limit| {
            assert!([1, DEFAULT_ENTITY_LIMIT, MAX_ENTITY_LIMIT].contains(&limit));
            Ok(vec![group()])
        });
    let svc = service(MockEventStore::new(), entities);
    let who = user(&["prog"]);
    let body =
        |limit: Value| json!({"configId": "prog", "criteria": [{"name": "House"}], "limit": limit});
    for limit in [json!(1), json!(99_999), Value::Null] {
        let out = svc.search(&who, &body(limit)).await.unwrap();
        assert_eq!(out[0].guid, "hh");
    }
    for limit in [json!(0), json!(-1), json!("5"), json!(2.5)] {
        let err = svc.search(&who, &body(limit.clone())).await.unwrap_err();
        assert_eq!(err.code, "INVALID_LIMIT", "limit {limit}");
    }
}

#[tokio::test]
async fn events_listing_defaults_and_end_of_stream() {
    let mut events = MockEventStore::new();
    events
        .expect_list_events()
        .times(1)
        .returning(|_, f, after, limit| {
            assert_eq!(f, &EventFilter::default());
            assert_eq!((after, limit), (Seq(0), DEFAULT_ENTITY_LIMIT + 1));
            Ok(vec![])
        });
    let svc = service(events, MockEntityStore::new());
    let who = user(&["prog"]);
    let page = svc
        .events(&who, Some("prog"), EventFilter::default(), None, None)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        json!({"events": [], "nextCursor": null})
    );
    for bad in ["0", "-1", "many"] {
        let err = svc
            .events(&who, Some("prog"), EventFilter::default(), None, Some(bad))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::BadRequest, "INVALID_LIMIT")
        );
    }
}

#[test]
fn the_view_name_is_data_name_when_truthy_else_the_entity_name() {
    let with_data_name = |name: Value| {
        let mut e = group();
        e.data.insert("name".into(), name);
        EntityView::from(e).name
    };
    assert_eq!(with_data_name(json!("Home")), json!("Home"));
    assert_eq!(with_data_name(json!(42)), json!(42));
    for falsy in [json!(""), json!(0), json!(false), Value::Null] {
        assert_eq!(with_data_name(falsy), json!("House"));
    }
}
