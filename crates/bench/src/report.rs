//! The whole run's figures: JSON document, SPEC §8 checks and the stdout table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::procstat::Usage;
use crate::scenario::pull::PullReport;
use crate::scenario::push::PushReport;
use crate::scenario::read::ReadReport;

/// Every figure of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `datacollect-bench <version>`.
    pub tool: String,
    /// When the run started (UTC).
    pub started_at: String,
    /// Server base URL.
    pub url: String,
    /// Free label, e.g. `sqlite` or `postgres`.
    pub backend: Option<String>,
    /// Tenant used.
    pub config_id: String,
    /// Where it ran.
    pub machine: Machine,
    /// Spawn to first 200 from `/health` (measured by the caller, e.g. `scripts/bench`).
    pub start_to_ready_ms: Option<f64>,
    /// Duration of the login request.
    pub login_ms: Option<f64>,
    /// Duration of the config upload.
    pub create_config_ms: Option<f64>,
    /// Push scenario.
    pub push: Option<PushReport>,
    /// Pull scenario.
    pub pull: Option<PullReport>,
    /// Read scenario.
    pub read: Option<ReadReport>,
    /// SPEC §8 targets against the measured figures.
    pub checks: Vec<Check>,
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// `MemTotal` of /proc/meminfo, GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// Reads /proc (empty fields where unavailable).
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpu_model: cpu_model(&cpuinfo).unwrap_or_default(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: crate::procstat::parse_status_kib(&meminfo, "MemTotal")
                .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0)),
        }
    }
}

/// The first `model name` of /proc/cpuinfo contents.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_owned())
    })
}

/// One SPEC §8 target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is compared.
    pub name: String,
    /// `>=` or `<=`.
    pub op: &'static str,
    /// The target value.
    pub target: f64,
    /// Unit of both values.
    pub unit: &'static str,
    /// What was measured (absent when the scenario did not run).
    pub measured: Option<f64>,
    /// Whether the target is met.
    pub pass: Option<bool>,
}

fn check(
    name: String,
    op: &'static str,
    target: f64,
    unit: &'static str,
    measured: Option<f64>,
) -> Check {
    let pass = measured.map(|m| if op == ">=" { m >= target } else { m <= target });
    Check {
        name,
        op,
        target,
        unit,
        measured,
        pass,
    }
}

impl Report {
    /// Fills [`Report::checks`] from the scenario figures (SPEC §8).
    pub fn evaluate(&mut self) {
        let mut checks = Vec::new();
        if let Some(p) = &self.push {
            checks.push(check(
                format!("push, batches of {}", p.batch_size),
                ">=",
                20_000.0,
                "events/s",
                Some(p.events_per_second),
            ));
            checks.push(check(
                format!(
                    "push flatness to {} events (last/first tenth)",
                    p.events_acknowledged
                ),
                ">=",
                0.8,
                "ratio",
                p.flatness_last_over_first,
            ));
        }
        if let Some(p) = &self.pull {
            checks.push(check(
                "full pull".into(),
                ">=",
                100_000.0,
                "events/s",
                Some(p.events_per_second),
            ));
        }
        if let Some(r) = &self.read {
            checks.push(check(
                format!("cheap GET, {} connections", r.connections),
                ">=",
                30_000.0,
                "req/s",
                Some(r.requests_per_second),
            ));
            checks.push(check(
                "cheap GET p99".into(),
                "<=",
                5.0,
                "ms",
                (r.latency.count > 0).then_some(r.latency.p99_ms),
            ));
            if let Some(s) = &r.usage.server {
                checks.push(check(
                    "server peak RSS under the read load".into(),
                    "<=",
                    40.0,
                    "MiB",
                    Some(s.peak_rss_mib),
                ));
            }
        }
        let hwm = [
            self.push.as_ref().and_then(|p| p.usage.server.as_ref()),
            self.pull.as_ref().and_then(|p| p.usage.server.as_ref()),
            self.read.as_ref().and_then(|p| p.usage.server.as_ref()),
        ]
        .into_iter()
        .flatten()
        .map(|s| s.vm_hwm_mib)
        .reduce(f64::max);
        if hwm.is_some() {
            checks.push(check(
                "server peak RSS over the whole run (VmHWM)".into(),
                "<=",
                40.0,
                "MiB",
                hwm,
            ));
        }
        if self.start_to_ready_ms.is_some() {
            let mut ready = check(
                "start to ready (target applies to SQLite)".into(),
                "<=",
                200.0,
                "ms",
                self.start_to_ready_ms,
            );
            // Another named backend is measured, not judged.
            if self.backend.as_deref().is_some_and(|b| b != "sqlite") {
                ready.pass = None;
            }
            checks.push(ready);
        }
        self.checks = checks;
    }

