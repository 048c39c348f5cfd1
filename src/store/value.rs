//! Values in and out: how each Rust type binds to a statement and reads
//! from a column on either backend ([`Bind`], [`Decode`]), and rows read by
//! column name ([`Row`], [`FromRow`]).

use super::*;

/// A value that can be bound to a statement on either backend.
pub trait Bind: Sync {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync);
    fn sqlite(&self) -> rusqlite::types::ToSqlOutput<'_>;
}

/// A value that can be read from a column on either backend.
pub trait Decode: Sized {
    type Pg: for<'a> tokio_postgres::types::FromSql<'a>;
    fn from_pg(v: Self::Pg) -> DbResult<Self>;
    fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> DbResult<Self>;
}

/// A row of either backend; columns are read by name.
pub enum Row<'a> {
    Pg(&'a tokio_postgres::Row),
    Sqlite(&'a rusqlite::Row<'a>),
}

impl Row<'_> {
    pub fn get<T: Decode>(&self, col: &str) -> DbResult<T> {
        self.at(col)
    }

    /// The value of a column named or numbered by `col`.
    fn at<T: Decode, I>(&self, col: I) -> DbResult<T>
    where
        I: tokio_postgres::row::RowIndex + rusqlite::RowIndex + std::fmt::Display + Copy,
    {
        match self {
            Row::Pg(r) => {
                let v: T::Pg = r
                    .try_get(col)
                    .map_err(|e| DbError::Other(format!("column {col}: {e}")))?;
                T::from_pg(v)
            }
            Row::Sqlite(r) => {
                let v = r
                    .get_ref(col)
                    .map_err(|e| DbError::Other(format!("column {col}: {e}")))?;
                T::from_sqlite(v)
            }
        }
    }
}

pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> DbResult<Self>;
}

/// A single-column result, for counts and look-ups of one value.
pub struct One<T>(pub T);

impl<T: Decode> FromRow for One<T> {
    fn from_row(row: &Row<'_>) -> DbResult<Self> {
        Ok(One(row.at(0usize)?))
    }
}

/// A two-column result (an id and its name, a key and its count), read by
/// position.
impl<A: Decode, B: Decode> FromRow for (A, B) {
    fn from_row(row: &Row<'_>) -> DbResult<Self> {
        Ok((row.at(0usize)?, row.at(1usize)?))
    }
}

use rusqlite::types::{ToSqlOutput, Value, ValueRef};

fn sqlite_type_error(expected: &str, got: ValueRef<'_>) -> DbError {
    DbError::Other(format!(
        "expected {expected}, found SQLite {:?}",
        got.data_type()
    ))
}

fn sqlite_text<'a>(v: ValueRef<'a>, expected: &str) -> DbResult<&'a str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| DbError::Other(e.to_string())),
        other => Err(sqlite_type_error(expected, other)),
    }
}

impl Bind for String {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes()))
    }
}

impl Bind for &str {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes()))
    }
}

impl Decode for String {
    type Pg = String;
    fn from_pg(v: String) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        sqlite_text(v, "text").map(str::to_owned)
    }
}

impl Bind for i64 {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Integer(*self))
    }
}

impl Bind for f64 {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Real(*self))
    }
}

impl Decode for i64 {
    type Pg = i64;
    fn from_pg(v: i64) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            other => Err(sqlite_type_error("integer", other)),
        }
    }
}

impl Decode for f64 {
    type Pg = f64;
    fn from_pg(v: f64) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(sqlite_type_error("real", other)),
        }
    }
}

/// A list of texts bound as one parameter: a `text[]` on PostgreSQL (use
/// `= ANY($n)`), a JSON array on SQLite (use `IN (SELECT value FROM
/// json_each($n))`). One parameter keeps the statement and its plan the same
/// whatever the list's length.
pub struct TextList(pub Vec<String>);

impl Bind for TextList {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        &self.0
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(serde_json::json!(self.0).to_string()))
    }
}

/// A list of ids bound as one parameter, as [`TextList`]: a `uuid[]` on
/// PostgreSQL, a JSON array of their text on SQLite.
pub struct IdList(pub Vec<uuid::Uuid>);

impl Bind for IdList {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        &self.0
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(serde_json::json!(self.0).to_string()))
    }
}

impl Bind for bool {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Integer(i64::from(*self)))
    }
}

impl Decode for bool {
    type Pg = bool;
    fn from_pg(v: bool) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(sqlite_type_error("boolean", other)),
        }
    }
}

