//! [`EntityStore`]: live-entity listings and searches, duplicate review.

use crate::error::Fail;
use crate::push_tx::{entity_id_of_guid, entity_ids_of_guids, json};
use crate::rows::{entity_cols, EntityRow};
use crate::sql::{limit, offset, query, Int, Query};
use crate::SqliteStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Double, Text};
use diesel::{QueryableByName, RunQueryDsl};
use domain::entity::Entity;
use domain::error::StoreError;
use domain::ports::{DuplicatePair, EntityQuery, EntityStore};
use domain::tenant::TenantId;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(QueryableByName)]
struct FormCount {
    #[diesel(sql_type = Text)]
    entity_name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct PairRow {
    #[diesel(sql_type = Text)]
    entity_guid: String,
    #[diesel(sql_type = Text)]
    duplicate_guid: String,
}

fn entities(rows: Vec<EntityRow>) -> Result<Vec<Entity>, Fail> {
    rows.into_iter().map(EntityRow::into_entity).collect()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The JSON path of a top-level key, quoted so any key is addressed literally: `$."key"`.
/// `"`, `\` and control characters are written as JSON `\uXXXX` escapes: SQLite ends a
/// quoted label at the first `"` even after a backslash, and decodes JSON escapes in a
/// label that contains a backslash.
pub(crate) fn key_path(key: &str) -> String {
    let mut path = String::with_capacity(key.len() + 5);
    path.push_str("$.\"");
    for c in key.chars() {
        if c == '"' || c == '\\' || c.is_control() {
            path.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            path.push(c);
        }
    }
    path.push('"');
    path
}

/// Appends one criterion (`AND …`) to `sql` and returns the values to bind, in order:
/// JSON equality on the top-level `key`, strings case-insensitive.
fn criterion(sql: &mut String, key: &str, value: &Value) -> Vec<Bind> {
    let path = Bind::Text(key_path(key));
    match value {
        Value::String(s) => {
            sql.push_str(
                " AND json_type(data, ?) = 'text' AND casefold(json_extract(data, ?)) = ?",
            );
            vec![path.clone(), path, Bind::Text(s.to_lowercase())]
        }
        Value::Number(n) => {
            sql.push_str(
                " AND json_type(data, ?) IN ('integer', 'real') AND json_extract(data, ?) = ?",
            );
            let number = match n.as_i64() {
                Some(i) => Bind::Int(i),
                None => Bind::Real(n.as_f64().unwrap_or(f64::NAN)),
            };
            vec![path.clone(), path, number]
        }
        Value::Bool(b) => {
            sql.push_str(" AND json_type(data, ?) = ?");
            vec![path, Bind::Text(if *b { "true" } else { "false" }.into())]
        }
        Value::Null => {
            sql.push_str(" AND json_type(data, ?) = 'null'");
            vec![path]
        }
        Value::Array(_) | Value::Object(_) => {
            sql.push_str(" AND json_type(data, ?) = ? AND json_extract(data, ?) = json(?)");
            let kind = if value.is_array() { "array" } else { "object" };
            vec![
                path.clone(),
                Bind::Text(kind.into()),
                path,
                Bind::Text(value.to_string()),
            ]
        }
    }
}

/// A value to bind to a search criterion.
#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

fn bind(q: Query<'static>, b: Bind) -> Query<'static> {
    match b {
        Bind::Text(s) => q.bind::<Text, _>(s),
        Bind::Int(i) => q.bind::<BigInt, _>(i),
        Bind::Real(f) => q.bind::<Double, _>(f),
    }
}

#[async_trait]
impl EntityStore for SqliteStore {
    async fn list_entities(
        &self,
        tenant: &TenantId,
        query_: &EntityQuery,
    ) -> Result<Vec<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let eq = query_.clone();
        self.read(move |conn| {
            let mut sql = String::from(concat!(
                "SELECT ",
                entity_cols!(),
                " FROM entities WHERE tenant_id = ? AND deleted = 0"
            ));
            if eq.entity_name.is_some() {
                sql.push_str(" AND entity_name = ?");
            }
            if eq.kind.is_some() {
                sql.push_str(" AND kind = ?");
            }
            if eq.name_contains.is_some() {
                sql.push_str(" AND instr(casefold(name), ?) > 0");
            }
            sql.push_str(" ORDER BY last_updated DESC, guid ASC LIMIT ? OFFSET ?");
            let mut q = query(sql).bind::<Text, _>(tenant);
            if let Some(n) = eq.entity_name {
                q = q.bind::<Text, _>(n);
            }
            if let Some(k) = eq.kind {
                q = q.bind::<Text, _>(k.as_str());
            }
            if let Some(s) = eq.name_contains {
                q = q.bind::<Text, _>(s.to_lowercase());
            }
            let rows = q
                .bind::<BigInt, _>(limit(eq.limit))
                .bind::<BigInt, _>(offset(eq.offset))
                .load::<EntityRow>(conn)?;
            entities(rows)
        })
        .await
    }

    async fn count_entities(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let rows =
                query("SELECT COUNT(*) AS v FROM entities WHERE tenant_id = ? AND deleted = 0")
                    .bind::<Text, _>(tenant)
                    .load::<Int>(conn)?;
            Ok(count(rows.first().map_or(0, |r| r.v)))
        })
        .await
    }

