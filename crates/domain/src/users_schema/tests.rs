use super::*;
use crate::error::{DomainError, ErrorKind};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The seed's example schema plus a date, a regex and a select with more rules.
fn schema(reject_unknown: bool) -> CompiledSchema {
    let (reject, fields) = validate_schema(&json!({
        "rejectUnknown": reject_unknown,
        "fields": [
            {"key": "fullName", "label": "Full name", "kind": "text", "required": true,
             "minLength": 1, "maxLength": 5},
            {"key": "consentRequired", "label": "Consent", "kind": "checkbox", "required": true},
            {"key": "consentOptional", "label": "Newsletter", "kind": "checkbox"},
            {"key": "age", "label": "Age", "kind": "number", "required": false, "min": 0, "max": 120},
            {"key": "country", "label": "Country", "kind": "select", "enum": ["US", "CA", "UK", "DE"]},
            {"key": "born", "label": "Birth date", "kind": "date"},
            {"key": "code", "label": "Code", "kind": "text", "regex": "[a-z]+"}
        ]
    }))
    .unwrap();
    CompiledSchema::new(&UserSchema {
        version: 2,
        reject_unknown: reject,
        fields,
    })
    .unwrap()
}

fn valid() -> Value {
    json!({"fullName": "Ann", "consentRequired": true})
}

fn details(e: &DomainError) -> Vec<(String, String)> {
    e.details
        .as_ref()
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_owned(),
                d["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The failing fields when `key` is set to `value` in an otherwise valid record.
fn failing(key: &str, value: Value) -> Vec<String> {
    let mut data = valid();
    data[key] = value;
    match schema(true).validate(&data) {
        Ok(_) => Vec::new(),
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::BadRequest);
            assert_eq!(e.code, SCHEMA_VALIDATION);
            details(&e).into_iter().map(|(f, _)| f).collect()
        }
    }
}

fn accepts(key: &str, value: Value) -> bool {
    failing(key, value).is_empty()
}

fn schema_problems(input: Value) -> Vec<(String, String)> {
    let e = validate_schema(&input).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.code, INVALID_SCHEMA);
    details(&e)
}

fn one_field(field: Value) -> Value {
    json!({"rejectUnknown": true, "fields": [field]})
}

// ---------------------------------------------------------------- default schema

#[test]
fn default_schema_matches_the_contract() {
    let s = default_schema();
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"version": 1, "rejectUnknown": true, "fields": [
            {"key": "fullName", "label": "Full name", "kind": "text", "required": false,
             "maxLength": 200}]})
    );
    let c = CompiledSchema::new(&s).unwrap();
    assert_eq!(c.version(), 1);
    assert!(c.validate(&json!({})).is_ok());
    assert!(c.validate(&json!({"fullName": "x".repeat(200)})).is_ok());
    assert!(c.validate(&json!({"fullName": "x".repeat(201)})).is_err());
    assert!(c.validate(&json!({"email": "a@b.c"})).is_err());
}

#[test]
fn seed_example_schema_round_trips_with_integer_bounds() {
    let body = json!({"rejectUnknown": true, "fields": [
        {"key": "fullName", "label": "Full name", "kind": "text", "required": true,
         "minLength": 1, "maxLength": 200},
        {"key": "consentRequired", "label": "Consent", "kind": "checkbox", "required": true},
        {"key": "age", "label": "Age", "kind": "number", "required": false, "min": 0, "max": 120},
        {"key": "country", "label": "Country", "kind": "select", "required": false,
         "enum": ["US", "CA", "UK", "DE"]}]});
    let (reject, fields) = validate_schema(&body).unwrap();
    let stored = UserSchema {
        version: 2,
        reject_unknown: reject,
        fields,
    };
    let wire = serde_json::to_value(&stored).unwrap();
    assert_eq!(wire["fields"], body["fields"]);
    let back: UserSchema = serde_json::from_value(wire).unwrap();
    assert_eq!(back, stored);
    // The seed's sample submission passes.
    let c = CompiledSchema::new(&stored).unwrap();
    let out = c
        .validate(&json!({"fullName": "John Doe", "age": "30", "consentRequired": true}))
        .unwrap();
    assert_eq!(out["age"], json!(30));
}

