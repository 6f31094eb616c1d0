//! UsersApiService against mockall mocks of its ports.

use super::*;
use crate::error::ErrorKind;
use crate::ports::{
    AppRole, MockClock, MockIdGenerator, MockLoginThrottleStore, MockPasswordHasher, PasswordCheck,
    UsersApp, UsersSession,
};
use crate::services::credentials::sha256_hex;
use crate::users_schema::{default_schema, validate_schema};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

// `UsersApiStore::list_records` takes `Option<&str>`, which `automock` cannot express, so
// the mock has inherent methods (owned `Option<String>` there) and a thin trait impl
// delegates to them.
mockall::mock! {
    pub Store {
        fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError>;
        fn get_app(&self, source_app_id: &str) -> Result<Option<UsersApp>, StoreError>;
        fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError>;
        fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError>;
        fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError>;
        fn save_schema(&self, source_app_id: &str, schema: &UserSchema) -> Result<UserSchema, StoreError>;
        fn upsert_record(
            &self,
            source_app_id: &str,
            email: &str,
            data: &Map<String, Value>,
            schema_version: i64,
            new_id: &str,
            now: Timestamp,
        ) -> Result<UserRecord, StoreError>;
        fn list_records(
            &self,
            source_app_id: Option<String>,
            skip: u64,
            limit: u32,
        ) -> Result<Vec<UserRecord>, StoreError>;
        fn create_session(&self, session: &UsersSession) -> Result<(), StoreError>;
        fn get_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<UsersSession>, StoreError>;
        fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError>;
        fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError>;
    }
}

#[async_trait::async_trait]
impl UsersApiStore for MockStore {
    async fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError> {
        MockStore::create_app(self, app, schema)
    }
    async fn get_app(&self, source_app_id: &str) -> Result<Option<UsersApp>, StoreError> {
        MockStore::get_app(self, source_app_id)
    }
    async fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError> {
        MockStore::list_apps(self)
    }
    async fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError> {
        MockStore::delete_app(self, source_app_id)
    }
    async fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError> {
        MockStore::current_schema(self, source_app_id)
    }
    async fn save_schema(
        &self,
        source_app_id: &str,
        schema: &UserSchema,
    ) -> Result<UserSchema, StoreError> {
        MockStore::save_schema(self, source_app_id, schema)
    }
    async fn upsert_record(
        &self,
        source_app_id: &str,
        email: &str,
        data: &Map<String, Value>,
        schema_version: i64,
        new_id: &str,
        now: Timestamp,
    ) -> Result<UserRecord, StoreError> {
        MockStore::upsert_record(
            self,
            source_app_id,
            email,
            data,
            schema_version,
            new_id,
            now,
        )
    }
    async fn list_records(
        &self,
        source_app_id: Option<&str>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        MockStore::list_records(self, source_app_id.map(str::to_owned), skip, limit)
    }
    async fn create_session(&self, session: &UsersSession) -> Result<(), StoreError> {
        MockStore::create_session(self, session)
    }
    async fn get_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UsersSession>, StoreError> {
        MockStore::get_session(self, token_hash, now)
    }
    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        MockStore::delete_session(self, token_hash)
    }
    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        MockStore::delete_expired_sessions(self, now)
    }
}

/// 2024-01-15T10:30:00.000Z
const NOW_MS: i64 = 1_705_314_600_000;
const NOW_ISO: &str = "2024-01-15T10:30:00.000Z";
const IP: &str = "198.51.100.7";
const RECORD_ID: &str = "507f1f77bcf86cd799439011";
const APP_PASSWORD: &str = "xK9mP2vQ7nR4tY8w";

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap_or_default()
}

fn app(id: &str, role: AppRole) -> UsersApp {
    UsersApp {
        source_app_id: id.into(),
        role,
        password_hash: format!("$argon2id${id}"),
        created_at: at(NOW_MS - 1000),
    }
}

