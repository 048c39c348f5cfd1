//! Lists of CRM records: filters added by each resource, sorting by
//! `created_at`, `updated_at` or `name` in either direction, and keyset
//! pagination on (sort value, id), so page 100 costs what page 1 does.
//!
//! The SQL is assembled from fixed fragments; every value travels as a
//! bound parameter. `$1` is always the tenant (bound by the tenant handle).

use super::custom::SortKey;
use crate::auth::{RecordAccess, RecordType};
use crate::error::{ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::{Bind, Dialect, FromRow, Scoped};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Name,
    /// Activities: when they are due (only activities with a due time).
    DueAt,
    /// A custom field (`cf.<key>`), the one of [`ListRequest::custom`].
    Custom,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::Name => "sort_name",
            SortField::DueAt => "due_at",
            SortField::Custom => "custom_fields",
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
        let text = text.filter(|t| !t.is_empty()).unwrap_or("-created_at");
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if custom_sort_key(name).is_some() {
            return Ok(Sort {
                field: SortField::Custom,
                descending,
            });
        }
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

/// The key of `cf.<key>` when it is one.
fn custom_sort_key(name: &str) -> Option<&str> {
    let key = name.strip_prefix("cf.")?;
    let ok = !key.is_empty()
        && key.len() <= 50
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then_some(key)
}

/// A value bound into a list query.
#[derive(Debug, Clone)]
pub enum Param {
    Uuid(Uuid),
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
    Float(f64),
}

impl Bind for Param {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Uuid(v) => v,
            Param::Text(v) => v,
            Param::Time(v) => v,
            Param::Int(v) => v,
            Param::Float(v) => v,
        }
    }
    fn sqlite(&self) -> rusqlite::types::ToSqlOutput<'_> {
        match self {
            Param::Uuid(v) => v.sqlite(),
            Param::Text(v) => v.sqlite(),
            Param::Time(v) => v.sqlite(),
            Param::Int(v) => v.sqlite(),
            Param::Float(v) => v.sqlite(),
        }
    }
}

/// Where the previous page ended: the last row's place in every order a
/// list can have (its times, name and id), so any cursor serves any sort.
/// The text form is plain: `created.updated.due.name.id`, times in
/// microseconds since 1970 (clamped to the years the API keeps), the name
/// as hex of its UTF-8 and the id as 32 hex digits. Every text matching
/// [`CURSOR_PATTERN`] is a place in the list, so the pattern is the whole
/// rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    name: String,
    id: Uuid,
    /// The row's value of the custom field a list is sorted by.
    custom: Option<CustomValue>,
}

/// A sort value of a custom field, as a cursor keeps it.
#[derive(Debug, Clone, PartialEq)]
enum CustomValue {
    Number(f64),
    Text(String),
}

impl CustomValue {
    fn of(p: Param) -> CustomValue {
        match p {
            Param::Float(f) => CustomValue::Number(f),
            Param::Text(t) => CustomValue::Text(t),
            other => CustomValue::Text(format!("{other:?}")),
        }
    }

    /// `n` and the number as Rust writes it back exactly, or `t` and the
    /// text.
    fn encode(&self) -> String {
        match self {
            CustomValue::Number(f) => format!("n{f:?}"),
            CustomValue::Text(t) => format!("t{t}"),
        }
    }

    /// Any text is a place: a number where it reads as one, text otherwise.
    fn decode(text: &str) -> CustomValue {
        match text.strip_prefix('n').map(str::parse::<f64>) {
            Some(Ok(f)) if f.is_finite() => CustomValue::Number(f),
            _ => CustomValue::Text(text.strip_prefix('t').unwrap_or(text).replace('\0', "")),
        }
    }
}

/// What `?cursor=` of a CRM list accepts (empty: the first page).
pub const CURSOR_PATTERN: &str =
    r"^([0-9]{1,18}\.[0-9]{1,18}\.[0-9]{0,18}\.([0-9a-f]{2})*\.[0-9a-f]{32}(\.([0-9a-f]{2})*)?)?$";