// ---------------------------------------------------------------- data: every field listed

#[test]
fn lists_every_failing_field() {
    let e = schema(true)
        .validate(
            &json!({"fullName": "", "consentRequired": false, "age": 121,
            "country": "FR", "born": "2023-02-30", "code": "abc1", "extra": 1}),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.code, SCHEMA_VALIDATION);
    assert_eq!(
        details(&e),
        vec![
            ("fullName".into(), "must be at least 1 characters".into()),
            ("consentRequired".into(), "must be checked".into()),
            ("age".into(), "must be ≤ 120".into()),
            ("country".into(), "must be one of: US, CA, UK, DE".into()),
            (
                "born".into(),
                "must be a real date YYYY-MM-DD or an RFC 3339 date-time".into()
            ),
            ("code".into(), "does not match the required pattern".into()),
            ("extra".into(), "is not a field of the schema".into()),
        ]
    );
}

#[test]
fn data_must_be_an_object() {
    for data in [json!(null), json!([]), json!("x"), json!(1)] {
        let e = schema(true).validate(&data).unwrap_err();
        assert_eq!(e.code, SCHEMA_VALIDATION);
        assert_eq!(
            details(&e),
            vec![("data".into(), "must be an object".into())]
        );
    }
}

#[test]
fn required_fields_absent_or_null_fail_optional_ones_pass() {
    let e = schema(true).validate(&json!({})).unwrap_err();
    let fields: Vec<String> = details(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["fullName", "consentRequired"]);
    let e = schema(true)
        .validate(&json!({"fullName": null, "consentRequired": null}))
        .unwrap_err();
    assert_eq!(details(&e)[0], ("fullName".into(), "is required".into()));
    // Optional fields may be absent or null; null is kept as sent.
    let out = schema(true)
        .validate(
            &json!({"fullName": "A", "consentRequired": true, "age": null,
            "country": null, "born": null, "code": null, "consentOptional": null}),
        )
        .unwrap();
    assert_eq!(out["age"], Value::Null);
}

// ---------------------------------------------------------------- text

#[test]
fn text_rules() {
    assert!(accepts("fullName", json!("A")));
    assert!(accepts("fullName", json!("Abcde")));
    assert_eq!(failing("fullName", json!("")), ["fullName"]);
    assert_eq!(failing("fullName", json!("Abcdef")), ["fullName"]);
    for wrong in [json!(1), json!(true), json!(["A"]), json!({"a": 1})] {
        assert_eq!(failing("fullName", wrong), ["fullName"]);
    }
}

#[test]
fn text_lengths_count_unicode_scalar_values() {
    assert!(accepts("fullName", json!("ééééé")));
    assert!(accepts("fullName", json!("😀😀😀😀😀")));
    assert!(accepts("fullName", json!("é")));
    assert!(accepts("fullName", json!("😀")));
    assert_eq!(failing("fullName", json!("éééééé")), ["fullName"]);
    assert_eq!(failing("fullName", json!("😀😀😀😀😀😀")), ["fullName"]);
}

#[test]
fn regex_must_match_the_whole_value() {
    assert!(accepts("code", json!("abc")));
    for bad in ["abc1", "1abc", "ABC", "", "ab c", "abc\n"] {
        assert_eq!(failing("code", json!(bad)), ["code"], "{bad:?}");
    }
    // Alternations are anchored as a whole.
    let c = compiled(one_field(
        json!({"key": "v", "kind": "text", "regex": "a|ab"}),
    ));
    assert!(c.validate(&json!({"v": "ab"})).is_ok());
    assert!(c.validate(&json!({"v": "abc"})).is_err());
    assert!(c.validate(&json!({"v": "xab"})).is_err());
}

