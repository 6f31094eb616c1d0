//! `datacollect`: the sync hub server. `datacollect` (or `datacollect serve`) runs it;
//! `datacollect migrate` applies migrations; `datacollect user create` adds an account.

mod config;

use clap::{Parser, Subcommand};
use config::Config;
use domain::ports::{Clock, IdGenerator, PasswordHasher, Stores, TokenSigner};
use domain::services::auth::AuthSettings;
use domain::services::user_admin::UserAdminService;
use http_api::{AppState, Settings};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use system_adapters::{Argon2Hasher, JwtSigner, RandomIds, SystemClock, MIN_SECRET_BYTES};

/// jemalloc instead of glibc's malloc, for SQLite's allocations too (it replaces `malloc`):
/// glibc keeps freed memory in per-thread arenas (an argon2 hash's 19 MiB, a pull page, a
/// page cache emptied by `shrink_memory`) for the life of the process, while jemalloc, with
/// the options in `.cargo/config.toml`, hands idle pages back to the OS after a quarter of a
/// second.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "datacollect", version, about = "DataCollect sync hub")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (what `/openapi.json` serves) and exit.
    Openapi,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from stdin, or generated and printed.
    Create {
        /// Email of the account.
        #[arg(long)]
        email: String,
        /// ADMIN or USER.
        #[arg(long, default_value = "USER")]
        role: String,
        /// Tenant (config id) the account may access; repeatable.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
    },
}

fn main() {
    if let Err(message) = real_main() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        print!("{}", http_api::document_json());
        return Ok(());
    }
    let config = Config::from_env()?;
    init_logs(config.json_logs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => open_stores(&config, false).map(|_| println!("migrations applied")),
            Command::Openapi => Ok(()),
            Command::User {
                command:
                    UserCommand::Create {
                        email,
                        role,
                        tenants,
                    },
            } => create_user(config, email, role, tenants).await,
        }
    })
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// How often a serving PostgreSQL store applies events stored but left unapplied.
const CATCH_UP_EVERY: Duration = Duration::from_secs(60);

/// Opens the store the URL names (migrations run on open); `serving`: with the background
/// work of a server (PostgreSQL's catch-up sweep), not for a one-off command.
fn open_stores(config: &Config, serving: bool) -> Result<(Stores, &'static str), String> {
    if config.is_postgres() {
        let store = postgres_store::PgStore::connect(&config.database_url.0)
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        if serving {
            store.start_catch_up_sweep(CATCH_UP_EVERY);
        }
        Ok((Stores::from_one(Arc::new(store)), "postgres"))
    } else {
        let store = sqlite_store::SqliteStore::open(&config.database_url.0)
            .map_err(|e| format!("SQLite: {e}"))?;
        Ok((Stores::from_one(Arc::new(store)), "sqlite"))
    }
}

/// `JWT_SECRET`, else the secret kept in `DATA_DIR/jwt-secret` (created on first start, mode 0600).
fn jwt_secret(config: &Config) -> Result<Vec<u8>, String> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.0.clone().into_bytes());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let secret = RandomIds.hex(32);
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a JWT secret");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(content.as_bytes())
        .map_err(|e| e.to_string())
}

fn state(config: &Config, stores: Stores, storage: &'static str) -> Result<AppState, String> {
    let secret = jwt_secret(config)?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
        ));
    }
    let signer: Arc<dyn TokenSigner> = Arc::new(JwtSigner::new(&secret)?);
    let mut auth = AuthSettings::default();
    if let Some(ttl) = config.access_ttl_secs {
        auth.access_ttl_secs = ttl;
    }
    if let Some(ttl) = config.refresh_ttl_secs {
        auth.refresh_ttl_secs = ttl;
    }
    let secure_cookies = config.secure_cookies();
    let settings = Settings {
        public_base_url: config.public_base_url.clone(),
        storage,
        auth,
        secure_cookies,
        allowed_origins: config.allowed_origins.clone(),
        signups_per_minute: config.signups_per_minute,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGenerator> = Arc::new(RandomIds);
    let hasher: Arc<dyn PasswordHasher> = Arc::new(Argon2Hasher::default());
    Ok(AppState::new(stores, clock, ids, hasher, signer, settings))
}

async fn serve(config: Config) -> Result<(), String> {
    let (stores, storage) = open_stores(&config, true)?;
    let state = state(&config, stores, storage)?;
    let admin = state
        .user_admin
        .bootstrap_admin(
            config.admin_email.as_deref(),
            config.admin_password.as_ref().map(|s| s.0.as_str()),
        )
        .await
        .map_err(|e| e.message)?;
    if let Some(admin) = admin {
        match admin.generated_password {
            Some(password) => println!(
                "\nFirst admin created: {}\nPassword (shown once): {password}\n",
                admin.email
            ),
            None => tracing::info!(email = %admin.email, "first admin created"),
        }
    }
    let users_admin = state
        .users_api
        .bootstrap_admin_app(
            config.users_admin_app_id.as_deref(),
            config.users_admin_password.as_ref().map(|s| s.0.as_str()),
        )
        .await
        .map_err(|e| e.message)?;
    if let Some(password) = users_admin {
        println!(
            "Users API admin app created: {}\nPassword (shown once): {password}\n",
            config.users_admin_app_id.as_deref().unwrap_or("admin")
        );
    }
    let listener = std::net::TcpListener::bind((config.bind.as_str(), config.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.bind, config.port))?;
    tracing::info!(address = %format!("http://{}:{}", config.bind, config.port), storage, "DataCollect sync hub ready");
    http_api::run(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn create_user(
    config: Config,
    email: String,
    role: String,
    tenants: Vec<String>,
) -> Result<(), String> {
    let (stores, storage) = open_stores(&config, false)?;
    let state = state(&config, stores, storage)?;
    let mut password = String::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        std::io::stdin()
            .read_to_string(&mut password)
            .map_err(|e| e.to_string())?;
    }
    // One line: the line ending is not part of the password (spaces are).
    let mut password = password.trim_end_matches(['\r', '\n']).to_owned();
    let generated = password.is_empty();
    if generated {
        password = RandomIds.alphanumeric(20);
    }
    let system = domain::principal::Principal {
        user_id: 0,
        email: "cli".into(),
        role: domain::ports::Role::Admin,
        tenant_ids: vec![],
    };
    let body = serde_json::json!({"email": email, "password": password, "role": role.to_uppercase(), "tenantIds": tenants});
    let users: &UserAdminService = &state.user_admin;
    let created = users.create(&system, &body).await.map_err(|e| e.message)?;
    println!("created user {} ({email}, {role})", created.id);
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}
