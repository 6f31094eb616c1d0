//! The load scenarios.

pub mod pull;
pub mod push;
pub mod read;
