//! PostgreSQL adapter (production) for every storage port of [`domain::ports`]: one
//! [`PgStore`] over an r2d2 pool of diesel connections, embedded migrations
//! (`migrations/postgres`, run at connect).
//!
//! Every query runs on `tokio::task::spawn_blocking`; values are always bound parameters
//! (batches as arrays, `= ANY($n)`); JSON is JSONB; every query reads an index. A pooled
//! connection is checked before use, so a database restart or a terminated backend needs no
//! process restart: the next request after the database is back succeeds.

mod accounts;
mod apply_stage;
mod audit;
mod configs;
mod entities;
mod error;
mod events;
mod group_commit;
mod prepared;
mod push_tx;
mod rows;
mod schema;
mod sql;
mod store;
#[cfg(test)]
mod tests;
mod users_api;

pub use store::{PgOptions, PgStore};