fn record(id: &str, app: &str, email: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        source_app_id: app.into(),
        email: email.into(),
        data: json!({"fullName": "John Doe"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        schema_version: 1,
        created_at: at(NOW_MS),
        updated_at: at(NOW_MS),
    }
}

fn user_session() -> AppSession {
    AppSession {
        source_app_id: "my-app".into(),
        role: AppRole::User,
    }
}

fn admin_session() -> AppSession {
    AppSession {
        source_app_id: "admin".into(),
        role: AppRole::Admin,
    }
}

/// A schema with a required text, a bounded number, a required checkbox and a select.
fn strict_schema() -> UserSchema {
    let (reject_unknown, fields) = validate_schema(&json!({
        "rejectUnknown": true,
        "fields": [
            {"key": "fullName", "label": "Full name", "kind": "text", "required": true, "minLength": 1, "maxLength": 200},
            {"key": "age", "label": "Age", "kind": "number", "min": 0, "max": 120},
            {"key": "consentRequired", "label": "Consent", "kind": "checkbox", "required": true},
            {"key": "country", "label": "Country", "kind": "select", "enum": ["US", "CA"]}
        ]
    }))
    .unwrap();
    UserSchema {
        version: 3,
        reject_unknown,
        fields,
    }
}

struct Mocks {
    store: MockStore,
    throttle: MockLoginThrottleStore,
    hasher: MockPasswordHasher,
    ids: MockIdGenerator,
}

impl Mocks {
    /// Ids: `hex(12)` is `RECORD_ID`, other hex sizes `s1…`, `s2…`; passwords `APP_PASSWORD`.
    fn new() -> Self {
        let mut ids = MockIdGenerator::new();
        let counter = AtomicUsize::new(0);
        ids.expect_hex().returning(move |bytes| {
            if bytes == 12 {
                return RECORD_ID.to_owned();
            }
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            format!("s{n}{}", "0".repeat(bytes * 2 - 2))
        });
        ids.expect_alphanumeric()
            .returning(|n| APP_PASSWORD[..n.min(16)].to_owned());
        Mocks {
            store: MockStore::new(),
            throttle: MockLoginThrottleStore::new(),
            hasher: MockPasswordHasher::new(),
            ids,
        }
    }

    fn hashing(mut self) -> Self {
        self.hasher
            .expect_hash()
            .returning(|p| Ok(format!("hash({p})")));
        self
    }

    fn service(self) -> UsersApiService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(NOW_MS));
        UsersApiService::new(
            UsersApiPorts {
                store: Arc::new(self.store),
                login_throttle: Arc::new(self.throttle),
                hasher: Arc::new(self.hasher),
                clock: Arc::new(clock),
                ids: Arc::new(self.ids),
            },
            UsersApiSettings::default(),
        )
    }
}

fn code(err: &DomainError) -> (ErrorKind, &str) {
    (err.kind, err.code.as_ref())
}

// ---------------------------------------------------------------- public upsert and schema

#[tokio::test]
async fn upsert_normalizes_the_email_and_stores_validated_data() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .withf(|id| id == "my-app")
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.store
        .expect_current_schema()
        .returning(|_| Ok(Some(strict_schema())));
    m.store
        .expect_upsert_record()
        .withf(|app, email, data, version, new_id, now| {
            app == "my-app"
                && email == "user@example.com"
                // numeric strings of number fields are stored as numbers
                && Value::Object(data.clone())
                    == json!({"fullName": "John Doe", "age": 30, "consentRequired": true})
                && *version == 3
                && new_id == RECORD_ID
                && now.millis() == NOW_MS
        })
        .times(1)
        .returning(|app, email, _, _, id, _| Ok(record(id, app, email)));
    let out = m
        .service()
        .upsert(
            Some("my-app"),
            &json!({
                "email": "  User@Example.COM ",
                "data": {"fullName": "John Doe", "age": "30", "consentRequired": true}
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"id": RECORD_ID, "createdAt": NOW_ISO, "updatedAt": NOW_ISO})
    );
}

#[tokio::test]
async fn upsert_and_schema_need_a_valid_known_app_id() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .withf(|id| id == "unknown")
        .times(2)
        .returning(|_| Ok(None));
    let svc = m.service();
    let body = json!({"email": "a@b.org", "data": {}});
    let long = "a".repeat(81);
    for header in [
        None,
        Some(""),
        Some("bad id!"),
        Some(long.as_str()),
        Some("unknown"),
    ] {
        let err = svc.upsert(header, &body).await.unwrap_err();
        assert_eq!(
            code(&err),
            (ErrorKind::BadRequest, "INVALID_APP_ID"),
            "{header:?}"
        );
    }
    let err = svc.schema(Some("unknown")).await.unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "INVALID_APP_ID"));
}

