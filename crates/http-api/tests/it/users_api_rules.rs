//! The Users API's rules end to end (seed contract + `reference/users-api.md`): each field
//! kind through `PUT …/schema` then `POST /v1/users`, `rejectUnknown`, schema update rules,
//! email normalization under concurrency, app isolation, session expiry, error statuses.

use crate::harness::{TestServer, USERS_ADMIN_PASSWORD};
use crate::users_api::{login, send};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

crate::on_both_backends!(
    field_kinds_over_http,
    reject_unknown_on_and_off,
    schema_update_rules,
    concurrent_upserts_of_one_email_make_one_record,
    apps_are_isolated_and_sessions_expire,
    documented_error_statuses,
);

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Logs in as the admin app, creates `app` and returns (admin cookie, app password).
async fn admin_with_app(s: &TestServer, app: &str) -> (String, String) {
    let admin = login(s, "admin", USERS_ADMIN_PASSWORD).await;
    let created = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": app})),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let password = created.body["password"].as_str().unwrap().to_owned();
    (admin, password)
}

async fn put_schema(s: &TestServer, admin: &str, app: &str, schema: Value) -> (StatusCode, Value) {
    let r = send(
        s,
        Method::PUT,
        &format!("/auth/apps/{app}/schema"),
        Some(admin),
        None,
        Some(schema),
    )
    .await;
    (r.status, r.body)
}

async fn sign_up(s: &TestServer, app: &str, email: &str, data: Value) -> (StatusCode, Value) {
    let r = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some(app),
        Some(json!({"email": email, "data": data})),
    )
    .await;
    (r.status, r.body)
}

/// The fields a 400 `SCHEMA_VALIDATION` names.
fn failing(body: &Value) -> Vec<String> {
    assert_eq!(body["code"], "SCHEMA_VALIDATION", "{body}");
    let mut fields: Vec<String> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    fields
}

