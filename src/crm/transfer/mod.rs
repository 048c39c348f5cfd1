//! CSV import and export of contacts and leads. An upload is first spooled
//! to an anonymous temporary file (so a slow client never holds a
//! transaction, and memory stays flat whatever the size); the import then
//! reads it with csv-core (`csv.rs`), maps headers by their common names,
//! turns each row into the API's own input and checks it by the API's own
//! rules (a bad row is reported and skipped, never half written), settles
//! duplicates by e-mail against what the tenant holds, rows written earlier
//! in the same file included, and writes in batches inside one transaction
//! through the same service functions as the API (`create_many` and
//! `update_many` of [`crate::crm::contacts`] and [`crate::crm::leads`]), so
//! an update lands on the record's timeline as a PATCH does. Exports stream
//! the same columns back, so an export imports unchanged. What differs
//! between contacts and leads is a [`Kind`] (`contacts.rs`, `leads.rs`).

mod contacts;
mod csv;
mod leads;

pub use self::contacts::Contacts;
pub use self::csv::{csv_line, CsvStream};
pub use self::leads::Leads;

use crate::auth::{RecordAccess, RecordType, SessionUser};
use crate::crm::Validated;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::limits::HeavyLease;
use crate::store::{DbResult, Dialect, FromRow, Row, Scoped, TextList};
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

/// What a CSV import and export of one record type needs to know. A row
/// becomes the API's own input, checked by the API's own rules, and is
/// written by the same service functions as the API's requests.
pub trait Kind: Send {
    /// The table, also the export's file name.
    const TABLE: &'static str;
    /// Its record type, for the caller's permissions.
    const RECORD: RecordType;
    /// The columns of a file, in export order. The first is required.
    const COLUMNS: &'static [&'static str];
    /// What a header names, by its common spellings, as an index of
    /// `COLUMNS`.
    fn column(key: &str) -> Option<usize>;
    /// The column of the file an error on the API's `field` names.
    fn column_of(field: &str) -> &str {
        field
    }

    /// A row whose fields passed the API's rules.
    type Row: Send + Sync;
    /// A row that passed every rule of the API, references included.
    type Valid: Send + Sync;

    /// Reads a data row into the API's input and checks its fields as the
    /// API does; `None` when it has errors (they are reported).
    fn read(check: &mut RowCheck<'_>) -> Option<Self::Row>;
    /// The e-mail of a row (lowercased), by which duplicates are found.
    fn email(row: &Self::Row) -> Option<&str>;

    /// Checks the references of rows about to be written, as the API does.
    /// All valid: the rows to write; otherwise each row back with its
    /// errors (empty for the good ones).
    fn validate<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<Self::Row>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<Validated<Self::Row, Self::Valid>>> + Send;

    /// Creates records with these ids, as the API's create does.
    fn create<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, Self::Valid)>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<()>> + Send;

    /// Changes the records of these ids, in order, as the API's update
    /// does (empty cells leave a field), each change on the record's
    /// timeline.
    fn update<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, Self::Valid)>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<()>> + Send;

    /// The CSV lines of the page of records after `after`, oldest first,
    /// and where the next page starts.
    fn export_page<S: Scoped>(
        tx: &mut S,
        who: &RecordAccess,
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

/// One data row being read: its cells by column, and its errors. A row
/// with any error is skipped whole.
pub struct RowCheck<'a> {
    columns: &'static [&'static str],
    values: &'a [String],
    map: &'a [Option<usize>],
    /// (column index, field, message); the index orders a row's errors.
    errors: Vec<(usize, String, String)>,
}

