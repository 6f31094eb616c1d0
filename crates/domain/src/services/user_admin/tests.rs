//! UserAdminService against mockall mocks of its ports.

use super::*;
use crate::error::ErrorKind;
use crate::ports::{
    AccountChange, MockClock, MockIdGenerator, MockLoginThrottleStore, MockPasswordHasher,
    MockRefreshTokenStore, MockTokenSigner, MockUserStore,
};
use crate::time::Timestamp;
use serde_json::json;

const NOW_MS: i64 = 1_705_314_600_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap_or_default()
}

fn stored(id: i64, email: &str, role: Role) -> User {
    User {
        id,
        email: email.into(),
        password_hash: format!("$argon2id$old-{id}"),
        role,
        tenant_ids: vec![],
        role_assignments: vec![],
        password_changed_at: None,
        created_at: at(0),
    }
}

fn admin() -> Principal {
    Principal::of(&stored(1, "root@example.org", Role::Admin))
}

fn plain_user() -> Principal {
    Principal::of(&stored(2, "user@example.org", Role::User))
}

struct Mocks {
    users: MockUserStore,
    hasher: MockPasswordHasher,
    ids: MockIdGenerator,
    /// No expectation by default: an update that is not a password change revokes nothing.
    refresh: MockRefreshTokenStore,
}

impl Mocks {
    fn new() -> Self {
        Mocks {
            refresh: MockRefreshTokenStore::new(),
            users: MockUserStore::new(),
            hasher: MockPasswordHasher::new(),
            ids: MockIdGenerator::new(),
        }
    }

    /// Hashes `pw` as `hash(pw)`.
    fn hashing(mut self) -> Self {
        self.hasher
            .expect_hash()
            .returning(|p| Ok(format!("hash({p})")));
        self
    }

    fn service(self) -> (UserAdminService, Arc<PrincipalCache>) {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(NOW_MS));
        let ports = AccountPorts {
            users: Arc::new(self.users),
            refresh_tokens: Arc::new(self.refresh),
            login_throttle: Arc::new(MockLoginThrottleStore::new()),
            hasher: Arc::new(self.hasher),
            signer: Arc::new(MockTokenSigner::new()),
            clock: Arc::new(clock),
            ids: Arc::new(self.ids),
        };
        let cache = Arc::new(PrincipalCache::new(60_000, 100));
        (UserAdminService::new(&ports, cache.clone()), cache)
    }
}

#[tokio::test]
async fn only_admins_manage_users() {
    let (svc, _) = Mocks::new().service();
    let who = plain_user();
    let errors = [
        svc.list(&who).await.unwrap_err(),
        svc.create(&who, &json!({})).await.unwrap_err(),
        svc.update(&who, "1", &json!({})).await.unwrap_err(),
        svc.delete(&who, "1").await.unwrap_err(),
    ];
    for err in errors {
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::Forbidden, "ADMIN_REQUIRED")
        );
    }
}

#[tokio::test]
async fn list_shows_accounts_without_hashes() {
    let mut m = Mocks::new();
    m.users.expect_list_users().returning(|| {
        let mut u = stored(2, "user@example.org", Role::User);
        u.tenant_ids = vec!["prog".into()];
        Ok(vec![stored(1, "root@example.org", Role::Admin), u])
    });
    let (svc, _) = m.service();
    let body = serde_json::to_value(svc.list(&admin()).await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!([
            {"id": 1, "email": "root@example.org", "role": "ADMIN", "tenantIds": [], "roleAssignments": []},
            {"id": 2, "email": "user@example.org", "role": "USER", "tenantIds": ["prog"], "roleAssignments": []}
        ])
    );
}

