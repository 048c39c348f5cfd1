//! Authorization as types. A service that needs an admin or a manager takes
//! a proof value, and only a role check makes one, so a caller that forgot
//! the check does not compile.

use super::SessionUser;
use crate::audit::Actor;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};

/// Proof that the caller is one of the tenant's admins.
pub struct TenantAdmin<'a>(&'a SessionUser);

/// Proof that the caller is an admin or a manager.
pub struct Manager<'a>(&'a SessionUser);

impl SessionUser {
    /// The caller as an admin, or 403 `forbidden`.
    pub fn admin(&self) -> ApiResult<TenantAdmin<'_>> {
        match self.role {
            Role::Admin => Ok(TenantAdmin(self)),
            _ => Err(ApiError::forbidden("this needs the admin role")),
        }
    }

    /// The caller as an admin or manager, or 403 `forbidden` saying what
    /// they tried (`what`: "change pipelines").
    pub fn manager(&self, what: &str) -> ApiResult<Manager<'_>> {
        match self.role {
            Role::Admin | Role::Manager => Ok(Manager(self)),
            Role::User => Err(ApiError::forbidden(format!(
                "only admins and managers {what}"
            ))),
        }
    }
}

impl TenantAdmin<'_> {
    pub fn user(&self) -> &SessionUser {
        self.0
    }

    /// The admin as the actor of an audited change.
    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}

impl Manager<'_> {
    pub fn user(&self) -> &SessionUser {
        self.0
    }

    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}
