//! The leads of a CSV file: their columns, checks, writes and export.

use super::csv::csv_line;
use super::{first_cursor, insert_rows, Cursor, Kind, RowCheck};
use crate::auth::SessionUser;
use crate::crm::leads::LeadStatus;
use crate::error::ApiResult;
use crate::store::{Bind, DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use uuid::Uuid;

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