async fn field_kinds_over_http(s: &TestServer) {
    let (admin, _) = admin_with_app(s, "kinds").await;
    let (status, body) = put_schema(s, &admin, "kinds", json!({"rejectUnknown": true, "fields": [
        {"key": "name", "label": "Name", "kind": "text", "required": true, "minLength": 2, "maxLength": 4},
        {"key": "code", "label": "Code", "kind": "text", "regex": "[A-Z]{3}"},
        {"key": "consent", "label": "Consent", "kind": "checkbox", "required": true},
        {"key": "news", "label": "News", "kind": "checkbox"},
        {"key": "color", "label": "Color", "kind": "select", "enum": ["red", "green"]},
        {"key": "age", "label": "Age", "kind": "number", "min": 0, "max": 120},
        {"key": "born", "label": "Born", "kind": "date"}
    ]})).await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let valid = || json!({"name": "Åsa", "consent": true});
    let with = |key: &str, value: Value| {
        let mut d = valid();
        d[key] = value;
        d
    };
    let mut n = 0;
    let mut accepts = |data: Value| {
        n += 1;
        let email = format!("u{n}@example.org");
        async move { sign_up(s, "kinds", &email, data).await }
    };
    // Accepted values, one field at a time.
    for data in [
        valid(),
        with("name", json!("😀😀😀😀")), // 4 scalar values, 16 bytes
        with("code", json!("ABC")),
        with("news", json!(false)),
        with("color", json!("green")),
        with("age", json!(0)),
        with("age", json!(120)),
        with("age", json!("30")),
        with("age", json!(" 7.5 ")),
        with("born", json!("2024-02-29")),
        with("born", json!("2024-02-29T10:00:00Z")),
        with("code", Value::Null),
    ] {
        let (status, body) = accepts(data.clone()).await;
        assert_eq!(status, StatusCode::OK, "{data} → {body}");
        assert_eq!(body["id"].as_str().unwrap().len(), 24, "{body}");
    }
    // Rejected values: exactly the wrong field is named.
    for (key, value) in [
        ("name", json!("")),
        ("name", json!("A")),
        ("name", json!("😀😀😀😀😀")),
        ("name", json!(42)),
        ("code", json!("ABCD")),
        ("code", json!("xABC")),
        ("code", json!("abc")),
        ("consent", json!(false)),
        ("consent", json!("true")),
        ("consent", json!(1)),
        ("news", json!("false")),
        ("color", json!("blue")),
        ("color", json!("Red")),
        ("color", json!(["red"])),
        ("age", json!(-1)),
        ("age", json!(121)),
        ("age", json!("1e3")),
        ("age", json!("")),
        ("age", json!("abc")),
        ("age", json!(true)),
        ("born", json!("2023-02-30")),
        ("born", json!("2024-13-01")),
        ("born", json!("15/01/2024")),
        ("born", json!(20240101)),
    ] {
        let (status, body) = accepts(with(key, value.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}={value} → {body}");
        assert_eq!(failing(&body), [key], "{key}={value}");
    }
    // Required fields absent or null.
    let (status, body) = accepts(json!({"name": null})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(failing(&body), ["consent", "name"]);
    // Every failing field at once; `data` that is not an object.
    let (_, body) = accepts(
        json!({"name": 1, "consent": false, "age": 500, "born": "x", "color": "x", "zzz": 1}),
    )
    .await;
    assert_eq!(
        failing(&body),
        ["age", "born", "color", "consent", "name", "zzz"]
    );
    let (status, body) = accepts(json!(["not", "an", "object"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(failing(&body), ["data"]);
    // A numeric string is stored as a number.
    let (status, _) = sign_up(s, "kinds", "num@example.org", with("age", json!("42"))).await;
    assert_eq!(status, StatusCode::OK);
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=kinds&limit=200",
        Some(&admin),
        None,
        None,
    )
    .await;
    let stored = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "num@example.org")
        .unwrap();
    assert_eq!(stored["data"]["age"], json!(42));
    assert_eq!(stored["schemaVersion"], 2);
}

async fn reject_unknown_on_and_off(s: &TestServer) {
    let (admin, _) = admin_with_app(s, "strict").await;
    let fields = json!([{"key": "fullName", "label": "Full name", "kind": "text"}]);
    let extra = json!({"fullName": "Ann", "nickname": "A"});
    let (status, body) = sign_up(s, "strict", "a@example.org", extra.clone()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the default schema rejects unknown keys"
    );
    assert_eq!(failing(&body), ["nickname"]);
    let (status, _) = put_schema(
        s,
        &admin,
        "strict",
        json!({"rejectUnknown": false, "fields": fields}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sign_up(s, "strict", "a@example.org", extra.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=strict",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        all.body["users"][0]["data"], extra,
        "unknown keys are kept as sent"
    );
    let schema = send(s, Method::GET, "/v1/schema", None, Some("strict"), None).await;
    assert_eq!(
        (
            schema.body["version"].as_i64(),
            schema.body["rejectUnknown"].as_bool()
        ),
        (Some(2), Some(false))
    );
}

async fn schema_update_rules(s: &TestServer) {
    let (admin, _) = admin_with_app(s, "rules").await;
    let field = |key: &str| json!({"key": key, "label": key, "kind": "text"});
    let too_many: Vec<Value> = (0..101).map(|i| field(&format!("f{i}"))).collect();
    let hundred: Vec<Value> = (0..100).map(|i| field(&format!("f{i}"))).collect();
    for (why, schema) in [
        ("bad key", json!({"fields": [field("1abc")]})),
        ("key with a dash", json!({"fields": [field("a-b")]})),
        (
            "key of 52 characters",
            json!({"fields": [field(&format!("a{}", "b".repeat(51)))]}),
        ),
        ("101 fields", json!({"fields": too_many})),
        (
            "duplicate keys",
            json!({"fields": [field("a"), field("a")]}),
        ),
        (
            "bad regex",
            json!({"fields": [{"key": "a", "label": "a", "kind": "text", "regex": "(["}]}),
        ),
        (
            "min > max",
            json!({"fields": [{"key": "a", "label": "a", "kind": "number", "min": 5, "max": 1}]}),
        ),
        (
            "minLength > maxLength",
            json!({"fields": [{"key": "a", "label": "a", "kind": "text", "minLength": 5, "maxLength": 1}]}),
        ),
        (
            "unknown kind",
            json!({"fields": [{"key": "a", "label": "a", "kind": "email"}]}),
        ),
        (
            "select without enum",
            json!({"fields": [{"key": "a", "label": "a", "kind": "select", "enum": []}]}),
        ),
        (
            "label of 201 characters",
            json!({"fields": [{"key": "a", "label": "x".repeat(201), "kind": "text"}]}),
        ),
        ("fields not an array", json!({"fields": {"a": 1}})),
    ] {
        let (status, body) = put_schema(s, &admin, "rules", schema).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_SCHEMA")),
            "{why}: {body}"
        );
        assert!(
            body["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{why}: {body}"
        );
    }
    // Nothing above was saved; 100 fields are fine, and versions count up.
    let schema = send(s, Method::GET, "/v1/schema", None, Some("rules"), None).await;
    assert_eq!(schema.body["version"], 1);
    let (status, body) = put_schema(s, &admin, "rules", json!({"fields": hundred})).await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let (_, body) = put_schema(s, &admin, "rules", json!({"fields": [field("only")]})).await;
    assert_eq!(body["version"], 3);
    let current = send(
        s,
        Method::GET,
        "/auth/apps/rules/schema",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(current.body["fields"].as_array().unwrap().len(), 1);
}

async fn concurrent_upserts_of_one_email_make_one_record(s: &TestServer) {
    let (admin, _) = admin_with_app(s, "race").await;
    let emails = [" Same@Example.ORG", "same@example.org", "SAME@EXAMPLE.ORG "];
    let attempts = (0..24).map(|i| {
        let email = emails[i % emails.len()];
        async move { sign_up(s, "race", email, json!({"fullName": format!("v{i}")})).await }
    });
    let results = futures::future::join_all(attempts).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one record for one normalized email");
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=race",
        Some(&admin),
        None,
        None,
    )
    .await;
    let users = all.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "same@example.org");
}

async fn apps_are_isolated_and_sessions_expire(s: &TestServer) {
    let (admin, one_pw) = admin_with_app(s, "one").await;
    let two = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "two"})),
    )
    .await;
    let two_pw = two.body["password"].as_str().unwrap().to_owned();
    assert_eq!(
        sign_up(s, "one", "x@example.org", json!({"fullName": "X"}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        sign_up(s, "two", "y@example.org", json!({"fullName": "Y"}))
            .await
            .0,
        StatusCode::OK
    );
    // The same email in two apps is two records.
    assert_eq!(
        sign_up(s, "two", "x@example.org", json!({"fullName": "X2"}))
            .await
            .0,
        StatusCode::OK
    );
    let one = login(s, "one", &one_pw).await;
    let mine = send(s, Method::GET, "/auth/users", Some(&one), None, None).await;
    let emails: Vec<&str> = mine.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["x@example.org"], "an app sees only its own users");
    assert_eq!(mine.body["users"][0]["data"]["fullName"], "X");
    // A user app cannot read another app's schema through the admin route either.
    let r = send(
        s,
        Method::GET,
        "/auth/apps/two/schema",
        Some(&one),
        None,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_REQUIRED"))
    );
    let r = send(
        s,
        Method::PUT,
        "/auth/apps/one/schema",
        Some(&one),
        None,
        Some(json!({"fields": []})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_REQUIRED"))
    );
    let r = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&one),
        None,
        Some(json!({"sourceAppId": "three"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_REQUIRED"))
    );

    // Sessions live 7 days.
    let two = login(s, "two", &two_pw).await;
    s.shift_clock(6 * DAY_MS);
    let r = send(s, Method::GET, "/auth/session", Some(&two), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "still valid after 6 days");
    s.shift_clock(DAY_MS + 60_000);
    for path in ["/auth/session", "/auth/users"] {
        let r = send(s, Method::GET, path, Some(&two), None, None).await;
        assert_eq!(
            (
                r.status,
                r.body["code"].as_str(),
                r.body["message"].as_str()
            ),
            (
                StatusCode::UNAUTHORIZED,
                Some("NOT_AUTHENTICATED"),
                Some("Not authenticated")
            ),
            "{path} after 7 days"
        );
    }
    let r = send(s, Method::GET, "/auth/apps", Some(&admin), None, None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the admin's session expired too"
    );
    s.shift_clock(-(7 * DAY_MS + 60_000));
}

async fn documented_error_statuses(s: &TestServer) {
    // POST /v1/users: 400 for a bad body and for a missing or unknown x-app-id.
    let (admin, _) = admin_with_app(s, "errs").await;
    for (app, body, code) in [
        (
            None,
            json!({"email": "a@example.org", "data": {}}),
            "INVALID_APP_ID",
        ),
        (
            Some("bad id!"),
            json!({"email": "a@example.org", "data": {}}),
            "INVALID_APP_ID",
        ),
        (
            Some("errs"),
            json!({"email": "not-an-email", "data": {}}),
            "INVALID_EMAIL",
        ),
        (
            Some("errs"),
            json!({"email": "a@localhost", "data": {}}),
            "INVALID_EMAIL",
        ),
        (Some("errs"), json!({"data": {}}), "INVALID_EMAIL"),
    ] {
        let r = send(s, Method::POST, "/v1/users", None, app, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{app:?} {body} → {}",
            r.body
        );
    }
    let r = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some("no-such-app"),
        Some(json!({"email": "a@example.org", "data": {}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = send(s, Method::GET, "/v1/schema", None, None, None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_APP_ID"))
    );
    // POST /auth/login: 400 for a missing field, 401 for wrong credentials.
    for body in [
        json!({}),
        json!({"sourceAppId": "errs"}),
        json!({"password": "x"}),
        json!({"sourceAppId": 5, "password": "x"}),
    ] {
        let r = send(
            s,
            Method::POST,
            "/auth/login",
            None,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_BODY")),
            "{body}"
        );
    }
    let r = send(
        s,
        Method::POST,
        "/auth/login",
        None,
        None,
        Some(json!({"sourceAppId": "nobody", "password": "x"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    // Admin routes: app ids are checked, unknown apps are 404.
    for (method, path, body) in [
        (
            Method::POST,
            "/auth/apps",
            Some(json!({"sourceAppId": "no spaces"})),
        ),
        (
            Method::POST,
            "/auth/apps",
            Some(json!({"sourceAppId": "x".repeat(81)})),
        ),
        (Method::POST, "/auth/apps", Some(json!({}))),
    ] {
        let r = send(s, method, path, Some(&admin), None, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    for (method, path) in [
        (Method::GET, "/auth/apps/ghost/schema"),
        (Method::PUT, "/auth/apps/ghost/schema"),
        (Method::DELETE, "/auth/apps/ghost"),
    ] {
        let body = (method == Method::PUT).then(|| json!({"fields": []}));
        let r = send(s, method.clone(), path, Some(&admin), None, body).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("APP_NOT_FOUND")),
            "{method} {path}: {}",
            r.body
        );
    }
    let r = send(
        s,
        Method::DELETE,
        "/auth/apps/admin",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CANNOT_DELETE_ADMIN_APP"))
    );
    // Paging of the admin list: limit above 200 is 200, skip skips.
    for i in 0..3 {
        sign_up(s, "errs", &format!("p{i}@example.org"), json!({})).await;
    }
    let page = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=errs&limit=2&skip=1",
        Some(&admin),
        None,
        None,
    )
    .await;
    let emails: Vec<&str> = page.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["p1@example.org", "p0@example.org"],
        "newest first, skip 1, limit 2"
    );
    // No session at all: 401 on every session route.
    for (method, path) in [
        (Method::GET, "/auth/users"),
        (Method::GET, "/auth/apps"),
        (Method::GET, "/auth/admin/users"),
    ] {
        let r = send(s, method, path, None, None, None).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("NOT_AUTHENTICATED")),
            "{path}"
        );
    }
}
