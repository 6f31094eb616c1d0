use super::*;
use crate::config::parse_config;
use crate::error::ErrorKind;
use crate::event::{Rejection, SyncLevel};
use crate::ports::{
    ConfigSummary, MockClock, MockConfigStore, MockEventStore, MockIdGenerator, PushOutcome, Role,
    StoredEvent,
};
use crate::time::Timestamp;
use std::sync::Mutex;

fn admin() -> Principal {
    Principal {
        user_id: 1,
        email: "a@x.org".into(),
        role: Role::Admin,
        tenant_ids: vec![],
    }
}

fn user(tenants: &[&str]) -> Principal {
    Principal {
        role: Role::User,
        tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
        ..admin()
    }
}

fn body() -> Value {
    json!({"id": "prog", "name": "Prog", "version": "1", "entityForms": [{"name": "person"}],
           "entityData": [{"name": "region", "data": [{"id": "r1", "name": "North"}]}],
           "externalSync": {"type": "openfn-adapter", "url": "http://x", "extraFields": [{"name": "apiKey", "value": "s3cret-key"}]}})
}

fn clock() -> Arc<MockClock> {
    let mut c = MockClock::new();
    c.expect_now()
        .returning(|| Timestamp::from_millis(10_000).unwrap());
    Arc::new(c)
}

fn ids() -> Arc<MockIdGenerator> {
    let mut i = MockIdGenerator::new();
    i.expect_hex().returning(|n| "f".repeat(n * 2));
    Arc::new(i)
}

/// A config store over one optional record, recording saves.
fn store(initial: Option<ConfigRecord>) -> (MockConfigStore, Arc<Mutex<Vec<ConfigRecord>>>) {
    let saved = Arc::new(Mutex::new(Vec::new()));
    let state = Arc::new(Mutex::new(initial));
    let mut c = MockConfigStore::new();
    let s = state.clone();
    c.expect_get_config()
        .returning(move |t| Ok(s.lock().unwrap().clone().filter(|r| r.id == *t)));
    let (s, log) = (state, saved.clone());
    c.expect_save_config().returning(move |r| {
        log.lock().unwrap().push(r.clone());
        *s.lock().unwrap() = Some(r.clone());
        Ok(true)
    });
    (c, saved)
}

/// An event store with no seed stored yet (every seed lookup finds none).
fn no_seeds_yet() -> MockEventStore {
    let mut e = MockEventStore::new();
    e.expect_list_events().returning(|_, _, _, _| Ok(vec![]));
    e
}

fn seeding_events(expected: usize) -> MockEventStore {
    let mut e = no_seeds_yet();
    e.expect_push().times(expected).returning(|t, b| {
        assert_eq!(t.as_str(), "prog");
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.events[0].entity_guid, "r1");
        assert_eq!(b.events[0].timestamp.millis(), 10_000);
        Ok(PushOutcome {
            applied: 1,
            ..PushOutcome::default()
        })
    });
    e
}

#[tokio::test]
async fn create_saves_seeds_and_masks_secrets_on_read() {
    let (configs, saved) = store(None);
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(seeding_events(1)),
        clock(),
        ids(),
    );
    let out = svc.create(&admin(), &body()).await.unwrap();
    assert_eq!(
        out,
        json!({"status": "success", "artifactId": "f".repeat(32)})
    );
    let record = saved.lock().unwrap()[0].clone();
    assert_eq!(
        record.document["externalSync"]["extraFields"][0]["value"],
        "s3cret-key"
    );
    let view = svc.get(&user(&["prog"]), "prog").await.unwrap();
    assert_eq!(view["externalSync"]["extraFields"][0]["value"], "********");
    assert_eq!(view["artifactId"], "f".repeat(32));
    assert!(!view.to_string().contains("s3cret-key"));
}

#[tokio::test]
async fn re_post_keeps_artifact_and_masked_secrets_and_ignores_already_seeded_items() {
    let (configs, saved) = store(None);
    let mut events = no_seeds_yet();
    let mut calls = 0;
    events.expect_push().times(2).returning(move |_, b| {
        calls += 1;
        let errors = if calls == 2 {
            vec![Rejection {
                guid: Some(b.events[0].guid.clone()),
                code: RejectCode::EventGuidConflict,
                error: "x".into(),
            }]
        } else {
            vec![]
        };
        Ok(PushOutcome {
            errors,
            ..PushOutcome::default()
        })
    });
    let svc = ConfigService::new(Arc::new(configs), Arc::new(events), clock(), ids());
    svc.create(&admin(), &body()).await.unwrap();
    let mut again = body();
    again["externalSync"]["extraFields"][0]["value"] = json!("********");
    svc.create(&admin(), &again).await.unwrap();
    let log = saved.lock().unwrap();
    assert_eq!(log[1].artifact_id, log[0].artifact_id);
    assert_eq!(
        log[1].document["externalSync"]["extraFields"][0]["value"],
        "s3cret-key"
    );
}

