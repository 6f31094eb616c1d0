//! Clauses of [`domain::ports::UserStore`], [`domain::ports::RefreshTokenStore`] and
//! [`domain::ports::LoginThrottleStore`].

use crate::fixtures::ts;
use domain::error::StoreError;
use domain::ports::{
    AccountChange, NewUser, RefreshToken, RefreshUse, Role, RoleAssignment, Stores, User,
    UserChange,
};

/// A new user with `email` and `role`, created at 1,000 ms.
pub fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: format!("hash-of-{email}"),
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

/// An update writes only the members its change sets: changes of different members made
/// one after the other (as by two admins editing at once, each from what it read) all stay;
/// an empty change writes nothing; demoting the only admin is refused by role alone.
pub async fn update_user_writes_only_the_members_it_sets(stores: &Stores) {
    let u = stores.users.as_ref();
    let (admin, ann) = admin_and_ann(stores).await;
    let set = |change: UserChange| async move { u.update_user(ann.id, &change).await.unwrap() };
    let done = AccountChange::Done;
    assert_eq!(
        set(UserChange {
            password_hash: Some("new-hash".into()),
            password_changed_at: Some(ts(5_000)),
            ..UserChange::default()
        })
        .await,
        done
    );
    assert_eq!(
        set(UserChange {
            tenant_ids: Some(vec!["t9".into()]),
            ..UserChange::default()
        })
        .await,
        done
    );
    let grants = vec![RoleAssignment {
        tenant_id: "t9".into(),
        role: "supervisor".into(),
        area_id: None,
    }];
    assert_eq!(
        set(UserChange {
            email: Some("ann2@x.org".into()),
            role: Some(Role::Admin),
            role_assignments: Some(grants.clone()),
            ..UserChange::default()
        })
        .await,
        done
    );
    assert_eq!(set(UserChange::default()).await, done);
    let expected = User {
        email: "ann2@x.org".into(),
        password_hash: "new-hash".into(),
        password_changed_at: Some(ts(5_000)),
        role: Role::Admin,
        tenant_ids: vec!["t9".into()],
        role_assignments: grants,
        ..ann.clone()
    };
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        u.update_user(ann.id + 100, &UserChange::default())
            .await
            .unwrap(),
        AccountChange::NotFound
    );
    // With two admins either may be demoted; then the other is the last.
    let demote = UserChange {
        role: Some(Role::User),
        ..UserChange::default()
    };
    assert_eq!(u.update_user(admin.id, &demote).await.unwrap(), done);
    assert_eq!(
        u.update_user(ann.id, &demote).await.unwrap(),
        AccountChange::LastAdmin
    );
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(expected));
    let admin_now = u.get_user(admin.id).await.unwrap().unwrap();
    assert_eq!(admin_now.role, Role::User);
    assert_eq!(admin_now.email, "admin@x.org");
}

