//! Program configurations (upstream "app configs"): the typed model, its validation
//! ([`parse_config`]), write-only secrets ([`secrets`]), the views that leave the server
//! ([`views`]) and the `entityData` seed events ([`seed`]).
//!
//! The store keeps a config as the JSON document [`AppConfig::to_document`] writes (secrets
//! included); [`AppConfig::from_document`] reads it back. Unknown top-level keys and the
//! server-managed `artifactId` are dropped on input, as upstream does.

mod parse;
pub mod secrets;
pub mod seed;
pub mod views;

pub use parse::{parse_config, parse_upload, INVALID_CONFIG, INVALID_CONFIG_ID};
pub use secrets::{is_secret_name, merge_secrets, SECRET_MASK};

use crate::duplicates::{DuplicateRule, DuplicateRules};
use crate::error::DomainError;
use crate::tenant::TenantId;
use serde_json::{Map, Value};

/// A validated program configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Tenant id (`configId`).
    pub id: TenantId,
    /// Display name (non-empty).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Version label (a JSON number on input is kept as its text).
    pub version: Option<String>,
    /// Informational URL.
    pub url: Option<String>,
    /// Entity forms, unique by name.
    pub entity_forms: Vec<EntityForm>,
    /// Reference data seeded as events ([`AppConfig::seed_events`]).
    pub entity_data: Vec<EntityDataGroup>,
    /// External-system settings.
    pub external_sync: Option<ExternalSync>,
    /// OIDC providers accepted on the sync routes.
    pub auth_configs: Vec<AuthConfig>,
}

/// One entity form. Only `name` and `duplicateRules` are interpreted; every other member
/// (`formio`, `title`, `dependsOn`, `displayTemplate`, `roles`, `id`, …) is kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityForm {
    /// Form name (non-empty, unique within the config); entities carry it as
    /// `data.entityName`.
    pub name: String,
    /// Duplicate rules of the form; `None` means the default rule applies.
    pub duplicate_rules: Option<Vec<DuplicateRule>>,
    /// The other members of the form object, in their original order.
    pub extra: Map<String, Value>,
}

/// A group of reference-data items (`entityData[i]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityDataGroup {
    /// Group name, written to each seeded entity as `data.entityName`.
    pub name: String,
    /// The items (`data`), JSON objects kept verbatim.
    pub items: Vec<Map<String, Value>>,
}

/// `externalSync`: which adapter to run against which external system.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalSync {
    /// Adapter type (`openspp-adapter`, `openfn-adapter`, `mock-sync-server`, …).
    pub sync_type: String,
    /// Base URL of the external system.
    pub url: Option<String>,
    /// Informational auth label (e.g. `basic`).
    pub auth: Option<String>,
    /// Adapter settings, always in the array form `[{name, value}]`.
    pub extra_fields: Vec<ExtraField>,
    /// Other members of `externalSync`, kept verbatim (secret-named ones are treated as
    /// secrets too).
    pub extra: Map<String, Value>,
}

/// One adapter setting of `externalSync.extraFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraField {
    /// Setting name (non-empty, unique within `extraFields`).
    pub name: String,
    /// Setting value, verbatim (a secret when [`is_secret_name`] holds for `name`).
    pub value: Value,
}

/// One OIDC provider of `authConfigs`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// Provider type (`keycloak`, `auth0`, …), the scheme of `Authorization: <type> <token>`.
    pub auth_type: String,
    /// Provider settings (`authority`, `client_id`, …); secret-named ones are write-only.
    pub fields: Map<String, Value>,
}

impl AppConfig {
    /// Reads a stored document back (the same rules as [`parse_config`]).
    ///
    /// # Errors
    /// The [`parse_config`] errors, when the document is not a valid config.
    pub fn from_document(document: &Value) -> Result<Self, DomainError> {
        parse_config(document)
    }

    /// The full document to store: every known key, absent optional strings and
    /// `externalSync` as `null`, secrets in clear. `from_document(&c.to_document()) == c`.
    pub fn to_document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("id".into(), Value::String(self.id.as_str().to_owned()));
        doc.insert("name".into(), Value::String(self.name.clone()));
        doc.insert("description".into(), opt_string(&self.description));
        doc.insert("version".into(), opt_string(&self.version));
        doc.insert("url".into(), opt_string(&self.url));
        doc.insert("entityForms".into(), self.entity_forms_value());
        doc.insert("entityData".into(), self.entity_data_value());
        doc.insert(
            "externalSync".into(),
            self.external_sync
                .as_ref()
                .map_or(Value::Null, ExternalSync::to_value),
        );
        doc.insert(
            "authConfigs".into(),
            Value::Array(self.auth_configs.iter().map(AuthConfig::to_value).collect()),
        );
        Value::Object(doc)
    }

    /// The duplicate rules of the forms that declare `duplicateRules`. A form that declares
    /// an empty list is present with no rules (detection disabled for it); forms that
    /// declare nothing are absent (the default rule applies).
    pub fn duplicate_rules(&self) -> DuplicateRules {
        DuplicateRules {
            by_form: self
                .entity_forms
                .iter()
                .filter_map(|f| {
                    f.duplicate_rules
                        .as_ref()
                        .map(|rules| (f.name.clone(), rules.clone()))
                })
                .collect(),
        }
    }

    fn entity_forms_value(&self) -> Value {
        Value::Array(self.entity_forms.iter().map(EntityForm::to_value).collect())
    }

    fn entity_data_value(&self) -> Value {
        Value::Array(
            self.entity_data
                .iter()
                .map(EntityDataGroup::to_value)
                .collect(),
        )
    }
}

impl EntityForm {
    /// The form object: `name`, the verbatim members, then `duplicateRules` when declared.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), Value::String(self.name.clone()));
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        if let Some(rules) = &self.duplicate_rules {
            let rules = rules
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    o.insert(
                        "fields".into(),
                        Value::Array(r.fields.iter().cloned().map(Value::String).collect()),
                    );
                    let normalize = match r.normalize {
                        crate::duplicates::Normalize::Casefold => "casefold",
                        crate::duplicates::Normalize::Exact => "exact",
                    };
                    o.insert("normalize".into(), Value::String(normalize.into()));
                    Value::Object(o)
                })
                .collect();
            obj.insert("duplicateRules".into(), Value::Array(rules));
        }
        Value::Object(obj)
    }
}

impl EntityDataGroup {
    /// `{name, data: [items]}`.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), Value::String(self.name.clone()));
        obj.insert(
            "data".into(),
            Value::Array(self.items.iter().cloned().map(Value::Object).collect()),
        );
        Value::Object(obj)
    }
}

impl ExternalSync {
    /// `{type, url, auth?, extraFields: [{name, value}], …extra}` (secrets in clear).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String(self.sync_type.clone()));
        obj.insert("url".into(), opt_string(&self.url));
        if let Some(auth) = &self.auth {
            obj.insert("auth".into(), Value::String(auth.clone()));
        }
        obj.insert(
            "extraFields".into(),
            Value::Array(
                self.extra_fields
                    .iter()
                    .map(|f| {
                        let mut o = Map::new();
                        o.insert("name".into(), Value::String(f.name.clone()));
                        o.insert("value".into(), f.value.clone());
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }
}

impl AuthConfig {
    /// `{type, fields}` (secrets in clear).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String(self.auth_type.clone()));
        obj.insert("fields".into(), Value::Object(self.fields.clone()));
        Value::Object(obj)
    }
}

fn opt_string(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}
