//! Who may call what: every bearer-token route of the OpenAPI document, called by six kinds of
//! caller (admin, user with the tenant, user without it, no token, expired token, token of a
//! deleted user). The document's 403 descriptions say which routes are admin-only
//! (`ADMIN_REQUIRED`) and which check the tenant (`TENANT_FORBIDDEN`); this test holds the
//! server to them. Also: upstream bcrypt hashes log in and are upgraded.

use crate::harness::{documented_operations, TestServer, ADMIN_EMAIL};
use domain::ports::{NewUser, Role};
use domain::time::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

crate::on_both_backends!(
    role_and_tenant_matrix_of_every_route,
    upstream_bcrypt_hash_logs_in_and_is_upgraded
);

const TENANT: &str = "matrix";
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Admin,
    UserWithTenant,
    UserWithoutTenant,
    NoToken,
    ExpiredToken,
    DeletedUser,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Guard {
    Admin,
    Tenant,
    AnyUser,
}

/// What the document says guards an operation.
fn guard_of(operation: &Value) -> Guard {
    let forbidden = operation["responses"]["403"]["description"]
        .as_str()
        .unwrap_or("");
    if forbidden.contains("ADMIN_REQUIRED") {
        Guard::Admin
    } else if forbidden.contains("TENANT_FORBIDDEN") {
        Guard::Tenant
    } else {
        Guard::AnyUser
    }
}

/// A request for `path` that names the matrix tenant wherever a tenant can be named.
fn concrete(path: &str) -> String {
    let path = path
        .replace("/api/apps/{id}", &format!("/api/apps/{TENANT}"))
        .replace("{id}", "999999")
        .replace("{guid}", "no-such-entity");
    format!("{path}?configId={TENANT}")
}

async fn role_and_tenant_matrix_of_every_route(s: &TestServer) {
    let document: Value = serde_json::from_str(&http_api::document_json()).unwrap();
    let admin = s.admin_token().await;
    s.create_config(&admin, TENANT).await;
    s.create_config(&admin, "other").await;
    let with = s.user_token(&admin, "with@example.org", &[TENANT]).await;
    let without = s
        .user_token(&admin, "without@example.org", &["other"])
        .await;
    let deleted = s.user_token(&admin, "gone@example.org", &[TENANT]).await;
    let gone_id = s.login("gone@example.org", "pw-123456").await["userId"].clone();
    let r = s
        .call(
            Method::DELETE,
            &format!("/api/users/{gone_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A token issued two days ago has expired (access tokens live minutes).
    s.shift_clock(-2 * DAY_MS);
    let expired = s.user_token(&admin, "expired@example.org", &[TENANT]).await;
    s.shift_clock(2 * DAY_MS);

    let callers = [
        (Caller::UserWithTenant, Some(with.as_str())),
        (Caller::UserWithoutTenant, Some(without.as_str())),
        (Caller::NoToken, None),
        (Caller::ExpiredToken, Some(expired.as_str())),
        (Caller::DeletedUser, Some(deleted.as_str())),
        // Last: the admin's calls may change state (archive the tenant, delete a user).
        (Caller::Admin, Some(admin.as_str())),
    ];
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (caller, token) in callers {
        for (method, path, operation) in documented_operations(&document) {
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if !bearer {
                continue;
            }
            let guard = guard_of(&operation);
            let body = (method != Method::GET).then(|| json!({"configId": TENANT}));
            let r = s.call(method.clone(), &concrete(&path), token, body).await;
            let what = format!("{caller:?} {method} {path}: {} {}", r.status, r.body);
            match (caller, guard) {
                (Caller::NoToken, _) => r.expect_error(401, "AUTH_HEADER_MISSING"),
                (Caller::ExpiredToken | Caller::DeletedUser, _) => {
                    r.expect_error(401, "INVALID_TOKEN")
                }
                (Caller::UserWithTenant | Caller::UserWithoutTenant, Guard::Admin) => {
                    r.expect_error(403, "ADMIN_REQUIRED")
                }
                (Caller::UserWithoutTenant, Guard::Tenant) => {
                    r.expect_error(403, "TENANT_FORBIDDEN")
                }
                _ => assert!(
                    r.status != StatusCode::UNAUTHORIZED
                        && r.status != StatusCode::FORBIDDEN
                        && !r.status.is_server_error(),
                    "{what}"
                ),
            }
            seen.insert(format!("{method} {path} {guard:?}"));
            checked += 1;
        }
    }
    assert!(seen.len() >= 28, "{seen:?}");
    assert_eq!(checked, seen.len() * 6);
}

async fn upstream_bcrypt_hash_logs_in_and_is_upgraded(s: &TestServer) {
    let legacy = bcrypt::hash("legacy-pass-1", 4).unwrap();
    s.stores
        .users
        .create_user(&NewUser {
            email: "legacy@example.org".into(),
            password_hash: legacy.clone(),
            role: Role::User,
            tenant_ids: vec![],
            role_assignments: vec![],
            created_at: Timestamp::EPOCH,
        })
        .await
        .unwrap();
    let wrong = s
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": "legacy@example.org", "password": "not-it"})),
        )
        .await;
    wrong.expect_error(401, "INVALID_CREDENTIALS");
    let body = s.login("legacy@example.org", "legacy-pass-1").await;
    let token = body["token"].as_str().unwrap();
    let me = s.get("/api/users/me", token).await;
    assert_eq!(me.body["email"], "legacy@example.org");
    let stored = s
        .stores
        .users
        .user_by_email("legacy@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "not upgraded: {}",
        stored.password_hash
    );
    // The upgraded hash still accepts the password; the admin is untouched.
    s.login("legacy@example.org", "legacy-pass-1").await;
    s.login(ADMIN_EMAIL, crate::harness::ADMIN_PASSWORD).await;
}