/// Users: created with increasing ids, read by id and email, listed by id, updated and
/// deleted; an email belongs to one user at a time (`Conflict`).
pub async fn users_crud_and_email_conflict(stores: &Stores) {
    let u = stores.users.as_ref();
    assert!(u.list_users().await.unwrap().is_empty());
    assert_eq!(u.count_admins().await.unwrap(), 0);
    let (admin, ann) = admin_and_ann(stores).await;
    assert!(ann.id > admin.id);
    let expected = |id: i64, email: &str, role: Role| User {
        id,
        email: email.into(),
        password_hash: format!("hash-of-{email}"),
        role,
        tenant_ids: vec!["t1".into(), "t2".into()],
        role_assignments: new_user(email, role).role_assignments,
        created_at: ts(1_000),
        password_changed_at: None,
    };
    assert_eq!(admin, expected(admin.id, "admin@x.org", Role::Admin));
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        u.user_by_email("ann@x.org").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(u.user_by_email("nobody@x.org").await.unwrap(), None);
    assert_eq!(u.get_user(ann.id + 100).await.unwrap(), None);
    let err = u
        .create_user(&new_user("ann@x.org", Role::Admin))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(u.list_users().await.unwrap(), [admin.clone(), ann.clone()]);
    assert_eq!(u.count_admins().await.unwrap(), 1);

    let updated = User {
        email: "ann2@x.org".into(),
        password_hash: "new-hash".into(),
        role: Role::Admin,
        tenant_ids: vec![],
        role_assignments: vec![],
        ..ann.clone()
    };
    assert_eq!(
        u.update_user(updated.id, &UserChange::every_member(&updated))
            .await
            .unwrap(),
        AccountChange::Done
    );
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(u.user_by_email("ann@x.org").await.unwrap(), None);
    assert_eq!(u.count_admins().await.unwrap(), 2);
    let steal = User {
        email: "admin@x.org".into(),
        ..updated.clone()
    };
    let err = u
        .update_user(steal.id, &UserChange::every_member(&steal))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(updated.clone()));
    let ghost = User {
        id: ann.id + 100,
        email: "ghost@x.org".into(),
        ..updated.clone()
    };
    assert_eq!(
        u.update_user(ghost.id, &UserChange::every_member(&ghost))
            .await
            .unwrap(),
        AccountChange::NotFound
    );
    assert_eq!(u.get_user(ghost.id).await.unwrap(), None);

    assert_eq!(u.delete_user(admin.id).await.unwrap(), AccountChange::Done);
    assert_eq!(
        u.delete_user(admin.id).await.unwrap(),
        AccountChange::NotFound
    );
    assert_eq!(
        u.list_users().await.unwrap(),
        std::slice::from_ref(&updated)
    );
    assert_eq!(u.count_admins().await.unwrap(), 1);
    // The only admin can be neither demoted nor deleted; it can change otherwise.
    let demoted = User {
        role: Role::User,
        ..updated.clone()
    };
    assert_eq!(
        u.update_user(demoted.id, &UserChange::every_member(&demoted))
            .await
            .unwrap(),
        AccountChange::LastAdmin
    );
    assert_eq!(
        u.delete_user(updated.id).await.unwrap(),
        AccountChange::LastAdmin
    );
    assert_eq!(
        u.list_users().await.unwrap(),
        std::slice::from_ref(&updated)
    );
    let renamed = User {
        email: "ann3@x.org".into(),
        ..updated.clone()
    };
    assert_eq!(
        u.update_user(renamed.id, &UserChange::every_member(&renamed))
            .await
            .unwrap(),
        AccountChange::Done
    );
    // The freed email can be used again.
    let again = u
        .create_user(&new_user("admin@x.org", Role::User))
        .await
        .unwrap();
    assert!(again.id > ann.id);
}

/// A refresh token of `user_id` in `family`, expiring at 10,000 ms.
pub fn refresh_token(hash: &str, user_id: i64, family: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.into(),
        user_id,
        family_id: family.into(),
        expires_at: ts(10_000),
    }
}

/// Stores `token` against its user's current password hash (asserting it was stored).
async fn store_token(stores: &Stores, token: &RefreshToken) {
    let user = stores.users.get_user(token.user_id).await.unwrap().unwrap();
    assert!(stores
        .refresh_tokens
        .insert_refresh(token, &user.password_hash)
        .await
        .unwrap());
}

/// Creates the user `email` (role `User`).
async fn user(stores: &Stores, email: &str) -> User {
    user_with_role(stores, email, Role::User).await
}

/// Creates the user `email` with `role`.
async fn user_with_role(stores: &Stores, email: &str, role: Role) -> User {
    stores
        .users
        .create_user(&new_user(email, role))
        .await
        .unwrap()
}

/// Creates `admin@x.org` (an admin), then `ann@x.org` (a user).
async fn admin_and_ann(stores: &Stores) -> (User, User) {
    let admin = user_with_role(stores, "admin@x.org", Role::Admin).await;
    (admin, user(stores, "ann@x.org").await)
}

