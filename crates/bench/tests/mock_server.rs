//! The scenarios against a tiny in-process mock of the upstream-compatible API: request
//! shapes, counting, cursor following and error accounting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use datacollect_bench::api::Api;
use datacollect_bench::scenario::pull::{run_pull, PullOptions};
use datacollect_bench::scenario::push::{run_push, PushOptions};
use datacollect_bench::scenario::read::{run_read, ReadClient, ReadOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const TOKEN: &str = "tok-123";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

#[derive(Default)]
struct State {
    requests: Vec<Seen>,
    events: Vec<Value>,
    guids: HashSet<String>,
    flaky_pushes: u64,
}

type Shared = Arc<Mutex<State>>;

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

async fn handle(
    state: Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        auth: header("authorization"),
        content_type: header("content-type"),
        body: body.clone(),
    };
    let mut st = state.lock().unwrap();
    st.requests.push(seen.clone());
    let authed = seen.auth.as_deref() == Some(&format!("Bearer {TOKEN}"));
    let resp = match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/api/users/login") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            if v == json!({"email": "admin@test", "password": "pw"}) {
                reply(StatusCode::OK, json!({"token": TOKEN, "userId": 1}))
            } else {
                reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"message": "Invalid email or password"}),
                )
            }
        }
        _ if !authed => reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthenticated"}),
        ),
        ("POST", "/api/apps") => reply(
            StatusCode::OK,
            json!({"status": "success", "artifactId": "a1"}),
        ),
        ("GET", "/api/users/check-token") => {
            reply(StatusCode::OK, json!({"message": "Token is valid"}))
        }
        ("POST", "/api/sync/push") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let events = v["events"].as_array().cloned().unwrap_or_default();
            if v["configId"] == "flaky" {
                st.flaky_pushes += 1;
                if st.flaky_pushes % 2 == 1 {
                    reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "busy"}))
                } else {
                    let n = events.len() as u64;
                    reply(
                        StatusCode::OK,
                        json!({"status": "success", "applied": n - 1, "duplicates": 0, "failed": 1,
                               "errors": [{"guid": "g", "code": "INVALID_EVENT", "error": "bad"}],
                               "cursor": "x"}),
                    )
                }
            } else {
                let (mut applied, mut duplicates) = (0u64, 0u64);
                for e in events {
                    let guid = e["guid"].as_str().unwrap_or_default().to_owned();
                    if st.guids.insert(guid) {
                        applied += 1;
                        st.events.push(e);
                    } else {
                        duplicates += 1;
                    }
                }
                let cursor = format!("c.{}", st.events.len());
                reply(
                    StatusCode::OK,
                    json!({"status": "success", "applied": applied, "duplicates": duplicates,
                           "failed": 0, "errors": [], "cursor": cursor}),
                )
            }
        }
        ("GET", "/api/sync/pull") => {
            let since = query_param(&seen.query, "since").unwrap_or("");
            let limit: usize = query_param(&seen.query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(500);
            let from: usize = since
                .strip_prefix("c.")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let to = (from + limit).min(st.events.len());
            let page: Vec<Value> = st.events[from.min(to)..to].to_vec();
            let next = (to < st.events.len()).then(|| format!("c.{to}"));
            reply(
                StatusCode::OK,
                json!({"events": page, "nextCursor": next, "cursor": format!("c.{to}")}),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    };
    Ok(resp)
}

async fn start_mock() -> (SocketAddr, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state: Shared = Arc::default();
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&state), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, state)
}

async fn logged_in(addr: SocketAddr, pool: usize) -> Api {
    let mut api = Api::new(&format!("http://{addr}/"), pool, Duration::from_secs(10)).unwrap();
    api.login("admin@test", "pw").await.unwrap();
    api
}

