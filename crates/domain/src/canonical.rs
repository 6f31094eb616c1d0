//! Canonical JSON: one byte sequence per JSON value, whatever its key order or number form.

use serde_json::{Map, Number, Value};
use std::io::Write;

/// Writes `value` canonically: object keys sorted, no whitespace, numbers that are whole and
/// exactly representable written as integers (`1.0` → `1`), other numbers in shortest
/// round-trip form. Two values that differ only in key order or number formatting give the
/// same output.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(value, &mut out);
    into_string(out)
}

/// [`canonical_json`] of the object `map`, without building a [`Value`] around it.
pub fn canonical_json_object(map: &Map<String, Value>) -> String {
    let mut out = Vec::new();
    write_object(map, &mut out);
    into_string(out)
}

/// JavaScript truthiness of a JSON value, for upstream rules written as `a || b`: `null`,
/// `false`, `0` and `""` are falsy, everything else (arrays and objects included) truthy.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The text written: only `&str` pieces and ASCII go in, so it is UTF-8.
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = if let Some(i) = n.as_i64() {
        write!(out, "{i}")
    } else if let Some(u) = n.as_u64() {
        write!(out, "{u}")
    } else if let Some(f) = n.as_f64() {
        // Whole floats within the exactly-representable integer range print as integers.
        if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
            write!(out, "{}", f as i64)
        } else {
            match Number::from_f64(f) {
                Some(n) => write!(out, "{n}"),
                None => Ok(()),
            }
        }
    } else {
        Ok(())
    };
}

/// A JSON string exactly as serde_json writes it (the escapes are part of stored hashes).
fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a `str` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_follows_javascript() {
        assert!(!truthy(&json!(null)));
        assert!(!truthy(&json!(false)));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!("")));
        assert!(truthy(&json!("0")));
        assert!(truthy(&json!([])));
        assert!(truthy(&json!(-1.5)));
    }

    #[test]
    fn key_order_and_number_form_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b":1.0,"a":{"y":[1,2.50],"x":"é"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"é","y":[1.0,2.5]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&b), r#"{"a":{"x":"é","y":[1,2.5]},"b":1}"#);
        assert_ne!(
            canonical_json(&json!({"a": 1})),
            canonical_json(&json!({"a": "1"}))
        );
    }
}
