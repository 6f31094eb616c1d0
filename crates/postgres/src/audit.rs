//! [`AuditStore`]: client audit logs, idempotent by entry guid.

use crate::error::Fail;
use crate::schema::{audit_log, configs};
use crate::sql::{instant, limit, INSERT_ROWS};
use crate::PgStore;
use async_trait::async_trait;
use diesel::prelude::*;
use domain::error::StoreError;
use domain::ports::{AuditEntry, AuditStore};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::Value;

type AuditRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    Value,
    String,
);

fn entry(
    (id, guid, ts, user_id, action, event_guid, entity_guid, changes, signature): AuditRow,
) -> Result<(i64, AuditEntry), Fail> {
    Ok((
        id,
        AuditEntry {
            guid,
            timestamp: instant(ts)?,
            user_id,
            action,
            event_guid,
            entity_guid,
            changes,
            signature,
        },
    ))
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entries: &[AuditEntry],
    ) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let entries = entries.to_vec();
        self.transaction(move |conn| {
            // The tenant lock makes store-id order commit order within the tenant, so a
            // reader paging by id never skips an entry that commits later with a smaller id.
            let exists: Option<String> = configs::table
                .filter(configs::id.eq(&tenant))
                .select(configs::id)
                .for_update()
                .first(conn)
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let mut added = 0u64;
            for chunk in entries.chunks(INSERT_ROWS) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|e| {
                        (
                            audit_log::tenant_id.eq(&tenant),
                            audit_log::guid.eq(&e.guid),
                            audit_log::ts.eq(e.timestamp.millis()),
                            audit_log::user_id.eq(&e.user_id),
                            audit_log::action.eq(&e.action),
                            audit_log::event_guid.eq(&e.event_guid),
                            audit_log::entity_guid.eq(&e.entity_guid),
                            audit_log::changes.eq(&e.changes),
                            audit_log::signature.eq(&e.signature),
                        )
                    })
                    .collect();
                let n = diesel::insert_into(audit_log::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                added += n as u64;
            }
            Ok::<_, Fail>(added)
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
        self.run(move |conn| {
            let mut q = audit_log::table
                .filter(audit_log::tenant_id.eq(tenant))
                .filter(audit_log::id.gt(after))
                .into_boxed();
            if let Some(since) = since {
                q = q.filter(audit_log::ts.gt(since.millis()));
            }
            let rows: Vec<AuditRow> = q
                .order(audit_log::id)
                .limit(limit(max))
                .select((
                    audit_log::id,
                    audit_log::guid,
                    audit_log::ts,
                    audit_log::user_id,
                    audit_log::action,
                    audit_log::event_guid,
                    audit_log::entity_guid,
                    audit_log::changes,
                    audit_log::signature,
                ))
                .load(conn)?;
            rows.into_iter().map(entry).collect()
        })
        .await
    }
}
