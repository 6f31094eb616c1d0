//! Users API: apps, schemas, records, sessions.

use crate::db::{ts, TestDb};
use domain::error::StoreError;
use domain::ports::{AppRole, UsersApiStore, UsersApp, UsersSession};
use domain::users_schema::default_schema;
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn app(id: &str, at: i64) -> UsersApp {
    UsersApp {
        source_app_id: id.into(),
        role: AppRole::User,
        password_hash: "h".into(),
        created_at: ts(at),
    }
}

fn data(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn apps_schemas_and_cascading_delete() {
    let db = TestDb::new();
    let store = db.open();
    store
        .create_app(&app("b", 2), &default_schema())
        .await
        .unwrap();
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    assert!(matches!(
        store.create_app(&app("a", 3), &default_schema()).await,
        Err(StoreError::Conflict(_))
    ));
    let ids: Vec<_> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.source_app_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(store.get_app("a").await.unwrap(), Some(app("a", 1)));
    assert_eq!(
        store.current_schema("a").await.unwrap(),
        Some(default_schema())
    );
    let mut next = default_schema();
    next.version = 77;
    next.reject_unknown = false;
    let saved = store.save_schema("a", &next).await.unwrap();
    assert_eq!(saved.version, 2);
    assert_eq!(store.current_schema("a").await.unwrap(), Some(saved));
    assert!(matches!(
        store.save_schema("nope", &next).await,
        Err(StoreError::NotFound)
    ));

    for (i, email) in ["x@y.z", "w@y.z"].iter().enumerate() {
        store
            .upsert_record(
                "a",
                email,
                &data(json!({"fullName": "X"})),
                2,
                &format!("id{i}"),
                ts(5),
            )
            .await
            .unwrap();
    }
    store
        .create_session(&UsersSession {
            token_hash: "s".into(),
            source_app_id: "a".into(),
            expires_at: ts(100),
        })
        .await
        .unwrap();
    assert_eq!(store.delete_app("a").await.unwrap(), Some(2));
    assert_eq!(store.delete_app("a").await.unwrap(), None);
    assert!(store.get_session("s", ts(1)).await.unwrap().is_none());
    assert!(store
        .list_records(Some("a"), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.current_schema("a").await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_upserts_of_one_email_make_one_record() {
    let db = TestDb::new();
    let store = Arc::new(db.open());
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .upsert_record(
                        "a",
                        "x@y.z",
                        &data(json!({"fullName": format!("N{i}")})),
                        1,
                        &format!("{i:024x}"),
                        ts(10 + i),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let records = store.list_records(Some("a"), 0, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let first = ids.iter().min_by_key(|r| r.updated_at).unwrap();
    assert_eq!(records[0].id, first.id);
    assert_eq!(records[0].created_at, first.created_at);
    assert!(matches!(
        store
            .upsert_record("nope", "x@y.z", &data(json!({"a": 1})), 1, "i", ts(1))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn records_list_newest_first_and_sessions_expire() {
    let db = TestDb::new();
    let store = db.open();
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    store
        .create_app(&app("b", 1), &default_schema())
        .await
        .unwrap();
    store
        .upsert_record("a", "1@x", &data(json!({"k": 1})), 1, "r1", ts(10))
        .await
        .unwrap();
    store
        .upsert_record("b", "2@x", &data(json!({"k": 2})), 1, "r2", ts(20))
        .await
        .unwrap();
    store
        .upsert_record("a", "3@x", &data(json!({"k": 3})), 1, "r3", ts(20))
        .await
        .unwrap();
    let again = store
        .upsert_record("a", "1@x", &data(json!({"k": 9})), 1, "ignored", ts(30))
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.created_at, again.updated_at),
        ("r1", ts(10), ts(30))
    );
    assert_eq!(again.data, data(json!({"k": 9})));
    let all: Vec<_> = store
        .list_records(None, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, ["r3", "r2", "r1"]);
    let page: Vec<_> = store
        .list_records(Some("a"), 1, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(page, ["r1"]);

    let s = UsersSession {
        token_hash: "s".into(),
        source_app_id: "a".into(),
        expires_at: ts(100),
    };
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session("s", ts(99)).await.unwrap(), Some(s));
    assert!(store.get_session("s", ts(100)).await.unwrap().is_none());
    assert!(store.delete_session("s").await.unwrap());
    assert!(!store.delete_session("s").await.unwrap());
}