/// `?sort=` of the CRM lists (empty: `-created_at`); `cf.<key>` sorts by a
/// custom field.
pub const SORT_PATTERN: &str = r"^(-?(name|created_at|updated_at|cf\.[a-z][a-z0-9_]{0,49}))?$";
/// `?sort=` of activities.
pub const SORT_WITH_DUE_PATTERN: &str =
    r"^(-?(name|created_at|updated_at|due_at|cf\.[a-z][a-z0-9_]{0,49}))?$";
/// `?sort=` of notes.
pub const SORT_BY_TIME_PATTERN: &str = r"^(-?(created_at|updated_at))?$";

/// 9999-12-31T23:59:59.999999Z, the last time the API keeps.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

fn micros(t: &DateTime<Utc>) -> String {
    t.timestamp_micros().clamp(0, MAX_MICROS).to_string()
}

fn from_micros(s: &str) -> Option<DateTime<Utc>> {
    let n: i64 = s.parse().ok()?;
    DateTime::from_timestamp_micros(n.clamp(0, MAX_MICROS))
}

impl Cursor {
    fn of<T: Keyed>(row: &T, custom: Option<&SortKey>) -> Cursor {
        Cursor {
            created_at: row.created_at(),
            updated_at: row.updated_at(),
            due_at: row.due_at(),
            name: row.sort_name().to_owned(),
            id: row.id(),
            custom: custom.map(|k| {
                CustomValue::of(match row.custom_fields() {
                    Some(fields) => k.value_of(fields),
                    None => k.value_of(&Map::new()),
                })
            }),
        }
    }

    fn encode(&self) -> String {
        let mut text = format!(
            "{}.{}.{}.{}.{}",
            micros(&self.created_at),
            micros(&self.updated_at),
            self.due_at.as_ref().map(micros).unwrap_or_default(),
            hex::encode(self.name.as_bytes()),
            self.id.simple()
        );
        if let Some(c) = &self.custom {
            text.push('.');
            text.push_str(&hex::encode(c.encode().as_bytes()));
        }
        text
    }

    fn decode(text: &str) -> Option<Cursor> {
        let parts: Vec<&str> = text.split('.').collect();
        let (created, updated, due, name, id, custom) = match parts[..] {
            [c, u, d, n, i] => (c, u, d, n, i, None),
            [c, u, d, n, i, x] => (c, u, d, n, i, Some(x)),
            _ => return None,
        };
        let lower_hex_ = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let custom = match custom {
            None => None,
            Some(x) if lower_hex_(x) => {
                let bytes = hex::decode(x).ok()?;
                Some(CustomValue::decode(&String::from_utf8_lossy(&bytes)))
            }
            Some(_) => return None,
        };
        let digits = |s: &str, min: usize| {
            (min..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !digits(created, 1)
            || !digits(updated, 1)
            || !digits(due, 0)
            || !lower_hex(name)
            || !lower_hex(id)
            || id.len() != 32
        {
            return None;
        }
        let name = hex::decode(name).ok()?;
        Some(Cursor {
            created_at: from_micros(created)?,
            updated_at: from_micros(updated)?,
            due_at: if due.is_empty() {
                None
            } else {
                Some(from_micros(due)?)
            },
            // Any bytes are a place in the order of names; NUL is the one
            // character no name holds.
            name: String::from_utf8_lossy(&name).replace('\0', ""),
            id: Uuid::try_parse(id).ok()?,
            custom,
        })
    }

    /// This place's value in the order of `field`: a row without a due
    /// time sorts after every due time.
    fn value(&self, field: SortField) -> Param {
        match field {
            SortField::CreatedAt => Param::Time(self.created_at),
            SortField::UpdatedAt => Param::Time(self.updated_at),
            SortField::Name => Param::Text(self.name.clone()),
            SortField::DueAt => Param::Time(self.due_at.unwrap_or_else(|| {
                DateTime::from_timestamp_micros(MAX_MICROS).unwrap_or_default()
            })),
            // A cursor of another order starts a custom order over.
            SortField::Custom => match &self.custom {
                Some(CustomValue::Number(f)) => Param::Float(*f),
                Some(CustomValue::Text(t)) => Param::Text(t.clone()),
                None => Param::Float(super::custom::NUMERIC_NONE),
            },
        }
    }
}

/// A validated list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub limit: i64,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
    /// `?sort=cf.<key>`: the key as given, until [`ListRequest::custom`]
    /// is resolved against the tenant's fields.
    pub custom_key: Option<String>,
    pub custom: Option<SortKey>,
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
        let sort_value = errors.check("sort", Sort::parse(sort)).unwrap_or(Sort {
            field: SortField::CreatedAt,
            descending: true,
        });
        let cursor = cursor
            .filter(|c| !c.is_empty())
            .and_then(|c| match Cursor::decode(c) {
                Some(c) => Some(c),
                None => {
                    errors.add("cursor", "is not a cursor this server issued");
                    None
                }
            });
        let custom_key = sort
            .filter(|_| sort_value.field == SortField::Custom)
            .map(|s| s.trim_start_matches('-'))
            .and_then(custom_sort_key)
            .map(str::to_owned);
        ListRequest {
            limit: page.limit,
            sort: sort_value,
            cursor,
            custom_key,
            custom: None,
        }
    }

