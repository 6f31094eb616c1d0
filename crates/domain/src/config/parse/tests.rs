use super::*;
use crate::duplicates::{DuplicateRule, Normalize};
use proptest::prelude::*;
use serde_json::json;

fn minimal() -> Value {
    json!({"id": "my-app", "name": "My App", "entityForms": []})
}

fn full() -> Value {
    json!({
        "id": "my-program",
        "artifactId": "ffffffffffffffffffffffffffffffff",
        "name": "My Program",
        "description": "desc",
        "version": "1.0.0",
        "url": "https://example.org",
        "roles": ["ignored"],
        "syncServerUrl": "https://ignored",
        "entityForms": [
            {"id": "f1", "name": "household", "title": "Household", "dependsOn": "",
             "formio": {"components": [{"key": "name"}]}, "displayTemplate": "{{name}}",
             "roles": ["enumerator"],
             "duplicateRules": [{"fields": ["name", "dob"], "normalize": "exact"},
                                {"fields": ["phone"]}]},
            {"name": "individual", "dependsOn": "household", "duplicateRules": []}
        ],
        "entityData": [{"name": "region", "data": [{"id": "r-001", "name": "Central"}]}],
        "externalSync": {"type": "openspp-adapter", "url": "https://spp", "auth": "basic",
            "extraFields": [{"name": "database", "value": "spp"},
                            {"name": "password", "value": "pw"}],
            "batchSize": 50},
        "authConfigs": [{"type": "keycloak", "fields": {"authority": "https://kc"}}]
    })
}

fn err_of(v: &Value) -> (ErrorKind, String, String) {
    let e = parse_config(v).unwrap_err();
    let path = e.details.as_ref().unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        e.message.contains(&path),
        "message {:?} names path {path}",
        e.message
    );
    (e.kind, e.code.to_string(), path)
}

fn with(patch: impl FnOnce(&mut Value)) -> Value {
    let mut v = full();
    patch(&mut v);
    v
}

#[test]
fn parses_a_minimal_config() {
    let c = parse_config(&minimal()).unwrap();
    assert_eq!(c.id.as_str(), "my-app");
    assert_eq!(c.name, "My App");
    assert_eq!(c.description, None);
    assert!(c.entity_forms.is_empty());
    assert!(c.entity_data.is_empty());
    assert!(c.external_sync.is_none());
    assert!(c.auth_configs.is_empty());
    assert_eq!(
        c.to_document(),
        json!({"id": "my-app", "name": "My App", "description": null, "version": null,
            "url": null, "entityForms": [], "entityData": [], "externalSync": null,
            "authConfigs": []})
    );
}

#[test]
fn parses_everything_and_keeps_form_members_verbatim() {
    let c = parse_config(&full()).unwrap();
    assert_eq!(c.entity_forms.len(), 2);
    let hh = &c.entity_forms[0];
    assert_eq!(hh.name, "household");
    assert_eq!(hh.extra["formio"], json!({"components": [{"key": "name"}]}));
    assert_eq!(hh.extra["roles"], json!(["enumerator"]));
    assert_eq!(hh.extra["id"], "f1");
    assert!(!hh.extra.contains_key("duplicateRules"));
    let doc = c.to_document();
    let obj = doc.as_object().unwrap();
    for dropped in ["artifactId", "roles", "syncServerUrl"] {
        assert!(!obj.contains_key(dropped), "{dropped}");
    }
    assert_eq!(doc["entityForms"][0]["title"], "Household");
    assert_eq!(doc["entityForms"][0]["displayTemplate"], "{{name}}");
    assert_eq!(doc["externalSync"]["batchSize"], 50);
    assert_eq!(doc["externalSync"]["extraFields"][1]["value"], "pw");
    assert_eq!(doc["externalSync"]["auth"], "basic");
    // Round trip through the stored document.
    assert_eq!(AppConfig::from_document(&doc).unwrap(), c);
    assert_eq!(parse_config(&doc).unwrap().to_document(), doc);
}

