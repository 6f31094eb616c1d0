//! Validation of a config document into an [`AppConfig`].
//!
//! Wrong JSON shapes (a missing required member, a number where a string belongs, …) are
//! 400 `INVALID_CONFIG`; a bad `id` is 400 `INVALID_CONFIG_ID`; well-formed but meaningless
//! values (an empty name, two forms with one name, an unknown `normalize`, …) are 422
//! `INVALID_CONFIG`. Every error names the failing path, in its message and as
//! `details.path`. The first failure found is reported.

use super::seed::seed_data;
use super::{AppConfig, AuthConfig, EntityDataGroup, EntityForm, ExternalSync, ExtraField};
use crate::duplicates::{DuplicateRule, Normalize};
use crate::error::{DomainError, ErrorKind};
use crate::event::{MAX_DATA_BYTES, MAX_GUID_CHARS};
use crate::tenant::TenantId;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Code of config validation errors (400 for shapes, 422 for meaning).
pub const INVALID_CONFIG: &str = "INVALID_CONFIG";
/// Code of an invalid config `id` (400).
pub const INVALID_CONFIG_ID: &str = "INVALID_CONFIG_ID";

/// Validates a config document (an upload or a stored document).
///
/// Unknown top-level members and `artifactId` are dropped; `extraFields` in the object form
/// `{name: value}` is normalised to `[{name, value}]`. Never panics.
///
/// # Errors
/// 400 `INVALID_CONFIG_ID` for a missing or invalid `id`; 400 `INVALID_CONFIG` for a wrong
/// JSON shape; 422 `INVALID_CONFIG` for a semantic problem; each with `details.path`.
pub fn parse_config(value: &Value) -> Result<AppConfig, DomainError> {
    let Value::Object(root) = value else {
        return Err(malformed("", "config must be a JSON object"));
    };
    if crate::nul::map_holds_nul(root) {
        // PostgreSQL cannot store it; refused on every backend alike.
        return Err(malformed("", "config must not contain NUL characters"));
    }
    let id = parse_id(root.get("id"))?;
    let name = required_text(root.get("name"), "name")?;
    let description = optional_string(root.get("description"), "description")?;
    let version = match root.get("version") {
        Some(Value::Number(n)) => Some(n.to_string()),
        other => optional_string(other, "version")?,
    };
    let url = optional_string(root.get("url"), "url")?;
    let entity_forms = match root.get("entityForms") {
        Some(Value::Array(items)) => parse_forms(items)?,
        None | Some(Value::Null) => return Err(malformed("entityForms", "is required")),
        Some(_) => return Err(malformed("entityForms", "must be an array")),
    };
    let entity_data = match optional_array(root.get("entityData"), "entityData")? {
        Some(groups) => parse_entity_data(groups)?,
        None => Vec::new(),
    };
    let external_sync = match root.get("externalSync") {
        None | Some(Value::Null) => None,
        Some(Value::Object(obj)) => Some(parse_external_sync(obj)?),
        Some(_) => return Err(malformed("externalSync", "must be an object")),
    };
    let auth_configs = match optional_array(root.get("authConfigs"), "authConfigs")? {
        Some(items) => parse_auth_configs(items)?,
        None => Vec::new(),
    };
    Ok(AppConfig {
        id,
        name,
        description,
        version,
        url,
        entity_forms,
        entity_data,
        external_sync,
        auth_configs,
    })
}

fn parse_id(value: Option<&Value>) -> Result<TenantId, DomainError> {
    let text = value.and_then(Value::as_str).unwrap_or("");
    TenantId::parse(text).map_err(|e| {
        DomainError::bad_request(INVALID_CONFIG_ID, e.to_string())
            .with_details(json!({"path": "id"}))
    })
}

fn parse_forms(items: &[Value]) -> Result<Vec<EntityForm>, DomainError> {
    let mut seen = HashSet::new();
    let mut forms = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("entityForms[{i}]");
        let Value::Object(obj) = item else {
            return Err(malformed(&path, "must be an object"));
        };
        let name = required_text(obj.get("name"), &format!("{path}.name"))?;
        if !seen.insert(name.clone()) {
            return Err(invalid(
                &format!("{path}.name"),
                "duplicate entity form name",
            ));
        }
        let duplicate_rules = match obj.get("duplicateRules") {
            None | Some(Value::Null) => None,
            Some(Value::Array(rules)) => {
                Some(parse_rules(rules, &format!("{path}.duplicateRules"))?)
            }
            Some(_) => {
                return Err(malformed(
                    &format!("{path}.duplicateRules"),
                    "must be an array",
                ))
            }
        };
        let extra = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "name" && k.as_str() != "duplicateRules")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        forms.push(EntityForm {
            name,
            duplicate_rules,
            extra,
        });
    }
    Ok(forms)
}

