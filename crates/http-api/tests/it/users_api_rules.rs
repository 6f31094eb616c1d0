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
    upserts_replace_data_and_record_the_schema_version,
    logout_and_app_deletion_revoke_sessions,
    listings_page_and_stay_scoped,
    public_request_errors,
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
        s.shift_clock(1000); // distinct createdAt: ties are ordered by (random) id
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

/// An ISO-8601 UTC timestamp with milliseconds, e.g. `2024-01-15T10:30:00.000Z`.
fn assert_iso_millis(v: &Value) {
    let t = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let b = t.as_bytes();
    assert!(
        b.len() == 24 && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z',
        "not ISO-8601 with milliseconds: {t}"
    );
}

fn emails(body: &Value) -> Vec<String> {
    body["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users: {body}"))
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn upserts_replace_data_and_record_the_schema_version(s: &TestServer) {
    let (admin, password) = admin_with_app(s, "upd").await;
    let (status, first) = sign_up(s, "upd", " User@Example.COM ", json!({"fullName": "A"})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first.as_object().unwrap().len(),
        3,
        "{{id, createdAt, updatedAt}}: {first}"
    );
    let id = first["id"].as_str().unwrap();
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert_iso_millis(&first["createdAt"]);
    assert_eq!(first["createdAt"], first["updatedAt"]);
    // A minute later, the normalized email updates the same record: data replaced, not merged.
    s.shift_clock(60_000);
    let (status, second) = sign_up(s, "upd", "user@example.com", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["id"], first["id"], "same record");
    assert_eq!(second["createdAt"], first["createdAt"]);
    assert_iso_millis(&second["updatedAt"]);
    assert!(
        second["updatedAt"].as_str() > first["updatedAt"].as_str(),
        "{first} → {second}"
    );
    let app = login(s, "upd", &password).await;
    let mine = send(s, Method::GET, "/auth/users", Some(&app), None, None).await;
    let users = mine.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "updated, not duplicated: {}", mine.body);
    assert_eq!(users[0]["email"], "user@example.com");
    assert_eq!(users[0]["data"], json!({}), "data is replaced");
    assert_eq!(users[0]["schemaVersion"], 1);
    assert_eq!(users[0]["updatedAt"], second["updatedAt"]);
    assert!(users[0].get("sourceAppId").is_none(), "{}", mine.body);

    // A new schema: existing records are not revalidated and keep their version; new
    // submissions must conform.
    let (status, body) = put_schema(
        s,
        &admin,
        "upd",
        json!({"rejectUnknown": true, "fields": [
            {"key": "fullName", "label": "Full name", "kind": "text", "required": true},
            {"key": "age", "label": "Age", "kind": "number", "required": true, "min": 18}
        ]}),
    )
    .await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    assert_eq!(body["fields"][1]["key"], "age");
    for (path, cookie, app_id) in [
        ("/v1/schema", None, Some("upd")),
        ("/auth/apps/upd/schema", Some(admin.as_str()), None),
    ] {
        let r = send(s, Method::GET, path, cookie, app_id, None).await;
        assert_eq!(r.body, body, "{path} serves the new version");
    }
    let mine = send(s, Method::GET, "/auth/users", Some(&app), None, None).await;
    assert_eq!(
        (
            mine.body["users"][0]["schemaVersion"].as_i64(),
            &mine.body["users"][0]["data"]
        ),
        (Some(1), &json!({})),
        "the old record is untouched"
    );
    let (status, body) = sign_up(s, "upd", "new@example.com", json!({"fullName": "N"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(failing(&body), ["age"]);
    let (status, body) = sign_up(
        s,
        "upd",
        "new@example.com",
        json!({"fullName": "N", "age": 17}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"],
        json!([{"field": "age", "error": "must be ≥ 18"}])
    );
    let (status, _) = sign_up(
        s,
        "upd",
        "new@example.com",
        json!({"fullName": "N", "age": 18}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sign_up(
        s,
        "upd",
        "USER@example.com",
        json!({"fullName": "U", "age": "40"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users?sourceAppId=upd",
        Some(&admin),
        None,
        None,
    )
    .await;
    let versions: Vec<(&str, i64)> = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap(),
                u["schemaVersion"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("new@example.com", 2), ("user@example.com", 2)],
        "newest first; the update recorded the version it was validated against"
    );
}

async fn logout_and_app_deletion_revoke_sessions(s: &TestServer) {
    let (admin, password) = admin_with_app(s, "gone").await;
    let login_body = send(
        s,
        Method::POST,
        "/auth/login",
        None,
        None,
        Some(json!({"sourceAppId": "gone", "password": password})),
    )
    .await;
    assert_eq!(
        login_body.body,
        json!({"ok": true, "sourceAppId": "gone", "role": "user"})
    );
    let a = login(s, "gone", &password).await;
    let b = login(s, "gone", &password).await;
    assert_ne!(a, b, "each login is its own session");
    let out = send(s, Method::POST, "/auth/logout", Some(&a), None, None).await;
    assert_eq!(
        (out.status, &out.body),
        (StatusCode::OK, &json!({"ok": true}))
    );
    let cleared = out.set_cookie.unwrap();
    assert!(
        cleared.starts_with("sid=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie, replayed, is refused everywhere; the other session lives on.
    for path in ["/auth/session", "/auth/users"] {
        let r = send(s, Method::GET, path, Some(&a), None, None).await;
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
            "{path} with a logged-out cookie"
        );
        let r = send(s, Method::GET, path, Some(&b), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    // Logout is idempotent, with or without a cookie.
    for cookie in [Some(a.as_str()), None, Some("not-a-session")] {
        let r = send(s, Method::POST, "/auth/logout", cookie, None, None).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({"ok": true})));
    }
    let r = send(
        s,
        Method::GET,
        "/auth/session",
        Some("0".repeat(64).as_str()),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a forged sid");

    // Deleting the app deletes its users and its sessions, and reports the count.
    let (status, _) = put_schema(
        s,
        &admin,
        "gone",
        json!({"fields": [
            {"key": "old", "label": "Old", "kind": "text", "required": true}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..3 {
        let (status, body) =
            sign_up(s, "gone", &format!("g{i}@example.org"), json!({"old": "x"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let _ = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "kept"})),
    )
    .await;
    sign_up(s, "kept", "k@example.org", json!({})).await;
    let del = send(
        s,
        Method::DELETE,
        "/auth/apps/gone",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        (del.status, &del.body),
        (StatusCode::OK, &json!({"ok": true, "deletedUsers": 3}))
    );
    let r = send(s, Method::GET, "/auth/session", Some(&b), None, None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("NOT_AUTHENTICATED")),
        "the deleted app's sessions are gone"
    );
    let r = send(
        s,
        Method::POST,
        "/auth/login",
        None,
        None,
        Some(json!({"sourceAppId": "gone", "password": password})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let (status, body) = sign_up(s, "gone", "g0@example.org", json!({"old": "x"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_APP_ID"))
    );
    let all = send(
        s,
        Method::GET,
        "/auth/admin/users",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        emails(&all.body),
        ["k@example.org"],
        "other apps keep their users"
    );
    let r = send(
        s,
        Method::DELETE,
        "/auth/apps/gone",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("APP_NOT_FOUND"))
    );
    let r = send(s, Method::GET, "/auth/session", Some(&admin), None, None).await;
    assert_eq!(r.body, json!({"sourceAppId": "admin", "role": "admin"}));

    // The id can be reused: a fresh app with the default schema, whose own version 2 is
    // what new sign-ups are checked against (not the deleted app's version 2).
    let r = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "gone"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let schema = send(s, Method::GET, "/v1/schema", None, Some("gone"), None).await;
    assert_eq!(
        schema.body,
        json!({"version": 1, "rejectUnknown": true, "fields": [
            {"key": "fullName", "label": "Full name", "kind": "text", "required": false, "maxLength": 200}
        ]})
    );
    let (status, body) = put_schema(
        s,
        &admin,
        "gone",
        json!({"fields": [
            {"key": "new", "label": "New", "kind": "text", "required": true}
        ]}),
    )
    .await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::OK, Some(2))
    );
    let (status, body) = sign_up(s, "gone", "g0@example.org", json!({"new": "y"})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "validated against the new app's schema: {body}"
    );
    let (status, body) = sign_up(s, "gone", "g1@example.org", json!({"old": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(failing(&body), ["new", "old"]);
}

async fn listings_page_and_stay_scoped(s: &TestServer) {
    let (admin, one_pw) = admin_with_app(s, "pg1").await;
    let two = send(
        s,
        Method::POST,
        "/auth/apps",
        Some(&admin),
        None,
        Some(json!({"sourceAppId": "pg2"})),
    )
    .await;
    let mut keys: Vec<&String> = two.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["password", "role", "sourceAppId"]);
    assert!(two.body["password"]
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric()));
    // GET /auth/apps: every app with exactly {sourceAppId, role, createdAt}, no secrets.
    let apps = send(s, Method::GET, "/auth/apps", Some(&admin), None, None).await;
    assert_eq!(apps.status, StatusCode::OK);
    let listed: Vec<(&str, &str)> = apps.body["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a.as_object().unwrap().len(), 3, "{a}");
            assert_iso_millis(&a["createdAt"]);
            (
                a["sourceAppId"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
            )
        })
        .collect();
    for app in [("admin", "admin"), ("pg1", "user"), ("pg2", "user")] {
        assert!(listed.contains(&app), "{app:?} in {}", apps.body);
    }
    // Five users in pg1 and two in pg2, a second apart, interleaved.
    for i in 0..7 {
        let app = if i % 3 == 2 { "pg2" } else { "pg1" };
        let (status, _) = sign_up(s, app, &format!("u{i}@example.org"), json!({})).await;
        assert_eq!(status, StatusCode::OK);
        s.shift_clock(1000);
    }
    let admin_page = |query: &'static str| {
        let admin = admin.clone();
        async move {
            send(
                s,
                Method::GET,
                &format!("/auth/admin/users{query}"),
                Some(&admin),
                None,
                None,
            )
            .await
        }
    };
    let all = admin_page("").await;
    assert_eq!(
        (all.body["limit"].as_u64(), all.body["skip"].as_u64()),
        (Some(50), Some(0)),
        "defaults"
    );
    assert_eq!(
        emails(&all.body),
        ["u6", "u5", "u4", "u3", "u2", "u1", "u0"].map(|u| format!("{u}@example.org")),
        "every app, newest first"
    );
    let by_app: Vec<&str> = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["sourceAppId"].as_str().unwrap())
        .collect();
    assert_eq!(by_app, ["pg1", "pg2", "pg1", "pg1", "pg2", "pg1", "pg1"]);
    for (query, limit, skip, expected) in [
        ("?sourceAppId=pg1&limit=2", 2, 0, vec!["u6", "u4"]),
        ("?sourceAppId=pg1&limit=2&skip=2", 2, 2, vec!["u3", "u1"]),
        ("?sourceAppId=pg1&limit=2&skip=4", 2, 4, vec!["u0"]),
        ("?sourceAppId=pg1&skip=50", 50, 50, vec![]),
        ("?sourceAppId=pg2&limit=1000", 200, 0, vec!["u5", "u2"]),
        ("?sourceAppId=pg2&limit=0", 1, 0, vec!["u5"]),
        ("?sourceAppId=nobody", 50, 0, vec![]),
        ("?sourceAppId=&limit=1", 1, 0, vec!["u6"]),
    ] {
        let r = admin_page(query).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        assert_eq!(
            (r.body["limit"].as_u64(), r.body["skip"].as_u64()),
            (Some(limit), Some(skip)),
            "{query}"
        );
        let want: Vec<String> = expected
            .iter()
            .map(|u| format!("{u}@example.org"))
            .collect();
        assert_eq!(emails(&r.body), want, "{query}");
    }
    for query in ["?limit=abc", "?skip=-1", "?limit=-5"] {
        let r = admin_page(query).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_QUERY")),
            "{query}"
        );
    }
    // GET /auth/users: the session's app only, whatever the query says; newest first, paged.
    let one = login(s, "pg1", &one_pw).await;
    for (query, expected) in [
        ("", vec!["u6", "u4", "u3", "u1", "u0"]),
        ("?sourceAppId=pg2", vec!["u6", "u4", "u3", "u1", "u0"]),
        ("?limit=2&skip=1", vec!["u4", "u3"]),
    ] {
        let r = send(
            s,
            Method::GET,
            &format!("/auth/users{query}"),
            Some(&one),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{query}");
        let want: Vec<String> = expected
            .iter()
            .map(|u| format!("{u}@example.org"))
            .collect();
        assert_eq!(emails(&r.body), want, "{query}");
    }
    // Every admin route refuses a user app with 403 ADMIN_REQUIRED.
    for (method, path) in [
        (Method::GET, "/auth/apps"),
        (Method::GET, "/auth/admin/users"),
        (Method::GET, "/auth/admin/users?sourceAppId=pg2"),
        (Method::GET, "/auth/apps/pg2/schema"),
        (Method::DELETE, "/auth/apps/pg2"),
        (Method::DELETE, "/auth/apps/pg1"),
    ] {
        let r = send(s, method.clone(), path, Some(&one), None, None).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("ADMIN_REQUIRED")),
            "{method} {path}"
        );
    }
    let still = admin_page("?sourceAppId=pg2").await;
    assert_eq!(emails(&still.body).len(), 2, "nothing was deleted");
}

async fn public_request_errors(s: &TestServer) {
    let (_admin, _) = admin_with_app(s, "pub").await;
    let ok = json!({"email": "a@example.org", "data": {}});
    // x-app-id: missing, malformed (bad characters, 81 characters) or unknown → 400.
    let long = "x".repeat(81);
    for app in [
        None,
        Some(""),
        Some("bad id!"),
        Some(long.as_str()),
        Some("no-such-app"),
    ] {
        let r = send(s, Method::POST, "/v1/users", None, app, Some(ok.clone())).await;
        assert_eq!(
            (
                r.status,
                r.body["code"].as_str(),
                r.body["message"].as_str()
            ),
            (
                StatusCode::BAD_REQUEST,
                Some("INVALID_APP_ID"),
                Some("Missing or invalid x-app-id header")
            ),
            "POST /v1/users x-app-id {app:?}"
        );
        let r = send(s, Method::GET, "/v1/schema", None, app, None).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_APP_ID")),
            "GET /v1/schema x-app-id {app:?}"
        );
    }
    // The body: not JSON, not an object, bad emails.
    let r = s
        .client
        .post(format!("{}/v1/users", s.base))
        .header("x-app-id", "pub")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_JSON");
    let r = s
        .client
        .post(format!("{}/v1/users", s.base))
        .header("x-app-id", "pub")
        .header("content-type", "text/plain")
        .body(ok.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "Content-Type: application/json is required"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_CONTENT_TYPE");
    // A sign-up body over 64 KiB is refused before anything is parsed or stored.
    let big = json!({"email": "a@example.org", "data": {"fullName": "x".repeat(64 * 1024)}});
    let r = send(s, Method::POST, "/v1/users", None, Some("pub"), Some(big)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE"))
    );
    let r = send(s, Method::GET, "/v1/users", None, Some("pub"), None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let long_email = format!("{}@example.org", "a".repeat(243));
    for (body, code) in [
        (json!(["a@example.org"]), "INVALID_BODY"),
        (json!("a@example.org"), "INVALID_BODY"),
        (json!({"email": 42, "data": {}}), "INVALID_EMAIL"),
        (json!({"email": "", "data": {}}), "INVALID_EMAIL"),
        (
            json!({"email": "@example.org", "data": {}}),
            "INVALID_EMAIL",
        ),
        (
            json!({"email": "a@b@example.org", "data": {}}),
            "INVALID_EMAIL",
        ),
        (
            json!({"email": "a b@example.org", "data": {}}),
            "INVALID_EMAIL",
        ),
        (json!({"email": long_email, "data": {}}), "INVALID_EMAIL"),
        (
            json!({"email": "a@example.org", "data": "x"}),
            "SCHEMA_VALIDATION",
        ),
    ] {
        let r = send(
            s,
            Method::POST,
            "/v1/users",
            None,
            Some("pub"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body} → {}",
            r.body
        );
        assert_eq!(r.body["error"], r.body["message"], "{}", r.body);
    }
    // 254 characters is the longest email; `data` may be omitted (checked as {}).
    let longest = format!("{}@example.org", "a".repeat(242));
    assert_eq!(longest.len(), 254);
    let r = send(
        s,
        Method::POST,
        "/v1/users",
        None,
        Some("pub"),
        Some(json!({"email": longest})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Health.
    let r = send(s, Method::GET, "/health", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
}
