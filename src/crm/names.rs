//! Names for ids: what a page shows wherever a person reads a reference to
//! a user, record, pipeline or stage, and the choices of a form's
//! reference fields. Records keep their record-level access: one the
//! caller may not read has no name here (the page shows it as hidden).

use super::id_in;
use crate::auth::{RecordAccess, RecordType};
use crate::error::ApiResult;
use crate::store::{IdList, Scoped};
use std::collections::HashMap;
use uuid::Uuid;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Named {
    User,
    Contact,
    Company,
    Lead,
    Deal,
    Pipeline,
    Stage,
}

impl Named {
    /// Table, alias, the name as SQL, and the record type whose access
    /// applies (none: every user of the tenant sees them).
    fn source(self) -> (&'static str, &'static str, Option<RecordType>) {
        match self {
            Named::User => ("users", "full_name", None),
            Named::Contact => (
                "contacts",
                "trim(first_name || ' ' || coalesce(last_name, ''))",
                Some(RecordType::Contacts),
            ),
            Named::Company => ("companies", "name", Some(RecordType::Companies)),
            Named::Lead => (
                "leads",
                "trim(first_name || ' ' || coalesce(last_name, ''))",
                Some(RecordType::Leads),
            ),
            Named::Deal => ("deals", "title", Some(RecordType::Deals)),
            Named::Pipeline => ("pipelines", "name", None),
            Named::Stage => ("pipeline_stages", "name", None),
        }
    }

    /// Where a person opens one (none: nowhere of its own).
    pub fn path(self, id: Uuid) -> Option<String> {
        match self {
            Named::Contact => Some(format!("/contacts/{id}")),
            Named::Company => Some(format!("/companies/{id}")),
            Named::Lead => Some(format!("/leads/{id}")),
            Named::Deal => Some(format!("/deals/{id}")),
            Named::Pipeline => Some(format!("/deals?pipeline_id={id}")),
            Named::User | Named::Stage => None,
        }
    }
}

/// The names of `ids` the caller may see, by id.
pub async fn of(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    what: Named,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, String>> {
    let mut ids: Vec<Uuid> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (table, name, access) = what.source();
    let mut sql = format!(
        "SELECT r.id, {name} AS name FROM {table} r WHERE r.tenant_id = $1 AND {}",
        id_in(tx.dialect(), "r.id")
    );
    let me = who.me();
    let clause = access.and_then(|t| who.read_clause(t, "r"));
    let rows: Vec<(Uuid, String)> = match clause {
        Some(c) => {
            sql.push_str(&format!(" AND {}", c.replace("{}", "$3")));
            tx.query(&sql, &[&IdList(ids), &me]).await?
        }
        None => tx.query(&sql, &[&IdList(ids)]).await?,
    };
    Ok(rows.into_iter().collect())
}

/// The first `limit` of a kind the caller may see, by name: the choices of
/// a form's reference field (users: the active ones).
pub async fn choices(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    what: Named,
    limit: i64,
) -> ApiResult<Vec<(Uuid, String)>> {
    let (table, name, access) = what.source();
    let active = if what == Named::User {
        " AND r.is_active"
    } else {
        ""
    };
    let mut sql =
        format!("SELECT r.id, {name} AS name FROM {table} r WHERE r.tenant_id = $1{active}");
    let me = who.me();
    let clause = access.and_then(|t| who.read_clause(t, "r"));
    if let Some(c) = &clause {
        sql.push_str(&format!(" AND {}", c.replace("{}", "$3")));
    }
    sql.push_str(&format!(" ORDER BY lower({name}), r.id LIMIT $2"));
    Ok(match clause {
        Some(_) => tx.query(&sql, &[&limit, &me]).await?,
        None => tx.query(&sql, &[&limit]).await?,
    })
}

/// Names of several kinds at once, for a page that shows many references.
#[derive(Debug, Default)]
pub struct Names(HashMap<(Named, Uuid), String>);

impl Names {
    /// Looks up every (kind, id) wanted, one query per kind.
    pub async fn load(
        tx: &mut impl Scoped,
        who: &RecordAccess,
        wanted: impl IntoIterator<Item = (Named, Uuid)>,
    ) -> ApiResult<Names> {
        let mut by_kind: HashMap<Named, Vec<Uuid>> = HashMap::new();
        for (kind, id) in wanted {
            by_kind.entry(kind).or_default().push(id);
        }
        let mut all = HashMap::new();
        for (kind, ids) in by_kind {
            for (id, name) in of(tx, who, kind, &ids).await? {
                all.insert((kind, id), name);
            }
        }
        Ok(Names(all))
    }

    pub fn get(&self, kind: Named, id: Uuid) -> Option<&str> {
        self.0.get(&(kind, id)).map(String::as_str)
    }
}
