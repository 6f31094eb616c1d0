//! The upstream-compatible HTTP API, as the benchmark uses it (reqwest, HTTP/1.1 keep-alive).

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::BenchError;

/// A client for one server (base URL without a trailing slash).
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    auth: Option<HeaderValue>,
}

/// What `POST /api/sync/push` answered (fields absent on upstream servers are `None`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushOutcome {
    /// `"success"`.
    pub status: Option<String>,
    /// Events stored and applied.
    pub applied: Option<u64>,
    /// Events already stored with identical content.
    pub duplicates: Option<u64>,
    /// Events rejected (quarantined).
    pub failed: Option<u64>,
    /// Per-event reasons.
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// One page of `GET /api/sync/pull`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullPage {
    /// The events, counted but not decoded.
    pub events: Vec<IgnoredAny>,
    /// Where to continue; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginReply {
    token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PushBody<'a, E: Serialize> {
    config_id: &'a str,
    events: &'a [E],
}

impl Api {
    /// A client with a keep-alive pool of `pool` connections (HTTP/1.1 only).
    pub fn new(base_url: &str, pool: usize, timeout: Duration) -> Result<Self, BenchError> {
        let http = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(timeout)
            .build()?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            auth: None,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value in use, if logged in.
    pub fn auth_header(&self) -> Option<&HeaderValue> {
        self.auth.as_ref()
    }

    /// `POST /api/users/login`; later requests carry `Authorization: Bearer <token>`.
    pub async fn login(&mut self, email: &str, password: &str) -> Result<(), BenchError> {
        let url = format!("{}/api/users/login", self.base);
        let resp = self
            .http
            .post(&url)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?;
        let reply: LoginReply = ok_json(resp, "login").await?;
        let value = HeaderValue::from_str(&format!("Bearer {}", reply.token)).map_err(|_| {
            BenchError::Protocol("login returned a token unusable in a header".into())
        })?;
        self.auth = Some(value);
        Ok(())
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(v) => rb.header(AUTHORIZATION, v.clone()),
            None => rb,
        }
    }

    /// `POST /api/apps` with a minimal household/individual config; as a plain JSON body or,
    /// with `multipart`, as the upstream file field `config`. Returns the `artifactId`.
    pub async fn create_config(
        &self,
        config_id: &str,
        multipart: bool,
    ) -> Result<Option<String>, BenchError> {
        let config = json!({
            "id": config_id,
            "name": format!("Benchmark {config_id}"),
            "version": "1.0.0",
            "entityForms": [{"name": "household"}, {"name": "individual"}],
        });
        let url = format!("{}/api/apps", self.base);
        let body = serde_json::to_vec(&config)?;
        let rb = if multipart {
            let boundary = format!("----datacollect-bench-{}", uuid::Uuid::new_v4().simple());
            self.http
                .post(&url)
                .header(
                    CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(multipart_file(&boundary, "config", "config.json", &body))
        } else {
            self.http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        };
        let resp = self.authed(rb).send().await?;
        let reply: serde_json::Value = ok_json(resp, "create config").await?;
        Ok(reply
            .get("artifactId")
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    }

    /// The JSON body of a push.
    pub fn push_body<E: Serialize>(config_id: &str, events: &[E]) -> Result<Vec<u8>, BenchError> {
        Ok(serde_json::to_vec(&PushBody { config_id, events })?)
    }

    /// `POST /api/sync/push` with a body from [`Api::push_body`].
    pub async fn push(&self, body: Vec<u8>) -> Result<PushOutcome, BenchError> {
        let url = format!("{}/api/sync/push", self.base);
        let rb = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let resp = self.authed(rb).send().await?;
        ok_json(resp, "push").await
    }

    /// `GET /api/sync/pull?configId=&since=&limit=` (`since` inserted verbatim).
    pub async fn pull(
        &self,
        config_id: &str,
        since: &str,
        limit: u32,
    ) -> Result<PullPage, BenchError> {
        let url = format!(
            "{}/api/sync/pull?configId={config_id}&since={since}&limit={limit}",
            self.base
        );
        let resp = self.authed(self.http.get(&url)).send().await?;
        ok_json(resp, "pull").await
    }

    /// `GET <path>` with the token; `Ok(true)` on 200 (body read and dropped).
    pub async fn get_ok(&self, path: &str) -> Result<bool, BenchError> {
        let url = format!("{}{path}", self.base);
        let resp = self.authed(self.http.get(&url)).send().await?;
        let ok = resp.status() == reqwest::StatusCode::OK;
        resp.bytes().await?;
        Ok(ok)
    }
}

/// Decodes a 200 response, or turns any other status into [`BenchError::Status`].
async fn ok_json<T: for<'de> Deserialize<'de>>(
    resp: reqwest::Response,
    what: &'static str,
) -> Result<T, BenchError> {
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if status != reqwest::StatusCode::OK {
        return Err(BenchError::Status {
            what,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| BenchError::Protocol(format!("{what}: {e}")))
}

/// A `multipart/form-data` body with one JSON file field.
pub fn multipart_file(boundary: &str, field: &str, filename: &str, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 256);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
             filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(content);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body_layout() {
        let body = multipart_file("XyZ", "config", "config.json", br#"{"id":"a"}"#);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "--XyZ\r\nContent-Disposition: form-data; name=\"config\"; filename=\"config.json\"\r\n\
             Content-Type: application/json\r\n\r\n{\"id\":\"a\"}\r\n--XyZ--\r\n"
        );
    }

    #[test]
    fn push_body_shape() {
        let body = Api::push_body("cfg", &[json!({"guid": "g"})]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"configId": "cfg", "events": [{"guid": "g"}]}));
    }
}
