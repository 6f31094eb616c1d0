//! In-memory implementations of the storage ports, meeting the same contract as the real
//! stores (the conformance suite runs against them too). For tests only.

pub mod store;
pub mod tenant;