impl RowCheck<'_> {
    /// Records an error on `column` and fails the row.
    pub fn fail(&mut self, column: usize, message: impl Into<String>) {
        self.errors
            .push((column, self.columns[column].to_owned(), message.into()));
    }

    /// Records the API's errors, each on the column `column_of` names for
    /// its field (unless that column failed already, as a cell).
    pub fn fields<'f>(&mut self, errors: &'f FieldErrors, column_of: impl Fn(&'f str) -> &'f str) {
        for (field, message) in errors.iter() {
            let name = column_of(field);
            let column = self
                .columns
                .iter()
                .position(|c| *c == name)
                .unwrap_or(usize::MAX);
            if column == usize::MAX || !self.errors.iter().any(|e| e.0 == column) {
                self.errors
                    .push((column, name.to_owned(), message.to_owned()));
            }
        }
    }

    /// Whether the row has no error so far.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The trimmed cell of `column`; `None` when absent or blank, or (with
    /// the error the API gives it in JSON) holding NUL.
    pub fn text(&mut self, column: usize) -> Option<String> {
        let value = self.map[column]
            .and_then(|i| self.values.get(i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())?;
        if value.contains('\0') {
            self.fail(column, "must not contain NUL characters");
            return None;
        }
        Some(value.to_owned())
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
    /// The plan's rows per import; `None`: unlimited.
    max_rows: Option<i64>,
}

impl<K: Kind> Import<K> {
    pub fn new(
        kind: K,
        on_duplicate: OnDuplicate,
        dry_run: bool,
        max_rows: Option<i64>,
    ) -> Import<K> {
        Import {
            kind,
            on_duplicate,
            max_rows,
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
        if let Some(max) = self.max_rows.filter(|m| self.row as i64 > *m) {
            return Err(crate::plans::limit_reached(
                crate::plans::Limit::ImportRows,
                self.row as i64,
                max,
            ));
        }
        if values.iter().all(|v| v.trim().is_empty()) {
            return Ok(());
        }
        let mut check = RowCheck {
            columns: K::COLUMNS,
            values: &values,
            map,
            errors: Vec::new(),
        };
        let row = K::read(&mut check);
        let mut errors = check.errors;
        errors.sort_by_key(|e| e.0);
        for (_, field, message) in errors {
            self.report.error(self.row, &field, message);
        }
        if let Some(row) = row {
            self.batch.push((self.row, row));
            if self.batch.len() >= BATCH {
                self.flush(tx, user, now).await?;
            }
        }
        Ok(())
    }

    /// Writes the pending batch, in file order: a row whose e-mail the
    /// tenant already has (an earlier row of this file included) is
    /// skipped, or with `update` written over that record as the API's
    /// update does; the others are created as the API creates.
    async fn flush(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.batch);
        let mut emails: Vec<String> = rows
            .iter()
            .filter_map(|(_, r)| K::email(r).map(str::to_owned))
            .collect();
        emails.sort_unstable();
        emails.dedup();
        let stored = existing_emails(tx, K::TABLE, emails).await?;
        loop {
            // Where each row goes: a new record, the record holding its
            // e-mail (stored, or made by an earlier row), or nowhere.
            let mut made: HashMap<String, Uuid> = HashMap::new();
            let mut skipped = Vec::new();
            let mut numbers = Vec::with_capacity(rows.len());
            let mut targets = Vec::with_capacity(rows.len());
            let mut written = Vec::with_capacity(rows.len());
            for (n, row) in rows {
                let email = K::email(&row);
                let holder = email.and_then(|e| stored.get(e).or_else(|| made.get(e)).copied());
                let target = match (holder, self.on_duplicate) {
                    (Some(_), OnDuplicate::Skip) => {
                        skipped.push((n, row));
                        continue;
                    }
                    (Some(id), OnDuplicate::Update) => Target::Update(id),
                    (None, _) => {
                        let id = Uuid::now_v7();
                        if let Some(e) = email {
                            made.insert(e.to_owned(), id);
                        }
                        Target::Create(id)
                    }
                };
                numbers.push(n);
                targets.push(target);
                written.push(row);
            }
            match self.kind.validate(tx, user, written, now).await? {
                Ok(valid) => {
                    let (mut creates, mut updates) = (Vec::new(), Vec::new());
                    for (target, row) in targets.into_iter().zip(valid) {
                        match target {
                            Target::Create(id) => creates.push((id, row)),
                            Target::Update(id) => updates.push((id, row)),
                        }
                    }
                    self.report.imported += creates.len() as u64;
                    self.report.updated += updates.len() as u64;
                    self.report.skipped += skipped.len() as u64;
                    K::create(tx, user, creates, now).await?;
                    K::update(tx, user, updates, now).await?;
                    return Ok(());
                }
                Err(refused) => {
                    // A reference the API refuses: those rows are
                    // reported, and the others settled again without them.
                    rows = skipped;
                    for (n, (row, errors)) in numbers.into_iter().zip(refused) {
                        if errors.is_empty() {
                            rows.push((n, row));
                        } else {
                            for (field, message) in errors.iter() {
                                self.report.error(n, K::column_of(field), message);
                            }
                        }
                    }
                    rows.sort_by_key(|(n, _)| *n);
                }
            }
        }
    }
}

/// Where a row of a batch goes.
enum Target {
    Create(Uuid),
    Update(Uuid),
}

/// Imports a spooled file of `K` into the tenant of `tx`, as one
/// transaction: committed, or rolled back after a dry run (or an error).
/// The caller's role must allow importing `K`; updating existing records
/// (`on_duplicate=update`) is a bulk change of records they may all edit.
/// The work runs on the heavy-work threads (`heavy`, the import's place
/// among its tenant's heavy operations).
pub async fn import<K: Kind + Default + 'static>(
    heavy: &HeavyLease,
    mut tx: crate::store::TenantTx,
    by: &SessionUser,
    on_duplicate: OnDuplicate,
    dry_run: bool,
    file: tokio::fs::File,
    now: DateTime<Utc>,
) -> ApiResult<ImportReport> {
    by.access.ensure_import(K::RECORD)?;
    if on_duplicate == OnDuplicate::Update {
        by.access.ensure_bulk(K::RECORD)?;
    }
    let user = by.clone();
    heavy
        .run(async move {
            tx.plan_each_time().await?;
            let report = Import::new(K::default(), on_duplicate, dry_run, user.import_rows_limit)
                .run(&mut tx, &user, file, now)
                .await?;
            if !dry_run {
                tx.commit().await?;
            }
            Ok(report)
        })
        .await?
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
) -> ApiResult<HashMap<String, Uuid>> {
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
    let mut out: HashMap<String, Uuid> = HashMap::new();
    for EmailRow(email, id) in rows {
        let oldest = out.entry(email).or_insert(id);
        if id < *oldest {
            *oldest = id;
        }
    }
    Ok(out)
}

