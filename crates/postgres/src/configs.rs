//! [`ConfigStore`]: program configs, which are also the tenant rows (with the event head).

use crate::apply_stage::LockProgress;
use crate::error::Fail;
use crate::prepared::{Prepared, Val};
use crate::schema::{configs, entities, event_refs, events};
use crate::sql::{count, instant, limit, offset, opt_instant};
use crate::PgStore;
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use domain::error::StoreError;
use domain::ports::{ConfigQuery, ConfigRecord, ConfigSort, ConfigStore, ConfigSummary};
use domain::tenant::TenantId;
use domain::time::Timestamp;
use serde_json::Value;

#[derive(QueryableByName, Queryable, Selectable)]
#[diesel(table_name = configs, check_for_backend(Pg))]
struct ConfigRow {
    id: String,
    artifact_id: String,
    document: Value,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(embed)]
    config: ConfigRow,
    #[diesel(sql_type = BigInt)]
    entities_count: i64,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

impl ConfigRow {
    fn into_record(self) -> Result<ConfigRecord, Fail> {
        Ok(ConfigRecord {
            id: TenantId::parse(&self.id).map_err(|_| Fail::corrupt("tenant id"))?,
            artifact_id: self.artifact_id,
            document: self.document,
            archived_at: opt_instant(self.archived_at)?,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

/// `document.<key>` as text ('' when absent), for the list's search and sort columns.
fn doc_text(document: &Value, key: &str) -> String {
    match document.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A value bound to the config list's filter.
enum Bind {
    Text(String),
    Texts(Vec<String>),
}

/// The `WHERE` clause of a config list and the values it binds, numbered from `$1`.
fn list_filter(q: &ConfigQuery) -> (String, Vec<Bind>) {
    let mut sql = String::from(" WHERE TRUE");
    let mut binds = Vec::new();
    if !q.include_archived {
        sql.push_str(" AND c.archived_at IS NULL");
    }
    if let Some(only) = &q.only {
        binds.push(Bind::Texts(only.clone()));
        sql.push_str(&format!(" AND c.id = ANY(${})", binds.len()));
    }
    if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
        binds.push(Bind::Text(search.to_owned()));
        let n = binds.len();
        sql.push_str(&format!(
            " AND (strpos(lower(c.name), lower(${n})) > 0 \
             OR strpos(lower(c.id), lower(${n})) > 0 OR strpos(lower(c.version), lower(${n})) > 0)"
        ));
    }
    (sql, binds)
}

fn bind_all(
    mut q: BoxedSqlQuery<'static, Pg, SqlQuery>,
    binds: &[Bind],
) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind::<Text, _>(s.clone()),
            Bind::Texts(v) => q.bind::<Array<Text>, _>(v.clone()),
        };
    }
    q
}

/// Takes tenant `$1` out of every user's `tenant_ids` and `role_assignments` (order kept).
const FORGET_TENANT_GRANTS_SQL: &str = "UPDATE users SET tenant_ids = tenant_ids - $1, \
     role_assignments = COALESCE((SELECT jsonb_agg(grant_ ORDER BY i) \
       FROM jsonb_array_elements(users.role_assignments) WITH ORDINALITY AS g(grant_, i) \
       WHERE grant_->>'tenantId' IS DISTINCT FROM $1), '[]'::jsonb) \
     WHERE tenant_ids ? $1 \
       OR role_assignments @> jsonb_build_array(jsonb_build_object('tenantId', $1))";

#[async_trait]
impl ConfigStore for PgStore {
    async fn save_config(&self, record: &ConfigRecord) -> Result<bool, StoreError> {
        let r = record.clone();
        self.run(move |conn| {
            // One statement: concurrent saves of one id never both insert. `xmax = 0` tells a
            // fresh row from an updated one. A purged id's sequence continues (see the
            // migration `retired_heads`).
            let created: bool = diesel::sql_query(
                "INSERT INTO configs (id, artifact_id, name, version, document, head, \
                 archived_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, \
                 COALESCE((SELECT head FROM retired_heads WHERE id = $1), 0), $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET artifact_id = EXCLUDED.artifact_id, \
                 name = EXCLUDED.name, version = EXCLUDED.version, document = EXCLUDED.document, \
                 updated_at = EXCLUDED.updated_at RETURNING (xmax = 0) AS created",
            )
            .bind::<Text, _>(r.id.as_str())
            .bind::<Text, _>(&r.artifact_id)
            .bind::<Text, _>(doc_text(&r.document, "name"))
            .bind::<Text, _>(doc_text(&r.document, "version"))
            .bind::<Jsonb, _>(&r.document)
            .bind::<Nullable<BigInt>, _>(r.archived_at.map(Timestamp::millis))
            .bind::<BigInt, _>(r.created_at.millis())
            .bind::<BigInt, _>(r.updated_at.millis())
            .get_result::<Created>(conn)?
            .created;
            Ok(created)
        })
        .await
    }