#[test]
fn duplicate_rules_per_form() {
    let rules = parse_config(&full()).unwrap().duplicate_rules();
    assert_eq!(rules.by_form.len(), 2);
    assert_eq!(
        rules.by_form["household"],
        vec![
            DuplicateRule {
                fields: vec!["name".into(), "dob".into()],
                normalize: Normalize::Exact
            },
            DuplicateRule {
                fields: vec!["phone".into()],
                normalize: Normalize::Casefold
            }
        ]
    );
    assert!(rules.by_form["individual"].is_empty());
    assert!(parse_config(&minimal())
        .unwrap()
        .duplicate_rules()
        .by_form
        .is_empty());
    // The default normalize is written out and read back the same.
    let doc = parse_config(&full()).unwrap().to_document();
    assert_eq!(
        doc["entityForms"][0]["duplicateRules"][1],
        json!({"fields": ["phone"], "normalize": "casefold"})
    );
}

#[test]
fn extra_fields_object_form_is_normalised() {
    let v = with(|v| {
        v["externalSync"]["extraFields"] = json!({"database": "spp", "password": "pw"});
    });
    let c = parse_config(&v).unwrap();
    assert_eq!(
        c.to_document()["externalSync"]["extraFields"],
        json!([{"name": "database", "value": "spp"}, {"name": "password", "value": "pw"}])
    );
    assert_eq!(c, parse_config(&full()).unwrap());
}

#[test]
fn numeric_version_is_kept_as_text() {
    let mut v = minimal();
    v["version"] = json!(2);
    assert_eq!(parse_config(&v).unwrap().version.as_deref(), Some("2"));
}

#[test]
fn bad_ids_are_400_invalid_config_id() {
    for id in [
        json!(null),
        json!(""),
        json!("-x"),
        json!("a b"),
        json!(5),
        json!("x".repeat(65)),
    ] {
        let mut v = minimal();
        v["id"] = id.clone();
        let e = parse_config(&v).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest, "{id}");
        assert_eq!(e.code, INVALID_CONFIG_ID);
        assert_eq!(e.message, crate::tenant::InvalidTenantId.to_string());
        assert_eq!(e.details.unwrap()["path"], "id");
    }
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("id");
    assert_eq!(parse_config(&v).unwrap_err().code, INVALID_CONFIG_ID);
}

