//! The HTTP layer (actix-web): routes, auth extractors and the JSON error body. It depends
//! on the domain only and receives every port as `Arc<dyn Port>` ([`AppState::new`]).

mod auth;
mod error;
mod metrics;
mod middleware;
mod qr;
mod rate_limit;
mod routes;

pub use auth::{AdminUser, AuthUser, SyncUser};
pub use error::{ApiError, ErrorBody};
pub use routes::openapi::{document_json, ApiDoc};

use actix_web::{web, App, HttpServer};
use domain::ports::{Clock, IdGenerator, PasswordHasher, Stores, TokenSigner};
use domain::services::auth::{AccountPorts, AuthService, AuthSettings};
use domain::services::configs::ConfigService;
use domain::services::entities::EntityService;
use domain::services::sync::SyncService;
use domain::services::user_admin::UserAdminService;
use domain::services::users_api::{UsersApiPorts, UsersApiService, UsersApiSettings};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

/// Largest JSON body of a push (16 MiB).
pub const PUSH_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Largest JSON body of any other route (5 MiB, room for a config with forms).
pub const DEFAULT_BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Largest JSON body of a public Users-API sign-up (`POST /v1/users`, 64 KiB). Anyone who
/// knows an app id may post one per email, and an app's `GET /auth/users` returns up to
/// 1,000 records at once: the 5 MiB default would let one app's listing hold gigabytes.
pub const SIGNUP_BODY_LIMIT: usize = 64 * 1024;

/// Server facts shown by `/api/server-info` and used for artifact URLs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PUBLIC_BASE_URL` (no trailing slash); else derived from the request.
    pub public_base_url: Option<String>,
    /// `sqlite` or `postgres`.
    pub storage: &'static str,
    /// Access and refresh token lifetimes, login limits.
    pub auth: AuthSettings,
    /// Mark the Users-API session cookie `Secure` (on unless configured for plain HTTP; the
    /// server binary decides from `PUBLIC_BASE_URL` and `BIND`).
    pub secure_cookies: bool,
    /// Origins allowed to call the Users-API session routes (`ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// Sign-ups (`POST /v1/users`) allowed per client IP and minute.
    pub signups_per_minute: u32,
}

/// Everything a handler needs: the use-case services and the settings.
pub struct AppState {
    /// Login, tokens, authentication.
    pub auth: AuthService,
    /// User management.
    pub user_admin: UserAdminService,
    /// Program configs.
    pub configs: ConfigService,
    /// Push and pull.
    pub sync: SyncService,
    /// Entity queries and duplicates.
    pub entities: EntityService,
    /// The Users API.
    pub users_api: UsersApiService,
    /// Per-IP limit of public sign-ups.
    pub signup_limit: rate_limit::IpRateLimit,
    /// The storage ports (readiness probe).
    pub stores: Stores,
    /// Settings.
    pub settings: Settings,
}

impl AppState {
    /// Wires the services over one storage backend and the system adapters.
    pub fn new(
        stores: Stores,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        hasher: Arc<dyn PasswordHasher>,
        signer: Arc<dyn TokenSigner>,
        settings: Settings,
    ) -> Self {
        let ports = AccountPorts {
            users: stores.users.clone(),
            refresh_tokens: stores.refresh_tokens.clone(),
            login_throttle: stores.login_throttle.clone(),
            hasher,
            signer,
            clock: clock.clone(),
            ids: ids.clone(),
        };
        let users_api = UsersApiService::new(
            UsersApiPorts {
                store: stores.users_api.clone(),
                login_throttle: stores.login_throttle.clone(),
                hasher: ports.hasher.clone(),
                clock: clock.clone(),
                ids: ids.clone(),
            },
            UsersApiSettings::default(),
        );
        let auth = AuthService::new(ports.clone(), settings.auth.clone());
        let user_admin = UserAdminService::new(&ports, auth.principal_cache());
        AppState {
            auth,
            user_admin,
            configs: ConfigService::new(
                stores.configs.clone(),
                stores.events.clone(),
                clock.clone(),
                ids.clone(),
            ),
            sync: SyncService::new(
                stores.events.clone(),
                stores.entities.clone(),
                stores.configs.clone(),
                stores.audit.clone(),
                clock.clone(),
            ),
            users_api,
            signup_limit: rate_limit::IpRateLimit::per_minute(settings.signups_per_minute),
            entities: EntityService::new(
                stores.events.clone(),
                stores.entities.clone(),
                stores.configs.clone(),
                clock,
                ids,
            ),
            stores,
            settings,
        }
    }
}

/// Registers every route, the body limits and the JSON error handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::configure(cfg);
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// # Errors
/// When the listener cannot be used.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let origins = state.settings.allowed_origins.clone();
    let state = web::Data::new(state);
    let metrics = web::Data::new(metrics::Metrics::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .wrap(actix_web::middleware::from_fn(
                middleware::refuse_nul_in_url,
            ))
            .wrap(actix_web::middleware::from_fn(middleware::request_id))
            .wrap(middleware::cors(origins.clone()))
            .wrap(actix_web::middleware::from_fn(middleware::cors_answers))
            .configure(configure)
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .disable_signals()
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    server.await
}
