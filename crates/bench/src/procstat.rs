//! CPU and memory of a process, sampled from `/proc/<pid>/stat` and `/proc/<pid>/status`,
//! and the whole machine's CPU time from `/proc/stat` (how much of it was busy, idle, or
//! stolen by the hypervisor — a virtual machine's figures are only comparable when the
//! steal is low).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often the sampler reads `/proc`.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// `utime + stime` (clock ticks) from the contents of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces or `)`, so
/// fields are counted from the last `)`: after it come `state` (field 3) … `utime` (14),
/// `stime` (15).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value in KiB of a `Key:   123 kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = value.split_ascii_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => Some(n),
            Some(_) => None,
        }
    })
}

/// Clock ticks per second for `/proc` CPU times (`getconf CLK_TCK`, else Linux's 100).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// When it was taken.
    pub at: Instant,
    /// `utime + stime` in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size (KiB).
    pub rss_kib: u64,
    /// Peak resident set size since the process started (KiB).
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/{stat,status}`; `None` when the process is gone or unreadable.
pub fn read_process(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Reading {
        at: Instant::now(),
        cpu_ticks: parse_cpu_ticks(&stat)?,
        rss_kib: parse_status_kib(&status, "VmRSS").unwrap_or(0),
        hwm_kib: parse_status_kib(&status, "VmHWM").unwrap_or(0),
    })
}

/// What a process used during one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// The process id.
    pub pid: u32,
    /// Number of readings taken.
    pub samples: u32,
    /// Average CPU over the scenario, in percent of one core (200 = both of 2 cores).
    pub cpu_percent: f64,
    /// Highest sampled RSS during the scenario (MiB).
    pub peak_rss_mib: f64,
    /// The kernel's peak RSS since the process started (`VmHWM`, MiB) at the end.
    pub vm_hwm_mib: f64,
}

/// Summarises readings in time order (`ticks_per_second` from [`clock_ticks_per_second`]).
pub fn summarise(pid: u32, readings: &[Reading], ticks_per_second: u64) -> ProcessUsage {
    let (Some(first), Some(last)) = (readings.first(), readings.last()) else {
        return ProcessUsage {
            pid,
            ..ProcessUsage::default()
        };
    };
    let wall = last.at.duration_since(first.at).as_secs_f64();
    let cpu_seconds =
        last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / ticks_per_second.max(1) as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    ProcessUsage {
        pid,
        samples: u32::try_from(readings.len()).unwrap_or(u32::MAX),
        cpu_percent: if wall > 0.0 {
            cpu_seconds / wall * 100.0
        } else {
            0.0
        },
        peak_rss_mib: mib(readings.iter().map(|r| r.rss_kib).max().unwrap_or(0)),
        vm_hwm_mib: mib(last.hwm_kib),
    }
}

/// The machine's CPU time so far, summed over its CPUs (clock ticks), from the `cpu` line
/// of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineTicks {
    /// `user + nice + system + irq + softirq` (guest time is counted in `user`).
    pub busy: u64,
    /// `idle + iowait`.
    pub idle: u64,
    /// Time the hypervisor ran something else while this machine had work to run.
    pub steal: u64,
}

/// [`MachineTicks`] from the contents of `/proc/stat`: the `cpu` line's `user nice system
/// idle iowait irq softirq steal …` fields (kernels without a steal field count 0).
pub fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if f.len() < 4 {
        return None;
    }
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    Some(MachineTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        idle: at(3) + at(4),
        steal: at(7),
    })
}

/// Reads `/proc/stat`; `None` where it is missing (not Linux).
pub fn read_machine() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// How the whole machine's CPU time was spent during one scenario, in percent of the time
/// of all its CPUs (busy + idle + steal = 100).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MachineUsage {
    /// Running anything: server, database, this tool, the rest of the system.
    pub busy_percent: f64,
    /// Idle or waiting for I/O.
    pub idle_percent: f64,
    /// Stolen by the hypervisor (other virtual machines on the same host).
    pub steal_percent: f64,
}

/// The machine's usage between two readings; `None` when no time passed.
pub fn machine_usage(start: MachineTicks, end: MachineTicks) -> Option<MachineUsage> {
    let busy = end.busy.saturating_sub(start.busy) as f64;
    let idle = end.idle.saturating_sub(start.idle) as f64;
    let steal = end.steal.saturating_sub(start.steal) as f64;
    let total = busy + idle + steal;
    (total > 0.0).then(|| MachineUsage {
        busy_percent: busy / total * 100.0,
        idle_percent: idle / total * 100.0,
        steal_percent: steal / total * 100.0,
    })
}

/// What one scenario cost, as the reports carry it (flattened into their JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Server process usage during the scenario (with `--server-pid`).
    pub server: Option<ProcessUsage>,
    /// This tool's own usage during the scenario.
    pub client: Option<ProcessUsage>,
    /// The whole machine's CPU time during the scenario (busy, idle, stolen).
    pub machine: Option<MachineUsage>,
}

