//! The CRM records a tenant's staff work with every day. Every function here
//! takes the tenant-scoped handle; a reference to another record is checked
//! to exist in the same tenant (422 naming the field otherwise), and the
//! composite foreign keys back that up.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod leads;
pub mod listing;
pub mod notes;
pub mod pipelines;
pub mod products;
pub mod reports;
pub mod search;
pub mod timeline;
pub mod transfer;

use crate::auth::SessionUser;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{One, Scoped};
use uuid::Uuid;

/// Tables a record may point into (names used in SQL, never from input).
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Users,
    Companies,
    Contacts,
    Leads,
    Deals,
}

impl Table {
    fn exists_sql(self) -> &'static str {
        match self {
            Table::Users => "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2)",
            Table::Companies => {
                "SELECT EXISTS (SELECT 1 FROM companies WHERE tenant_id = $1 AND id = $2)"
            }
            Table::Contacts => {
                "SELECT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $1 AND id = $2)"
            }
            Table::Leads => "SELECT EXISTS (SELECT 1 FROM leads WHERE tenant_id = $1 AND id = $2)",
            Table::Deals => "SELECT EXISTS (SELECT 1 FROM deals WHERE tenant_id = $1 AND id = $2)",
        }
    }
}

/// Checks that `id` names a row of `table` in the caller's tenant; another
/// tenant's row looks exactly like a missing one.
pub async fn check_reference(
    tx: &mut impl Scoped,
    errors: &mut FieldErrors,
    field: &str,
    table: Table,
    id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(id) = id {
        let One(found): One<bool> = tx.query_one(table.exists_sql(), &[&id]).await?;
        if !found {
            errors.add(field, "does not name a record of this company");
        }
    }
    Ok(())
}

/// Admins and managers may delete any record; users only the ones they own.
pub fn ensure_can_delete(user: &SessionUser, owner_id: Option<Uuid>) -> ApiResult<()> {
    match user.role {
        Role::Admin | Role::Manager => Ok(()),
        Role::User if owner_id == Some(user.id.0) => Ok(()),
        Role::User => Err(ApiError::forbidden(
            "users may delete only the records they own",
        )),
    }
}

/// Tags: at most 50, each 1–50 characters, trimmed, without duplicates.
pub fn parse_tags(errors: &mut FieldErrors, tags: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_owned();
        if t.is_empty() || t.chars().count() > 50 {
            errors.add("tags", "each tag must have 1 to 50 characters");
            return None;
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 50 {
        errors.add("tags", "at most 50 tags");
        return None;
    }
    Some(out)
}
