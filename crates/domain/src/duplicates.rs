//! Potential-duplicate detection: match keys computed from entity data.

use crate::canonical::canonical_json;
use crate::digest::length_prefixed_sha256;
use crate::entity::Entity;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a rule compares field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Case-insensitive (Unicode lower-case) after trimming; the default.
    #[default]
    Casefold,
    /// Exact values.
    Exact,
}

/// One duplicate rule of an entity form: entities match when all `fields` are present and
/// equal after normalization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateRule {
    /// Top-level `data` fields compared.
    pub fields: Vec<String>,
    /// Comparison.
    #[serde(default)]
    pub normalize: Normalize,
}

/// Duplicate rules of a tenant, per entity form name (`data.entityName`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DuplicateRules {
    /// Rules by entity form name; forms without rules use the default rule.
    pub by_form: BTreeMap<String, Vec<DuplicateRule>>,
}

/// Data keys the default rule ignores (bookkeeping, not identity).
const IGNORED_BY_DEFAULT: [&str; 2] = ["parentGuid", "externalId"];

/// The duplicate-detection key of an entity, or `None` when no rule applies.
///
/// A form that declares an empty rule list has no key. With rules for the entity's form
/// (`data.entityName`), the first rule whose fields are all
/// present with non-empty primitive values gives the key. Without rules, the default rule
/// (upstream's): every primitive field of `data`, nested objects flattened to dotted paths,
/// arrays, `null` and `""` skipped, strings compared case-insensitively, ignoring
/// `parentGuid`, `externalId`, and `name` when it equals the guid.
///
/// The key is the hex SHA-256 of an unambiguous encoding of the form name, the rule, and the
/// normalized `(field, value)` pairs, so entities of different forms or rules never match.
/// Matching is an indexed equality on this key: data never becomes query text.
pub fn match_key(entity: &Entity, rules: &DuplicateRules) -> Option<String> {
    let form = entity.entity_name().unwrap_or("");
    let mut parts: Vec<String> = vec![form.to_owned()];
    match rules.by_form.get(form) {
        // A form that declares an empty rule list disables detection for itself.
        Some(form_rules) if form_rules.is_empty() => return None,
        Some(form_rules) => {
            let (index, rule, values) = form_rules.iter().enumerate().find_map(|(i, rule)| {
                let values: Option<Vec<String>> = rule
                    .fields
                    .iter()
                    .map(|f| {
                        entity
                            .data
                            .get(f)
                            .and_then(|v| primitive(v, rule.normalize))
                    })
                    .collect();
                values.filter(|v| !v.is_empty()).map(|v| (i, rule, v))
            })?;
            parts.push(format!("rule:{index}"));
            for (field, value) in rule.fields.iter().zip(values) {
                parts.push(field.clone());
                parts.push(value);
            }
        }
        None => {
            parts.push("default".to_owned());
            let mut fields = BTreeMap::new();
            flatten("", &entity.data, &mut fields);
            let guid_value = format!("s:{}", entity.guid.trim().to_lowercase());
            fields.retain(|k, v| {
                let name_is_guid = k == "name" && *v == guid_value;
                !(IGNORED_BY_DEFAULT.contains(&k.as_str()) || name_is_guid)
            });
            if fields.is_empty() {
                return None;
            }
            for (k, v) in fields {
                parts.push(k);
                parts.push(v);
            }
        }
    }
    Some(length_prefixed_sha256(parts.iter().map(String::as_str)))
}

/// Normalized text of a non-empty primitive value, tagged with its JSON type.
fn primitive(value: &Value, normalize: Normalize) -> Option<String> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            Some(match normalize {
                Normalize::Casefold => format!("s:{}", s.to_lowercase()),
                Normalize::Exact => format!("s:{s}"),
            })
        }
        Value::Number(_) => Some(format!("n:{}", canonical_json(value))),
        Value::Bool(b) => Some(format!("b:{b}")),
        _ => None,
    }
}

fn flatten(prefix: &str, data: &Map<String, Value>, out: &mut BTreeMap<String, String>) {
    for (k, v) in data {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) => flatten(&path, inner, out),
            other => {
                if let Some(p) = primitive(other, Normalize::Casefold) {
                    out.insert(path, p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::EntityKind;
    use crate::time::Timestamp;
    use serde_json::json;

    fn entity(data: Value) -> Entity {
        Entity {
            guid: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9".into(),
            kind: EntityKind::Individual,
            name: "Amina".into(),
            version: 1,
            data: data.as_object().cloned().unwrap_or_default(),
            member_ids: vec![],
            external_id: None,
            last_updated: Timestamp::from_millis(0).unwrap(),
        }
    }

    /// Match keys are stored: the same data must keep giving the same key, byte for byte,
    /// whatever the implementation (pinned values computed once and never edited).
    #[test]
    fn match_keys_are_stable() {
        let data = json!({
            "entityName": "person", "name": " Amina OKAFOR ", "age": 34, "ok": true,
            "address": {"village": "Kijani", "zip": ""}, "parentGuid": "g-1", "tags": ["a"]
        });
        let by_default = match_key(&entity(data.clone()), &DuplicateRules::default());
        let rules = DuplicateRules {
            by_form: BTreeMap::from([(
                "person".to_owned(),
                vec![
                    DuplicateRule {
                        fields: vec!["nationalId".into()],
                        normalize: Normalize::Exact,
                    },
                    DuplicateRule {
                        fields: vec!["name".into(), "age".into()],
                        normalize: Normalize::Casefold,
                    },
                ],
            )]),
        };
        let by_rule = match_key(&entity(data), &rules);
        assert_eq!(
            by_default.as_deref(),
            Some("5323bac21407836d31f3ae031b950c1c54dc65a5f7050a25274c2df66ff1cb87")
        );
        assert_eq!(
            by_rule.as_deref(),
            Some("97e988f68dd99c5bb16ee94e7c13a4fcfd21c90c2da1263c68ff76a9b17ffb0b")
        );
    }
}
