//! Small helpers to build bound SQL: boxed queries, statements kept prepared, `IN (...)`
//! placeholder lists, one-column rows, clamped paging numbers, stored instants.

use crate::error::Fail;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query as DieselQuery, QueryFragment};
use diesel::query_builder::{QueryId, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};
use domain::time::Timestamp;
use std::marker::PhantomData;
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

/// A statement of fixed SQL text: one type per statement ([`statement!`]).
///
/// Diesel never keeps a `sql_query` prepared (it cannot tell whether the text is fixed), so
/// each execution parses and plans the SQL again: 9 % of the writer's time in a push
/// profile, most of it for statements run once per event. A [`Stmt`] of a `FixedSql` type
/// gives diesel a static query id, the type, so the connection's statement cache keeps the
/// statement prepared under that id — without building and hashing the SQL text on every
/// execution either (it is built once, when the statement is first prepared; keying by text
/// cost ~5 % of the writer's time). Write `?` only as placeholders.
pub(crate) trait FixedSql: Sized + 'static {
    /// The statement's SQL text.
    const SQL: &'static str;
    /// Its number of placeholders, counted once at compile time (the check in `walk_ast`
    /// runs on every execution).
    const PLACEHOLDERS: usize = placeholders_in(Self::SQL);

    /// The statement with `vals` bound in order.
    fn with(vals: Vec<Val<'_>>) -> Stmt<'_, Self> {
        Stmt {
            vals,
            sql: PhantomData,
        }
    }
}

/// The number of `?` in `sql`.
const fn placeholders_in(sql: &str) -> usize {
    let (bytes, mut i, mut n) = (sql.as_bytes(), 0, 0);
    while i < bytes.len() {
        if bytes[i] == b'?' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Declares a [`FixedSql`] statement type: `statement!(Name = "SQL …");`.
macro_rules! statement {
    ($(#[$doc:meta])* $name:ident = $sql:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;
        impl $crate::sql::FixedSql for $name {
            const SQL: &'static str = $sql;
        }
    };
}
pub(crate) use statement;

/// A [`FixedSql`] statement with its values bound in order.
#[derive(Debug)]
pub(crate) struct Stmt<'a, S> {
    vals: Vec<Val<'a>>,
    sql: PhantomData<S>,
}

impl<S: FixedSql> QueryFragment<Sqlite> for Stmt<'_, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // Diesel writes a `?` for each bound value, so the text goes in between them.
        let mut parts = S::SQL.split('?');
        if S::PLACEHOLDERS != self.vals.len() {
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

impl<S: FixedSql> QueryId for Stmt<'_, S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: FixedSql> DieselQuery for Stmt<'_, S> {
    type SqlType = Untyped;
}

impl<Conn, S> RunQueryDsl<Conn> for Stmt<'_, S> {}

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

    statement!(PlusOne = "SELECT ? + 1 AS v");
    statement!(PlusTwo = "SELECT ? + 2 AS v");

    /// Each statement type is prepared once per connection and keeps its own statement.
    #[test]
    fn fixed_statements_stay_prepared_per_type() {
        use diesel::connection::{Connection, InstrumentationEvent};
        use diesel::SqliteConnection;
        use std::sync::{Arc, Mutex};
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        for i in 0..3 {
            let one = PlusOne::with(vec![Val::Int(i)])
                .load::<Int>(&mut conn)
                .unwrap();
            let two = PlusTwo::with(vec![Val::Int(i)])
                .load::<Int>(&mut conn)
                .unwrap();
            assert_eq!((one[0].v, two[0].v), (i + 1, i + 2));
        }
        assert_eq!(
            *cached.lock().unwrap(),
            ["SELECT ? + 1 AS v", "SELECT ? + 2 AS v"]
        );
        // A value missing or in excess is an error, not a statement with the wrong binds.
        assert!(PlusOne::with(vec![]).load::<Int>(&mut conn).is_err());
        assert!(PlusOne::with(vec![Val::Int(1), Val::Int(2)])
            .load::<Int>(&mut conn)
            .is_err());
    }

    #[test]
    fn builds_placeholder_lists() {
        assert_eq!(placeholders(0), "");
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(offset(u64::MAX), i64::MAX);
        assert!(instant(i64::MAX).is_err());
    }
}
