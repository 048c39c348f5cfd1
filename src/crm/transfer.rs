//! CSV import and export of contacts. Imports read the body as a stream
//! (csv-core, no whole-file buffer), map headers by their common names,
//! validate row by row (a bad row is reported and skipped, never half
//! written), settle duplicates by e-mail within the tenant, and insert in
//! batches inside the request's transaction. Exports stream the same
//! columns back, so an export imports unchanged.

use super::contacts;
use crate::auth::SessionUser;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Bind, DbResult, Dialect, FromRow, One, Row, Scoped, TextList};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// An import's body may be this large.
pub const IMPORT_LIMIT: usize = 50 * 1024 * 1024;
/// Rows validated and written together.
const BATCH: usize = 500;
/// Row errors reported in detail; more are counted.
const MAX_ERRORS: usize = 1000;

/// The columns of a contact file, in export order.
pub const CONTACT_COLUMNS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "tags",
    "source",
];

/// Which column a header names, by its common spellings ("First Name",
/// "first_name", "E-mail"…): letters and digits only, lowercased.
fn contact_column(header: &str) -> Option<usize> {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let column = match key.as_str() {
        "firstname" | "givenname" | "first" | "forename" => "first_name",
        "lastname" | "surname" | "familyname" | "last" => "last_name",
        "email" | "emailaddress" | "mail" | "emails" => "email",
        "phone" | "phonenumber" | "telephone" | "tel" | "mobile" | "mobilephone" => "phone",
        "title" | "jobtitle" | "position" | "role" => "title",
        "company" | "companyname" | "organization" | "organisation" | "account" => "company",
        "tags" | "tag" | "labels" => "tags",
        "source" | "leadsource" | "origin" => "source",
        _ => return None,
    };
    CONTACT_COLUMNS.iter().position(|c| *c == column)
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

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
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

/// A row that passed validation.
struct ContactRow {
    first_name: String,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    company: Option<String>,
    tags: Vec<String>,
    source: Option<String>,
}

fn field(values: &[String], map: &[Option<usize>; 8], column: usize) -> Option<String> {
    map[column]
        .and_then(|i| values.get(i))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn validate_row(
    values: &[String],
    map: &[Option<usize>; 8],
    row: u64,
    report: &mut ImportReport,
) -> Option<ContactRow> {
    let mut ok = true;
    let mut limit = |name: &str, v: Option<String>, max: usize, report: &mut ImportReport| match v {
        Some(s) if s.chars().count() > max || s.contains('\0') => {
            report.error(
                row,
                name,
                format!("must be at most {max} characters, without NUL"),
            );
            ok = false;
            None
        }
        other => other,
    };
    let first_name = limit("first_name", field(values, map, 0), 100, report);
    let last_name = limit("last_name", field(values, map, 1), 100, report);
    let email = limit("email", field(values, map, 2), 254, report);
    let phone = limit("phone", field(values, map, 3), 50, report);
    let title = limit("title", field(values, map, 4), 100, report);
    let company = limit("company", field(values, map, 5), 255, report);
    let tags_text = limit("tags", field(values, map, 6), 2600, report);
    let source = limit("source", field(values, map, 7), 100, report);
    if first_name.is_none() && ok {
        report.error(row, "first_name", "is required");
        ok = false;
    }
    let email = match email.map(|e| Email::parse(&e)) {
        Some(Ok(e)) => Some(e.as_str().to_owned()),
        Some(Err(m)) => {
            report.error(row, "email", m);
            ok = false;
            None
        }
        None => None,
    };
    let mut tags: Vec<String> = Vec::new();
    for t in tags_text.iter().flat_map(|t| t.split(';')) {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 50 {
            report.error(row, "tags", "each tag must have at most 50 characters");
            ok = false;
        } else if !tags.iter().any(|x| x == t) {
            tags.push(t.to_owned());
        }
    }
    if tags.len() > 50 {
        report.error(row, "tags", "at most 50 tags");
        ok = false;
    }
    if !ok {
        return None;
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

/// The import as it goes: the header mapping, the pending batch, the
/// e-mails seen in this file, the companies looked up.
pub struct ContactImport {
    on_duplicate: OnDuplicate,
    map: Option<[Option<usize>; 8]>,
    batch: Vec<(u64, ContactRow)>,
    seen: HashSet<String>,
    companies: HashMap<String, Uuid>,
    pub report: ImportReport,
    row: u64,
}

impl ContactImport {
    pub fn new(on_duplicate: OnDuplicate, dry_run: bool) -> ContactImport {
        ContactImport {
            on_duplicate,
            map: None,
            batch: Vec::new(),
            seen: HashSet::new(),
            companies: HashMap::new(),
            report: ImportReport {
                dry_run,
                ..Default::default()
            },
            row: 0,
        }
    }

    /// Takes one parsed record (the first is the header).
    pub async fn record(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        values: Vec<String>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let Some(map) = self.map else {
            let mut map = [None; 8];
            for (i, header) in values.iter().enumerate() {
                if let Some(c) = contact_column(header) {
                    map[c].get_or_insert(i);
                }
            }
            if map[0].is_none() {
                return Err(ApiError::field(
                    "file",
                    "the first row must name the columns, with a first name column (First Name, first_name…)",
                ));
            }
            self.map = Some(map);
            return Ok(());
        };
        self.row += 1;
        if values.iter().all(|v| v.trim().is_empty()) {
            return Ok(());
        }
        if let Some(row) = validate_row(&values, &map, self.row, &mut self.report) {
            self.batch.push((self.row, row));
            if self.batch.len() >= BATCH {
                self.flush(tx, user, now).await?;
            }
        }
        Ok(())
    }

    /// Writes the pending batch.
    pub async fn flush(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let emails: Vec<String> = batch
            .iter()
            .filter_map(|(_, r)| r.email.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let existing = existing_emails(tx, &emails).await?;
        let mut inserts: Vec<(Uuid, ContactRow, Option<Uuid>)> = Vec::new();
        for (_, c) in batch {
            if let Some(email) = &c.email {
                let again_in_file = !self.seen.insert(email.clone());
                if again_in_file {
                    self.report.skipped += 1;
                    continue;
                }
                if let Some(id) = existing.get(email) {
                    match self.on_duplicate {
                        OnDuplicate::Skip => self.report.skipped += 1,
                        OnDuplicate::Update => {
                            let company =
                                self.company_id(tx, user, c.company.as_deref(), now).await?;
                            update_existing(tx, *id, &c, company, now).await?;
                            self.report.updated += 1;
                        }
                    }
                    continue;
                }
            }
            let company = self.company_id(tx, user, c.company.as_deref(), now).await?;
            inserts.push((Uuid::now_v7(), c, company));
        }
        insert_many(tx, user, &inserts, now).await?;
        self.report.imported += inserts.len() as u64;
        Ok(())
    }

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
        self.companies.insert(key, id);
        Ok(Some(id))
    }
}

struct EmailRow(String, Uuid);

impl FromRow for EmailRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(EmailRow(r.get("email")?, r.get("id")?))
    }
}

/// Contacts of this tenant that already have one of `emails` (the oldest
/// one per e-mail).
async fn existing_emails(
    tx: &mut impl Scoped,
    emails: &[String],
) -> ApiResult<HashMap<String, Uuid>> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    // E-mails are stored lowercased, so a plain (leakproof) comparison
    // serves, with the (tenant_id, email) index.
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            "SELECT email, id FROM contacts WHERE tenant_id = $1 AND email = ANY($2)"
        }
        Dialect::Sqlite => {
            "SELECT email, id FROM contacts WHERE tenant_id = $1
               AND email IN (SELECT value FROM json_each($2))"
        }
    };
    let rows: Vec<EmailRow> = tx.query(sql, &[&TextList(emails.to_vec())]).await?;
    // No ORDER BY: it tempts the planner into walking the primary key.
    // The oldest contact of an e-mail is the one with the smallest id.
    let mut out: HashMap<String, Uuid> = HashMap::new();
    for EmailRow(email, id) in rows {
        let oldest = out.entry(email).or_insert(id);
        if id < *oldest {
            *oldest = id;
        }
    }
    Ok(out)
}

