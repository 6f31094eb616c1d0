//! Command line and the order in which scenarios run.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

use crate::api::Api;
use crate::error::BenchError;
use crate::procstat::{
    clock_ticks_per_second, machine_usage, read_machine, MachineTicks, Sampler, Usage,
};
use crate::report::{Machine, Report};
use crate::scenario::pull::{run_pull, PullOptions};
use crate::scenario::push::{run_push, PushOptions};
use crate::scenario::read::{run_read, ReadClient, ReadOptions};

/// Load generator for the DataCollect sync hub, speaking only the upstream-compatible API.
#[derive(Debug, Parser)]
#[command(name = "datacollect-bench", version)]
pub struct Cli {
    /// Server base URL (the only address the tool sends traffic to).
    #[arg(long, global = true, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Login email.
    #[arg(
        long,
        global = true,
        env = "BENCH_EMAIL",
        default_value = "admin@localhost"
    )]
    pub email: String,
    /// Login password (prefer the BENCH_PASSWORD environment variable).
    #[arg(
        long,
        global = true,
        env = "BENCH_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub password: String,
    /// Tenant (config id) to create and use.
    #[arg(long, global = true, default_value = "bench")]
    pub config_id: String,
    /// Sample CPU and RSS of this server process during each scenario.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Also write every figure to this JSON file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Upload the config as multipart field `config` (upstream) instead of a JSON body.
    #[arg(long, global = true)]
    pub multipart: bool,
    /// Label of the storage backend, recorded in the report.
    #[arg(long, global = true)]
    pub backend: Option<String>,
    /// Start-to-ready time measured by the caller, recorded in the report.
    #[arg(long, global = true)]
    pub start_to_ready_ms: Option<f64>,
    /// Timeout of one request, seconds.
    #[arg(long, global = true, default_value_t = 120)]
    pub request_timeout_secs: u64,
    /// Pause before the pull and before the read when several scenarios run in sequence,
    /// milliseconds: each scenario starts on a quiet server (the previous one's memory given
    /// back, its disk writes flushed) and its CPU and RSS samples are its own.
    #[arg(long, global = true, default_value_t = 2000)]
    pub settle_ms: u64,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Push N household-shaped events in batches from concurrent clients.
    Push {
        /// Push parameters.
        #[command(flatten)]
        push: PushArgs,
        /// Create (upload) the config first.
        #[arg(long)]
        create_config: bool,
    },
    /// Full resync of the tenant following nextCursor.
    Pull(PullArgs),
    /// C connections hammering a cheap authenticated GET.
    Read(ReadArgs),
    /// Login, create the config, then push, pull and read in sequence.
    All {
        /// Push parameters.
        #[command(flatten)]
        push: PushArgs,
        /// Pull parameters.
        #[command(flatten)]
        pull: PullArgs,
        /// Read parameters.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Poll GET <path> every few ms until it answers 200; print milliseconds since
    /// --started-at-ns (or since this command started).
    WaitReady(WaitArgs),
}

/// Push parameters.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Events to push.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub batch: u32,
    /// Concurrent pushing clients.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clients: u32,
    /// Stop starting batches after this many seconds.
    #[arg(long, default_value_t = 1_800)]
    pub push_max_seconds: u64,
}

/// Pull parameters.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Page size asked for.
    #[arg(long, default_value_t = 5_000)]
    pub limit: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub pull_max_seconds: u64,
    /// Give up after this many pages.
    #[arg(long, default_value_t = 1_000_000)]
    pub pull_max_pages: u64,
}

/// Read parameters.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Path of the cheap authenticated GET.
    #[arg(long, default_value = "/api/users/check-token")]
    pub path: String,
    /// HTTP client driving the connections.
    #[arg(long, value_enum, default_value_t = ReadClient::Hyper)]
    pub client: ReadClient,
}

/// wait-ready parameters.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// When the server was spawned, nanoseconds since the Unix epoch (`date +%s%N`).
    #[arg(long)]
    pub started_at_ns: Option<u128>,
    /// Health path.
    #[arg(long, default_value = "/health")]
    pub health_path: String,
    /// Poll interval, milliseconds.
    #[arg(long, default_value_t = 5)]
    pub interval_ms: u64,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

