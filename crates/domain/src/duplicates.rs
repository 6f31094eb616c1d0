//! Potential-duplicate detection: match keys computed from entity data.

use serde::{Deserialize, Serialize};
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
