//! Roles: what a tenant's users may do with its records
//! ([`crate::auth::access`]). Every user has a built-in role (admin,
//! manager or user), which also decides their administrative rights, and
//! may have a custom role that replaces its record permissions. Admins
//! always have full access; an admin may tighten or widen the manager and
//! user roles and define custom ones.

use crate::audit::{self, Event};
use crate::auth::{Permissions, RecordType, Scope, TenantAdmin};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{DbResult, FromRow, One, Row, Scoped};
use crate::teams::{ensure_name_free, unique_as};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters a role's name takes.
pub const NAME_MAX: usize = 100;

/// The ids of the built-in roles, the same in every tenant.
pub const ADMIN_ID: Uuid = Uuid::from_u128(1);
pub const MANAGER_ID: Uuid = Uuid::from_u128(2);
pub const USER_ID: Uuid = Uuid::from_u128(3);

pub fn builtin_id(role: Role) -> Uuid {
    match role {
        Role::Admin => ADMIN_ID,
        Role::Manager => MANAGER_ID,
        Role::User => USER_ID,
    }
}

/// The built-in role an id names, if it names one.
pub fn builtin_of(id: Uuid) -> Option<Role> {
    Role::ALL.iter().copied().find(|r| builtin_id(*r) == id)
}

/// The default permissions of a built-in role.
fn defaults(role: Role) -> Permissions {
    match role {
        Role::Admin | Role::Manager => Permissions::full(),
        Role::User => Permissions::user(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    pub id: Uuid,
    pub name: String,
    /// `admin`, `manager` or `user` for the built-in roles; `null` for a
    /// custom one.
    pub builtin: Option<Role>,
    pub permissions: Permissions,
    /// The users who have it.
    pub users: i64,
    /// `false` for the admin role, which always has full access.
    pub editable: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

struct RoleRow {
    id: Uuid,
    name: String,
    builtin: Option<Role>,
    permissions: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromRow for RoleRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(RoleRow {
            id: r.get("id")?,
            name: r.get("name")?,
            builtin: r.get("builtin")?,
            permissions: r.get("permissions")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

struct Count(Option<Uuid>, Role, i64);

impl FromRow for Count {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Count(r.get("role_id")?, r.get("role")?, r.get("n")?))
    }
}

const ROLE_COLUMNS: &str =
    "id, name, builtin, CAST(permissions AS TEXT) AS permissions, created_at, updated_at";

fn view(row: Option<RoleRow>, role: Option<Role>, id: Uuid, users: i64) -> RoleView {
    let stored = row
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.permissions).ok());
    let builtin = role.or(row.as_ref().and_then(|r| r.builtin));
    let permissions = match builtin {
        Some(Role::Admin) => Permissions::full(),
        Some(b) => stored.unwrap_or_else(|| defaults(b)),
        None => stored.unwrap_or_else(Permissions::user),
    };
    RoleView {
        id,
        name: match (builtin, &row) {
            (Some(b), _) => b.as_str().to_owned(),
            (None, Some(r)) => r.name.clone(),
            (None, None) => String::new(),
        },
        builtin,
        permissions,
        users,
        editable: builtin != Some(Role::Admin),
        created_at: row.as_ref().map(|r| r.created_at),
        updated_at: row.as_ref().map(|r| r.updated_at),
    }
}

/// Every role of the tenant: the three built-in ones first, then the
/// custom ones by name.
pub async fn list(tx: &mut impl Scoped) -> ApiResult<Vec<RoleView>> {
    let rows: Vec<RoleRow> = tx
        .query(
            &format!(
                "SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 ORDER BY lower(name), id"
            ),
            &[],
        )
        .await?;
    let counts: Vec<Count> = tx
        .query(
            "SELECT role_id, role, count(*) AS n FROM users WHERE tenant_id = $1 GROUP BY role_id, role",
            &[],
        )
        .await?;
    let users_of = |id: Uuid, builtin: Option<Role>| -> i64 {
        counts
            .iter()
            .filter(|Count(rid, role, _)| match builtin {
                // Admins are admins whatever custom role they carry.
                Some(Role::Admin) => *role == Role::Admin,
                Some(b) => *role == b && rid.is_none(),
                None => *rid == Some(id) && *role != Role::Admin,
            })
            .map(|Count(_, _, n)| n)
            .sum()
    };
    let mut out = Vec::new();
    let mut rows: Vec<Option<RoleRow>> = rows.into_iter().map(Some).collect();
    for b in [Role::Admin, Role::Manager, Role::User] {
        let stored = rows
            .iter_mut()
            .find(|r| r.as_ref().is_some_and(|r| r.builtin == Some(b)))
            .and_then(Option::take);
        out.push(view(
            stored,
            Some(b),
            builtin_id(b),
            users_of(builtin_id(b), Some(b)),
        ));
    }
    for row in rows.into_iter().flatten() {
        let id = row.id;
        out.push(view(Some(row), None, id, users_of(id, None)));
    }
    Ok(out)
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<RoleView> {
    list(tx)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(ApiError::not_found)
}

/// 422 on `role_id` unless `id` names a custom role of the tenant.
pub async fn ensure_custom(tx: &mut impl Scoped, id: Uuid) -> ApiResult<()> {
    let One(found): One<bool> = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM roles WHERE tenant_id = $1 AND id = $2 AND builtin IS NULL)",
            &[&id],
        )
        .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::field(
            "role_id",
            "must name a custom role of this company (the built-in ones are set with `role`)",
        ))
    }
}