/// Before every real time, and written the same way by both databases.
fn first_cursor() -> Cursor {
    let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    (start, Uuid::nil())
}

/// The whole export of `K` the caller may read, if their role may export
/// it, as CSV (header first), written page by page to
/// an anonymous temporary file inside `tx`, which ends before the file is
/// handed back: sending it to a slow or stalled client then holds no
/// pooled connection and no transaction. The file is read from the start.
/// The work runs on the heavy-work threads (`heavy`, the export's place
/// among its tenant's heavy operations).
pub async fn export_file<K: Kind + 'static>(
    heavy: &HeavyLease,
    tx: crate::store::TenantTx,
    by: &SessionUser,
) -> ApiResult<tokio::fs::File> {
    by.access.ensure_export(K::RECORD)?;
    heavy.run(write_export::<K>(tx, by.access.clone())).await?
}

async fn write_export<K: Kind>(
    mut tx: crate::store::TenantTx,
    who: RecordAccess,
) -> ApiResult<tokio::fs::File> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let spool = tempfile::tempfile().map_err(ApiError::internal)?;
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(spool));
    file.write_all(csv_line(K::COLUMNS).as_bytes())
        .await
        .map_err(ApiError::internal)?;
    let mut after = None;
    loop {
        let (text, next) = K::export_page(&mut tx, &who, after, EXPORT_PAGE).await?;
        file.write_all(text.as_bytes())
            .await
            .map_err(ApiError::internal)?;
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
        // Other heavy work on these threads takes its turn between pages.
        tokio::task::yield_now().await;
    }
    tx.commit().await?;
    file.flush().await.map_err(ApiError::internal)?;
    let mut file = file.into_inner();
    file.rewind().await.map_err(ApiError::internal)?;
    Ok(file)
}
