//! Lists of CRM records: filters added by each resource, sorting by
//! `created_at`, `updated_at` or `name` in either direction, and keyset
//! pagination on (sort value, id), so page 100 costs what page 1 does.
//!
//! The SQL is assembled from fixed fragments; every value travels as a
//! bound parameter. `$1` is always the tenant (bound by the tenant handle).

use crate::error::{ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::{Bind, FromRow, Scoped};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Name,
    /// Activities: when they are due (only activities with a due time).
    DueAt,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::Name => "sort_name",
            SortField::DueAt => "due_at",
        }
    }

    fn code(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::Name => "name",
            SortField::DueAt => "due_at",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    /// `name`, `created_at`, `updated_at`, each optionally prefixed by `-`
    /// for descending; default `-created_at` (newest first).
    pub fn parse(text: Option<&str>) -> Result<Sort, &'static str> {
        let text = text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or("-created_at");
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let field = match name {
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            "name" => SortField::Name,
            "due_at" => SortField::DueAt,
            _ => {
                return Err(
                    "must be name, created_at or updated_at (activities also due_at), with - in front for descending",
                )
            }
        };
        Ok(Sort { field, descending })
    }
}

/// A value bound into a list query.
#[derive(Debug, Clone)]
pub enum Param {
    Uuid(Uuid),
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

impl Bind for Param {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Uuid(v) => v,
            Param::Text(v) => v,
            Param::Time(v) => v,
            Param::Int(v) => v,
        }
    }
    fn sqlite(&self) -> rusqlite::types::ToSqlOutput<'_> {
        match self {
            Param::Uuid(v) => v.sqlite(),
            Param::Text(v) => v.sqlite(),
            Param::Time(v) => v.sqlite(),
            Param::Int(v) => v.sqlite(),
        }
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    field: SortField,
    value: String,
    id: Uuid,
}

impl Cursor {
    /// A value this server could have written: a time in range for time
    /// sorts, text without NUL for names.
    fn value_is_valid(&self) -> bool {
        match self.field {
            SortField::Name => !self.value.contains('\0'),
            _ => DateTime::parse_from_rfc3339(&self.value)
                .map(|t| crate::domain::check_time(&t.with_timezone(&Utc)).is_ok())
                .unwrap_or(false),
        }
    }

    fn encode(&self) -> String {
        let json = serde_json::json!([self.field.code(), self.value, self.id]);
        hex::encode(json.to_string())
    }

    fn decode(text: &str) -> Option<Cursor> {
        let bytes = hex::decode(text).ok()?;
        let (field, value, id): (String, String, Uuid) = serde_json::from_slice(&bytes).ok()?;
        let field = Sort::parse(Some(&field)).ok()?.field;
        Some(Cursor { field, value, id })
    }
}

/// A validated list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub limit: i64,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
}

impl ListRequest {
    pub fn parse(
        limit: Option<&str>,
        sort: Option<&str>,
        cursor: Option<&str>,
        errors: &mut FieldErrors,
    ) -> ListRequest {
        let req = Self::parse_with_due(limit, sort, cursor, errors);
        if req.sort.field == SortField::DueAt {
            errors.add(
                "sort",
                "must be name, created_at or updated_at, with - in front for descending",
            );
        }
        req
    }

    /// Like [`ListRequest::parse`], also allowing `due_at` (activities).
    pub fn parse_with_due(
        limit: Option<&str>,
        sort: Option<&str>,
        cursor: Option<&str>,
        errors: &mut FieldErrors,
    ) -> ListRequest {
        let page = crate::pagination::PageParams {
            limit: limit.map(str::to_owned),
            cursor: None,
        }
        .parse(errors);
        let sort = errors.check("sort", Sort::parse(sort)).unwrap_or(Sort {
            field: SortField::CreatedAt,
            descending: true,
        });
        let cursor = cursor
            .filter(|c| !c.is_empty())
            .and_then(|c| match Cursor::decode(c) {
                Some(c) if c.field == sort.field && c.value_is_valid() => Some(c),
                Some(c) if c.field == sort.field => {
                    errors.add("cursor", "is not a cursor this server issued");
                    None
                }
                Some(_) => {
                    errors.add("cursor", "belongs to a list sorted another way");
                    None
                }
                None => {
                    errors.add("cursor", "is not a cursor this server issued");
                    None
                }
            });
        ListRequest {
            limit: page.limit,
            sort,
            cursor,
        }
    }
}

