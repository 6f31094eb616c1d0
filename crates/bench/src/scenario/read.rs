//! `read`: C keep-alive connections hammering one cheap authenticated GET for S seconds.
//!
//! The default client drives hyper's HTTP/1.1 connection API directly: each connection is a
//! task that owns one TCP connection and loops request → response with pre-built header
//! values, so a request costs a `Request` and its header map and nothing else. `reqwest`
//! (pool sized to C) is selectable for comparison.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderValue, AUTHORIZATION, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::api::Api;
use crate::error::BenchError;
use crate::procstat::Usage;
use crate::stats::{rate, Latencies, LatencySummary};

/// Extra time a request in flight at the deadline may take before it counts as an error.
const GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed connect, so a dead server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// Which HTTP client drives the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReadClient {
    /// hyper's connection API, one task per connection (default).
    Hyper,
    /// reqwest with a pool of C connections.
    Reqwest,
}

/// Parameters of the read scenario.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Concurrent connections.
    pub connections: u32,
    /// How long to run.
    pub duration: Duration,
    /// Path of the GET (with any query string).
    pub path: String,
    /// Client implementation.
    pub client: ReadClient,
}

/// Results of the read scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadReport {
    /// The path requested.
    pub path: String,
    /// Concurrent connections.
    pub connections: u32,
    /// `hyper` or `reqwest`.
    pub client_kind: String,
    /// Requests answered 200.
    pub requests_ok: u64,
    /// Non-200 answers, transport failures and timeouts.
    pub errors: u64,
    /// TCP connections opened.
    pub connects: u64,
    /// Measured wall time.
    pub elapsed_seconds: f64,
    /// 200 answers per second.
    pub requests_per_second: f64,
    /// Latency of one request (send to end of body).
    pub latency: LatencySummary,
    /// What the scenario cost the server, this tool and the machine.
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Default)]
struct ConnResult {
    ok: u64,
    errors: u64,
    connects: u64,
    latencies: Latencies,
}

/// Where to connect and what to send, derived from the base URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header.
    pub host: HeaderValue,
    /// Origin-form request target (`/prefix/path?query`).
    pub uri: Uri,
}

impl Target {
    /// Parses `http://host[:port][/prefix]` plus a path; only plain HTTP is supported.
    pub fn new(base_url: &str, path: &str) -> Result<Self, BenchError> {
        let base: Uri = base_url
            .parse()
            .map_err(|e| BenchError::Usage(format!("bad --url {base_url:?}: {e}")))?;
        if base.scheme_str() != Some("http") {
            return Err(BenchError::Usage(format!(
                "the read scenario speaks plain http only, not {base_url:?}"
            )));
        }
        let authority = base
            .authority()
            .ok_or_else(|| BenchError::Usage(format!("no host in --url {base_url:?}")))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = format!("{}:{port}", authority.host());
        let prefix = base.path().trim_end_matches('/');
        let full = format!("{prefix}{path}");
        let uri: Uri = full
            .parse()
            .map_err(|e| BenchError::Usage(format!("bad path {full:?}: {e}")))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| BenchError::Usage(format!("bad host: {e}")))?;
        Ok(Self { addr, host, uri })
    }
}

