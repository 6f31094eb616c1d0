//! SQLite adapter (the embedded default) for every storage port of
//! [`domain::ports`]: one [`SqliteStore`] over one database file, diesel with a bundled
//! libsqlite3, embedded migrations (`migrations/sqlite`).
//!
//! Every query runs on `tokio::task::spawn_blocking`; values are always bound parameters;
//! every query reads an index (nothing loads a whole tenant).

mod accounts;
mod audit;
mod cache_trim;
mod checkpoint;
mod configs;
mod entities;
mod error;
mod events;
mod group_commit;
mod push_tx;
mod rows;
mod sql;
mod store;
#[cfg(test)]
mod tests;
mod users_api;

pub use store::SqliteStore;
