//! Small helpers to build bound SQL: boxed queries, statements kept prepared, `IN (...)`
//! placeholder lists, one-column rows, clamped paging numbers, stored instants.

use crate::error::Fail;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query as DieselQuery, QueryFragment};
use diesel::query_builder::{QueryId, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};
use domain::time::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// A raw SQL query whose values are bound one by one (`.bind::<Type, _>(value)`).
pub(crate) type Query<'a> = BoxedSqlQuery<'a, Sqlite, SqlQuery>;

/// Starts a boxed query from complete SQL text (values are bound afterwards, in order).
pub(crate) fn query<'a>(sql: impl Into<String>) -> Query<'a> {
    diesel::sql_query(sql).into_boxed()
}

/// One value bound to a [`Stmt`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    SmallInt(i16),
    Bool(bool),
}

/// A statement of fixed SQL text with its values bound in order.
///
/// Diesel never keeps a `sql_query` prepared (it cannot tell whether the text is fixed), so
/// each execution parses and plans the SQL again: 9 % of the writer's time in a push
/// profile, most of it for statements run once per event. A `Stmt` tells diesel its text is
/// fixed, so the connection's statement cache keeps it prepared, keyed by the text. Use it
/// only with SQL built from constants (never with a variable number of placeholders, which
/// would fill the cache with one entry per count) and with `?` only as placeholders.
#[derive(Debug)]
pub(crate) struct Stmt<'a> {
    sql: &'static str,
    vals: Vec<Val<'a>>,
}

impl<'a> Stmt<'a> {
    /// `sql` with its values bound in order.
    pub(crate) fn new(sql: &'static str, vals: Vec<Val<'a>>) -> Self {
        Stmt { sql, vals }
    }
}

impl QueryFragment<Sqlite> for Stmt<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // Diesel writes a `?` for each bound value, so the text goes in between them.
        let mut parts = self.sql.split('?');
        if self.sql.matches('?').count() != self.vals.len() {
            return Err(diesel::result::Error::QueryBuilderError(
                "placeholders and bound values differ in number".into(),
            ));
        }
        out.push_sql(parts.next().unwrap_or_default());
        for (val, text) in self.vals.iter().zip(parts) {
            match val {
                Val::Text(t) => out.push_bind_param::<Text, str>(t)?,
                Val::OptText(t) => out.push_bind_param::<Nullable<Text>, _>(t)?,
                Val::Int(i) => out.push_bind_param::<BigInt, _>(i)?,
                Val::SmallInt(i) => out.push_bind_param::<SmallInt, _>(i)?,
                Val::Bool(b) => out.push_bind_param::<Bool, _>(b)?,
            }
            out.push_sql(text);
        }
        Ok(())
    }
}

impl QueryId for Stmt<'_> {
    type QueryId = ();
    // No static id: the statement cache keys it by its SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl DieselQuery for Stmt<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Stmt<'_> {}

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
        assert_eq!(offset(u64::MAX), i64::MAX);
        assert!(instant(i64::MAX).is_err());
    }
}
