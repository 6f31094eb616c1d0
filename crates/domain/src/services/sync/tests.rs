use super::*;
use crate::error::ErrorKind;
use crate::event::RejectCode;
use crate::ports::AuditEntry;
use crate::ports::ConfigRecord;
use crate::ports::{
    EventPage, MockAuditStore, MockClock, MockConfigStore, MockEntityStore, MockEventStore,
    PushOutcome, Role, StoredEvent,
};
use crate::tenant::TenantId;
use crate::time::Timestamp;
use serde_json::json;

fn user(tenants: &[&str]) -> Principal {
    Principal {
        user_id: 7,
        email: "u@x.org".into(),
        role: Role::User,
        tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
    }
}

fn record(id: &str, archived: bool) -> ConfigRecord {
    ConfigRecord {
        id: TenantId::parse(id).unwrap(),
        artifact_id: "a".repeat(32),
        document: json!({"id": id, "name": "P", "entityForms": [{"name": "person", "duplicateRules": [{"fields": ["n"]}]}]}),
        archived_at: archived.then_some(Timestamp::EPOCH),
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    }
}

fn configs_with(id: &'static str, archived: bool) -> MockConfigStore {
    let mut c = MockConfigStore::new();
    c.expect_get_config()
        .returning(move |t| Ok((t.as_str() == id).then(|| record(id, archived))));
    c
}

fn clock() -> MockClock {
    let mut c = MockClock::new();
    c.expect_now()
        .returning(|| Timestamp::from_millis(1_000).unwrap());
    c
}

fn service(
    events: MockEventStore,
    entities: MockEntityStore,
    configs: MockConfigStore,
) -> SyncService {
    SyncService::new(
        Arc::new(events),
        Arc::new(entities),
        Arc::new(configs),
        Arc::new(MockAuditStore::new()),
        Arc::new(clock()),
    )
}

fn event_json(guid: &str, level: u8) -> Value {
    json!({"guid": guid, "entityGuid": "p", "type": "create-individual", "data": {"n": 1},
           "timestamp": "2024-01-01T00:00:00Z", "userId": "admin", "syncLevel": level, "id": 3})
}

fn stored(seq: i64) -> StoredEvent {
    let event = validate_event(&event_json(&format!("e{seq}"), 1)).unwrap();
    StoredEvent {
        seq: Seq(seq),
        event,
        received_at: Timestamp::EPOCH,
        pushed_by: None,
    }
}

#[tokio::test]
async fn push_stores_valid_events_at_level_one_and_quarantines_invalid_ones() {
    let mut events = MockEventStore::new();
    events.expect_push().times(1).returning(|tenant, batch| {
        assert_eq!(tenant.as_str(), "prog");
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].sync_level, SyncLevel::REMOTE);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.pushed_by.as_deref(), Some("7"));
        assert_eq!(batch.received_at.millis(), 1_000);
        assert_eq!(
            batch.rules.by_form["person"][0].fields,
            vec!["n".to_string()]
        );
        let errors = batch.rejected.iter().map(|(_, r)| r.clone()).collect();
        Ok(PushOutcome {
            applied: 1,
            duplicates: 0,
            errors,
            head: Seq(41),
        })
    });
    let svc = service(events, MockEntityStore::new(), configs_with("prog", false));
    let body = json!({"configId": "prog", "events": [event_json("g1", 0), {"guid": "bad"}]});
    let out = svc.push(&user(&["prog"]), &body).await.unwrap();
    assert_eq!((out.applied, out.duplicates, out.failed), (1, 0, 1));
    assert_eq!(out.errors[0].code, RejectCode::InvalidEntityGuid);
    assert_eq!(out.cursor, Cursor(Seq(41)).encode());
    let wire = serde_json::to_value(&out).unwrap();
    assert_eq!(wire["status"], "success");
    assert_eq!(wire["errors"][0]["code"], "INVALID_ENTITY_GUID");
    assert_eq!(wire["errors"][0]["guid"], "bad");
}

