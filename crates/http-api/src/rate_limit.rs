//! Per-client-IP request rate limit of the public sign-up route (`POST /v1/users`), with the
//! `governor` crate (GCRA, in memory, per instance). Failed-login limits live in the
//! database instead (they must hold across instances); this one only damps floods.

use crate::error::ApiError;
use domain::error::{DomainError, ErrorKind};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Checks between two prunings of the IPs whose budget is full again (each IP ever seen
/// would otherwise keep an entry: unbounded memory from unauthenticated requests).
const PRUNE_EVERY: u64 = 1024;

/// A keyed limiter: `per_minute` requests per client IP, refilled continuously.
pub struct IpRateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl IpRateLimit {
    /// Allows `per_minute` requests per IP (at least 1).
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        IpRateLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Admits one request from `ip`.
    ///
    /// # Errors
    /// 429 `RATE_LIMITED` with the wait in seconds (for `Retry-After`).
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now()).as_secs().max(1);
            ApiError(DomainError::new(
                ErrorKind::RateLimited(wait),
                "RATE_LIMITED",
                "Too many requests, retry later",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// IPs whose budget is full again are forgotten: memory follows the recent clients, not
    /// every address ever seen (without the pruning all 4,024 stay).
    #[test]
    fn addresses_seen_once_are_forgotten() {
        // 60,000 a minute: one request's budget is back after a millisecond.
        let limit = IpRateLimit::per_minute(60_000);
        let ip = |n: u64| IpAddr::V6(Ipv6Addr::from(u128::from(n)));
        for n in 0..3_000 {
            assert!(limit.check(ip(n)).is_ok());
            if n % 500 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        for n in 3_000..(3_000 + PRUNE_EVERY) {
            assert!(limit.check(ip(n)).is_ok());
        }
        assert!(
            limit.limiter.len() < 2_100,
            "{} entries",
            limit.limiter.len()
        );
    }
}
