//! `push`: N household-shaped events in batches of B from C concurrent clients.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::Api;
use crate::generator::{run_tag, EventGenerator};
use crate::procstat::Usage;
use crate::stats::{flatness, rate, throughput_curve, CurvePoint, Latencies, LatencySummary};

/// Error messages kept per run (the rest are only counted).
const ERROR_SAMPLES: usize = 5;

/// Parameters of the push scenario.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Tenant (config id).
    pub config_id: String,
    /// Events to push in total.
    pub events: u64,
    /// Events per request.
    pub batch: usize,
    /// Concurrent clients.
    pub clients: u32,
    /// Stop starting new batches after this long.
    pub max_duration: Duration,
}

/// Results of the push scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    /// Events asked for.
    pub events_requested: u64,
    /// Events sent (in batches that got any answer or failed in transport).
    pub events_sent: u64,
    /// Events in batches answered 200.
    pub events_acknowledged: u64,
    /// Sum of `applied` over the answers (when the server reports it).
    pub applied: u64,
    /// Sum of `duplicates`.
    pub duplicates: u64,
    /// Sum of `failed` (rejected events): errors.
    pub failed: u64,
    /// Batches answered with a non-200 status or lost in transport: errors.
    pub error_batches: u64,
    /// A few error messages, for diagnosis.
    pub error_samples: Vec<String>,
    /// Events per request.
    pub batch_size: usize,
    /// Concurrent clients.
    pub clients: u32,
    /// Whether every requested event was sent before the time limit.
    pub completed: bool,
    /// Wall time from the first request to the last answer.
    pub elapsed_seconds: f64,
    /// Acknowledged events per second over the whole run.
    pub events_per_second: f64,
    /// Events per second for each tenth of the acknowledged events.
    pub curve: Vec<CurvePoint>,
    /// Rate of the last tenth over the first tenth.
    pub flatness_last_over_first: Option<f64>,
    /// Latency of one batch request.
    pub batch_latency: LatencySummary,
    /// What the scenario cost the server, this tool and the machine.
    #[serde(flatten)]
    pub usage: Usage,
}

#[derive(Default)]
struct ClientResult {
    completions: Vec<(f64, u64)>,
    latencies: Latencies,
    sent: u64,
    acknowledged: u64,
    applied: u64,
    duplicates: u64,
    failed: u64,
    error_batches: u64,
    error_samples: Vec<String>,
    cut_short: bool,
}

/// Runs the scenario; per-request failures are counted in the report, never raised.
pub async fn run_push(api: &Api, opts: &PushOptions) -> PushReport {
    let clients = opts.clients.max(1);
    let batch = opts.batch.max(1);
    let tag = run_tag();
    // Timestamps in the recent past, one millisecond apart per event (all clients).
    let now_ms = chrono::Utc::now().timestamp_millis();
    let span = i64::try_from(opts.events).unwrap_or(i64::MAX / 4);
    let base_ms = now_ms.saturating_sub(span.saturating_add(3_600_000));
    let start = Instant::now();
    let deadline = start + opts.max_duration;
    let mut tasks = Vec::with_capacity(clients as usize);
    for c in 0..clients {
        let share = opts.events / u64::from(clients)
            + u64::from(u64::from(c) < opts.events % u64::from(clients));
        let api = api.clone();
        let config_id = opts.config_id.clone();
        let generator = EventGenerator::new(c, clients, base_ms, &tag, u64::from(c) + 1);
        tasks.push(tokio::spawn(async move {
            client_loop(api, config_id, generator, share, batch, start, deadline).await
        }));
    }
    let mut total = ClientResult::default();
    for t in tasks {
        let r = match t.await {
            Ok(r) => r,
            Err(e) => ClientResult {
                error_batches: 1,
                error_samples: vec![format!("client task failed: {e}")],
                cut_short: true,
                ..ClientResult::default()
            },
        };
        total.completions.extend(r.completions);
        total.latencies.merge(&r.latencies);
        total.sent += r.sent;
        total.acknowledged += r.acknowledged;
        total.applied += r.applied;
        total.duplicates += r.duplicates;
        total.failed += r.failed;
        total.error_batches += r.error_batches;
        total.cut_short |= r.cut_short;
        for s in r.error_samples {
            if total.error_samples.len() < ERROR_SAMPLES {
                total.error_samples.push(s);
            }
        }
    }
    // From the start to the last answer (to now when nothing was answered).
    let elapsed = total
        .completions
        .iter()
        .map(|c| c.0)
        .reduce(f64::max)
        .unwrap_or_else(|| start.elapsed().as_secs_f64());
    let curve = throughput_curve(&total.completions);
    PushReport {
        events_requested: opts.events,
        events_sent: total.sent,
        events_acknowledged: total.acknowledged,
        applied: total.applied,
        duplicates: total.duplicates,
        failed: total.failed,
        error_batches: total.error_batches,
        error_samples: total.error_samples,
        batch_size: batch,
        clients,
        completed: !total.cut_short && total.sent == opts.events,
        elapsed_seconds: elapsed,
        events_per_second: rate(total.acknowledged, elapsed),
        flatness_last_over_first: flatness(&curve),
        curve,
        batch_latency: total.latencies.summary(),
        usage: Usage::default(),
    }
}

async fn client_loop(
    api: Api,
    config_id: String,
    mut generator: EventGenerator,
    share: u64,
    batch: usize,
    start: Instant,
    deadline: Instant,
) -> ClientResult {
    let mut r = ClientResult::default();
    let mut remaining = share;
    let mut events = Vec::with_capacity(batch);
    while remaining > 0 {
        if Instant::now() >= deadline {
            r.cut_short = true;
            break;
        }
        let n = usize::try_from(remaining).unwrap_or(batch).min(batch);
        events.clear();
        events.extend(generator.by_ref().take(n));
        remaining -= n as u64;
        r.sent += n as u64;
        let body = match Api::push_body(&config_id, &events) {
            Ok(b) => b,
            Err(e) => {
                note_error(&mut r, e.to_string());
                continue;
            }
        };
        let sent_at = Instant::now();
        let outcome = api.push(body).await;
        let done = Instant::now();
        r.latencies.record(done - sent_at);
        match outcome {
            Ok(o) => {
                r.acknowledged += n as u64;
                r.completions
                    .push((done.duration_since(start).as_secs_f64(), n as u64));
                r.applied += o.applied.unwrap_or(0);
                r.duplicates += o.duplicates.unwrap_or(0);
                let failed = o.failed.unwrap_or(o.errors.len() as u64);
                r.failed += failed;
                if failed > 0 && r.error_samples.len() < ERROR_SAMPLES {
                    let first = o.errors.first().map(|e| e.to_string()).unwrap_or_default();
                    r.error_samples
                        .push(format!("{failed} events rejected, e.g. {first}"));
                }
                if o.status.as_deref().is_some_and(|s| s != "success") {
                    note_error(&mut r, format!("push status {:?}", o.status));
                }
            }
            Err(e) => note_error(&mut r, e.to_string()),
        }
    }
    r
}

fn note_error(r: &mut ClientResult, message: String) {
    r.error_batches += 1;
    if r.error_samples.len() < ERROR_SAMPLES {
        r.error_samples.push(message);
    }
}
