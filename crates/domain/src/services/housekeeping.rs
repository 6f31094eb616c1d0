//! When to forget rows that only ever grow otherwise: failed logins older than their window,
//! expired refresh tokens, expired Users-API sessions. The service that adds such rows asks
//! [`CleanUp::due`] on each addition and, when it answers yes, asks its store to forget the
//! stale ones — so the tables hold about what is still live, without a background task.
//! A clean-up is best effort: the addition it follows has been stored, so its error is not
//! the request's (the stale rows wait for the next clean-up).

use std::sync::atomic::{AtomicU64, Ordering};

/// Additions between two clean-ups.
pub(crate) const CLEAN_UP_EVERY: u64 = 256;

/// Counts additions; due at the first one (which also clears what an earlier run of the
/// server left) and then at every [`CLEAN_UP_EVERY`]th.
#[derive(Debug, Default)]
pub(crate) struct CleanUp {
    added: AtomicU64,
}

impl CleanUp {
    /// Counts one addition; whether a clean-up is due with it.
    pub(crate) fn due(&self) -> bool {
        self.added
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CLEAN_UP_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_the_first_addition_and_every_256th() {
        let clean_up = CleanUp::default();
        let due: Vec<u64> = (0..600).filter(|_| clean_up.due()).collect();
        assert_eq!(due, [0, 256, 512]);
    }
}