#[test]
fn a_pattern_cannot_escape_its_anchors() {
    let problems = schema_problems(one_field(
        json!({"key": "v", "kind": "text", "regex": "a)|(b"}),
    ));
    assert_eq!(problems[0].0, "fields[0].regex");
}

#[test]
fn empty_regex_means_none() {
    let c = compiled(one_field(json!({"key": "v", "kind": "text", "regex": ""})));
    assert!(c.validate(&json!({"v": "anything"})).is_ok());
}

// ---------------------------------------------------------------- checkbox

#[test]
fn checkbox_rules() {
    assert!(accepts("consentRequired", json!(true)));
    assert_eq!(
        failing("consentRequired", json!(false)),
        ["consentRequired"]
    );
    assert!(accepts("consentOptional", json!(false)));
    assert!(accepts("consentOptional", json!(true)));
    for wrong in [json!("true"), json!(1), json!(0), json!("")] {
        assert_eq!(failing("consentOptional", wrong), ["consentOptional"]);
    }
}

// ---------------------------------------------------------------- select

#[test]
fn select_rules() {
    assert!(accepts("country", json!("DE")));
    for wrong in [
        json!("de"),
        json!(""),
        json!("FR"),
        json!(1),
        json!(["US"]),
        json!(true),
    ] {
        assert_eq!(failing("country", wrong), ["country"]);
    }
}

// ---------------------------------------------------------------- number

#[test]
fn number_rules_and_bounds_inclusive() {
    for ok in [
        json!(0),
        json!(120),
        json!(30.5),
        json!(1e2),
        json!("0"),
        json!("120"),
    ] {
        assert!(accepts("age", ok.clone()), "{ok}");
    }
    for bad in [json!(-1), json!(120.01), json!("121"), json!("-0.5")] {
        assert_eq!(failing("age", bad.clone()), ["age"], "{bad}");
    }
    for wrong in [json!(true), json!([30]), json!({"n": 30})] {
        assert_eq!(failing("age", wrong), ["age"]);
    }
}

#[test]
fn numeric_strings_follow_xs_decimal_and_are_stored_as_numbers() {
    let store = |s: &str| -> Option<Value> {
        let mut data = valid();
        data["age"] = json!(s);
        schema(true).validate(&data).ok().map(|m| m["age"].clone())
    };
    assert_eq!(store("30"), Some(json!(30)));
    assert_eq!(store(" 30 "), Some(json!(30)));
    assert_eq!(store("+30"), Some(json!(30)));
    assert_eq!(store("30.5"), Some(json!(30.5)));
    assert_eq!(store(".5"), Some(json!(0.5)));
    assert_eq!(store("5."), Some(json!(5.0)));
    assert_eq!(store("007"), Some(json!(7)));
    for bad in [
        "",
        " ",
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "0x10",
        "30abc",
        "3 0",
        "1.2.3",
        ".",
        "+",
        "-",
        "١٢",
    ] {
        assert_eq!(store(bad), None, "{bad:?}");
    }
    // A JSON number is kept as sent.
    let mut data = valid();
    data["age"] = json!(30.0);
    assert_eq!(schema(true).validate(&data).unwrap()["age"], json!(30.0));
    // Finite only: a decimal too large for f64 is not a number.
    let c = compiled(one_field(json!({"key": "n", "kind": "number"})));
    assert!(c.validate(&json!({"n": "9".repeat(400)})).is_err());
    assert_eq!(
        c.validate(&json!({"n": "123456789012345678901234567890"}))
            .unwrap()["n"],
        json!(1.2345678901234568e29)
    );
}

// ---------------------------------------------------------------- date

#[test]
fn date_rules() {
    for ok in [
        "2024-02-29",
        "2023-12-31",
        "2024-01-15T10:30:00Z",
        "2024-01-15T10:30:00.123+02:00",
    ] {
        assert!(accepts("born", json!(ok)), "{ok}");
    }
    for bad in [
        "2023-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-1-5",
        "24-01-05",
        "2024/01/05",
        "2024-01-15T25:00:00Z",
        "2023-02-30T00:00:00Z",
        "2024-01-15T10:30:00",
        "yesterday",
        "",
        " 2024-01-05",
    ] {
        assert_eq!(failing("born", json!(bad)), ["born"], "{bad:?}");
    }
    assert_eq!(failing("born", json!(20240105)), ["born"]);
}

