//! The authenticated caller of a use case and the tenant authorization rule (SPEC §5.2).

use crate::error::DomainError;
use crate::ports::{Role, User};
use crate::tenant::TenantId;

/// Who is calling: built from the stored user on every request (never from token claims
/// alone), so deleted or demoted users lose access at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// Email.
    pub email: String,
    /// Current role.
    pub role: Role,
    /// Tenants a `USER` may access.
    pub tenant_ids: Vec<String>,
}

impl Principal {
    /// The principal of a stored user.
    pub fn of(user: &User) -> Self {
        Principal {
            user_id: user.id,
            email: user.email.clone(),
            role: user.role,
            tenant_ids: user.tenant_ids.clone(),
        }
    }

    /// Whether the caller is an `ADMIN`.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins may access every tenant; users only those in their `tenantIds`.
    ///
    /// # Errors
    /// 403 `TENANT_FORBIDDEN` ("Forbidden: No access to this tenant").
    pub fn authorize_tenant(&self, tenant: &TenantId) -> Result<(), DomainError> {
        if self.is_admin() || self.tenant_ids.iter().any(|t| t == tenant.as_str()) {
            Ok(())
        } else {
            Err(DomainError::tenant_forbidden())
        }
    }

    /// Only admins pass.
    ///
    /// # Errors
    /// 403 `ADMIN_REQUIRED` ("Forbidden: Admin access required").
    pub fn require_admin(&self) -> Result<(), DomainError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(DomainError::forbidden(
                "ADMIN_REQUIRED",
                "Forbidden: Admin access required",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, tenants: &[&str]) -> Principal {
        Principal {
            user_id: 1,
            email: "a@b.c".into(),
            role,
            tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn tenant_rule() {
        let t = TenantId::parse("prog").unwrap();
        assert!(principal(Role::Admin, &[]).authorize_tenant(&t).is_ok());
        assert!(principal(Role::User, &["prog"])
            .authorize_tenant(&t)
            .is_ok());
        let err = principal(Role::User, &["other"])
            .authorize_tenant(&t)
            .unwrap_err();
        assert_eq!(err.code, "TENANT_FORBIDDEN");
        assert_eq!(err.message, "Forbidden: No access to this tenant");
        assert!(principal(Role::User, &["prog"]).require_admin().is_err());
    }
}
