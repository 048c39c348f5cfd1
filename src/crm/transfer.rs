//! CSV import and export of contacts and leads. An upload is first spooled
//! to an anonymous temporary file (so a slow client never holds a
//! transaction, and memory stays flat whatever the size); the import then
//! reads it with csv-core, maps headers by their common names, validates
//! row by row (a bad row is reported and skipped, never half written),
//! settles duplicates by e-mail against what the tenant holds, rows written
//! earlier in the same file included, and inserts in batches inside one
//! transaction. Exports stream the same columns back, so an export imports
//! unchanged. What differs between contacts and leads is a [`Kind`].

use super::contacts;
use super::leads::LeadStatus;
use crate::auth::SessionUser;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Bind, DbResult, Dialect, FromRow, One, Row, Scoped, TextList};
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
/// Company names remembered by a contact import before the memory is reset.
const COMPANY_CACHE: usize = 10_000;
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

// ---------------------------------------------------------------------------
// Contacts.

/// A contact file: a company is named, and found (or made) by that name.
#[derive(Default)]
pub struct Contacts {
    companies: HashMap<String, Uuid>,
}

pub struct ContactRow {
    first_name: String,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    company: Option<String>,
    tags: Vec<String>,
    source: Option<String>,
}

impl Contacts {
    /// The company of that name in this tenant, made when missing.
    async fn company_id(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> ApiResult<Option<Uuid>> {
        let Some(name) = name else { return Ok(None) };
        let key = name.to_lowercase();
        if let Some(id) = self.companies.get(&key) {
            return Ok(Some(*id));
        }
        let found: Option<One<Uuid>> = tx
            .query_opt(
                "SELECT id FROM companies WHERE tenant_id = $1 AND sort_name = $2 ORDER BY id LIMIT 1",
                &[&key],
            )
            .await?;
        let id = match found {
            Some(One(id)) => id,
            None => {
                let id = Uuid::now_v7();
                tx.execute(
                    "INSERT INTO companies (tenant_id, id, name, owner_id, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4, $5, $5)",
                    &[&id, &name, &user.id.0, &now],
                )
                .await?;
                id
            }
        };
        if self.companies.len() >= COMPANY_CACHE {
            self.companies.clear();
        }
        self.companies.insert(key, id);
        Ok(Some(id))
    }
}

impl Kind for Contacts {
    const TABLE: &'static str = "contacts";
    const COLUMNS: &'static [&'static str] = &[
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "company",
        "tags",
        "source",
    ];

    fn column(key: &str) -> Option<usize> {
        Some(match key {
            "firstname" | "givenname" | "first" | "forename" => 0,
            "lastname" | "surname" | "familyname" | "last" => 1,
            "email" | "emailaddress" | "mail" | "emails" => 2,
            "phone" | "phonenumber" | "telephone" | "tel" | "mobile" | "mobilephone" => 3,
            "title" | "jobtitle" | "position" | "role" => 4,
            "company" | "companyname" | "organization" | "organisation" | "account" => 5,
            "tags" | "tag" | "labels" => 6,
            "source" | "leadsource" | "origin" => 7,
            _ => return None,
        })
    }

    type Row = ContactRow;

    fn validate(c: &mut RowCheck<'_>) -> Option<ContactRow> {
        let first_name = c.required(0, 100);
        let last_name = c.text(1, 100);
        let email = c.email(2);
        let phone = c.text(3, 50);
        let title = c.text(4, 100);
        let company = c.text(5, 255);
        let tags_text = c.text(6, 2600);
        let source = c.text(7, 100);
        let mut tags: Vec<String> = Vec::new();
        for t in tags_text.iter().flat_map(|t| t.split(';')) {
            let t = t.trim();
            if t.is_empty() {
                continue;
            }
            if t.chars().count() > 50 {
                c.fail(6, "each tag must have at most 50 characters");
            } else if !tags.iter().any(|x| x == t) {
                tags.push(t.to_owned());
            }
        }
        if tags.len() > 50 {
            c.fail(6, "at most 50 tags");
        }
        Some(ContactRow {
            first_name: first_name?,
            last_name,
            email,
            phone,
            title,
            company,
            tags,
            source,
        })
    }