impl ListRequest {
    /// Newest first by `created_at`, after the given (time, id) when paging.
    pub fn newest_first(limit: i64, before: Option<(DateTime<Utc>, Uuid)>) -> ListRequest {
        ListRequest {
            limit,
            sort: Sort {
                field: SortField::CreatedAt,
                descending: true,
            },
            cursor: before.map(|(at, id)| Cursor {
                field: SortField::CreatedAt,
                value: crate::store::sqlite_time(&at),
                id,
            }),
        }
    }
}

/// A SELECT being assembled: a base, filters, then the page.
pub struct Select {
    sql: String,
    params: Vec<Param>,
    alias: &'static str,
}

impl Select {
    /// `base` selects from one table aliased `alias`, already constrained to
    /// the tenant (`alias.tenant_id = $1`) and ending in a WHERE clause.
    pub fn new(base: &str, alias: &'static str) -> Select {
        Select {
            sql: base.to_owned(),
            params: Vec::new(),
            alias,
        }
    }

    /// Binds `p` and returns its placeholder.
    pub fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len() + 1)
    }

    /// Adds ` AND <clause>`, whose placeholders the caller bound already.
    pub fn and_sql(&mut self, clause: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(clause);
    }

    /// The free-text filter `q`: when `q` has text, adds ` AND (` one
    /// case-insensitive `LIKE '%q%'` per column, ORed `)`. Each column is
    /// an already lower-cased SQL expression.
    pub fn search(&mut self, q: Option<&str>, columns: &[&str]) {
        let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
            return;
        };
        let p = self.bind(contains(q));
        let ors: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} LIKE {p} ESCAPE '\\'"))
            .collect();
        self.and_sql(&format!("({})", ors.join(" OR ")));
    }

    /// Adds ` AND <clause>`; `{}` in the clause is replaced by the
    /// placeholder of `p`.
    pub fn and(&mut self, clause: &str, p: Param) {
        let placeholder = self.bind(p);
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause.replace("{}", &placeholder));
    }

    /// Adds ` AND column = <id>` for each pair whose id is given.
    pub fn and_ids(&mut self, pairs: &[(&str, Option<Uuid>)]) {
        for &(column, id) in pairs {
            if let Some(id) = id {
                self.and(&format!("{column} = {{}}"), Param::Uuid(id));
            }
        }
    }

    /// Runs the finished query for one page of `T`.
    pub async fn fetch<T: FromRow + Keyed + Send>(
        self,
        tx: &mut impl Scoped,
        req: &ListRequest,
    ) -> ApiResult<Page<T>> {
        let rows = self.rows(tx, req).await?;
        Ok(finish(req, rows))
    }

    /// Runs the finished query: the rows of the page plus, when there are
    /// that many, the one row that tells another page follows.
    pub async fn rows<T: FromRow + Send>(
        self,
        tx: &mut impl Scoped,
        req: &ListRequest,
    ) -> ApiResult<Vec<T>> {
        let (sql, params) = self.page(req);
        let binds: Vec<&dyn Bind> = params.iter().map(|p| p as _).collect();
        Ok(tx.query(&sql, &binds).await?)
    }

    /// Finishes with the keyset condition, ORDER BY and LIMIT (one row more
    /// than the page, to tell whether another follows).
    pub fn page(mut self, req: &ListRequest) -> (String, Vec<Param>) {
        let a = self.alias;
        let col = req.sort.field.column();
        if req.sort.field == SortField::DueAt {
            // Keyset order needs a value in every row.
            self.sql.push_str(&format!(" AND {a}.due_at IS NOT NULL"));
        }
        if let Some(c) = &req.cursor {
            let value = match req.sort.field {
                SortField::Name => Param::Text(c.value.clone()),
                // Checked when the cursor was parsed.
                _ => match DateTime::parse_from_rfc3339(&c.value) {
                    Ok(t) => Param::Time(t.with_timezone(&Utc)),
                    Err(_) => Param::Time(Utc::now()),
                },
            };
            let v = self.bind(value);
            let id = self.bind(Param::Uuid(c.id));
            let op = if req.sort.descending { "<" } else { ">" };
            self.sql
                .push_str(&format!(" AND ({a}.{col}, {a}.id) {op} ({v}, {id})"));
        }
        let dir = if req.sort.descending { "DESC" } else { "ASC" };
        let limit = self.bind(Param::Int(req.limit + 1));
        self.sql.push_str(&format!(
            " ORDER BY {a}.{col} {dir}, {a}.id {dir} LIMIT {limit}"
        ));
        (self.sql, self.params)
    }
}

