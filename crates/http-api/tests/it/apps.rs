//! Program configs and public artifacts.

use crate::harness::{config_json, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

crate::on_both_backends!(
    configs_secrets_and_artifacts,
    config_role_matrix_and_archive,
    multipart_upload_as_the_admin_ui_sends_it,
    entity_data_is_seeded_when_it_changes,
);

async fn multipart_upload_as_the_admin_ui_sends_it(s: &TestServer) {
    let admin = s.admin_token().await;
    let boundary = "----dcboundary42";
    let multipart = |field: &str, json: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"config.json\"\r\nContent-Type: application/json\r\n\r\n{json}\r\n--{boundary}--\r\n")
    };
    let send = |body: String| {
        s.client
            .post(format!("{}/api/apps", s.base))
            .bearer_auth(&admin)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let r = send(multipart("config", &config_json("multi").to_string()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(
        s.get("/api/apps/multi", &admin).await.body["name"],
        "Program multi"
    );
    let r = send(multipart("other", "{}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "NO_CONFIG_FILE"
    );
    let r = send(multipart("config", "{not json")).await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "INVALID_JSON"
    );
}

async fn entity_data_is_seeded_when_it_changes(s: &TestServer) {
    let admin = s.admin_token().await;
    let with_region = |id: &str, group: &str, name: &str| {
        let mut c = config_json(id);
        c["entityData"] = json!([{"name": group, "data": [{"id": "r1", "name": name}]}]);
        c
    };
    for name in ["North", "South", "North", "North"] {
        let r = s
            .post("/api/apps", &admin, with_region("seeded", "region", name))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let e = s.get("/api/entities/r1?configId=seeded", &admin).await;
        assert_eq!(e.status, StatusCode::OK, "{}", e.body);
        assert_eq!(e.body["data"]["name"], name, "{}", e.body);
    }
    // Seeded three times: the repeated post of an unchanged item stored nothing.
    let events = s
        .get("/api/entities/r1/events?configId=seeded", &admin)
        .await;
    assert_eq!(
        events.body.as_array().map(Vec::len),
        Some(3),
        "{}",
        events.body
    );
    // A seed event that would fail event validation refuses the config; nothing is saved.
    let r = s
        .post(
            "/api/apps",
            &admin,
            with_region("long", &"g".repeat(129), "x"),
        )
        .await;
    r.expect_error(422, "INVALID_CONFIG");
    assert_eq!(r.body["details"]["path"], "entityData[0].data[0]");
    s.get("/api/apps/long", &admin)
        .await
        .expect_error(404, "CONFIG_NOT_FOUND");
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("planted-secret"), "a secret leaked: {text}");
}

async fn configs_secrets_and_artifacts(s: &TestServer) {
    let admin = s.admin_token().await;
    let created = s.create_config(&admin, "prog").await;
    let artifact = created["artifactId"].as_str().unwrap().to_owned();
    assert_eq!(artifact.len(), 32);
    let got = s.get("/api/apps/prog", &admin).await;
    assert_eq!(got.body["artifactId"], artifact.as_str());
    assert_eq!(
        got.body["externalSync"]["extraFields"][1]["value"],
        "********"
    );
    assert_no_secret(&got.body.to_string());
    let list = s
        .get(
            "/api/apps?pageSize=5&sortBy=entitiesCount&sortOrder=desc",
            &admin,
        )
        .await;
    assert_eq!(list.body["meta"]["total"], 1);
    assert_no_secret(&list.body.to_string());
    // Public artifact: no auth, no secrets, the sync server URL.
    let r = s
        .client
        .get(format!("{}/artifacts/{artifact}.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let text = r.text().await.unwrap();
    assert_no_secret(&text);
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["syncServerUrl"], "http://sync.example.org");
    assert!(body.get("externalSync").is_none());
    s.call(
        Method::GET,
        "/artifacts/ffffffffffffffffffffffffffffffff.json",
        None,
        None,
    )
    .await
    .expect_error(404, "ARTIFACT_NOT_FOUND");
    let r = s
        .client
        .get(format!("{}/artifacts/{artifact}.png", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    // With PUBLIC_BASE_URL set (as here) revalidated; from request headers, never stored.
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert_eq!(&r.bytes().await.unwrap()[..4], b"\x89PNG");
    s.call(
        Method::GET,
        "/artifacts/ffffffffffffffffffffffffffffffff.png",
        None,
        None,
    )
    .await
    .expect_error(404, "ARTIFACT_NOT_FOUND");
    let public = s
        .call(Method::GET, "/api/apps/prog/public", None, None)
        .await;
    assert_eq!(public.body["authConfigs"], json!([{"type": "keycloak"}]));
    // PUT with the mask keeps the stored secret; the artifact id is kept.
    let mut update = config_json("prog");
    update["externalSync"]["extraFields"][1]["value"] = json!("********");
    update["name"] = json!("Renamed");
    let r = s
        .call(Method::PUT, "/api/apps/prog", Some(&admin), Some(update))
        .await;
    assert_eq!(
        (r.status, r.body["artifactId"].as_str()),
        (StatusCode::OK, Some(artifact.as_str()))
    );
    s.call(
        Method::PUT,
        "/api/apps/other",
        Some(&admin),
        Some(config_json("prog")),
    )
    .await
    .expect_error(400, "CONFIG_ID_MISMATCH");
    let bad = s
        .post(
            "/api/apps",
            &admin,
            json!({"id": "bad id!", "name": "x", "entityForms": []}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["code"], "INVALID_CONFIG_ID");
    let bad = s
        .post(
            "/api/apps",
            &admin,
            json!({"id": "p2", "name": "x", "entityForms": [{"title": "no name"}]}),
        )
        .await;
    assert!(
        bad.status == StatusCode::BAD_REQUEST || bad.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.body
    );
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap()
            .contains("entityForms[0]"),
        "{}",
        bad.body
    );
}

async fn config_role_matrix_and_archive(s: &TestServer) {
    let admin = s.admin_token().await;
    s.create_config(&admin, "prog").await;
    let other = s.create_config(&admin, "other").await;
    let artifact = format!("/artifacts/{}.json", other["artifactId"].as_str().unwrap());
    let user = s.user_token(&admin, "u@example.org", &["prog"]).await;
    let list = s.get("/api/apps", &user).await;
    assert_eq!(
        list.body["meta"]["total"], 1,
        "users see only their tenants"
    );
    assert_eq!(s.get("/api/apps/prog", &user).await.status, StatusCode::OK);
    s.get("/api/apps/other", &user)
        .await
        .expect_error(403, "TENANT_FORBIDDEN");
    s.post("/api/apps", &user, config_json("x"))
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    s.call(Method::DELETE, "/api/apps/prog", Some(&user), None)
        .await
        .expect_error(403, "ADMIN_REQUIRED");
    s.get("/api/apps/nope", &admin)
        .await
        .expect_error(404, "CONFIG_NOT_FOUND");
    // Archive: hidden from the list, pushes refused, purge only when archived.
    s.call(
        Method::DELETE,
        "/api/apps/other?purge=true",
        Some(&admin),
        None,
    )
    .await
    .expect_error(409, "CONFIG_NOT_ARCHIVED");
    assert_eq!(
        s.call(Method::DELETE, "/api/apps/other", Some(&admin), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(s.get("/api/apps", &admin).await.body["meta"]["total"], 1);
    assert_eq!(
        s.get("/api/apps?includeArchived=true", &admin).await.body["meta"]["total"],
        2
    );
    s.post(
        "/api/sync/push",
        &admin,
        json!({"configId": "other", "events": []}),
    )
    .await
    .expect_error(409, "CONFIG_ARCHIVED");
    // Its public artifact is hidden like its public info, until it is restored.
    s.call(Method::GET, &artifact, None, None)
        .await
        .expect_error(404, "ARTIFACT_NOT_FOUND");
    s.call(Method::GET, "/api/apps/other/public", None, None)
        .await
        .expect_error(404, "CONFIG_NOT_FOUND");
    assert_eq!(
        s.post("/api/apps/other/restore", &admin, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Method::GET, &artifact, None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(s.get("/api/apps", &admin).await.body["meta"]["total"], 2);
    // Restoring a config that is not archived is a success too (the document lists no 409).
    assert_eq!(
        s.post("/api/apps/other/restore", &admin, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    s.call(Method::DELETE, "/api/apps/other", Some(&admin), None)
        .await;
    assert_eq!(
        s.call(
            Method::DELETE,
            "/api/apps/other?purge=true",
            Some(&admin),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    s.get("/api/apps/other", &admin)
        .await
        .expect_error(404, "CONFIG_NOT_FOUND");
}

/// Without `PUBLIC_BASE_URL` the artifact's sync URL follows the request's headers, so no
/// cache may keep it for another caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_from_request_headers_are_not_stored_by_caches() {
    use crate::harness::Backend;
    let s = TestServer::start_with_public_url(Backend::Memory, None)
        .await
        .unwrap();
    let admin = s.admin_token().await;
    let artifact = s.create_config(&admin, "prog").await["artifactId"]
        .as_str()
        .unwrap()
        .to_owned();
    for ext in ["json", "png"] {
        let r = s
            .client
            .get(format!("{}/artifacts/{artifact}.{ext}", s.base))
            .header("x-forwarded-host", "elsewhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store", "{ext}");
        if ext == "json" {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["syncServerUrl"], "http://elsewhere.example");
        }
    }
}