    async fn get_config(&self, id: &TenantId) -> Result<Option<ConfigRecord>, StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |conn| {
            configs::table
                .filter(configs::id.eq(id))
                .select(ConfigRow::as_select())
                .first(conn)
                .optional()?
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
        self.run(move |conn| {
            configs::table
                .filter(configs::artifact_id.eq(artifact_id))
                .filter(configs::archived_at.is_null())
                .select(ConfigRow::as_select())
                .first(conn)
                .optional()?
                .map(ConfigRow::into_record)
                .transpose()
        })
        .await
    }

    async fn list_configs(&self, q: &ConfigQuery) -> Result<(Vec<ConfigSummary>, u64), StoreError> {
        let q = q.clone();
        self.run(move |conn| {
            let (filter, binds) = list_filter(&q);
            let dir = if q.descending { "DESC" } else { "ASC" };
            // Byte order, as on every backend, whatever the database's collation.
            let key = match q.sort {
                ConfigSort::Name => "c.name COLLATE \"C\"",
                ConfigSort::Id => "c.id COLLATE \"C\"",
                ConfigSort::EntitiesCount => "entities_count",
            };
            let n = binds.len();
            let page_sql = format!(
                "SELECT c.id, c.artifact_id, c.document, c.archived_at, c.created_at, \
                 c.updated_at, (SELECT COUNT(*) FROM entities e WHERE e.tenant_id = c.id \
                 AND NOT e.deleted) AS entities_count FROM configs c{filter} \
                 ORDER BY {key} {dir}, c.id COLLATE \"C\" {dir} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            );
            let count_sql = format!("SELECT COUNT(*) AS total FROM configs c{filter}");
            // One repeatable-read transaction: the page and the total see the same snapshot.
            conn.build_transaction()
                .repeatable_read()
                .read_only()
                .run::<_, Fail, _>(|conn| {
                    let rows = bind_all(diesel::sql_query(page_sql).into_boxed(), &binds)
                        .bind::<BigInt, _>(limit(q.limit))
                        .bind::<BigInt, _>(offset(q.offset))
                        .load::<SummaryRow>(conn)?;
                    let total = bind_all(diesel::sql_query(count_sql).into_boxed(), &binds)
                        .get_result::<Total>(conn)?
                        .total;
                    let page = rows
                        .into_iter()
                        .map(|r| {
                            Ok(ConfigSummary {
                                entities_count: count(r.entities_count),
                                record: r.config.into_record()?,
                            })
                        })
                        .collect::<Result<Vec<_>, Fail>>()?;
                    Ok((page, count(total)))
                })
        })
        .await
    }

    async fn set_archived(&self, id: &TenantId, at: Option<Timestamp>) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |conn| {
            let n = diesel::update(configs::table.filter(configs::id.eq(id)))
                .set(configs::archived_at.eq(at.map(Timestamp::millis)))
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn purge_config(&self, id: &TenantId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.transaction(move |conn| {
            // The tenant's apply position first, FOR UPDATE: an apply in progress (see
            // `apply_stage`) finishes before, so no entity it writes outlives the purge. (An
            // apply holding it can wait for the tenant's row — flagging a duplicate checks
            // the foreign key to configs — so the row is locked second, never the reverse.)
            LockProgress::with(vec![Val::Text(&id)]).execute(conn)?;
            // Then the tenant's row, FOR UPDATE: a push of this tenant in progress finishes
            // before, one arriving later finds no tenant. Its head is remembered (see the
            // migration `retired_heads`). The tables a push writes (no foreign key, see the
            // migration `lighter_push_writes`) are emptied here; every other tenant table
            // references configs ON DELETE CASCADE. Each delete is a range of an index that
            // starts with tenant_id.
            let found: Option<String> = configs::table
                .filter(configs::id.eq(&id))
                .select(configs::id)
                .for_update()
                .first(conn)
                .optional()?;
            if found.is_none() {
                return Ok(false);
            }
            diesel::sql_query(
                "INSERT INTO retired_heads (id, head) SELECT id, head FROM configs WHERE id = $1 \
                 ON CONFLICT (id) DO UPDATE SET head = EXCLUDED.head",
            )
            .bind::<Text, _>(&id)
            .execute(conn)?;
            diesel::delete(events::table.filter(events::tenant_id.eq(&id))).execute(conn)?;
            diesel::delete(event_refs::table.filter(event_refs::tenant_id.eq(&id)))
                .execute(conn)?;
            diesel::delete(entities::table.filter(entities::tenant_id.eq(&id))).execute(conn)?;
            let n = diesel::delete(configs::table.filter(configs::id.eq(&id))).execute(conn)?;
            diesel::sql_query(FORGET_TENANT_GRANTS_SQL)
                .bind::<Text, _>(&id)
                .execute(conn)?;
            Ok(n > 0)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
    }
}

#[derive(QueryableByName)]
struct Created {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    created: bool,
}