#[tokio::test]
async fn upsert_rejects_bad_bodies_and_emails() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.store
        .expect_current_schema()
        .returning(|_| Ok(Some(default_schema())));
    let svc = m.service();
    let cases = [
        (json!([1]), "INVALID_BODY"),
        (json!({"data": {}}), "INVALID_EMAIL"),
        (json!({"email": 5}), "INVALID_EMAIL"),
        (json!({"email": "no-at-sign.org"}), "INVALID_EMAIL"),
        (
            json!({"email": "a@b.org", "data": "text"}),
            "SCHEMA_VALIDATION",
        ),
    ];
    for (body, expected) in cases {
        let err = svc.upsert(Some("my-app"), &body).await.unwrap_err();
        assert_eq!(code(&err), (ErrorKind::BadRequest, expected), "{body}");
    }
}

#[tokio::test]
async fn upsert_lists_every_failing_field() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.store
        .expect_current_schema()
        .returning(|_| Ok(Some(strict_schema())));
    let err = m
        .service()
        .upsert(
            Some("my-app"),
            &json!({"email": "a@b.org", "data": {"age": 130, "country": "FR", "nickname": "x"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "SCHEMA_VALIDATION"));
    let details = err.details.unwrap_or_default();
    let mut fields: Vec<&str> = details
        .as_array()
        .map(|d| d.iter().filter_map(|p| p["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["age", "consentRequired", "country", "fullName", "nickname"]
    );
    assert!(details
        .as_array()
        .into_iter()
        .flatten()
        .all(|p| p["error"].as_str().is_some_and(|e| !e.is_empty())));
}

#[tokio::test]
async fn upsert_of_an_app_deleted_meanwhile_is_invalid_app_id() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.store
        .expect_current_schema()
        .returning(|_| Ok(Some(default_schema())));
    m.store
        .expect_upsert_record()
        .returning(|_, _, _, _, _, _| Err(StoreError::NotFound));
    let err = m
        .service()
        .upsert(Some("my-app"), &json!({"email": "a@b.org"}))
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "INVALID_APP_ID"));
}

#[tokio::test]
async fn public_schema_is_the_current_one() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.store
        .expect_current_schema()
        .withf(|id| id == "my-app")
        .returning(|_| Ok(Some(default_schema())));
    let schema = m.service().schema(Some("my-app")).await.unwrap();
    assert_eq!(
        serde_json::to_value(schema).unwrap(),
        json!({
            "version": 1,
            "rejectUnknown": true,
            "fields": [{"key": "fullName", "label": "Full name", "kind": "text", "required": false, "maxLength": 200}]
        })
    );
}

// ---------------------------------------------------------------- sessions

fn users_login_key(kind: &str, value: &str) -> String {
    match kind {
        "account" => format!("users-login:account:{}", sha256_hex(value)),
        _ => format!("users-login:ip:{value}"),
    }
}

#[tokio::test]
async fn login_opens_a_seven_day_session() {
    let mut m = Mocks::new();
    m.throttle
        .expect_failures_since()
        .withf(|key, _| {
            key == users_login_key("account", "my-app") || key == users_login_key("ip", IP)
        })
        .times(2)
        .returning(|_, _| Ok(0));
    m.throttle
        .expect_clear_failures()
        .withf(|key| key == users_login_key("account", "my-app"))
        .times(1)
        .returning(|_| Ok(()));
    m.store
        .expect_get_app()
        .returning(|id| Ok(Some(app(id, AppRole::User))));
    m.hasher
        .expect_verify()
        .withf(|p, h| p == "pw" && h == "$argon2id$my-app")
        .returning(|_, _| PasswordCheck {
            valid: true,
            needs_rehash: false,
        });
    let token = format!("s1{}", "0".repeat(62));
    let token_hash = sha256_hex(&token);
    m.store
        .expect_create_session()
        .withf(move |s| {
            s.token_hash == token_hash
                && s.source_app_id == "my-app"
                && s.expires_at.millis() == NOW_MS + 7 * 24 * 3600 * 1000
        })
        .times(1)
        .returning(|_| Ok(()));
    // The service's first session also clears the sessions expired by now.
    m.store
        .expect_delete_expired_sessions()
        .withf(|now| now.millis() == NOW_MS)
        .times(1)
        .returning(|_| Ok(2));
    let out = m
        .service()
        .login(&json!({"sourceAppId": "my-app", "password": "pw"}), IP)
        .await
        .unwrap();
    assert_eq!(out.token, token);
    assert_eq!(out.max_age_secs, 604_800);
    assert_eq!(
        serde_json::to_value(&out.body).unwrap(),
        json!({"ok": true, "sourceAppId": "my-app", "role": "user"})
    );
}

