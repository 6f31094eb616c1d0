//! The OpenAPI document: committed file = code, served as `/openapi.json`, every documented
//! operation routed, and the `/api-docs` page served entirely by this server (no CDN).

use crate::harness::{documented_operations, Backend, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

const COMMITTED: &str = include_str!("../../../../openapi/openapi.json");

#[test]
fn committed_document_matches_the_code() {
    assert!(
        COMMITTED == http_api::document_json(),
        "openapi/openapi.json is stale: run `just openapi` and commit the result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_every_operation_is_routed() {
    let s = TestServer::start(Backend::Memory).await.unwrap();
    let served = s
        .client
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let served: Value = served.json().await.unwrap();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(served, committed);

    let paths = committed["paths"].as_object().unwrap();
    assert!(paths.len() >= 40, "{} paths", paths.len());
    for (method, path, operation) in documented_operations(&committed) {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "x.json"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let r = s.call(method.clone(), &concrete, None, None).await;
        assert_ne!(
            r.body["code"], "NOT_FOUND",
            "{method} {path} is documented but not routed"
        );
        if operation.get("security").is_some() && !path.starts_with("/v1/") {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_works_offline() {
    let s = TestServer::start(Backend::Memory).await.unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("{}/api-docs", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()["location"], "/api-docs/");

    let page = s
        .client
        .get(format!("{}/api-docs/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet the page loads is ours: relative, and served.
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let url = piece.split('"').next().unwrap();
            assert!(
                !url.contains("://") && !url.starts_with("//"),
                "external asset {url}"
            );
            assets.push(url.trim_start_matches("./").to_owned());
        }
    }
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{assets:?}");
    for asset in &assets {
        let r = s
            .client
            .get(format!("{}/api-docs/{asset}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        let body = r.text().await.unwrap();
        if asset.contains("initializer") {
            assert!(body.contains("/openapi.json"), "{body}");
        }
    }
}
