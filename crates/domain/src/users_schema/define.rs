//! Validation of a schema sent to `PUT /auth/apps/:sourceAppId/schema`.

use super::{FieldKind, SchemaField};
use crate::error::DomainError;
use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Code of a rejected schema (400).
pub const INVALID_SCHEMA: &str = "INVALID_SCHEMA";
/// Most fields a schema may have.
pub const MAX_FIELDS: usize = 100;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest `regex` pattern, in characters.
pub const MAX_REGEX_CHARS: usize = 1000;
/// Most bytes a compiled pattern may use (keeps hostile patterns cheap).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest key: one letter then up to 50 of `[a-zA-Z0-9_]`.
const MAX_KEY_CHARS: usize = 51;

/// Problems found so far, as `(field path, error)`.
type Problems = Vec<(String, String)>;

/// Validates a schema body `{rejectUnknown?, fields: [...]}` and returns
/// `(rejectUnknown, fields)`; `rejectUnknown` defaults to `true`, other top-level members
/// (such as a `version` sent back) are ignored.
///
/// Field rules: `key` matches `^[a-zA-Z][a-zA-Z0-9_]{0,50}$` and is unique; at most 100
/// fields; `kind` is one of `text`, `checkbox`, `select`, `number`, `date`; `label` (default
/// `""`) has at most 200 characters; `required` (default `false`) is a boolean. `text`:
/// `minLength`/`maxLength` are non-negative integers with `minLength ≤ maxLength`, `regex` a
/// pattern of the `regex` crate of at most 1000 characters that compiles (`""` means none).
/// `select`: `enum` is a non-empty array of strings. `number`: `min`/`max` are numbers with
/// `min ≤ max`. `null` means absent. As in JSON Schema, constraints of other kinds (e.g.
/// `enum` on a text field) are ignored and not stored; unknown members of a field too.
///
/// # Errors
/// 400 `INVALID_SCHEMA` whose `details` lists every problem as
/// `[{"field": "fields[3].key", "error": "..."}]`.
pub fn validate_schema(input: &Value) -> Result<(bool, Vec<SchemaField>), DomainError> {
    let mut problems = Problems::new();
    let Value::Object(root) = input else {
        return Err(schema_error(vec![(
            "schema".into(),
            "must be a JSON object".into(),
        )]));
    };
    if crate::nul::map_holds_nul(root) {
        return Err(schema_error(vec![(
            "schema".into(),
            "must not contain NUL characters".into(),
        )]));
    }
    let reject_unknown = match root.get("rejectUnknown") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(("rejectUnknown".into(), "must be a boolean".into()));
            true
        }
    };
    let items = match root.get("fields") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => {
            problems.push(("fields".into(), "is required".into()));
            &[]
        }
        Some(_) => {
            problems.push(("fields".into(), "must be an array".into()));
            &[]
        }
    };
    if items.len() > MAX_FIELDS {
        problems.push((
            "fields".into(),
            format!("must have at most {MAX_FIELDS} fields"),
        ));
        return Err(schema_error(problems));
    }
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(field) = parse_field(&format!("fields[{i}]"), item, &mut seen, &mut problems) {
            fields.push(field);
        }
    }
    if problems.is_empty() {
        Ok((reject_unknown, fields))
    } else {
        Err(schema_error(problems))
    }
}

/// Compiles a stored or submitted pattern so that it must match the whole value.
///
/// The pattern is first compiled alone, so that one which is not a complete expression on
/// its own (e.g. `a)|(b`) cannot escape the `^(?:…)$` anchoring.
pub(super) fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    if pattern.chars().count() > MAX_REGEX_CHARS {
        return Err(format!("must be at most {MAX_REGEX_CHARS} characters"));
    }
    let build = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
    };
    build(pattern)
        .and_then(|_| build(&format!("^(?:{pattern})$")))
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "is too complex".to_owned(),
            _ => "is not a valid regular expression".to_owned(),
        })
}