#[tokio::test]
async fn create_normalizes_hashes_and_stores() {
    let mut m = Mocks::new().hashing();
    m.users
        .expect_create_user()
        .withf(|u| {
            u.email == "new@example.org"
                && u.password_hash == "hash(pw)"
                && u.role == Role::User
                && u.tenant_ids == ["prog-a"]
                && u.role_assignments
                    == [RoleAssignment {
                        tenant_id: "prog-a".into(),
                        role: "supervisor".into(),
                        area_id: Some("north".into()),
                    }]
                && u.created_at.millis() == NOW_MS
        })
        .times(1)
        .returning(|u| {
            Ok(User {
                id: 12,
                email: u.email.clone(),
                password_hash: u.password_hash.clone(),
                role: u.role,
                tenant_ids: u.tenant_ids.clone(),
                role_assignments: u.role_assignments.clone(),
                password_changed_at: None,
                created_at: u.created_at,
            })
        });
    let (svc, _) = m.service();
    let out = svc
        .create(
            &admin(),
            &json!({
                "email": "  New@Example.ORG ",
                "password": "pw",
                "role": "user",
                "tenantIds": ["prog-a"],
                "roleAssignments": [{"tenantId": "prog-a", "role": "supervisor", "areaId": "north"}]
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"message": "User created successfully", "id": 12})
    );
}

#[tokio::test]
async fn create_rejects_bad_input_and_taken_emails() {
    let mut m = Mocks::new().hashing();
    m.users
        .expect_create_user()
        .times(1)
        .returning(|_| Err(StoreError::Conflict("users.email".into())));
    let (svc, _) = m.service();
    let cases = [
        (json!([]), "INVALID_BODY"),
        (json!({"password": "pw"}), "INVALID_EMAIL"),
        (
            json!({"email": "not-an-email", "password": "pw"}),
            "INVALID_EMAIL",
        ),
        (json!({"email": "a@b.org"}), "INVALID_PASSWORD"),
        (
            json!({"email": "a@b.org", "password": ""}),
            "INVALID_PASSWORD",
        ),
        (
            json!({"email": "a@b.org", "password": 5}),
            "INVALID_PASSWORD",
        ),
        (
            json!({"email": "a@b.org", "password": "pw", "role": "ROOT"}),
            "INVALID_ROLE",
        ),
        (
            json!({"email": "a@b.org", "password": "pw", "tenantIds": "prog"}),
            "INVALID_BODY",
        ),
        (
            json!({"email": "a@b.org", "password": "pw", "tenantIds": [1]}),
            "INVALID_BODY",
        ),
        (
            json!({"email": "a@b.org", "password": "pw", "roleAssignments": [{"role": "x"}]}),
            "INVALID_BODY",
        ),
        // NUL anywhere (PostgreSQL stores it neither in text nor in jsonb).
        (
            json!({"email": "a@b.org", "password": "pw", "tenantIds": ["p\u{0}"]}),
            "INVALID_BODY",
        ),
        (
            json!({"email": "a@b.org", "password": "pw",
                   "roleAssignments": [{"tenantId": "p", "role": "x\u{0}"}]}),
            "INVALID_BODY",
        ),
    ];
    for (body, code) in cases {
        let err = svc.create(&admin(), &body).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::BadRequest, code),
            "{body}"
        );
    }
    let err = svc
        .create(
            &admin(),
            &json!({"email": "taken@b.org", "password": "pw", "role": "ADMIN"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "EMAIL_EXISTS")
    );
}

