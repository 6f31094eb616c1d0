//! Users-API schemas: field definitions, schema validation on save ([`validate_schema`]),
//! data validation on submit ([`CompiledSchema::validate`]).

mod check;
mod define;

pub use check::{CompiledSchema, SCHEMA_VALIDATION};
pub use define::{validate_schema, INVALID_SCHEMA, MAX_FIELDS, MAX_LABEL_CHARS, MAX_REGEX_CHARS};

use serde::{Deserialize, Serialize, Serializer};

/// Kind of a schema field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

impl FieldKind {
    /// Parses the wire name (`text`, `checkbox`, `select`, `number`, `date`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "text" => Some(FieldKind::Text),
            "checkbox" => Some(FieldKind::Checkbox),
            "select" => Some(FieldKind::Select),
            "number" => Some(FieldKind::Number),
            "date" => Some(FieldKind::Date),
            _ => None,
        }
    }
}

/// One field of a schema. Constraints only exist on the kinds they apply to (see
/// [`validate_schema`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Inclusive minimum (number); whole values are written as JSON integers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub min: Option<f64>,
    /// Inclusive maximum (number); whole values are written as JSON integers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "whole_as_integer"
    )]
    pub max: Option<f64>,
}

/// A versioned schema of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSchema {
    /// Version, starting at 1, incremented on each update.
    pub version: i64,
    /// Reject data keys that are not in `fields`.
    pub reject_unknown: bool,
    /// Fields.
    pub fields: Vec<SchemaField>,
}

/// The schema of a new app: version 1, `rejectUnknown: true`, one optional text field
/// `fullName` ("Full name", at most 200 characters).
pub fn default_schema() -> UserSchema {
    UserSchema {
        version: 1,
        reject_unknown: true,
        fields: vec![SchemaField {
            key: "fullName".into(),
            label: "Full name".into(),
            kind: FieldKind::Text,
            required: false,
            min_length: None,
            max_length: Some(200),
            regex: None,
            options: None,
            min: None,
            max: None,
        }],
    }
}

/// Writes `0.0` as `0` (the seed's `"min": 0`), other numbers as they are.
fn whole_as_integer<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            s.serialize_some(&(*f as i64))
        }
        Some(f) => s.serialize_some(f),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
