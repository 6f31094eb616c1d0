//! [`MemStore`]: every async storage port in memory, for tests of the layers above the
//! stores. Pushes run the same [`push_in_tx`] as the databases, on a copy of the tenant that
//! replaces it only on success (an atomic batch).

use super::tenant::MemTenant;
use crate::cursor::Seq;
use crate::entity::Entity;
use crate::error::StoreError;
use crate::materialize::push_in_tx;
use crate::ports::{
    AccountChange, AuditEntry, AuditStore, ConfigQuery, ConfigRecord, ConfigSort, ConfigStore,
    ConfigSummary, DuplicatePair, EntityQuery, EntityStore, EventFilter, EventPage, EventStore,
    LoginThrottleStore, NewUser, PushBatch, PushOutcome, QuarantinedEvent, RefreshToken,
    RefreshTokenStore, RefreshUse, Role, StoredEvent, User, UserChange, UserRecord, UserStore,
    UsersApiStore, UsersApp, UsersSession,
};
use crate::tenant::TenantId;
use crate::time::Timestamp;
use crate::users_schema::UserSchema;
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    configs: BTreeMap<String, ConfigRecord>,
    tenants: HashMap<String, MemTenant>,
    /// The head each purged tenant id left (a config created again continues after it).
    retired: HashMap<String, Seq>,
    users: BTreeMap<i64, User>,
    next_user: i64,
    refresh: HashMap<String, (RefreshToken, bool, bool)>,
    failures: Vec<(String, Timestamp)>,
    audit: Vec<(i64, String, AuditEntry)>,
    apps: BTreeMap<String, UsersApp>,
    schemas: BTreeMap<(String, i64), UserSchema>,
    records: BTreeMap<(String, String), UserRecord>,
    sessions: HashMap<String, UsersSession>,
}

impl State {
    /// Whether user `id` is the only `ADMIN`.
    fn is_last_admin(&self, id: i64) -> bool {
        let mut admins = self.users.values().filter(|u| u.role == Role::Admin);
        matches!((admins.next(), admins.next()), (Some(only), None) if only.id == id)
    }
}

/// All storage ports in memory (see the module documentation).
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
}

impl MemStore {
    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::internal("poisoned"))
    }
}

fn live(t: Option<&MemTenant>) -> Vec<Entity> {
    t.map(|t| {
        t.entities()
            .values()
            .filter(|r| !r.deleted)
            .map(|r| r.entity.clone())
            .collect()
    })
    .unwrap_or_default()
}

#[async_trait]
impl EventStore for MemStore {
    async fn push(&self, tenant: &TenantId, batch: PushBatch) -> Result<PushOutcome, StoreError> {
        let mut s = self.lock()?;
        if !s.configs.contains_key(tenant.as_str()) {
            return Err(StoreError::NotFound);
        }
        let mut copy = s.tenants.get(tenant.as_str()).cloned().unwrap_or_default();
        let out = push_in_tx(&mut copy, &batch)?;
        s.tenants.insert(tenant.as_str().to_owned(), copy);
        Ok(out)
    }

    async fn pull(
        &self,
        tenant: &TenantId,
        after: Seq,
        limit: u32,
        max_data_bytes: usize,
    ) -> Result<EventPage, StoreError> {
        let s = self.lock()?;
        let Some(t) = s.tenants.get(tenant.as_str()) else {
            return Ok(EventPage::default());
        };
        let rows = t.events().iter().filter(|e| e.seq > after).map(|e| {
            let size = serde_json::to_string(&e.event.data).map_err(StoreError::internal)?;
            Ok((e.clone(), size.len()))
        });
        EventPage::fill(rows, limit, max_data_bytes)
    }

    async fn first_seq_at_or_after(
        &self,
        tenant: &TenantId,
        at: Timestamp,
    ) -> Result<Option<Seq>, StoreError> {
        let s = self.lock()?;
        Ok(s.tenants.get(tenant.as_str()).and_then(|t| {
            t.events()
                .iter()
                .find(|e| e.event.timestamp >= at)
                .map(|e| e.seq)
        }))
    }