    /// Resolves `?sort=cf.<key>` against the tenant's fields of `entity`
    /// (422 for an unknown one).
    pub async fn resolve_custom(
        &mut self,
        tx: &mut impl Scoped,
        entity: super::custom::Entity,
    ) -> ApiResult<()> {
        if let Some(key) = self.custom_key.clone() {
            self.custom = Some(super::custom::sort_key(tx, entity, &key).await?);
        }
        Ok(())
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
                created_at: at,
                updated_at: at,
                due_at: None,
                name: String::new(),
                id,
                custom: None,
            }),
            custom_key: None,
            custom: None,
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

    /// Keeps the rows of `t` the caller may read (record-level access).
    pub fn visible(&mut self, who: &RecordAccess, t: RecordType) {
        if let Some(clause) = who.read_clause(t, self.alias) {
            self.and(&clause, Param::Uuid(who.me().0));
        }
    }

    /// Keeps the rows of `t` the caller may read whose linked records
    /// (`links`: column, type) they may read too.
    pub fn visible_linked(
        &mut self,
        who: &RecordAccess,
        t: RecordType,
        links: &[(&str, RecordType)],
    ) {
        if let Some(clause) = who.read_clause_linked(t, self.alias, links) {
            self.and(&clause, Param::Uuid(who.me().0));
        }
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
        let (sql, params) = self.page(req, tx.dialect());
        let binds: Vec<&dyn Bind> = params.iter().map(|p| p as _).collect();
        Ok(tx.query(&sql, &binds).await?)
    }

    /// Finishes with the keyset condition, ORDER BY and LIMIT (one row more
    /// than the page, to tell whether another follows).
    pub fn page(mut self, req: &ListRequest, dialect: Dialect) -> (String, Vec<Param>) {
        let a = self.alias;
        let col = match (&req.custom, req.sort.field) {
            (Some(k), SortField::Custom) => k.sql(dialect, a),
            _ => format!("{a}.{}", req.sort.field.column()),
        };
        if req.sort.field == SortField::DueAt {
            // Keyset order needs a value in every row.
            self.sql.push_str(&format!(" AND {a}.due_at IS NOT NULL"));
        }
        if let Some(c) = &req.cursor {
            let value = c.value(req.sort.field);
            let v = self.bind(value);
            let id = self.bind(Param::Uuid(c.id));
            let op = if req.sort.descending { "<" } else { ">" };
            self.sql
                .push_str(&format!(" AND ({col}, {a}.id) {op} ({v}, {id})"));
        }
        let dir = if req.sort.descending { "DESC" } else { "ASC" };
        let limit = self.bind(Param::Int(req.limit + 1));
        self.sql.push_str(&format!(
            " ORDER BY {col} {dir}, {a}.id {dir} LIMIT {limit}"
        ));
        (self.sql, self.params)
    }
}

