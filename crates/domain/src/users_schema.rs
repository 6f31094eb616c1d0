//! Users-API schemas: field definitions, schema validation on save, data validation on submit.

use serde::{Deserialize, Serialize};

/// Kind of a schema field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// A string (`minLength`, `maxLength`, `regex`).
    Text,
    /// A boolean (`required` means it must be `true`).
    Checkbox,
    /// A string from `enum`.
    Select,
    /// A number or numeric string (`min`, `max`).
    Number,
    /// A real calendar date `YYYY-MM-DD` or an RFC 3339 instant.
    Date,
}

/// One field of a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaField {
    /// Data key, `^[a-zA-Z][a-zA-Z0-9_]{0,50}$`.
    pub key: String,
    /// Human label (≤ 200 characters).
    #[serde(default)]
    pub label: String,
    /// Kind.
    pub kind: FieldKind,
    /// Must be present (and `true` for a checkbox).
    #[serde(default)]
    pub required: bool,
    /// Minimum length in Unicode scalar values (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Maximum length in Unicode scalar values (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Pattern the whole value must match (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Allowed values (select).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Inclusive minimum (number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Inclusive maximum (number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A versioned schema of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSchema {
    /// Version, starting at 1, incremented on each update.
    pub version: i64,
    /// Reject data keys that are not in `fields`.
    pub reject_unknown: bool,
    /// Fields.
    pub fields: Vec<SchemaField>,
}
