//! [`AuditStore`]: idempotent append and paginated listing of a tenant's audit log.

use crate::error::Fail;
use crate::sql::{instant, limit, query, Int};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::error::StoreError;
use domain::ports::{AuditEntry, AuditStore};
use domain::tenant::TenantId;
use domain::time::Timestamp;

#[derive(QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    guid: String,
    #[diesel(sql_type = BigInt)]
    ts: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    event_guid: String,
    #[diesel(sql_type = Text)]
    entity_guid: String,
    #[diesel(sql_type = Text)]
    changes: String,
    #[diesel(sql_type = Text)]
    signature: String,
}

impl AuditRow {
    fn into_entry(self) -> Result<(i64, AuditEntry), Fail> {
        Ok((
            self.id,
            AuditEntry {
                guid: self.guid,
                timestamp: instant(self.ts)?,
                user_id: self.user_id,
                action: self.action,
                event_guid: self.event_guid,
                entity_guid: self.entity_guid,
                changes: serde_json::from_str(&self.changes)?,
                signature: self.signature,
            },
        ))
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entries: &[AuditEntry],
    ) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let entries = entries.to_vec();
        self.write(move |conn| {
            let exists = query("SELECT COUNT(*) AS v FROM configs WHERE id = ?")
                .bind::<Text, _>(tenant.clone())
                .load::<Int>(conn)?;
            if exists.first().map_or(0, |r| r.v) == 0 {
                return Err(StoreError::NotFound.into());
            }
            let mut added = 0u64;
            for e in entries {
                let n = query(
                    "INSERT OR IGNORE INTO audit_log (tenant_id, guid, ts, user_id, action, \
                     event_guid, entity_guid, changes, signature) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind::<Text, _>(tenant.clone())
                .bind::<Text, _>(e.guid)
                .bind::<BigInt, _>(e.timestamp.millis())
                .bind::<Text, _>(e.user_id)
                .bind::<Text, _>(e.action)
                .bind::<Text, _>(e.event_guid)
                .bind::<Text, _>(e.entity_guid)
                .bind::<Text, _>(serde_json::to_string(&e.changes)?)
                .bind::<Text, _>(e.signature)
                .execute(conn)?;
                added += n as u64;
            }
            Ok(added)
        })
        .await
    }

    async fn list_audit(
        &self,
        tenant: &TenantId,
        since: Option<Timestamp>,
        after: i64,
        max: u32,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let mut sql = String::from(
                "SELECT id, guid, ts, user_id, action, event_guid, entity_guid, changes, \
                 signature FROM audit_log WHERE tenant_id = ? AND id > ?",
            );
            if since.is_some() {
                sql.push_str(" AND ts > ?");
            }
            sql.push_str(" ORDER BY id LIMIT ?");
            let mut q = query(sql).bind::<Text, _>(tenant).bind::<BigInt, _>(after);
            if let Some(s) = since {
                q = q.bind::<BigInt, _>(s.millis());
            }
            let rows = q.bind::<BigInt, _>(limit(max)).load::<AuditRow>(conn)?;
            rows.into_iter().map(AuditRow::into_entry).collect()
        })
        .await
    }
}
