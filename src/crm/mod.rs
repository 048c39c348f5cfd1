//! The CRM records a tenant's staff work with every day. Every function here
//! takes the tenant-scoped handle; a reference to another record is checked
//! to exist in the same tenant (422 naming the field otherwise), and the
//! composite foreign keys back that up.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod custom;
pub mod deals;
pub mod leads;
pub mod listing;
pub mod names;
pub mod notes;
pub mod pipelines;
pub mod products;
pub mod reports;
pub mod search;
pub mod timeline;
pub mod transfer;

use crate::auth::{RecordAccess, RecordType};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{Bind, Dialect, FromRow, IdList, One, Scoped};
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
pub fn id_in(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("{column} = ANY($2)"),
        Dialect::Sqlite => format!("{column} IN (SELECT value FROM json_each($2))"),
    }
}

/// One multi-row INSERT: `prefix` names the columns, `fixed` are bound as
/// $2.. for every row, `per_row` binds each row's values after them, and
/// `row_sql` makes a row's tuple from its parameters.
pub async fn insert_rows<'a, T>(
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

/// The records a note or an activity may belong to: it is readable only
/// when they all are.
pub(crate) const LINKS: &[(&str, RecordType)] = &[
    ("contact_id", RecordType::Contacts),
    ("company_id", RecordType::Companies),
    ("lead_id", RecordType::Leads),
    ("deal_id", RecordType::Deals),
];

/// The row `sql` selects by id (`$2`) when the caller may read it and the
/// records it belongs to ([`LINKS`]); 404 otherwise. `alias` names the
/// table of type `t` in `sql`. For notes and activities.
pub(crate) async fn get_linked<T: FromRow + Send>(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    t: RecordType,
    alias: &str,
    sql: &str,
    id: &(dyn Bind + Sync),
) -> ApiResult<T> {
    let found = match who.read_clause_linked(t, alias, LINKS) {
        None => tx.query_opt(sql, &[id]).await?,
        Some(clause) => {
            let sql = format!("{sql} AND {}", clause.replace("{}", "$3"));
            tx.query_opt(&sql, &[id, &who.me()]).await?
        }
    };
    found.ok_or_else(ApiError::not_found)
}

/// Runs `sql`, in which each `marker` of `reach` stands for the read
/// limit of one table ([`RecordAccess::read_clause`]): replaced by ` AND
/// <clause>` (the caller's id bound after `params`), or by nothing when the
/// caller reads every row of it. For reports and search.
pub async fn query_within<T: FromRow + Send>(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    sql: &str,
    params: &[&dyn Bind],
    reach: &[(&str, Option<String>)],
) -> ApiResult<Vec<T>> {
    let me = format!("${}", params.len() + 2);
    let mut sql = sql.to_owned();
    let mut bound = false;
    for (marker, clause) in reach {
        let text = match clause {
            Some(c) => {
                bound = true;
                format!(" AND {}", c.replace("{}", &me))
            }
            None => String::new(),
        };
        sql = sql.replace(marker, &text);
    }
    let id = who.me();
    let mut all: Vec<&dyn Bind> = params.to_vec();
    if bound {
        all.push(&id);
    }
    Ok(tx.query(&sql, &all).await?)
}

/// An amount of money in minor units: 0 to [`crate::contract::AMOUNT_MAX`].
pub fn check_amount(errors: &mut FieldErrors, field: &str, value: Option<i64>) {
    if value.is_some_and(|v| !(0..=crate::contract::AMOUNT_MAX).contains(&v)) {
        errors.add(
            field,
            format!("must be from 0 to {}", crate::contract::AMOUNT_MAX),
        );
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