#[tokio::test]
async fn login_rejects_malformed_bodies() {
    let svc = Mocks::new().service();
    for body in [
        json!(null),
        json!({"password": "pw"}),
        json!({"sourceAppId": "bad id", "password": "pw"}),
        json!({"sourceAppId": 3, "password": "pw"}),
        json!({"sourceAppId": "my-app"}),
        json!({"sourceAppId": "my-app", "password": ""}),
    ] {
        let err = svc.login(&body, IP).await.unwrap_err();
        assert_eq!(
            code(&err),
            (ErrorKind::BadRequest, "INVALID_BODY"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn login_with_bad_credentials_is_401_and_counted() {
    let mut m = Mocks::new().hashing();
    m.throttle.expect_failures_since().returning(|_, _| Ok(0));
    m.throttle
        .expect_record_failure()
        .withf(|key, _, _| key.starts_with("users-login:"))
        .times(4)
        .returning(|_, _, _| Ok(1));
    m.throttle
        .expect_forget_failures_before()
        .withf(|prefix, _| prefix == "users-login:")
        .times(1)
        .returning(|_, _| Ok(0));
    m.store
        .expect_get_app()
        .returning(|id| Ok((id == "my-app").then(|| app(id, AppRole::User))));
    m.hasher
        .expect_verify()
        .times(2)
        .returning(|_, _| PasswordCheck {
            valid: false,
            needs_rehash: false,
        });
    let svc = m.service();
    for id in ["my-app", "ghost-app"] {
        let err = svc
            .login(&json!({"sourceAppId": id, "password": "nope"}), IP)
            .await
            .unwrap_err();
        assert_eq!(
            code(&err),
            (ErrorKind::Unauthenticated, "INVALID_CREDENTIALS")
        );
    }
}

#[tokio::test]
async fn login_is_rate_limited_per_ip() {
    let mut m = Mocks::new();
    m.throttle.expect_failures_since().returning(|key, _| {
        Ok(if key == users_login_key("ip", IP) {
            50
        } else {
            0
        })
    });
    let err = m
        .service()
        .login(&json!({"sourceAppId": "my-app", "password": "pw"}), IP)
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::RateLimited(900), "RATE_LIMITED"));
}

#[tokio::test]
async fn logout_deletes_the_session_server_side() {
    let mut m = Mocks::new();
    m.store
        .expect_delete_session()
        .withf(|hash| hash == sha256_hex("sid-value"))
        .times(1)
        .returning(|_| Ok(true));
    let svc = m.service();
    let ok = json!({"ok": true});
    assert_eq!(
        serde_json::to_value(svc.logout(Some("sid-value")).await.unwrap()).unwrap(),
        ok
    );
    assert_eq!(
        serde_json::to_value(svc.logout(None).await.unwrap()).unwrap(),
        ok
    );
}

#[tokio::test]
async fn session_reflects_the_app_and_expires() {
    let mut m = Mocks::new();
    m.store.expect_get_session().returning(|hash, now| {
        assert_eq!(now.millis(), NOW_MS);
        let session = |expires: i64| UsersSession {
            token_hash: hash.to_owned(),
            source_app_id: if hash == sha256_hex("orphan") {
                "gone"
            } else {
                "my-app"
            }
            .into(),
            expires_at: at(expires),
        };
        Ok(
            if hash == sha256_hex("live") || hash == sha256_hex("orphan") {
                Some(session(NOW_MS + 1))
            } else if hash == sha256_hex("stale") {
                // an adapter that forgot the expiry filter
                Some(session(NOW_MS))
            } else {
                None
            },
        )
    });
    m.store
        .expect_get_app()
        .returning(|id| Ok((id == "my-app").then(|| app(id, AppRole::User))));
    let svc = m.service();
    let live = svc.session(Some("live")).await.unwrap();
    assert_eq!(
        serde_json::to_value(live).unwrap(),
        json!({"sourceAppId": "my-app", "role": "user"})
    );
    for token in [
        None,
        Some(""),
        Some("expired"),
        Some("stale"),
        Some("orphan"),
    ] {
        let err = svc.session(token).await.unwrap_err();
        assert_eq!(
            code(&err),
            (ErrorKind::Unauthenticated, "NOT_AUTHENTICATED"),
            "{token:?}"
        );
        assert_eq!(err.message, "Not authenticated");
    }
}

#[tokio::test]
async fn app_users_are_scoped_newest_first_and_clamped() {
    let mut m = Mocks::new();
    m.store
        .expect_list_records()
        .withf(|app, skip, limit| app.as_deref() == Some("my-app") && (*skip, *limit) == (0, 1000))
        .times(2)
        .returning(|_, _, _| Ok(vec![record(RECORD_ID, "my-app", "user@example.com")]));
    m.store
        .expect_list_records()
        .withf(|_, skip, limit| (*skip, *limit) == (20, 10))
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let svc = m.service();
    let page = svc.list_users(&user_session(), None, None).await.unwrap();
    assert_eq!(
        serde_json::to_value(page).unwrap(),
        json!({"users": [{
            "id": RECORD_ID,
            "email": "user@example.com",
            "data": {"fullName": "John Doe"},
            "schemaVersion": 1,
            "createdAt": NOW_ISO,
            "updatedAt": NOW_ISO
        }]})
    );
    svc.list_users(&user_session(), Some(5000), Some(0))
        .await
        .unwrap();
    svc.list_users(&user_session(), Some(10), Some(20))
        .await
        .unwrap();
}

// ---------------------------------------------------------------- admin

#[tokio::test]
async fn admin_routes_refuse_user_apps() {
    let svc = Mocks::new().service();
    let who = user_session();
    let errors = [
        svc.list_apps(&who).await.unwrap_err(),
        svc.create_app(&who, &json!({"sourceAppId": "x"}))
            .await
            .unwrap_err(),
        svc.delete_app(&who, "x").await.unwrap_err(),
        svc.admin_users(&who, None, None, None).await.unwrap_err(),
        svc.get_schema(&who, "x").await.unwrap_err(),
        svc.put_schema(&who, "x", &json!({"fields": []}))
            .await
            .unwrap_err(),
    ];
    for err in errors {
        assert_eq!(code(&err), (ErrorKind::Forbidden, "ADMIN_REQUIRED"));
    }
}

#[tokio::test]
async fn list_apps_shows_id_role_and_creation() {
    let mut m = Mocks::new();
    m.store.expect_list_apps().returning(|| {
        Ok(vec![
            app("admin", AppRole::Admin),
            app("my-app", AppRole::User),
        ])
    });
    let apps = m.service().list_apps(&admin_session()).await.unwrap();
    let created = at(NOW_MS - 1000).to_iso();
    assert_eq!(
        serde_json::to_value(apps).unwrap(),
        json!({"apps": [
            {"sourceAppId": "admin", "role": "admin", "createdAt": created},
            {"sourceAppId": "my-app", "role": "user", "createdAt": created}
        ]})
    );
}

#[tokio::test]
async fn create_app_generates_a_password_and_the_default_schema() {
    let mut m = Mocks::new().hashing();
    m.store
        .expect_create_app()
        .withf(|a, schema| {
            a.source_app_id == "new-app.v2_x"
                && a.role == AppRole::User
                && a.password_hash == format!("hash({APP_PASSWORD})")
                && a.created_at.millis() == NOW_MS
                && *schema == default_schema()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let out = m
        .service()
        .create_app(&admin_session(), &json!({"sourceAppId": "new-app.v2_x"}))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"sourceAppId": "new-app.v2_x", "role": "user", "password": APP_PASSWORD})
    );
}

#[tokio::test]
async fn create_app_rejects_bad_and_taken_ids() {
    let mut m = Mocks::new().hashing();
    m.store
        .expect_create_app()
        .returning(|_, _| Err(StoreError::Conflict("users_apps.pk".into())));
    let svc = m.service();
    let long = "a".repeat(81);
    for body in [
        json!({}),
        json!({"sourceAppId": ""}),
        json!({"sourceAppId": "has space"}),
        json!({"sourceAppId": "slash/no"}),
        json!({"sourceAppId": long}),
    ] {
        let err = svc.create_app(&admin_session(), &body).await.unwrap_err();
        assert_eq!(
            code(&err),
            (ErrorKind::BadRequest, "INVALID_APP_ID"),
            "{body}"
        );
    }
    let err = svc
        .create_app(&admin_session(), &json!({"sourceAppId": "a".repeat(80)}))
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::Conflict, "APP_EXISTS"));
}

