//! The contacts of a CSV file: their columns, checks, writes and export.

use super::csv::csv_line;
use super::{first_cursor, insert_rows, Cursor, Kind, RowCheck};
use crate::auth::SessionUser;
use crate::crm::contacts;
use crate::error::ApiResult;
use crate::store::{Bind, DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// Company names remembered by a contact import before the memory is reset.
const COMPANY_CACHE: usize = 10_000;

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
