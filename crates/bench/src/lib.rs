//! Load generator for the DataCollect sync hub. It speaks only the upstream-compatible HTTP
//! API (`/api/users/login`, `/api/apps`, `/api/sync/push`, `/api/sync/pull`, a cheap
//! authenticated GET), so it can drive this server or any compatible one.
//!
//! Scenarios: [`scenario::push`], [`scenario::pull`], [`scenario::read`]; the figures go to
//! a [`report::Report`] (table on stdout, JSON on request). Every loop is bounded in count
//! and time, and traffic only ever goes to the URL given.

pub mod api;
pub mod cli;
pub mod error;
pub mod generator;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod stats;
