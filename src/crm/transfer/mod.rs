//! CSV import and export of contacts and leads. An upload is first spooled
//! to an anonymous temporary file (so a slow client never holds a
//! transaction, and memory stays flat whatever the size); the import then
//! reads it with csv-core, maps headers by their common names, validates
//! row by row (a bad row is reported and skipped, never half written),
//! settles duplicates by e-mail against what the tenant holds, rows written
//! earlier in the same file included, and inserts in batches inside one
//! transaction. Exports stream the same columns back, so an export imports
//! unchanged. What differs between contacts and leads is a [`Kind`].

mod contacts;
mod csv;
mod leads;

pub use self::contacts::Contacts;
pub use self::csv::{csv_line, CsvStream};
pub use self::leads::Leads;

use crate::auth::SessionUser;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};
use crate::store::{Bind, DbResult, Dialect, FromRow, Row, Scoped, TextList};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;
use uuid::Uuid;

/// An import's file may be this large.
pub const IMPORT_LIMIT: usize = 50 * 1024 * 1024;
/// Rows validated and written together.
const BATCH: usize = 500;
/// Row errors reported in detail; more are counted.
const MAX_ERRORS: usize = 1000;
/// Export rows read per query.
const EXPORT_PAGE: i64 = 1000;

/// A header's letters and digits, lowercased: "E-mail" and "e_mail" are
/// both "email".
fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where an export page ends: the last row's (created_at, id).
pub type Cursor = (DateTime<Utc>, Uuid);

/// What a CSV import and export of one record type needs to know.
pub trait Kind: Send {
    /// The table, also the export's file name.
    const TABLE: &'static str;
    /// The columns of a file, in export order. The first is required.
    const COLUMNS: &'static [&'static str];
    /// What a header names, by its common spellings, as an index of
    /// `COLUMNS`.
    fn column(key: &str) -> Option<usize>;

    /// A row that passed validation.
    type Row: Send + Sync;
    fn validate(check: &mut RowCheck<'_>) -> Option<Self::Row>;
    fn email(row: &Self::Row) -> Option<&str>;

    /// Inserts new rows (with their fresh ids) in one statement.
    fn insert<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        rows: &[(Uuid, Self::Row)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<()>> + Send;

    /// Writes a row over the record `id` with the same e-mail; empty cells
    /// keep what the record has.
    fn update<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        id: Uuid,
        row: &Self::Row,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<()>> + Send;

    /// The CSV lines of the page of records after `after`, oldest first,
    /// and where the next page starts.
    fn export_page<S: Scoped>(
        tx: &mut S,
        after: Option<Cursor>,
        limit: i64,
    ) -> impl Future<Output = ApiResult<(String, Option<Cursor>)>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    Skip,
    Update,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RowError {
    /// 1-based line of the data row (the header is row 0).
    pub row: u64,
    pub field: String,
    pub message: String,
}

/// How a column of the file was read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnUse {
    /// The header as the file names it.
    pub header: String,
    /// The field it fills; `null`: ignored.
    pub field: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    /// The file's columns, in order, and what each fills.
    pub columns: Vec<ColumnUse>,
    pub imported: u64,
    pub updated: u64,
    pub skipped: u64,
    pub errors: Vec<RowError>,
    /// Rows with errors beyond the first 1000 reported.
    pub more_errors: u64,
    pub dry_run: bool,
}

impl ImportReport {
    fn error(&mut self, row: u64, field: &str, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(RowError {
                row,
                field: field.to_owned(),
                message: message.into(),
            });
        } else {
            self.more_errors += 1;
        }
    }
}

/// One data row being validated: its cells by column, and where its errors
/// go. A row with any error is skipped whole.
pub struct RowCheck<'a> {
    columns: &'static [&'static str],
    values: &'a [String],
    map: &'a [Option<usize>],
    row: u64,
    report: &'a mut ImportReport,
    ok: bool,
}

