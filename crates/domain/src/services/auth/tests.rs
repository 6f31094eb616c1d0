//! AuthService against mockall mocks of its ports.

use super::*;
use crate::error::{ErrorKind, StoreError};
use crate::ports::{
    MockClock, MockIdGenerator, MockLoginThrottleStore, MockPasswordHasher, MockRefreshTokenStore,
    MockTokenSigner, MockUserStore, PasswordCheck,
};
use crate::services::credentials::sha256_hex;
use crate::time::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// 2024-01-15T10:30:00.000Z
const NOW_MS: i64 = 1_705_314_600_000;
const IP: &str = "203.0.113.9";

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap_or_default()
}

fn stored_user(id: i64, email: &str, role: Role) -> User {
    User {
        id,
        email: email.into(),
        password_hash: "$argon2id$stored".into(),
        role,
        tenant_ids: vec!["prog-a".into()],
        role_assignments: vec![RoleAssignment {
            tenant_id: "prog-a".into(),
            role: "enumerator".into(),
            area_id: None,
        }],
        created_at: at(0),
        password_changed_at: None,
    }
}

fn valid(needs_rehash: bool) -> PasswordCheck {
    PasswordCheck {
        valid: true,
        needs_rehash,
    }
}

const INVALID: PasswordCheck = PasswordCheck {
    valid: false,
    needs_rehash: false,
};

/// The mocks of every port, configured per test, then moved into the service.
struct Mocks {
    users: MockUserStore,
    refresh: MockRefreshTokenStore,
    throttle: MockLoginThrottleStore,
    hasher: MockPasswordHasher,
    signer: MockTokenSigner,
    clock: MockClock,
    ids: MockIdGenerator,
    now: Arc<AtomicI64>,
}

impl Mocks {
    /// A clock at `NOW_MS` (movable through `now`), and ids: hex tokens `t1…`, `t2…` padded to
    /// the requested size, uuids `fam-new`.
    fn new() -> Self {
        let now = Arc::new(AtomicI64::new(NOW_MS));
        let mut clock = MockClock::new();
        let read = now.clone();
        clock
            .expect_now()
            .returning(move || at(read.load(Ordering::SeqCst)));
        let mut ids = MockIdGenerator::new();
        let counter = AtomicUsize::new(0);
        ids.expect_hex().returning(move |bytes| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            format!("t{n}{}", "0".repeat(bytes * 2 - 2))
        });
        ids.expect_uuid().returning(|| "fam-new".to_owned());
        Mocks {
            users: MockUserStore::new(),
            refresh: MockRefreshTokenStore::new(),
            throttle: MockLoginThrottleStore::new(),
            hasher: MockPasswordHasher::new(),
            signer: MockTokenSigner::new(),
            clock,
            ids,
            now,
        }
    }

    /// No failures recorded anywhere; clears allowed.
    fn open_throttle(mut self) -> Self {
        self.throttle
            .expect_failures_since()
            .returning(|_, _| Ok(0));
        self.throttle.expect_clear_failures().returning(|_| Ok(()));
        self
    }

    /// Signs every token as `jwt-for-<id>`.
    fn signing(mut self) -> Self {
        self.signer
            .expect_sign()
            .returning(|c| Ok(format!("jwt-for-{}", c.id)));
        self
    }

    fn service(self, settings: AuthSettings) -> AuthService {
        AuthService::new(
            AccountPorts {
                users: Arc::new(self.users),
                refresh_tokens: Arc::new(self.refresh),
                login_throttle: Arc::new(self.throttle),
                hasher: Arc::new(self.hasher),
                signer: Arc::new(self.signer),
                clock: Arc::new(self.clock),
                ids: Arc::new(self.ids),
            },
            settings,
        )
    }
}

fn no_cache() -> AuthSettings {
    AuthSettings {
        principal_cache_ttl_ms: 0,
        ..AuthSettings::default()
    }
}

fn claims_of(user: &User) -> AccessClaims {
    AccessClaims {
        sub: user.id.to_string(),
        id: user.id,
        email: user.email.clone(),
        role: user.role,
        tenant_ids: user.tenant_ids.clone(),
        role_assignments: user.role_assignments.clone(),
        iat: NOW_MS / 1000,
        exp: NOW_MS / 1000 + 3600,
    }
}

fn account_key(email: &str) -> String {
    format!("login:account:{}", sha256_hex(email))
}