    async fn count_by_form(&self, tenant: &TenantId) -> Result<BTreeMap<String, u64>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let rows = query(
                "SELECT entity_name, COUNT(*) AS n FROM entities WHERE tenant_id = ? \
                 AND entity_name IS NOT NULL AND deleted = 0 GROUP BY entity_name",
            )
            .bind::<Text, _>(tenant)
            .load::<FormCount>(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| (r.entity_name, count(r.n)))
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
        self.read(move |conn| {
            let rows = query(concat!(
                "SELECT ",
                entity_cols!(),
                " FROM entities WHERE id = ",
                entity_id_of_guid!(),
                " AND deleted = 0"
            ))
            .bind::<Text, _>(tenant)
            .bind::<Text, _>(guid)
            .load::<EntityRow>(conn)?;
            Ok(entities(rows)?.into_iter().next())
        })
        .await
    }

    async fn get_entities(
        &self,
        tenant: &TenantId,
        guids: &[String],
    ) -> Result<Vec<Entity>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let list = json(guids)?;
        self.read(move |conn| {
            // One key lookup and one rowid lookup per guid of the JSON array.
            let rows = query(concat!(
                "SELECT ",
                entity_cols!(),
                " FROM entities WHERE deleted = 0 AND id IN ",
                entity_ids_of_guids!()
            ))
            .bind::<Text, _>(tenant)
            .bind::<Text, _>(list)
            .load::<EntityRow>(conn)?;
            entities(rows)
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
        self.read(move |conn| {
            let mut sql = String::from(concat!(
                "SELECT ",
                entity_cols!(),
                " FROM entities WHERE tenant_id = ? AND deleted = 0"
            ));
            let mut binds = Vec::new();
            for (key, value) in &criteria {
                binds.extend(criterion(&mut sql, key, value));
            }
            sql.push_str(" ORDER BY last_updated DESC, guid ASC LIMIT ?");
            let mut q = query(sql).bind::<Text, _>(tenant);
            for b in binds {
                q = bind(q, b);
            }
            let rows = q.bind::<BigInt, _>(limit(max)).load::<EntityRow>(conn)?;
            entities(rows)
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
        self.read(move |conn| {
            let rows = query(
                "SELECT entity_guid, duplicate_guid FROM potential_duplicates \
                 WHERE tenant_id = ? ORDER BY entity_guid, duplicate_guid LIMIT ? OFFSET ?",
            )
            .bind::<Text, _>(tenant)
            .bind::<BigInt, _>(limit(max))
            .bind::<BigInt, _>(offset(skip))
            .load::<PairRow>(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| DuplicatePair {
                    entity_guid: r.entity_guid,
                    duplicate_guid: r.duplicate_guid,
                })
                .collect())
        })
        .await
    }

    async fn has_duplicates(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let rows = query(
                "SELECT EXISTS (SELECT 1 FROM potential_duplicates WHERE tenant_id = ?) AS v",
            )
            .bind::<Text, _>(tenant)
            .load::<Int>(conn)?;
            Ok(rows.first().is_some_and(|r| r.v != 0))
        })
        .await
    }

    async fn keep_both(&self, tenant: &TenantId, pair: &DuplicatePair) -> Result<bool, StoreError> {
        let tenant = tenant.as_str().to_owned();
        let pair = pair.clone();
        self.write(move |conn| {
            let removed = query(
                "DELETE FROM potential_duplicates WHERE tenant_id = ? AND entity_guid = ? \
                 AND duplicate_guid = ?",
            )
            .bind::<Text, _>(tenant.clone())
            .bind::<Text, _>(pair.entity_guid.clone())
            .bind::<Text, _>(pair.duplicate_guid.clone())
            .execute(conn)?;
            if removed == 0 {
                return Ok(false);
            }
            // The flagged entity's current key ('' when it has none: any key is a change).
            query(
                "INSERT INTO duplicate_keep_both (tenant_id, entity_guid, duplicate_guid, \
                 match_key) VALUES (?1, ?2, ?3, COALESCE((SELECT match_key FROM entities WHERE id = \
                 (SELECT id FROM entity_keys WHERE tenant_id = ?1 AND guid = ?2)), '')) \
                 ON CONFLICT (tenant_id, entity_guid, duplicate_guid) \
                 DO UPDATE SET match_key = excluded.match_key",
            )
            .bind::<Text, _>(tenant)
            .bind::<Text, _>(pair.entity_guid)
            .bind::<Text, _>(pair.duplicate_guid)
            .execute(conn)?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_keys_in_paths() {
        assert_eq!(key_path("name"), r#"$."name""#);
        assert_eq!(key_path("a\"b\\c"), r#"$."a\u0022b\u005cc""#);
        assert_eq!(key_path("a.b[0]"), r#"$."a.b[0]""#);
        assert_eq!(key_path("l\nf"), r#"$."l\u000af""#);
    }
}
