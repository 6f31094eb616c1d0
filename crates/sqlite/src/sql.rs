//! Small helpers to build bound SQL: boxed queries, `IN (...)` placeholder lists, one-column
//! rows, clamped paging numbers, stored instants.

use crate::error::Fail;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Nullable};
use diesel::sqlite::Sqlite;
use diesel::QueryableByName;
use domain::time::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest number of values bound in one `IN (...)` list.
pub(crate) const CHUNK: usize = 500;

/// A raw SQL query whose values are bound one by one (`.bind::<Type, _>(value)`).
pub(crate) type Query<'a> = BoxedSqlQuery<'a, Sqlite, SqlQuery>;

/// Starts a boxed query from complete SQL text (values are bound afterwards, in order).
pub(crate) fn query<'a>(sql: impl Into<String>) -> Query<'a> {
    diesel::sql_query(sql).into_boxed()
}

/// `?, ?, ?` with `n` placeholders.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// `(?, ?), (?, ?)`: `rows` tuples of `cols` placeholders.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    let one = format!("({})", placeholders(cols));
    let mut s = String::with_capacity(rows * (one.len() + 2));
    for i in 0..rows {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&one);
    }
    s
}

/// A page size as bound to `LIMIT`.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}

/// An offset as bound to `OFFSET` (saturating).
pub(crate) fn offset(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

/// A one-column integer row (`SELECT … AS v`).
#[derive(QueryableByName)]
pub(crate) struct Int {
    #[diesel(sql_type = BigInt)]
    pub v: i64,
}

/// A one-column nullable integer row (`SELECT MIN(…) AS v`).
#[derive(QueryableByName)]
pub(crate) struct OptInt {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub v: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_placeholder_lists() {
        assert_eq!(placeholders(0), "");
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(value_rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(offset(u64::MAX), i64::MAX);
        assert!(instant(i64::MAX).is_err());
    }
}