fn requests(state: &Shared, path: &str) -> Vec<Seen> {
    let st = state.lock().unwrap();
    st.requests
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_config_upload_in_both_encodings() {
    let (addr, state) = start_mock().await;
    let mut bad = Api::new(&format!("http://{addr}"), 1, Duration::from_secs(5)).unwrap();
    let err = bad.login("admin@test", "wrong").await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let api = logged_in(addr, 1).await;
    assert_eq!(
        api.create_config("bench", false).await.unwrap().as_deref(),
        Some("a1")
    );
    assert_eq!(
        api.create_config("bench", true).await.unwrap().as_deref(),
        Some("a1")
    );

    let uploads = requests(&state, "/api/apps");
    assert_eq!(uploads.len(), 2);
    let expected = json!({"id": "bench", "name": "Benchmark bench", "version": "1.0.0",
                          "entityForms": [{"name": "household"}, {"name": "individual"}]});
    assert_eq!(uploads[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(uploads[0].auth.as_deref(), Some("Bearer tok-123"));
    assert_eq!(
        serde_json::from_slice::<Value>(&uploads[0].body).unwrap(),
        expected
    );

    let ct = uploads[1].content_type.clone().unwrap();
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
    let text = String::from_utf8(uploads[1].body.to_vec()).unwrap();
    assert!(text.starts_with(&format!("--{boundary}\r\n")));
    assert!(text.contains("name=\"config\"; filename=\"config.json\""));
    assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    let json_part = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--")
        .next()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(json_part).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_follows_every_cursor() {
    let (addr, state) = start_mock().await;
    let api = logged_in(addr, 3).await;
    let push = run_push(
        &api,
        &PushOptions {
            config_id: "bench".into(),
            events: 2_345,
            batch: 100,
            clients: 3,
            max_duration: Duration::from_secs(60),
        },
    )
    .await;
    assert!(push.completed, "{push:?}");
    assert_eq!(push.events_sent, 2_345);
    assert_eq!(push.events_acknowledged, 2_345);
    assert_eq!(push.applied, 2_345);
    assert_eq!(
        (push.duplicates, push.failed, push.error_batches),
        (0, 0, 0)
    );
    assert_eq!(push.curve.len(), 10);
    assert_eq!(push.curve.iter().map(|c| c.events).sum::<u64>(), 2_345);
    assert!(push.events_per_second > 0.0 && push.flatness_last_over_first.is_some());
    // Shares 782 + 782 + 781 → 8 + 8 + 8 requests of at most 100 events.
    assert_eq!(push.batch_latency.count, 24);

    let pushes = requests(&state, "/api/sync/push");
    assert_eq!(pushes.len(), 24);
    for p in &pushes {
        assert_eq!(p.auth.as_deref(), Some("Bearer tok-123"));
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["configId"], "bench");
        let n = v["events"].as_array().unwrap().len();
        assert!((1..=100).contains(&n));
    }
    {
        let st = state.lock().unwrap();
        assert_eq!(st.events.len(), 2_345);
        let households = st
            .events
            .iter()
            .filter(|e| e["type"] == "create-group")
            .count();
        let people = st
            .events
            .iter()
            .filter(|e| e["type"] == "create-individual")
            .count();
        assert!(households > 100 && people >= 2 * households - 6);
    }

    let pull = run_pull(
        &api,
        &PullOptions {
            config_id: "bench".into(),
            limit: 500,
            max_duration: Duration::from_secs(60),
            max_pages: 100,
        },
    )
    .await;
    assert!(pull.completed, "{pull:?}");
    assert_eq!(pull.error, None);
    assert_eq!(
        (pull.events, pull.pages, pull.unsafe_cursors),
        (2_345, 5, 0)
    );
    assert_eq!(pull.page_latency.count, 5);
    let queries: Vec<String> = requests(&state, "/api/sync/pull")
        .into_iter()
        .map(|r| r.query)
        .collect();
    assert_eq!(
        queries,
        [
            "configId=bench&since=&limit=500",
            "configId=bench&since=c.500&limit=500",
            "configId=bench&since=c.1000&limit=500",
            "configId=bench&since=c.1500&limit=500",
            "configId=bench&since=c.2000&limit=500",
        ]
    );

    // Bounded by pages: stops with an error instead of looping.
    let short = run_pull(
        &api,
        &PullOptions {
            config_id: "bench".into(),
            limit: 100,
            max_duration: Duration::from_secs(60),
            max_pages: 3,
        },
    )
    .await;
    assert!(!short.completed);
    assert_eq!((short.events, short.pages), (300, 3));
    assert!(short.error.unwrap().contains("3 pages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_counts_rejections_and_failed_batches_as_errors() {
    let (addr, _state) = start_mock().await;
    let api = logged_in(addr, 1).await;
    let push = run_push(
        &api,
        &PushOptions {
            config_id: "flaky".into(),
            events: 1_000,
            batch: 100,
            clients: 1,
            max_duration: Duration::from_secs(60),
        },
    )
    .await;
    // 10 requests: 5 answered 503, 5 answered 200 with one rejected event each.
    assert_eq!(push.events_sent, 1_000);
    assert_eq!(push.error_batches, 5);
    assert_eq!(push.events_acknowledged, 500);
    assert_eq!((push.applied, push.failed), (495, 5));
    assert!(push.error_samples.iter().any(|e| e.contains("503")));
    assert!(push
        .error_samples
        .iter()
        .any(|e| e.contains("INVALID_EVENT")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_hammers_the_cheap_get_with_the_token() {
    let (addr, state) = start_mock().await;
    let api = logged_in(addr, 4).await;
    for client in [ReadClient::Hyper, ReadClient::Reqwest] {
        let read = run_read(
            &api,
            &ReadOptions {
                connections: 4,
                duration: Duration::from_millis(500),
                path: "/api/users/check-token".into(),
                client,
            },
        )
        .await
        .unwrap();
        assert!(read.requests_ok > 20, "{read:?}");
        assert_eq!(read.errors, 0, "{read:?}");
        assert_eq!(read.latency.count, read.requests_ok);
        assert!(read.elapsed_seconds >= 0.5 && read.elapsed_seconds < 5.0);
    }
    let gets = requests(&state, "/api/users/check-token");
    assert!(gets
        .iter()
        .all(|g| g.auth.as_deref() == Some("Bearer tok-123")));
    assert!(gets.iter().all(|g| g.method == "GET"));

    // A path the server refuses counts as errors, not successes.
    let bad = run_read(
        &api,
        &ReadOptions {
            connections: 2,
            duration: Duration::from_millis(200),
            path: "/nope".into(),
            client: ReadClient::Hyper,
        },
    )
    .await
    .unwrap();
    assert_eq!(bad.requests_ok, 0);
    assert!(bad.errors > 0);
    // Keep-alive: a handful of connections served every request.
    assert!(bad.connects <= 2, "{bad:?}");
}
