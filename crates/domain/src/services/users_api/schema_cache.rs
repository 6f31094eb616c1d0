//! Compiled schemas, one per app, reused while the app's current schema is unchanged, so
//! that patterns are compiled once per schema version rather than on every upsert. The
//! current schema is still read from storage on each request (another server instance may
//! have saved a new one) and compared in full, not by version alone: an app deleted and
//! created again under the same id counts its versions from 1 again. Bounded: when full,
//! the cache is cleared and refills on demand.

use crate::error::DomainError;
use crate::users_schema::{CompiledSchema, UserSchema};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most apps whose compiled schema is kept.
const MAX_APPS: usize = 1024;

/// `sourceAppId` → current schema and its compiled form.
type Entries = HashMap<String, (UserSchema, Arc<CompiledSchema>)>;

/// `sourceAppId` → compiled current schema.
#[derive(Debug, Default)]
pub(super) struct SchemaCache {
    entries: Mutex<Entries>,
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
        if let Some((source, hit)) = self.lock().get(app_id) {
            if source == schema {
                return Ok(hit.clone());
            }
        }
        let compiled = Arc::new(CompiledSchema::new(schema)?);
        let mut entries = self.lock();
        if entries.len() >= MAX_APPS && !entries.contains_key(app_id) {
            entries.clear();
        }
        entries.insert(app_id.to_owned(), (schema.clone(), compiled.clone()));
        Ok(compiled)
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
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

    #[test]
    fn same_version_with_other_fields_is_recompiled() {
        // An app deleted and created again under the same id reaches version 2 again.
        let cache = SchemaCache::default();
        let old = UserSchema {
            version: 2,
            reject_unknown: true,
            ..default_schema()
        };
        let a = cache.compiled("app", &old).unwrap();
        let new = UserSchema {
            reject_unknown: false,
            ..old.clone()
        };
        let b = cache.compiled("app", &new).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(b.validate(&serde_json::json!({"other": 1})).is_ok());
        assert!(Arc::ptr_eq(&b, &cache.compiled("app", &new).unwrap()));
    }
}