// ---------------------------------------------------------------- rejectUnknown

#[test]
fn reject_unknown_on_and_off() {
    let mut data = valid();
    data["nickname"] = json!("Annie");
    data["score"] = json!([1, 2]);
    let e = schema(true).validate(&data).unwrap_err();
    assert_eq!(
        details(&e),
        vec![
            ("nickname".into(), "is not a field of the schema".into()),
            ("score".into(), "is not a field of the schema".into())
        ]
    );
    let out = schema(false).validate(&data).unwrap();
    assert_eq!(Value::Object(out), data);
}

// ---------------------------------------------------------------- schema update rules

fn compiled(input: Value) -> CompiledSchema {
    let (reject_unknown, fields) = validate_schema(&input).unwrap();
    CompiledSchema::new(&UserSchema {
        version: 1,
        reject_unknown,
        fields,
    })
    .unwrap()
}

#[test]
fn schema_keys_must_match_the_pattern() {
    for ok in ["a", "fullName", "A_1", &format!("a{}", "b".repeat(50))] {
        assert!(
            validate_schema(&one_field(json!({"key": ok, "kind": "text"}))).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "",
        "1a",
        "_a",
        "a-b",
        "a b",
        "é",
        &format!("a{}", "b".repeat(51)),
    ] {
        let p = schema_problems(one_field(json!({"key": bad, "kind": "text"})));
        assert_eq!(p[0].0, "fields[0].key", "{bad:?}");
    }
    let p = schema_problems(one_field(json!({"kind": "text"})));
    assert_eq!(p, vec![("fields[0].key".into(), "is required".into())]);
}

#[test]
fn schema_rejects_duplicates_too_many_fields_and_bad_kinds() {
    let p = schema_problems(json!({"fields": [
        {"key": "a", "kind": "text"}, {"key": "b", "kind": "text"}, {"key": "a", "kind": "date"}]}));
    assert_eq!(
        p,
        vec![("fields[2].key".into(), "duplicate key \"a\"".into())]
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"key": format!("f{i}"), "kind": "text"}))
        .collect();
    let p = schema_problems(json!({"fields": many}));
    assert_eq!(
        p,
        vec![("fields".into(), "must have at most 100 fields".into())]
    );
    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"key": format!("f{i}"), "kind": "text"}))
        .collect();
    assert_eq!(
        validate_schema(&json!({"fields": hundred}))
            .unwrap()
            .1
            .len(),
        100
    );
    for kind in [json!("email"), json!(null), json!(1), json!("Text")] {
        let p = schema_problems(one_field(json!({"key": "a", "kind": kind})));
        assert_eq!(p[0].0, "fields[0].kind");
    }
}

