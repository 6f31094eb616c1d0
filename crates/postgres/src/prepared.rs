//! Raw SQL statements kept prepared on each connection.
//!
//! Diesel never keeps a `sql_query` prepared (it cannot tell whether the text is fixed), so
//! PostgreSQL parsed and analysed the push's batch reads (each a `LATERAL` join) again on
//! every push: parser and planner functions were ~10 % of the database's CPU time in a push
//! profile, spent while the push holds its tenant's lock. A [`Stmt`] of a [`Prepared`] type
//! gives diesel a static query id — the type — so the connection's statement cache prepares
//! it once, as a named statement, and later pushes only bind and execute it. (Each execution
//! is still planned for its values: connections run with `force_custom_plan`, see
//! `store.rs`.)
//!
//! Its SQL names its parameters `$1`, `$2`, …, as PostgreSQL does, and may use one several
//! times; diesel numbers the parameters of the statement it prepares itself, in the order
//! they are written, so each `$k` is written as a fresh parameter bound to the `k`-th value.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query as DieselQuery, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

/// One value bound to a [`Stmt`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Text(&'a str),
    Texts(&'a [String]),
    Strs(&'a [&'a str]),
    /// A `text[]` with `NULL`s.
    OptStrs(&'a [Option<&'a str>]),
    BigInt(i64),
    BigInts(&'a [i64]),
    Bools(&'a [bool]),
}

/// A statement of fixed SQL text, kept prepared: one type per statement ([`prepared!`]).
pub(crate) trait Prepared: Sized + 'static {
    /// The statement's SQL text, with parameters `$1`, `$2`, … (a `$` is always one).
    const SQL: &'static str;

    /// The statement with `vals` as its parameters `$1`, `$2`, ….
    fn with(vals: Vec<Val<'_>>) -> Stmt<'_, Self> {
        Stmt {
            vals,
            sql: PhantomData,
        }
    }
}

/// Declares a [`Prepared`] statement type: `prepared!(Name = "SQL …");`.
macro_rules! prepared {
    ($(#[$doc:meta])* $name:ident = $sql:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;
        impl $crate::prepared::Prepared for $name {
            const SQL: &'static str = $sql;
        }
    };
}
pub(crate) use prepared;

/// A [`Prepared`] statement with its parameters' values.
#[derive(Debug)]
pub(crate) struct Stmt<'a, S> {
    vals: Vec<Val<'a>>,
    sql: PhantomData<S>,
}

impl<S: Prepared> QueryFragment<Pg> for Stmt<'_, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut rest = S::SQL;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let val = rest[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|i| self.vals.get(i))
                .ok_or_else(unknown_parameter)?;
            match val {
                Val::Text(t) => out.push_bind_param::<Text, str>(t)?,
                Val::Texts(t) => out.push_bind_param::<Array<Text>, _>(t)?,
                Val::Strs(t) => out.push_bind_param::<Array<Text>, _>(t)?,
                Val::OptStrs(t) => out.push_bind_param::<Array<Nullable<Text>>, _>(t)?,
                Val::BigInt(i) => out.push_bind_param::<BigInt, _>(i)?,
                Val::BigInts(i) => out.push_bind_param::<Array<BigInt>, _>(i)?,
                Val::Bools(b) => out.push_bind_param::<Array<Bool>, _>(b)?,
            }
            rest = &rest[digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// A `$` not followed by the number of a bound value.
fn unknown_parameter() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError("a `$` names no bound value".into())
}

impl<S: Prepared> QueryId for Stmt<'_, S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: Prepared> DieselQuery for Stmt<'_, S> {
    type SqlType = Untyped;
}

impl<Conn, S> RunQueryDsl<Conn> for Stmt<'_, S> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::{PgConnection, QueryableByName};
    use std::sync::{Arc, Mutex};

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Text>)]
        v: Option<String>,
    }

    prepared!(
        Twice = "SELECT $1 || '-' || $2 || '-' || $1 || '-' || array_length($3, 1)::text AS v"
    );
    prepared!(Nine = "SELECT $9 AS v");
    prepared!(Ten = "SELECT $10 AS v");
    prepared!(Bare = "SELECT $ AS v");

    /// One statement per type, prepared once; a parameter used twice is bound twice; a
    /// parameter with no value is an error, not a statement with the wrong binds.
    #[test]
    fn statements_stay_prepared_and_bind_by_number() {
        let Some(url) = crate::tests::test_database_url() else {
            return;
        };
        let mut conn = PgConnection::establish(&url).unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        let list = vec!["x".to_owned(), "y".to_owned()];
        for word in ["a", "b", "c"] {
            let rows = Twice::with(vec![Val::Text(word), Val::BigInt(7), Val::Texts(&list)])
                .load::<Row>(&mut conn)
                .unwrap();
            assert_eq!(
                rows[0].v.as_deref(),
                Some(format!("{word}-7-{word}-2").as_str())
            );
        }
        assert_eq!(
            *cached.lock().unwrap(),
            ["SELECT $1 || '-' || $2 || '-' || $3 || '-' || array_length($4, 1)::text AS v"]
        );
        assert!(Nine::with(vec![Val::Text("a")])
            .load::<Row>(&mut conn)
            .is_err());
        assert!(Bare::with(vec![Val::Text("a")])
            .load::<Row>(&mut conn)
            .is_err());
        // Parameters past the ninth: `$10` is the tenth value, not the first and a `0`.
        let mut ten: Vec<Val<'_>> = (1..10).map(|_| Val::BigInt(0)).collect();
        ten.push(Val::Text("tenth"));
        let rows = Ten::with(ten).load::<Row>(&mut conn).unwrap();
        assert_eq!(rows[0].v.as_deref(), Some("tenth"));
    }
}