impl RowCheck<'_> {
    /// Records an error on `column` and fails the row.
    pub fn fail(&mut self, column: usize, message: impl Into<String>) {
        self.report.error(self.row, self.columns[column], message);
        self.ok = false;
    }

    /// Whether the row has no error so far.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// The trimmed cell of `column`; `None` when absent or blank, or (with
    /// an error) longer than `max` characters or holding NUL.
    pub fn text(&mut self, column: usize, max: usize) -> Option<String> {
        let value = self.map[column]
            .and_then(|i| self.values.get(i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())?;
        if value.chars().count() > max || value.contains('\0') {
            self.fail(
                column,
                format!("must be at most {max} characters, without NUL"),
            );
            return None;
        }
        Some(value.to_owned())
    }

    /// A cell that must be there.
    pub fn required(&mut self, column: usize, max: usize) -> Option<String> {
        let ok = self.ok;
        let value = self.text(column, max);
        if value.is_none() && self.ok == ok {
            self.fail(column, "is required");
        }
        value
    }

    /// An e-mail address, stored lowercased.
    pub fn email(&mut self, column: usize) -> Option<String> {
        match Email::parse(&self.text(column, 254)?) {
            Ok(e) => Some(e.as_str().to_owned()),
            Err(m) => {
                self.fail(column, m);
                None
            }
        }
    }
}

/// The import as it goes: the header mapping, the pending batch and the
/// report. Its memory does not grow with the file: duplicates are found
/// in the database, which already holds the earlier batches.
pub struct Import<K: Kind> {
    kind: K,
    on_duplicate: OnDuplicate,
    map: Option<Vec<Option<usize>>>,
    batch: Vec<(u64, K::Row)>,
    report: ImportReport,
    row: u64,
}

impl<K: Kind> Import<K> {
    pub fn new(kind: K, on_duplicate: OnDuplicate, dry_run: bool) -> Import<K> {
        Import {
            kind,
            on_duplicate,
            map: None,
            batch: Vec::new(),
            report: ImportReport {
                dry_run,
                ..Default::default()
            },
            row: 0,
        }
    }

    /// Reads a whole spooled file into the tenant's table and reports.
    pub async fn run(
        mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        mut file: tokio::fs::File,
        now: DateTime<Utc>,
    ) -> ApiResult<ImportReport> {
        let mut csv = CsvStream::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| ApiError::internal(format!("reading a spooled import: {e}")))?;
            total += n;
            for record in csv.feed(&buf[..n])? {
                self.record(tx, user, record, now).await?;
            }
            if n == 0 {
                break;
            }
        }
        if total == 0 {
            return Err(ApiError::field("file", "is empty"));
        }
        self.flush(tx, user, now).await?;
        Ok(self.report)
    }

    /// Takes one parsed record (the first is the header).
    async fn record(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        values: Vec<String>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let Some(map) = &self.map else {
            let mut map = vec![None; K::COLUMNS.len()];
            for (i, header) in values.iter().enumerate() {
                let column = K::column(&header_key(header)).filter(|c| map[*c].is_none());
                if let Some(c) = column {
                    map[c] = Some(i);
                }
                self.report.columns.push(ColumnUse {
                    header: header.clone(),
                    field: column.map(|c| K::COLUMNS[c].to_owned()),
                });
            }
            if map[0].is_none() {
                return Err(ApiError::field(
                    "file",
                    format!(
                        "the first row must name the columns, with a {} column",
                        K::COLUMNS[0]
                    ),
                ));
            }
            self.map = Some(map);
            return Ok(());
        };
        self.row += 1;
        if values.iter().all(|v| v.trim().is_empty()) {
            return Ok(());
        }
        let mut check = RowCheck {
            columns: K::COLUMNS,
            values: &values,
            map,
            row: self.row,
            report: &mut self.report,
            ok: true,
        };
        let row = K::validate(&mut check);
        if let (Some(row), true) = (row, check.ok) {
            self.batch.push((self.row, row));
            if self.batch.len() >= BATCH {
                self.flush(tx, user, now).await?;
            }
        }
        Ok(())
    }

    /// Writes the pending batch, in file order: a row whose e-mail the
    /// tenant already has (an earlier row of this file included) is
    /// skipped, or with `update` written over that record.
    async fn flush(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let mut emails: Vec<String> = batch
            .iter()
            .filter_map(|(_, r)| K::email(r).map(str::to_owned))
            .collect();
        emails.sort_unstable();
        emails.dedup();
        let mut existing = existing_emails(tx, K::TABLE, emails).await?;
        let mut inserts: Vec<(Uuid, K::Row)> = Vec::with_capacity(batch.len());
        for (_, row) in batch {
            let Some(email) = K::email(&row) else {
                inserts.push((Uuid::now_v7(), row));
                continue;
            };
            match existing.get(email) {
                Some(Holder::Stored(id)) => match self.on_duplicate {
                    OnDuplicate::Skip => self.report.skipped += 1,
                    OnDuplicate::Update => {
                        let id = *id;
                        self.kind.update(tx, user, id, &row, now).await?;
                        self.report.updated += 1;
                    }
                },
                Some(Holder::Pending(i)) => match self.on_duplicate {
                    OnDuplicate::Skip => self.report.skipped += 1,
                    OnDuplicate::Update => {
                        inserts[*i].1 = row;
                        self.report.updated += 1;
                    }
                },
                None => {
                    existing.insert(email.to_owned(), Holder::Pending(inserts.len()));
                    inserts.push((Uuid::now_v7(), row));
                }
            }
        }
        self.kind.insert(tx, user, &inserts, now).await?;
        self.report.imported += inserts.len() as u64;
        Ok(())
    }
}