    fn email(row: &ContactRow) -> Option<&str> {
        row.email.as_deref()
    }

    async fn insert<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        rows: &[(Uuid, ContactRow)],
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let mut prepared = Vec::with_capacity(rows.len());
        for (id, c) in rows {
            let company = self.company_id(tx, user, c.company.as_deref(), now).await?;
            prepared.push((id, c, company, serde_json::json!(c.tags)));
        }
        insert_rows(
            tx,
            "INSERT INTO contacts (tenant_id, created_by, owner_id, created_at, updated_at, id, first_name,
                                   last_name, email, phone, title, company_id, tags, source)",
            &[&user.id.0, &now],
            &prepared,
            |(id, c, company, tags), b| {
                b.extend_from_slice(&[
                    *id as &dyn Bind,
                    &c.first_name,
                    &c.last_name,
                    &c.email,
                    &c.phone,
                    &c.title,
                    company,
                    tags,
                    &c.source,
                ])
            },
            |p| format!("($1, $2, $2, $3, $3, {})", p.join(", ")),
        )
        .await
    }

    async fn update<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        id: Uuid,
        c: &ContactRow,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let company = self.company_id(tx, user, c.company.as_deref(), now).await?;
        tx.execute(
            "UPDATE contacts SET first_name = $3, last_name = COALESCE($4, last_name), phone = COALESCE($5, phone),
                    title = COALESCE($6, title), company_id = COALESCE($7, company_id),
                    tags = CASE WHEN $8 THEN $9 ELSE tags END, source = COALESCE($10, source), updated_at = $11
              WHERE tenant_id = $1 AND id = $2",
            &[
                &id,
                &c.first_name,
                &c.last_name,
                &c.phone,
                &c.title,
                &company,
                &!c.tags.is_empty(),
                &serde_json::json!(c.tags),
                &c.source,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn export_page<S: Scoped>(
        tx: &mut S,
        after: Option<Cursor>,
        limit: i64,
    ) -> ApiResult<(String, Option<Cursor>)> {
        struct ExportRow {
            contact: contacts::ContactView,
            company: Option<String>,
        }
        impl FromRow for ExportRow {
            fn from_row(r: &Row<'_>) -> DbResult<Self> {
                Ok(ExportRow {
                    contact: contacts::ContactView::from_row(r)?,
                    company: r.get("company_name")?,
                })
            }
        }
        let (t, i) = after.unwrap_or_else(first_cursor);
        let rows: Vec<ExportRow> = tx
            .query(
                "SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.title, c.company_id, c.tags, c.source,
                        c.owner_id, c.created_by, c.created_at, c.updated_at, c.sort_name, co.name AS company_name
                   FROM contacts c
                   LEFT JOIN companies co ON co.tenant_id = $1 AND co.id = c.company_id
                  WHERE c.tenant_id = $1 AND (c.created_at, c.id) > ($2, $3)
                  ORDER BY c.created_at, c.id LIMIT $4",
                &[&t, &i, &limit],
            )
            .await?;
        let mut out = String::new();
        for r in &rows {
            let c = &r.contact;
            out.push_str(&csv_line(&[
                &c.first_name,
                c.last_name.as_deref().unwrap_or(""),
                c.email.as_deref().unwrap_or(""),
                c.phone.as_deref().unwrap_or(""),
                c.title.as_deref().unwrap_or(""),
                r.company.as_deref().unwrap_or(""),
                &c.tags.join(";"),
                c.source.as_deref().unwrap_or(""),
            ]));
        }
        let next = rows.last().map(|r| (r.contact.created_at, r.contact.id));
        Ok((out, next.filter(|_| rows.len() as i64 == limit)))
    }
}

/// Before every real time, and written the same way by both databases.
fn first_cursor() -> Cursor {
    let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    (start, Uuid::nil())
}

// ---------------------------------------------------------------------------
// Leads.

/// A lead file. `status` may be any status, `converted` included (a lead
/// converted in another CRM stays converted here, with no contact linked).
#[derive(Default)]
pub struct Leads;

pub struct LeadRow {
    first_name: String,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
    source: Option<String>,
    status: Option<LeadStatus>,
    estimated_value: Option<i64>,
    currency: Option<String>,
}

impl Kind for Leads {
    const TABLE: &'static str = "leads";
    const COLUMNS: &'static [&'static str] = &[
        "first_name",
        "last_name",
        "email",
        "phone",
        "company_name",
        "source",
        "status",
        "estimated_value",
        "currency",
    ];

    fn column(key: &str) -> Option<usize> {
        Some(match key {
            "firstname" | "givenname" | "first" | "forename" => 0,
            "lastname" | "surname" | "familyname" | "last" => 1,
            "email" | "emailaddress" | "mail" | "emails" => 2,
            "phone" | "phonenumber" | "telephone" | "tel" | "mobile" | "mobilephone" => 3,
            "companyname" | "company" | "organization" | "organisation" | "account" => 4,
            "source" | "leadsource" | "origin" => 5,
            "status" | "leadstatus" | "stage" => 6,
            "estimatedvalue" | "value" | "amount" | "dealvalue" => 7,
            "currency" | "currencycode" => 8,
            _ => return None,
        })
    }

    type Row = LeadRow;

    fn validate(c: &mut RowCheck<'_>) -> Option<LeadRow> {
        let first_name = c.required(0, 100);
        let last_name = c.text(1, 100);
        let email = c.email(2);
        let phone = c.text(3, 50);
        let company_name = c.text(4, 255);
        let source = c.text(5, 100);
        let status = c.text(6, 20).and_then(|s| {
            let parsed = s.to_ascii_lowercase().parse::<LeadStatus>().ok();
            if parsed.is_none() {
                c.fail(
                    6,
                    "must be new, contacted, qualified, unqualified or converted",
                );
            }
            parsed
        });
        let estimated_value = c.text(7, 19).and_then(|v| match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                c.fail(
                    7,
                    "must be a whole number of minor units (cents), 0 or more",
                );
                None
            }
        });
        let currency = c.text(8, 3).and_then(|v| {
            let v = v.to_ascii_uppercase();
            if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
                Some(v)
            } else {
                c.fail(8, "must be a three-letter ISO 4217 code such as USD");
                None
            }
        });
        Some(LeadRow {
            first_name: first_name?,
            last_name,
            email,
            phone,
            company_name,
            source,
            status,
            estimated_value,
            currency,
        })
    }

    fn email(row: &LeadRow) -> Option<&str> {
        row.email.as_deref()
    }

    async fn insert<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        rows: &[(Uuid, LeadRow)],
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let prepared: Vec<_> = rows
            .iter()
            .map(|(id, l)| {
                let status = l.status.unwrap_or(LeadStatus::New);
                let converted_at = (status == LeadStatus::Converted).then_some(now);
                let currency = l.currency.clone().unwrap_or_else(|| "USD".into());
                (id, l, status, converted_at, currency)
            })
            .collect();
        insert_rows(
            tx,
            "INSERT INTO leads (tenant_id, created_by, owner_id, created_at, updated_at, id, first_name,
                                last_name, email, phone, company_name, source, status, estimated_value,
                                currency, converted_at)",
            &[&user.id.0, &now],
            &prepared,
            |(id, l, status, converted_at, currency), b| {
                b.extend_from_slice(&[
                    *id as &dyn Bind,
                    &l.first_name,
                    &l.last_name,
                    &l.email,
                    &l.phone,
                    &l.company_name,
                    &l.source,
                    status,
                    &l.estimated_value,
                    currency,
                    converted_at,
                ])
            },
            |p| format!("($1, $2, $2, $3, $3, {})", p.join(", ")),
        )
        .await
    }

    async fn update<S: Scoped>(
        &mut self,
        tx: &mut S,
        _user: &SessionUser,
        id: Uuid,
        l: &LeadRow,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        // A converted lead keeps its status; one marked converted by the
        // file gets its conversion time.
        tx.execute(
            "UPDATE leads SET first_name = $3, last_name = COALESCE($4, last_name), phone = COALESCE($5, phone),
                    company_name = COALESCE($6, company_name), source = COALESCE($7, source),
                    status = CASE WHEN status = 'converted' THEN status ELSE COALESCE($8, status) END,
                    converted_at = CASE WHEN $8 = 'converted' THEN COALESCE(converted_at, $11) ELSE converted_at END,
                    estimated_value = COALESCE($9, estimated_value), currency = COALESCE($10, currency),
                    updated_at = $11
              WHERE tenant_id = $1 AND id = $2",
            &[
                &id,
                &l.first_name,
                &l.last_name,
                &l.phone,
                &l.company_name,
                &l.source,
                &l.status,
                &l.estimated_value,
                &l.currency,
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn export_page<S: Scoped>(
        tx: &mut S,
        after: Option<Cursor>,
        limit: i64,
    ) -> ApiResult<(String, Option<Cursor>)> {
        struct ExportRow {
            id: Uuid,
            created_at: DateTime<Utc>,
            line: String,
        }
        impl FromRow for ExportRow {
            fn from_row(r: &Row<'_>) -> DbResult<Self> {
                let text = |name: &str| -> DbResult<String> {
                    Ok(r.get::<Option<String>>(name)?.unwrap_or_default())
                };
                let value: Option<i64> = r.get("estimated_value")?;
                let status: LeadStatus = r.get("status")?;
                Ok(ExportRow {
                    id: r.get("id")?,
                    created_at: r.get("created_at")?,
                    line: csv_line(&[
                        &text("first_name")?,
                        &text("last_name")?,
                        &text("email")?,
                        &text("phone")?,
                        &text("company_name")?,
                        &text("source")?,
                        status.as_str(),
                        &value.map(|v| v.to_string()).unwrap_or_default(),
                        &text("currency")?,
                    ]),
                })
            }
        }
        let (t, i) = after.unwrap_or_else(first_cursor);
        let rows: Vec<ExportRow> = tx
            .query(
                "SELECT id, first_name, last_name, email, phone, company_name, source, status, estimated_value,
                        currency, created_at
                   FROM leads
                  WHERE tenant_id = $1 AND (created_at, id) > ($2, $3)
                  ORDER BY created_at, id LIMIT $4",
                &[&t, &i, &limit],
            )
            .await?;
        let out: String = rows.iter().map(|r| r.line.as_str()).collect();
        let next = rows.last().map(|r| (r.created_at, r.id));
        Ok((out, next.filter(|_| rows.len() as i64 == limit)))
    }
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

/// Splits a byte stream into CSV records as it arrives.
pub struct CsvStream {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
}

impl Default for CsvStream {
    fn default() -> Self {
        CsvStream {
            reader: csv_core::Reader::new(),
            output: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            ends_len: 0,
        }
    }
}

/// A CSV field too large to be a contact's.
const MAX_RECORD: usize = 64 * 1024;

impl CsvStream {
    /// Feeds `input` (empty at the end of the body); returns the records it
    /// completed.
    pub fn feed(&mut self, mut input: &[u8]) -> ApiResult<Vec<Vec<String>>> {
        let end = input.is_empty();
        let mut records = Vec::new();
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            use csv_core::ReadRecordResult::*;
            match result {
                InputEmpty if !end => break,
                InputEmpty => continue,
                OutputFull => {
                    if self.output.len() >= MAX_RECORD {
                        return Err(ApiError::new(
                            ErrorCode::ValidationFailed,
                            "a row of the file is longer than 64 KiB",
                        ));
                    }
                    let n = self.output.len() * 2;
                    self.output.resize(n, 0);
                }
                OutputEndsFull => {
                    if self.ends.len() >= 1024 {
                        return Err(ApiError::new(
                            ErrorCode::ValidationFailed,
                            "a row has more than 1024 columns",
                        ));
                    }
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                Record => {
                    let mut fields = Vec::with_capacity(self.ends_len);
                    let mut start = 0;
                    for &e in &self.ends[..self.ends_len] {
                        fields.push(String::from_utf8_lossy(&self.output[start..e]).into_owned());
                        start = e;
                    }
                    records.push(fields);
                    self.out_len = 0;
                    self.ends_len = 0;
                }
                End => break,
            }
        }
        Ok(records)
    }
}

/// One CSV line of `fields`, quoted where needed.
pub fn csv_line(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push_str("\r\n");
    line
}
