//! The tenant of a tenant-scoped request: `configId` parsing, the access check and the config
//! lookup, in the order that does not reveal which tenants exist.

use crate::error::DomainError;
use crate::ports::{ConfigRecord, ConfigStore};
use crate::principal::Principal;
use crate::tenant::TenantId;
use serde_json::Value;

/// The `configId` of a JSON body: `None` when absent or `null` (the legacy clients' way of
/// meaning the `default` tenant), the text when it is a string.
///
/// # Errors
/// 400 `INVALID_CONFIG_ID` when `configId` is present with another JSON type (a number must
/// not silently address the `default` tenant).
pub fn body_config_id(body: &Value) -> Result<Option<&str>, DomainError> {
    match body.get("configId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(DomainError::bad_request(
            "INVALID_CONFIG_ID",
            "configId must be a string",
        )),
    }
}

/// Resolves the tenant of a tenant-scoped request: parses `configId` (absent or empty →
/// `default`), checks the caller's access first (so existence is not revealed), then loads
/// the config.
///
/// # Errors
/// 400 `INVALID_CONFIG_ID`; 403 `TENANT_FORBIDDEN`; 404 `CONFIG_NOT_FOUND`; storage errors.
pub async fn tenant_of(
    configs: &dyn ConfigStore,
    who: &Principal,
    config_id: Option<&str>,
) -> Result<(TenantId, ConfigRecord), DomainError> {
    let tenant = TenantId::parse_or_default(config_id)
        .map_err(|e| DomainError::bad_request("INVALID_CONFIG_ID", e.to_string()))?;
    who.authorize_tenant(&tenant)?;
    let record = configs
        .get_config(&tenant)
        .await?
        .ok_or_else(DomainError::tenant_not_found)?;
    Ok((tenant, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::ports::{MockConfigStore, Role};
    use crate::time::Timestamp;
    use serde_json::json;

    fn who(role: Role, tenants: &[&str]) -> Principal {
        Principal {
            user_id: 3,
            email: "u@x.org".into(),
            role,
            tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn body_config_id_accepts_strings_and_absence_only() {
        assert_eq!(body_config_id(&json!({})).unwrap(), None);
        assert_eq!(body_config_id(&json!({"configId": null})).unwrap(), None);
        assert_eq!(
            body_config_id(&json!({"configId": "prog"})).unwrap(),
            Some("prog")
        );
        for bad in [json!({"configId": 1}), json!({"configId": ["prog"]})] {
            let err = body_config_id(&bad).unwrap_err();
            assert_eq!(
                (err.kind, err.code.as_ref()),
                (ErrorKind::BadRequest, "INVALID_CONFIG_ID")
            );
        }
    }

    #[tokio::test]
    async fn forbidden_is_decided_before_the_store_is_asked() {
        // No expectation: a lookup would panic the mock.
        let store = MockConfigStore::new();
        let err = tenant_of(&store, &who(Role::User, &["a"]), Some("b"))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_ref()),
            (ErrorKind::Forbidden, "TENANT_FORBIDDEN")
        );
        let err = tenant_of(&store, &who(Role::User, &["a"]), Some("-bad"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "INVALID_CONFIG_ID");
    }

    #[tokio::test]
    async fn absent_id_means_default_and_unknown_is_404() {
        let mut store = MockConfigStore::new();
        store.expect_get_config().returning(|t| {
            Ok((t.as_str() == TenantId::DEFAULT).then(|| ConfigRecord {
                id: t.clone(),
                artifact_id: "x".into(),
                document: json!({}),
                archived_at: None,
                created_at: Timestamp::EPOCH,
                updated_at: Timestamp::EPOCH,
            }))
        });
        let (tenant, _) = tenant_of(&store, &who(Role::User, &["default"]), Some(""))
            .await
            .unwrap();
        assert_eq!(tenant.as_str(), "default");
        let err = tenant_of(&store, &who(Role::Admin, &[]), Some("gone"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }
}