fn parse_rules(rules: &[Value], base: &str) -> Result<Vec<DuplicateRule>, DomainError> {
    let mut out = Vec::with_capacity(rules.len());
    for (r, rule) in rules.iter().enumerate() {
        let path = format!("{base}[{r}]");
        let Value::Object(obj) = rule else {
            return Err(malformed(&path, "must be an object"));
        };
        let fields = match obj.get("fields") {
            Some(Value::Array(fields)) => fields,
            None | Some(Value::Null) => {
                return Err(malformed(&format!("{path}.fields"), "is required"))
            }
            Some(_) => return Err(malformed(&format!("{path}.fields"), "must be an array")),
        };
        if fields.is_empty() {
            return Err(invalid(
                &format!("{path}.fields"),
                "must name at least one field",
            ));
        }
        let mut names = Vec::with_capacity(fields.len());
        for (f, field) in fields.iter().enumerate() {
            let fpath = format!("{path}.fields[{f}]");
            match field {
                Value::String(s) if s.trim().is_empty() => {
                    return Err(invalid(&fpath, "must be a non-empty string"))
                }
                Value::String(s) => names.push(s.clone()),
                _ => return Err(malformed(&fpath, "must be a string")),
            }
        }
        let normalize = match obj.get("normalize") {
            None | Some(Value::Null) => Normalize::default(),
            Some(Value::String(s)) if s == "casefold" => Normalize::Casefold,
            Some(Value::String(s)) if s == "exact" => Normalize::Exact,
            Some(Value::String(_)) => {
                return Err(invalid(
                    &format!("{path}.normalize"),
                    "must be \"casefold\" or \"exact\"",
                ))
            }
            Some(_) => return Err(malformed(&format!("{path}.normalize"), "must be a string")),
        };
        out.push(DuplicateRule {
            fields: names,
            normalize,
        });
    }
    Ok(out)
}

fn parse_entity_data(groups: &[Value]) -> Result<Vec<EntityDataGroup>, DomainError> {
    let mut out = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let path = format!("entityData[{g}]");
        let Value::Object(obj) = group else {
            return Err(malformed(&path, "must be an object"));
        };
        let name = required_text(obj.get("name"), &format!("{path}.name"))?;
        let data_path = format!("{path}.data");
        let raw_items = optional_array(obj.get("data"), &data_path)?.unwrap_or(&[]);
        let mut items = Vec::with_capacity(raw_items.len());
        for (j, item) in raw_items.iter().enumerate() {
            let ipath = format!("{data_path}[{j}]");
            let Value::Object(item) = item else {
                return Err(malformed(&ipath, "must be an object"));
            };
            check_seed_item(&name, item, &ipath)?;
            items.push(item.clone());
        }
        out.push(EntityDataGroup { name, items });
    }
    Ok(out)
}

/// An item must give a usable entity guid and parent guid, and its seed data must fit the
/// event size limit. (The seed events' full validation is [`AppConfig::invalid_seed`], run
/// on uploads only: a stored document must stay readable under rules added later.)
fn check_seed_item(group: &str, item: &Map<String, Value>, path: &str) -> Result<(), DomainError> {
    for key in ["id", "parentId"] {
        match item.get(key) {
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(Value::String(s)) if s.chars().count() > MAX_GUID_CHARS => {
                return Err(invalid(
                    &format!("{path}.{key}"),
                    "must be at most 128 characters",
                ))
            }
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(malformed(
                    &format!("{path}.{key}"),
                    "must be a string or a number",
                ))
            }
        }
    }
    let size = serde_json::to_vec(&seed_data(group, item))
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DATA_BYTES {
        return Err(invalid(path, "item is larger than 256 KiB serialized"));
    }
    Ok(())
}