/// What one record type's permissions change to; absent fields stay.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeChange {
    pub read: Option<Scope>,
    pub edit: Option<Scope>,
    pub delete: Option<bool>,
    pub import: Option<bool>,
    pub export: Option<bool>,
    pub bulk: Option<bool>,
}

/// Changes to a role's permissions, per record type; absent types stay.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsChange {
    pub companies: Option<TypeChange>,
    pub contacts: Option<TypeChange>,
    pub leads: Option<TypeChange>,
    pub deals: Option<TypeChange>,
    pub activities: Option<TypeChange>,
    pub notes: Option<TypeChange>,
}

impl PermissionsChange {
    fn of(&self, t: RecordType) -> Option<&TypeChange> {
        match t {
            RecordType::Companies => self.companies.as_ref(),
            RecordType::Contacts => self.contacts.as_ref(),
            RecordType::Leads => self.leads.as_ref(),
            RecordType::Deals => self.deals.as_ref(),
            RecordType::Activities => self.activities.as_ref(),
            RecordType::Notes => self.notes.as_ref(),
        }
    }

    /// `base` with these changes, or the fields that break the rules.
    fn apply(&self, mut base: Permissions) -> ApiResult<Permissions> {
        for t in RecordType::ALL {
            if let Some(c) = self.of(t) {
                let p = base.of_mut(t);
                p.read = c.read.unwrap_or(p.read);
                p.edit = c.edit.unwrap_or(p.edit);
                p.delete = c.delete.unwrap_or(p.delete);
                p.import = c.import.unwrap_or(p.import);
                p.export = c.export.unwrap_or(p.export);
                p.bulk = c.bulk.unwrap_or(p.bulk);
            }
        }
        let mut e = FieldErrors::default();
        for (field, message) in base.problems() {
            e.add(&field, message);
        }
        e.finish()?;
        Ok(base)
    }
}

/// `POST /api/roles`: a custom role, starting from the user role's
/// defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    pub permissions: Option<PermissionsChange>,
}

fn name_taken() -> ApiError {
    ApiError::conflict("a role of that name exists")
}

/// A custom role's name: 1–100 characters.
fn check_name(e: &mut FieldErrors, name: Option<String>) -> Option<String> {
    e.text("name", name, NAME_MAX)
}

