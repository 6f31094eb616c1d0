//! NUL characters in JSON input. PostgreSQL stores them neither in text nor in `jsonb`, so
//! wherever input is stored the domain refuses them, with the same answer on every backend.

use serde_json::{Map, Value};

/// Whether any key or string inside `value` holds a NUL character.
pub(crate) fn holds_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

/// Whether any key or string inside `map` holds a NUL character.
pub(crate) fn map_holds_nul(map: &Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nul_in_keys_and_strings_at_any_depth() {
        for held in [
            json!("a\u{0}"),
            json!({"k\u{0}": 1}),
            json!({"a": [1, {"b": ["x", "y\u{0}z"]}]}),
        ] {
            assert!(holds_nul(&held), "{held}");
        }
        for clean in [
            json!("\\u0000"),
            json!({"a": [1, null, {"b": "c"}]}),
            json!(0),
        ] {
            assert!(!holds_nul(&clean), "{clean}");
        }
        let Value::Object(map) = json!({"a": {"b\u{0}": 1}}) else {
            unreachable!()
        };
        assert!(map_holds_nul(&map));
    }
}
