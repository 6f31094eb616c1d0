//! A fresh database file in its own temporary directory, removed on drop.

use domain::ports::{ConfigRecord, ConfigStore};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::json;
use sqlite_store::SqliteStore;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary directory holding one test database.
pub struct TestDb {
    dir: PathBuf,
}

impl TestDb {
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "sqlite-store-test-{}-{nanos}-{n}",
            std::process::id()
        ));
        TestDb { dir }
    }

    /// The `sqlite://` URL of the database (in a subdirectory, to test its creation).
    pub fn url(&self) -> String {
        format!("sqlite://{}/data/test.db", self.dir.display())
    }

    pub fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.url()).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap()
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Creates the tenant `id` (a config named `name`).
pub async fn create_tenant(store: &SqliteStore, id: &str, name: &str) {
    let created = store
        .save_config(&ConfigRecord {
            id: tenant(id),
            artifact_id: format!("{:0>32}", id.len() + name.len()) + id,
            document: json!({"id": id, "name": name, "version": "1.0"}),
            archived_at: None,
            created_at: ts(1_000),
            updated_at: ts(1_000),
        })
        .await
        .unwrap();
    assert!(created);
}