impl Bind for uuid::Uuid {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(self.hyphenated().to_string()))
    }
}

impl Decode for uuid::Uuid {
    type Pg = uuid::Uuid;
    fn from_pg(v: uuid::Uuid) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        uuid::Uuid::parse_str(sqlite_text(v, "uuid text")?)
            .map_err(|e| DbError::Other(format!("bad uuid in database: {e}")))
    }
}

/// SQLite keeps times as fixed-width RFC 3339 text, so that comparing the
/// text compares the times.
pub(crate) fn sqlite_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Bind for DateTime<Utc> {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(sqlite_time(self)))
    }
}

impl Decode for DateTime<Utc> {
    type Pg = DateTime<Utc>;
    fn from_pg(v: DateTime<Utc>) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        DateTime::parse_from_rfc3339(sqlite_text(v, "time text")?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| DbError::Other(format!("bad time in database: {e}")))
    }
}

impl Bind for chrono::NaiveDate {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(self.format("%Y-%m-%d").to_string()))
    }
}

impl Decode for chrono::NaiveDate {
    type Pg = chrono::NaiveDate;
    fn from_pg(v: chrono::NaiveDate) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        chrono::NaiveDate::parse_from_str(sqlite_text(v, "date text")?, "%Y-%m-%d")
            .map_err(|e| DbError::Other(format!("bad date in database: {e}")))
    }
}

impl Bind for serde_json::Value {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Owned(Value::Text(self.to_string()))
    }
}

impl Decode for serde_json::Value {
    type Pg = serde_json::Value;
    fn from_pg(v: serde_json::Value) -> DbResult<Self> {
        Ok(v)
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        serde_json::from_str(sqlite_text(v, "json text")?)
            .map_err(|e| DbError::Other(format!("bad json in database: {e}")))
    }
}

impl<T: Bind + tokio_postgres::types::ToSql> Bind for Option<T> {
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
    fn sqlite(&self) -> ToSqlOutput<'_> {
        match self {
            Some(v) => v.sqlite(),
            None => ToSqlOutput::Owned(Value::Null),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    type Pg = Option<T::Pg>;
    fn from_pg(v: Option<T::Pg>) -> DbResult<Self> {
        v.map(T::from_pg).transpose()
    }
    fn from_sqlite(v: ValueRef<'_>) -> DbResult<Self> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sqlite(v).map(Some),
        }
    }
}

/// Implements [`Bind`] and [`Decode`] for a newtype over a type that has them.
#[macro_export]
macro_rules! store_newtype {
    ($ty:ty, $inner:ty) => {
        impl $crate::store::Bind for $ty {
            fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
                &self.0
            }
            fn sqlite(&self) -> rusqlite::types::ToSqlOutput<'_> {
                $crate::store::Bind::sqlite(&self.0)
            }
        }
        impl $crate::store::Decode for $ty {
            type Pg = <$inner as $crate::store::Decode>::Pg;
            fn from_pg(v: Self::Pg) -> $crate::store::DbResult<Self> {
                <$inner as $crate::store::Decode>::from_pg(v).map(Self)
            }
            fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> $crate::store::DbResult<Self> {
                <$inner as $crate::store::Decode>::from_sqlite(v).map(Self)
            }
        }
    };
}

/// Implements [`Bind`] and [`Decode`] for an enum stored as its text name,
/// through its `as_str` and `FromStr`.
#[macro_export]
macro_rules! store_text_enum {
    ($ty:ty) => {
        impl tokio_postgres::types::ToSql for $ty {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut tokio_postgres::types::private::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
            {
                self.as_str().to_sql(ty, out)
            }
            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::ToSql>::accepts(ty)
            }
            tokio_postgres::types::to_sql_checked!();
        }
        impl $crate::store::Bind for $ty {
            fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
                self
            }
            fn sqlite(&self) -> rusqlite::types::ToSqlOutput<'_> {
                rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(
                    self.as_str().as_bytes(),
                ))
            }
        }
        impl $crate::store::Decode for $ty {
            type Pg = String;
            fn from_pg(v: String) -> $crate::store::DbResult<Self> {
                v.parse()
                    .map_err(|_| $crate::store::DbError::Other(format!("bad value {v:?}")))
            }
            fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> $crate::store::DbResult<Self> {
                let s = <String as $crate::store::Decode>::from_sqlite(v)?;
                s.parse()
                    .map_err(|_| $crate::store::DbError::Other(format!("bad value {s:?}")))
            }
        }
    };
}

/// Replaces `$n` placeholders with SQLite's numbered `?n`.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}
