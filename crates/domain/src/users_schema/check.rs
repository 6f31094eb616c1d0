//! Validation of submitted data (`POST /v1/users`) against a compiled schema.

use super::define::{compile_anchored, schema_error};
use super::{FieldKind, SchemaField, UserSchema};
use crate::error::DomainError;
use chrono::{DateTime, NaiveDate};
use regex::Regex;
use serde_json::{json, Map, Number, Value};
use std::collections::HashSet;

/// Code of data that does not match the schema (400).
pub const SCHEMA_VALIDATION: &str = "SCHEMA_VALIDATION";

/// A schema ready to validate data: patterns compiled once.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    version: i64,
    reject_unknown: bool,
    fields: Vec<(SchemaField, Option<Regex>)>,
    keys: HashSet<String>,
}

impl CompiledSchema {
    /// Compiles the patterns of `schema`.
    ///
    /// # Errors
    /// 400 `INVALID_SCHEMA` when a pattern does not compile (a stored schema was validated
    /// on save, so this only happens for schemas built in code).
    pub fn new(schema: &UserSchema) -> Result<Self, DomainError> {
        let mut problems = Vec::new();
        let mut fields = Vec::with_capacity(schema.fields.len());
        for (i, field) in schema.fields.iter().enumerate() {
            let regex = match field.regex.as_deref() {
                Some(p) if !p.is_empty() && field.kind == FieldKind::Text => {
                    match compile_anchored(p) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            problems.push((format!("fields[{i}].regex"), e));
                            None
                        }
                    }
                }
                _ => None,
            };
            fields.push((field.clone(), regex));
        }
        if !problems.is_empty() {
            return Err(schema_error(problems));
        }
        Ok(CompiledSchema {
            version: schema.version,
            reject_unknown: schema.reject_unknown,
            keys: schema.fields.iter().map(|f| f.key.clone()).collect(),
            fields,
        })
    }

    /// Version of the schema (recorded on each stored record).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Validates `data` and returns what to store: the data as sent, except numeric strings
    /// of `number` fields, which become JSON numbers. Unknown keys are kept when the schema
    /// does not reject them.
    ///
    /// # Errors
    /// 400 `SCHEMA_VALIDATION` whose `details` lists every failing field as
    /// `[{"field": "age", "error": "must be ≤ 120"}]` (field `data` when it is not an
    /// object).
    pub fn validate(&self, data: &Value) -> Result<Map<String, Value>, DomainError> {
        let Value::Object(map) = data else {
            return Err(validation_error(vec![(
                "data".into(),
                "must be an object".into(),
            )]));
        };
        if crate::nul::map_holds_nul(map) {
            // PostgreSQL cannot store it; refused on every backend alike.
            return Err(validation_error(vec![(
                "data".into(),
                "must not contain NUL characters".into(),
            )]));
        }
        let mut out = map.clone();
        let mut problems = Vec::new();
        for (field, regex) in &self.fields {
            match map.get(&field.key) {
                None | Some(Value::Null) => {
                    if field.required {
                        problems.push((field.key.clone(), "is required".to_owned()));
                    }
                }
                Some(value) => match check_value(field, regex.as_ref(), value) {
                    Ok(Some(converted)) => {
                        out.insert(field.key.clone(), converted);
                    }
                    Ok(None) => {}
                    Err(error) => problems.push((field.key.clone(), error)),
                },
            }
        }
        if self.reject_unknown {
            for key in map.keys().filter(|k| !self.keys.contains(*k)) {
                problems.push((key.clone(), "is not a field of the schema".to_owned()));
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(validation_error(problems))
        }
    }
}

fn validation_error(problems: Vec<(String, String)>) -> DomainError {
    let details: Vec<Value> = problems
        .iter()
        .map(|(field, error)| json!({"field": field, "error": error}))
        .collect();
    let message = match problems.as_slice() {
        [(field, error)] => format!("Validation failed: {field} {error}"),
        _ => format!("Validation failed for {} fields", problems.len()),
    };
    DomainError::bad_request(SCHEMA_VALIDATION, message).with_details(Value::Array(details))
}

/// Checks one present, non-null value. `Ok(Some(v))` replaces the stored value.
fn check_value(
    field: &SchemaField,
    regex: Option<&Regex>,
    value: &Value,
) -> Result<Option<Value>, String> {
    match field.kind {
        FieldKind::Text => {
            let s = value.as_str().ok_or("must be a string")?;
            let len = s.chars().count() as u64;
            if let Some(min) = field.min_length.filter(|min| len < *min) {
                return Err(format!("must be at least {min} characters"));
            }
            if let Some(max) = field.max_length.filter(|max| len > *max) {
                return Err(format!("must be at most {max} characters"));
            }
            if regex.is_some_and(|r| !r.is_match(s)) {
                return Err("does not match the required pattern".into());
            }
            Ok(None)
        }
        FieldKind::Checkbox => match value {
            Value::Bool(false) if field.required => Err("must be checked".into()),
            Value::Bool(_) => Ok(None),
            _ => Err("must be a boolean".into()),
        },
        FieldKind::Select => {
            let s = value.as_str().ok_or("must be a string")?;
            let options = field.options.as_deref().unwrap_or_default();
            if options.iter().any(|o| o == s) {
                Ok(None)
            } else {
                Err(format!("must be one of: {}", options.join(", ")))
            }
        }
        FieldKind::Number => {
            let (n, converted) = match value {
                Value::Number(n) => (n.as_f64().ok_or("must be a number")?, None),
                Value::String(s) => {
                    let n = parse_decimal(s).ok_or("must be a number")?;
                    (n.1, Some(Value::Number(n.0)))
                }
                _ => return Err("must be a number".into()),
            };
            if let Some(min) = field.min.filter(|min| n < *min) {
                return Err(format!("must be ≥ {min}"));
            }
            if let Some(max) = field.max.filter(|max| n > *max) {
                return Err(format!("must be ≤ {max}"));
            }
            Ok(converted)
        }
        FieldKind::Date => {
            let s = value.as_str().ok_or("must be a string")?;
            if is_date(s) {
                Ok(None)
            } else {
                Err("must be a real date YYYY-MM-DD or an RFC 3339 date-time".into())
            }
        }
    }
}

/// A finite decimal number in the lexical form of XML Schema `xs:decimal`: optional sign,
/// digits with an optional fraction (`30`, `-1.5`, `.5`, `5.`), surrounding whitespace
/// allowed; no exponent, `NaN` or `Infinity`. Whole numbers that fit `i64` become JSON
/// integers.
fn parse_decimal(text: &str) -> Option<(Number, f64)> {
    let t = text.trim();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let f: f64 = t.parse().ok().filter(|f: &f64| f.is_finite())?;
    if !unsigned.contains('.') {
        if let Ok(i) = t.parse::<i64>() {
            return Some((Number::from(i), f));
        }
    }
    Some((Number::from_f64(f)?, f))
}

/// `YYYY-MM-DD` that is a real calendar date, or an RFC 3339 date-time.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let date_shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if date_shape {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    }
    DateTime::parse_from_rfc3339(s).is_ok()
}
