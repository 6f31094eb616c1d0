//! A small, bounded, short-lived cache of the users loaded by
//! [`AuthService::authenticate`](super::AuthService::authenticate).
//!
//! Every authenticated request needs the *stored* user (SPEC §5.1: deleted or demoted users
//! lose access at once). To spare the database one read per request under load, the user
//! loaded for a token is kept for a few seconds (`ttl_ms`, 0 disables the cache). Changes made
//! through [`UserAdminService`](crate::services::user_admin::UserAdminService) of this process
//! invalidate the entry at once; changes made by another server instance take effect within
//! `ttl_ms`. The cache holds at most `max_entries` users; when full, expired entries are
//! dropped, and if none are, the whole cache is cleared (cheap, and it refills on demand).

use crate::ports::User;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Default lifetime of a cached user, in milliseconds.
pub const DEFAULT_PRINCIPAL_CACHE_TTL_MS: u64 = 3_000;
/// Default bound on the number of cached users.
pub const DEFAULT_PRINCIPAL_CACHE_ENTRIES: usize = 10_000;

/// Users recently loaded for authentication, keyed by user id. Shared (`Arc`) between
/// [`AuthService`](super::AuthService), which fills it, and the user admin service, which
/// invalidates it.
#[derive(Debug)]
pub struct PrincipalCache {
    ttl_ms: i64,
    max_entries: usize,
    entries: Mutex<HashMap<i64, (Timestamp, User)>>,
}

impl PrincipalCache {
    /// A cache keeping users for `ttl_ms` milliseconds (0 disables it), at most `max_entries`.
    pub fn new(ttl_ms: u64, max_entries: usize) -> Self {
        PrincipalCache {
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets user `id` (after it was updated or deleted).
    pub fn invalidate(&self, id: i64) {
        self.lock().remove(&id);
    }

    /// The cached user `id` if it was loaded less than `ttl_ms` before `now`.
    pub(crate) fn get(&self, id: i64, now: Timestamp) -> Option<User> {
        let entries = self.lock();
        let (loaded_at, user) = entries.get(&id)?;
        self.fresh(*loaded_at, now).then(|| user.clone())
    }

    /// Remembers `user`, loaded at `now`.
    pub(crate) fn put(&self, user: &User, now: Timestamp) {
        if self.ttl_ms <= 0 || self.max_entries == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(&user.id) {
            entries.retain(|_, (loaded_at, _)| self.fresh(*loaded_at, now));
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(user.id, (now, user.clone()));
    }

    fn fresh(&self, loaded_at: Timestamp, now: Timestamp) -> bool {
        let age = now.millis().saturating_sub(loaded_at.millis());
        (0..self.ttl_ms).contains(&age)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, (Timestamp, User)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for PrincipalCache {
    fn default() -> Self {
        PrincipalCache::new(
            DEFAULT_PRINCIPAL_CACHE_TTL_MS,
            DEFAULT_PRINCIPAL_CACHE_ENTRIES,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Role;

    fn user(id: i64) -> User {
        User {
            id,
            email: format!("u{id}@example.org"),
            password_hash: "h".into(),
            role: Role::User,
            tenant_ids: vec![],
            role_assignments: vec![],
            created_at: Timestamp::EPOCH,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap_or_default()
    }

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let cache = PrincipalCache::new(1000, 10);
        cache.put(&user(1), at(0));
        assert_eq!(cache.get(1, at(999)).map(|u| u.id), Some(1));
        assert!(cache.get(1, at(1000)).is_none());
        cache.put(&user(1), at(2000));
        cache.invalidate(1);
        assert!(cache.get(1, at(2001)).is_none());
    }

    #[test]
    fn zero_ttl_disables_and_size_is_bounded() {
        let off = PrincipalCache::new(0, 10);
        off.put(&user(1), at(0));
        assert!(off.get(1, at(0)).is_none());

        let small = PrincipalCache::new(1000, 2);
        small.put(&user(1), at(0));
        small.put(&user(2), at(0));
        small.put(&user(3), at(500));
        assert!(small.lock().len() <= 2);
        assert!(small.get(3, at(500)).is_some());
        small.put(&user(4), at(1200));
        // Full: the expired entry (3) makes room and the fresh one (4) is kept.
        small.put(&user(5), at(1600));
        assert!(small.get(3, at(1600)).is_none());
        assert!(small.get(4, at(1600)).is_some());
        assert!(small.get(5, at(1600)).is_some());
    }
}
