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
use crate::store::{Bind, Dialect, IdList, One, Scoped};
use std::collections::HashSet;
use uuid::Uuid;

/// A batch of checked changes after their references were checked: all
/// valid, or each one back with its errors (empty for the good ones).
pub type Validated<C, V> = Result<Vec<V>, Vec<(C, FieldErrors)>>;

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
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Companies => "companies",
            Table::Contacts => "contacts",
            Table::Leads => "leads",
            Table::Deals => "deals",
        }
    }

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
            errors.add(field, NOT_IN_TENANT);
        }
    }
    Ok(())
}

/// What a reference to a missing record (or another tenant's) is told.
const NOT_IN_TENANT: &str = "does not name a record of this company";

/// [`check_reference`] for many records at once, in one query: `refs` holds
/// each record's id in `table` (if it names one), `errors` each record's
/// errors, where a reference that names no row of the caller's tenant is
/// added under `field`.
pub async fn check_references(
    tx: &mut impl Scoped,
    errors: &mut [FieldErrors],
    field: &str,
    table: Table,
    refs: &[Option<Uuid>],
) -> ApiResult<()> {
    let mut ids: Vec<Uuid> = refs.iter().flatten().copied().collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT id FROM {} WHERE tenant_id = $1 AND {}",
        table.name(),
        id_in(tx.dialect(), "id")
    );
    let found: Vec<One<Uuid>> = tx.query(&sql, &[&IdList(ids)]).await?;
    let found: HashSet<Uuid> = found.into_iter().map(|One(id)| id).collect();
    for (r, e) in refs.iter().zip(errors) {
        if r.is_some_and(|id| !found.contains(&id)) {
            e.add(field, NOT_IN_TENANT);
        }
    }
    Ok(())
}

/// `column` is one of the ids bound as `$2` (an [`IdList`]): one statement
/// whatever the number of ids.
pub(crate) fn id_in(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("{column} = ANY($2)"),
        Dialect::Sqlite => format!("{column} IN (SELECT value FROM json_each($2))"),
    }
}

/// One multi-row INSERT: `prefix` names the columns, `fixed` are bound as
/// $2.. for every row, `per_row` binds each row's values after them, and
/// `row_sql` makes a row's tuple from its parameters.
pub(crate) async fn insert_rows<'a, T>(
    tx: &mut impl Scoped,
    prefix: &str,
    fixed: &[&'a dyn Bind],
    rows: &'a [T],
    per_row: impl Fn(&'a T, &mut Vec<&'a dyn Bind>),
    row_sql: impl Fn(&[String]) -> String,
) -> ApiResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut binds: Vec<&dyn Bind> = fixed.to_vec();
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let start = binds.len();
        per_row(row, &mut binds);
        let p: Vec<String> = (start..binds.len())
            .map(|k| format!("${}", k + 2))
            .collect();
        values.push(row_sql(&p));
    }
    let sql = format!("{prefix} VALUES {}", values.join(", "));
    tx.execute(&sql, &binds).await?;
    Ok(())
}

/// Updates of many records split into rounds in which each record comes
/// once; a record's updates keep their order, one per round.
pub(crate) fn rounds<T>(mut rows: Vec<(Uuid, T)>) -> Vec<Vec<(Uuid, T)>> {
    let mut out = Vec::new();
    while !rows.is_empty() {
        let mut seen = HashSet::new();
        let (round, rest): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|(id, _)| seen.insert(*id));
        out.push(round);
        rows = rest;
    }
    out
}

/// Admins and managers may delete any record; users only the ones they own.
/// An amount of money in minor units: 0 to [`crate::contract::AMOUNT_MAX`].
pub fn check_amount(errors: &mut FieldErrors, field: &str, value: Option<i64>) {
    if value.is_some_and(|v| !(0..=crate::contract::AMOUNT_MAX).contains(&v)) {
        errors.add(
            field,
            format!("must be from 0 to {}", crate::contract::AMOUNT_MAX),
        );
    }
}

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
