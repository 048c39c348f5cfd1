//! RecordAccess inside a tenant: which records a user may read and change.
//!
//! Every role (the built-in admin, manager and user, and the custom roles an
//! admin defines) says per record type how far a user reads and edits —
//! their own records, their teams' or all — and whether they may delete,
//! import, export and change in bulk. Admins always have full access, so an
//! admin cannot lock the tenant out of its own data.
//!
//! A request's [`RecordAccess`] is read with the session (one join in the same
//! first statement). Reads are filtered in SQL ([`RecordAccess::read_clause`]),
//! so pages, counts and cursors see only what the caller may read; a single
//! record outside the read scope answers 404, exactly like another
//! tenant's. Edits outside the edit scope answer 403: the caller can see
//! the record, so hiding it would only confuse.
//!
//! "Own" means the record's owner (for activities also the assignee);
//! "team" adds the records owned by anyone who shares a team with the
//! caller.

use crate::domain::UserId;
use crate::error::{ApiError, ApiResult};
use crate::store::{One, Scoped};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Records the user owns (or, activities, is assigned).
    Own,
    /// Also the records of everyone who shares a team with the user.
    Team,
    /// Every record of the tenant.
    All,
}

/// The record types access is decided for. Notes and activities are also
/// hidden when a record they belong to is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Companies,
    Contacts,
    Leads,
    Deals,
    Activities,
    Notes,
}

impl RecordType {
    pub const ALL: [RecordType; 6] = [
        RecordType::Companies,
        RecordType::Contacts,
        RecordType::Leads,
        RecordType::Deals,
        RecordType::Activities,
        RecordType::Notes,
    ];

    /// The name in the API (`contacts`) and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Companies => "companies",
            RecordType::Contacts => "contacts",
            RecordType::Leads => "leads",
            RecordType::Deals => "deals",
            RecordType::Activities => "activities",
            RecordType::Notes => "notes",
        }
    }

    /// The columns naming the users a record is "own" to.
    fn owner_columns(self) -> &'static [&'static str] {
        match self {
            RecordType::Activities => &["owner_id", "assigned_to"],
            _ => &["owner_id"],
        }
    }

    /// The table (SQL names, never from input).
    fn table(self) -> &'static str {
        self.as_str()
    }
}

/// What a role may do with one record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypePermissions {
    pub read: Scope,
    /// At most as wide as `read`.
    pub edit: Scope,
    /// Delete the records it may edit.
    pub delete: bool,
    pub import: bool,
    pub export: bool,
    /// Change many records at once (an import that updates existing
    /// records).
    pub bulk: bool,
}

impl TypePermissions {
    const FULL: TypePermissions = TypePermissions {
        read: Scope::All,
        edit: Scope::All,
        delete: true,
        import: true,
        export: true,
        bulk: true,
    };

    /// A plain user's default: read everything, change their own.
    const USER: TypePermissions = TypePermissions {
        read: Scope::All,
        edit: Scope::Own,
        delete: true,
        import: false,
        export: false,
        bulk: false,
    };
}

/// A role's permissions, per record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    #[serde(default = "user_default")]
    pub companies: TypePermissions,
    #[serde(default = "user_default")]
    pub contacts: TypePermissions,
    #[serde(default = "user_default")]
    pub leads: TypePermissions,
    #[serde(default = "user_default")]
    pub deals: TypePermissions,
    #[serde(default = "user_default")]
    pub activities: TypePermissions,
    #[serde(default = "user_default")]
    pub notes: TypePermissions,
}

fn user_default() -> TypePermissions {
    TypePermissions::USER
}

impl Permissions {
    fn uniform(p: TypePermissions) -> Permissions {
        Permissions {
            companies: p,
            contacts: p,
            leads: p,
            deals: p,
            activities: p,
            notes: p,
        }
    }

    /// Everything: the admin role (fixed) and the manager's default.
    pub fn full() -> Permissions {
        Self::uniform(TypePermissions::FULL)
    }

    /// The built-in user role's default.
    pub fn user() -> Permissions {
        Self::uniform(TypePermissions::USER)
    }

    pub fn of(&self, t: RecordType) -> &TypePermissions {
        match t {
            RecordType::Companies => &self.companies,
            RecordType::Contacts => &self.contacts,
            RecordType::Leads => &self.leads,
            RecordType::Deals => &self.deals,
            RecordType::Activities => &self.activities,
            RecordType::Notes => &self.notes,
        }
    }

