//! [`EntityStore`]: live-entity listings and JSON searches, duplicate review.

use crate::error::Fail;
use crate::rows::{entities_of, EntityRow};
use crate::schema::{entities, potential_duplicates};
use crate::sql::{count, limit, offset};
use crate::PgStore;
use async_trait::async_trait;
use diesel::dsl::{count_star, exists, select};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Jsonb, Text};
use domain::entity::Entity;
use domain::error::StoreError;
use domain::ports::{DuplicatePair, EntityQuery, EntityStore};
use domain::tenant::TenantId;
use serde_json::Value;
use std::collections::BTreeMap;

diesel::define_sql_function! {
    /// PostgreSQL `lower(text)` (Unicode-aware in a UTF-8 database).
    fn lower(text: Text) -> Text;
}

diesel::define_sql_function! {
    /// PostgreSQL `strpos(haystack, needle)`: 1-based position, 0 when absent.
    fn strpos(haystack: Text, needle: Text) -> Integer;
}

/// Columns of [`EntityRow`] for raw SQL.
const ENTITY_COLS: &str = "guid, kind, name, version, data, member_ids, parent_ids, \
                           external_id, last_updated, last_key_ts, last_key_guid, deleted, \
                           match_key";

/// Appends one search criterion (`AND …`, on the top-level `key` of `data`) and binds its
/// values: strings compare case-insensitively, everything else by JSON equality (numbers
/// numerically). Keys and values are always bound parameters.
fn criterion(
    sql: &mut String,
    q: BoxedSqlQuery<'static, Pg, SqlQuery>,
    next: &mut usize,
    key: &str,
    value: &Value,
) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    let k = *next;
    let v = k + 1;
    *next += 2;
    match value {
        Value::String(s) => {
            sql.push_str(&format!(
                " AND jsonb_typeof(data -> ${k}) = 'string' AND lower(data ->> ${k}) = lower(${v})"
            ));
            q.bind::<Text, _>(key.to_owned()).bind::<Text, _>(s.clone())
        }
        other => {
            sql.push_str(&format!(" AND data -> ${k} = ${v}"));
            q.bind::<Text, _>(key.to_owned())
                .bind::<Jsonb, _>(other.clone())
        }
    }
}