#[tokio::test]
async fn update_writes_only_the_members_the_body_names() {
    let mut m = Mocks::new();
    m.users
        .expect_get_user()
        .withf(|id| *id == 5)
        .returning(|_| Ok(Some(stored(5, "old@example.org", Role::User))));
    // Absent members and an empty password are not written: a concurrent change of them
    // by another admin stays.
    m.users
        .expect_update_user()
        .withf(|id, c| {
            *id == 5
                && *c
                    == UserChange {
                        email: Some("new@example.org".into()),
                        tenant_ids: Some(vec!["p1".into(), "p2".into()]),
                        ..UserChange::default()
                    }
        })
        .times(1)
        .returning(|_, _| Ok(AccountChange::Done));
    let (svc, cache) = m.service();
    cache.put(
        &stored(5, "old@example.org", Role::User),
        at(NOW_MS),
        cache.stamp(),
    );
    let out = svc
        .update(
            &admin(),
            "5",
            &json!({"email": "New@example.org", "password": "", "tenantIds": ["p1", "p2"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"message": "User updated successfully"})
    );
    assert!(
        cache.get(5, at(NOW_MS)).is_none(),
        "cache entry invalidated"
    );
}

#[tokio::test]
async fn update_rehashes_a_new_password_and_changes_role() {
    let mut m = Mocks::new().hashing();
    m.users
        .expect_get_user()
        .returning(|_| Ok(Some(stored(5, "u@example.org", Role::User))));
    m.users
        .expect_update_user()
        .withf(|_, c| {
            *c == UserChange {
                password_hash: Some("hash(n3w)".into()),
                password_changed_at: Some(at(NOW_MS)),
                role: Some(Role::Admin),
                ..UserChange::default()
            }
        })
        .times(1)
        .returning(|_, _| Ok(AccountChange::Done));
    // (The store revokes the user's refresh tokens with a password change.)
    let (svc, _) = m.service();
    svc.update(&admin(), "5", &json!({"password": "n3w", "role": "ADMIN"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn update_errors() {
    let mut m = Mocks::new();
    m.users.expect_get_user().returning(|id| {
        Ok(match id {
            1 => Some(stored(1, "root@example.org", Role::Admin)),
            5 => Some(stored(5, "u@example.org", Role::User)),
            _ => None,
        })
    });
    m.users.expect_user_by_email().returning(|_| Ok(None));
    // The store refuses to demote the last admin; other writes conflict on the email.
    m.users.expect_update_user().returning(|id, _| match id {
        1 => Ok(AccountChange::LastAdmin),
        _ => Err(StoreError::Conflict("users.email".into())),
    });
    let (svc, _) = m.service();

    let err = svc.update(&admin(), "404", &json!({})).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::NotFound, "USER_NOT_FOUND")
    );
    let err = svc
        .update(&admin(), "ghost@example.org", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "USER_NOT_FOUND");
    let err = svc
        .update(&admin(), "5", &json!({"email": "root@example.org"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "EMAIL_EXISTS")
    );
    let err = svc
        .update(&admin(), "1", &json!({"role": "USER"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "LAST_ADMIN")
    );
    let err = svc
        .update(&admin(), "5", &json!({"role": "GOD"}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_ROLE");
    let err = svc.update(&admin(), "5", &json!("x")).await.unwrap_err();
    assert_eq!(err.code, "INVALID_BODY");
}

#[tokio::test]
async fn update_of_a_user_deleted_meanwhile_is_404() {
    let mut m = Mocks::new();
    m.users
        .expect_get_user()
        .returning(|_| Ok(Some(stored(5, "u@example.org", Role::User))));
    m.users
        .expect_update_user()
        .returning(|_, _| Ok(AccountChange::NotFound));
    let (svc, _) = m.service();
    let err = svc.update(&admin(), "5", &json!({})).await.unwrap_err();
    assert_eq!(err.code, "USER_NOT_FOUND");
}

#[tokio::test]
async fn delete_by_id_or_email() {
    let mut m = Mocks::new();
    m.users
        .expect_get_user()
        .withf(|id| *id == 5)
        .times(1)
        .returning(|_| Ok(Some(stored(5, "u@example.org", Role::User))));
    m.users
        .expect_user_by_email()
        .withf(|e| e == "bob@example.org")
        .times(1)
        .returning(|_| Ok(Some(stored(6, "bob@example.org", Role::Admin))));
    m.users
        .expect_delete_user()
        .withf(|id| *id == 5 || *id == 6)
        .times(2)
        .returning(|_| Ok(AccountChange::Done));
    let (svc, cache) = m.service();
    cache.put(
        &stored(6, "bob@example.org", Role::Admin),
        at(NOW_MS),
        cache.stamp(),
    );
    for key in ["5", " Bob@Example.org"] {
        let out = svc.delete(&admin(), key).await.unwrap();
        assert_eq!(out.message, "User deleted successfully");
    }
    assert!(cache.get(6, at(NOW_MS)).is_none());
}

#[tokio::test]
async fn delete_protects_the_last_admin_and_reports_unknown_users() {
    let mut m = Mocks::new();
    m.users
        .expect_get_user()
        .returning(|id| Ok((id == 1).then(|| stored(1, "root@example.org", Role::Admin))));
    m.users.expect_user_by_email().returning(|_| Ok(None));
    m.users
        .expect_delete_user()
        .withf(|id| *id == 1)
        .returning(|_| Ok(AccountChange::LastAdmin));
    let (svc, _) = m.service();
    let err = svc.delete(&admin(), "1").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Conflict, "LAST_ADMIN")
    );
    for key in ["2", "nobody@example.org", "99999999999999999999999"] {
        let err = svc.delete(&admin(), key).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::NotFound, "USER_NOT_FOUND")
        );
    }
}

#[tokio::test]
async fn bootstrap_does_nothing_when_an_admin_exists() {
    let mut m = Mocks::new();
    m.users.expect_count_admins().returning(|| Ok(1));
    let (svc, _) = m.service();
    assert_eq!(svc.bootstrap_admin(None, None).await.unwrap(), None);
}

#[tokio::test]
async fn bootstrap_generates_a_password_for_admin_at_localhost() {
    let mut m = Mocks::new().hashing();
    m.users.expect_count_admins().returning(|| Ok(0));
    m.ids
        .expect_alphanumeric()
        .withf(|n| *n == 20)
        .times(1)
        .returning(|n| "Ab3".repeat(7)[..n].to_owned());
    let generated = "Ab3".repeat(7)[..20].to_owned();
    let expected_hash = format!("hash({generated})");
    m.users
        .expect_create_user()
        .withf(move |u| {
            u.email == "admin@localhost"
                && u.role == Role::Admin
                && u.password_hash == expected_hash
        })
        .times(1)
        .returning(|u| {
            Ok(User {
                id: 1,
                email: u.email.clone(),
                password_hash: u.password_hash.clone(),
                role: u.role,
                tenant_ids: vec![],
                role_assignments: vec![],
                password_changed_at: None,
                created_at: u.created_at,
            })
        });
    let (svc, _) = m.service();
    assert_eq!(
        svc.bootstrap_admin(None, None).await.unwrap(),
        Some(BootstrappedAdmin {
            email: "admin@localhost".into(),
            generated_password: Some(generated),
        })
    );
}

#[tokio::test]
async fn bootstrap_uses_the_operators_values() {
    let mut m = Mocks::new().hashing();
    m.users.expect_count_admins().returning(|| Ok(0));
    m.users
        .expect_create_user()
        .withf(|u| u.email == "ops@example.org" && u.password_hash == "hash(given)")
        .times(1)
        .returning(|_| Err(StoreError::Conflict("users.email".into())));
    let (svc, _) = m.service();
    // The email belongs to a non-admin: a clear conflict, not a crash.
    let err = svc
        .bootstrap_admin(Some(" Ops@Example.org"), Some("given"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "EMAIL_EXISTS");
    let err = svc
        .bootstrap_admin(Some("not an email"), Some("given"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_EMAIL");
    let err = svc
        .bootstrap_admin(Some("ops@example.org"), Some(""))
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_PASSWORD");
}

#[tokio::test]
async fn bootstrap_with_given_password_returns_nothing_to_print() {
    let mut m = Mocks::new().hashing();
    m.users.expect_count_admins().returning(|| Ok(0));
    m.users
        .expect_create_user()
        .times(1)
        .returning(|u| Ok(stored(1, &u.email, Role::Admin)));
    let (svc, _) = m.service();
    assert_eq!(
        svc.bootstrap_admin(Some("ops@example.org"), Some("given"))
            .await
            .unwrap(),
        Some(BootstrappedAdmin {
            email: "ops@example.org".into(),
            generated_password: None,
        })
    );
}

#[tokio::test]
async fn bootstrap_that_loses_the_race_to_another_instance_succeeds_with_nothing_to_print() {
    let mut m = Mocks::new().hashing();
    // No admin when counted; the other instance's admin is there after the conflict.
    let mut counts = [0, 1].into_iter();
    m.users
        .expect_count_admins()
        .times(2)
        .returning(move || Ok(counts.next().unwrap_or(1)));
    m.users
        .expect_create_user()
        .times(1)
        .returning(|_| Err(StoreError::Conflict("users.email".into())));
    let (svc, _) = m.service();
    assert_eq!(
        svc.bootstrap_admin(None, Some("given")).await.unwrap(),
        None
    );
}