    /// The human-readable summary printed on stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "datacollect-bench — {} {} — {} ({} CPUs, {:.0} GiB)",
            self.url,
            self.backend.as_deref().unwrap_or(""),
            self.machine.cpu_model,
            self.machine.cpus,
            self.machine.memory_gib
        );
        if let Some(ms) = self.start_to_ready_ms {
            let _ = writeln!(out, "start to ready: {ms:.1} ms");
        }
        if let Some(p) = &self.push {
            let _ = writeln!(
                out,
                "\nPUSH  {} events requested, {} acknowledged, batches of {}, {} clients{}",
                p.events_requested,
                p.events_acknowledged,
                p.batch_size,
                p.clients,
                if p.completed { "" } else { "  (INCOMPLETE)" }
            );
            let _ = writeln!(
                out,
                "  {:.0} events/s over {:.1} s; applied {}, duplicates {}, failed {}, error batches {}",
                p.events_per_second, p.elapsed_seconds, p.applied, p.duplicates, p.failed, p.error_batches
            );
            line_latency(&mut out, "batch latency", &p.batch_latency);
            let _ = writeln!(
                out,
                "  {:>6} {:>10} {:>10} {:>12}",
                "tenth", "events", "at (s)", "events/s"
            );
            for c in &p.curve {
                let _ = writeln!(
                    out,
                    "  {:>6} {:>10} {:>10.2} {:>12.0}",
                    c.decile, c.events, c.at_seconds, c.events_per_second
                );
            }
            if let Some(f) = p.flatness_last_over_first {
                let _ = writeln!(out, "  last tenth / first tenth: {f:.2}");
            }
            for e in &p.error_samples {
                let _ = writeln!(out, "  error: {e}");
            }
            line_usage(&mut out, &p.usage);
        }
        if let Some(p) = &self.pull {
            let _ = writeln!(
                out,
                "\nPULL  {} events in {} pages (limit {}){}",
                p.events,
                p.pages,
                p.limit,
                if p.completed { "" } else { "  (INCOMPLETE)" }
            );
            let _ = writeln!(
                out,
                "  {:.0} events/s over {:.2} s",
                p.events_per_second, p.elapsed_seconds
            );
            line_latency(&mut out, "page latency", &p.page_latency);
            if let Some(e) = &p.error {
                let _ = writeln!(out, "  error: {e}");
            }
            if p.unsafe_cursors > 0 {
                let _ = writeln!(out, "  cursors needing URL encoding: {}", p.unsafe_cursors);
            }
            line_usage(&mut out, &p.usage);
        }
        if let Some(r) = &self.read {
            let _ = writeln!(
                out,
                "\nREAD  GET {} — {} connections ({}), {:.1} s",
                r.path, r.connections, r.client_kind, r.elapsed_seconds
            );
            let _ = writeln!(
                out,
                "  {:.0} req/s; {} ok, {} errors, {} connects",
                r.requests_per_second, r.requests_ok, r.errors, r.connects
            );
            line_latency(&mut out, "latency", &r.latency);
            line_usage(&mut out, &r.usage);
        }
        if !self.checks.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<52} {:>16} {:>14}  result",
                "SPEC §8 target", "target", "measured"
            );
            for c in &self.checks {
                let measured = c.measured.map_or("-".to_owned(), |m| format!("{m:.2}"));
                let result = match c.pass {
                    Some(true) => "PASS",
                    Some(false) => "FAIL",
                    None => "n/a",
                };
                let _ = writeln!(
                    out,
                    "{:<52} {:>2} {:>9} {:<4} {:>14}  {result}",
                    c.name, c.op, c.target, c.unit, measured
                );
            }
        }
        out
    }
}