    pub fn of_mut(&mut self, t: RecordType) -> &mut TypePermissions {
        match t {
            RecordType::Companies => &mut self.companies,
            RecordType::Contacts => &mut self.contacts,
            RecordType::Leads => &mut self.leads,
            RecordType::Deals => &mut self.deals,
            RecordType::Activities => &mut self.activities,
            RecordType::Notes => &mut self.notes,
        }
    }

    /// The rule every role keeps: nobody edits what they cannot read.
    pub fn problems(&self) -> Vec<(String, String)> {
        RecordType::ALL
            .iter()
            .filter(|t| self.of(**t).edit > self.of(**t).read)
            .map(|t| {
                (
                    format!("permissions.{}.edit", t.as_str()),
                    "cannot reach further than read".to_owned(),
                )
            })
            .collect()
    }
}

/// What the caller of a request may do with records.
#[derive(Debug, Clone)]
pub struct RecordAccess {
    me: Uuid,
    permissions: Permissions,
}

/// A record's users for the "own" and "team" checks: its owner and, for
/// activities, its assignee.
pub trait Owned {
    fn owners(&self) -> [Option<Uuid>; 2];
}

impl RecordAccess {
    pub fn new(me: UserId, permissions: Permissions) -> RecordAccess {
        RecordAccess {
            me: me.0,
            permissions,
        }
    }

    pub fn me(&self) -> UserId {
        UserId(self.me)
    }

    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// A condition on the table aliased `alias` (of type `t`) that keeps the
    /// rows the caller may read, with `{}` standing for the placeholder of
    /// the caller's id; `None` when they read every row. The condition
    /// constrains each table it reads to the tenant (`$1`).
    pub fn read_clause(&self, t: RecordType, alias: &str) -> Option<String> {
        scope_clause(self.permissions.of(t).read, t, alias)
    }

    /// The same, for the table aliased `alias` and the records its
    /// `links` (column, type) point at: a row is readable only if every
    /// record it belongs to is too. For notes and activities.
    pub fn read_clause_linked(
        &self,
        t: RecordType,
        alias: &str,
        links: &[(&str, RecordType)],
    ) -> Option<String> {
        let mut parts: Vec<String> = self.read_clause(t, alias).into_iter().collect();
        for (column, linked) in links {
            if let Some(inner) = self.read_clause(*linked, "lk") {
                parts.push(format!(
                    "({alias}.{column} IS NULL OR {alias}.{column} IN (SELECT lk.id FROM {} lk WHERE lk.tenant_id = $1 AND {inner}))",
                    linked.table()
                ));
            }
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// 404 unless the caller may read `record` (of type `t`): a record out
    /// of reach looks exactly like a missing one.
    pub async fn ensure_read(
        &self,
        tx: &mut impl Scoped,
        t: RecordType,
        record: &impl Owned,
    ) -> ApiResult<()> {
        if self
            .reaches(tx, self.permissions.of(t).read, record)
            .await?
        {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }

    /// 403 unless the caller may edit `record` (which they can read).
    pub async fn ensure_edit(
        &self,
        tx: &mut impl Scoped,
        t: RecordType,
        record: &impl Owned,
    ) -> ApiResult<()> {
        let scope = self.permissions.of(t).edit;
        if self.reaches(tx, scope, record).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role lets you change only {} {}",
                scope_words(scope),
                t.as_str()
            )))
        }
    }

    /// 403 unless the caller may delete `record`: it is within their edit
    /// scope and their role may delete.
    pub async fn ensure_delete(
        &self,
        tx: &mut impl Scoped,
        t: RecordType,
        record: &impl Owned,
    ) -> ApiResult<()> {
        if !self.permissions.of(t).delete {
            return Err(ApiError::forbidden(format!(
                "your role may not delete {}",
                t.as_str()
            )));
        }
        self.ensure_edit(tx, t, record).await
    }

    /// 403 unless the role may import records of `t`.
    pub fn ensure_import(&self, t: RecordType) -> ApiResult<()> {
        self.flag(t, self.permissions.of(t).import, "import")
    }

    /// 403 unless the role may export records of `t`.
    pub fn ensure_export(&self, t: RecordType) -> ApiResult<()> {
        self.flag(t, self.permissions.of(t).export, "export")
    }

    /// 403 unless the role may change records of `t` in bulk, and reaches
    /// all of them.
    pub fn ensure_bulk(&self, t: RecordType) -> ApiResult<()> {
        let p = self.permissions.of(t);
        self.flag(t, p.bulk && p.edit == Scope::All, "change in bulk")
    }

    fn flag(&self, t: RecordType, allowed: bool, what: &str) -> ApiResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role may not {what} {}",
                t.as_str()
            )))
        }
    }

    /// Does `scope` reach `record`?
    async fn reaches(
        &self,
        tx: &mut impl Scoped,
        scope: Scope,
        record: &impl Owned,
    ) -> ApiResult<bool> {
        let owners = record.owners();
        Ok(match scope {
            Scope::All => true,
            _ if owners.contains(&Some(self.me)) => true,
            Scope::Own => false,
            Scope::Team if owners.iter().all(Option::is_none) => false,
            Scope::Team => {
                let One(shared): One<bool> = tx
                    .query_one(SHARE_A_TEAM, &[&self.me, &owners[0], &owners[1]])
                    .await?;
                shared
            }
        })
    }
}

