//! What of a config leaves the server, per audience. None of these views contains a secret
//! value: admin views mask them, public views drop them (and never include
//! `externalSync`).

use super::secrets::without_secrets;
use super::AppConfig;
use serde_json::{json, Map, Value};

impl AppConfig {
    /// `GET /api/apps/:id` (admin): the full document with `artifactId` after `id`,
    /// secrets masked.
    pub fn admin_view(&self, artifact_id: &str) -> Value {
        let mut out = Map::new();
        if let Value::Object(doc) = self.redacted().to_document() {
            for (k, v) in doc {
                let is_id = k == "id";
                out.insert(k, v);
                if is_id {
                    out.insert("artifactId".into(), Value::String(artifact_id.to_owned()));
                }
            }
        }
        Value::Object(out)
    }

    /// One row of `GET /api/apps`: `{id, artifactId, name, version, externalSync,
    /// entitiesCount, description}`; `version`/`description` default to `""`,
    /// `externalSync` (masked) to `{}`.
    pub fn list_item(&self, artifact_id: &str, entities_count: u64) -> Value {
        let external_sync = self
            .redacted()
            .external_sync
            .map_or_else(|| json!({}), |s| s.to_value());
        json!({
            "id": self.id.as_str(),
            "artifactId": artifact_id,
            "name": self.name,
            "version": self.version.as_deref().unwrap_or(""),
            "externalSync": external_sync,
            "entitiesCount": entities_count,
            "description": self.description.as_deref().unwrap_or(""),
        })
    }

    /// The public artifact (`/artifacts/<artifactId>.json`): what a client needs to join the
    /// program — `id, name, description, version, url, entityForms, entityData,
    /// authConfigs` (secret fields removed) and `syncServerUrl`. Never `externalSync`.
    pub fn public_artifact(&self, sync_server_url: &str) -> Value {
        let mut doc = Map::new();
        doc.insert("id".into(), Value::String(self.id.as_str().to_owned()));
        doc.insert("name".into(), Value::String(self.name.clone()));
        doc.insert("description".into(), json!(self.description));
        doc.insert("version".into(), json!(self.version));
        doc.insert("url".into(), json!(self.url));
        doc.insert("entityForms".into(), self.entity_forms_value());
        doc.insert("entityData".into(), self.entity_data_value());
        doc.insert(
            "authConfigs".into(),
            Value::Array(
                self.auth_configs
                    .iter()
                    .map(|a| json!({"type": a.auth_type, "fields": without_secrets(&a.fields)}))
                    .collect(),
            ),
        );
        doc.insert(
            "syncServerUrl".into(),
            Value::String(sync_server_url.to_owned()),
        );
        Value::Object(doc)
    }

    /// `GET /api/apps/:id/public` (no auth): `{name, description, authConfigs: [{type}]}`.
    pub fn public_info(&self) -> Value {
        let auth: Vec<Value> = self
            .auth_configs
            .iter()
            .map(|a| json!({"type": a.auth_type}))
            .collect();
        json!({"name": self.name, "description": self.description, "authConfigs": auth})
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_config, SECRET_MASK};
    use serde_json::json;

    fn config() -> crate::config::AppConfig {
        parse_config(&json!({"id": "p1", "name": "Prog", "version": "1.0",
            "url": "https://example.org",
            "entityForms": [{"name": "household", "formio": {"components": []}}],
            "entityData": [{"name": "region", "data": [{"id": "r1"}]}],
            "externalSync": {"type": "openfn-adapter", "url": "https://openfn",
                "extraFields": [{"name": "apiKey", "value": "fn-key"}]},
            "authConfigs": [{"type": "keycloak", "fields": {"authority": "https://kc/realms/r",
                "client_id": "app", "client_secret": "kc-secret"}}]}))
        .unwrap()
    }

    #[test]
    fn public_artifact_has_only_client_fields_and_no_secret() {
        let a = config().public_artifact("https://sync.example.org");
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "description",
                "version",
                "url",
                "entityForms",
                "entityData",
                "authConfigs",
                "syncServerUrl"
            ]
        );
        assert_eq!(a["syncServerUrl"], "https://sync.example.org");
        assert_eq!(a["description"], json!(null));
        assert_eq!(
            a["authConfigs"],
            json!([{"type": "keycloak", "fields": {"authority": "https://kc/realms/r", "client_id": "app"}}])
        );
        assert_eq!(a["entityForms"][0]["formio"], json!({"components": []}));
        let text = a.to_string();
        assert!(!text.contains("kc-secret"));
        assert!(!text.contains("fn-key"));
        assert!(!text.contains(SECRET_MASK));
        assert!(!text.contains("openfn"));
    }

    #[test]
    fn public_info_is_the_safe_subset() {
        assert_eq!(
            config().public_info(),
            json!({"name": "Prog", "description": null, "authConfigs": [{"type": "keycloak"}]})
        );
    }

    #[test]
    fn list_item_defaults_and_masks() {
        let item = config().list_item("abc", 42);
        assert_eq!(
            item,
            json!({"id": "p1", "artifactId": "abc", "name": "Prog", "version": "1.0",
                "externalSync": {"type": "openfn-adapter", "url": "https://openfn",
                    "extraFields": [{"name": "apiKey", "value": SECRET_MASK}]},
                "entitiesCount": 42, "description": ""})
        );
        let bare = parse_config(&json!({"id": "b", "name": "B", "entityForms": []})).unwrap();
        let item = bare.list_item("x", 0);
        assert_eq!(item["externalSync"], json!({}));
        assert_eq!(item["version"], "");
        assert_eq!(item["description"], "");
    }

    #[test]
    fn admin_view_masks_and_adds_artifact_id() {
        let v = config().admin_view("art");
        let keys: Vec<&str> = v
            .as_object()
            .unwrap()
            .keys()
            .take(3)
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["id", "artifactId", "name"]);
        assert_eq!(v["externalSync"]["extraFields"][0]["value"], SECRET_MASK);
        assert_eq!(v["authConfigs"][0]["fields"]["client_secret"], SECRET_MASK);
        assert_eq!(v["description"], json!(null));
        assert!(!v.to_string().contains("kc-secret"));
    }
}
