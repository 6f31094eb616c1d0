//! Credential helpers shared by the account and Users-API services: email normalization,
//! opaque tokens (random, only their SHA-256 stored), expiry arithmetic, and the decoy hash
//! that makes a login with an unknown name cost as much as one with a wrong password.

use crate::error::{DomainError, ErrorKind};
use crate::ports::{IdGenerator, PasswordHasher};
use crate::time::Timestamp;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::Mutex;

/// Random bytes of a refresh token or session id (256 bits).
pub(crate) const TOKEN_BYTES: usize = 32;

/// Longest accepted email (RFC 5321 path limit), in characters.
const MAX_EMAIL_CHARS: usize = 254;

/// Trims and lower-cases an email, the form it is stored and compared in.
pub(crate) fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Normalizes `raw` and checks that it looks like an email: at most 254 characters, no
/// whitespace or control characters, exactly one `@` with a non-empty local part, and a
/// domain containing a dot that neither starts nor ends it. `None` when it does not.
pub(crate) fn parse_email(raw: &str) -> Option<String> {
    let email = normalize_email(raw);
    if email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    (!local.is_empty() && domain_ok).then_some(email)
}

/// Like [`parse_email`], but also accepts a single-label domain such as `localhost`: server
/// accounts live on private deployments (the default first admin is `admin@localhost`).
pub(crate) fn parse_account_email(raw: &str) -> Option<String> {
    parse_email(raw).or_else(|| {
        let (local, domain) = raw.trim().split_once('@')?;
        let label_ok = !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        parse_email(&format!("{local}@{domain}.local"))
            .filter(|_| label_ok)
            .map(|_| normalize_email(raw))
    })
}

/// SHA-256 of `secret` as lower-case hex: how refresh tokens and session ids are stored, so a
/// leaked table does not yield usable tokens.
pub(crate) fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        // Writing into a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The 500 of an unexpected condition (the message shown is generic).
pub(crate) fn internal_error() -> DomainError {
    DomainError::new(ErrorKind::Internal, "INTERNAL", "Internal server error")
}

/// `now + secs`, or a 500 when that leaves the representable range (year 9999).
pub(crate) fn later(now: Timestamp, secs: u64) -> Result<Timestamp, DomainError> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .and_then(|ms| now.millis().checked_add(ms))
        .and_then(Timestamp::from_millis)
        .ok_or_else(internal_error)
}

/// `now - secs`, saturating at the earliest representable instant (year 1).
pub(crate) fn earlier(now: Timestamp, secs: u64) -> Timestamp {
    let ms = i64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(i64::MAX);
    Timestamp::from_millis(now.millis().saturating_sub(ms).max(EARLIEST_MILLIS))
        .unwrap_or(Timestamp::EPOCH)
}

/// 0001-01-01T00:00:00.000Z, the earliest instant a [`Timestamp`] holds.
const EARLIEST_MILLIS: i64 = -62_135_596_800_000;

/// A real hash of a random password, computed on first use, verified against when the login
/// name is unknown so that the response takes as long as for a wrong password.
#[derive(Debug, Default)]
pub(crate) struct DecoyHash {
    hash: Mutex<Option<String>>,
}

impl DecoyHash {
    /// Runs one password verification that always fails.
    ///
    /// # Errors
    /// Internal error when the first decoy hash cannot be computed.
    pub(crate) async fn burn(
        &self,
        hasher: &dyn PasswordHasher,
        ids: &dyn IdGenerator,
        password: &str,
    ) -> Result<(), DomainError> {
        let cached = self.lock().clone();
        let hash = match cached {
            Some(h) => h,
            None => {
                let h = hasher.hash(&ids.alphanumeric(24)).await?;
                *self.lock() = Some(h.clone());
                h
            }
        };
        // The outcome is irrelevant: the name is unknown, the login fails either way.
        let _ = hasher.verify(password, &hash).await;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.hash
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_emails_accept_local_hosts() {
        assert_eq!(
            parse_account_email(" Bench@LocalHost ").as_deref(),
            Some("bench@localhost")
        );
        assert_eq!(
            parse_account_email("a@example.org").as_deref(),
            Some("a@example.org")
        );
        for bad in [
            "bench@",
            "@localhost",
            "a b@localhost",
            "a@local host",
            "a@b@c",
        ] {
            assert_eq!(parse_account_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            parse_email("  Alice@Example.ORG ").as_deref(),
            Some("alice@example.org")
        );
        for bad in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "alice@localhost",
            "alice@.org",
            "alice@example.",
            "a@b@c.org",
            "al ice@example.org",
            "alice@exa\u{7}mple.org",
        ] {
            assert_eq!(parse_email(bad), None, "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert_eq!(parse_email(&long), None);
        assert!(parse_email(&long[1..]).is_some());
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn expiry_arithmetic() {
        let now = Timestamp::from_millis(1_000_000).unwrap_or_default();
        assert_eq!(later(now, 60).unwrap().millis(), 1_060_000);
        assert_eq!(earlier(now, 60).millis(), 940_000);
        assert_eq!(earlier(now, u64::MAX).millis(), EARLIEST_MILLIS);
        assert!(later(now, u64::MAX).is_err());
        let max = Timestamp::from_millis(253_402_300_799_999).unwrap_or_default();
        assert_eq!(later(max, 1).unwrap_err().code, "INTERNAL");
    }
}
