//! Users API: apps, schema versions, record upserts, sessions.

use crate::db::ts;
use domain::error::StoreError;
use domain::ports::{AppRole, UsersApiStore, UsersApp, UsersSession};
use domain::users_schema::default_schema;
use serde_json::{json, Map, Value};

fn app(id: &str, ms: i64) -> UsersApp {
    UsersApp {
        source_app_id: id.into(),
        role: AppRole::User,
        password_hash: "hash".into(),
        created_at: ts(ms),
    }
}

fn data(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn apps_schemas_and_cascading_delete() {
    let (_db, store) = crate::test_db!();
    store
        .create_app(&app("b-app", 200), &default_schema())
        .await
        .unwrap();
    store
        .create_app(&app("a-app", 100), &default_schema())
        .await
        .unwrap();
    assert!(matches!(
        store.create_app(&app("a-app", 1), &default_schema()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_app("a-app").await.unwrap(),
        Some(app("a-app", 100))
    );
    assert!(store.get_app("zzz").await.unwrap().is_none());
    let ids: Vec<_> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.source_app_id)
        .collect();
    assert_eq!(ids, ["a-app", "b-app"]);
    assert_eq!(
        store.current_schema("a-app").await.unwrap(),
        Some(default_schema())
    );
    let mut next = default_schema();
    next.version = 42;
    next.reject_unknown = false;
    let saved = store.save_schema("a-app", &next).await.unwrap();
    assert_eq!(saved.version, 2);
    assert!(!saved.reject_unknown);
    assert_eq!(store.current_schema("a-app").await.unwrap(), Some(saved));
    assert!(matches!(
        store.save_schema("zzz", &next).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.current_schema("zzz").await.unwrap().is_none());
    for (i, email) in ["x@y.z", "w@y.z"].iter().enumerate() {
        store
            .upsert_record(
                "a-app",
                email,
                &data(json!({"fullName": "X"})),
                1,
                &format!("{i:024x}"),
                ts(5),
            )
            .await
            .unwrap();
    }
    store
        .upsert_record("b-app", "x@y.z", &data(json!({})), 1, "b0", ts(5))
        .await
        .unwrap();
    let session = UsersSession {
        token_hash: "s1".into(),
        source_app_id: "a-app".into(),
        expires_at: ts(1_000),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.delete_app("a-app").await.unwrap(), Some(2));
    assert_eq!(store.delete_app("a-app").await.unwrap(), None);
    assert!(store.current_schema("a-app").await.unwrap().is_none());
    assert!(store.get_session("s1", ts(1)).await.unwrap().is_none());
    assert_eq!(store.list_records(None, 0, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schema_saves_get_distinct_versions() {
    let (_db, store) = crate::test_db!();
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    let saves: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(
                async move { s.save_schema("a", &default_schema()).await.unwrap().version },
            )
        })
        .collect();
    let mut versions = Vec::new();
    for s in saves {
        versions.push(s.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>());
    assert_eq!(store.current_schema("a").await.unwrap().unwrap().version, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upserts_keep_one_record_per_email() {
    let (_db, store) = crate::test_db!();
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    let first = store
        .upsert_record(
            "a",
            "x@y.z",
            &data(json!({"fullName": "One"})),
            1,
            "id-1",
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(
        (first.id.as_str(), first.created_at, first.updated_at),
        ("id-1", ts(10), ts(10))
    );
    let second = store
        .upsert_record(
            "a",
            "x@y.z",
            &data(json!({"fullName": "Two"})),
            2,
            "id-2",
            ts(20),
        )
        .await
        .unwrap();
    assert_eq!(second.id, "id-1");
    assert_eq!(second.created_at, ts(10));
    assert_eq!(second.updated_at, ts(20));
    assert_eq!(second.schema_version, 2);
    assert_eq!(second.data["fullName"], "Two");
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.upsert_record(
                    "a",
                    "race@y.z",
                    &data(json!({"n": i})),
                    1,
                    &format!("r{i}"),
                    ts(30),
                )
                .await
                .unwrap()
                .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for r in racers {
        ids.push(r.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(matches!(
        store
            .upsert_record("ghost", "x@y.z", &data(json!({})), 1, "g", ts(1))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn records_are_listed_newest_first_and_sessions_expire() {
    let (_db, store) = crate::test_db!();
    store
        .create_app(&app("a", 1), &default_schema())
        .await
        .unwrap();
    store
        .create_app(&app("b", 2), &default_schema())
        .await
        .unwrap();
    for (app_id, email, id, ms) in [
        ("a", "1@x", "id-a", 10),
        ("a", "2@x", "id-b", 30),
        ("b", "3@x", "id-c", 20),
        ("b", "4@x", "id-d", 30),
    ] {
        store
            .upsert_record(app_id, email, &data(json!({})), 1, id, ts(ms))
            .await
            .unwrap();
    }
    let ids = |v: Vec<domain::ports::UserRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_records(None, 0, 10).await.unwrap()),
        ["id-d", "id-b", "id-c", "id-a"]
    );
    assert_eq!(
        ids(store.list_records(None, 1, 2).await.unwrap()),
        ["id-b", "id-c"]
    );
    assert_eq!(
        ids(store.list_records(Some("a"), 0, 10).await.unwrap()),
        ["id-b", "id-a"]
    );
    let session = UsersSession {
        token_hash: "s1".into(),
        source_app_id: "a".into(),
        expires_at: ts(1_000),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.get_session("s1", ts(999)).await.unwrap(),
        Some(session)
    );
    assert!(store.get_session("s1", ts(1_000)).await.unwrap().is_none());
    assert!(store.delete_session("s1").await.unwrap());
    assert!(!store.delete_session("s1").await.unwrap());
    assert!(store.get_session("s1", ts(1)).await.unwrap().is_none());
}