#[test]
fn wrong_shapes_are_400_with_path() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([1, 2]), ""),
        (json!("config"), ""),
        (
            with(|v| {
                v.as_object_mut().unwrap().remove("name");
            }),
            "name",
        ),
        (with(|v| v["name"] = json!(3)), "name"),
        (with(|v| v["description"] = json!({})), "description"),
        (with(|v| v["url"] = json!(true)), "url"),
        (with(|v| v["version"] = json!([])), "version"),
        (
            with(|v| {
                v.as_object_mut().unwrap().remove("entityForms");
            }),
            "entityForms",
        ),
        (with(|v| v["entityForms"] = json!({})), "entityForms"),
        (
            with(|v| v["entityForms"][1] = json!("individual")),
            "entityForms[1]",
        ),
        (
            with(|v| v["entityForms"][1]["name"] = json!(null)),
            "entityForms[1].name",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"] = json!({})),
            "entityForms[0].duplicateRules",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][1] = json!(1)),
            "entityForms[0].duplicateRules[1]",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][1]["fields"] = json!("phone")),
            "entityForms[0].duplicateRules[1].fields",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][0]["fields"][1] = json!(7)),
            "entityForms[0].duplicateRules[0].fields[1]",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][0]["normalize"] = json!(true)),
            "entityForms[0].duplicateRules[0].normalize",
        ),
        (with(|v| v["entityData"] = json!({})), "entityData"),
        (with(|v| v["entityData"][0] = json!([])), "entityData[0]"),
        (
            with(|v| v["entityData"][0]["data"] = json!("x")),
            "entityData[0].data",
        ),
        (
            with(|v| v["entityData"][0]["data"][0] = json!("x")),
            "entityData[0].data[0]",
        ),
        (
            with(|v| v["entityData"][0]["data"][0]["id"] = json!({})),
            "entityData[0].data[0].id",
        ),
        (
            with(|v| v["entityData"][0]["data"][0]["parentId"] = json!([1])),
            "entityData[0].data[0].parentId",
        ),
        (
            with(|v| v["externalSync"] = json!("openspp")),
            "externalSync",
        ),
        (
            with(|v| {
                v["externalSync"].as_object_mut().unwrap().remove("type");
            }),
            "externalSync.type",
        ),
        (
            with(|v| v["externalSync"]["url"] = json!(1)),
            "externalSync.url",
        ),
        (
            with(|v| v["externalSync"]["auth"] = json!({"user": "x"})),
            "externalSync.auth",
        ),
        (
            with(|v| v["externalSync"]["extraFields"] = json!("x")),
            "externalSync.extraFields",
        ),
        (
            with(|v| v["externalSync"]["extraFields"][0] = json!(["a"])),
            "externalSync.extraFields[0]",
        ),
        (
            with(|v| v["externalSync"]["extraFields"][1]["name"] = json!(1)),
            "externalSync.extraFields[1].name",
        ),
        (with(|v| v["authConfigs"] = json!({})), "authConfigs"),
        (
            with(|v| v["authConfigs"][0] = json!(null)),
            "authConfigs[0]",
        ),
        (
            with(|v| v["authConfigs"][0]["type"] = json!(1)),
            "authConfigs[0].type",
        ),
        (
            with(|v| v["authConfigs"][0]["fields"] = json!([])),
            "authConfigs[0].fields",
        ),
    ];
    for (v, path) in cases {
        let (kind, code, got) = err_of(&v);
        assert_eq!(
            (kind, code.as_str(), got.as_str()),
            (ErrorKind::BadRequest, INVALID_CONFIG, path)
        );
    }
}

#[test]
fn meaningless_values_are_422_with_path() {
    let cases: Vec<(Value, &str)> = vec![
        (with(|v| v["name"] = json!("  ")), "name"),
        (
            with(|v| v["entityForms"][1]["name"] = json!("")),
            "entityForms[1].name",
        ),
        (
            with(|v| v["entityForms"][1]["name"] = json!("household")),
            "entityForms[1].name",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][1]["fields"] = json!([])),
            "entityForms[0].duplicateRules[1].fields",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][0]["fields"][0] = json!(" ")),
            "entityForms[0].duplicateRules[0].fields[0]",
        ),
        (
            with(|v| v["entityForms"][0]["duplicateRules"][0]["normalize"] = json!("fuzzy")),
            "entityForms[0].duplicateRules[0].normalize",
        ),
        (
            with(|v| v["entityData"][0]["name"] = json!("")),
            "entityData[0].name",
        ),
        (
            with(|v| v["entityData"][0]["data"][0]["id"] = json!("x".repeat(129))),
            "entityData[0].data[0].id",
        ),
        (
            with(|v| {
                v["entityData"][0]["data"][0]["big"] =
                    json!("x".repeat(crate::event::MAX_DATA_BYTES))
            }),
            "entityData[0].data[0]",
        ),
        (
            with(|v| v["externalSync"]["type"] = json!("")),
            "externalSync.type",
        ),
        (
            with(|v| v["externalSync"]["extraFields"][1]["name"] = json!("")),
            "externalSync.extraFields[1].name",
        ),
        (
            with(|v| v["externalSync"]["extraFields"][1]["name"] = json!("database")),
            "externalSync.extraFields[1].name",
        ),
        (
            with(|v| v["authConfigs"][0]["type"] = json!("")),
            "authConfigs[0].type",
        ),
        (
            with(|v| v["authConfigs"][0]["type"] = json!("key cloak")),
            "authConfigs[0].type",
        ),
    ];
    for (v, path) in cases {
        let (kind, code, got) = err_of(&v);
        assert_eq!(
            (kind, code.as_str(), got.as_str()),
            (ErrorKind::Unprocessable, INVALID_CONFIG, path)
        );
    }
}