/// Implements [`Keyed`] (and custom fields) for a view with `id`,
/// `created_at`, `updated_at`, `sort_name` and `custom_fields` fields.
macro_rules! keyed_custom {
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
            fn custom_fields(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
                Some(&self.custom_fields)
            }
        }
        impl $crate::crm::custom::Custom for $ty {
            fn custom_fields_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
                &mut self.custom_fields
            }
        }
    };
}
pub(crate) use keyed_custom;

/// What a listed row offers the pager.
pub trait Keyed {
    fn id(&self) -> Uuid;
    fn created_at(&self) -> DateTime<Utc>;
    fn updated_at(&self) -> DateTime<Utc>;
    fn sort_name(&self) -> &str;
    fn due_at(&self) -> Option<DateTime<Utc>> {
        None
    }
    /// Records with custom fields: their values (for a custom order).
    fn custom_fields(&self) -> Option<&Map<String, Value>> {
        None
    }
}

/// Cuts the extra row and makes the next cursor.
pub fn finish<T: Keyed>(req: &ListRequest, mut rows: Vec<T>) -> Page<T> {
    let more = rows.len() as i64 > req.limit;
    rows.truncate(req.limit as usize);
    let custom = req
        .custom
        .as_ref()
        .filter(|_| req.sort.field == SortField::Custom);
    let next_cursor = rows
        .last()
        .filter(|_| more)
        .map(|r| Cursor::of(r, custom).encode());
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
    fn cursors_round_trip_and_match_their_pattern() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let c = Cursor {
            created_at: at,
            updated_at: at,
            due_at: Some(at),
            name: "ada lovelace".into(),
            id: Uuid::now_v7(),
            custom: None,
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text), Some(c.clone()));
        let re = regex::Regex::new(CURSOR_PATTERN).unwrap();
        assert!(re.is_match(&text), "{text}");
        let no_due = Cursor { due_at: None, ..c };
        assert!(re.is_match(&no_due.encode()));
        assert_eq!(Cursor::decode(&no_due.encode()), Some(no_due));
        assert_eq!(Cursor::decode("00"), None);
        // Anything the pattern allows is a place: out-of-range times clamp,
        // bytes that are not UTF-8 still order.
        let odd = format!("999999999999999999.0..ff00.{}", "a".repeat(32));
        assert!(re.is_match(&odd));
        assert!(Cursor::decode(&odd).is_some());
    }

    #[test]
    fn pages_add_keyset_order_and_limit() {
        let mut errors = FieldErrors::default();
        let c = Cursor {
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            due_at: None,
            name: "m".into(),
            id: Uuid::nil(),
            custom: None,
        }
        .encode();
        let req = ListRequest::parse(Some("10"), Some("-name"), Some(&c), &mut errors);
        assert!(errors.is_empty());
        let mut s = Select::new("SELECT c.id FROM contacts c WHERE c.tenant_id = $1", "c");
        s.and("c.owner_id = {}", Param::Uuid(Uuid::nil()));
        let (sql, params) = s.page(&req, Dialect::Postgres);
        assert_eq!(
            sql,
            "SELECT c.id FROM contacts c WHERE c.tenant_id = $1 AND c.owner_id = $2 \
             AND (c.sort_name, c.id) < ($3, $4) ORDER BY c.sort_name DESC, c.id DESC LIMIT $5"
        );
        assert_eq!(params.len(), 4);
        crate::store::scope::check(&sql).unwrap();
    }
}