/// Runs the scenario; `api` must be logged in (its token is reused).
pub async fn run_read(api: &Api, opts: &ReadOptions) -> Result<ReadReport, BenchError> {
    let connections = opts.connections.max(1);
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut tasks = Vec::with_capacity(connections as usize);
    match opts.client {
        ReadClient::Hyper => {
            let target = Target::new(api.base(), &opts.path)?;
            let auth = api.auth_header().cloned();
            for _ in 0..connections {
                let target = target.clone();
                let auth = auth.clone();
                tasks.push(tokio::spawn(async move {
                    hyper_connection(target, auth, deadline).await
                }));
            }
        }
        ReadClient::Reqwest => {
            for _ in 0..connections {
                let api = api.clone();
                let path = opts.path.clone();
                tasks.push(tokio::spawn(async move {
                    reqwest_connection(api, path, deadline).await
                }));
            }
        }
    }
    let mut total = ConnResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.ok += r.ok;
                total.errors += r.errors;
                total.connects += r.connects;
                total.latencies.merge(&r.latencies);
            }
            Err(_) => total.errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(ReadReport {
        path: opts.path.clone(),
        connections,
        client_kind: match opts.client {
            ReadClient::Hyper => "hyper".into(),
            ReadClient::Reqwest => "reqwest".into(),
        },
        requests_ok: total.ok,
        errors: total.errors,
        connects: total.connects,
        elapsed_seconds: elapsed,
        requests_per_second: rate(total.ok, elapsed),
        latency: total.latencies.summary(),
        usage: Usage::default(),
    })
}

async fn hyper_connection(
    target: Target,
    auth: Option<HeaderValue>,
    deadline: Instant,
) -> ConnResult {
    let mut r = ConnResult::default();
    let hard_stop = tokio::time::Instant::from_std(deadline + GRACE);
    'connect: while Instant::now() < deadline {
        let stream =
            match tokio::time::timeout_at(hard_stop, TcpStream::connect(&target.addr)).await {
                Ok(Ok(s)) => s,
                _ => {
                    r.errors += 1;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
        r.connects += 1;
        let _ = stream.set_nodelay(true);
        let handshake =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream));
        let (mut sender, conn) = match handshake.await {
            Ok(pair) => pair,
            Err(_) => {
                r.errors += 1;
                continue;
            }
        };
        let driver = tokio::spawn(conn);
        while Instant::now() < deadline {
            let mut builder = Request::get(target.uri.clone()).header(HOST, target.host.clone());
            if let Some(a) = &auth {
                builder = builder.header(AUTHORIZATION, a.clone());
            }
            let Ok(request) = builder.body(Empty::new()) else {
                r.errors += 1;
                break 'connect;
            };
            let sent_at = Instant::now();
            let exchange = async {
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    frame?;
                }
                Ok::<_, hyper::Error>(status)
            };
            match tokio::time::timeout_at(hard_stop, exchange).await {
                Ok(Ok(StatusCode::OK)) => {
                    r.latencies.record(sent_at.elapsed());
                    r.ok += 1;
                }
                Ok(Ok(_)) => {
                    r.latencies.record(sent_at.elapsed());
                    r.errors += 1;
                }
                Ok(Err(_)) | Err(_) => {
                    // Broken connection or timeout: count it and reconnect.
                    r.errors += 1;
                    break;
                }
            }
        }
        driver.abort();
    }
    r
}

async fn reqwest_connection(api: Api, path: String, deadline: Instant) -> ConnResult {
    let mut r = ConnResult::default();
    let hard_stop = tokio::time::Instant::from_std(deadline + GRACE);
    while Instant::now() < deadline {
        let sent_at = Instant::now();
        match tokio::time::timeout_at(hard_stop, api.get_ok(&path)).await {
            Ok(Ok(true)) => {
                r.latencies.record(sent_at.elapsed());
                r.ok += 1;
            }
            _ => r.errors += 1,
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_base_urls() {
        let t = Target::new("http://127.0.0.1:3000", "/api/users/check-token").unwrap();
        assert_eq!(t.addr, "127.0.0.1:3000");
        assert_eq!(t.host, "127.0.0.1:3000");
        assert_eq!(t.uri, "/api/users/check-token");
        let t = Target::new("http://localhost/prefix/", "/health?x=1").unwrap();
        assert_eq!(t.addr, "localhost:80");
        assert_eq!(t.uri.path(), "/prefix/health");
        assert_eq!(t.uri.query(), Some("x=1"));
        assert!(Target::new("https://example.test", "/x").is_err());
        assert!(Target::new("not a url", "/x").is_err());
    }
}