#[tokio::test]
async fn update_rules() {
    let (configs, _) = store(None);
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let err = svc.update(&admin(), "other", &body()).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::BadRequest, "CONFIG_ID_MISMATCH")
    );
    let err = svc.update(&admin(), "prog", &body()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = svc
        .update(&user(&["prog"]), "prog", &body())
        .await
        .unwrap_err();
    assert_eq!(err.code, "ADMIN_REQUIRED");
    let err = svc.create(&user(&["prog"]), &body()).await.unwrap_err();
    assert_eq!(err.code, "ADMIN_REQUIRED");
    let err = svc
        .create(&admin(), &json!({"id": "prog"}))
        .await
        .unwrap_err();
    assert!(matches!(
        err.kind,
        ErrorKind::BadRequest | ErrorKind::Unprocessable
    ));
}

#[tokio::test]
async fn list_scopes_users_to_their_tenants_and_clamps_the_page() {
    let mut configs = MockConfigStore::new();
    configs.expect_list_configs().returning(|q| {
        assert_eq!(q.only, Some(vec!["prog".to_string()]));
        assert_eq!(q.limit, 100);
        assert_eq!(q.sort, ConfigSort::EntitiesCount);
        assert!(q.descending);
        assert_eq!(q.search.as_deref(), Some("pr"));
        let record = ConfigRecord {
            id: TenantId::parse("prog").unwrap(),
            artifact_id: "a".into(),
            document: parse_config(&body()).unwrap().to_document(),
            archived_at: None,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        };
        let rows = if q.offset == 0 {
            vec![ConfigSummary {
                record,
                entities_count: 4,
            }]
        } else {
            vec![]
        };
        Ok((rows, 1))
    });
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let p = ConfigListParams {
        page: Some("9".into()),
        page_size: Some("500".into()),
        sort_by: Some("entitiesCount".into()),
        sort_order: Some("desc".into()),
        search: Some("  PR ".into()),
        include_archived: false,
    };
    let out = svc.list(&user(&["prog"]), &p).await.unwrap();
    assert_eq!(
        out["meta"],
        json!({"total": 1, "page": 1, "pageSize": 100, "totalPages": 1, "sortBy": "entitiesCount", "sortOrder": "desc", "search": "pr"})
    );
    assert_eq!(out["data"][0]["entitiesCount"], 4);
    assert_eq!(
        out["data"][0]["externalSync"]["extraFields"][0]["value"],
        "********"
    );
    // The largest page number does not overflow the offset: clamped to the last page.
    let last = ConfigListParams {
        page: Some(u64::MAX.to_string()),
        ..p
    };
    let out = svc.list(&user(&["prog"]), &last).await.unwrap();
    assert_eq!(out["meta"]["page"], 1);
}

#[tokio::test]
async fn archive_restore_purge() {
    let live = ConfigRecord {
        id: TenantId::parse("prog").unwrap(),
        artifact_id: "a".into(),
        document: parse_config(&body()).unwrap().to_document(),
        archived_at: None,
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    };
    let mut configs = MockConfigStore::new();
    let l = live.clone();
    configs
        .expect_get_config()
        .returning(move |_| Ok(Some(l.clone())));
    configs
        .expect_set_archived()
        .times(2)
        .returning(|_, _| Ok(true));
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    svc.delete(&admin(), "prog", false).await.unwrap();
    svc.restore(&admin(), "prog").await.unwrap();
    let err = svc.delete(&admin(), "prog", true).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "CONFIG_NOT_ARCHIVED")
    );

    let mut archived = MockConfigStore::new();
    archived.expect_get_config().returning(move |_| {
        Ok(Some(ConfigRecord {
            archived_at: Some(Timestamp::EPOCH),
            ..live.clone()
        }))
    });
    archived
        .expect_purge_config()
        .times(1)
        .returning(|_| Ok(true));
    let svc = ConfigService::new(
        Arc::new(archived),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    svc.delete(&admin(), "prog", true).await.unwrap();
}