#[tokio::test]
async fn login_issues_access_and_refresh_tokens() {
    let mut m = Mocks::new().signing();
    let user = stored_user(7, "alice@example.org", Role::User);
    let expected_claims = claims_of(&user);
    m.throttle
        .expect_failures_since()
        .times(2)
        .returning(|_, since| {
            assert_eq!(since.millis(), NOW_MS - 900_000);
            Ok(3)
        });
    m.throttle
        .expect_clear_failures()
        .withf(|key| key == account_key("alice@example.org"))
        .times(1)
        .returning(|_| Ok(()));
    m.users
        .expect_user_by_email()
        .withf(|e| e == "alice@example.org")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    m.hasher
        .expect_verify()
        .withf(|p, h| p == "s3cret" && h == "$argon2id$stored")
        .times(1)
        .returning(|_, _| valid(false));
    m.signer = MockTokenSigner::new();
    m.signer
        .expect_sign()
        .withf(move |c| *c == expected_claims)
        .times(1)
        .returning(|_| Ok("jwt".into()));
    let refresh_plain = format!("t1{}", "0".repeat(62));
    let expected_hash = sha256_hex(&refresh_plain);
    m.refresh
        .expect_insert_refresh()
        .withf(move |t, password_hash| {
            t.token_hash == expected_hash
                && t.user_id == 7
                && t.family_id == "fam-new"
                && t.expires_at.millis() == NOW_MS + 30 * 24 * 3600 * 1000
                // Stored only while the password is still the one verified.
                && password_hash == "$argon2id$stored"
        })
        .times(1)
        .returning(|_, _| Ok(true));
    // The service's first token also clears the tokens expired by now.
    m.refresh
        .expect_delete_expired_refresh()
        .withf(|now| now.millis() == NOW_MS)
        .times(1)
        .returning(|_| Ok(3));

    let out = m
        .service(no_cache())
        .login(Some("  Alice@Example.ORG "), Some("s3cret"), IP)
        .await
        .unwrap();
    assert_eq!(
        out,
        LoginResponse {
            token: "jwt".into(),
            user_id: 7,
            refresh_token: refresh_plain,
            expires_in: 3600,
        }
    );
    let body = serde_json::to_value(&out).unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["token", "userId", "refreshToken", "expiresIn"]
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_fail_alike_and_are_counted() {
    // Unknown email: a decoy hash is computed once and verified against.
    let mut m = Mocks::new().open_throttle();
    m.users.expect_user_by_email().returning(|_| Ok(None));
    m.ids
        .expect_alphanumeric()
        .times(1)
        .returning(|n| "x".repeat(n));
    m.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$argon2id$decoy".into()));
    m.hasher
        .expect_verify()
        .withf(|p, h| p == "guess" && h == "$argon2id$decoy")
        .times(2)
        .returning(|_, _| valid(false));
    m.throttle
        .expect_record_failure()
        .withf(|key, now, since| {
            (key == account_key("nobody@example.org") || key == format!("login:ip:{IP}"))
                && now.millis() == NOW_MS
                && since.millis() == NOW_MS - 900_000
        })
        .times(4)
        .returning(|_, _, _| Ok(1));
    // The first failure recorded by the limiter also forgets its failures older than the
    // window (the second, one of the next 255, does not).
    m.throttle
        .expect_forget_failures_before()
        .withf(|prefix, before| prefix == "login:" && before.millis() == NOW_MS - 900_000)
        .times(1)
        .returning(|_, _| Ok(0));
    let svc = m.service(no_cache());
    for _ in 0..2 {
        let err = svc
            .login(Some("nobody@example.org"), Some("guess"), IP)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unauthenticated);
        assert_eq!(err.code, "INVALID_CREDENTIALS");
        assert_eq!(err.message, "Invalid email or password");
    }

    // Wrong password: the same error, counted for account and IP, nothing cleared.
    let mut m = Mocks::new();
    m.throttle.expect_failures_since().returning(|_, _| Ok(0));
    m.users
        .expect_user_by_email()
        .returning(|_| Ok(Some(stored_user(7, "alice@example.org", Role::User))));
    m.hasher.expect_verify().times(1).returning(|_, _| INVALID);
    m.throttle
        .expect_record_failure()
        .times(2)
        .returning(|_, _, _| Ok(1));
    m.throttle
        .expect_forget_failures_before()
        .times(1)
        .returning(|_, _| Ok(0));
    let err = m
        .service(no_cache())
        .login(Some("alice@example.org"), Some("wrong"), IP)
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_CREDENTIALS");
    assert_eq!(err.message, "Invalid email or password");
}