/// Implements [`Keyed`] for a view with `id`, `created_at`, `updated_at`
/// and `sort_name` fields.
macro_rules! keyed {
    ($ty:ty) => {
        impl $crate::crm::listing::Keyed for $ty {
            fn id(&self) -> Uuid {
                self.id
            }
            fn created_at(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn updated_at(&self) -> DateTime<Utc> {
                self.updated_at
            }
            fn sort_name(&self) -> &str {
                &self.sort_name
            }
        }
    };
}
pub(crate) use keyed;

/// What a listed row offers the pager.
pub trait Keyed {
    fn id(&self) -> Uuid;
    fn created_at(&self) -> DateTime<Utc>;
    fn updated_at(&self) -> DateTime<Utc>;
    fn sort_name(&self) -> &str;
    fn due_at(&self) -> Option<DateTime<Utc>> {
        None
    }
}

/// Cuts the extra row and makes the next cursor.
pub fn finish<T: Keyed>(req: &ListRequest, mut rows: Vec<T>) -> Page<T> {
    let more = rows.len() as i64 > req.limit;
    rows.truncate(req.limit as usize);
    let next_cursor = rows.last().filter(|_| more).map(|r| {
        let value = match req.sort.field {
            SortField::CreatedAt => crate::store::sqlite_time(&r.created_at()),
            SortField::UpdatedAt => crate::store::sqlite_time(&r.updated_at()),
            SortField::Name => r.sort_name().to_owned(),
            SortField::DueAt => r
                .due_at()
                .map(|t| crate::store::sqlite_time(&t))
                .unwrap_or_default(),
        };
        Cursor {
            field: req.sort.field,
            value,
            id: r.id(),
        }
        .encode()
    });
    crate::pagination::Page {
        items: rows,
        next_cursor,
    }
}

/// `%text%` for a case-insensitive LIKE, wildcards escaped.
pub fn contains(text: &str) -> Param {
    Param::Text(crate::platform::tenants::contains_pattern(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse() {
        assert_eq!(
            Sort::parse(None).unwrap(),
            Sort {
                field: SortField::CreatedAt,
                descending: true
            }
        );
        assert_eq!(
            Sort::parse(Some("name")).unwrap(),
            Sort {
                field: SortField::Name,
                descending: false
            }
        );
        assert_eq!(
            Sort::parse(Some("-updated_at")).unwrap().field,
            SortField::UpdatedAt
        );
        assert!(Sort::parse(Some("email")).is_err());
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            field: SortField::Name,
            value: "ada lovelace".into(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("00"), None);
    }

    #[test]
    fn pages_add_keyset_order_and_limit() {
        let mut errors = FieldErrors::default();
        let c = Cursor {
            field: SortField::Name,
            value: "m".into(),
            id: Uuid::nil(),
        }
        .encode();
        let req = ListRequest::parse(Some("10"), Some("-name"), Some(&c), &mut errors);
        assert!(errors.is_empty());
        let mut s = Select::new("SELECT c.id FROM contacts c WHERE c.tenant_id = $1", "c");
        s.and("c.owner_id = {}", Param::Uuid(Uuid::nil()));
        let (sql, params) = s.page(&req);
        assert_eq!(
            sql,
            "SELECT c.id FROM contacts c WHERE c.tenant_id = $1 AND c.owner_id = $2 \
             AND (c.sort_name, c.id) < ($3, $4) ORDER BY c.sort_name DESC, c.id DESC LIMIT $5"
        );
        assert_eq!(params.len(), 4);
        crate::store::scope::check(&sql).unwrap();
    }
}