#[tokio::test]
async fn delete_app_reports_deleted_users_and_protects_admin_apps() {
    let mut m = Mocks::new();
    m.store.expect_get_app().returning(|id| {
        Ok(match id {
            "admin" => Some(app(id, AppRole::Admin)),
            "my-app" => Some(app(id, AppRole::User)),
            _ => None,
        })
    });
    m.store
        .expect_delete_app()
        .withf(|id| id == "my-app")
        .times(1)
        .returning(|_| Ok(Some(42)));
    let svc = m.service();
    let out = svc.delete_app(&admin_session(), "my-app").await.unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"ok": true, "deletedUsers": 42})
    );
    let err = svc.delete_app(&admin_session(), "admin").await.unwrap_err();
    assert_eq!(
        code(&err),
        (ErrorKind::BadRequest, "CANNOT_DELETE_ADMIN_APP")
    );
    let err = svc.delete_app(&admin_session(), "ghost").await.unwrap_err();
    assert_eq!(code(&err), (ErrorKind::NotFound, "APP_NOT_FOUND"));
}

#[tokio::test]
async fn admin_users_default_clamp_and_filter() {
    let mut m = Mocks::new();
    m.store
        .expect_list_records()
        .withf(|app, skip, limit| app.is_none() && (*skip, *limit) == (0, 50))
        .times(1)
        .returning(|_, _, _| Ok(vec![record(RECORD_ID, "my-app", "user@example.com")]));
    m.store
        .expect_list_records()
        .withf(|app, skip, limit| app.as_deref() == Some("my-app") && (*skip, *limit) == (7, 200))
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    m.store
        .expect_list_records()
        .withf(|app, _, limit| app.is_none() && *limit == 1)
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let svc = m.service();
    let page = svc
        .admin_users(&admin_session(), None, None, None)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(page).unwrap(),
        json!({
            "users": [{
                "id": RECORD_ID,
                "sourceAppId": "my-app",
                "email": "user@example.com",
                "data": {"fullName": "John Doe"},
                "schemaVersion": 1,
                "createdAt": NOW_ISO,
                "updatedAt": NOW_ISO
            }],
            "limit": 50,
            "skip": 0
        })
    );
    let page = svc
        .admin_users(&admin_session(), Some("my-app"), Some(10_000), Some(7))
        .await
        .unwrap();
    assert_eq!((page.limit, page.skip), (200, 7));
    let page = svc
        .admin_users(&admin_session(), Some(""), Some(0), None)
        .await
        .unwrap();
    assert_eq!(page.limit, 1);
}

