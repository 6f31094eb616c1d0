//! Clauses of [`domain::ports::UsersApiStore`].

use crate::fixtures::ts;
use domain::error::StoreError;
use domain::ports::{AppRole, Stores, UserRecord, UsersApp, UsersSession};
use domain::users_schema::{default_schema, UserSchema};
use serde_json::{json, Map, Value};

/// An app `id` with `role`, created at `ms`.
pub fn users_app(id: &str, role: AppRole, ms: i64) -> UsersApp {
    UsersApp {
        source_app_id: id.into(),
        role,
        password_hash: format!("hash-{id}"),
        created_at: ts(ms),
    }
}

/// A JSON object as record data (panics on a non-object: test input).
pub fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("record data must be an object, got {other}"),
    }
}

fn schema_with(reject_unknown: bool) -> UserSchema {
    UserSchema {
        version: 42,
        reject_unknown,
        ..default_schema()
    }
}

/// Apps: unique ids (`Conflict`), read by id, listed oldest first.
pub async fn users_api_apps_crud(stores: &Stores) {
    let s = stores.users_api.as_ref();
    assert!(s.list_apps().await.unwrap().is_empty());
    s.create_app(&users_app("b-app", AppRole::User, 20), &default_schema())
        .await
        .unwrap();
    s.create_app(&users_app("a-app", AppRole::Admin, 30), &default_schema())
        .await
        .unwrap();
    s.create_app(&users_app("c.app_1", AppRole::User, 10), &default_schema())
        .await
        .unwrap();
    let err = s
        .create_app(&users_app("a-app", AppRole::User, 40), &default_schema())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.get_app("a-app").await.unwrap(),
        Some(users_app("a-app", AppRole::Admin, 30))
    );
    assert_eq!(s.get_app("zz").await.unwrap(), None);
    let ids: Vec<_> = s
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.source_app_id)
        .collect();
    assert_eq!(ids, ["c.app_1", "b-app", "a-app"]);
}

