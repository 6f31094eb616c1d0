//! Users, refresh tokens, login throttling, audit logs.

use crate::db::{create_tenant, tenant, ts};
use domain::error::StoreError;
use domain::ports::{
    AccountChange, AuditEntry, AuditStore, LoginThrottleStore, NewUser, RefreshToken,
    RefreshTokenStore, RefreshUse, Role, RoleAssignment, UserChange, UserStore,
};
use serde_json::json;

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "$argon2id$hash".into(),
        role,
        tenant_ids: vec!["t1".into(), "t2".into()],
        role_assignments: vec![RoleAssignment {
            tenant_id: "t1".into(),
            role: "enumerator".into(),
            area_id: Some("north".into()),
        }],
        created_at: ts(1_000),
    }
}

#[tokio::test]
async fn users_are_created_found_updated_and_deleted() {
    let (_db, store) = crate::test_db!();
    let a = store
        .create_user(&new_user("a@x.org", Role::Admin))
        .await
        .unwrap();
    let b = store
        .create_user(&new_user("b@x.org", Role::User))
        .await
        .unwrap();
    assert!(b.id > a.id);
    assert_eq!(a.role_assignments[0].area_id.as_deref(), Some("north"));
    assert!(matches!(
        store.create_user(&new_user("a@x.org", Role::User)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.user_by_email("b@x.org").await.unwrap(),
        Some(b.clone())
    );
    assert!(store.user_by_email("c@x.org").await.unwrap().is_none());
    assert_eq!(store.list_users().await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let mut b2 = b.clone();
    b2.role = Role::Admin;
    b2.tenant_ids = vec![];
    b2.email = "b2@x.org".into();
    assert_eq!(
        store
            .update_user(b2.id, &UserChange::every_member(&b2))
            .await
            .unwrap(),
        AccountChange::Done
    );
    assert_eq!(store.get_user(b.id).await.unwrap(), Some(b2.clone()));
    assert_eq!(store.count_admins().await.unwrap(), 2);
    b2.email = "a@x.org".into();
    assert!(matches!(
        store
            .update_user(b2.id, &UserChange::every_member(&b2))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let mut ghost = b2.clone();
    ghost.id = 999_999;
    ghost.email = "ghost@x.org".into();
    assert_eq!(
        store
            .update_user(ghost.id, &UserChange::every_member(&ghost))
            .await
            .unwrap(),
        AccountChange::NotFound
    );
    // Deleting a user deletes its tokens.
    store
        .insert_refresh(&token("h1", a.id, "f1", 10_000), &a.password_hash)
        .await
        .unwrap();
    assert_eq!(store.delete_user(a.id).await.unwrap(), AccountChange::Done);
    assert_eq!(
        store.delete_user(a.id).await.unwrap(),
        AccountChange::NotFound
    );
    assert_eq!(
        store.use_refresh("h1", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
}

fn token(hash: &str, user_id: i64, family: &str, expires: i64) -> RefreshToken {
    RefreshToken {
        token_hash: hash.into(),
        user_id,
        family_id: family.into(),
        expires_at: ts(expires),
    }
}

#[tokio::test]
async fn refresh_tokens_are_single_use_with_family_revocation() {
    let (_db, store) = crate::test_db!();
    let u = store
        .create_user(&new_user("a@x.org", Role::User))
        .await
        .unwrap();
    store
        .insert_refresh(&token("h1", u.id, "f1", 10_000), &u.password_hash)
        .await
        .unwrap();
    store
        .insert_refresh(&token("h2", u.id, "f1", 10_000), &u.password_hash)
        .await
        .unwrap();
    store
        .insert_refresh(&token("old", u.id, "f2", 100), &u.password_hash)
        .await
        .unwrap();
    assert_eq!(
        store.use_refresh("h1", ts(50)).await.unwrap(),
        RefreshUse::Valid(token("h1", u.id, "f1", 10_000))
    );
    assert_eq!(
        store.use_refresh("h1", ts(60)).await.unwrap(),
        RefreshUse::Reused { user_id: u.id }
    );
    // The reuse revoked the family: its unused sibling is dead too.
    assert_eq!(
        store.use_refresh("h2", ts(70)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh("old", ts(100)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh("nope", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    store
        .insert_refresh(&token("h3", u.id, "f3", 10_000), &u.password_hash)
        .await
        .unwrap();
    assert!(store.revoke_refresh("h3").await.unwrap());
    assert!(!store.revoke_refresh("nope").await.unwrap());
    assert_eq!(
        store.use_refresh("h3", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    // No such user: nothing stored.
    assert!(!store
        .insert_refresh(&token("x", 999_999, "f", 1), "any")
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_token_yield_at_most_one_valid() {
    let (_db, store) = crate::test_db!();
    let u = store
        .create_user(&new_user("a@x.org", Role::User))
        .await
        .unwrap();
    for round in 0..5 {
        let hash = format!("h{round}");
        store
            .insert_refresh(
                &token(&hash, u.id, &format!("f{round}"), 10_000),
                &u.password_hash,
            )
            .await
            .unwrap();
        let uses: Vec<_> = (0..6)
            .map(|_| {
                let s = store.clone();
                let h = hash.clone();
                tokio::spawn(async move { s.use_refresh(&h, ts(10)).await.unwrap() })
            })
            .collect();
        let mut valid = 0;
        for u in uses {
            if matches!(u.await.unwrap(), RefreshUse::Valid(_)) {
                valid += 1;
            }
        }
        assert_eq!(valid, 1, "round {round}");
    }
}

#[tokio::test]
async fn login_failures_are_counted_in_a_window_and_cleared() {
    let (_db, store) = crate::test_db!();
    assert_eq!(
        store.record_failure("ip:1", ts(100), ts(0)).await.unwrap(),
        1
    );
    assert_eq!(
        store.record_failure("ip:1", ts(200), ts(0)).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .record_failure("ip:1", ts(300), ts(150))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.record_failure("ip:2", ts(300), ts(0)).await.unwrap(),
        1
    );
    assert_eq!(store.failures_since("ip:1", ts(0)).await.unwrap(), 3);
    assert_eq!(store.failures_since("ip:1", ts(201)).await.unwrap(), 1);
    store.clear_failures("ip:1").await.unwrap();
    assert_eq!(store.failures_since("ip:1", ts(0)).await.unwrap(), 0);
    assert_eq!(store.failures_since("ip:2", ts(0)).await.unwrap(), 1);
}

fn audit(guid: &str, ms: i64) -> AuditEntry {
    AuditEntry {
        guid: guid.into(),
        timestamp: ts(ms),
        user_id: "7".into(),
        action: "update".into(),
        event_guid: "e1".into(),
        entity_guid: "p1".into(),
        changes: json!({"name": ["a", "b"]}),
        signature: String::new(),
    }
}

#[tokio::test]
async fn audit_entries_are_idempotent_and_paged_by_id() {
    let (_db, store) = crate::test_db!();
    create_tenant(&store, "t1", "One").await;
    create_tenant(&store, "t2", "Two").await;
    let t = tenant("t1");
    let added = store
        .append_audit(&t, &[audit("a1", 100), audit("a2", 200), audit("a1", 100)])
        .await
        .unwrap();
    assert_eq!(added, 2);
    assert_eq!(
        store
            .append_audit(&t, &[audit("a2", 200), audit("a3", 300)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .append_audit(&tenant("t2"), &[audit("a1", 1)])
            .await
            .unwrap(),
        1
    );
    let all = store.list_audit(&t, None, 0, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|(_, e)| e.guid.as_str()).collect::<Vec<_>>(),
        ["a1", "a2", "a3"]
    );
    assert_eq!(all[0].1, audit("a1", 100));
    let after = store.list_audit(&t, None, all[0].0, 1).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1.guid, "a2");
    let since = store.list_audit(&t, Some(ts(200)), 0, 10).await.unwrap();
    assert_eq!(
        since
            .iter()
            .map(|(_, e)| e.guid.as_str())
            .collect::<Vec<_>>(),
        ["a3"]
    );
    assert!(matches!(
        store
            .append_audit(&tenant("ghost"), &[audit("a1", 1)])
            .await,
        Err(StoreError::NotFound)
    ));
}