#[tokio::test]
async fn push_error_codes() {
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", false),
    );
    let who = user(&["prog"]);
    let err = svc
        .push(&who, &json!({"configId": "other", "events": []}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Forbidden, "TENANT_FORBIDDEN")
    );
    let admin = Principal {
        role: Role::Admin,
        ..who.clone()
    };
    let err = svc
        .push(&admin, &json!({"configId": "other", "events": []}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = svc
        .push(&who, &json!({"configId": "bad id", "events": []}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG_ID");
    let err = svc
        .push(&who, &json!({"configId": "prog", "events": {}}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::BadRequest, "INVALID_BODY")
    );
    let many: Vec<Value> = (0..=MAX_PUSH_EVENTS).map(|_| json!({})).collect();
    let err = svc
        .push(&who, &json!({"configId": "prog", "events": many}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::TooLarge, "TOO_MANY_EVENTS")
    );
    // A legacy client without configId means the "default" tenant.
    let err = svc.push(&who, &json!({"events": []})).await.unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[tokio::test]
async fn archived_tenant_refuses_pushes() {
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", true),
    );
    let err = svc
        .push(&user(&["prog"]), &json!({"configId": "prog", "events": []}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "CONFIG_ARCHIVED")
    );
}

fn no_duplicates() -> MockEntityStore {
    let mut e = MockEntityStore::new();
    e.expect_has_duplicates().returning(|_| Ok(false));
    e
}

/// The store's page of the events after `after` among seq 1..=`head`, `limit` at most.
fn page_of(after: Seq, limit: u32, head: i64) -> EventPage {
    EventPage {
        events: (after.0 + 1..=head)
            .take(limit as usize)
            .map(stored)
            .collect(),
        more: after.0 + i64::from(limit) < head,
    }
}

#[tokio::test]
async fn pull_pages_as_the_store_bounds_them() {
    let mut events = MockEventStore::new();
    events.expect_pull().returning(|_, after, limit, bytes| {
        assert_eq!((limit, bytes), (2, MAX_PULL_PAGE_DATA_BYTES));
        Ok(page_of(after, limit, 5))
    });
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let who = user(&["prog"]);
    let page = svc.pull(&who, Some("prog"), None, Some("2")).await.unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        page.next_cursor.as_deref(),
        Some(Cursor(Seq(2)).encode().as_str())
    );
    let last = svc
        .pull(
            &who,
            Some("prog"),
            Some(&Cursor(Seq(3)).encode()),
            Some("2"),
        )
        .await
        .unwrap();
    assert_eq!(
        last.events
            .iter()
            .map(|e| e.guid.as_str())
            .collect::<Vec<_>>(),
        vec!["e4", "e5"]
    );
    assert_eq!(last.next_cursor, None);
    assert_eq!(last.cursor, Cursor(Seq(5)).encode());
    let wire = serde_json::to_value(&last).unwrap();
    assert!(wire["nextCursor"].is_null());
    assert!(wire.get("warnings").is_none());
    assert_eq!(wire["events"][0]["timestamp"], "2024-01-01T00:00:00.000Z");
    assert_eq!(wire["events"][0]["syncLevel"], 1);
    assert!(wire["events"][0].get("id").is_none());
}

#[tokio::test]
async fn pull_empty_page_keeps_the_input_position() {
    let mut events = MockEventStore::new();
    events
        .expect_pull()
        .returning(|_, _, _, _| Ok(EventPage::default()));
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let c = Cursor(Seq(9)).encode();
    let page = svc
        .pull(&user(&["prog"]), Some("prog"), Some(&c), None)
        .await
        .unwrap();
    assert_eq!((page.cursor, page.next_cursor), (c, None));
}

#[tokio::test]
async fn pull_with_legacy_iso_since_starts_at_first_event_at_or_after_it() {
    let mut events = MockEventStore::new();
    events.expect_head().returning(|_| Ok(Seq(9)));
    events.expect_first_seq_at_or_after().returning(|_, at| {
        assert_eq!(at.to_iso(), "2023-02-01T00:00:00.000Z");
        Ok(Some(Seq(4)))
    });
    events.expect_pull().returning(|_, after, _, _| {
        assert_eq!(after, Seq(3));
        Ok(page_of(after, 1, 4))
    });
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let page = svc
        .pull(
            &user(&["prog"]),
            Some("prog"),
            Some("2023-02-01T00:00:00.000Z"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
}

/// The head is read before looking for the first event at or after the timestamp: read
/// after, it could count an event committed in between that the lookup did not see, and the
/// pull would start past it.
#[tokio::test]
async fn pull_with_iso_since_past_every_event_is_empty_at_head() {
    let mut events = MockEventStore::new();
    let mut order = mockall::Sequence::new();
    events
        .expect_head()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(Seq(12)));
    events
        .expect_first_seq_at_or_after()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(None));
    events.expect_pull().returning(|_, after, _, _| {
        assert_eq!(after, Seq(12));
        Ok(EventPage::default())
    });
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let page = svc
        .pull(&user(&["prog"]), Some("prog"), Some("2030-01-01"), None)
        .await
        .unwrap();
    assert_eq!(page.cursor, Cursor(Seq(12)).encode());
}

#[tokio::test]
async fn pull_warns_about_duplicates_but_still_serves_events() {
    let mut events = MockEventStore::new();
    events
        .expect_pull()
        .returning(|_, after, limit, _| Ok(page_of(after, limit, 1)));
    let mut entities = MockEntityStore::new();
    entities.expect_has_duplicates().returning(|_| Ok(true));
    let svc = service(events, entities, configs_with("prog", false));
    let page = svc
        .pull(&user(&["prog"]), Some("prog"), None, None)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.warnings, Some(vec![DUPLICATES_WARNING]));
}

#[tokio::test]
async fn pull_error_codes() {
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", false),
    );
    let who = user(&["prog"]);
    for (since, limit, code) in [
        (Some("garbage"), None, "INVALID_SINCE"),
        (None, Some("0"), "INVALID_LIMIT"),
        (None, Some("-5"), "INVALID_LIMIT"),
        (None, Some("ten"), "INVALID_LIMIT"),
    ] {
        let err = svc
            .pull(&who, Some("prog"), since, limit)
            .await
            .unwrap_err();
        assert_eq!((err.kind, err.code.as_ref()), (ErrorKind::BadRequest, code));
    }
    let err = svc.pull(&who, Some("nope"), None, None).await.unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
}

