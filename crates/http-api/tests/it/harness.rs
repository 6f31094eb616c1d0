//! The real server on port 0 over a real store: a fresh SQLite file, or a fresh PostgreSQL
//! schema (`TEST_DATABASE_URL`; skipped with a notice when unset, a failure when `CI=true`).

use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::ports::{Clock, Stores};
use domain::services::auth::AuthSettings;
use domain::time::Timestamp;
use http_api::{AppState, Settings};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use system_adapters::{Argon2Hasher, JwtSigner, RandomIds, SystemClock};
use tokio::sync::oneshot;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Which store the server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// The in-memory fake of the domain crate.
    Memory,
    Sqlite,
    Postgres,
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin1@-long-enough";
pub const USERS_ADMIN_PASSWORD: &str = "users-admin-password";

fn unique() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4().simple()
    )
}

/// Cleans up the backend's data when dropped.
enum Guard {
    Nothing,
    File(std::path::PathBuf),
    Schema { url: String, schema: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Nothing => {}
            Guard::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Guard::Schema { url, schema } => {
                if let Ok(mut conn) = PgConnection::establish(url) {
                    let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn);
                }
            }
        }
    }
}

fn stores(backend: Backend) -> Option<(Stores, Guard)> {
    match backend {
        Backend::Memory => Some((
            Stores::from_one(Arc::new(domain::fake::store::MemStore::default())),
            Guard::Nothing,
        )),
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("dc-http-{}", unique()));
            let store = sqlite_store::SqliteStore::open(&format!(
                "sqlite://{}",
                dir.join("db.sqlite").display()
            ))
            .unwrap();
            Some((Stores::from_one(Arc::new(store)), Guard::File(dir)))
        }
        Backend::Postgres => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            let Some(url) = std::env::var("TEST_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
            else {
                assert!(!ci, "TEST_DATABASE_URL must be set when CI=true");
                eprintln!("notice: TEST_DATABASE_URL not set; skipping a PostgreSQL test");
                return None;
            };
            let mut conn = match PgConnection::establish(&url) {
                Ok(c) => c,
                Err(e) => {
                    assert!(!ci, "PostgreSQL unreachable in CI: {e}");
                    eprintln!("notice: PostgreSQL unreachable; skipping");
                    return None;
                }
            };
            let schema = format!("h_{}", unique().replace('-', ""));
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .unwrap();
            let options = postgres_store::PgOptions {
                pool_size: 4,
                schema: Some(schema.clone()),
                ..Default::default()
            };
            let store = postgres_store::PgStore::connect_with(&url, options).unwrap();
            Some((
                Stores::from_one(Arc::new(store)),
                Guard::Schema { url, schema },
            ))
        }
    }
}

/// The wall clock shifted by an offset the test controls (expiry tests).
#[derive(Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now().millis() + self.offset_ms.load(Ordering::SeqCst);
        Timestamp::from_millis(now).unwrap()
    }
}

/// A running server and an HTTP client for it.
pub struct TestServer {
    pub base: String,
    pub client: Client,
    /// The server's clock; [`TestServer::shift_clock`] moves it.
    clock: Arc<ShiftedClock>,
    /// The server's stores, for planting data the API cannot create (legacy hashes).
    pub stores: Stores,
    stop: Option<oneshot::Sender<()>>,
    _guard: Guard,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response: status and JSON body (`Null` when the body is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// Asserts an error reply: status, code, and SPEC §1's body shape.
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["error"], self.body["message"]);
        assert!(self.body["error"].is_string());
    }
}

