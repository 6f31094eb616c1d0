//! Small conversions shared by the port implementations: paging numbers, stored instants,
//! counts, the server clock.

use crate::error::Fail;
use domain::time::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest number of rows one multi-row `INSERT` carries (PostgreSQL binds at most 65,535
/// values per statement; the widest row binds 15).
pub(crate) const INSERT_ROWS: usize = 1_000;

/// A page size as bound to `LIMIT`.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}

/// An offset as bound to `OFFSET` (saturating).
pub(crate) fn offset(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `COUNT(*)` as an unsigned number.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A stored instant back to a [`Timestamp`].
pub(crate) fn instant(ms: i64) -> Result<Timestamp, Fail> {
    Timestamp::from_millis(ms).ok_or_else(|| Fail::corrupt("instant out of range"))
}

/// An optional stored instant.
pub(crate) fn opt_instant(ms: Option<i64>) -> Result<Option<Timestamp>, Fail> {
    ms.map(instant).transpose()
}

/// Server clock in milliseconds, for bookkeeping columns the ports do not provide.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_numbers() {
        assert_eq!(offset(u64::MAX), i64::MAX);
        assert_eq!(limit(u32::MAX), 4_294_967_295);
        assert_eq!(count(-1), 0);
        assert!(instant(i64::MAX).is_err());
        assert_eq!(instant(5).ok().map(Timestamp::millis), Some(5));
        assert!(now_millis() > 1_600_000_000_000);
    }
}