/// Refresh tokens are single use; presenting a used one revokes its whole family (and only
/// it); expired, revoked and unknown tokens are `Invalid`; logout revokes the family.
pub async fn refresh_single_use_and_reuse_revokes_family(stores: &Stores) {
    let user = user(stores, "ann@x.org").await;
    let r = stores.refresh_tokens.as_ref();
    for (hash, family) in [
        ("a", "f1"),
        ("b", "f1"),
        ("c", "f2"),
        ("d", "f3"),
        ("e", "f3"),
    ] {
        store_token(stores, &refresh_token(hash, user.id, family)).await;
    }
    let now = ts(5_000);
    assert_eq!(
        r.use_refresh("a", now).await.unwrap(),
        RefreshUse::Valid(refresh_token("a", user.id, "f1"))
    );
    assert_eq!(
        r.use_refresh("a", now).await.unwrap(),
        RefreshUse::Reused { user_id: user.id }
    );
    // The unused sibling was revoked with the family; the other family is untouched.
    assert_eq!(r.use_refresh("b", now).await.unwrap(), RefreshUse::Invalid);
    assert_eq!(
        r.use_refresh("c", now).await.unwrap(),
        RefreshUse::Valid(refresh_token("c", user.id, "f2"))
    );
    assert_eq!(r.use_refresh("zz", now).await.unwrap(), RefreshUse::Invalid);
    // Expiry: valid strictly before `expires_at`.
    assert_eq!(
        r.use_refresh("d", ts(10_000)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        r.use_refresh("d", ts(9_999)).await.unwrap(),
        RefreshUse::Valid(refresh_token("d", user.id, "f3"))
    );
    // Logout revokes the family.
    assert!(r.revoke_refresh("e").await.unwrap());
    assert_eq!(r.use_refresh("e", now).await.unwrap(), RefreshUse::Invalid);
    assert!(!r.revoke_refresh("zz").await.unwrap());
}

/// Concurrent uses of one token yield exactly one `Valid`; the others see it used.
pub async fn refresh_concurrent_use_is_single(stores: &Stores) {
    let user = user(stores, "ann@x.org").await;
    store_token(stores, &refresh_token("t", user.id, "f")).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let stores = stores.clone();
            tokio::spawn(async move { stores.refresh_tokens.use_refresh("t", ts(1)).await })
        })
        .collect();
    let mut valid = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            RefreshUse::Valid(_) => valid += 1,
            RefreshUse::Reused { user_id } => assert_eq!(user_id, user.id),
            RefreshUse::Invalid => {}
        }
    }
    assert_eq!(valid, 1);
}

/// A password hash is replaced only while it is still the one expected (compare-and-set),
/// and nothing else of the account changes.
pub async fn replace_password_hash_only_if_unchanged(stores: &Stores) {
    let u = stores.users.as_ref();
    let ann = user(stores, "ann@x.org").await;
    assert!(!u
        .replace_password_hash(ann.id, "stale-hash", "rehashed")
        .await
        .unwrap());
    assert_eq!(u.get_user(ann.id).await.unwrap(), Some(ann.clone()));
    assert!(u
        .replace_password_hash(ann.id, &ann.password_hash, "rehashed")
        .await
        .unwrap());
    assert_eq!(
        u.get_user(ann.id).await.unwrap(),
        Some(User {
            password_hash: "rehashed".into(),
            ..ann.clone()
        })
    );
    assert!(!u
        .replace_password_hash(ann.id + 100, "rehashed", "x")
        .await
        .unwrap());
}

/// Admins removing each other at the same moment (each deleting or demoting one) leave one
/// admin: the last-admin check and the write are atomic. Eight rounds of four admins (the
/// survivor of a round and three new ones).
pub async fn concurrent_admin_removals_leave_an_admin(stores: &Stores) {
    let mut admins = Vec::new();
    for round in 0..8 {
        while admins.len() < 4 {
            let email = format!("admin-{round}-{}@x.org", admins.len());
            admins.push(
                stores
                    .users
                    .create_user(&new_user(&email, Role::Admin))
                    .await
                    .unwrap(),
            );
        }
        let tasks: Vec<_> = admins
            .drain(..)
            .enumerate()
            .map(|(i, admin)| {
                let stores = stores.clone();
                tokio::spawn(async move {
                    let change = if i % 2 == 0 {
                        stores.users.delete_user(admin.id).await
                    } else {
                        let demoted = User {
                            role: Role::User,
                            ..admin.clone()
                        };
                        stores
                            .users
                            .update_user(demoted.id, &UserChange::every_member(&demoted))
                            .await
                    };
                    (admin, change.unwrap())
                })
            })
            .collect();
        for task in tasks {
            let (admin, change) = task.await.unwrap();
            if change == AccountChange::LastAdmin {
                admins.push(admin);
            }
        }
        assert_eq!(admins.len(), 1, "round {round}: one removal refused");
        assert_eq!(
            stores.users.count_admins().await.unwrap(),
            1,
            "round {round}"
        );
    }
}