#[tokio::test]
async fn public_views_never_contain_secrets() {
    let mut configs = MockConfigStore::new();
    let doc = parse_config(&json!({"id": "prog", "name": "Prog", "entityForms": [{"name": "p"}],
        "externalSync": {"type": "openspp-adapter", "url": "u", "extraFields": [{"name": "password", "value": "pw-123"}]},
        "authConfigs": [{"type": "keycloak", "fields": {"authority": "https://kc", "client_secret": "cs-456"}}]})).unwrap().to_document();
    let record = ConfigRecord {
        id: TenantId::parse("prog").unwrap(),
        artifact_id: "abc".into(),
        document: doc,
        archived_at: None,
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    };
    let r = record.clone();
    configs
        .expect_config_by_artifact()
        .returning(move |a| Ok((a == "abc").then(|| r.clone())));
    configs
        .expect_get_config()
        .returning(move |_| Ok(Some(record.clone())));
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let art = svc.artifact("abc", "http://srv").await.unwrap();
    assert_eq!(art["syncServerUrl"], "http://srv");
    let public = svc.public_info("prog").await.unwrap();
    for text in [art.to_string(), public.to_string()] {
        assert!(
            !text.contains("pw-123") && !text.contains("cs-456"),
            "{text}"
        );
    }
    assert_eq!(public["authConfigs"], json!([{"type": "keycloak"}]));
    for bad in ["nope", "../etc", ""] {
        let err = svc.artifact(bad, "http://srv").await.unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::NotFound, "ARTIFACT_NOT_FOUND")
        );
    }
}

fn stored_record(archived: bool) -> ConfigRecord {
    ConfigRecord {
        id: TenantId::parse("prog").unwrap(),
        artifact_id: "kept-artifact".into(),
        document: parse_config(&body()).unwrap().to_document(),
        archived_at: archived.then_some(Timestamp::EPOCH),
        created_at: Timestamp::from_millis(3).unwrap(),
        updated_at: Timestamp::from_millis(3).unwrap(),
    }
}

#[tokio::test]
async fn update_keeps_artifact_created_at_and_masked_secrets_and_does_not_seed() {
    let (configs, saved) = store(Some(stored_record(false)));
    // No expectation on the event store: a seed push would panic the mock.
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let mut changed = body();
    changed["name"] = json!("Renamed");
    changed["externalSync"]["extraFields"][0]["value"] = json!("********");
    let out = svc.update(&admin(), "prog", &changed).await.unwrap();
    assert_eq!(
        out,
        json!({"status": "success", "artifactId": "kept-artifact"})
    );
    let log = saved.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].document["name"], "Renamed");
    assert_eq!(
        log[0].document["externalSync"]["extraFields"][0]["value"],
        "s3cret-key"
    );
    assert_eq!(log[0].created_at.millis(), 3);
    assert_eq!(log[0].updated_at.millis(), 10_000);
}

/// An event store that keeps what is pushed and lists it back (by entity and type), in
/// pages of at most the asked limit; the returned log holds every push's events.
fn remembering_events() -> (MockEventStore, Arc<Mutex<Vec<Vec<Event>>>>) {
    let stored: Arc<Mutex<Vec<StoredEvent>>> = Arc::default();
    let pushes: Arc<Mutex<Vec<Vec<Event>>>> = Arc::default();
    let mut e = MockEventStore::new();
    let (keep, log) = (stored.clone(), pushes.clone());
    e.expect_push().returning(move |_, b| {
        assert_eq!(b.pushed_by, None);
        assert!(b.events.iter().all(|e| e.sync_level == SyncLevel::REMOTE));
        log.lock().unwrap().push(b.events.clone());
        let mut stored = keep.lock().unwrap();
        for event in b.events {
            let seq = Seq(stored.len() as i64 + 1);
            stored.push(StoredEvent {
                seq,
                event,
                received_at: b.received_at,
                pushed_by: None,
            });
        }
        Ok(PushOutcome::default())
    });
    e.expect_list_events()
        .returning(move |_, filter, after, limit| {
            Ok(stored
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.seq > after)
                .filter(|s| filter.entity_guid.as_ref() == Some(&s.event.entity_guid))
                .filter(|s| filter.event_type.as_ref() == Some(&s.event.event_type))
                .take(limit as usize)
                .cloned()
                .collect())
        });
    (e, pushes)
}

fn with_region_name(name: &str) -> Value {
    let mut b = body();
    b["entityData"][0]["data"][0]["name"] = json!(name);
    b
}

