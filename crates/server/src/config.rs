//! Configuration from the environment (SPEC §6). Secrets are wrapped so `Debug` redacts them.

use std::fmt;
use std::path::PathBuf;

/// A value that never appears in logs or `Debug` output.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (or legacy `POSTGRES`); default `sqlite://<DATA_DIR>/datacollect.db`.
    pub database_url: Secret,
    /// `DATA_DIR` (default `data`): SQLite file and the generated JWT secret.
    pub data_dir: PathBuf,
    /// `BIND` (default 127.0.0.1).
    pub bind: String,
    /// `PORT` (legacy `SYNC_SERVER_PORT`), default 3000.
    pub port: u16,
    /// `JWT_SECRET` (≥ 32 bytes); generated and kept in `DATA_DIR` when absent.
    pub jwt_secret: Option<Secret>,
    /// `ADMIN_EMAIL` of the first admin.
    pub admin_email: Option<String>,
    /// `ADMIN_PASSWORD` of the first admin.
    pub admin_password: Option<Secret>,
    /// `USERS_ADMIN_APP_ID` of the Users-API admin app (default `admin`).
    pub users_admin_app_id: Option<String>,
    /// `USERS_ADMIN_PASSWORD` of the Users-API admin app (random and printed when unset).
    pub users_admin_password: Option<Secret>,
    /// `PUBLIC_BASE_URL` for artifacts.
    pub public_base_url: Option<String>,
    /// `ALLOWED_ORIGINS` (comma-separated) that may call the Users-API session routes.
    pub allowed_origins: Vec<String>,
    /// `SIGNUPS_PER_MINUTE` per client IP on `POST /v1/users` (default 60).
    pub signups_per_minute: u32,
    /// `LOG_FORMAT=json` for JSON logs.
    pub json_logs: bool,
    /// `ACCESS_TOKEN_TTL_SECS` (default 3600).
    pub access_ttl_secs: Option<u64>,
    /// `REFRESH_TOKEN_TTL_SECS` (default 30 days).
    pub refresh_ttl_secs: Option<u64>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// A message naming the variable that is malformed.
    pub fn from_env() -> Result<Self, String> {
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = var("DATABASE_URL")
            .or_else(|| var("POSTGRES"))
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("datacollect.db").display()));
        let port = match var("PORT").or_else(|| var("SYNC_SERVER_PORT")) {
            Some(p) => p
                .parse()
                .map_err(|_| "PORT must be a port number".to_string())?,
            None => 3000,
        };
        let number = |name: &str| -> Result<Option<u64>, String> {
            var(name)
                .map(|v| {
                    v.parse()
                        .map_err(|_| format!("{name} must be a number of seconds"))
                })
                .transpose()
        };
        Ok(Config {
            database_url: Secret(database_url),
            data_dir,
            bind: var("BIND").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            jwt_secret: var("JWT_SECRET").map(Secret),
            admin_email: var("ADMIN_EMAIL"),
            admin_password: var("ADMIN_PASSWORD").map(Secret),
            users_admin_app_id: var("USERS_ADMIN_APP_ID"),
            users_admin_password: var("USERS_ADMIN_PASSWORD").map(Secret),
            public_base_url: var("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            allowed_origins: var("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            signups_per_minute: match var("SIGNUPS_PER_MINUTE") {
                Some(v) => v
                    .parse()
                    .map_err(|_| "SIGNUPS_PER_MINUTE must be a number".to_string())?,
                None => 60,
            },
            json_logs: var("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
            access_ttl_secs: number("ACCESS_TOKEN_TTL_SECS")?,
            refresh_ttl_secs: number("REFRESH_TOKEN_TTL_SECS")?,
        })
    }

    /// Whether the Users-API session cookie is marked `Secure`: yes unless the server is
    /// configured for plain-HTTP use — a `PUBLIC_BASE_URL` starting with `http://`, or no
    /// `PUBLIC_BASE_URL` while listening on a loopback address only (a local run; browsers
    /// would not send a `Secure` cookie back over plain HTTP to any other host). A server
    /// reachable from the network without a public URL is presumed behind TLS.
    pub fn secure_cookies(&self) -> bool {
        match &self.public_base_url {
            Some(url) => !url.to_ascii_lowercase().starts_with("http://"),
            None => !self.bind_is_loopback(),
        }
    }

    fn bind_is_loopback(&self) -> bool {
        self.bind.eq_ignore_ascii_case("localhost")
            || self
                .bind
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        let url = &self.database_url.0;
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_secure_unless_configured_for_plain_http() {
        let config = |bind: &str, url: Option<&str>| Config {
            bind: bind.into(),
            public_base_url: url.map(str::to_owned),
            ..Config::from_env().unwrap()
        };
        for (bind, url, secure) in [
            ("127.0.0.1", None, false),
            ("::1", None, false),
            ("localhost", None, false),
            ("0.0.0.0", None, true),
            ("10.1.2.3", None, true),
            ("0.0.0.0", Some("https://sync.example.org"), true),
            ("127.0.0.1", Some("https://sync.example.org"), true),
            ("0.0.0.0", Some("http://10.1.2.3:3000"), false),
            ("0.0.0.0", Some("HTTP://sync.lan"), false),
        ] {
            assert_eq!(
                config(bind, url).secure_cookies(),
                secure,
                "BIND={bind} PUBLIC_BASE_URL={url:?}"
            );
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Secret("hunter2-very-secret".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