#[test]
fn optional_members_may_be_null_or_absent() {
    let v = with(|v| {
        v["entityData"] = json!(null);
        v["externalSync"] = json!(null);
        v["authConfigs"] = json!(null);
        v["description"] = json!(null);
        v["entityForms"][0]["duplicateRules"] = json!(null);
        v["entityData"] = json!([{"name": "g"}]);
    });
    let c = parse_config(&v).unwrap();
    assert!(c.external_sync.is_none());
    assert!(c.entity_forms[0].duplicate_rules.is_none());
    assert_eq!(c.entity_data[0].items.len(), 0);
    let mut v = full();
    v["externalSync"]["extraFields"] = json!([{"name": "x"}]);
    let c = parse_config(&v).unwrap();
    assert_eq!(c.external_sync.unwrap().extra_fields[0].value, Value::Null);
}

/// Arbitrary JSON whose object keys are often config member names, so that generated values
/// reach the deeper validation paths.
fn config_like_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "id",
            "name",
            "description",
            "version",
            "url",
            "entityForms",
            "entityData",
            "externalSync",
            "authConfigs",
            "duplicateRules",
            "fields",
            "normalize",
            "data",
            "type",
            "extraFields",
            "value",
            "parentId",
            "auth",
            "password",
            "client_secret",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "casefold",
            "exact",
            "",
            " ",
            "my-app",
            "********",
            "household"
        ])
        .prop_map(|s| json!(s)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid config skeleton with one member replaced by arbitrary JSON.
fn mutated_config() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "/name",
            "/entityForms",
            "/entityForms/0",
            "/entityForms/0/duplicateRules",
            "/entityForms/0/duplicateRules/0",
            "/entityForms/0/duplicateRules/0/fields",
            "/entityData",
            "/entityData/0",
            "/entityData/0/data",
            "/entityData/0/data/0",
            "/externalSync",
            "/externalSync/extraFields",
            "/externalSync/extraFields/1",
            "/authConfigs",
            "/authConfigs/0",
            "/authConfigs/0/fields",
        ]),
        config_like_json(),
    )
        .prop_map(|(pointer, replacement)| {
            let mut v = full();
            if let Some(slot) = v.pointer_mut(pointer) {
                *slot = replacement;
            }
            v
        })
}

fn check_never_panics(v: &Value) -> Result<(), TestCaseError> {
    match parse_config(v) {
        Ok(c) => {
            let doc = c.to_document();
            prop_assert_eq!(&parse_config(&doc).unwrap(), &c);
            let redacted = c.redacted();
            prop_assert!(crate::config::merge_secrets(redacted, Some(&c)).is_ok());
            let public = c.public_artifact("https://x");
            prop_assert!(public.get("externalSync").is_none());
            let _ = (c.public_info(), c.list_item("a", 1), c.admin_view("a"));
            let _ = c.duplicate_rules();
            for e in c.seed_events(crate::time::Timestamp::EPOCH) {
                let back = crate::event::validate_event(&serde_json::to_value(&e).unwrap());
                prop_assert!(back.is_ok(), "seed event invalid: {:?}", back);
            }
        }
        Err(e) => {
            prop_assert!(matches!(
                e.kind,
                ErrorKind::BadRequest | ErrorKind::Unprocessable
            ));
            prop_assert!(e.details.is_some());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_json(v in config_like_json()) {
        check_never_panics(&v)?;
    }

    #[test]
    fn never_panics_on_mutated_configs(v in mutated_config()) {
        check_never_panics(&v)?;
    }
}

/// A NUL character anywhere in a config (PostgreSQL cannot store it) is a 400 on every
/// backend.
#[test]
fn nul_characters_are_refused() {
    let mut c = minimal();
    c["name"] = json!("My\u{0}App");
    let e = parse_config(&c).unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::BadRequest, INVALID_CONFIG)
    );
}
