//! `pull`: full resync of a tenant, following `nextCursor` until it is null.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::Api;
use crate::procstat::Usage;
use crate::stats::{rate, Latencies, LatencySummary};

/// Parameters of the pull scenario.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Tenant (config id).
    pub config_id: String,
    /// `limit` query parameter (page size asked for).
    pub limit: u32,
    /// Give up after this long.
    pub max_duration: Duration,
    /// Give up after this many pages.
    pub max_pages: u64,
}

/// Results of the pull scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullReport {
    /// Events received in total.
    pub events: u64,
    /// Pages (requests) made.
    pub pages: u64,
    /// Page size asked for.
    pub limit: u32,
    /// Whether `nextCursor` reached null.
    pub completed: bool,
    /// Why the pull stopped early, if it did.
    pub error: Option<String>,
    /// Cursors that would need URL encoding (they must not: SPEC §1).
    pub unsafe_cursors: u64,
    /// Wall time of the whole resync.
    pub elapsed_seconds: f64,
    /// Events per second over the resync.
    pub events_per_second: f64,
    /// Latency of one page (request to fully decoded body).
    pub page_latency: LatencySummary,
    /// What the scenario cost the server, this tool and the machine.
    #[serde(flatten)]
    pub usage: Usage,
}

/// True when `cursor` is usable in a query string without encoding.
pub fn cursor_is_url_safe(cursor: &str) -> bool {
    cursor
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-' | b':'))
}

/// Runs the scenario from an empty `since`.
pub async fn run_pull(api: &Api, opts: &PullOptions) -> PullReport {
    let mut report = PullReport {
        limit: opts.limit,
        ..PullReport::default()
    };
    let mut latencies = Latencies::new();
    let start = Instant::now();
    let deadline = start + opts.max_duration;
    let mut cursor = String::new();
    loop {
        if report.pages >= opts.max_pages {
            report.error = Some(format!("stopped after {} pages", opts.max_pages));
            break;
        }
        if Instant::now() >= deadline {
            report.error = Some(format!("stopped after {:?}", opts.max_duration));
            break;
        }
        let t = Instant::now();
        let page = api.pull(&opts.config_id, &cursor, opts.limit).await;
        latencies.record(t.elapsed());
        report.pages += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                report.error = Some(e.to_string());
                break;
            }
        };
        report.events += page.events.len() as u64;
        match page.next_cursor {
            None => {
                report.completed = true;
                break;
            }
            Some(next) => {
                if page.events.is_empty() && next == cursor {
                    report.error = Some(format!("cursor {next:?} did not advance"));
                    break;
                }
                if !cursor_is_url_safe(&next) {
                    report.unsafe_cursors += 1;
                }
                cursor = next;
            }
        }
    }
    report.elapsed_seconds = start.elapsed().as_secs_f64();
    report.events_per_second = rate(report.events, report.elapsed_seconds);
    report.page_latency = latencies.summary();
    report
}

#[cfg(test)]
mod tests {
    use super::cursor_is_url_safe;

    #[test]
    fn url_safe_cursors() {
        assert!(cursor_is_url_safe("v1.AbC-_~9"));
        assert!(cursor_is_url_safe("2024-01-15T10:30:00.000Z"));
        assert!(!cursor_is_url_safe("a+b"));
        assert!(!cursor_is_url_safe("a b"));
        assert!(!cursor_is_url_safe("a&b"));
        assert!(!cursor_is_url_safe("a%20"));
    }
}
