//! The shared storage conformance suite (crate `store-tests`) on a fresh database file per
//! test.

use crate::db::TestDb;
use domain::ports::Stores;
use std::sync::Arc;

async fn fresh() -> (Stores, TestDb) {
    let db = TestDb::new();
    let store = db.open();
    (Stores::from_one(Arc::new(store)), db)
}

store_tests::conformance_suite!(fresh);