#[tokio::test]
async fn re_posting_unchanged_items_stores_nothing() {
    let (configs, _) = store(None);
    let (events, pushes) = remembering_events();
    let svc = ConfigService::new(Arc::new(configs), Arc::new(events), clock(), ids());
    svc.create(&admin(), &body()).await.unwrap();
    svc.create(&admin(), &body()).await.unwrap();
    let pushes = pushes.lock().unwrap();
    assert_eq!(pushes.len(), 1, "the second post pushed {pushes:?}");
    assert_eq!(pushes[0].len(), 1);
    assert!(pushes[0][0].guid.starts_with("seed-"));
}

#[tokio::test]
async fn an_item_changed_and_changed_back_is_seeded_each_time() {
    let (configs, _) = store(None);
    let (events, pushes) = remembering_events();
    let svc = ConfigService::new(Arc::new(configs), Arc::new(events), clock(), ids());
    for name in ["North", "South", "North", "North"] {
        svc.create(&admin(), &with_region_name(name)).await.unwrap();
    }
    let pushes = pushes.lock().unwrap();
    let seeded: Vec<(&str, &str)> = pushes
        .iter()
        .flatten()
        .map(|e| (e.guid.as_str(), e.data["name"].as_str().unwrap()))
        .collect();
    assert_eq!(seeded.len(), 3, "{seeded:?}");
    assert_eq!(
        seeded.iter().map(|s| s.1).collect::<Vec<_>>(),
        ["North", "South", "North"]
    );
    // The value the entity had before gets a guid of its own the second time.
    assert_ne!(seeded[0].0, seeded[2].0);
}

