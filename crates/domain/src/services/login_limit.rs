//! Failed-login limiter shared by the account login and the Users-API login: counts failures
//! per client IP and per account in the [`LoginThrottleStore`] (so the limit holds across
//! server instances) and answers 429 once a threshold is reached within the window.

use super::credentials::{earlier, sha256_hex};
use super::housekeeping::CleanUp;
use crate::error::{DomainError, ErrorKind};
use crate::ports::LoginThrottleStore;
use crate::time::Timestamp;
use std::sync::Arc;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Login attempts of one limiter that may be between their check and their outcome at once
/// (in this process). Parallel attempts would otherwise all pass the check before any of
/// their failures is recorded — a burst of hundreds of guesses instead of the threshold —
/// and each verifies a password (argon2id holds 19 MiB while it runs), so attempts queue for
/// a turn: the count each one checks includes all but at most one attempt before it, and
/// password verification by logins holds at most this many hashes in memory.
const ATTEMPTS_AT_ONCE: usize = 2;

/// Thresholds of a failed-login limiter. A threshold of 0 disables that counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one account (or Users-API app) within the window after which further
    /// attempts on it are refused with 429, whatever the client IP.
    pub per_account: u32,
    /// Failures from one client IP within the window after which its attempts are refused.
    pub per_ip: u32,
    /// Length of the window in seconds; also the `Retry-After` of a 429.
    pub window_secs: u64,
}

impl Default for LoginLimits {
    /// 10 failures per account and 50 per IP in 15 minutes.
    fn default() -> Self {
        LoginLimits {
            per_account: 10,
            per_ip: 50,
            window_secs: 15 * 60,
        }
    }
}

/// Checks and records failed logins under keys `<prefix>:ip:<ip>` and
/// `<prefix>:account:<sha256 of the account name>` (names are not stored in clear).
pub(crate) struct LoginLimiter {
    store: Arc<dyn LoginThrottleStore>,
    limits: LoginLimits,
    prefix: &'static str,
    turns: Semaphore,
    clean_up: CleanUp,
}

impl LoginLimiter {
    /// A limiter whose keys start with `prefix` (distinct per login surface).
    pub(crate) fn new(
        store: Arc<dyn LoginThrottleStore>,
        limits: LoginLimits,
        prefix: &'static str,
    ) -> Self {
        LoginLimiter {
            store,
            limits,
            prefix,
            turns: Semaphore::new(ATTEMPTS_AT_ONCE),
            clean_up: CleanUp::default(),
        }
    }

    /// Waits for the attempt's turn (see [`ATTEMPTS_AT_ONCE`]); hold it from the check to the
    /// recorded outcome.
    ///
    /// # Errors
    /// Internal error if the turns were closed (never done).
    pub(crate) async fn turn(&self) -> Result<SemaphorePermit<'_>, DomainError> {
        self.turns
            .acquire()
            .await
            .map_err(|_| DomainError::new(ErrorKind::Internal, "INTERNAL", "Internal server error"))
    }

    fn account_key(&self, account: &str) -> String {
        format!("{}:account:{}", self.prefix, sha256_hex(account))
    }

    fn ip_key(&self, ip: &str) -> String {
        format!("{}:ip:{}", self.prefix, ip)
    }

    /// The counters that are enabled, as `(key, threshold)`.
    fn counters(&self, account: &str, ip: &str) -> Vec<(String, u32)> {
        let mut out = Vec::with_capacity(2);
        if self.limits.per_account > 0 {
            out.push((self.account_key(account), self.limits.per_account));
        }
        if self.limits.per_ip > 0 {
            out.push((self.ip_key(ip), self.limits.per_ip));
        }
        out
    }

    /// Refuses the attempt when the account or the IP has reached its threshold.
    ///
    /// # Errors
    /// 429 `RATE_LIMITED` with the window as retry-after; storage errors.
    pub(crate) async fn check(
        &self,
        account: &str,
        ip: &str,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        let since = earlier(now, self.limits.window_secs);
        for (key, max) in self.counters(account, ip) {
            if self.store.failures_since(&key, since).await? >= max {
                return Err(self.limited());
            }
        }
        Ok(())
    }

    /// Counts one failure for the account and the IP (and, when a [`CleanUp`] is due,
    /// forgets this limiter's failures older than the window, of every key).
    ///
    /// # Errors
    /// Storage errors.
    pub(crate) async fn failed(
        &self,
        account: &str,
        ip: &str,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        let since = earlier(now, self.limits.window_secs);
        for (key, _) in self.counters(account, ip) {
            self.store.record_failure(&key, now, since).await?;
        }
        if self.clean_up.due() {
            let prefix = format!("{}:", self.prefix);
            // Best effort (see `housekeeping`): the failure is recorded.
            let _ = self.store.forget_failures_before(&prefix, since).await;
        }
        Ok(())
    }

    /// Forgets the account's failures after a successful login. The IP counter is kept, so
    /// one valid account cannot be used to reset the budget of an IP guessing others.
    ///
    /// # Errors
    /// Storage errors.
    pub(crate) async fn succeeded(&self, account: &str) -> Result<(), DomainError> {
        if self.limits.per_account > 0 {
            self.store
                .clear_failures(&self.account_key(account))
                .await?;
        }
        Ok(())
    }

    fn limited(&self) -> DomainError {
        DomainError::new(
            ErrorKind::RateLimited(self.limits.window_secs.max(1)),
            "RATE_LIMITED",
            "Too many failed login attempts, retry later",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockLoginThrottleStore;

    #[tokio::test]
    async fn old_failures_are_forgotten_at_the_first_and_every_256th_failure() {
        let mut store = MockLoginThrottleStore::new();
        store.expect_record_failure().returning(|_, _, _| Ok(1));
        store
            .expect_forget_failures_before()
            .withf(|prefix, before| prefix == "p:" && before.millis() == 1_000_000 - 900_000)
            .times(2)
            .returning(|_, _| Ok(0));
        let limiter = LoginLimiter::new(Arc::new(store), LoginLimits::default(), "p");
        let now = Timestamp::from_millis(1_000_000).unwrap();
        for _ in 0..=crate::services::housekeeping::CLEAN_UP_EVERY {
            limiter.failed("a@x.org", "10.0.0.1", now).await.unwrap();
        }
    }
}
