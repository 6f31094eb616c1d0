//! Health, error bodies, login, tokens and the role matrix of the account routes.

use crate::harness::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

crate::on_both_backends!(
    login_rate_limit,
    cors_and_request_ids,
    metrics_are_exposed,
    health_and_error_bodies,
    login_refresh_rotation_and_reuse,
    auth_header_errors,
    user_admin_matrix,
    deleted_demoted_and_moved_users_lose_access,
);

async fn health_and_error_bodies(s: &TestServer) {
    let r = s.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
    let r = s.call(Method::GET, "/api/health", None, None).await;
    assert_eq!(
        (r.status, r.body["storage"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let r = s.call(Method::GET, "/api/server-info", None, None).await;
    assert_eq!(r.body["apiVersion"], "2.0.0");
    s.call(Method::GET, "/no/such/route", None, None)
        .await
        .expect_error(404, "NOT_FOUND");
    // Routes with their own body limits answer a wrong method the same way (JSON).
    for path in ["/api/sync/push", "/api/sync/push/audit-logs"] {
        s.call(Method::GET, path, None, None)
            .await
            .expect_error(404, "NOT_FOUND");
    }
    let r = s
        .client
        .post(format!("{}/api/users/login", s.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_JSON");
}

async fn login_refresh_rotation_and_reuse(s: &TestServer) {
    let login = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        login["token"].is_string() && login["userId"].is_i64() && login["refreshToken"].is_string()
    );
    assert_eq!(login["expiresIn"], 3600);
    let bad = s
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": "wrong"})),
        )
        .await;
    bad.expect_error(401, "INVALID_CREDENTIALS");
    assert_eq!(bad.body["message"], "Invalid email or password");
    s.call(
        Method::POST,
        "/api/users/login",
        None,
        Some(json!({"email": ADMIN_EMAIL})),
    )
    .await
    .expect_error(400, "INVALID_BODY");
    // A NUL character (PostgreSQL answered 500: it cannot compare text holding one).
    s.call(
        Method::POST,
        "/api/users/login",
        None,
        Some(json!({"email": "a\u{0}@example.org", "password": "x"})),
    )
    .await
    .expect_error(400, "INVALID_BODY");

    let first = login["refreshToken"].as_str().unwrap();
    let r = s
        .call(
            Method::POST,
            "/api/users/refresh",
            None,
            Some(json!({"refreshToken": first})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = r.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let me = s
        .get("/api/users/me", r.body["token"].as_str().unwrap())
        .await;
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    // Reusing the first token revokes the whole family, including the second.
    s.call(
        Method::POST,
        "/api/users/refresh",
        None,
        Some(json!({"refreshToken": first})),
    )
    .await
    .expect_error(401, "REFRESH_TOKEN_REUSED");
    s.call(
        Method::POST,
        "/api/users/refresh",
        None,
        Some(json!({"refreshToken": second})),
    )
    .await
    .expect_error(401, "INVALID_REFRESH_TOKEN");
    // Logout revokes.
    let login = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let t = login["refreshToken"].as_str().unwrap();
    assert_eq!(
        s.call(
            Method::POST,
            "/api/users/logout",
            None,
            Some(json!({"refreshToken": t}))
        )
        .await
        .status,
        StatusCode::OK
    );
    s.call(
        Method::POST,
        "/api/users/refresh",
        None,
        Some(json!({"refreshToken": t})),
    )
    .await
    .expect_error(401, "INVALID_REFRESH_TOKEN");
}

async fn auth_header_errors(s: &TestServer) {
    s.call(Method::GET, "/api/users/check-token", None, None)
        .await
        .expect_error(401, "AUTH_HEADER_MISSING");
    let r = s
        .client
        .get(format!("{}/api/users/check-token", s.base))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "INVALID_AUTH_TYPE"
    );
    s.get("/api/users/check-token", "not-a-jwt")
        .await
        .expect_error(401, "INVALID_TOKEN");
    let admin = s.admin_token().await;
    let r = s.get("/api/users/check-token", &admin).await;
    assert_eq!(r.body, json!({"message": "Token is valid"}));
}

async fn user_admin_matrix(s: &TestServer) {
    let admin = s.admin_token().await;
    let user = s.user_token(&admin, "field@example.org", &["prog"]).await;
    // Admin-only routes: user → 403, no token → 401.
    for (method, path) in [
        (Method::GET, "/api/users"),
        (Method::POST, "/api/users"),
        (Method::PUT, "/api/users/1"),
        (Method::DELETE, "/api/users/1"),
    ] {
        let body = (method != Method::GET && method != Method::DELETE)
            .then(|| json!({"email": "x@y.org", "password": "p"}));
        s.call(method.clone(), path, Some(&user), body.clone())
            .await
            .expect_error(403, "ADMIN_REQUIRED");
        s.call(method, path, None, body)
            .await
            .expect_error(401, "AUTH_HEADER_MISSING");
    }
    // /me works for every authenticated user.
    let me = s.get("/api/users/me", &user).await;
    assert_eq!(me.body["tenantIds"], json!(["prog"]));
    assert_eq!(me.body["role"], "USER");
    let list = s.get("/api/users", &admin).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    s.post(
        "/api/users",
        &admin,
        json!({"email": "field@example.org", "password": "x", "role": "USER"}),
    )
    .await
    .expect_error(409, "EMAIL_EXISTS");
    s.post(
        "/api/users",
        &admin,
        json!({"email": "nope", "password": "x", "role": "USER"}),
    )
    .await
    .expect_error(400, "INVALID_EMAIL");
    // Update: empty password keeps the old one; email can change.
    let id = me.body["id"].as_i64().unwrap();
    let r = s
        .call(
            Method::PUT,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({"email": "renamed@example.org", "password": "", "role": "USER"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.login("renamed@example.org", "pw-123456").await;
    // Delete by email, then by unknown id.
    let r = s
        .call(
            Method::DELETE,
            "/api/users/renamed@example.org",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    s.call(Method::DELETE, "/api/users/99999", Some(&admin), None)
        .await
        .expect_error(404, "USER_NOT_FOUND");
}

async fn deleted_demoted_and_moved_users_lose_access(s: &TestServer) {
    let admin = s.admin_token().await;
    s.post(
        "/api/users",
        &admin,
        json!({"email": "second@example.org", "password": "pw-123456", "role": "ADMIN"}),
    )
    .await;
    let second = s.login("second@example.org", "pw-123456").await;
    let token = second["token"].as_str().unwrap();
    let id = second["userId"].as_i64().unwrap();
    assert_eq!(s.get("/api/users", token).await.status, StatusCode::OK);
    s.call(
        Method::PUT,
        &format!("/api/users/{id}"),
        Some(&admin),
        Some(json!({"email": "second@example.org", "role": "USER"})),
    )
    .await;
    s.get("/api/users", token)
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    s.call(
        Method::DELETE,
        &format!("/api/users/{id}"),
        Some(&admin),
        None,
    )
    .await;
    s.get("/api/users/me", token)
        .await
        .expect_error(401, "INVALID_TOKEN");

    // A user who loses a tenant loses it on the next request, with the same token.
    s.create_config(&admin, "kept").await;
    s.create_config(&admin, "lost").await;
    let user = s
        .user_token(&admin, "mover@example.org", &["kept", "lost"])
        .await;
    let pull = |t: &'static str| format!("/api/sync/pull?configId={t}&since=");
    assert_eq!(s.get(&pull("lost"), &user).await.status, StatusCode::OK);
    let id = s.login("mover@example.org", "pw-123456").await["userId"].clone();
    let r = s
        .call(
            Method::PUT,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({"tenantIds": ["kept"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.get(&pull("lost"), &user)
        .await
        .expect_error(403, "TENANT_FORBIDDEN");
    assert_eq!(s.get(&pull("kept"), &user).await.status, StatusCode::OK);

    // A password reset ends the sessions opened with the old password at once: a stolen
    // refresh token no longer renews them, and their access tokens are refused (tokens carry
    // whole seconds, so the reset happens in a later second than the login); the new
    // password logs in.
    let old = s.login("mover@example.org", "pw-123456").await;
    let old_token = old["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get("/api/users/check-token", &old_token).await.status,
        StatusCode::OK
    );
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(
        1_010 - into_second,
    )))
    .await;
    let r = s
        .call(
            Method::PUT,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({"password": "new-pw-7890"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.call(
        Method::POST,
        "/api/users/refresh",
        None,
        Some(json!({"refreshToken": old["refreshToken"]})),
    )
    .await
    .expect_error(401, "INVALID_REFRESH_TOKEN");
    s.get("/api/users/check-token", &old_token)
        .await
        .expect_error(401, "INVALID_TOKEN");
    s.get(&pull("kept"), &old_token)
        .await
        .expect_error(401, "INVALID_TOKEN");
    let new = s.login("mover@example.org", "new-pw-7890").await;
    let new_token = new["token"].as_str().unwrap();
    assert_eq!(
        s.get("/api/users/check-token", new_token).await.status,
        StatusCode::OK
    );
}

async fn cors_and_request_ids(s: &TestServer) {
    let preflight = |path: &str, origin: &str| {
        s.client
            .request(Method::OPTIONS, format!("{}{path}", s.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let credentials =
        |r: &reqwest::Response| r.headers().get("access-control-allow-credentials").cloned();
    let r = preflight("/api/sync/push", "http://anywhere.example")
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://anywhere.example"
    );
    // Credentials only on the session routes (reference users-api.md: `/v1/*` without).
    assert_eq!(credentials(&r), None);
    let r = preflight("/v1/users", "http://anywhere.example")
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(credentials(&r), None);
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .header("origin", "http://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://anywhere.example"
    );
    assert_eq!(credentials(&r), None);
    let r = preflight("/auth/login", "http://admin.example.org")
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    // A refused preflight is a JSON error like every other (SPEC §1.1).
    let r = preflight("/auth/login", "http://evil.example")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "CORS_REJECTED", "{body}");
    assert_eq!(body["error"], body["message"]);
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

async fn metrics_are_exposed(s: &TestServer) {
    s.call(Method::GET, "/health", None, None).await;
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\""),
        "{text}"
    );
}

async fn login_rate_limit(s: &TestServer) {
    let attempt = |password: &'static str| {
        s.client
            .post(format!("{}/api/users/login", s.base))
            .json(&json!({"email": ADMIN_EMAIL, "password": password}))
            .send()
    };
    let mut limited = None;
    for _ in 0..15 {
        let r = attempt("wrong").await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = limited.expect("the account is rate limited after repeated failures");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "RATE_LIMITED"
    );
    // Even the right password is refused while limited.
    assert_eq!(
        attempt(ADMIN_PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