/// 409 when `name` is free among the custom roles but is a built-in
/// role's (admin, manager, user: taken in every company), or is taken.
async fn ensure_free(tx: &mut impl Scoped, name: &str, except: Uuid) -> ApiResult<()> {
    if [Role::Admin, Role::Manager, Role::User]
        .iter()
        .any(|b| b.as_str().eq_ignore_ascii_case(name.trim()))
    {
        return Err(ApiError::conflict("that is the name of a built-in role"));
    }
    ensure_name_free(tx, "roles", name, except, name_taken).await
}

pub async fn create(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    input: RoleInput,
    now: DateTime<Utc>,
) -> ApiResult<RoleView> {
    let mut e = FieldErrors::default();
    let name = e.required("name", input.name);
    let name = check_name(&mut e, name);
    e.finish()?;
    let name = name.ok_or_else(|| ApiError::field("name", "is required"))?;
    let permissions = input
        .permissions
        .unwrap_or_default()
        .apply(Permissions::user())?;
    let id = Uuid::now_v7();
    ensure_free(tx, &name, id).await?;
    tx.execute(
        "INSERT INTO roles (tenant_id, id, name, builtin, permissions, created_at, updated_at)
         VALUES ($1, $2, $3, NULL, $4, $5, $5)",
        &[&id, &name, &serde_json::json!(permissions), &now],
    )
    .await
    .map_err(unique_as(name_taken))?;
    let role = get(tx, id).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("role.created").target("role", id).after(&role),
        now,
    )
    .await?;
    Ok(role)
}

pub async fn update(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    input: RoleInput,
    now: DateTime<Utc>,
) -> ApiResult<RoleView> {
    let before = get(tx, id).await?;
    if before.builtin == Some(Role::Admin) {
        return Err(ApiError::conflict("the admin role always has full access"));
    }
    let mut e = FieldErrors::default();
    let name = match (before.builtin, input.name) {
        (Some(_), Some(_)) => {
            e.add("name", "built-in roles keep their name");
            None
        }
        (_, name) => name.and_then(|n| check_name(&mut e, Some(n))),
    };
    e.finish()?;
    let permissions = input
        .permissions
        .unwrap_or_default()
        .apply(before.permissions)?;
    if let Some(name) = &name {
        ensure_free(tx, name, id).await?;
    }
    let perms = serde_json::json!(permissions);
    match before.builtin {
        // A built-in role's row is made the first time it changes.
        Some(b) => {
            tx.execute(
                "DELETE FROM roles WHERE tenant_id = $1 AND builtin = $2",
                &[&b.as_str()],
            )
            .await?;
            let created = before.created_at.unwrap_or(now);
            tx.execute(
                "INSERT INTO roles (tenant_id, id, name, builtin, permissions, created_at, updated_at)
                 VALUES ($1, $2, $3, $3, $4, $5, $6)",
                &[&id, &b.as_str(), &perms, &created, &now],
            )
            .await?;
        }
        None => {
            tx.execute(
                "UPDATE roles SET name = COALESCE($3, name), permissions = $4, updated_at = $5
                  WHERE tenant_id = $1 AND id = $2",
                &[&id, &name, &perms, &now],
            )
            .await
            .map_err(unique_as(name_taken))?;
        }
    }
    let after = get(tx, id).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("role.updated")
            .target("role", id)
            .change(&before, &after),
        now,
    )
    .await?;
    Ok(after)
}

pub async fn delete(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let before = get(tx, id).await?;
    if before.builtin.is_some() {
        return Err(ApiError::conflict("built-in roles cannot be deleted"));
    }
    let One(users): One<i64> = tx
        .query_one(
            "SELECT count(*) FROM users WHERE tenant_id = $1 AND role_id = $2",
            &[&id],
        )
        .await?;
    if users > 0 {
        return Err(ApiError::conflict(format!(
            "{users} user(s) have this role; give them another one first"
        )));
    }
    tx.execute("DELETE FROM roles WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("role.deleted")
            .target("role", id)
            .change(&before, serde_json::Value::Null),
        now,
    )
    .await?;
    Ok(())
}