/// A background thread reading one process every 100 ms until stopped.
#[derive(Debug)]
pub struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Reading>>,
}

impl Sampler {
    /// Starts sampling `pid` (the first reading is taken immediately).
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut readings = Vec::new();
            loop {
                if let Some(r) = read_process(pid) {
                    readings.push(r);
                }
                if flag.load(Ordering::Relaxed) {
                    return readings;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self { pid, stop, handle }
    }

    /// Takes a last reading, stops the thread and summarises.
    pub fn finish(self, ticks_per_second: u64) -> ProcessUsage {
        self.stop.store(true, Ordering::Relaxed);
        let mut readings = self.handle.join().unwrap_or_default();
        if let Some(r) = read_process(self.pid) {
            readings.push(r);
        }
        summarise(self.pid, &readings, ticks_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (data collect) S 1 4242 4242 0 -1 4194560 2093 0 0 0 \
                        350 125 0 0 20 0 9 0 123456 1048576000 5120 18446744073709551615";

    #[test]
    fn cpu_ticks_from_stat_with_spaces_and_parens_in_the_name() {
        assert_eq!(parse_cpu_ticks(STAT), Some(475));
        let tricky = STAT.replace("(data collect)", "(a) b) (c)");
        assert_eq!(parse_cpu_ticks(&tricky), Some(475));
        assert_eq!(parse_cpu_ticks("12 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parens at all"), None);
        assert_eq!(parse_cpu_ticks(""), None);
    }

    #[test]
    fn kib_values_from_status() {
        let status = "Name:\tdatacollect\nVmPeak:\t  120000 kB\nVmHWM:\t   30720 kB\n\
                      VmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(30_720));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(20_480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("VmRSS:\tlots kB\n", "VmRSS"), None);
        assert_eq!(parse_status_kib("VmRSS:\t5 MB\n", "VmRSS"), None);
        // A key that is only a prefix of another does not match it.
        assert_eq!(parse_status_kib("VmRSSx:\t5 kB\n", "VmRSS"), None);
    }

    #[test]
    fn machine_ticks_from_proc_stat() {
        let stat = "cpu  100 5 20 300 10 1 4 60 7 0\ncpu0 50 2 10 150 5 0 2 30 3 0\nintr 1\n";
        let t = parse_machine_ticks(stat).unwrap();
        assert_eq!(
            t,
            MachineTicks {
                busy: 130,
                idle: 310,
                steal: 60
            }
        );
        // An old kernel's line without steal; no `cpu` line; a bad number.
        let old = parse_machine_ticks("cpu  1 2 3 4\n").unwrap();
        assert_eq!((old.busy, old.idle, old.steal), (6, 4, 0));
        assert_eq!(parse_machine_ticks("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_machine_ticks("cpu  1 x 3 4\n"), None);
        assert_eq!(parse_machine_ticks("cpu  1 2\n"), None);
    }

    #[test]
    fn machine_usage_between_readings() {
        let start = MachineTicks {
            busy: 100,
            idle: 100,
            steal: 0,
        };
        let end = MachineTicks {
            busy: 250,
            idle: 125,
            steal: 25,
        };
        let u = machine_usage(start, end).unwrap();
        assert!((u.busy_percent - 75.0).abs() < 1e-9);
        assert!((u.idle_percent - 12.5).abs() < 1e-9);
        assert!((u.steal_percent - 12.5).abs() < 1e-9);
        assert_eq!(machine_usage(end, end), None);
        assert!(read_machine().is_some());
    }

    #[test]
    fn summary_of_readings() {
        let t0 = Instant::now();
        let r = |ms: u64, ticks: u64, rss: u64, hwm: u64| Reading {
            at: t0 + Duration::from_millis(ms),
            cpu_ticks: ticks,
            rss_kib: rss,
            hwm_kib: hwm,
        };
        // 150 ticks at 100/s = 1.5 s of CPU in 1 s of wall time → 150 %.
        let readings = [
            r(0, 100, 10_240, 10_240),
            r(500, 180, 40_960, 40_960),
            r(1000, 250, 20_480, 40_960),
        ];
        let u = summarise(7, &readings, 100);
        assert_eq!(u.pid, 7);
        assert_eq!(u.samples, 3);
        assert!((u.cpu_percent - 150.0).abs() < 1e-9);
        assert_eq!(u.peak_rss_mib, 40.0);
        assert_eq!(u.vm_hwm_mib, 40.0);
        assert_eq!(summarise(7, &[], 100).samples, 0);
    }

    #[test]
    fn sampling_this_process() {
        let me = std::process::id();
        let now = read_process(me).unwrap();
        assert!(now.rss_kib > 0 && now.hwm_kib >= now.rss_kib);
        let sampler = Sampler::start(me);
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(250) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert_ne!(x, 1);
        let usage = sampler.finish(clock_ticks_per_second());
        assert!(usage.samples >= 2);
        assert!(usage.cpu_percent > 20.0, "{usage:?}");
        assert!(read_process(u32::MAX).is_none());
    }
}