#[tokio::test]
async fn missing_fields_are_400_without_touching_storage() {
    let svc = Mocks::new().service(no_cache());
    for (email, password) in [
        (None, Some("pw")),
        (Some("  "), Some("pw")),
        (Some("a@b.org"), None),
        (Some("a@b.org"), Some("")),
        // No account has a NUL in its email (PostgreSQL cannot even compare one).
        (Some("a\u{0}@b.org"), Some("pw")),
    ] {
        let err = svc.login(email, password, IP).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest);
        assert_eq!(err.code, "INVALID_BODY");
    }
}

#[tokio::test]
async fn too_many_account_failures_are_429_with_retry_after() {
    let mut m = Mocks::new();
    m.throttle
        .expect_failures_since()
        .withf(|key, _| key == account_key("alice@example.org"))
        .times(1)
        .returning(|_, _| Ok(10));
    let err = m
        .service(no_cache())
        .login(Some("alice@example.org"), Some("pw"), IP)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimited(900));
    assert_eq!(err.code, "RATE_LIMITED");
}

#[tokio::test]
async fn too_many_ip_failures_are_429() {
    let mut m = Mocks::new();
    m.throttle
        .expect_failures_since()
        .returning(|key, _| Ok(if key.starts_with("login:ip:") { 5 } else { 0 }));
    let settings = AuthSettings {
        login_limits: LoginLimits {
            per_account: 10,
            per_ip: 5,
            window_secs: 60,
        },
        ..no_cache()
    };
    let err = m
        .service(settings)
        .login(Some("alice@example.org"), Some("pw"), IP)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimited(60));
}

/// User 3, bob@example.org, an admin whose password still has an imported bcrypt hash
/// that verifies (and needs re-hashing).
fn imported_account() -> Mocks {
    let mut m = Mocks::new().open_throttle().signing();
    let mut user = stored_user(3, "bob@example.org", Role::Admin);
    user.password_hash = "$2b$10$legacy".into();
    m.users
        .expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    m.hasher
        .expect_verify()
        .withf(|_, h| h == "$2b$10$legacy")
        .returning(|_, _| valid(true));
    m
}

