//! The contacts of a CSV file: their columns, checks, writes and export.

use super::csv::csv_line;
use super::{first_cursor, Cursor, Kind, RowCheck};
use crate::auth::{RecordAccess, RecordType, SessionUser};
use crate::crm::companies::{self, CompanyInput};
use crate::crm::contacts::{self, ContactInput};
use crate::crm::{query_within, Validated};
use crate::error::ApiResult;
use crate::store::{DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// Company names remembered by a contact import before the memory is reset.
const COMPANY_CACHE: usize = 10_000;

/// A contact file: a company is named, and found (or made, as the API
/// makes companies) by that name.
#[derive(Default)]
pub struct Contacts {
    companies: HashMap<String, Uuid>,
}

/// A contact row whose fields passed the API's rules, and the company it
/// names.
pub struct ContactRow {
    contact: contacts::Checked,
    company: Option<String>,
}

impl Contacts {
    /// The company of that name in this tenant, made when missing.
    async fn company_id(
        &mut self,
        tx: &mut impl Scoped,
        user: &SessionUser,
        name: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<Uuid> {
        let key = name.to_lowercase();
        if let Some(id) = self.companies.get(&key) {
            return Ok(*id);
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
                companies::create(tx, user, company_input(name), now)
                    .await?
                    .id
            }
        };
        if self.companies.len() >= COMPANY_CACHE {
            self.companies.clear();
        }
        self.companies.insert(key, id);
        Ok(id)
    }
}

/// What the API is asked to make a company of that name.
fn company_input(name: &str) -> CompanyInput {
    CompanyInput {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

impl Kind for Contacts {
    const TABLE: &'static str = "contacts";
    const RECORD: RecordType = RecordType::Contacts;
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

    fn column_of(field: &str) -> &str {
        match field {
            "company_id" => "company",
            other => other,
        }
    }

    type Row = ContactRow;
    type Valid = contacts::Valid;

    fn read(c: &mut RowCheck<'_>) -> Option<ContactRow> {
        // The cells as `POST /api/contacts` would get them: an empty cell is
        // a field left out, tags are separated by `;`.
        let input = ContactInput {
            first_name: c.text(0),
            last_name: c.text(1).map(Some),
            email: c.text(2).map(Some),
            phone: c.text(3).map(Some),
            title: c.text(4).map(Some),
            tags: c.text(6).map(|t| t.split(';').map(str::to_owned).collect()),
            source: c.text(7).map(Some),
            ..Default::default()
        };
        let company = c.text(5);
        if let Some(name) = &company {
            if let Err(e) = company_input(name).check(true) {
                c.fields(&e, |_| "company");
            }
        }
        match input.check(true) {
            Ok(contact) => c.ok().then_some(ContactRow { contact, company }),
            Err(e) => {
                c.fields(&e, Self::column_of);
                None
            }
        }
    }

    fn email(row: &ContactRow) -> Option<&str> {
        row.contact.email()
    }

    async fn validate<S: Scoped>(
        &mut self,
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<ContactRow>,
        now: DateTime<Utc>,
    ) -> ApiResult<Validated<ContactRow, contacts::Valid>> {
        let mut checked = Vec::with_capacity(rows.len());
        let mut names = Vec::with_capacity(rows.len());
        for ContactRow {
            mut contact,
            company,
        } in rows
        {
            if let Some(name) = &company {
                contact.set_company(self.company_id(tx, user, name, now).await?);
            }
            checked.push(contact);
            names.push(company);
        }
        Ok(contacts::validate_many(tx, checked)
            .await?
            .map_err(|refused| {
                refused
                    .into_iter()
                    .zip(names)
                    .map(|((contact, e), company)| (ContactRow { contact, company }, e))
                    .collect()
            }))
    }

    async fn create<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, contacts::Valid)>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        contacts::create_many(tx, user, rows, now).await
    }

    async fn update<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, contacts::Valid)>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        contacts::update_many(tx, user.id, rows, now).await
    }

    async fn export_page<S: Scoped>(
        tx: &mut S,
        who: &RecordAccess,
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
        // A company the caller may not read leaves its column empty.
        let rows: Vec<ExportRow> = query_within(
            tx,
            who,
            "SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.title, c.company_id, c.tags, c.source,
                    c.owner_id, c.created_by, c.created_at, c.updated_at, c.sort_name, c.custom_fields, co.name AS company_name
               FROM contacts c
               LEFT JOIN companies co ON co.tenant_id = $1 AND co.id = c.company_id {companies}
              WHERE c.tenant_id = $1 AND (c.created_at, c.id) > ($2, $3) {contacts}
              ORDER BY c.created_at, c.id LIMIT $4",
            &[&t, &i, &limit],
            &[
                ("{contacts}", who.read_clause(RecordType::Contacts, "c")),
                ("{companies}", who.read_clause(RecordType::Companies, "co")),
            ],
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