#[test]
fn limit_is_clamped() {
    assert_eq!(parse_limit(None).unwrap(), DEFAULT_PULL_LIMIT);
    assert_eq!(parse_limit(Some("999999")).unwrap(), MAX_PULL_LIMIT);
    assert_eq!(parse_limit(Some("10")).unwrap(), 10);
}

#[tokio::test]
async fn audit_push_overwrites_the_author_and_pull_pages() {
    let mut audit = MockAuditStore::new();
    audit.expect_append_audit().returning(|t, entries| {
        assert_eq!(t.as_str(), "prog");
        assert_eq!(entries[0].user_id, "7");
        Ok(entries.len() as u64)
    });
    audit
        .expect_list_audit()
        .returning(|_, since, after, limit| {
            assert_eq!((since.map(|s| s.millis()), after, limit), (Some(0), 3, 2));
            let entry = AuditEntry {
                guid: "a1".into(),
                timestamp: Timestamp::EPOCH,
                user_id: "7".into(),
                action: "create-individual".into(),
                event_guid: String::new(),
                entity_guid: String::new(),
                changes: json!({}),
                signature: String::new(),
            };
            Ok(vec![(4, entry)])
        });
    let svc = SyncService::new(
        Arc::new(MockEventStore::new()),
        Arc::new(MockEntityStore::new()),
        Arc::new(configs_with("prog", false)),
        Arc::new(audit),
        Arc::new(clock()),
    );
    let who = user(&["prog"]);
    let body = json!({"configId": "prog", "auditLogs": [{"guid": "a1", "timestamp": "2024-01-01T00:00:00Z",
        "userId": "someone-else", "action": "create-individual", "changes": {}}]});
    assert_eq!(
        svc.push_audit(&who, &body).await.unwrap(),
        json!({"status": "success", "stored": 1})
    );
    let err = svc
        .push_audit(
            &who,
            &json!({"configId": "prog", "auditLogs": [{"guid": 1}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_BODY");
    let err = svc
        .push_audit(&who, &json!({"configId": "other", "auditLogs": []}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
    let page = svc
        .pull_audit(
            &who,
            Some("prog"),
            Some("1970-01-01T00:00:00Z"),
            Some(3),
            Some("2"),
        )
        .await
        .unwrap();
    assert_eq!(page[0]["id"], 4);
    assert_eq!(page[0]["guid"], "a1");
    let err = svc
        .pull_audit(&who, Some("prog"), Some("bad"), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_SINCE");
    let err = svc
        .rejected(&who, Some("prog"), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "ADMIN_REQUIRED");
}

#[tokio::test]
async fn push_refuses_a_non_string_config_id_before_touching_storage() {
    // No expectations on any store: a lookup or a push would panic the mocks.
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        MockConfigStore::new(),
    );
    let err = svc
        .push(&user(&["prog"]), &json!({"configId": 5, "events": []}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::BadRequest, "INVALID_CONFIG_ID")
    );
}

#[tokio::test]
async fn push_quarantines_every_invalid_event_with_its_raw_json() {
    let mut events = MockEventStore::new();
    events.expect_push().times(1).returning(|_, batch| {
        assert!(batch.events.is_empty());
        assert_eq!(batch.rejected.len(), 2);
        assert_eq!(batch.rejected[0].0, json!({"guid": "x1", "entityGuid": ""}));
        assert_eq!(batch.rejected[1].0, json!(17));
        Ok(PushOutcome {
            errors: batch.rejected.iter().map(|(_, r)| r.clone()).collect(),
            head: Seq(3),
            ..PushOutcome::default()
        })
    });
    let svc = service(events, MockEntityStore::new(), configs_with("prog", false));
    let body = json!({"configId": "prog", "events": [{"guid": "x1", "entityGuid": ""}, 17]});
    let out = svc.push(&user(&["prog"]), &body).await.unwrap();
    assert_eq!((out.applied, out.failed), (0, 2));
    assert_eq!(out.errors.len(), 2);
    let wire = serde_json::to_value(&out).unwrap();
    let keys: Vec<&str> = wire
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "status",
            "applied",
            "duplicates",
            "failed",
            "errors",
            "cursor"
        ]
    );
}

#[tokio::test]
async fn push_of_exactly_the_maximum_is_accepted() {
    let mut events = MockEventStore::new();
    events.expect_push().times(1).returning(|_, batch| {
        assert_eq!(batch.events.len(), MAX_PUSH_EVENTS);
        Ok(PushOutcome {
            applied: batch.events.len() as u64,
            head: Seq(MAX_PUSH_EVENTS as i64),
            ..PushOutcome::default()
        })
    });
    let svc = service(events, MockEntityStore::new(), configs_with("prog", false));
    let all: Vec<Value> = (0..MAX_PUSH_EVENTS)
        .map(|i| event_json(&format!("g{i}"), 1))
        .collect();
    let out = svc
        .push(
            &user(&["prog"]),
            &json!({"configId": "prog", "events": all}),
        )
        .await
        .unwrap();
    assert_eq!(out.applied, MAX_PUSH_EVENTS as u64);
}

#[tokio::test]
async fn pull_asks_storage_for_the_default_page() {
    let mut events = MockEventStore::new();
    events
        .expect_pull()
        .times(1)
        .returning(|_, after, limit, _| {
            assert_eq!((after, limit), (Seq(0), DEFAULT_PULL_LIMIT));
            Ok(page_of(after, limit, i64::from(DEFAULT_PULL_LIMIT)))
        });
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let page = svc
        .pull(&user(&["prog"]), Some("prog"), Some(""), None)
        .await
        .unwrap();
    // Exactly `limit` events came back: this page reached the end.
    assert_eq!(page.events.len(), DEFAULT_PULL_LIMIT as usize);
    assert_eq!(page.next_cursor, None);
    assert_eq!(
        page.cursor,
        Cursor(Seq(i64::from(DEFAULT_PULL_LIMIT))).encode()
    );
}

/// A page the byte budget ended early still has a next cursor, after its last event.
#[tokio::test]
async fn pull_page_cut_by_the_byte_budget_has_a_next_cursor() {
    let mut events = MockEventStore::new();
    events.expect_pull().returning(|_, after, _, _| {
        Ok(EventPage {
            events: vec![stored(after.0 + 1), stored(after.0 + 2)],
            more: true,
        })
    });
    let svc = service(events, no_duplicates(), configs_with("prog", false));
    let page = svc
        .pull(&user(&["prog"]), Some("prog"), None, Some("100"))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_cursor, Some(Cursor(Seq(2)).encode()));
}

#[tokio::test]
async fn pull_of_a_forbidden_tenant_is_403_even_when_it_does_not_exist() {
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", false),
    );
    let err = svc
        .pull(&user(&["prog"]), Some("ghost"), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
    let admin = Principal {
        role: Role::Admin,
        ..user(&[])
    };
    let err = svc
        .pull(&admin, Some("ghost"), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "CONFIG_NOT_FOUND")
    );
}

#[tokio::test]
async fn pull_callback_checks_access_then_answers_not_implemented() {
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", false),
    );
    assert_eq!(
        svc.pull_callback(&user(&["prog"]), Some("prog"))
            .await
            .unwrap(),
        json!({"status": "not implemented"})
    );
    let err = svc
        .pull_callback(&user(&["prog"]), Some("other"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "TENANT_FORBIDDEN");
    let err = svc
        .pull_callback(&user(&["prog"]), Some("bad id"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG_ID");
}

fn quarantined(id: i64) -> crate::ports::QuarantinedEvent {
    crate::ports::QuarantinedEvent {
        id,
        raw: json!({"guid": format!("q{id}")}),
        code: RejectCode::InvalidEntityGuid,
        error: "entityGuid must be a non-empty string".into(),
        received_at: Timestamp::from_millis(1_500).unwrap(),
        pushed_by: Some("7".into()),
    }
}

#[tokio::test]
async fn rejected_pages_with_limit_plus_one_for_admins() {
    let mut events = MockEventStore::new();
    events.expect_quarantined().returning(|t, after, limit| {
        assert_eq!((t.as_str(), limit), ("prog", 3));
        Ok((after + 1..=5)
            .take(limit as usize)
            .map(quarantined)
            .collect())
    });
    let svc = service(events, MockEntityStore::new(), configs_with("prog", false));
    let admin = Principal {
        role: Role::Admin,
        ..user(&[])
    };
    let first = svc
        .rejected(&admin, Some("prog"), None, Some("2"))
        .await
        .unwrap();
    assert_eq!(first["nextAfter"], 2);
    assert_eq!(
        first["events"][0],
        json!({"id": 1, "event": {"guid": "q1"}, "code": "INVALID_ENTITY_GUID",
               "error": "entityGuid must be a non-empty string",
               "receivedAt": "1970-01-01T00:00:01.500Z", "pushedBy": "7"})
    );
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let last = svc
        .rejected(&admin, Some("prog"), Some(3), Some("2"))
        .await
        .unwrap();
    assert_eq!(last["events"].as_array().unwrap().len(), 2);
    assert!(last["nextAfter"].is_null());
    let err = svc
        .rejected(&admin, Some("prog"), None, Some("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_LIMIT");
}

#[tokio::test]
async fn audit_push_body_errors() {
    // The config store is asked, the audit store never is.
    let svc = service(
        MockEventStore::new(),
        MockEntityStore::new(),
        configs_with("prog", false),
    );
    let who = user(&["prog"]);
    let err = svc
        .push_audit(&who, &json!({"configId": "prog", "auditLogs": {}}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::BadRequest, "INVALID_BODY")
    );
    let many: Vec<Value> = (0..=MAX_PUSH_EVENTS).map(|_| json!({})).collect();
    let err = svc
        .push_audit(&who, &json!({"configId": "prog", "auditLogs": many}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::TooLarge, "TOO_MANY_EVENTS")
    );
    let err = svc
        .push_audit(&who, &json!({"configId": true, "auditLogs": []}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG_ID");
    let err = svc
        .pull_audit(&who, Some("prog"), None, None, Some("0"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_LIMIT");
}

#[tokio::test]
async fn audit_pull_defaults_to_everything_from_the_start() {
    let mut audit = MockAuditStore::new();
    audit
        .expect_list_audit()
        .times(1)
        .returning(|_, since, after, limit| {
            assert_eq!((since, after, limit), (None, 0, DEFAULT_PULL_LIMIT));
            Ok(vec![])
        });
    let svc = SyncService::new(
        Arc::new(MockEventStore::new()),
        Arc::new(MockEntityStore::new()),
        Arc::new(configs_with("prog", false)),
        Arc::new(audit),
        Arc::new(clock()),
    );
    let page = svc
        .pull_audit(&user(&["prog"]), Some("prog"), None, None, None)
        .await
        .unwrap();
    assert!(page.is_empty());
}