fn parse_external_sync(obj: &Map<String, Value>) -> Result<ExternalSync, DomainError> {
    let sync_type = required_text(obj.get("type"), "externalSync.type")?;
    let url = optional_string(obj.get("url"), "externalSync.url")?;
    let auth = optional_string(obj.get("auth"), "externalSync.auth")?;
    let extra_fields = match obj.get("extraFields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => parse_extra_field_array(items)?,
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| ExtraField {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        Some(_) => {
            return Err(malformed(
                "externalSync.extraFields",
                "must be an array of {name, value} or an object",
            ))
        }
    };
    let mut seen = HashSet::new();
    for (i, field) in extra_fields.iter().enumerate() {
        let path = format!("externalSync.extraFields[{i}].name");
        if field.name.trim().is_empty() {
            return Err(invalid(&path, "must be a non-empty string"));
        }
        if !seen.insert(field.name.as_str()) {
            return Err(invalid(&path, "duplicate extra field name"));
        }
    }
    let extra = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "type" | "url" | "auth" | "extraFields"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ExternalSync {
        sync_type,
        url,
        auth,
        extra_fields,
        extra,
    })
}

fn parse_extra_field_array(items: &[Value]) -> Result<Vec<ExtraField>, DomainError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("externalSync.extraFields[{i}]");
            let Value::Object(obj) = item else {
                return Err(malformed(&path, "must be an object {name, value}"));
            };
            let name = match obj.get("name") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => {
                    return Err(malformed(&format!("{path}.name"), "is required"))
                }
                Some(_) => return Err(malformed(&format!("{path}.name"), "must be a string")),
            };
            Ok(ExtraField {
                name,
                value: obj.get("value").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

fn parse_auth_configs(items: &[Value]) -> Result<Vec<AuthConfig>, DomainError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("authConfigs[{i}]");
            let Value::Object(obj) = item else {
                return Err(malformed(&path, "must be an object {type, fields}"));
            };
            let tpath = format!("{path}.type");
            let auth_type = required_text(obj.get("type"), &tpath)?;
            if auth_type.chars().any(char::is_whitespace) || auth_type.chars().count() > 64 {
                return Err(invalid(
                    &tpath,
                    "must be one word of at most 64 characters (it is an Authorization scheme)",
                ));
            }
            let fields = match obj.get("fields") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(map)) => map.clone(),
                Some(_) => return Err(malformed(&format!("{path}.fields"), "must be an object")),
            };
            Ok(AuthConfig { auth_type, fields })
        })
        .collect()
}

/// A required string that must not be blank: absent or wrong type → 400, blank → 422.
fn required_text(value: Option<&Value>, path: &str) -> Result<String, DomainError> {
    match value {
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(invalid(path, "must be a non-empty string"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(malformed(path, "is required")),
        Some(_) => Err(malformed(path, "must be a string")),
    }
}

fn optional_string(value: Option<&Value>, path: &str) -> Result<Option<String>, DomainError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(path, "must be a string")),
    }
}

fn optional_array<'a>(
    value: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a [Value]>, DomainError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.as_slice())),
        Some(_) => Err(malformed(path, "must be an array")),
    }
}

/// Validates an uploaded config (`POST`/`PUT /api/apps`): [`parse_config`], and every
/// `entityData` item's seed event must pass the validation of a pushed event. Stored
/// documents are read with [`parse_config`] only, so that a rule added later never makes a
/// saved config unreadable.
///
/// # Errors
/// As [`parse_config`]; 422 `INVALID_CONFIG` at the path of an item whose seed event is
/// invalid.
pub fn parse_upload(value: &Value) -> Result<AppConfig, DomainError> {
    let config = parse_config(value)?;
    match config.invalid_seed() {
        Some((path, reason)) => Err(invalid(
            &path,
            &format!("its seed event is invalid: {reason}"),
        )),
        None => Ok(config),
    }
}

/// 400 `INVALID_CONFIG` at `path`.
pub(super) fn malformed(path: &str, what: &str) -> DomainError {
    at_path(ErrorKind::BadRequest, path, what)
}

/// 422 `INVALID_CONFIG` at `path`.
pub(super) fn invalid(path: &str, what: &str) -> DomainError {
    at_path(ErrorKind::Unprocessable, path, what)
}

fn at_path(kind: ErrorKind, path: &str, what: &str) -> DomainError {
    let message = if path.is_empty() {
        what.to_owned()
    } else {
        format!("{path}: {what}")
    };
    DomainError::new(kind, INVALID_CONFIG, message).with_details(json!({ "path": path }))
}

#[cfg(test)]
mod tests;