#[tokio::test]
async fn bcrypt_hash_is_rehashed_on_login() {
    let mut m = imported_account();
    m.hasher
        .expect_hash()
        .withf(|p| p == "pw")
        .times(1)
        .returning(|_| Ok("$argon2id$fresh".into()));
    // Only the hash is replaced, and only if it is still the one verified.
    m.users
        .expect_replace_password_hash()
        .withf(|id, current, new| {
            *id == 3 && current == "$2b$10$legacy" && new == "$argon2id$fresh"
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    // The token is stored against the re-hashed password.
    m.refresh
        .expect_insert_refresh()
        .withf(|_, password_hash| password_hash == "$argon2id$fresh")
        .returning(|_, _| Ok(true));
    // A failed clean-up does not fail the login it follows.
    m.refresh
        .expect_delete_expired_refresh()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let out = m
        .service(no_cache())
        .login(Some("bob@example.org"), Some("pw"), IP)
        .await
        .unwrap();
    assert_eq!(out.user_id, 3);
}

/// Two logins re-hashing one imported password at once: the second's compare-and-set
/// fails, and it stands (or not) on the hash stored by the first.
#[tokio::test]
async fn a_login_that_loses_the_rehash_race_verifies_the_stored_hash() {
    for (verifies, ok) in [(true, true), (false, false)] {
        let mut m = imported_account();
        m.hasher
            .expect_hash()
            .returning(|_| Ok("$argon2id$mine".into()));
        m.users
            .expect_replace_password_hash()
            .returning(|_, _, _| Ok(false));
        // Re-read: the other login's hash (or an admin's).
        m.users
            .expect_get_user()
            .withf(|id| *id == 3)
            .returning(|_| {
                let mut u = stored_user(3, "bob@example.org", Role::Admin);
                u.password_hash = "$argon2id$theirs".into();
                Ok(Some(u))
            });
        m.hasher
            .expect_verify()
            .withf(|_, h| h == "$argon2id$theirs")
            .returning(move |_, _| if verifies { valid(false) } else { INVALID });
        m.refresh
            .expect_insert_refresh()
            .withf(|_, password_hash| password_hash == "$argon2id$theirs")
            .returning(|_, _| Ok(true));
        m.refresh
            .expect_delete_expired_refresh()
            .returning(|_| Ok(0));
        let out = m
            .service(no_cache())
            .login(Some("bob@example.org"), Some("pw"), IP)
            .await;
        match out {
            Ok(out) => assert!(
                ok,
                "logged in with a password the stored hash refuses: {out:?}"
            ),
            Err(e) => {
                assert!(!ok, "refused: {e:?}");
                assert_eq!(e.code, "INVALID_CREDENTIALS");
            }
        }
    }
}

/// A valid use of user 7's token `hash` in family `fam-9`.
fn alice_token(hash: &str) -> RefreshUse {
    RefreshUse::Valid(RefreshToken {
        token_hash: hash.to_owned(),
        user_id: 7,
        family_id: "fam-9".into(),
        expires_at: at(NOW_MS + 1000),
    })
}

/// A refresh whose token is refused because the hash changed without a reset (a login
/// re-hashed it) tries once more with the stored hash; refused twice, it is a 401.
#[tokio::test]
async fn a_refresh_refused_once_retries_with_the_stored_hash() {
    for (second_try, ok) in [(true, true), (false, false)] {
        let mut m = Mocks::new().signing();
        m.refresh
            .expect_use_refresh()
            .returning(|hash, _| Ok(alice_token(hash)));
        m.users
            .expect_get_user()
            .times(2)
            .returning(|_| Ok(Some(stored_user(7, "alice@example.org", Role::User))));
        let mut tries = 0;
        m.refresh
            .expect_insert_refresh()
            .times(2)
            .returning(move |_, _| {
                tries += 1;
                Ok(tries == 2 && second_try)
            });
        m.refresh
            .expect_delete_expired_refresh()
            .returning(|_| Ok(0));
        let out = m.service(no_cache()).refresh(Some("old-token")).await;
        assert_eq!(out.is_ok(), ok, "{out:?}");
        if let Err(e) = out {
            assert_eq!(e.code, "INVALID_REFRESH_TOKEN");
        }
    }
}

#[tokio::test]
async fn refresh_rotates_within_the_family() {
    let mut m = Mocks::new().signing();
    m.refresh
        .expect_use_refresh()
        .withf(|hash, now| hash == sha256_hex("old-token") && now.millis() == NOW_MS)
        .times(1)
        .returning(|hash, _| Ok(alice_token(hash)));
    m.users
        .expect_get_user()
        .withf(|id| *id == 7)
        .returning(|_| Ok(Some(stored_user(7, "alice@example.org", Role::User))));
    let next = format!("t1{}", "0".repeat(62));
    let next_hash = sha256_hex(&next);
    m.refresh
        .expect_insert_refresh()
        .withf(move |t, password_hash| {
            t.family_id == "fam-9"
                && t.token_hash == next_hash
                && t.user_id == 7
                && password_hash == "$argon2id$stored"
        })
        .times(1)
        .returning(|_, _| Ok(true));
    m.refresh
        .expect_delete_expired_refresh()
        .times(1)
        .returning(|_| Ok(0));
    let out = m
        .service(no_cache())
        .refresh(Some("old-token"))
        .await
        .unwrap();
    assert_eq!(
        out,
        RefreshResponse {
            token: "jwt-for-7".into(),
            refresh_token: next,
            expires_in: 3600,
        }
    );
}

#[tokio::test]
async fn refresh_reuse_invalid_and_orphaned_tokens_are_401() {
    let mut m = Mocks::new();
    m.refresh.expect_use_refresh().returning(|hash, _| {
        Ok(if hash == sha256_hex("used") {
            RefreshUse::Reused { user_id: 7 }
        } else if hash == sha256_hex("orphan") {
            RefreshUse::Valid(RefreshToken {
                token_hash: hash.to_owned(),
                user_id: 99,
                family_id: "f".into(),
                expires_at: at(NOW_MS + 1000),
            })
        } else {
            RefreshUse::Invalid
        })
    });
    m.users.expect_get_user().returning(|_| Ok(None));
    let svc = m.service(no_cache());

    let err = svc.refresh(Some("used")).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Unauthenticated, "REFRESH_TOKEN_REUSED")
    );
    let err = svc.refresh(Some("garbage")).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Unauthenticated, "INVALID_REFRESH_TOKEN")
    );
    let err = svc.refresh(Some("orphan")).await.unwrap_err();
    assert_eq!(err.code, "INVALID_REFRESH_TOKEN");
    let err = svc.refresh(None).await.unwrap_err();
    assert_eq!(err.code, "INVALID_BODY");
}