/// A token is stored only against the user's current password hash and while its family
/// has no revoked token; refused, nothing is stored.
pub async fn refresh_tokens_are_stored_only_for_the_current_password(stores: &Stores) {
    let ann = user(stores, "ann@x.org").await;
    let r = stores.refresh_tokens.as_ref();
    let stale = refresh_token("stale", ann.id, "f1");
    assert!(!r.insert_refresh(&stale, "an-old-hash").await.unwrap());
    assert_eq!(
        r.use_refresh("stale", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    let ghost = refresh_token("ghost", ann.id + 100, "f2");
    assert!(!r.insert_refresh(&ghost, &ann.password_hash).await.unwrap());
    // A family revoked (logout, reuse, password reset) takes no new token.
    store_token(stores, &refresh_token("a", ann.id, "f3")).await;
    assert!(r.revoke_refresh("a").await.unwrap());
    let late = refresh_token("late", ann.id, "f3");
    assert!(!r.insert_refresh(&late, &ann.password_hash).await.unwrap());
    assert_eq!(
        r.use_refresh("late", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
}

/// A password reset (a new hash; the store revokes the user's tokens with it) racing logins
/// that verified the old password leaves none of their tokens usable.
pub async fn a_password_reset_racing_logins_leaves_no_token(stores: &Stores) {
    let ann = user(stores, "ann@x.org").await;
    for round in 0..8 {
        let old_hash = stores
            .users
            .get_user(ann.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        let logins: Vec<_> = (0..4)
            .map(|i| {
                let (stores, old_hash) = (stores.clone(), old_hash.clone());
                tokio::spawn(async move {
                    let hash = format!("t-{round}-{i}");
                    let token = refresh_token(&hash, ann.id, &hash);
                    stores
                        .refresh_tokens
                        .insert_refresh(&token, &old_hash)
                        .await
                        .unwrap();
                    hash
                })
            })
            .collect();
        let reset = {
            let stores = stores.clone();
            tokio::spawn(async move {
                let reset = UserChange {
                    password_hash: Some(format!("hash-{round}")),
                    ..UserChange::default()
                };
                stores.users.update_user(ann.id, &reset).await.unwrap();
            })
        };
        let mut hashes = Vec::new();
        for login in logins {
            hashes.push(login.await.unwrap());
        }
        reset.await.unwrap();
        for hash in hashes {
            assert!(
                !matches!(
                    stores
                        .refresh_tokens
                        .use_refresh(&hash, ts(1))
                        .await
                        .unwrap(),
                    RefreshUse::Valid(_)
                ),
                "round {round}: token {hash} survived the reset"
            );
        }
    }
}

/// Deleting a user deletes its refresh tokens./// Deleting a user deletes its refresh tokens.
pub async fn delete_user_removes_refresh_tokens(stores: &Stores) {
    let (ann, bob) = (
        user(stores, "ann@x.org").await,
        user(stores, "bob@x.org").await,
    );
    let r = stores.refresh_tokens.as_ref();
    store_token(stores, &refresh_token("a", ann.id, "fa")).await;
    store_token(stores, &refresh_token("b", bob.id, "fb")).await;
    assert_eq!(
        stores.users.delete_user(ann.id).await.unwrap(),
        AccountChange::Done
    );
    assert_eq!(
        r.use_refresh("a", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert!(!r.revoke_refresh("a").await.unwrap());
    assert_eq!(
        r.use_refresh("b", ts(1)).await.unwrap(),
        RefreshUse::Valid(refresh_token("b", bob.id, "fb"))
    );
}

/// A password change revokes every refresh token of that user and no one else's; a change
/// of other members revokes none.
pub async fn a_password_change_ends_the_users_sessions_only(stores: &Stores) {
    let (ann, bob) = (
        user(stores, "ann@x.org").await,
        user(stores, "bob@x.org").await,
    );
    let r = stores.refresh_tokens.as_ref();
    for (hash, user, family) in [
        ("a1", ann.id, "fa1"),
        ("a2", ann.id, "fa2"),
        ("b", bob.id, "fb"),
    ] {
        store_token(stores, &refresh_token(hash, user, family)).await;
    }
    let other_members = UserChange {
        email: Some("ann2@x.org".into()),
        tenant_ids: Some(vec![]),
        ..UserChange::default()
    };
    let done = AccountChange::Done;
    assert_eq!(
        stores
            .users
            .update_user(ann.id, &other_members)
            .await
            .unwrap(),
        done
    );
    // Not revoked by that change: a1 can still be used (a2 is kept unused for the reset).
    assert_eq!(
        r.use_refresh("a1", ts(1)).await.unwrap(),
        RefreshUse::Valid(refresh_token("a1", ann.id, "fa1"))
    );
    let reset = UserChange {
        password_hash: Some("new".into()),
        ..UserChange::default()
    };
    assert_eq!(
        stores.users.update_user(ann.id, &reset).await.unwrap(),
        done
    );
    assert_eq!(
        r.use_refresh("a2", ts(1)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        r.use_refresh("b", ts(1)).await.unwrap(),
        RefreshUse::Valid(refresh_token("b", bob.id, "fb"))
    );
}

/// Deleting expired refresh tokens removes those with `expires_at <= now` whatever their
/// state (used, revoked, fresh), of every user; a deleted one is `Invalid`.
pub async fn expired_refresh_tokens_are_deleted(stores: &Stores) {
    let (ann, bob) = (
        user(stores, "ann@x.org").await,
        user(stores, "bob@x.org").await,
    );
    let r = stores.refresh_tokens.as_ref();
    let token = |hash: &str, user_id: i64, expires: i64| RefreshToken {
        expires_at: ts(expires),
        ..refresh_token(hash, user_id, hash)
    };
    for (hash, user_id, expires) in [
        ("used", ann.id, 100),
        ("fresh", bob.id, 200),
        ("live", ann.id, 201),
    ] {
        store_token(stores, &token(hash, user_id, expires)).await;
    }
    assert!(matches!(
        r.use_refresh("used", ts(50)).await.unwrap(),
        RefreshUse::Valid(_)
    ));
    assert_eq!(r.delete_expired_refresh(ts(200)).await.unwrap(), 2);
    assert_eq!(
        r.use_refresh("used", ts(50)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        r.use_refresh("fresh", ts(50)).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        r.use_refresh("live", ts(50)).await.unwrap(),
        RefreshUse::Valid(token("live", ann.id, 201))
    );
    assert_eq!(r.delete_expired_refresh(ts(200)).await.unwrap(), 0);
}

/// Failures are counted per key from `window_start` (inclusive), this one included;
/// clearing forgets only that key.
pub async fn login_throttle_window(stores: &Stores) {
    let l = stores.login_throttle.as_ref();
    assert_eq!(l.failures_since("k", ts(0)).await.unwrap(), 0);
    assert_eq!(l.record_failure("k", ts(100), ts(0)).await.unwrap(), 1);
    assert_eq!(l.record_failure("k", ts(200), ts(0)).await.unwrap(), 2);
    assert_eq!(l.record_failure("other", ts(250), ts(0)).await.unwrap(), 1);
    assert_eq!(l.record_failure("k", ts(300), ts(200)).await.unwrap(), 2);
    assert_eq!(l.failures_since("k", ts(0)).await.unwrap(), 3);
    assert_eq!(l.failures_since("k", ts(101)).await.unwrap(), 2);
    assert_eq!(l.failures_since("k", ts(300)).await.unwrap(), 1);
    assert_eq!(l.failures_since("k", ts(301)).await.unwrap(), 0);
    l.clear_failures("k").await.unwrap();
    assert_eq!(l.failures_since("k", ts(0)).await.unwrap(), 0);
    assert_eq!(l.failures_since("other", ts(0)).await.unwrap(), 1);
    assert_eq!(l.record_failure("k", ts(400), ts(0)).await.unwrap(), 1);
    l.clear_failures("never").await.unwrap();
}

/// Forgetting old failures removes those recorded before the instant (exclusive) under keys
/// with the prefix, of every such key, and nothing else.
pub async fn login_throttle_forgets_old_failures(stores: &Stores) {
    let l = stores.login_throttle.as_ref();
    for (key, at) in [
        ("login:ip:1", 100),
        ("login:ip:1", 300),
        ("login:ip:2", 150),
        ("login:account:x", 299),
        ("users:ip:1", 100),
        ("login", 100),
    ] {
        l.record_failure(key, ts(at), ts(0)).await.unwrap();
    }
    assert_eq!(
        l.forget_failures_before("login:", ts(300)).await.unwrap(),
        3
    );
    assert_eq!(l.failures_since("login:ip:1", ts(0)).await.unwrap(), 1);
    assert_eq!(l.failures_since("login:ip:2", ts(0)).await.unwrap(), 0);
    assert_eq!(l.failures_since("login:account:x", ts(0)).await.unwrap(), 0);
    assert_eq!(l.failures_since("users:ip:1", ts(0)).await.unwrap(), 1);
    assert_eq!(l.failures_since("login", ts(0)).await.unwrap(), 1);
    assert_eq!(
        l.forget_failures_before("login:", ts(300)).await.unwrap(),
        0
    );
}
