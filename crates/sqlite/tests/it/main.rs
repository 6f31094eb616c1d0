//! Integration tests of the SQLite adapter: one binary, a fresh database file per test.

mod accounts;
mod db;
mod events;
mod lifecycle;
mod users_api;
