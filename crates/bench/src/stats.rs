//! Latency percentiles (HDR histogram, microseconds) and the push throughput curve.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track (longer ones are clamped to it): 10 minutes.
const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies(Option<Histogram<u64>>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram (1 µs .. 10 min, 3 significant digits).
    pub fn new() -> Self {
        // The bounds are valid constants, so creation cannot fail; `None` would only make
        // the histogram record nothing (never a panic).
        Self(Histogram::new_with_bounds(1, MAX_MICROS, 3).ok())
    }

    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, d: Duration) {
        if let Some(h) = self.0.as_mut() {
            let us = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS);
            h.saturating_record(us.clamp(1, MAX_MICROS));
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        if let (Some(h), Some(o)) = (self.0.as_mut(), other.0.as_ref()) {
            // Same bounds on both sides, so `add` cannot fail.
            let _ = h.add(o);
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, Histogram::len)
    }

    /// p50/p90/p99/max/mean in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        match self.0.as_ref() {
            Some(h) if !h.is_empty() => LatencySummary {
                count: h.len(),
                p50_ms: ms(h.value_at_quantile(0.50)),
                p90_ms: ms(h.value_at_quantile(0.90)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                max_ms: ms(h.max()),
                mean_ms: h.mean() / 1000.0,
            },
            _ => LatencySummary::default(),
        }
    }
}

/// Latency percentiles of one scenario, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// Throughput of one tenth of the pushed events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    /// 1..=10: which tenth.
    pub decile: u32,
    /// Events acknowledged in this tenth.
    pub events: u64,
    /// Seconds since the start when the tenth was complete.
    pub at_seconds: f64,
    /// Events per second within this tenth.
    pub events_per_second: f64,
}

/// Splits completed batches — `(seconds since start when the response arrived, events in
/// the batch)`, in any order — into ten consecutive slices of (about) a tenth of the events
/// each, and returns the rate of each slice. A slice ends with the batch that takes the
/// running total to or past its boundary; empty input gives an empty curve.
pub fn throughput_curve(completions: &[(f64, u64)]) -> Vec<CurvePoint> {
    let mut sorted: Vec<(f64, u64)> = completions.iter().copied().filter(|c| c.1 > 0).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = sorted.iter().map(|c| c.1).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut points = Vec::with_capacity(10);
    let mut cumulative = 0u64;
    let mut slice_start_t = 0.0f64;
    let mut slice_start_n = 0u64;
    let mut decile = 1u32;
    for (t, n) in sorted {
        cumulative += n;
        // One batch can complete more than one slice when batches are large.
        while decile <= 10 && cumulative * 10 >= total * u64::from(decile) {
            let events = cumulative - slice_start_n;
            let dt = t - slice_start_t;
            points.push(CurvePoint {
                decile,
                events,
                at_seconds: t,
                events_per_second: rate(events, dt),
            });
            slice_start_t = t;
            slice_start_n = cumulative;
            decile += 1;
        }
    }
    points
}

/// `events / seconds`, 0 when no time passed.
pub fn rate(events: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        events as f64 / seconds
    } else {
        0.0
    }
}

/// Last tenth's rate over the first tenth's (1.0 = flat), when both exist and are non-zero.
pub fn flatness(curve: &[CurvePoint]) -> Option<f64> {
    let first = curve.first()?.events_per_second;
    let last = curve.last()?.events_per_second;
    (first > 0.0 && curve.len() > 1).then(|| last / first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p90_ms - 90.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
        assert!((s.mean_ms - 50.5).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn merge_and_extremes() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(Duration::from_micros(0)); // clamped up to 1 µs
        b.record(Duration::from_secs(3_600)); // clamped down to 10 min
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 2);
        assert!((s.max_ms - 600_000.0).abs() / 600_000.0 < 0.001);
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
    }

    #[test]
    fn curve_of_a_steady_run_is_flat() {
        // 100 batches of 100 events, one every 10 ms → 10,000 events/s throughout.
        let batches: Vec<(f64, u64)> = (1..=100).map(|i| (i as f64 * 0.01, 100)).collect();
        let curve = throughput_curve(&batches);
        assert_eq!(curve.len(), 10);
        for (i, p) in curve.iter().enumerate() {
            assert_eq!(p.decile, i as u32 + 1);
            assert_eq!(p.events, 1_000);
            assert!((p.events_per_second - 10_000.0).abs() < 1.0, "{p:?}");
        }
        assert!((flatness(&curve).unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn curve_shows_a_slowdown_and_ignores_input_order() {
        // First half: 50 batches every 10 ms; second half: 50 batches every 40 ms.
        let mut batches: Vec<(f64, u64)> = (1..=50).map(|i| (i as f64 * 0.01, 100)).collect();
        batches.extend((1..=50).map(|i| (0.5 + i as f64 * 0.04, 100)));
        batches.reverse();
        let curve = throughput_curve(&batches);
        assert_eq!(curve.len(), 10);
        assert!((curve[0].events_per_second - 10_000.0).abs() < 1.0);
        assert!((curve[9].events_per_second - 2_500.0).abs() < 1.0);
        assert!((flatness(&curve).unwrap() - 0.25).abs() < 1e-6);
        assert!((curve[9].at_seconds - 2.5).abs() < 1e-9);
    }

    #[test]
    fn big_batches_complete_several_tenths_at_once() {
        let curve = throughput_curve(&[(1.0, 250), (2.0, 750)]);
        assert_eq!(curve.len(), 10);
        assert_eq!(curve[0].events, 250);
        assert_eq!(curve[0].events_per_second, 250.0);
        assert_eq!(curve[1].events, 0); // completed by the same batch: no time passed
        assert_eq!(curve[1].events_per_second, 0.0);
        assert_eq!(curve[2].events, 750);
        assert_eq!(curve[2].events_per_second, 750.0);
        assert_eq!(curve.iter().map(|p| p.events).sum::<u64>(), 1_000);
        assert!(throughput_curve(&[]).is_empty());
        assert!(flatness(&[]).is_none());
    }
}
