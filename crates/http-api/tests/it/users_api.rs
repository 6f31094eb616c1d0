//! The Users API (seed contract): sessions by cookie, apps, schemas, public upsert.

use crate::harness::{TestServer, USERS_ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

crate::on_both_backends!(
    users_api_end_to_end,
    users_api_sessions_and_roles,
    signups_are_rate_limited_per_ip,
);

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) set_cookie: Option<String>,
}

pub(crate) async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    app: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = s.client.request(method, format!("{}{}", s.base, path));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("sid={c}"));
    }
    if let Some(a) = app {
        req = req.header("x-app-id", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or(Value::Null);
    Resp {
        status,
        body,
        set_cookie,
    }
}

pub(crate) async fn login(s: &TestServer, app: &str, password: &str) -> String {
    let r = send(
        s,
        Method::POST,
        "/auth/login",
        None,
        None,
        Some(json!({"sourceAppId": app, "password": password})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.set_cookie.unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
    cookie
        .trim_start_matches("sid=")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn users_api_end_to_end(s: &TestServer) {
    let admin = login(s, "admin", USERS_ADMIN_PASSWORD).await;
    let created = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "my-app"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["role"], "user");
    let password = created.body["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 16);
    let dup = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "my-app"})),
    )
    .await;
    assert_eq!(
        (dup.status, dup.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("APP_EXISTS"))
    );
    let schema = send(s, Method::GET, "/v1/schema", None, Some("my-app"), None).await;
    assert_eq!(schema.body["version"], 1);
    let put = send(s, Method::PUT, "/auth/apps/my-app/schema", Some(&admin), None, Some(json!({"rejectUnknown": true, "fields": [
        {"key": "fullName", "label": "Full name", "kind": "text", "required": true, "maxLength": 200},
        {"key": "age", "label": "Age", "kind": "number", "min": 0, "max": 120},
        {"key": "consent", "label": "Consent", "kind": "checkbox", "required": true}
    ]}))).await;
    assert_eq!(
        (put.status, put.body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{}",
        put.body
    );
    let bad = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some("my-app"),
        Some(json!({"email": "A@Example.org", "data": {"age": 130, "x": 1}})),
    )
    .await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("SCHEMA_VALIDATION"))
    );
    let fields: Vec<&str> = bad.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for f in ["fullName", "age", "consent", "x"] {
        assert!(fields.contains(&f), "{f} missing in {}", bad.body);
    }
    let ok = send(s, Method::POST, "/v1/users", None, Some("my-app"), Some(json!({"email": " A@Example.org ", "data": {"fullName": "Ann", "age": "30", "consent": true}}))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let again = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some("my-app"),
        Some(json!({"email": "a@example.org", "data": {"fullName": "Ann B", "consent": true}})),
    )
    .await;
    assert_eq!(
        again.body["id"], ok.body["id"],
        "upsert by normalized email"
    );
    let missing = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        None,
        Some(json!({"email": "b@example.org", "data": {}})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    // A NUL character (which PostgreSQL cannot store) is a 400 on every backend, not a 500.
    let nul = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some("my-app"),
        Some(json!({"email": "c@example.org", "data": {"fullName": "A\u{0}n", "consent": true}})),
    )
    .await;
    assert_eq!(
        (nul.status, nul.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("SCHEMA_VALIDATION")),
        "{}",
        nul.body
    );
    // The app sees its users; the admin sees all with sourceAppId.
    let app = login(s, "my-app", &password).await;
    let mine = send(s, Method::GET, "/auth/users", Some(&app), None, None).await;
    assert_eq!(mine.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["users"][0]["data"]["fullName"], "Ann B");
    assert_eq!(mine.body["users"][0]["schemaVersion"], 2);
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=my-app&limit=500",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        (
            all.body["limit"].as_u64(),
            all.body["users"][0]["sourceAppId"].as_str()
        ),
        (Some(200), Some("my-app"))
    );
    // Larger → 200, also beyond a 64-bit integer; a skip past the end is an empty page;
    // what is not a count is refused.
    let huge = send(
        s,
        Method::GET,
        "/auth/admin/users?limit=99999999999999999999999&skip=99999999999999999999999",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(huge.status, StatusCode::OK, "{}", huge.body);
    assert_eq!(huge.body["limit"], 200);
    assert_eq!(huge.body["users"], json!([]));
    for bad in ["limit=-1", "limit=abc", "skip=1.5", "limit="] {
        let r = send(
            s,
            Method::GET,
            &format!("/auth/admin/users?{bad}"),
            Some(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_QUERY")),
            "{bad}"
        );
    }
    let del = send(
        s,
        Method::DELETE,
        "/auth/apps/my-app",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(del.body, json!({"ok": true, "deletedUsers": 1}));
    let del = send(
        s,
        Method::DELETE,
        "/auth/apps/admin",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::BAD_REQUEST);
}

async fn users_api_sessions_and_roles(s: &TestServer) {
    let no = send(s, Method::GET, "/auth/session", None, None, None).await;
    assert_eq!(
        (no.status, no.body["message"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Not authenticated"))
    );
    let bad = send(
        s,
        Method::POST,
        "/auth/login",
        None,
        None,
        Some(json!({"sourceAppId": "admin", "password": "wrong"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let admin = login(s, "admin", USERS_ADMIN_PASSWORD).await;
    let created = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "app.two"})),
    )
    .await;
    let app = login(s, "app.two", created.body["password"].as_str().unwrap()).await;
    let session = send(s, Method::GET, "/auth/session", Some(&app), None, None).await;
    assert_eq!(
        session.body,
        json!({"sourceAppId": "app.two", "role": "user"})
    );
    for (method, path) in [
        (Method::GET, "/auth/apps"),
        (Method::GET, "/auth/admin/users"),
        (Method::GET, "/auth/apps/app.two/schema"),
        (Method::DELETE, "/auth/apps/app.two"),
    ] {
        let r = send(s, method, path, Some(&app), None, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let out = send(s, Method::POST, "/auth/logout", Some(&app), None, None).await;
    assert_eq!(out.body, json!({"ok": true}));
    let after = send(s, Method::GET, "/auth/session", Some(&app), None, None).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "logout invalidates the session server-side"
    );
}

async fn signups_are_rate_limited_per_ip(s: &TestServer) {
    let body = || Some(json!({"email": "flood@example.org", "data": {}}));
    let mut limited = None;
    for _ in 0..260 {
        let r = send(s, Method::POST, "/v1/users", None, Some("admin"), body()).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the 201st sign-up within a minute is refused");
    assert_eq!(r.body["code"], "RATE_LIMITED");
}