/// The first schema is version 1 whatever it says; each save is current + 1; old versions
/// are kept; saving for an unknown app is `NotFound`.
pub async fn schema_versions_increment(stores: &Stores) {
    let s = stores.users_api.as_ref();
    s.create_app(&users_app("app", AppRole::User, 1), &schema_with(true))
        .await
        .unwrap();
    assert_eq!(
        s.current_schema("app").await.unwrap(),
        Some(UserSchema {
            version: 1,
            ..schema_with(true)
        })
    );
    let v2 = s.save_schema("app", &schema_with(false)).await.unwrap();
    assert_eq!(
        v2,
        UserSchema {
            version: 2,
            ..schema_with(false)
        }
    );
    let v3 = s.save_schema("app", &schema_with(true)).await.unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(s.current_schema("app").await.unwrap(), Some(v3));
    assert_eq!(s.current_schema("zz").await.unwrap(), None);
    let err = s.save_schema("zz", &schema_with(true)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // Versions are per app.
    s.create_app(&users_app("other", AppRole::User, 2), &schema_with(true))
        .await
        .unwrap();
    assert_eq!(
        s.save_schema("other", &schema_with(true))
            .await
            .unwrap()
            .version,
        2
    );
}

/// Upsert creates with `new_id` and `created_at = now`, then replaces data, schema version
/// and `updated_at` keeping id and `created_at`; unknown app is `NotFound`. Records list
/// newest first (ties by id descending), per app or all, paged.
pub async fn users_api_upsert_keeps_id(stores: &Stores) {
    let s = stores.users_api.as_ref();
    s.create_app(&users_app("app", AppRole::User, 1), &default_schema())
        .await
        .unwrap();
    s.create_app(&users_app("two", AppRole::User, 2), &default_schema())
        .await
        .unwrap();
    let first = data(json!({"fullName": "Ann"}));
    let created = s
        .upsert_record(
            "app",
            "ann@x.org",
            &first,
            1,
            "aaaaaaaaaaaaaaaaaaaaaaa1",
            ts(100),
        )
        .await
        .unwrap();
    let expected = UserRecord {
        id: "aaaaaaaaaaaaaaaaaaaaaaa1".into(),
        source_app_id: "app".into(),
        email: "ann@x.org".into(),
        data: first,
        schema_version: 1,
        created_at: ts(100),
        updated_at: ts(100),
    };
    assert_eq!(created, expected);
    let second = data(json!({"fullName": "Ann O'Neil", "extra": 1}));
    let updated = s
        .upsert_record(
            "app",
            "ann@x.org",
            &second,
            2,
            "bbbbbbbbbbbbbbbbbbbbbbb2",
            ts(200),
        )
        .await
        .unwrap();
    assert_eq!(
        updated,
        UserRecord {
            data: second,
            schema_version: 2,
            updated_at: ts(200),
            ..expected.clone()
        }
    );
    // The same email in another app is another record.
    let other = s
        .upsert_record(
            "two",
            "ann@x.org",
            &data(json!({})),
            1,
            "ccccccccccccccccccccccc3",
            ts(100),
        )
        .await
        .unwrap();
    assert_eq!(other.id, "ccccccccccccccccccccccc3");
    let bob = s
        .upsert_record(
            "app",
            "bob@x.org",
            &data(json!({})),
            1,
            "ddddddddddddddddddddddd4",
            ts(300),
        )
        .await
        .unwrap();
    let err = s
        .upsert_record(
            "zz",
            "ann@x.org",
            &data(json!({})),
            1,
            "eeeeeeeeeeeeeeeeeeeeeee5",
            ts(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let ids =
        |records: Vec<UserRecord>| -> Vec<String> { records.into_iter().map(|r| r.id).collect() };
    assert_eq!(
        ids(s.list_records(Some("app"), 0, 10).await.unwrap()),
        [bob.id.clone(), updated.id.clone()]
    );
    assert_eq!(
        ids(s.list_records(None, 0, 10).await.unwrap()),
        [bob.id.clone(), other.id.clone(), updated.id.clone()]
    );
    assert_eq!(
        ids(s.list_records(None, 1, 1).await.unwrap()),
        std::slice::from_ref(&other.id)
    );
    assert!(s.list_records(None, 3, 10).await.unwrap().is_empty());
    assert!(s.list_records(Some("zz"), 0, 10).await.unwrap().is_empty());
    assert_eq!(s.list_records(Some("app"), 1, 5).await.unwrap(), [updated]);
}

/// Concurrent upserts of one (app, email) create exactly one record.
pub async fn users_api_concurrent_upserts_make_one_record(stores: &Stores) {
    stores
        .users_api
        .create_app(&users_app("app", AppRole::User, 1), &default_schema())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let stores = stores.clone();
            tokio::spawn(async move {
                stores
                    .users_api
                    .upsert_record(
                        "app",
                        "same@x.org",
                        &data(json!({"fullName": format!("N{i}")})),
                        1,
                        &format!("{i:024x}"),
                        ts(100 + i),
                    )
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let records = stores
        .users_api
        .list_records(Some("app"), 0, 10)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, ids[0]);
}

/// Deleting an app deletes its schemas, records and sessions and returns the number of
/// records; an unknown app is `None`; other apps are untouched.
pub async fn delete_app_cascades(stores: &Stores) {
    let s = stores.users_api.as_ref();
    for id in ["app", "keep"] {
        s.create_app(&users_app(id, AppRole::User, 1), &default_schema())
            .await
            .unwrap();
    }
    s.save_schema("app", &default_schema()).await.unwrap();
    for (i, email) in ["a@x.org", "b@x.org", "c@x.org"].into_iter().enumerate() {
        s.upsert_record(
            "app",
            email,
            &data(json!({})),
            1,
            &format!("{i:024x}"),
            ts(1),
        )
        .await
        .unwrap();
    }
    s.upsert_record(
        "keep",
        "a@x.org",
        &data(json!({})),
        1,
        "f00000000000000000000000",
        ts(1),
    )
    .await
    .unwrap();
    let session = |hash: &str, app: &str| UsersSession {
        token_hash: hash.into(),
        source_app_id: app.into(),
        expires_at: ts(10_000),
    };
    s.create_session(&session("s-app", "app")).await.unwrap();
    s.create_session(&session("s-keep", "keep")).await.unwrap();

    assert_eq!(s.delete_app("app").await.unwrap(), Some(3));
    assert_eq!(s.delete_app("app").await.unwrap(), None);
    assert_eq!(s.delete_app("zz").await.unwrap(), None);
    assert_eq!(s.get_app("app").await.unwrap(), None);
    assert_eq!(s.current_schema("app").await.unwrap(), None);
    assert!(s.list_records(Some("app"), 0, 10).await.unwrap().is_empty());
    assert_eq!(s.get_session("s-app", ts(1)).await.unwrap(), None);
    assert_eq!(s.list_records(None, 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.get_session("s-keep", ts(1)).await.unwrap(),
        Some(session("s-keep", "keep"))
    );
    assert_eq!(
        s.current_schema("keep").await.unwrap().map(|v| v.version),
        Some(1)
    );
    // Recreated from scratch: schema versions start over, the email is free.
    s.create_app(&users_app("app", AppRole::User, 5), &default_schema())
        .await
        .unwrap();
    assert_eq!(
        s.current_schema("app").await.unwrap().map(|v| v.version),
        Some(1)
    );
    let fresh = s
        .upsert_record(
            "app",
            "a@x.org",
            &data(json!({})),
            1,
            "e00000000000000000000000",
            ts(9),
        )
        .await
        .unwrap();
    assert_eq!(
        (fresh.id.as_str(), fresh.created_at),
        ("e00000000000000000000000", ts(9))
    );
}

/// A session is returned while `now < expires_at`; deleting reports whether it existed.
pub async fn session_expiry(stores: &Stores) {
    let s = stores.users_api.as_ref();
    s.create_app(&users_app("app", AppRole::Admin, 1), &default_schema())
        .await
        .unwrap();
    let session = UsersSession {
        token_hash: "h1".into(),
        source_app_id: "app".into(),
        expires_at: ts(1_000),
    };
    s.create_session(&session).await.unwrap();
    assert_eq!(
        s.get_session("h1", ts(999)).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(s.get_session("h1", ts(1_000)).await.unwrap(), None);
    assert_eq!(s.get_session("h1", ts(5_000)).await.unwrap(), None);
    assert_eq!(s.get_session("zz", ts(1)).await.unwrap(), None);
    assert!(s.delete_session("h1").await.unwrap());
    assert!(!s.delete_session("h1").await.unwrap());
    assert_eq!(s.get_session("h1", ts(1)).await.unwrap(), None);
}

/// Deleting expired sessions removes those with `expires_at <= now`, of every app, and
/// keeps the others.
pub async fn expired_sessions_are_deleted(stores: &Stores) {
    let s = stores.users_api.as_ref();
    for app in ["a", "b"] {
        s.create_app(&users_app(app, AppRole::User, 1), &default_schema())
            .await
            .unwrap();
    }
    let session = |hash: &str, app: &str, expires: i64| UsersSession {
        token_hash: hash.into(),
        source_app_id: app.into(),
        expires_at: ts(expires),
    };
    for (hash, app, expires) in [("a1", "a", 100), ("b1", "b", 200), ("a2", "a", 201)] {
        s.create_session(&session(hash, app, expires))
            .await
            .unwrap();
    }
    assert_eq!(s.delete_expired_sessions(ts(200)).await.unwrap(), 2);
    assert_eq!(
        s.get_session("a2", ts(0)).await.unwrap(),
        Some(session("a2", "a", 201))
    );
    assert_eq!(s.get_session("b1", ts(0)).await.unwrap(), None);
    assert_eq!(s.delete_expired_sessions(ts(200)).await.unwrap(), 0);
}