#[tokio::test]
async fn refresh_storage_outage_is_503() {
    let mut m = Mocks::new();
    m.refresh
        .expect_use_refresh()
        .returning(|_, _| Err(StoreError::unavailable("down")));
    let err = m
        .service(no_cache())
        .refresh(Some("tok"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() {
    let mut m = Mocks::new();
    m.refresh
        .expect_revoke_refresh()
        .withf(|hash| hash == sha256_hex("tok"))
        .times(2)
        .returning({
            let calls = AtomicUsize::new(0);
            move |_| Ok(calls.fetch_add(1, Ordering::SeqCst) == 0)
        });
    let svc = m.service(no_cache());
    for _ in 0..2 {
        assert_eq!(
            svc.logout(Some("tok")).await.unwrap().message,
            "Logged out successfully"
        );
    }
    assert_eq!(svc.logout(Some("")).await.unwrap_err().code, "INVALID_BODY");
}

#[tokio::test]
async fn authenticate_builds_the_principal_from_the_stored_user() {
    let mut m = Mocks::new();
    // The token says ADMIN with tenant prog-a; the stored user was demoted and moved.
    let at_issue = stored_user(7, "alice@example.org", Role::Admin);
    let claims = claims_of(&at_issue);
    m.signer
        .expect_verify()
        .withf(|t| t == "good")
        .returning(move |_| Ok(claims.clone()));
    m.signer
        .expect_verify()
        .returning(|_| Err(DomainError::unauthenticated("INVALID_TOKEN", "expired")));
    let mut now_user = stored_user(7, "alice@example.org", Role::User);
    now_user.tenant_ids = vec!["prog-b".into()];
    m.users
        .expect_get_user()
        .withf(|id| *id == 7)
        .times(1)
        .returning(move |_| Ok(Some(now_user.clone())));
    let svc = m.service(no_cache());

    let p = svc.authenticate("good").await.unwrap();
    assert_eq!(p.user_id, 7);
    assert_eq!(p.role, Role::User);
    assert_eq!(p.tenant_ids, vec!["prog-b".to_owned()]);
    assert_eq!(p.require_admin().unwrap_err().code, "ADMIN_REQUIRED");
    let tenant_a = crate::tenant::TenantId::parse("prog-a").unwrap();
    assert!(p.authorize_tenant(&tenant_a).is_err());

    let err = svc.authenticate("expired").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref(), err.message.as_str()),
        (ErrorKind::Unauthenticated, "INVALID_TOKEN", "Invalid token")
    );
}

#[tokio::test]
async fn a_deleted_users_token_is_rejected() {
    let mut m = Mocks::new();
    let claims = claims_of(&stored_user(7, "alice@example.org", Role::Admin));
    m.signer
        .expect_verify()
        .returning(move |_| Ok(claims.clone()));
    m.users.expect_get_user().returning(|_| Ok(None));
    let err = m.service(no_cache()).authenticate("tok").await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_ref()),
        (ErrorKind::Unauthenticated, "INVALID_TOKEN")
    );
}

#[tokio::test]
async fn authenticated_users_are_cached_briefly_and_invalidated() {
    let mut m = Mocks::new();
    let now = m.now.clone();
    let claims = claims_of(&stored_user(7, "alice@example.org", Role::User));
    m.signer
        .expect_verify()
        .returning(move |_| Ok(claims.clone()));
    m.users
        .expect_get_user()
        .times(3)
        .returning(|_| Ok(Some(stored_user(7, "alice@example.org", Role::User))));
    let svc = m.service(AuthSettings {
        principal_cache_ttl_ms: 2000,
        ..AuthSettings::default()
    });
    svc.authenticate("t").await.unwrap(); // load 1
    now.fetch_add(1999, Ordering::SeqCst);
    svc.authenticate("t").await.unwrap(); // cached
    now.fetch_add(1, Ordering::SeqCst);
    svc.authenticate("t").await.unwrap(); // expired: load 2
    svc.principal_cache().invalidate(7);
    svc.authenticate("t").await.unwrap(); // invalidated: load 3
}