#[test]
fn schema_constraint_rules() {
    let cases = [
        (
            json!({"key": "a", "kind": "text", "regex": "("}),
            "fields[0].regex",
        ),
        (
            json!({"key": "a", "kind": "text", "regex": "[z-a]"}),
            "fields[0].regex",
        ),
        (
            json!({"key": "a", "kind": "text", "regex": 5}),
            "fields[0].regex",
        ),
        (
            json!({"key": "a", "kind": "text", "regex": "a".repeat(1001)}),
            "fields[0].regex",
        ),
        (
            json!({"key": "a", "kind": "text", "regex": "\\w{1000}{1000}"}),
            "fields[0].regex",
        ),
        (
            json!({"key": "a", "kind": "number", "min": 5, "max": 4}),
            "fields[0].min",
        ),
        (
            json!({"key": "a", "kind": "number", "min": "1"}),
            "fields[0].min",
        ),
        (
            json!({"key": "a", "kind": "text", "minLength": 5, "maxLength": 4}),
            "fields[0].minLength",
        ),
        (
            json!({"key": "a", "kind": "text", "minLength": -1}),
            "fields[0].minLength",
        ),
        (
            json!({"key": "a", "kind": "text", "maxLength": 1.5}),
            "fields[0].maxLength",
        ),
        (
            json!({"key": "a", "kind": "select", "enum": []}),
            "fields[0].enum",
        ),
        (json!({"key": "a", "kind": "select"}), "fields[0].enum"),
        (
            json!({"key": "a", "kind": "select", "enum": ["x", 1]}),
            "fields[0].enum",
        ),
        (
            json!({"key": "a", "kind": "select", "enum": "x"}),
            "fields[0].enum",
        ),
        (
            json!({"key": "a", "kind": "text", "label": "x".repeat(201)}),
            "fields[0].label",
        ),
        (
            json!({"key": "a", "kind": "text", "label": 3}),
            "fields[0].label",
        ),
        (
            json!({"key": "a", "kind": "text", "required": "yes"}),
            "fields[0].required",
        ),
    ];
    for (field, path) in cases {
        let p = schema_problems(one_field(field.clone()));
        assert_eq!(p.len(), 1, "{field}: {p:?}");
        assert_eq!(p[0].0, path, "{field}");
    }
    // Limits that are fine.
    for field in [
        json!({"key": "a", "kind": "text", "label": "é".repeat(200), "minLength": 3, "maxLength": 3}),
        json!({"key": "a", "kind": "number", "min": 4, "max": 4}),
        json!({"key": "a", "kind": "number", "min": -1.5}),
        json!({"key": "a", "kind": "select", "enum": ["x"]}),
        json!({"key": "a", "kind": "date", "required": true, "label": null}),
    ] {
        assert!(
            validate_schema(&one_field(field.clone())).is_ok(),
            "{field}"
        );
    }
}

#[test]
fn constraints_of_other_kinds_are_ignored_and_dropped() {
    let (_, fields) = validate_schema(&one_field(json!({"key": "a", "kind": "checkbox",
        "enum": [], "min": "x", "regex": "(", "maxLength": 3, "placeholder": "?"})))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&fields[0]).unwrap(),
        json!({"key": "a", "label": "", "kind": "checkbox", "required": false})
    );
}

#[test]
fn schema_body_shape() {
    assert_eq!(
        schema_problems(json!([])),
        vec![("schema".into(), "must be a JSON object".into())]
    );
    assert_eq!(
        schema_problems(json!({"rejectUnknown": "yes", "fields": {}})),
        vec![
            ("rejectUnknown".into(), "must be a boolean".into()),
            ("fields".into(), "must be an array".into())
        ]
    );
    assert_eq!(
        schema_problems(json!({})),
        vec![("fields".into(), "is required".into())]
    );
    assert_eq!(
        schema_problems(json!({"fields": [1]})),
        vec![("fields[0]".into(), "must be an object".into())]
    );
    // rejectUnknown defaults to true; a version sent back is ignored.
    let (reject, fields) = validate_schema(&json!({"version": 9, "fields": []})).unwrap();
    assert!(reject);
    assert!(fields.is_empty());
    assert!(
        !validate_schema(&json!({"rejectUnknown": false, "fields": []}))
            .unwrap()
            .0
    );
}

#[test]
fn schema_lists_every_problem() {
    let p = schema_problems(json!({"fields": [
        {"key": "ok", "kind": "text"},
        {"key": "1bad", "kind": "nope"},
        {"key": "n", "kind": "number", "min": 2, "max": 1},
        {"key": "s", "kind": "select", "enum": []},
        {"key": "t", "kind": "text", "regex": "[", "label": "x".repeat(300)}
    ]}));
    let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "fields[1].key",
            "fields[1].kind",
            "fields[2].min",
            "fields[3].enum",
            "fields[4].label",
            "fields[4].regex"
        ]
    );
}