/// Builds the 400 `INVALID_SCHEMA` error.
pub(super) fn schema_error(problems: Problems) -> DomainError {
    let details: Vec<Value> = problems
        .iter()
        .map(|(field, error)| json!({"field": field, "error": error}))
        .collect();
    let message = match problems.as_slice() {
        [(field, error)] => format!("Invalid schema: {field} {error}"),
        _ => format!("Invalid schema: {} problems", problems.len()),
    };
    DomainError::bad_request(INVALID_SCHEMA, message).with_details(Value::Array(details))
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_KEY_CHARS
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn parse_field(
    path: &str,
    item: &Value,
    seen: &mut HashSet<String>,
    problems: &mut Problems,
) -> Option<SchemaField> {
    let Value::Object(obj) = item else {
        problems.push((path.to_owned(), "must be an object".into()));
        return None;
    };
    let before = problems.len();
    let mut problem = |member: &str, error: String| {
        problems.push((format!("{path}.{member}"), error));
    };
    let key = match obj.get("key") {
        Some(Value::String(k)) if !valid_key(k) => {
            problem("key", "must match ^[a-zA-Z][a-zA-Z0-9_]{0,50}$".into());
            None
        }
        Some(Value::String(k)) if !seen.insert(k.clone()) => {
            problem("key", format!("duplicate key \"{k}\""));
            None
        }
        Some(Value::String(k)) => Some(k.clone()),
        None | Some(Value::Null) => {
            problem("key", "is required".into());
            None
        }
        Some(_) => {
            problem("key", "must be a string".into());
            None
        }
    };
    let label = match obj.get("label") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(l)) if l.chars().count() > MAX_LABEL_CHARS => {
            problem(
                "label",
                format!("must be at most {MAX_LABEL_CHARS} characters"),
            );
            String::new()
        }
        Some(Value::String(l)) => l.clone(),
        Some(_) => {
            problem("label", "must be a string".into());
            String::new()
        }
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => FieldKind::parse(k),
        _ => None,
    };
    if kind.is_none() {
        problem(
            "kind",
            "must be one of text, checkbox, select, number, date".into(),
        );
    }
    let required = match obj.get("required") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problem("required", "must be a boolean".into());
            false
        }
    };
    let mut field = SchemaField {
        key: key.unwrap_or_default(),
        label,
        kind: kind.unwrap_or(FieldKind::Text),
        required,
        min_length: None,
        max_length: None,
        regex: None,
        options: None,
        min: None,
        max: None,
    };
    match kind {
        Some(FieldKind::Text) => text_constraints(obj, &mut field, &mut problem),
        Some(FieldKind::Select) => field.options = select_options(obj, &mut problem),
        Some(FieldKind::Number) => number_bounds(obj, &mut field, &mut problem),
        Some(FieldKind::Checkbox | FieldKind::Date) | None => {}
    }
    (problems.len() == before).then_some(field)
}

fn text_constraints(
    obj: &Map<String, Value>,
    field: &mut SchemaField,
    problem: &mut impl FnMut(&str, String),
) {
    let mut length = |member: &str| match obj.get(member) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                problem(member, "must be a non-negative integer".into());
                None
            }
        },
    };
    field.min_length = length("minLength");
    field.max_length = length("maxLength");
    if let (Some(min), Some(max)) = (field.min_length, field.max_length) {
        if min > max {
            problem("minLength", "must be ≤ maxLength".into());
        }
    }
    field.regex = match obj.get("regex") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => match compile_anchored(p) {
            Ok(_) => Some(p.clone()),
            Err(e) => {
                problem("regex", e);
                None
            }
        },
        Some(_) => {
            problem("regex", "must be a string".into());
            None
        }
    };
}

fn select_options(
    obj: &Map<String, Value>,
    problem: &mut impl FnMut(&str, String),
) -> Option<Vec<String>> {
    match obj.get("enum") {
        Some(Value::Array(items)) if items.is_empty() => {
            problem("enum", "must not be empty".into());
            None
        }
        Some(Value::Array(items)) => {
            let options: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if options.len() == items.len() {
                Some(options)
            } else {
                problem("enum", "must contain only strings".into());
                None
            }
        }
        None | Some(Value::Null) => {
            problem("enum", "is required for a select field".into());
            None
        }
        Some(_) => {
            problem("enum", "must be an array of strings".into());
            None
        }
    }
}

fn number_bounds(
    obj: &Map<String, Value>,
    field: &mut SchemaField,
    problem: &mut impl FnMut(&str, String),
) {
    let mut bound = |member: &str| match obj.get(member) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            problem(member, "must be a number".into());
            None
        }
    };
    field.min = bound("min");
    field.max = bound("max");
    if let (Some(min), Some(max)) = (field.min, field.max) {
        if min > max {
            problem("min", "must be ≤ max".into());
        }
    }
}
