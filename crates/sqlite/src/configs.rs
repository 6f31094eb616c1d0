//! [`ConfigStore`]: program configs, which are also the tenant rows (with the event head).

use crate::error::Fail;
use crate::sql::{instant, limit, offset, opt_instant, placeholders, query, Int, Query};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::connection::Connection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::error::StoreError;
use domain::ports::{ConfigQuery, ConfigRecord, ConfigSort, ConfigStore, ConfigSummary};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::Value;

/// Remembers a purged tenant's head, so a config created again under its id continues the
/// sequence (see the migration `retired_heads`).
const RETIRE_HEAD_SQL: &str = "INSERT INTO retired_heads (id, head) \
     SELECT id, head FROM configs WHERE id = ? \
     ON CONFLICT (id) DO UPDATE SET head = excluded.head";

#[derive(QueryableByName)]
struct ConfigRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    artifact_id: String,
    #[diesel(sql_type = Text)]
    document: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    archived_at: Option<i64>,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    updated_at: i64,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(embed)]
    config: ConfigRow,
    #[diesel(sql_type = BigInt)]
    entities_count: i64,
}

impl ConfigRow {
    fn into_record(self) -> Result<ConfigRecord, Fail> {
        Ok(ConfigRecord {
            id: TenantId::parse(&self.id).map_err(|_| Fail::corrupt("tenant id"))?,
            artifact_id: self.artifact_id,
            document: serde_json::from_str(&self.document)?,
            archived_at: opt_instant(self.archived_at)?,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

const CONFIG_COLS: &str = "id, artifact_id, document, archived_at, created_at, updated_at";

/// `document.name` as text ('' when absent).
fn doc_text(document: &Value, key: &str) -> String {
    match document.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The `WHERE` clause of a config list and the values it binds, in order.
fn list_filter(q: &ConfigQuery) -> (String, Vec<String>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut binds = Vec::new();
    if !q.include_archived {
        sql.push_str(" AND c.archived_at IS NULL");
    }
    if let Some(only) = &q.only {
        if only.is_empty() {
            sql.push_str(" AND 0 = 1");
        } else {
            sql.push_str(&format!(" AND c.id IN ({})", placeholders(only.len())));
            binds.extend(only.iter().cloned());
        }
    }
    if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(
            " AND (instr(casefold(c.name), ?) > 0 OR instr(casefold(c.id), ?) > 0 \
             OR instr(casefold(c.version), ?) > 0)",
        );
        let needle = search.to_lowercase();
        binds.extend([needle.clone(), needle.clone(), needle]);
    }
    (sql, binds)
}

fn bind_all(mut q: Query<'static>, binds: &[String]) -> Query<'static> {
    for b in binds {
        q = q.bind::<Text, _>(b.clone());
    }
    q
}

/// Takes tenant `?1` out of every user's `tenant_ids` and `role_assignments` (JSON arrays,
/// order kept).
const FORGET_TENANT_GRANTS_SQL: &str = "UPDATE users SET \
     tenant_ids = (SELECT json_group_array(value) FROM json_each(users.tenant_ids) \
       WHERE value IS NOT ?1), \
     role_assignments = (SELECT json_group_array(json(value)) \
       FROM json_each(users.role_assignments) \
       WHERE json_extract(value, '$.tenantId') IS NOT ?1) \
     WHERE EXISTS (SELECT 1 FROM json_each(users.tenant_ids) WHERE value = ?1) \
       OR EXISTS (SELECT 1 FROM json_each(users.role_assignments) \
         WHERE json_extract(value, '$.tenantId') = ?1)";

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn save_config(&self, record: &ConfigRecord) -> Result<bool, StoreError> {
        let r = record.clone();
        self.write(move |conn| {
            let document = serde_json::to_string(&r.document)?;
            let name = doc_text(&r.document, "name");
            let version = doc_text(&r.document, "version");
            let updated = query(
                "UPDATE configs SET artifact_id = ?, name = ?, version = ?, document = ?, \
                 updated_at = ? WHERE id = ?",
            )
            .bind::<Text, _>(r.artifact_id.clone())
            .bind::<Text, _>(name.clone())
            .bind::<Text, _>(version.clone())
            .bind::<Text, _>(document.clone())
            .bind::<BigInt, _>(r.updated_at.millis())
            .bind::<Text, _>(r.id.as_str().to_owned())
            .execute(conn)?;
            if updated > 0 {
                return Ok(false);
            }
            // A purged id's sequence continues (see the migration `retired_heads`).
            query(
                "INSERT INTO configs (id, artifact_id, name, version, document, head, \
                 archived_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, \
                 COALESCE((SELECT head FROM retired_heads WHERE id = ?), 0), ?, ?, ?)",
            )
            .bind::<Text, _>(r.id.as_str().to_owned())
            .bind::<Text, _>(r.artifact_id)
            .bind::<Text, _>(name)
            .bind::<Text, _>(version)
            .bind::<Text, _>(document)
            .bind::<Text, _>(r.id.as_str().to_owned())
            .bind::<Nullable<BigInt>, _>(r.archived_at.map(Timestamp::millis))
            .bind::<BigInt, _>(r.created_at.millis())
            .bind::<BigInt, _>(r.updated_at.millis())
            .execute(conn)?;
            Ok(true)
        })
        .await
    }

    async fn get_config(&self, id: &TenantId) -> Result<Option<ConfigRecord>, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |conn| {
            let rows = query(format!("SELECT {CONFIG_COLS} FROM configs WHERE id = ?"))
                .bind::<Text, _>(id)
                .load::<ConfigRow>(conn)?;
            rows.into_iter()
                .next()
                .map(ConfigRow::into_record)
                .transpose()
        })
        .await
    }

    async fn config_by_artifact(
        &self,
        artifact_id: &str,
    ) -> Result<Option<ConfigRecord>, StoreError> {
        let artifact_id = artifact_id.to_owned();
        self.read(move |conn| {
            let rows = query(format!(
                "SELECT {CONFIG_COLS} FROM configs WHERE artifact_id = ? AND archived_at IS NULL"
            ))
            .bind::<Text, _>(artifact_id)
            .load::<ConfigRow>(conn)?;
            rows.into_iter()
                .next()
                .map(ConfigRow::into_record)
                .transpose()
        })
        .await
    }

    async fn list_configs(&self, q: &ConfigQuery) -> Result<(Vec<ConfigSummary>, u64), StoreError> {
        let q = q.clone();
        self.read(move |conn| {
            let (filter, binds) = list_filter(&q);
            let dir = if q.descending { "DESC" } else { "ASC" };
            let key = match q.sort {
                ConfigSort::Name => "c.name",
                ConfigSort::Id => "c.id",
                ConfigSort::EntitiesCount => "entities_count",
            };
            let page_sql = format!(
                "SELECT c.id, c.artifact_id, c.document, c.archived_at, c.created_at, \
                 c.updated_at, (SELECT COUNT(*) FROM entities e WHERE e.tenant_id = c.id \
                 AND e.deleted = 0) AS entities_count FROM configs c{filter} \
                 ORDER BY {key} {dir}, c.id {dir} LIMIT ? OFFSET ?"
            );
            let count_sql = format!("SELECT COUNT(*) AS v FROM configs c{filter}");
            // One read transaction: the page and the total see the same snapshot.
            conn.transaction::<_, Fail, _>(|conn| {
                let rows = bind_all(query(page_sql), &binds)
                    .bind::<BigInt, _>(limit(q.limit))
                    .bind::<BigInt, _>(offset(q.offset))
                    .load::<SummaryRow>(conn)?;
                let total = bind_all(query(count_sql), &binds).load::<Int>(conn)?;
                let page = rows
                    .into_iter()
                    .map(|r| {
                        Ok(ConfigSummary {
                            entities_count: u64::try_from(r.entities_count).unwrap_or(0),
                            record: r.config.into_record()?,
                        })
                    })
                    .collect::<Result<Vec<_>, Fail>>()?;
                let total = total.first().map_or(0, |r| u64::try_from(r.v).unwrap_or(0));
                Ok((page, total))
            })
        })
        .await
    }

    async fn set_archived(&self, id: &TenantId, at: Option<Timestamp>) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.write(move |conn| {
            let n = query("UPDATE configs SET archived_at = ? WHERE id = ?")
                .bind::<Nullable<BigInt>, _>(at.map(Timestamp::millis))
                .bind::<Text, _>(id)
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn purge_config(&self, id: &TenantId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.write(move |conn| {
            // The head is remembered first; then the tables without a foreign key to
            // configs (event refs found through the tenant's entity ids); events, entity
            // keys, entities and the audit log follow the config row through ON DELETE
            // CASCADE.
            for sql in [
                RETIRE_HEAD_SQL,
                "DELETE FROM event_refs WHERE entity_id IN \
                 (SELECT id FROM entity_keys WHERE tenant_id = ?)",
                "DELETE FROM potential_duplicates WHERE tenant_id = ?",
                "DELETE FROM duplicate_keep_both WHERE tenant_id = ?",
                "DELETE FROM quarantine WHERE tenant_id = ?",
            ] {
                query(sql).bind::<Text, _>(id.clone()).execute(conn)?;
            }
            let n = query("DELETE FROM configs WHERE id = ?")
                .bind::<Text, _>(id.clone())
                .execute(conn)?;
            if n > 0 {
                query(FORGET_TENANT_GRANTS_SQL)
                    .bind::<Text, _>(id)
                    .execute(conn)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            query("SELECT 1 AS v").load::<Int>(conn)?;
            Ok(())
        })
        .await
    }
}
