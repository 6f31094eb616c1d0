//! Push, pull, entities and duplicates over HTTP (issue scenarios of SPEC §3).

use crate::harness::{event, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

crate::on_both_backends!(
    equal_timestamps_are_never_skipped,
    late_event_reaches_clients_past_it,
    second_offline_edit_is_kept,
    re_push_duplicates_conflicts_and_quarantine,
    two_devices_converge,
    tenant_matrix_and_guid_reuse_across_tenants,
    entities_and_duplicates_routes,
    audit_logs_and_quarantine,
    poison_events_are_kept_and_block_nothing,
    nul_characters_in_lookups_are_refused_alike,
    big_events_make_shorter_pull_pages,
);

/// PostgreSQL cannot compare or store text holding NUL: lookups and writes carrying one
/// answered 500 there (and "not found" or stored on SQLite). Every backend answers 400 now.
async fn nul_characters_in_lookups_are_refused_alike(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    for path in [
        "/api/entities/%00?configId=prog",
        "/api/entities?configId=prog&q=a%00",
        "/api/entities?configId=prog&entityName=%00",
        "/api/events?configId=prog&entityGuid=%00",
        "/api/apps/prog%00",
        "/v1/users/x%00",
    ] {
        let r = s.get(path, &admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        r.expect_error(400, "INVALID_URL");
    }
    s.post(
        "/api/entities/search",
        &admin,
        json!({"configId": "prog", "criteria": [{"name": "a\u{0}"}]}),
    )
    .await
    .expect_error(400, "INVALID_CRITERIA");
    for limit in [json!(-1), json!(0), json!("50"), json!(1.5)] {
        s.post(
            "/api/entities/search",
            &admin,
            json!({"configId": "prog", "criteria": [{"name": "a"}], "limit": limit}),
        )
        .await
        .expect_error(400, "INVALID_LIMIT");
    }
    let found = s
        .post(
            "/api/entities/search",
            &admin,
            json!({"configId": "prog", "criteria": [{"name": "a"}], "limit": 9999}),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    s.post(
        "/api/potential-duplicates/resolve",
        &admin,
        json!({"configId": "prog", "newItem": "a\u{0}", "existingItem": "b"}),
    )
    .await
    .expect_error(400, "INVALID_BODY");
    let audit = json!({"guid": "g\u{0}", "timestamp": "2024-01-01T00:00:00Z", "action": "x"});
    s.post(
        "/api/sync/push/audit-logs",
        &admin,
        json!({"configId": "prog", "auditLogs": [audit]}),
    )
    .await
    .expect_error(400, "INVALID_BODY");
}

async fn audit_logs_and_quarantine(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let user = s.user_token(&admin, "u@example.org", &["prog"]).await;
    let entry = |g: &str| json!({"guid": g, "timestamp": "2024-01-01T00:00:00Z", "userId": "spoofed", "action": "create-individual", "eventGuid": "e", "entityGuid": "p", "changes": {"a": 1}, "signature": ""});
    let r = s
        .post(
            "/api/sync/push/audit-logs",
            &user,
            json!({"configId": "prog", "auditLogs": [entry("a1"), entry("a2")]}),
        )
        .await;
    assert_eq!(r.body, json!({"status": "success", "stored": 2}));
    let r = s
        .post(
            "/api/sync/push/audit-logs",
            &user,
            json!({"configId": "prog", "auditLogs": [entry("a1")]}),
        )
        .await;
    assert_eq!(r.body["stored"], 0, "idempotent by guid");
    let page = s
        .get("/api/sync/pull/audit-logs?configId=prog&limit=1", &user)
        .await
        .body;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_ne!(page[0]["userId"], "spoofed");
    let after = page[0]["id"].as_i64().unwrap();
    let next = s
        .get(
            &format!("/api/sync/pull/audit-logs?configId=prog&after={after}"),
            &user,
        )
        .await
        .body;
    assert_eq!(next[0]["guid"], "a2");
    s.get("/api/sync/pull/audit-logs?configId=other", &user)
        .await
        .expect_error(403, "TENANT_FORBIDDEN");
    s.get("/api/sync/rejected?configId=prog", &user)
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    s.push(
        &user,
        "prog",
        vec![json!({"guid": "bad", "entityGuid": "", "type": "x"})],
    )
    .await;
    let q = s.get("/api/sync/rejected?configId=prog", &admin).await.body;
    assert_eq!(q["events"][0]["code"], "INVALID_ENTITY_GUID");
    assert_eq!(q["events"][0]["event"]["guid"], "bad");
}

/// Events the database could not store or index as sent (a NUL character in `data`, a form
/// name too long for an index entry) are quarantined intact; the rest of the push, and every
/// later push of the tenant, goes through.
async fn poison_events_are_kept_and_block_nothing(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let ts = "2024-01-01T00:00:00Z";
    let long_name = event(
        "long",
        "p1",
        "create-individual",
        json!({"entityName": "x".repeat(4_000)}),
        ts,
    );
    let nul = event(
        "nul",
        "p2",
        "create-individual",
        json!({"n": "a\u{0}b"}),
        ts,
    );
    // An inline member becomes an entity with its own form name.
    let long_member = event(
        "long-member",
        "g1",
        "create-group",
        json!({"members": [{"guid": "m1", "entityName": "x".repeat(4_000)}]}),
        ts,
    );
    let good = event("good", "p3", "create-individual", json!({"n": "A"}), ts);
    let out = s
        .push(&admin, "prog", vec![long_name, nul, long_member, good])
        .await;
    assert_eq!(
        (out["applied"].as_u64(), out["failed"].as_u64()),
        (Some(1), Some(3))
    );
    let errors: Vec<(&str, &str)> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["guid"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            ("long", "INVALID_DATA"),
            ("nul", "INVALID_DATA"),
            ("long-member", "INVALID_DATA")
        ]
    );
    let later = event("later", "p4", "create-individual", json!({"n": "B"}), ts);
    assert_eq!(s.push(&admin, "prog", vec![later]).await["applied"], 1);
    for guid in ["p3", "p4"] {
        let r = s
            .get(&format!("/api/entities/{guid}?configId=prog"), &admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let q = s.get("/api/sync/rejected?configId=prog", &admin).await.body;
    let kept: Vec<&Value> = q["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .collect();
    assert_eq!(kept.len(), 3);
    assert_eq!(
        kept[0]["data"]["entityName"].as_str().map(str::len),
        Some(4_000)
    );
    assert_eq!(kept[1]["data"]["n"], "a\u{0}b");
    assert_eq!(kept[2]["guid"], "long-member");
}

fn guids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["guid"].as_str().unwrap().to_owned())
        .collect()
}

/// A pull page ends with the event that brings its data to 4 MiB: 24 events of ~250 KiB come
/// in two pages at the largest `limit`, and following `nextCursor` reaches each once.
async fn big_events_make_shorter_pull_pages(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    for push in 0..3 {
        let events: Vec<Value> = (0..8)
            .map(|i| {
                let n = push * 8 + i;
                let blob = format!("{n:02}").repeat(125 * 1024);
                event(
                    &format!("e{n:02}"),
                    &format!("p{n}"),
                    "create-individual",
                    json!({"name": format!("P{n}"), "blob": blob}),
                    "2024-03-01T10:00:00.000Z",
                )
            })
            .collect();
        let out = s.push(&admin, "prog", events).await;
        assert_eq!(out["applied"].as_u64(), Some(8), "{out}");
    }
    let r = s
        .get("/api/sync/pull?configId=prog&since=&limit=5000", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let first = r.body["events"].as_array().unwrap();
    // 16 events of 256,000 bytes and a little stay under 4 MiB; the 17th passes it and
    // ends the page.
    assert_eq!(first.len(), 17);
    assert_eq!(first[16]["guid"], "e16");
    assert_eq!(r.body["nextCursor"], r.body["cursor"]);
    let (all, _) = s.pull_all(&admin, "prog", "", 5_000).await;
    assert_eq!(all.len(), 24);
    assert_eq!(guids(&all).len(), 24);
}

async fn equal_timestamps_are_never_skipped(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let events: Vec<Value> = (0..25)
        .map(|i| {
            event(
                &format!("e{i:02}"),
                &format!("p{i}"),
                "create-individual",
                json!({"name": format!("P{i}"), "n": i}),
                "2024-03-01T10:00:00.000Z",
            )
        })
        .collect();
    let out = s.push(&admin, "prog", events).await;
    assert_eq!(
        (out["applied"].as_u64(), out["failed"].as_u64()),
        (Some(25), Some(0))
    );
    let (pulled, _) = s.pull_all(&admin, "prog", "", 10).await;
    assert_eq!(pulled.len(), 25);
    assert_eq!(guids(&pulled).len(), 25);
    assert!(pulled
        .iter()
        .all(|e| e["syncLevel"] == 1 && e.get("id").is_none()));
}

async fn late_event_reaches_clients_past_it(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    s.push(
        &admin,
        "prog",
        vec![
            event(
                "a",
                "p1",
                "create-individual",
                json!({"name": "A"}),
                "2024-01-01T00:00:00Z",
            ),
            event(
                "c",
                "p3",
                "create-individual",
                json!({"name": "C"}),
                "2024-03-01T00:00:00Z",
            ),
        ],
    )
    .await;
    let (seen, cursor) = s.pull_all(&admin, "prog", "", 500).await;
    let legacy_since = seen.last().unwrap()["timestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    // An offline device pushes an event with an OLD timestamp, after the client synced.
    s.push(
        &admin,
        "prog",
        vec![event(
            "b",
            "p2",
            "create-individual",
            json!({"name": "B"}),
            "2024-02-01T00:00:00Z",
        )],
    )
    .await;
    let (by_cursor, _) = s.pull_all(&admin, "prog", &cursor, 500).await;
    assert_eq!(guids(&by_cursor), BTreeSet::from(["b".to_string()]));
    let (by_iso, _) = s.pull_all(&admin, "prog", &legacy_since, 500).await;
    assert!(
        guids(&by_iso).contains("b"),
        "legacy ISO since must not skip the late event"
    );
}

async fn second_offline_edit_is_kept(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    s.push(
        &admin,
        "prog",
        vec![
            event(
                "c1",
                "x",
                "create-individual",
                json!({"name": "X", "age": 1}),
                "2024-01-01T00:00:00Z",
            ),
            event(
                "u1",
                "x",
                "update-individual",
                json!({"age": 2}),
                "2024-01-02T00:00:00Z",
            ),
            event(
                "u2",
                "x",
                "update-individual",
                json!({"age": 3, "name": "X3"}),
                "2024-01-03T00:00:00Z",
            ),
        ],
    )
    .await;
    let e = s.get("/api/entities/x?configId=prog", &admin).await;
    assert_eq!(
        (e.body["data"]["age"].as_i64(), e.body["name"].as_str()),
        (Some(3), Some("X3"))
    );
}

async fn re_push_duplicates_conflicts_and_quarantine(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let batch = vec![
        event(
            "e1",
            "p1",
            "create-individual",
            json!({"name": "A"}),
            "2024-01-01T00:00:00Z",
        ),
        event(
            "e2",
            "p1",
            "update-individual",
            json!({"age": 3}),
            "2024-01-02T00:00:00Z",
        ),
    ];
    s.push(&admin, "prog", batch.clone()).await;
    let before = s.get("/api/entities/p1?configId=prog", &admin).await.body;
    let mut again = batch.clone();
    again[0]["syncLevel"] = json!(1);
    again[0]["id"] = json!(99);
    let out = s.push(&admin, "prog", again).await;
    assert_eq!(
        (out["applied"].as_u64(), out["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        s.get("/api/entities/p1?configId=prog", &admin).await.body,
        before
    );
    let out = s
        .push(
            &admin,
            "prog",
            vec![
                event(
                    "e1",
                    "p1",
                    "create-individual",
                    json!({"name": "CHANGED"}),
                    "2024-01-01T00:00:00Z",
                ),
                json!({"guid": "broken", "type": "create-individual"}),
            ],
        )
        .await;
    assert_eq!(out["failed"], 2);
    let codes: BTreeSet<&str> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from(["EVENT_GUID_CONFLICT", "INVALID_ENTITY_GUID"])
    );
    s.post(
        "/api/sync/push",
        &admin,
        json!({"configId": "prog", "events": "nope"}),
    )
    .await
    .expect_error(400, "INVALID_BODY");
    let too_many: Vec<Value> = (0..5001).map(|_| json!({})).collect();
    s.post(
        "/api/sync/push",
        &admin,
        json!({"configId": "prog", "events": too_many}),
    )
    .await
    .expect_error(413, "TOO_MANY_EVENTS");
    s.get("/api/sync/pull?configId=prog&since=garbage", &admin)
        .await
        .expect_error(400, "INVALID_SINCE");
    s.get("/api/sync/pull?configId=prog&limit=-1", &admin)
        .await
        .expect_error(400, "INVALID_LIMIT");
    s.get("/api/sync/pull?configId=missing", &admin)
        .await
        .expect_error(404, "CONFIG_NOT_FOUND");
}

async fn two_devices_converge(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let a = s.user_token(&admin, "a@example.org", &["prog"]).await;
    let b = s.user_token(&admin, "b@example.org", &["prog"]).await;
    s.push(
        &a,
        "prog",
        vec![event(
            "g",
            "hh",
            "create-group",
            json!({"name": "House", "members": [{"guid": "m1", "name": "Ann"}]}),
            "2024-01-01T00:00:00Z",
        )],
    )
    .await;
    let (b_seen, b_cursor) = s.pull_all(&b, "prog", "", 500).await;
    assert_eq!(b_seen.len(), 1);
    s.push(
        &b,
        "prog",
        vec![event(
            "bu",
            "m1",
            "update-individual",
            json!({"name": "Anna"}),
            "2024-01-02T00:00:00Z",
        )],
    )
    .await;
    let (a_seen, _) = s.pull_all(&a, "prog", "", 500).await;
    assert_eq!(
        guids(&a_seen),
        BTreeSet::from(["g".to_string(), "bu".to_string()])
    );
    let (b_new, _) = s.pull_all(&b, "prog", &b_cursor, 500).await;
    assert_eq!(guids(&b_new), BTreeSet::from(["bu".to_string()]));
    let m1 = s.get("/api/entities/m1?configId=prog", &a).await;
    assert_eq!(m1.body["name"], "Anna");
    let members = s.get("/api/entities/hh/members?configId=prog", &b).await;
    assert_eq!(members.body[0]["guid"], "m1");
}

async fn tenant_matrix_and_guid_reuse_across_tenants(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    s.create_config(&admin, "other").await;
    let user = s.user_token(&admin, "u@example.org", &["prog"]).await;
    let e = event(
        "same-guid",
        "p",
        "create-individual",
        json!({"name": "In prog"}),
        "2024-01-01T00:00:00Z",
    );
    assert_eq!(s.push(&user, "prog", vec![e.clone()]).await["applied"], 1);
    let mut other = e.clone();
    other["data"] = json!({"name": "In other"});
    assert_eq!(
        s.push(&admin, "other", vec![other]).await["applied"],
        1,
        "guids are unique per tenant"
    );
    let paths = [
        "/api/sync/pull?configId=other",
        "/api/entities?configId=other",
        "/api/entities/count?configId=other",
        "/api/entities/count-by-form?configId=other",
        "/api/entities/p?configId=other",
        "/api/entities/p/events?configId=other",
        "/api/events?configId=other",
        "/api/potential-duplicates?configId=other",
    ];
    for path in paths {
        s.get(path, &user)
            .await
            .expect_error(403, "TENANT_FORBIDDEN");
        assert_eq!(
            s.get(&path.replace("other", "prog"), &user).await.status,
            StatusCode::OK,
            "{path}"
        );
        let r = s.call(reqwest::Method::GET, path, None, None).await;
        r.expect_error(401, "AUTH_HEADER_MISSING");
    }
    s.post(
        "/api/sync/push",
        &user,
        json!({"configId": "other", "events": []}),
    )
    .await
    .expect_error(403, "TENANT_FORBIDDEN");
    s.post(
        "/api/potential-duplicates/resolve",
        &user,
        json!({"configId": "other", "newItem": "a", "existingItem": "b"}),
    )
    .await
    .expect_error(403, "TENANT_FORBIDDEN");
    s.post(
        "/api/entities/search",
        &user,
        json!({"configId": "other", "criteria": []}),
    )
    .await
    .expect_error(403, "TENANT_FORBIDDEN");
    // No configId means "default", which this user may not access either.
    s.get("/api/sync/pull", &user)
        .await
        .expect_error(403, "TENANT_FORBIDDEN");
    let name_in = |body: Value| body["name"].as_str().map(str::to_owned);
    assert_eq!(
        name_in(s.get("/api/entities/p?configId=prog", &admin).await.body).as_deref(),
        Some("In prog")
    );
    assert_eq!(
        name_in(s.get("/api/entities/p?configId=other", &admin).await.body).as_deref(),
        Some("In other")
    );
}

async fn entities_and_duplicates_routes(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    s.push(
        &admin,
        "prog",
        vec![
            event(
                "e1",
                "first",
                "create-individual",
                json!({"entityName": "individual", "firstName": "Ann", "lastName": "Lee"}),
                "2024-01-01T00:00:00Z",
            ),
            event(
                "e2",
                "second",
                "create-individual",
                json!({"entityName": "individual", "firstName": "ANN", "lastName": "lee"}),
                "2024-01-02T00:00:00Z",
            ),
        ],
    )
    .await;
    assert_eq!(
        s.get("/api/entities/count?configId=prog", &admin)
            .await
            .body,
        json!({"count": 2})
    );
    assert_eq!(
        s.get("/api/entities/count-by-form?configId=prog", &admin)
            .await
            .body,
        json!({"individual": 2})
    );
    let list = s.get("/api/entities?configId=prog&limit=1", &admin).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["guid"], "second", "newest first");
    s.get("/api/entities?configId=prog&limit=-5", &admin)
        .await
        .expect_error(400, "INVALID_LIMIT");
    s.get("/api/entities/nope?configId=prog", &admin)
        .await
        .expect_error(404, "ENTITY_NOT_FOUND");
    let found = s.post("/api/entities/search", &admin, json!({"configId": "prog", "criteria": [{"lastName": "LEE'; DROP TABLE entities; --"}]})).await;
    assert_eq!(found.body, json!([]));
    let dups = s
        .get("/api/potential-duplicates?configId=prog", &admin)
        .await;
    assert_eq!(
        dups.body,
        json!([{"entityGuid": "second", "duplicateGuid": "first"}])
    );
    for (query, code) in [
        ("limit=0", "INVALID_LIMIT"),
        ("limit=x", "INVALID_LIMIT"),
        ("offset=-1", "INVALID_OFFSET"),
    ] {
        s.get(
            &format!("/api/potential-duplicates?configId=prog&{query}"),
            &admin,
        )
        .await
        .expect_error(400, code);
    }
    let pull = s.get("/api/sync/pull?configId=prog", &admin).await;
    assert_eq!(
        pull.body["events"].as_array().unwrap().len(),
        2,
        "duplicates never block pull"
    );
    assert_eq!(
        pull.body["warnings"][0],
        "Unresolved potential duplicates exist. Please review them on the admin page."
    );
    let r = s.post("/api/potential-duplicates/resolve", &admin, json!({"configId": "prog", "newItem": "second", "existingItem": "first", "shouldDeleteNewItem": true})).await;
    assert_eq!(r.body, json!({"status": "success"}));
    assert_eq!(
        s.get("/api/potential-duplicates?configId=prog", &admin)
            .await
            .body,
        json!([])
    );
    assert_eq!(
        s.get("/api/entities/count?configId=prog", &admin)
            .await
            .body,
        json!({"count": 1})
    );
    let (all, _) = s.pull_all(&admin, "prog", "", 500).await;
    let resolve = all
        .iter()
        .find(|e| e["type"] == "resolve-duplicate")
        .unwrap();
    assert_eq!(resolve["syncLevel"], 0);
    let events = s
        .get("/api/entities/second/events?configId=prog", &admin)
        .await;
    assert_eq!(events.body.as_array().unwrap().len(), 2);
}
