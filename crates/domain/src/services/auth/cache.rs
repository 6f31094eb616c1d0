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
    entries: Mutex<Entries>,
}

/// The cached users, and how many invalidations there have been.
#[derive(Debug, Default)]
struct Entries {
    users: HashMap<i64, (Timestamp, User)>,
    invalidations: u64,
}

impl PrincipalCache {
    /// A cache keeping users for `ttl_ms` milliseconds (0 disables it), at most `max_entries`.
    pub fn new(ttl_ms: u64, max_entries: usize) -> Self {
        PrincipalCache {
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
            max_entries,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Forgets user `id` (after it was updated or deleted).
    pub fn invalidate(&self, id: i64) {
        let mut entries = self.lock();
        entries.users.remove(&id);
        entries.invalidations += 1;
    }

    /// The cached user `id` if it was loaded less than `ttl_ms` before `now`.
    pub(crate) fn get(&self, id: i64, now: Timestamp) -> Option<User> {
        let entries = self.lock();
        let (loaded_at, user) = entries.users.get(&id)?;
        self.fresh(*loaded_at, now).then(|| user.clone())
    }

    /// A stamp to take before loading a user for [`PrincipalCache::put`].
    pub(crate) fn stamp(&self) -> u64 {
        self.lock().invalidations
    }

    /// Remembers `user`, loaded at `now` after `stamp` was taken — unless an invalidation
    /// came in between: the load may have read the user before a change that then
    /// invalidated the cache, and caching it would serve the old role or tenants on.
    pub(crate) fn put(&self, user: &User, now: Timestamp, stamp: u64) {
        if self.ttl_ms <= 0 || self.max_entries == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.invalidations != stamp {
            return;
        }
        let users = &mut entries.users;
        if users.len() >= self.max_entries && !users.contains_key(&user.id) {
            users.retain(|_, (loaded_at, _)| self.fresh(*loaded_at, now));
            if users.len() >= self.max_entries {
                users.clear();
            }
        }
        users.insert(user.id, (now, user.clone()));
    }

    fn fresh(&self, loaded_at: Timestamp, now: Timestamp) -> bool {
        let age = now.millis().saturating_sub(loaded_at.millis());
        (0..self.ttl_ms).contains(&age)
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
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
            password_changed_at: None,
            created_at: Timestamp::EPOCH,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap_or_default()
    }

    #[test]
    fn a_user_loaded_across_an_invalidation_is_not_cached() {
        let cache = PrincipalCache::new(1000, 10);
        let stamp = cache.stamp();
        // The user is read (old role) while an admin's change commits and invalidates it.
        cache.invalidate(1);
        cache.put(&user(1), at(0), stamp);
        assert!(cache.get(1, at(1)).is_none());
        // Loaded after the invalidation: cached.
        cache.put(&user(1), at(0), cache.stamp());
        assert!(cache.get(1, at(1)).is_some());
    }

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let cache = PrincipalCache::new(1000, 10);
        cache.put(&user(1), at(0), cache.stamp());
        assert_eq!(cache.get(1, at(999)).map(|u| u.id), Some(1));
        assert!(cache.get(1, at(1000)).is_none());
        cache.put(&user(1), at(2000), cache.stamp());
        cache.invalidate(1);
        assert!(cache.get(1, at(2001)).is_none());
    }

    #[test]
    fn zero_ttl_disables_and_size_is_bounded() {
        let off = PrincipalCache::new(0, 10);
        off.put(&user(1), at(0), off.stamp());
        assert!(off.get(1, at(0)).is_none());

        let small = PrincipalCache::new(1000, 2);
        small.put(&user(1), at(0), small.stamp());
        small.put(&user(2), at(0), small.stamp());
        small.put(&user(3), at(500), small.stamp());
        assert!(small.lock().users.len() <= 2);
        assert!(small.get(3, at(500)).is_some());
        small.put(&user(4), at(1200), small.stamp());
        // Full: the expired entry (3) makes room and the fresh one (4) is kept.
        small.put(&user(5), at(1600), small.stamp());
        assert!(small.get(3, at(1600)).is_none());
        assert!(small.get(4, at(1600)).is_some());
        assert!(small.get(5, at(1600)).is_some());
    }
}