    async fn head(&self, tenant: &TenantId) -> Result<Seq, StoreError> {
        Ok(self
            .lock()?
            .tenants
            .get(tenant.as_str())
            .map_or(Seq(0), MemTenant::head_seq))
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        after: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.lock()?;
        Ok(s.tenants.get(tenant.as_str()).map_or_else(Vec::new, |t| {
            t.events()
                .iter()
                .filter(|e| e.seq > after)
                .filter(|e| {
                    filter
                        .entity_guid
                        .as_ref()
                        .is_none_or(|g| *g == e.event.entity_guid)
                })
                .filter(|e| {
                    filter
                        .event_type
                        .as_ref()
                        .is_none_or(|ty| *ty == e.event.event_type)
                })
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }

    async fn entity_events(
        &self,
        tenant: &TenantId,
        entity_guid: &str,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.lock()?;
        let mut out: Vec<StoredEvent> = s.tenants.get(tenant.as_str()).map_or_else(Vec::new, |t| {
            t.events()
                .iter()
                .filter(|e| e.event.entity_guid == entity_guid)
                .cloned()
                .collect()
        });
        out.sort_by_key(|e| e.event.key());
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn quarantined(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<QuarantinedEvent>, StoreError> {
        let s = self.lock()?;
        Ok(s.tenants.get(tenant.as_str()).map_or_else(Vec::new, |t| {
            t.quarantine_rows()
                .iter()
                .filter(|q| q.id > after)
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }
}

#[async_trait]
impl EntityStore for MemStore {
    async fn list_entities(
        &self,
        tenant: &TenantId,
        q: &EntityQuery,
    ) -> Result<Vec<Entity>, StoreError> {
        let s = self.lock()?;
        let mut all: Vec<Entity> = live(s.tenants.get(tenant.as_str()))
            .into_iter()
            .filter(|e| {
                q.entity_name
                    .as_deref()
                    .is_none_or(|n| e.entity_name() == Some(n))
            })
            .filter(|e| q.kind.is_none_or(|k| e.kind == k))
            .filter(|e| {
                q.name_contains
                    .as_ref()
                    .is_none_or(|n| e.name.to_lowercase().contains(&n.to_lowercase()))
            })
            .collect();
        all.sort_by(|a, b| {
            b.last_updated
                .cmp(&a.last_updated)
                .then_with(|| a.guid.cmp(&b.guid))
        });
        Ok(all
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .collect())
    }

    async fn count_entities(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(live(self.lock()?.tenants.get(tenant.as_str())).len() as u64)
    }

    async fn count_by_form(&self, tenant: &TenantId) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for e in live(self.lock()?.tenants.get(tenant.as_str())) {
            if let Some(name) = e.entity_name() {
                *out.entry(name.to_owned()).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    async fn get_entity(
        &self,
        tenant: &TenantId,
        guid: &str,
    ) -> Result<Option<Entity>, StoreError> {
        let s = self.lock()?;
        Ok(s.tenants
            .get(tenant.as_str())
            .and_then(|t| t.entities().get(guid))
            .filter(|r| !r.deleted)
            .map(|r| r.entity.clone()))
    }

    async fn get_entities(
        &self,
        tenant: &TenantId,
        guids: &[String],
    ) -> Result<Vec<Entity>, StoreError> {
        let s = self.lock()?;
        let Some(t) = s.tenants.get(tenant.as_str()) else {
            return Ok(Vec::new());
        };
        let wanted: std::collections::BTreeSet<&String> = guids.iter().collect();
        Ok(wanted
            .into_iter()
            .filter_map(|g| t.entities().get(g.as_str()))
            .filter(|r| !r.deleted)
            .map(|r| r.entity.clone())
            .collect())
    }

    async fn search_entities(
        &self,
        tenant: &TenantId,
        criteria: &[(String, Value)],
        limit: u32,
    ) -> Result<Vec<Entity>, StoreError> {
        let same = |a: &Value, b: &Value| match (a, b) {
            (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
            _ => a == b,
        };
        Ok(live(self.lock()?.tenants.get(tenant.as_str()))
            .into_iter()
            .filter(|e| {
                criteria
                    .iter()
                    .all(|(k, v)| e.data.get(k).is_some_and(|d| same(d, v)))
            })
            .take(limit as usize)
            .collect())
    }

    async fn list_duplicates(
        &self,
        tenant: &TenantId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<DuplicatePair>, StoreError> {
        let s = self.lock()?;
        Ok(s.tenants.get(tenant.as_str()).map_or_else(Vec::new, |t| {
            t.duplicates()
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|(a, b)| DuplicatePair {
                    entity_guid: a.clone(),
                    duplicate_guid: b.clone(),
                })
                .collect()
        }))
    }

    async fn has_duplicates(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .tenants
            .get(tenant.as_str())
            .is_some_and(|t| !t.duplicates().is_empty()))
    }

    async fn keep_both(&self, tenant: &TenantId, pair: &DuplicatePair) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        Ok(s.tenants
            .get_mut(tenant.as_str())
            .is_some_and(|t| t.keep_both(&pair.entity_guid, &pair.duplicate_guid)))
    }
}

fn text_field(record: &ConfigRecord, key: &str) -> String {
    record
        .document
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

#[async_trait]
impl ConfigStore for MemStore {
    async fn save_config(&self, record: &ConfigRecord) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        if s.configs
            .values()
            .any(|c| c.artifact_id == record.artifact_id && c.id != record.id)
        {
            return Err(StoreError::Conflict("configs(artifact_id)".into()));
        }
        if let Some(old) = s.configs.get_mut(record.id.as_str()) {
            old.document = record.document.clone();
            old.artifact_id = record.artifact_id.clone();
            old.updated_at = record.updated_at;
            return Ok(false);
        }
        s.configs
            .insert(record.id.as_str().to_owned(), record.clone());
        if let Some(head) = s.retired.get(record.id.as_str()).copied() {
            s.tenants
                .insert(record.id.as_str().to_owned(), MemTenant::starting_at(head));
        }
        Ok(true)
    }

    async fn get_config(&self, id: &TenantId) -> Result<Option<ConfigRecord>, StoreError> {
        Ok(self.lock()?.configs.get(id.as_str()).cloned())
    }

    async fn config_by_artifact(
        &self,
        artifact_id: &str,
    ) -> Result<Option<ConfigRecord>, StoreError> {
        Ok(self
            .lock()?
            .configs
            .values()
            .find(|c| c.artifact_id == artifact_id && c.archived_at.is_none())
            .cloned())
    }

    async fn list_configs(&self, q: &ConfigQuery) -> Result<(Vec<ConfigSummary>, u64), StoreError> {
        let s = self.lock()?;
        let mut rows: Vec<ConfigSummary> = s
            .configs
            .values()
            .filter(|c| q.include_archived || c.archived_at.is_none())
            .filter(|c| {
                q.only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|o| o == c.id.as_str()))
            })
            .filter(|c| {
                q.search.as_ref().is_none_or(|needle| {
                    let needle = needle.to_lowercase();
                    [
                        text_field(c, "name"),
                        c.id.as_str().to_owned(),
                        text_field(c, "version"),
                    ]
                    .iter()
                    .any(|h| h.to_lowercase().contains(&needle))
                })
            })
            .map(|c| ConfigSummary {
                record: c.clone(),
                entities_count: live(s.tenants.get(c.id.as_str())).len() as u64,
            })
            .collect();
        rows.sort_by(|a, b| {
            let order = match q.sort {
                ConfigSort::Name => {
                    text_field(&a.record, "name").cmp(&text_field(&b.record, "name"))
                }
                ConfigSort::Id => a.record.id.cmp(&b.record.id),
                ConfigSort::EntitiesCount => a.entities_count.cmp(&b.entities_count),
            }
            .then_with(|| a.record.id.cmp(&b.record.id));
            if q.descending {
                order.reverse()
            } else {
                order
            }
        });
        let total = rows.len() as u64;
        Ok((
            rows.into_iter()
                .skip(q.offset as usize)
                .take(q.limit as usize)
                .collect(),
            total,
        ))
    }

    async fn set_archived(&self, id: &TenantId, at: Option<Timestamp>) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        Ok(s.configs
            .get_mut(id.as_str())
            .map(|c| c.archived_at = at)
            .is_some())
    }

    async fn purge_config(&self, id: &TenantId) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        let head = s
            .tenants
            .remove(id.as_str())
            .map_or(Seq(0), |t| t.head_seq());
        let retired = s.retired.entry(id.as_str().to_owned()).or_insert(Seq(0));
        *retired = (*retired).max(head);
        s.audit.retain(|(_, t, _)| t != id.as_str());
        let existed = s.configs.remove(id.as_str()).is_some();
        if existed {
            for user in s.users.values_mut() {
                user.tenant_ids.retain(|t| t != id.as_str());
                user.role_assignments.retain(|r| r.tenant_id != id.as_str());
            }
        }
        Ok(existed)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }
}

#[async_trait]
impl UserStore for MemStore {
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let mut s = self.lock()?;
        if s.users.values().any(|u| u.email == user.email) {
            return Err(StoreError::Conflict("users(email)".into()));
        }
        s.next_user += 1;
        let created = User {
            id: s.next_user,
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            role: user.role,
            tenant_ids: user.tenant_ids.clone(),
            role_assignments: user.role_assignments.clone(),
            password_changed_at: None,
            created_at: user.created_at,
        };
        s.users.insert(created.id, created.clone());
        Ok(created)
    }

    async fn get_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .lock()?
            .users
            .values()
            .find(|u| u.email == email)
            .cloned())
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(self.lock()?.users.values().cloned().collect())
    }

    async fn update_user(&self, id: i64, change: &UserChange) -> Result<AccountChange, StoreError> {
        let mut s = self.lock()?;
        // In the order of the database stores: the last-admin check, then the write.
        if change.demotes() && s.is_last_admin(id) {
            return Ok(AccountChange::LastAdmin);
        }
        if let Some(email) = &change.email {
            if s.users.values().any(|u| &u.email == email && u.id != id) {
                return Err(StoreError::Conflict("users(email)".into()));
            }
        }
        let found = s
            .users
            .get_mut(&id)
            .map(|u| *u = change.applied_to(u))
            .is_some();
        if found && change.password_hash.is_some() {
            for (t, _, revoked) in s.refresh.values_mut() {
                if t.user_id == id {
                    *revoked = true;
                }
            }
        }
        Ok(AccountChange::found(found))
    }

    async fn delete_user(&self, id: i64) -> Result<AccountChange, StoreError> {
        let mut s = self.lock()?;
        if s.is_last_admin(id) {
            return Ok(AccountChange::LastAdmin);
        }
        s.refresh.retain(|_, (t, _, _)| t.user_id != id);
        Ok(AccountChange::found(s.users.remove(&id).is_some()))
    }

    async fn replace_password_hash(
        &self,
        id: i64,
        current: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        Ok(match s.users.get_mut(&id) {
            Some(u) if u.password_hash == current => {
                u.password_hash = new.to_owned();
                true
            }
            _ => false,
        })
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        Ok(self
            .lock()?
            .users
            .values()
            .filter(|u| u.role == Role::Admin)
            .count() as u64)
    }
}

#[async_trait]
impl RefreshTokenStore for MemStore {
    async fn insert_refresh(
        &self,
        token: &RefreshToken,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        let current = s
            .users
            .get(&token.user_id)
            .is_some_and(|u| u.password_hash == password_hash);
        let revoked = s
            .refresh
            .values()
            .any(|(t, _, revoked)| *revoked && t.family_id == token.family_id);
        if !current || revoked {
            return Ok(false);
        }
        s.refresh
            .insert(token.token_hash.clone(), (token.clone(), false, false));
        Ok(true)
    }

    async fn use_refresh(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<RefreshUse, StoreError> {
        let mut s = self.lock()?;
        let Some((token, used, revoked)) = s.refresh.get(token_hash).cloned() else {
            return Ok(RefreshUse::Invalid);
        };
        if used {
            for (t, _, r) in s.refresh.values_mut() {
                if t.family_id == token.family_id {
                    *r = true;
                }
            }
            return Ok(RefreshUse::Reused {
                user_id: token.user_id,
            });
        }
        if revoked || token.expires_at <= now {
            return Ok(RefreshUse::Invalid);
        }
        s.refresh
            .insert(token_hash.to_owned(), (token.clone(), true, false));
        Ok(RefreshUse::Valid(token))
    }

    async fn revoke_refresh(&self, token_hash: &str) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        let Some(family) = s
            .refresh
            .get(token_hash)
            .map(|(t, _, _)| t.family_id.clone())
        else {
            return Ok(false);
        };
        for (t, _, r) in s.refresh.values_mut() {
            if t.family_id == family {
                *r = true;
            }
        }
        Ok(true)
    }

    async fn delete_expired_refresh(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let before = s.refresh.len();
        s.refresh.retain(|_, (t, _, _)| t.expires_at > now);
        Ok((before - s.refresh.len()) as u64)
    }
}

#[async_trait]
impl LoginThrottleStore for MemStore {
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut s = self.lock()?;
        s.failures.push((key.to_owned(), now));
        Ok(s.failures
            .iter()
            .filter(|(k, at)| k == key && *at >= window_start)
            .count() as u32)
    }

    async fn failures_since(&self, key: &str, window_start: Timestamp) -> Result<u32, StoreError> {
        Ok(self
            .lock()?
            .failures
            .iter()
            .filter(|(k, at)| k == key && *at >= window_start)
            .count() as u32)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.lock()?.failures.retain(|(k, _)| k != key);
        Ok(())
    }

    async fn forget_failures_before(
        &self,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let kept = s.failures.len();
        s.failures
            .retain(|(k, at)| !(k.starts_with(prefix) && *at < before));
        Ok((kept - s.failures.len()) as u64)
    }
}

#[async_trait]
impl AuditStore for MemStore {
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entries: &[AuditEntry],
    ) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let mut added = 0;
        for e in entries {
            if s.audit
                .iter()
                .any(|(_, t, x)| t == tenant.as_str() && x.guid == e.guid)
            {
                continue;
            }
            let id = s.audit.last().map_or(1, |(id, _, _)| id + 1);
            s.audit.push((id, tenant.as_str().to_owned(), e.clone()));
            added += 1;
        }
        Ok(added)
    }

    async fn list_audit(
        &self,
        tenant: &TenantId,
        since: Option<Timestamp>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        Ok(self
            .lock()?
            .audit
            .iter()
            .filter(|(id, t, e)| {
                t == tenant.as_str() && *id > after && since.is_none_or(|s| e.timestamp > s)
            })
            .take(limit as usize)
            .map(|(id, _, e)| (*id, e.clone()))
            .collect())
    }
}