#[tokio::test]
async fn the_latest_seed_is_found_past_the_first_page() {
    let (configs, _) = store(None);
    let stored = |seq: i64, guid: &str, name: &str| StoredEvent {
        seq: Seq(seq),
        event: Event {
            guid: guid.into(),
            entity_guid: "r1".into(),
            event_type: "create-individual".into(),
            data: json!({"id": "r1", "name": name, "entityName": "region"})
                .as_object()
                .unwrap()
                .clone(),
            timestamp: Timestamp::EPOCH,
            user_id: crate::event::UserRef::Text("admin".into()),
            sync_level: SyncLevel::REMOTE,
        },
        received_at: Timestamp::EPOCH,
        pushed_by: None,
    };
    let mut events = MockEventStore::new();
    events
        .expect_list_events()
        .returning(move |_, _, after, limit| {
            Ok(match after.0 {
                // A full first page: an old seed, then a device's create-individual events.
                0 => (1..=i64::from(limit))
                    .map(|seq| match seq {
                        1 => stored(seq, "seed-old", "Old"),
                        _ => stored(seq, &format!("device-{seq}"), "Device"),
                    })
                    .collect(),
                // The second page holds the latest seed, already carrying the posted data.
                500 => vec![
                    stored(501, "seed-latest", "North"),
                    stored(502, "device-x", "X"),
                ],
                _ => vec![],
            })
        });
    // No push expected: the item equals the latest seed (a push would panic the mock).
    let svc = ConfigService::new(Arc::new(configs), Arc::new(events), clock(), ids());
    svc.create(&admin(), &with_region_name("North"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stored_config_with_an_invalid_seed_item_stays_readable_and_can_be_mended() {
    // Saved before seed events were validated on upload: a 200-character group name.
    let mut old = body();
    old["entityData"][0]["name"] = json!("g".repeat(200));
    let record = ConfigRecord {
        document: parse_config(&old).unwrap().to_document(),
        ..stored_record(false)
    };
    let (configs, saved) = store(Some(record));
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    assert_eq!(svc.get(&admin(), "prog").await.unwrap()["name"], "Prog");
    // Sent again as it is, refused; mended (PUT does not seed), saved.
    let err = svc.update(&admin(), "prog", &old).await.unwrap_err();
    assert_eq!(err.details.unwrap()["path"], "entityData[0].data[0]");
    svc.update(&admin(), "prog", &body()).await.unwrap();
    assert_eq!(saved.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_seed_event_fails_the_create_before_anything_is_saved() {
    let (configs, saved) = store(None);
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let mut b = body();
    b["entityData"][0]["name"] = json!("g".repeat(129));
    let err = svc.create(&admin(), &b).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Unprocessable, "INVALID_CONFIG")
    );
    assert_eq!(err.details.unwrap()["path"], "entityData[0].data[0]");
    assert!(saved.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_seed_rejected_for_another_reason_fails_the_create() {
    let (configs, _) = store(None);
    let mut events = no_seeds_yet();
    events.expect_push().returning(|_, b| {
        Ok(PushOutcome {
            errors: vec![Rejection {
                guid: Some(b.events[0].guid.clone()),
                code: RejectCode::InvalidData,
                error: "data too large".into(),
            }],
            ..PushOutcome::default()
        })
    });
    let svc = ConfigService::new(Arc::new(configs), Arc::new(events), clock(), ids());
    let err = svc.create(&admin(), &body()).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Unprocessable, "INVALID_CONFIG")
    );
}

#[tokio::test]
async fn get_checks_access_before_existence_and_shows_absent_fields_as_null() {
    let mut configs = MockConfigStore::new();
    configs.expect_get_config().returning(|t| {
        Ok((t.as_str() == "bare").then(|| ConfigRecord {
            id: t.clone(),
            artifact_id: "art".into(),
            document: parse_config(&json!({"id": "bare", "name": "Bare", "entityForms": []}))
                .unwrap()
                .to_document(),
            archived_at: None,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }))
    });
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let view = svc.get(&user(&["bare"]), "bare").await.unwrap();
    assert_eq!(view["id"], "bare");
    assert_eq!(view["artifactId"], "art");
    for absent in [
        "description",
        "version",
        "url",
        "externalSync",
        "archivedAt",
    ] {
        assert!(view.get(absent).is_some_and(Value::is_null), "{absent}");
    }
    let err = svc.get(&user(&["bare"]), "ghost").await.unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
    let err = svc.get(&admin(), "ghost").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "CONFIG_NOT_FOUND")
    );
}

#[tokio::test]
async fn list_defaults_for_admins_see_every_tenant() {
    let mut configs = MockConfigStore::new();
    configs.expect_list_configs().times(1).returning(|q| {
        assert_eq!(q.only, None);
        assert_eq!((q.offset, q.limit), (0, DEFAULT_PAGE_SIZE as u32));
        assert_eq!((q.sort, q.descending), (ConfigSort::Name, false));
        assert_eq!(q.search, None);
        assert!(q.include_archived);
        Ok((vec![], 0))
    });
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let p = ConfigListParams {
        page: Some("0".into()),
        page_size: Some("garbage".into()),
        sort_by: Some("mystery".into()),
        include_archived: true,
        ..ConfigListParams::default()
    };
    let out = svc.list(&admin(), &p).await.unwrap();
    assert_eq!(
        out,
        json!({"data": [], "meta": {"total": 0, "page": 1, "pageSize": 12, "totalPages": 1,
               "sortBy": "name", "sortOrder": "asc", "search": ""}})
    );
}

#[tokio::test]
async fn archive_restore_purge_are_admin_only_and_archive_is_idempotent() {
    let mut configs = MockConfigStore::new();
    configs
        .expect_get_config()
        .returning(|_| Ok(Some(stored_record(true))));
    // Archiving an archived config keeps its first archive time: no write.
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    assert_eq!(
        svc.delete(&admin(), "prog", false).await.unwrap(),
        json!({"status": "success"})
    );
    for err in [
        svc.delete(&user(&["prog"]), "prog", false)
            .await
            .unwrap_err(),
        svc.delete(&user(&["prog"]), "prog", true)
            .await
            .unwrap_err(),
        svc.restore(&user(&["prog"]), "prog").await.unwrap_err(),
    ] {
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::Forbidden, "ADMIN_REQUIRED")
        );
    }
}

#[tokio::test]
async fn public_info_hides_archived_unknown_and_malformed_ids() {
    let mut configs = MockConfigStore::new();
    configs.expect_get_config().returning(|t| {
        Ok(match t.as_str() {
            "prog" => Some(stored_record(true)),
            _ => None,
        })
    });
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    for id in ["prog", "ghost", "../x"] {
        let err = svc.public_info(id).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound, "{id}");
    }
}

#[tokio::test]
async fn unknown_artifact_is_404() {
    let mut configs = MockConfigStore::new();
    configs
        .expect_config_by_artifact()
        .times(1)
        .returning(|_| Ok(None));
    let svc = ConfigService::new(
        Arc::new(configs),
        Arc::new(MockEventStore::new()),
        clock(),
        ids(),
    );
    let err = svc.artifact("abc_DEF-1", "http://srv").await.unwrap_err();
    assert_eq!(err.code, "ARTIFACT_NOT_FOUND");
}
