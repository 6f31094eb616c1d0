//! Tenant (program configuration) identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A validated tenant id (= program configuration id, upstream `configId`).
///
/// Pattern `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`. Legacy clients omit it, which means
/// [`TenantId::DEFAULT`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant legacy clients mean when they send no `configId`.
    pub const DEFAULT: &'static str = "default";

    /// Validates `id` against the tenant id pattern.
    ///
    /// # Errors
    /// [`InvalidTenantId`] when the id is empty, longer than 64 characters, or uses other
    /// characters than ASCII letters, digits, `_` and `-` (or starts with `_`/`-`).
    pub fn parse(id: &str) -> Result<Self, InvalidTenantId> {
        let bytes = id.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
        if ok {
            Ok(TenantId(id.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    /// The tenant for an optional, possibly empty `configId` (absent or empty → `default`).
    ///
    /// # Errors
    /// [`InvalidTenantId`] when a non-empty id does not match the pattern.
    pub fn parse_or_default(id: Option<&str>) -> Result<Self, InvalidTenantId> {
        match id {
            None | Some("") => Ok(TenantId(Self::DEFAULT.to_owned())),
            Some(id) => Self::parse(id),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The tenant id does not match `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid config id. Use alphanumeric characters, hyphen or underscore (1-64 characters).")]
pub struct InvalidTenantId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects_per_pattern() {
        for ok in ["default", "a", "My-App_2", &"x".repeat(64)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TenantId::parse_or_default(None).unwrap().as_str(),
            "default"
        );
        assert_eq!(
            TenantId::parse_or_default(Some("")).unwrap().as_str(),
            "default"
        );
    }
}