#[test]
fn compiling_a_bad_stored_pattern_is_an_error_not_a_panic() {
    let mut s = default_schema();
    s.fields[0].regex = Some("(".into());
    let e = CompiledSchema::new(&s).unwrap_err();
    assert_eq!(e.code, INVALID_SCHEMA);
}

// ---------------------------------------------------------------- properties

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "key",
            "label",
            "kind",
            "required",
            "minLength",
            "maxLength",
            "regex",
            "enum",
            "min",
            "max",
            "fields",
            "rejectUnknown",
            "fullName",
            "age",
            "born",
            "a",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_]{0,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "text",
            "checkbox",
            "select",
            "number",
            "date",
            "",
            "30",
            " 1e3",
            "NaN",
            "2024-02-29",
            "[a-z]+",
            "(",
            "a{99999}",
            "\\pL*",
        ])
        .prop_map(|s| json!(s)),
        "\\PC{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A schema body whose fields are objects with field-like members.
fn schema_like() -> impl Strategy<Value = Value> {
    let field = (
        "[a-zA-Z][a-zA-Z0-9_]{0,3}",
        prop::sample::select(vec!["text", "checkbox", "select", "number", "date"]),
        any::<bool>(),
        prop::collection::vec(("[a-zA-Z]{1,9}", arbitrary_json()), 0..4),
    )
        .prop_map(|(key, kind, required, extra)| {
            let mut obj: serde_json::Map<String, Value> = extra.into_iter().collect();
            obj.insert("key".into(), json!(key));
            obj.insert("kind".into(), json!(kind));
            obj.insert("required".into(), json!(required));
            Value::Object(obj)
        });
    (any::<bool>(), prop::collection::vec(field, 0..8))
        .prop_map(|(r, fields)| json!({"rejectUnknown": r, "fields": fields}))
}

fn check(schema_input: &Value, data: &Value) -> Result<(), TestCaseError> {
    match validate_schema(schema_input) {
        Ok((reject_unknown, fields)) => {
            let s = UserSchema {
                version: 1,
                reject_unknown,
                fields,
            };
            // What is stored reads back the same and compiles.
            let back: UserSchema =
                serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
            prop_assert_eq!(&back, &s);
            let c = CompiledSchema::new(&s);
            prop_assert!(c.is_ok());
            if let Ok(c) = c {
                match c.validate(data) {
                    Ok(out) => {
                        // Accepted data is accepted again as stored.
                        prop_assert!(c.validate(&Value::Object(out)).is_ok());
                    }
                    Err(e) => {
                        prop_assert_eq!(e.code.as_ref(), SCHEMA_VALIDATION);
                        prop_assert!(!details(&e).is_empty());
                    }
                }
            }
        }
        Err(e) => {
            prop_assert_eq!(e.code.as_ref(), INVALID_SCHEMA);
            prop_assert!(!details(&e).is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_json(schema_input in arbitrary_json(), data in arbitrary_json()) {
        check(&schema_input, &data)?;
    }

    #[test]
    fn never_panics_on_schema_like_input(schema_input in schema_like(), data in arbitrary_json()) {
        check(&schema_input, &data)?;
    }

    #[test]
    fn default_schema_never_panics(data in arbitrary_json()) {
        let c = CompiledSchema::new(&default_schema()).unwrap();
        let _ = c.validate(&data);
    }
}

/// NUL characters (PostgreSQL stores them in neither text nor `jsonb`) are refused with 400
/// on every backend: in a record's data, keys included, and anywhere in a schema.
#[test]
fn nul_characters_are_refused() {
    assert_eq!(failing("fullName", json!("A\u{0}n")), ["data"]);
    let mut data = valid();
    data["x\u{0}"] = json!(1);
    assert_eq!(
        details(&schema(false).validate(&data).unwrap_err()),
        [(
            "data".to_owned(),
            "must not contain NUL characters".to_owned()
        )]
    );
    let e = validate_schema(&json!({"fields": [
        {"key": "a", "kind": "select", "enum": ["x", "y\u{0}"]}]}))
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::BadRequest, INVALID_SCHEMA)
    );
}