#[async_trait]
impl EntityStore for PgStore {
    async fn list_entities(
        &self,
        tenant: &TenantId,
        query: &EntityQuery,
    ) -> Result<Vec<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let eq = query.clone();
        self.run(move |conn| {
            let mut q = entities::table
                .filter(entities::tenant_id.eq(tenant))
                .filter(entities::deleted.eq(false))
                .into_boxed();
            if let Some(name) = eq.entity_name {
                q = q.filter(entities::entity_name.eq(name));
            }
            if let Some(kind) = eq.kind {
                q = q.filter(entities::kind.eq(kind.as_str()));
            }
            if let Some(part) = eq.name_contains {
                q = q.filter(strpos(lower(entities::name), lower(part)).gt(0));
            }
            let rows = q
                .order((entities::last_updated.desc(), entities::guid.asc()))
                .limit(limit(eq.limit))
                .offset(offset(eq.offset))
                .select(EntityRow::as_select())
                .load(conn)?;
            entities_of(rows)
        })
        .await
    }

    async fn count_entities(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let n: i64 = entities::table
                .filter(entities::tenant_id.eq(tenant))
                .filter(entities::deleted.eq(false))
                .select(count_star())
                .first(conn)?;
            Ok(count(n))
        })
        .await
    }

    async fn count_by_form(&self, tenant: &TenantId) -> Result<BTreeMap<String, u64>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let rows: Vec<(Option<String>, i64)> = entities::table
                .filter(entities::tenant_id.eq(tenant))
                .filter(entities::entity_name.is_not_null())
                .filter(entities::deleted.eq(false))
                .group_by(entities::entity_name)
                .select((entities::entity_name, count_star()))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|(name, n)| name.map(|name| (name, count(n))))
                .collect())
        })
        .await
    }

    async fn get_entity(
        &self,
        tenant: &TenantId,
        guid: &str,
    ) -> Result<Option<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let guid = guid.to_owned();
        self.run(move |conn| {
            let rows = entities::table
                .filter(entities::tenant_id.eq(tenant))
                .filter(entities::guid.eq(guid))
                .filter(entities::deleted.eq(false))
                .select(EntityRow::as_select())
                .load(conn)?;
            Ok(entities_of(rows)?.into_iter().next())
        })
        .await
    }

    async fn get_entities(
        &self,
        tenant: &TenantId,
        guids: &[String],
    ) -> Result<Vec<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let guids = guids.to_vec();
        self.run(move |conn| {
            let rows = entities::table
                .filter(entities::tenant_id.eq(tenant))
                .filter(entities::guid.eq_any(guids))
                .filter(entities::deleted.eq(false))
                .select(EntityRow::as_select())
                .load(conn)?;
            entities_of(rows)
        })
        .await
    }

    async fn search_entities(
        &self,
        tenant: &TenantId,
        criteria: &[(String, Value)],
        max: u32,
    ) -> Result<Vec<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let criteria = criteria.to_vec();
        self.run(move |conn| {
            let mut sql =
                format!("SELECT {ENTITY_COLS} FROM entities WHERE tenant_id = $1 AND NOT deleted");
            let mut q = diesel::sql_query("").into_boxed::<Pg>();
            q = q.bind::<Text, _>(tenant);
            let mut next = 2;
            for (key, value) in &criteria {
                q = criterion(&mut sql, q, &mut next, key, value);
            }
            sql.push_str(&format!(
                " ORDER BY last_updated DESC, guid ASC LIMIT ${next}"
            ));
            let rows = q
                .bind::<BigInt, _>(limit(max))
                .sql(sql)
                .load::<EntityRow>(conn)?;
            entities_of(rows)
        })
        .await
    }

    async fn list_duplicates(
        &self,
        tenant: &TenantId,
        skip: u64,
        max: u32,
    ) -> Result<Vec<DuplicatePair>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            let rows: Vec<(String, String)> = potential_duplicates::table
                .filter(potential_duplicates::tenant_id.eq(tenant))
                .order((
                    potential_duplicates::entity_guid,
                    potential_duplicates::duplicate_guid,
                ))
                .limit(limit(max))
                .offset(offset(skip))
                .select((
                    potential_duplicates::entity_guid,
                    potential_duplicates::duplicate_guid,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(entity_guid, duplicate_guid)| DuplicatePair {
                    entity_guid,
                    duplicate_guid,
                })
                .collect())
        })
        .await
    }

    async fn has_duplicates(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.run(move |conn| {
            Ok(select(exists(
                potential_duplicates::table.filter(potential_duplicates::tenant_id.eq(tenant)),
            ))
            .get_result(conn)?)
        })
        .await
    }

    async fn keep_both(&self, tenant: &TenantId, pair: &DuplicatePair) -> Result<bool, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let pair = pair.clone();
        self.transaction(move |conn| {
            let removed = diesel::delete(
                potential_duplicates::table
                    .filter(potential_duplicates::tenant_id.eq(&tenant))
                    .filter(potential_duplicates::entity_guid.eq(&pair.entity_guid))
                    .filter(potential_duplicates::duplicate_guid.eq(&pair.duplicate_guid)),
            )
            .execute(conn)?;
            if removed == 0 {
                return Ok(false);
            }
            // The flagged entity's current key ('' when it has none: any key is a change).
            diesel::sql_query(
                "INSERT INTO duplicate_keep_both (tenant_id, entity_guid, duplicate_guid, \
                 match_key) VALUES ($1, $2, $3, COALESCE((SELECT match_key FROM entities \
                 WHERE tenant_id = $1 AND guid = $2), '')) \
                 ON CONFLICT (tenant_id, entity_guid, duplicate_guid) \
                 DO UPDATE SET match_key = EXCLUDED.match_key",
            )
            .bind::<Text, _>(tenant)
            .bind::<Text, _>(pair.entity_guid)
            .bind::<Text, _>(pair.duplicate_guid)
            .execute(conn)?;
            Ok::<_, Fail>(true)
        })
        .await
    }
}
