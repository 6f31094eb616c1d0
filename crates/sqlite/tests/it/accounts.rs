//! Configs, users, refresh tokens, login throttling and the audit log.

use crate::db::{create_tenant, tenant, ts, TestDb};
use domain::error::StoreError;
use domain::ports::{
    AccountChange, AuditEntry, AuditStore, ConfigQuery, ConfigRecord, ConfigSort, ConfigStore,
    LoginThrottleStore, NewUser, RefreshToken, RefreshTokenStore, RefreshUse, Role, RoleAssignment,
    UserChange, UserStore,
};
use serde_json::json;
use std::sync::Arc;

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "$argon2id$x".into(),
        role,
        tenant_ids: vec!["t1".into()],
        role_assignments: vec![RoleAssignment {
            tenant_id: "t1".into(),
            role: "enumerator".into(),
            area_id: None,
        }],
        created_at: ts(5),
    }
}

#[tokio::test]
async fn configs_save_replace_list_archive() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "alpha", "Zeta program").await;
    create_tenant(&store, "beta", "Alpha program").await;
    let mut rec = store.get_config(&tenant("alpha")).await.unwrap().unwrap();
    rec.document = json!({"id": "alpha", "name": "Zeta program", "version": "2.0"});
    rec.updated_at = ts(2_000);
    assert!(!store.save_config(&rec).await.unwrap());
    let got = store.get_config(&tenant("alpha")).await.unwrap().unwrap();
    assert_eq!(got.document["version"], "2.0");
    assert_eq!((got.created_at, got.updated_at), (ts(1_000), ts(2_000)));

    let taken = ConfigRecord {
        id: tenant("gamma"),
        ..got.clone()
    };
    assert!(matches!(
        store.save_config(&taken).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .config_by_artifact(&got.artifact_id)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(tenant("alpha"))
    );

    let (page, total) = store
        .list_configs(&ConfigQuery {
            limit: 10,
            ..ConfigQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    let ids: Vec<_> = page.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, ["beta", "alpha"]);
    let (page, total) = store
        .list_configs(&ConfigQuery {
            search: Some("ZETA".to_lowercase()),
            sort: ConfigSort::Id,
            descending: true,
            limit: 10,
            ..ConfigQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].entities_count, 0);
    let (page, total) = store
        .list_configs(&ConfigQuery {
            only: Some(vec!["beta".into()]),
            limit: 10,
            ..ConfigQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));

    assert!(store
        .set_archived(&tenant("alpha"), Some(ts(3)))
        .await
        .unwrap());
    assert!(!store.set_archived(&tenant("nope"), None).await.unwrap());
    assert!(store
        .config_by_artifact(&got.artifact_id)
        .await
        .unwrap()
        .is_none());
    let (_, total) = store
        .list_configs(&ConfigQuery {
            limit: 10,
            ..ConfigQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1);
    let (_, total) = store
        .list_configs(&ConfigQuery {
            limit: 1,
            include_archived: true,
            ..ConfigQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
}

#[tokio::test]
async fn users_crud_and_unique_email() {
    let db = TestDb::new();
    let store = db.open();
    let a = store
        .create_user(&new_user("a@x.org", Role::Admin))
        .await
        .unwrap();
    let b = store
        .create_user(&new_user("b@x.org", Role::User))
        .await
        .unwrap();
    assert!(b.id > a.id);
    assert!(matches!(
        store.create_user(&new_user("a@x.org", Role::User)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.user_by_email("b@x.org").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let mut b2 = b.clone();
    b2.email = "a@x.org".into();
    assert!(matches!(
        store
            .update_user(b2.id, &UserChange::every_member(&b2))
            .await,
        Err(StoreError::Conflict(_))
    ));
    b2.email = "c@x.org".into();
    b2.role = Role::Admin;
    assert_eq!(
        store
            .update_user(b2.id, &UserChange::every_member(&b2))
            .await
            .unwrap(),
        AccountChange::Done
    );
    assert_eq!(store.count_admins().await.unwrap(), 2);
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![a.clone(), b2.clone()]
    );
    store
        .insert_refresh(
            &RefreshToken {
                token_hash: "h".into(),
                user_id: b.id,
                family_id: "f".into(),
                expires_at: ts(1_000_000),
            },
            &b2.password_hash,
        )
        .await
        .unwrap();
    assert_eq!(store.delete_user(b.id).await.unwrap(), AccountChange::Done);
    assert_eq!(
        store.delete_user(b.id).await.unwrap(),
        AccountChange::NotFound
    );
    assert_eq!(
        store.use_refresh("h", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    // Ids are never reused.
    let c = store
        .create_user(&new_user("d@x.org", Role::User))
        .await
        .unwrap();
    assert!(c.id > b.id);
}

#[tokio::test]
async fn refresh_tokens_are_single_use_and_reuse_revokes_the_family() {
    let db = TestDb::new();
    let store = Arc::new(db.open());
    let u = store
        .create_user(&new_user("a@x.org", Role::User))
        .await
        .unwrap();
    for (hash, exp) in [("t1", 1_000), ("t2", 1_000), ("old", 10)] {
        store
            .insert_refresh(
                &RefreshToken {
                    token_hash: hash.into(),
                    user_id: u.id,
                    family_id: "fam".into(),
                    expires_at: ts(exp),
                },
                &u.password_hash,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.use_refresh("old", ts(10)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh("zzz", ts(10)).await.unwrap(),
        RefreshUse::Invalid
    );
    // Concurrent uses of one token: exactly one Valid.
    let uses: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.use_refresh("t1", ts(20)).await.unwrap() })
        })
        .collect();
    let mut valid = 0;
    for u in uses {
        if matches!(u.await.unwrap(), RefreshUse::Valid(_)) {
            valid += 1;
        }
    }
    assert_eq!(valid, 1);
    assert_eq!(
        store.use_refresh("t1", ts(21)).await.unwrap(),
        RefreshUse::Reused { user_id: u.id }
    );
    // The family is revoked: t2 is no longer usable.
    assert_eq!(
        store.use_refresh("t2", ts(22)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert!(store.revoke_refresh("t2").await.unwrap());
    assert!(!store.revoke_refresh("nope").await.unwrap());
}

#[tokio::test]
async fn login_failures_count_in_the_window() {
    let db = TestDb::new();
    let store = db.open();
    assert_eq!(store.record_failure("k", ts(10), ts(0)).await.unwrap(), 1);
    assert_eq!(store.record_failure("k", ts(20), ts(0)).await.unwrap(), 2);
    assert_eq!(store.record_failure("k", ts(30), ts(15)).await.unwrap(), 2);
    assert_eq!(
        store.record_failure("other", ts(30), ts(0)).await.unwrap(),
        1
    );
    assert_eq!(store.failures_since("k", ts(25)).await.unwrap(), 1);
    store.clear_failures("k").await.unwrap();
    assert_eq!(store.failures_since("k", ts(0)).await.unwrap(), 0);
    assert_eq!(store.failures_since("other", ts(0)).await.unwrap(), 1);
}

fn entry(guid: &str, ms: i64) -> AuditEntry {
    AuditEntry {
        guid: guid.into(),
        timestamp: ts(ms),
        user_id: "u".into(),
        action: "create".into(),
        event_guid: "e".into(),
        entity_guid: "p".into(),
        changes: json!({"name": ["a", "b"]}),
        signature: String::new(),
    }
}

#[tokio::test]
async fn audit_append_is_idempotent_and_pages_by_id() {
    let db = TestDb::new();
    let store = db.open();
    create_tenant(&store, "t1", "One").await;
    let t = tenant("t1");
    let n = store
        .append_audit(&t, &[entry("a", 10), entry("b", 20), entry("a", 10)])
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        store
            .append_audit(&t, &[entry("b", 20), entry("c", 30)])
            .await
            .unwrap(),
        1
    );
    let all = store.list_audit(&t, None, 0, 10).await.unwrap();
    let guids: Vec<_> = all.iter().map(|(_, e)| e.guid.as_str()).collect();
    assert_eq!(guids, ["a", "b", "c"]);
    assert_eq!(all[0].1, entry("a", 10));
    let after = store.list_audit(&t, None, all[0].0, 1).await.unwrap();
    assert_eq!(after[0].1.guid, "b");
    let since = store.list_audit(&t, Some(ts(20)), 0, 10).await.unwrap();
    assert_eq!(since.len(), 1);
    assert!(matches!(
        store.append_audit(&tenant("nope"), &[entry("x", 1)]).await,
        Err(StoreError::NotFound)
    ));
}
