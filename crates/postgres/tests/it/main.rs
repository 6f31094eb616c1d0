//! Integration tests of the PostgreSQL adapter: one binary, a fresh schema per test (see
//! `db`), skipped with a notice when `TEST_DATABASE_URL` is unset (failing when `CI=true`).

// Test helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod apply;
mod configs;
mod conformance;
mod db;
mod entities;
mod events;
mod lifecycle;
mod plans;
mod users_api;
