//! Integration tests of the SQLite adapter: one binary, a fresh database file per test.

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod commits;
mod conformance;
mod db;
mod events;
mod lifecycle;
mod users_api;
