//! The shared storage conformance suite (crate `store-tests`) in a fresh schema per test.
//!
//! Without `TEST_DATABASE_URL` outside CI there is no database to test: the clause then
//! runs on the in-memory fake (after a notice), so a local `cargo test` still passes; with
//! `CI=true` a missing or unreachable database fails the test (see `TestDb::new`).

use crate::db::TestDb;
use domain::fake::store::MemStore;
use domain::ports::Stores;
use std::sync::Arc;

async fn fresh() -> (Stores, Option<TestDb>) {
    match TestDb::new() {
        Some(db) => (Stores::from_one(Arc::new(db.store())), Some(db)),
        None => {
            eprintln!("notice: no PostgreSQL; this conformance clause ran on the in-memory fake");
            (Stores::from_one(Arc::new(MemStore::default())), None)
        }
    }
}

store_tests::conformance_suite!(fresh);
