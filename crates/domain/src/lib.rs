//! The rules of the DataCollect sync hub, with no IO: events and their validation, the
//! deterministic entity fold, pull cursors, duplicate match keys, program configs, Users-API
//! schemas, the ports adapters implement, and the use-case services built on them.
#![deny(missing_docs)]

pub mod apply;
pub mod canonical;
pub mod config;
pub mod cursor;
mod digest;
pub mod duplicates;
pub mod entity;
pub mod error;
pub mod event;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod materialize;
mod nul;
pub mod ports;
pub mod principal;
pub mod services;
pub mod tenant;
pub mod time;
pub mod users_schema;