fn line_latency(out: &mut String, label: &str, l: &crate::stats::LatencySummary) {
    let _ = writeln!(
        out,
        "  {label}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.count
    );
}

fn line_usage(out: &mut String, usage: &Usage) {
    if let Some(s) = &usage.server {
        let _ = writeln!(
            out,
            "  server pid {}: CPU {:.0} %, peak RSS {:.1} MiB (VmHWM {:.1} MiB)",
            s.pid, s.cpu_percent, s.peak_rss_mib, s.vm_hwm_mib
        );
    }
    if let Some(c) = &usage.client {
        let _ = writeln!(
            out,
            "  bench tool: CPU {:.0} %, peak RSS {:.1} MiB",
            c.cpu_percent, c.peak_rss_mib
        );
    }
    if let Some(m) = &usage.machine {
        let _ = writeln!(
            out,
            "  machine: busy {:.0} %, idle {:.0} %, stolen by the hypervisor {:.0} % of all CPU time",
            m.busy_percent, m.idle_percent, m.steal_percent
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procstat::{MachineUsage, ProcessUsage};
    use crate::stats::LatencySummary;

    #[test]
    fn cpu_model_line() {
        let info =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(info).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn start_to_ready_is_judged_on_sqlite_only() {
        let verdict = |backend: Option<&str>| {
            let mut r = Report {
                backend: backend.map(str::to_owned),
                start_to_ready_ms: Some(250.0),
                ..Report::default()
            };
            r.evaluate();
            r.checks.last().map(|c| (c.measured, c.pass))
        };
        assert_eq!(verdict(Some("sqlite")), Some((Some(250.0), Some(false))));
        assert_eq!(verdict(None), Some((Some(250.0), Some(false))));
        assert_eq!(verdict(Some("postgres")), Some((Some(250.0), None)));
    }

    #[test]
    fn checks_against_spec_targets() {
        let mut r = Report {
            start_to_ready_ms: Some(150.0),
            push: Some(PushReport {
                batch_size: 100,
                events_acknowledged: 1_000,
                events_per_second: 25_000.0,
                flatness_last_over_first: Some(0.7),
                usage: Usage {
                    machine: Some(MachineUsage {
                        busy_percent: 70.0,
                        idle_percent: 5.0,
                        steal_percent: 25.0,
                    }),
                    ..Usage::default()
                },
                ..PushReport::default()
            }),
            read: Some(ReadReport {
                connections: 32,
                requests_per_second: 29_000.0,
                latency: LatencySummary {
                    count: 10,
                    p99_ms: 4.0,
                    ..LatencySummary::default()
                },
                usage: Usage {
                    server: Some(ProcessUsage {
                        peak_rss_mib: 30.0,
                        vm_hwm_mib: 45.0,
                        ..ProcessUsage::default()
                    }),
                    ..Usage::default()
                },
                ..ReadReport::default()
            }),
            ..Report::default()
        };
        r.evaluate();
        let verdicts: Vec<(&str, Option<bool>)> =
            r.checks.iter().map(|c| (c.unit, c.pass)).collect();
        assert_eq!(
            verdicts,
            [
                ("events/s", Some(true)),
                ("ratio", Some(false)),
                ("req/s", Some(false)),
                ("ms", Some(true)),
                ("MiB", Some(true)),
                ("MiB", Some(false)),
                ("ms", Some(true)),
            ]
        );
        let table = r.table();
        assert!(table.contains("PUSH"), "{table}");
        assert!(table.contains("FAIL") && table.contains("PASS"));
        assert!(!table.contains("PULL"));
        assert!(
            table.contains("machine: busy 70 %, idle 5 %, stolen by the hypervisor 25 %"),
            "{table}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["push"]["events_per_second"], 25_000.0);
        assert!(json["pull"].is_null());
        assert_eq!(json["push"]["machine"]["steal_percent"], 25.0);
    }
}