#[async_trait]
impl UsersApiStore for MemStore {
    async fn create_app(&self, app: &UsersApp, schema: &UserSchema) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        if s.apps.contains_key(&app.source_app_id) {
            return Err(StoreError::Conflict("users_apps(source_app_id)".into()));
        }
        s.apps.insert(app.source_app_id.clone(), app.clone());
        s.schemas.insert(
            (app.source_app_id.clone(), 1),
            UserSchema {
                version: 1,
                ..schema.clone()
            },
        );
        Ok(())
    }

    async fn get_app(&self, source_app_id: &str) -> Result<Option<UsersApp>, StoreError> {
        Ok(self.lock()?.apps.get(source_app_id).cloned())
    }

    async fn list_apps(&self) -> Result<Vec<UsersApp>, StoreError> {
        let mut apps: Vec<UsersApp> = self.lock()?.apps.values().cloned().collect();
        apps.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.source_app_id.cmp(&b.source_app_id))
        });
        Ok(apps)
    }

    async fn delete_app(&self, source_app_id: &str) -> Result<Option<u64>, StoreError> {
        let mut s = self.lock()?;
        if s.apps.remove(source_app_id).is_none() {
            return Ok(None);
        }
        let before = s.records.len();
        s.records.retain(|(app, _), _| app != source_app_id);
        let deleted = (before - s.records.len()) as u64;
        s.schemas.retain(|(app, _), _| app != source_app_id);
        s.sessions
            .retain(|_, sess| sess.source_app_id != source_app_id);
        Ok(Some(deleted))
    }

    async fn current_schema(&self, source_app_id: &str) -> Result<Option<UserSchema>, StoreError> {
        let s = self.lock()?;
        Ok(s.schemas
            .iter()
            .filter(|((app, _), _)| app == source_app_id)
            .map(|(_, v)| v.clone())
            .next_back())
    }

    async fn save_schema(
        &self,
        source_app_id: &str,
        schema: &UserSchema,
    ) -> Result<UserSchema, StoreError> {
        let mut s = self.lock()?;
        if !s.apps.contains_key(source_app_id) {
            return Err(StoreError::NotFound);
        }
        let version = s
            .schemas
            .keys()
            .filter(|(app, _)| app == source_app_id)
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(0)
            + 1;
        let saved = UserSchema {
            version,
            ..schema.clone()
        };
        s.schemas
            .insert((source_app_id.to_owned(), version), saved.clone());
        Ok(saved)
    }

    async fn upsert_record(
        &self,
        source_app_id: &str,
        email: &str,
        data: &Map<String, Value>,
        schema_version: i64,
        new_id: &str,
        now: Timestamp,
    ) -> Result<UserRecord, StoreError> {
        let mut s = self.lock()?;
        if !s.apps.contains_key(source_app_id) {
            return Err(StoreError::NotFound);
        }
        let key = (source_app_id.to_owned(), email.to_owned());
        let record = match s.records.get(&key) {
            Some(old) => UserRecord {
                data: data.clone(),
                schema_version,
                updated_at: now,
                ..old.clone()
            },
            None => UserRecord {
                id: new_id.to_owned(),
                source_app_id: source_app_id.to_owned(),
                email: email.to_owned(),
                data: data.clone(),
                schema_version,
                created_at: now,
                updated_at: now,
            },
        };
        s.records.insert(key, record.clone());
        Ok(record)
    }

    async fn list_records(
        &self,
        source_app_id: Option<&str>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let mut all: Vec<UserRecord> = self
            .lock()?
            .records
            .values()
            .filter(|r| source_app_id.is_none_or(|a| r.source_app_id == a))
            .cloned()
            .collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(all
            .into_iter()
            .skip(skip as usize)
            .take(limit as usize)
            .collect())
    }

    async fn create_session(&self, session: &UsersSession) -> Result<(), StoreError> {
        self.lock()?
            .sessions
            .insert(session.token_hash.clone(), session.clone());
        Ok(())
    }

    async fn get_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UsersSession>, StoreError> {
        Ok(self
            .lock()?
            .sessions
            .get(token_hash)
            .filter(|s| s.expires_at > now)
            .cloned())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.sessions.remove(token_hash).is_some())
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let before = s.sessions.len();
        s.sessions.retain(|_, session| session.expires_at > now);
        Ok((before - s.sessions.len()) as u64)
    }
}

#[cfg(test)]
mod tests;