#[tokio::test]
async fn get_schema_of_known_and_unknown_apps() {
    let mut m = Mocks::new();
    m.store
        .expect_current_schema()
        .returning(|id| Ok((id == "my-app").then(strict_schema)));
    let svc = m.service();
    assert_eq!(
        svc.get_schema(&admin_session(), "my-app").await.unwrap(),
        strict_schema()
    );
    let err = svc.get_schema(&admin_session(), "ghost").await.unwrap_err();
    assert_eq!(code(&err), (ErrorKind::NotFound, "APP_NOT_FOUND"));
}

#[tokio::test]
async fn put_schema_validates_and_stores_the_next_version() {
    let mut m = Mocks::new();
    m.store
        .expect_get_app()
        .returning(|id| Ok((id != "ghost").then(|| app(id, AppRole::User))));
    m.store
        .expect_save_schema()
        .withf(|id, s| {
            id == "my-app" && !s.reject_unknown && s.fields.len() == 1 && s.fields[0].key == "age"
        })
        .times(1)
        .returning(|_, s| {
            Ok(UserSchema {
                version: 2,
                ..s.clone()
            })
        });
    m.store
        .expect_save_schema()
        .withf(|id, _| id == "racing")
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = m.service();
    let body = json!({
        "version": 99,
        "rejectUnknown": false,
        "fields": [{"key": "age", "label": "Age", "kind": "number", "min": 0, "max": 120}]
    });
    let saved = svc
        .put_schema(&admin_session(), "my-app", &body)
        .await
        .unwrap();
    assert_eq!(saved.version, 2);
    assert_eq!(
        serde_json::to_value(&saved).unwrap()["fields"][0],
        json!({"key": "age", "label": "Age", "kind": "number", "required": false, "min": 0, "max": 120})
    );

    let err = svc
        .put_schema(
            &admin_session(),
            "my-app",
            &json!({"fields": [{"key": "1bad", "kind": "text"}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "INVALID_SCHEMA"));
    assert!(err.details.is_some());
    let err = svc
        .put_schema(&admin_session(), "ghost", &body)
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::NotFound, "APP_NOT_FOUND"));
    let err = svc
        .put_schema(&admin_session(), "racing", &body)
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::NotFound, "APP_NOT_FOUND"));
}

