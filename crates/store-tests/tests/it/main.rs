//! The conformance suite run against the in-memory fake of every storage port.

use domain::fake::store::MemStore;
use domain::ports::Stores;
use std::sync::Arc;

/// A fresh in-memory store; nothing to clean up.
async fn mem_store() -> (Stores, ()) {
    (Stores::from_one(Arc::new(MemStore::default())), ())
}

store_tests::conformance_suite!(mem_store);