/// Imports a spooled file of `K` into the tenant of `tx`, as one
/// transaction: committed, or rolled back after a dry run (or an error).
pub async fn import<K: Kind + Default>(
    mut tx: crate::store::TenantTx,
    user: &SessionUser,
    on_duplicate: OnDuplicate,
    dry_run: bool,
    file: tokio::fs::File,
    now: DateTime<Utc>,
) -> ApiResult<ImportReport> {
    tx.plan_each_time().await?;
    let report = Import::new(K::default(), on_duplicate, dry_run)
        .run(&mut tx, user, file, now)
        .await?;
    if !dry_run {
        tx.commit().await?;
    }
    Ok(report)
}

/// Who holds an e-mail: a stored record, or a row of this batch.
enum Holder {
    Stored(Uuid),
    Pending(usize),
}

struct EmailRow(String, Uuid);

impl FromRow for EmailRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(EmailRow(r.get("email")?, r.get("id")?))
    }
}

/// Records of `table` in this tenant that already have one of `emails`
/// (the oldest one per e-mail).
async fn existing_emails(
    tx: &mut impl Scoped,
    table: &str,
    emails: Vec<String>,
) -> ApiResult<HashMap<String, Holder>> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    // E-mails are stored lowercased, so a plain (leakproof) comparison
    // serves, with the (tenant_id, email) index.
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            format!("SELECT email, id FROM {table} WHERE tenant_id = $1 AND email = ANY($2)")
        }
        Dialect::Sqlite => format!(
            "SELECT email, id FROM {table} WHERE tenant_id = $1
               AND email IN (SELECT value FROM json_each($2))"
        ),
    };
    let rows: Vec<EmailRow> = tx.query(&sql, &[&TextList(emails)]).await?;
    // No ORDER BY: it tempts the planner into walking the primary key.
    // The oldest record of an e-mail is the one with the smallest id.
    let mut out: HashMap<String, Holder> = HashMap::new();
    for EmailRow(email, id) in rows {
        let oldest = out.entry(email).or_insert(Holder::Stored(id));
        if let Holder::Stored(o) = oldest {
            if id < *o {
                *o = id;
            }
        }
    }
    Ok(out)
}

/// One multi-row INSERT: `prefix` names the columns, `fixed` are bound as
/// $2.. for every row, `per_row` binds each row's values after them.
async fn insert_rows<'a, T>(
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

/// Before every real time, and written the same way by both databases.
fn first_cursor() -> Cursor {
    let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    (start, Uuid::nil())
}

/// The whole export of `K` as a stream of CSV chunks (header first), one
/// page per chunk, read inside `tx`, which it commits at the end.
pub fn export_stream<K: Kind>(
    tx: crate::store::TenantTx,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(Some((tx, None, true)), |state| async move {
        let (mut tx, after, first) = state?;
        let mut chunk = String::new();
        if first {
            chunk.push_str(&csv_line(K::COLUMNS));
        }
        match K::export_page(&mut tx, after, EXPORT_PAGE).await {
            Ok((text, next)) => {
                chunk.push_str(&text);
                let state = match next {
                    Some(n) => Some((tx, Some(n), false)),
                    None => {
                        let _ = tx.commit().await;
                        None
                    }
                };
                Some((Ok(axum::body::Bytes::from(chunk)), state))
            }
            Err(e) => Some((Err(std::io::Error::other(e.message)), None)),
        }
    })
}
