//! Write-only secrets of a config (SPEC §4.2).
//!
//! Secrets are the values of `externalSync.extraFields` entries, of other `externalSync`
//! members and of `authConfigs[].fields` members whose name [`is_secret_name`]. They are
//! stored in clear, shown as [`SECRET_MASK`] ([`AppConfig::redacted`]), removed from public
//! artifacts, and an update that sends the mask back keeps the stored value
//! ([`merge_secrets`]).

use super::parse::invalid;
use super::{AppConfig, AuthConfig};
use crate::error::DomainError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What responses show instead of a secret value.
pub const SECRET_MASK: &str = "********";

/// Endings that make a name a secret name, compared after lower-casing and removing `_`
/// and `-`. They cover the SPEC list (`password`, `apiKey`, `api_key`, `secret`, `token`,
/// `clientSecret`, `client_secret`) and names built on it such as `dbPassword` or
/// `access_token`.
const SECRET_ENDINGS: [&str; 4] = ["password", "apikey", "secret", "token"];

/// Whether a setting with this name holds a secret (case-insensitive; the one rule used for
/// every secret in a config).
pub fn is_secret_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_ENDINGS.iter().any(|end| folded.ends_with(end))
}

/// Whether a secret value is set (unset ones — `null`, `""` — are shown as they are).
fn is_set(value: &Value) -> bool {
    !matches!(value, Value::Null) && value.as_str() != Some("")
}

fn mask(value: &mut Value) {
    if is_set(value) {
        *value = Value::String(SECRET_MASK.to_owned());
    }
}

fn is_mask(value: &Value) -> bool {
    value.as_str() == Some(SECRET_MASK)
}

fn mask_members(map: &mut Map<String, Value>) {
    for (name, value) in map.iter_mut() {
        if is_secret_name(name) {
            mask(value);
        }
    }
}

