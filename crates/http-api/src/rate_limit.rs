//! Per-client-IP request rate limit of the public sign-up route (`POST /v1/users`), with the
//! `governor` crate (GCRA, in memory, per instance). Failed-login limits live in the
//! database instead (they must hold across instances); this one only damps floods.

use crate::error::ApiError;
use domain::error::{DomainError, ErrorKind};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// A keyed limiter: `per_minute` requests per client IP, refilled continuously.
pub struct IpRateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl IpRateLimit {
    /// Allows `per_minute` requests per IP (at least 1).
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        IpRateLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one request from `ip`.
    ///
    /// # Errors
    /// 429 `RATE_LIMITED` with the wait in seconds (for `Retry-After`).
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
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