/// `^[A-Za-z0-9][A-Za-z0-9_-]*$` (the upstream config id rule; also keeps URLs unencoded).
pub fn valid_config_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Runs the command; prints the table (or the wait-ready figure) on stdout.
pub async fn run(cli: Cli) -> Result<(), BenchError> {
    if !valid_config_id(&cli.config_id) {
        return Err(BenchError::Usage(format!(
            "--config-id {:?} must match ^[A-Za-z0-9][A-Za-z0-9_-]*$",
            cli.config_id
        )));
    }
    if let Command::WaitReady(w) = &cli.command {
        let ms = wait_ready(&cli.url, w).await?;
        println!("{ms:.1}");
        return Ok(());
    }
    let pool = match &cli.command {
        Command::Push { push, .. } => push.clients,
        Command::All { push, read, .. } => push.clients.max(read.connections),
        Command::Read(r) => r.connections,
        _ => 1,
    };
    let mut api = Api::new(
        &cli.url,
        pool as usize,
        Duration::from_secs(cli.request_timeout_secs.max(1)),
    )?;
    let mut report = Report {
        tool: format!("datacollect-bench {}", env!("CARGO_PKG_VERSION")),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        url: api.base().to_owned(),
        backend: cli.backend.clone(),
        config_id: cli.config_id.clone(),
        machine: Machine::detect(),
        start_to_ready_ms: cli.start_to_ready_ms,
        ..Report::default()
    };
    let t = Instant::now();
    api.login(&cli.email, &cli.password).await?;
    report.login_ms = Some(t.elapsed().as_secs_f64() * 1000.0);

    let create = matches!(
        cli.command,
        Command::All { .. }
            | Command::Push {
                create_config: true,
                ..
            }
    );
    if create {
        let t = Instant::now();
        api.create_config(&cli.config_id, cli.multipart).await?;
        report.create_config_ms = Some(t.elapsed().as_secs_f64() * 1000.0);
    }
    let ticks = clock_ticks_per_second();
    let (push, pull, read) = match &cli.command {
        Command::Push { push, .. } => (Some(push), None, None),
        Command::Pull(p) => (None, Some(p), None),
        Command::Read(r) => (None, None, Some(r)),
        Command::All { push, pull, read } => (Some(push), Some(pull), Some(read)),
        Command::WaitReady(_) => (None, None, None),
    };
    if let Some(p) = push {
        let opts = PushOptions {
            config_id: cli.config_id.clone(),
            events: p.events,
            batch: p.batch as usize,
            clients: p.clients,
            max_duration: Duration::from_secs(p.push_max_seconds),
        };
        let probe = Probe::start(cli.server_pid);
        let mut r = run_push(&api, &opts).await;
        r.usage = probe.finish(ticks);
        report.push = Some(r);
    }
    let settle = Duration::from_millis(cli.settle_ms);
    if let Some(p) = pull {
        if push.is_some() {
            tokio::time::sleep(settle).await;
        }
        let opts = PullOptions {
            config_id: cli.config_id.clone(),
            limit: p.limit,
            max_duration: Duration::from_secs(p.pull_max_seconds),
            max_pages: p.pull_max_pages,
        };
        let probe = Probe::start(cli.server_pid);
        let mut r = run_pull(&api, &opts).await;
        r.usage = probe.finish(ticks);
        report.pull = Some(r);
    }
    if let Some(r) = read {
        if push.is_some() || pull.is_some() {
            tokio::time::sleep(settle).await;
        }
        let opts = ReadOptions {
            connections: r.connections,
            duration: Duration::from_secs(r.seconds),
            path: r.path.clone(),
            client: r.client,
        };
        let probe = Probe::start(cli.server_pid);
        let result = run_read(&api, &opts).await;
        let usage = probe.finish(ticks);
        let mut r = result?;
        r.usage = usage;
        report.read = Some(r);
    }
    report.evaluate();
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        println!("\nJSON written to {}", path.display());
    }
    Ok(())
}

/// Samplers of the server (optional) and of this tool, and the machine's CPU time, during
/// one scenario.
struct Probe {
    server: Option<Sampler>,
    client: Sampler,
    machine: Option<MachineTicks>,
}

impl Probe {
    fn start(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.map(Sampler::start),
            client: Sampler::start(std::process::id()),
            machine: read_machine(),
        }
    }

    fn finish(self, ticks: u64) -> Usage {
        let machine = self
            .machine
            .zip(read_machine())
            .and_then(|(start, end)| machine_usage(start, end));
        Usage {
            server: self.server.map(|s| s.finish(ticks)),
            client: Some(self.client.finish(ticks)),
            machine,
        }
    }
}

/// Polls the health path until 200; milliseconds since `started_at_ns` (or since the call).
async fn wait_ready(url: &str, w: &WaitArgs) -> Result<f64, BenchError> {
    let origin_ns = w.started_at_ns.unwrap_or_else(now_ns);
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(1_000))
        .build()?;
    let health = format!("{}{}", url.trim_end_matches('/'), w.health_path);
    let give_up = Instant::now() + Duration::from_millis(w.timeout_ms);
    loop {
        if let Ok(resp) = http.get(&health).send().await {
            if resp.status() == reqwest::StatusCode::OK {
                let ready_ns = now_ns();
                return Ok(ready_ns.saturating_sub(origin_ns) as f64 / 1e6);
            }
        }
        if Instant::now() >= give_up {
            return Err(BenchError::Protocol(format!(
                "{health} did not answer 200 within {} ms",
                w.timeout_ms
            )));
        }
        tokio::time::sleep(Duration::from_millis(w.interval_ms)).await;
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_ids() {
        assert!(valid_config_id("bench"));
        assert!(valid_config_id("Bench_2-x"));
        assert!(!valid_config_id(""));
        assert!(!valid_config_id("-bench"));
        assert!(!valid_config_id("a&b"));
        assert!(!valid_config_id("a b"));
    }

    #[test]
    fn command_line_defaults_and_all() {
        let cli = Cli::try_parse_from(["datacollect-bench", "all", "--events", "2000"]).unwrap();
        assert_eq!(cli.url, "http://127.0.0.1:3000");
        assert_eq!(cli.config_id, "bench");
        let Command::All { push, pull, read } = cli.command else {
            panic!("not all")
        };
        assert_eq!((push.events, push.batch, push.clients), (2000, 100, 4));
        assert_eq!(pull.limit, 5000);
        assert_eq!((read.connections, read.seconds), (32, 10));
        assert_eq!(read.path, "/api/users/check-token");
        assert_eq!(read.client, ReadClient::Hyper);
        assert!(Cli::try_parse_from(["datacollect-bench", "push", "--batch", "0"]).is_err());
        let cli = Cli::try_parse_from([
            "datacollect-bench",
            "read",
            "--client",
            "reqwest",
            "--url",
            "http://127.0.0.1:9",
            "--server-pid",
            "42",
        ])
        .unwrap();
        assert_eq!(cli.server_pid, Some(42));
        assert!(matches!(
            cli.command,
            Command::Read(ReadArgs {
                client: ReadClient::Reqwest,
                ..
            })
        ));
    }
}
