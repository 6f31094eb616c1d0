//! Compiled schemas, one per app, reused while the app's current version is unchanged, so
//! that patterns are compiled once per schema version rather than on every upsert. The
//! current version is still read from storage on each request (another server instance may
//! have saved a new one). Bounded: when full, the cache is cleared and refills on demand.

use crate::error::DomainError;
use crate::users_schema::{CompiledSchema, UserSchema};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most apps whose compiled schema is kept.
const MAX_APPS: usize = 1024;

/// `sourceAppId` → compiled current schema.
#[derive(Debug, Default)]
pub(super) struct SchemaCache {
    entries: Mutex<HashMap<String, Arc<CompiledSchema>>>,
}

impl SchemaCache {
    /// The compiled form of `schema`, the current schema of `app_id`.
    ///
    /// # Errors
    /// 400 `INVALID_SCHEMA` when a stored pattern does not compile.
    pub(super) fn compiled(
        &self,
        app_id: &str,
        schema: &UserSchema,
    ) -> Result<Arc<CompiledSchema>, DomainError> {
        if let Some(hit) = self.lock().get(app_id) {
            if hit.version() == schema.version {
                return Ok(hit.clone());
            }
        }
        let compiled = Arc::new(CompiledSchema::new(schema)?);
        let mut entries = self.lock();
        if entries.len() >= MAX_APPS && !entries.contains_key(app_id) {
            entries.clear();
        }
        entries.insert(app_id.to_owned(), compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<CompiledSchema>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users_schema::default_schema;

    #[test]
    fn reused_per_version() {
        let cache = SchemaCache::default();
        let v1 = default_schema();
        let a = cache.compiled("app", &v1).unwrap();
        let b = cache.compiled("app", &v1).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let v2 = UserSchema {
            version: 2,
            ..default_schema()
        };
        let c = cache.compiled("app", &v2).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.version(), 2);
        let other = cache.compiled("other", &v1).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
    }
}