/// `map` without its secret-named members.
pub(super) fn without_secrets(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(name, _)| !is_secret_name(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl AppConfig {
    /// A copy with every set secret replaced by [`SECRET_MASK`]: what `GET /api/apps/:id`
    /// and the config list show.
    pub fn redacted(&self) -> AppConfig {
        let mut out = self.clone();
        if let Some(sync) = &mut out.external_sync {
            for field in &mut sync.extra_fields {
                if is_secret_name(&field.name) {
                    mask(&mut field.value);
                }
            }
            mask_members(&mut sync.extra);
        }
        for auth in &mut out.auth_configs {
            mask_members(&mut auth.fields);
        }
        out
    }
}

/// Replaces every secret of `new` whose value is exactly [`SECRET_MASK`] by the stored
/// value of the same setting in `old` (extra fields by name, exact then case-insensitive;
/// an `authConfigs` entry from the stored entry of its type whose other fields are the
/// same, else the only stored entry of its type).
///
/// # Errors
/// 422 `INVALID_CONFIG` at the path of a masked secret that has no stored value (e.g. on
/// creation, when `old` is `None`).
pub fn merge_secrets(
    mut new: AppConfig,
    old: Option<&AppConfig>,
) -> Result<AppConfig, DomainError> {
    let old_sync = old.and_then(|o| o.external_sync.as_ref());
    if let Some(sync) = &mut new.external_sync {
        for (i, field) in sync.extra_fields.iter_mut().enumerate() {
            if !(is_secret_name(&field.name) && is_mask(&field.value)) {
                continue;
            }
            let stored = old_sync.and_then(|s| {
                s.extra_fields
                    .iter()
                    .find(|f| f.name == field.name)
                    .or_else(|| {
                        s.extra_fields
                            .iter()
                            .find(|f| f.name.to_lowercase() == field.name.to_lowercase())
                    })
                    .map(|f| &f.value)
            });
            field.value = restore(stored, &format!("externalSync.extraFields[{i}].value"))?;
        }
        restore_members(&mut sync.extra, old_sync.map(|s| &s.extra), "externalSync")?;
    }
    for (i, auth) in new.auth_configs.iter_mut().enumerate() {
        let stored = old.and_then(|o| stored_auth_config(auth, &o.auth_configs));
        restore_members(
            &mut auth.fields,
            stored.map(|a| &a.fields),
            &format!("authConfigs[{i}].fields"),
        )?;
    }
    Ok(new)
}

/// The stored entry an `authConfigs` entry sent back stands for: among the stored entries
/// of its type, the one whose non-secret fields are the same (the entry unchanged, wherever
/// it now is in the list), else the only one (its settings edited). `None` when that is
/// ambiguous or there is none, so a masked secret is refused rather than taken from another
/// provider entry.
fn stored_auth_config<'a>(sent: &AuthConfig, stored: &'a [AuthConfig]) -> Option<&'a AuthConfig> {
    // By name, whatever the order (PostgreSQL's jsonb gives keys back in its own order).
    let public = |a: &AuthConfig| -> BTreeMap<String, Value> {
        a.fields
            .iter()
            .filter(|(name, _)| !is_secret_name(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    };
    let same_type: Vec<&AuthConfig> = stored
        .iter()
        .filter(|a| a.auth_type == sent.auth_type)
        .collect();
    let sent_public = public(sent);
    let mut same = same_type.iter().filter(|a| public(a) == sent_public);
    match (same.next(), same.next(), same_type.as_slice()) {
        (Some(one), None, _) => Some(one),
        (None, _, [only]) => Some(only),
        _ => None,
    }
}

fn restore_members(
    map: &mut Map<String, Value>,
    stored: Option<&Map<String, Value>>,
    base: &str,
) -> Result<(), DomainError> {
    for (name, value) in map.iter_mut() {
        if is_secret_name(name) && is_mask(value) {
            *value = restore(stored.and_then(|s| s.get(name)), &format!("{base}.{name}"))?;
        }
    }
    Ok(())
}

fn restore(stored: Option<&Value>, path: &str) -> Result<Value, DomainError> {
    stored.filter(|v| is_set(v)).cloned().ok_or_else(|| {
        invalid(
            path,
            "is the secret mask but no secret is stored for it; send the real value",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn stored() -> AppConfig {
        parse_config(&json!({"id": "p", "name": "P", "entityForms": [],
            "externalSync": {"type": "openspp-adapter", "url": "https://spp",
                "extraFields": [{"name": "database", "value": "db"},
                                {"name": "password", "value": "s3cret"},
                                {"name": "apiKey", "value": "k-1"},
                                {"name": "token", "value": ""}],
                "clientSecret": "top"},
            "authConfigs": [{"type": "keycloak", "fields": {"authority": "https://kc",
                "client_id": "app", "client_secret": "kc-secret"}},
                {"type": "auth0", "fields": {"domain": "d", "clientSecret": "a0"}}]}))
        .unwrap()
    }

    #[test]
    fn secret_names_per_spec_case_insensitive() {
        for name in [
            "password",
            "PASSWORD",
            "apiKey",
            "APIKEY",
            "api_key",
            "secret",
            "token",
            "clientSecret",
            "client_secret",
            "CLIENT_SECRET",
            "dbPassword",
            "access_token",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "database",
            "username",
            "url",
            "client_id",
            "authority",
            "tokenUrl",
            "secretName",
            "",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn redacted_masks_set_secrets_only() {
        let r = stored().redacted().to_document();
        let fields = &r["externalSync"]["extraFields"];
        assert_eq!(fields[0], json!({"name": "database", "value": "db"}));
        assert_eq!(fields[1]["value"], SECRET_MASK);
        assert_eq!(fields[2]["value"], SECRET_MASK);
        assert_eq!(fields[3]["value"], "");
        assert_eq!(r["externalSync"]["clientSecret"], SECRET_MASK);
        assert_eq!(r["authConfigs"][0]["fields"]["client_secret"], SECRET_MASK);
        assert_eq!(r["authConfigs"][0]["fields"]["client_id"], "app");
        assert_eq!(r["authConfigs"][1]["fields"]["clientSecret"], SECRET_MASK);
        let text = r.to_string();
        for secret in ["s3cret", "k-1", "top", "kc-secret", "\"a0\""] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn sending_the_mask_back_keeps_stored_values() {
        let old = stored();
        let mut update = parse_config(&old.redacted().to_document()).unwrap();
        update.name = "Renamed".into();
        let merged = merge_secrets(update, Some(&old)).unwrap();
        assert_eq!(merged.name, "Renamed");
        let mut expected = old.clone();
        expected.name = "Renamed".into();
        assert_eq!(merged, expected);
    }

    #[test]
    fn new_values_replace_stored_ones() {
        let old = stored();
        let mut doc = old.redacted().to_document();
        doc["externalSync"]["extraFields"][1]["value"] = json!("new-pass");
        doc["authConfigs"][1]["fields"]["clientSecret"] = json!("new-a0");
        let merged = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap();
        let d = merged.to_document();
        assert_eq!(d["externalSync"]["extraFields"][1]["value"], "new-pass");
        assert_eq!(d["externalSync"]["extraFields"][2]["value"], "k-1");
        assert_eq!(d["authConfigs"][1]["fields"]["clientSecret"], "new-a0");
        assert_eq!(d["authConfigs"][0]["fields"]["client_secret"], "kc-secret");
    }

    #[test]
    fn auth_configs_match_by_type_even_when_reordered() {
        let old = stored();
        let mut doc = old.redacted().to_document();
        let auth = doc["authConfigs"].as_array().unwrap().clone();
        doc["authConfigs"] = json!([auth[1], auth[0]]);
        let merged = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap();
        assert_eq!(merged.auth_configs[0].fields["clientSecret"], "a0");
        assert_eq!(merged.auth_configs[1].fields["client_secret"], "kc-secret");
    }

    #[test]
    fn auth_configs_of_one_type_match_by_their_other_fields() {
        let old = parse_config(&json!({"id": "p", "name": "P", "entityForms": [],
            "authConfigs": [
                {"type": "keycloak", "fields": {"authority": "A", "client_id": "x", "client_secret": "a"}},
                {"type": "keycloak", "fields": {"authority": "B", "client_id": "x", "client_secret": "b"}}]}))
        .unwrap();
        let redacted = old.redacted().to_document();
        let entries = redacted["authConfigs"].as_array().unwrap().clone();
        // A removed: B keeps its own secret (it took A's, by rank, before).
        let mut doc = redacted.clone();
        doc["authConfigs"] = json!([entries[1]]);
        let merged = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap();
        assert_eq!(merged.auth_configs[0].fields["client_secret"], "b");
        // Swapped, their fields in another order (as PostgreSQL stores them): each keeps its own.
        let reordered = |entry: &Value| {
            let fields = &entry["fields"];
            json!({"type": entry["type"], "fields": {"client_secret": fields["client_secret"],
                "client_id": fields["client_id"], "authority": fields["authority"]}})
        };
        doc["authConfigs"] = json!([reordered(&entries[1]), reordered(&entries[0])]);
        let merged = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap();
        assert_eq!(merged.auth_configs[0].fields["client_secret"], "b");
        assert_eq!(merged.auth_configs[1].fields["client_secret"], "a");
        // An edited entry among several of its type: which secret it means is unknown.
        doc["authConfigs"] = json!([entries[0], entries[1]]);
        doc["authConfigs"][1]["fields"]["authority"] = json!("C");
        let err = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap_err();
        assert_eq!(
            err.details.unwrap()["path"],
            "authConfigs[1].fields.client_secret"
        );
        // The only entry of its type, edited: its stored secret.
        let mut single = stored().redacted().to_document();
        single["authConfigs"][0]["fields"]["authority"] = json!("https://kc2");
        let merged = merge_secrets(parse_config(&single).unwrap(), Some(&stored())).unwrap();
        assert_eq!(merged.auth_configs[0].fields["client_secret"], "kc-secret");
    }

    #[test]
    fn extra_field_names_match_case_insensitively_as_fallback() {
        let old = stored();
        let mut doc = old.redacted().to_document();
        doc["externalSync"]["extraFields"][1]["name"] = json!("Password");
        let merged = merge_secrets(parse_config(&doc).unwrap(), Some(&old)).unwrap();
        assert_eq!(
            merged.external_sync.unwrap().extra_fields[1].value,
            "s3cret"
        );
    }

    #[test]
    fn a_mask_without_stored_value_is_422_with_path() {
        let doc = stored().redacted().to_document();
        let err = merge_secrets(parse_config(&doc).unwrap(), None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unprocessable);
        assert_eq!(err.code, "INVALID_CONFIG");
        assert_eq!(
            err.details.unwrap()["path"],
            "externalSync.extraFields[1].value"
        );
        // The mask in a non-secret field is a literal value.
        let plain = parse_config(&json!({"id": "p", "name": "P", "entityForms": [],
            "externalSync": {"type": "t", "extraFields": {"database": SECRET_MASK}}}))
        .unwrap();
        let merged = merge_secrets(plain.clone(), None).unwrap();
        assert_eq!(merged, plain);
        // A secret that was unset ("") cannot be restored from the mask.
        let mut doc = stored().redacted().to_document();
        doc["externalSync"]["extraFields"][3]["value"] = json!(SECRET_MASK);
        let err = merge_secrets(parse_config(&doc).unwrap(), Some(&stored())).unwrap_err();
        assert_eq!(
            err.details.unwrap()["path"],
            "externalSync.extraFields[3].value"
        );
    }
}