#[tokio::test]
async fn bootstrap_admin_app_only_when_no_admin_app_exists() {
    let mut m = Mocks::new();
    m.store.expect_list_apps().returning(|| {
        Ok(vec![
            app("my-app", AppRole::User),
            app("root", AppRole::Admin),
        ])
    });
    assert_eq!(
        m.service().bootstrap_admin_app(None, None).await.unwrap(),
        None
    );

    let mut m = Mocks::new().hashing();
    m.store
        .expect_list_apps()
        .returning(|| Ok(vec![app("my-app", AppRole::User)]));
    m.store
        .expect_create_app()
        .withf(|a, s| {
            a.source_app_id == "admin"
                && a.role == AppRole::Admin
                && a.password_hash == format!("hash({APP_PASSWORD})")
                && *s == default_schema()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    assert_eq!(
        m.service().bootstrap_admin_app(None, None).await.unwrap(),
        Some(APP_PASSWORD.to_owned())
    );
}

#[tokio::test]
async fn bootstrap_admin_app_with_operator_values() {
    let mut m = Mocks::new().hashing();
    m.store.expect_list_apps().returning(|| Ok(vec![]));
    m.store
        .expect_create_app()
        .withf(|a, _| a.source_app_id == "ops" && a.password_hash == "hash(given)")
        .times(1)
        .returning(|_, _| Ok(()));
    m.store
        .expect_create_app()
        .withf(|a, _| a.source_app_id == "my-app")
        .returning(|_, _| Err(StoreError::Conflict("pk".into())));
    let svc = m.service();
    assert_eq!(
        svc.bootstrap_admin_app(Some("ops"), Some("given"))
            .await
            .unwrap(),
        None
    );
    let err = svc
        .bootstrap_admin_app(Some("my-app"), Some("given"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::Conflict, "APP_EXISTS"));
    let err = svc
        .bootstrap_admin_app(Some("bad id"), None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "INVALID_APP_ID"));
    let err = svc
        .bootstrap_admin_app(Some("ops"), Some(""))
        .await
        .unwrap_err();
    assert_eq!(code(&err), (ErrorKind::BadRequest, "INVALID_BODY"));
}

#[tokio::test]
async fn bootstrap_admin_app_that_loses_the_race_to_another_instance_succeeds() {
    let mut m = Mocks::new().hashing();
    // No admin app when listed; the other instance's is there after the conflict.
    let mut listings = [vec![], vec![app("admin", AppRole::Admin)]].into_iter();
    m.store
        .expect_list_apps()
        .times(2)
        .returning(move || Ok(listings.next().unwrap_or_default()));
    m.store
        .expect_create_app()
        .times(1)
        .returning(|_, _| Err(StoreError::Conflict("pk".into())));
    assert_eq!(
        m.service()
            .bootstrap_admin_app(None, Some("given"))
            .await
            .unwrap(),
        None
    );
}