/// Access tokens issued in a second before the password was last changed are refused, from
/// the cache too; those issued during that second or later are accepted.
#[tokio::test]
async fn tokens_issued_before_a_password_change_are_refused() {
    let mut m = Mocks::new();
    let user = stored_user(7, "alice@example.org", Role::User);
    let token = |iat: i64| AccessClaims {
        iat,
        ..claims_of(&user)
    };
    let second = NOW_MS / 1000;
    let (before, same, after) = (token(second - 1), token(second), token(second + 1));
    m.signer.expect_verify().returning(move |t| match t {
        "before" => Ok(before.clone()),
        "same" => Ok(same.clone()),
        _ => Ok(after.clone()),
    });
    let mut changed = user.clone();
    // Changed 900 ms into the second the tokens "same" were issued in.
    changed.password_changed_at = Some(at(second * 1000 + 900));
    m.users
        .expect_get_user()
        .times(1)
        .returning(move |_| Ok(Some(changed.clone())));
    let svc = m.service(AuthSettings {
        principal_cache_ttl_ms: 60_000,
        ..AuthSettings::default()
    });
    for (token, valid) in [
        ("before", false),
        ("same", true),
        ("after", true),
        ("before", false),
    ] {
        let got = svc.authenticate(token).await;
        match got {
            Ok(p) => assert!(valid, "{token} accepted as user {}", p.user_id),
            Err(e) => {
                assert!(!valid, "{token} refused");
                assert_eq!(
                    (e.kind, e.code.as_ref()),
                    (ErrorKind::Unauthenticated, "INVALID_TOKEN")
                );
            }
        }
    }
}

#[tokio::test]
async fn me_and_check_token() {
    let mut m = Mocks::new();
    let mut calls = 0;
    m.users.expect_get_user().returning(move |_| {
        calls += 1;
        Ok((calls == 1).then(|| stored_user(7, "alice@example.org", Role::User)))
    });
    let svc = m.service(no_cache());
    let principal = Principal::of(&stored_user(7, "alice@example.org", Role::User));
    let me = serde_json::to_value(svc.me(&principal).await.unwrap()).unwrap();
    assert_eq!(
        me,
        serde_json::json!({
            "id": 7,
            "email": "alice@example.org",
            "role": "USER",
            "tenantIds": ["prog-a"],
            "roleAssignments": [{"tenantId": "prog-a", "role": "enumerator"}]
        })
    );
    assert_eq!(svc.me(&principal).await.unwrap_err().code, "INVALID_TOKEN");
    assert_eq!(
        serde_json::to_value(svc.check_token(&principal)).unwrap(),
        serde_json::json!({"message": "Token is valid"})
    );
}

/// Rejects every password, yielding while it "works" as the real check does (it runs off
/// the async workers), and counts the checks.
#[derive(Default)]
struct SlowRejectingHasher {
    checks: AtomicUsize,
}

#[async_trait::async_trait]
impl PasswordHasher for SlowRejectingHasher {
    async fn hash(&self, _: &str) -> Result<String, DomainError> {
        Ok("$argon2id$decoy".into())
    }

    async fn verify(&self, _: &str, _: &str) -> PasswordCheck {
        self.checks.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        INVALID
    }
}

/// A burst of parallel wrong guesses on one account is held to the threshold: attempts take
/// turns from their check to their recorded failure, so later ones see the earlier failures
/// (without the turns, all 30 passed the check and each verified a password).
#[tokio::test]
async fn parallel_guesses_are_counted_before_the_next_is_checked() {
    let mut m = Mocks::new();
    m.users
        .expect_user_by_email()
        .returning(|email| Ok(Some(stored_user(1, email, Role::Admin))));
    let hasher = Arc::new(SlowRejectingHasher::default());
    let svc = Arc::new(AuthService::new(
        AccountPorts {
            users: Arc::new(m.users),
            refresh_tokens: Arc::new(m.refresh),
            login_throttle: Arc::new(crate::fake::store::MemStore::default()),
            hasher: hasher.clone(),
            signer: Arc::new(m.signer),
            clock: Arc::new(m.clock),
            ids: Arc::new(m.ids),
        },
        no_cache(),
    ));
    let attempts: Vec<_> = (0..30)
        .map(|i| {
            let svc = svc.clone();
            tokio::spawn(async move {
                svc.login(Some("alice@example.org"), Some(&format!("guess{i}")), IP)
                    .await
            })
        })
        .collect();
    let mut limited = 0;
    for attempt in attempts {
        let err = attempt.await.unwrap().unwrap_err();
        if err.code == "RATE_LIMITED" {
            limited += 1;
        } else {
            assert_eq!(err.code, "INVALID_CREDENTIALS");
        }
    }
    let checks = hasher.checks.load(Ordering::SeqCst);
    // The default threshold is 10 failures per account; two turns at once let one more in.
    assert!((10..=11).contains(&checks), "{checks} passwords checked");
    assert_eq!(limited, 30 - checks);
}
