//! Canonical JSON: one byte sequence per JSON value, whatever its key order or number form.

use serde_json::{Number, Value};

/// Writes `value` canonically: object keys sorted, no whitespace, numbers that are whole and
/// exactly representable written as integers (`1.0` → `1`), other numbers in shortest
/// round-trip form. Two values that differ only in key order or number formatting give the
/// same output.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        // Whole floats within the exactly-representable integer range print as integers.
        if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
            out.push_str(&(f as i64).to_string());
        } else {
            out.push_str(
                &Number::from_f64(f)
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            );
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