async fn update_existing(
    tx: &mut impl Scoped,
    id: Uuid,
    c: &ContactRow,
    company: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
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

/// One multi-row INSERT for the batch.
async fn insert_many(
    tx: &mut impl Scoped,
    user: &SessionUser,
    rows: &[(Uuid, ContactRow, Option<Uuid>)],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    const COLS: usize = 10;
    let tags: Vec<serde_json::Value> = rows
        .iter()
        .map(|(_, c, _)| serde_json::json!(c.tags))
        .collect();
    let mut values = Vec::with_capacity(rows.len());
    let mut binds: Vec<&dyn Bind> = Vec::with_capacity(rows.len() * COLS + 2);
    binds.push(&user.id.0);
    binds.push(&now);
    for (i, (id, c, company)) in rows.iter().enumerate() {
        let base = 4 + i * COLS;
        let p: Vec<String> = (0..COLS).map(|k| format!("${}", base + k)).collect();
        values.push(format!("($1, {}, $2, $3, $3)", p.join(", ")));
        binds.push(id);
        binds.push(&c.first_name);
        binds.push(&c.last_name);
        binds.push(&c.email);
        binds.push(&c.phone);
        binds.push(&c.title);
        binds.push(company);
        binds.push(&tags[i]);
        binds.push(&c.source);
        binds.push(&user.id.0);
    }
    let sql = format!(
        "INSERT INTO contacts (tenant_id, id, first_name, last_name, email, phone, title, company_id, tags,
                               source, created_by, owner_id, created_at, updated_at) VALUES {}",
        values.join(", ")
    );
    tx.execute(&sql, &binds).await?;
    Ok(())
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

/// The CSV of one page of contacts (with company names), for export.
pub async fn contacts_page(
    tx: &mut impl Scoped,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<(String, Option<(DateTime<Utc>, Uuid)>)> {
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
    // Before every real time, and written the same way by both databases.
    let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (t, i) = after.unwrap_or((start, Uuid::nil()));
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
    let mut last = None;
    for r in &rows {
        let c = &r.contact;
        let tags = c.tags.join(";");
        out.push_str(&csv_line(&[
            &c.first_name,
            c.last_name.as_deref().unwrap_or(""),
            c.email.as_deref().unwrap_or(""),
            c.phone.as_deref().unwrap_or(""),
            c.title.as_deref().unwrap_or(""),
            r.company.as_deref().unwrap_or(""),
            &tags,
            c.source.as_deref().unwrap_or(""),
        ]));
        last = Some((c.created_at, c.id));
    }
    let more = rows.len() as i64 == limit;
    Ok((out, if more { last } else { None }))
}