/// Does user $2 share a team with user $3 or $4 (either may be null)?
const SHARE_A_TEAM: &str = "SELECT EXISTS (SELECT 1 FROM team_members tm1
      JOIN team_members tm2 ON tm2.tenant_id = $1 AND tm2.team_id = tm1.team_id
     WHERE tm1.tenant_id = $1 AND tm1.user_id = $2 AND (tm2.user_id = $3 OR tm2.user_id = $4))";

fn scope_words(scope: Scope) -> &'static str {
    match scope {
        Scope::Own => "their own",
        Scope::Team => "their teams'",
        Scope::All => "all",
    }
}

/// The condition of `scope` on `alias` (see [`RecordAccess::read_clause`]).
fn scope_clause(scope: Scope, t: RecordType, alias: &str) -> Option<String> {
    let columns = t.owner_columns();
    match scope {
        Scope::All => None,
        Scope::Own => Some(format!(
            "({})",
            columns
                .iter()
                .map(|c| format!("{alias}.{c} = {{}}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        )),
        Scope::Team => Some(format!(
            "({})",
            columns
                .iter()
                .map(|c| format!(
                    "{alias}.{c} = {{}} OR {alias}.{c} IN (SELECT tm2.user_id FROM team_members tm1
                       JOIN team_members tm2 ON tm2.tenant_id = $1 AND tm2.team_id = tm1.team_id
                      WHERE tm1.tenant_id = $1 AND tm1.user_id = {{}})"
                ))
                .collect::<Vec<_>>()
                .join(" OR ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_pass_the_tenant_scope_check() {
        for scope in [Scope::Own, Scope::Team] {
            for t in RecordType::ALL {
                let mut p = Permissions::full();
                p.of_mut(t).read = scope;
                let a = RecordAccess::new(UserId(Uuid::nil()), p);
                let clause = a.read_clause(t, "x").expect("a clause").replace("{}", "$2");
                let sql = format!(
                    "SELECT x.id FROM {} x WHERE x.tenant_id = $1 AND {clause}",
                    t.table()
                );
                crate::store::scope::check(&sql).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let mut p = Permissions::full();
        p.contacts.read = Scope::Team;
        let a = RecordAccess::new(UserId(Uuid::nil()), p);
        let clause = a
            .read_clause_linked(
                RecordType::Notes,
                "n",
                &[("contact_id", RecordType::Contacts)],
            )
            .expect("a clause")
            .replace("{}", "$2");
        let sql = format!("SELECT n.id FROM notes n WHERE n.tenant_id = $1 AND {clause}");
        crate::store::scope::check(&sql).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn stored_permissions_fill_missing_types_with_the_user_default() {
        let p: Permissions =
            serde_json::from_str(r#"{"contacts": {"read": "own", "edit": "own", "delete": false, "import": false, "export": false, "bulk": false}}"#)
                .unwrap();
        assert_eq!(p.contacts.read, Scope::Own);
        assert_eq!(p.deals, TypePermissions::USER);
        let mut wide = Permissions::user();
        wide.leads.read = Scope::Own;
        wide.leads.edit = Scope::All;
        assert_eq!(wide.problems().len(), 1);
    }
}