impl TestServer {
    /// Starts a server with a first admin and `PUBLIC_BASE_URL` `http://sync.example.org`;
    /// `None` when the backend is unavailable (outside CI).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with_public_url(backend, Some("http://sync.example.org")).await
    }

    /// [`TestServer::start`] with another `PUBLIC_BASE_URL` (or none).
    pub async fn start_with_public_url(
        backend: Backend,
        public_base_url: Option<&str>,
    ) -> Option<TestServer> {
        let (stores, guard) = stores(backend)?;
        let settings = Settings {
            public_base_url: public_base_url.map(str::to_owned),
            storage: match backend {
                Backend::Memory => "memory",
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            },
            secure_cookies: false,
            allowed_origins: vec!["http://admin.example.org".into()],
            signups_per_minute: 200,
            auth: AuthSettings {
                principal_cache_ttl_ms: 0,
                ..AuthSettings::default()
            },
        };
        let clock = Arc::new(ShiftedClock::default());
        let state = AppState::new(
            stores.clone(),
            clock.clone(),
            Arc::new(RandomIds),
            Arc::new(Argon2Hasher::default()),
            Arc::new(JwtSigner::new(&[42u8; 32]).unwrap()),
            settings,
        );
        state
            .user_admin
            .bootstrap_admin(Some(ADMIN_EMAIL), Some(ADMIN_PASSWORD))
            .await
            .unwrap();
        state
            .users_api
            .bootstrap_admin_app(Some("admin"), Some(USERS_ADMIN_PASSWORD))
            .await
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(http_api::run(listener, state, async move {
            let _ = stopped.await;
        }));
        Some(TestServer {
            base,
            client: Client::new(),
            clock,
            stores,
            stop: Some(stop),
            _guard: guard,
        })
    }

    /// Moves the server's clock by `ms` (cumulative; negative goes back in time).
    pub fn shift_clock(&self, ms: i64) {
        self.clock.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Logs in; returns the login body.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/api/users/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a config `id` with person/household forms.
    pub async fn create_config(&self, admin: &str, id: &str) -> Value {
        let r = self.post("/api/apps", admin, config_json(id)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// Creates a USER with `tenants` and returns its token.
    pub async fn user_token(&self, admin: &str, email: &str, tenants: &[&str]) -> String {
        let r = self.post("/api/users", admin, json!({"email": email, "password": "pw-123456", "role": "USER", "tenantIds": tenants})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        self.login(email, "pw-123456").await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Pushes events; asserts 200 and returns the body.
    pub async fn push(&self, token: &str, config: &str, events: Vec<Value>) -> Value {
        let r = self
            .post(
                "/api/sync/push",
                token,
                json!({"configId": config, "events": events}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// Follows `nextCursor` from `since` to the end; returns the events and the last cursor.
    pub async fn pull_all(
        &self,
        token: &str,
        config: &str,
        since: &str,
        limit: u32,
    ) -> (Vec<Value>, String) {
        let mut since = since.to_owned();
        let mut events = Vec::new();
        for _ in 0..10_000 {
            let r = self
                .get(
                    &format!("/api/sync/pull?configId={config}&since={since}&limit={limit}"),
                    token,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            events.extend(r.body["events"].as_array().unwrap().iter().cloned());
            since = r.body["cursor"].as_str().unwrap().to_owned();
            if r.body["nextCursor"].is_null() {
                return (events, since);
            }
            assert_eq!(r.body["nextCursor"], r.body["cursor"]);
        }
        panic!("pull did not end");
    }
}

pub fn config_json(id: &str) -> Value {
    json!({"id": id, "name": format!("Program {id}"), "version": "1.0",
           "entityForms": [{"name": "household"}, {"name": "individual"}],
           "externalSync": {"type": "openspp-adapter", "url": "http://openspp", "extraFields": [
               {"name": "database", "value": "db"}, {"name": "password", "value": "planted-secret-pw"}]},
           "authConfigs": [{"type": "keycloak", "fields": {"authority": "https://kc/realms/r", "client_id": "app", "client_secret": "planted-secret-cs"}}]})
}

/// An event as the legacy client sends it (with an IndexedDB `id` and its own sync level).
pub fn event(guid: &str, entity: &str, ty: &str, data: Value, ts: &str) -> Value {
    json!({"guid": guid, "entityGuid": entity, "type": ty, "data": data, "timestamp": ts, "userId": "admin", "syncLevel": 0, "id": 17})
}

/// Every operation of an OpenAPI document: method, path template, operation object.
pub fn documented_operations(document: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone(), operation.clone()));
        }
    }
    out
}
