//! The leads of a CSV file: their columns, checks, writes and export.

use super::csv::csv_line;
use super::{first_cursor, Cursor, Kind, RowCheck};
use crate::auth::{RecordAccess, RecordType, SessionUser};
use crate::crm::leads::{self, LeadInput, LeadStatus, StatusRule};
use crate::crm::{query_within, Validated};
use crate::error::ApiResult;
use crate::store::{DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A lead file. `status` may be any status, `converted` included (a lead
/// converted in another CRM stays converted here, with no contact linked).
#[derive(Default)]
pub struct Leads;

impl Kind for Leads {
    const TABLE: &'static str = "leads";
    const RECORD: RecordType = RecordType::Leads;
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

    type Row = leads::Checked;
    type Valid = leads::Valid;

    fn read(c: &mut RowCheck<'_>) -> Option<leads::Checked> {
        // The cells as `POST /api/leads` would get them (an empty cell is a
        // field left out), except that a lead may come in converted.
        let status = c.text(6).and_then(|s| {
            let parsed = s.to_ascii_lowercase().parse::<LeadStatus>().ok();
            if parsed.is_none() {
                c.fail(
                    6,
                    "must be new, contacted, qualified, unqualified or converted",
                );
            }
            parsed
        });
        let estimated_value = c.text(7).and_then(|v| {
            let parsed = v.parse::<i64>().ok();
            if parsed.is_none() {
                c.fail(7, "must be a whole number of minor units (cents)");
            }
            parsed
        });
        let input = LeadInput {
            first_name: c.text(0),
            last_name: c.text(1).map(Some),
            email: c.text(2).map(Some),
            phone: c.text(3).map(Some),
            company_name: c.text(4).map(Some),
            source: c.text(5).map(Some),
            status,
            estimated_value: estimated_value.map(Some),
            currency: c.text(8),
            ..Default::default()
        };
        match input.check(true, StatusRule::Import) {
            Ok(lead) => c.ok().then_some(lead),
            Err(e) => {
                c.fields(&e, Self::column_of);
                None
            }
        }
    }

    fn email(row: &leads::Checked) -> Option<&str> {
        row.email()
    }

    async fn validate<S: Scoped>(
        &mut self,
        tx: &mut S,
        _user: &SessionUser,
        rows: Vec<leads::Checked>,
        _now: DateTime<Utc>,
    ) -> ApiResult<Validated<leads::Checked, leads::Valid>> {
        leads::validate_many(tx, rows).await
    }

    async fn create<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, leads::Valid)>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        leads::create_many(tx, user, rows, now).await
    }

    async fn update<S: Scoped>(
        tx: &mut S,
        user: &SessionUser,
        rows: Vec<(Uuid, leads::Valid)>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        leads::update_many(tx, user.id, rows, now).await
    }

    async fn export_page<S: Scoped>(
        tx: &mut S,
        who: &RecordAccess,
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
        let rows: Vec<ExportRow> = query_within(
            tx,
            who,
            "SELECT l.id, l.first_name, l.last_name, l.email, l.phone, l.company_name, l.source, l.status,
                    l.estimated_value, l.currency, l.created_at
               FROM leads l
              WHERE l.tenant_id = $1 AND (l.created_at, l.id) > ($2, $3) {leads}
              ORDER BY l.created_at, l.id LIMIT $4",
            &[&t, &i, &limit],
            &[("{leads}", who.read_clause(RecordType::Leads, "l"))],
        )
        .await?;
        let out: String = rows.iter().map(|r| r.line.as_str()).collect();
        let next = rows.last().map(|r| (r.created_at, r.id));
        Ok((out, next.filter(|_| rows.len() as i64 == limit)))
    }
}
