//! Leads: people who might buy, not yet contacts. Conversion turns a lead
//! into a contact (and its company, and a deal when asked) in one
//! transaction, and marks it converted.

use super::companies::{self, CompanyInput, CompanyView};
use super::contacts::{self, ContactInput, ContactView};
use super::deals::{self, DealInput, DealView};
use super::listing::{self, ListRequest, Param, Select};
use super::{check_reference, ensure_can_delete, Table};
use crate::auth::SessionUser;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `company_name` takes (validation and description).
pub(crate) const COMPANY_NAME_MAX: usize = 255;
/// The most characters `first_name` takes (validation and description).
pub(crate) const FIRST_NAME_MAX: usize = 100;
/// The most characters `last_name` takes (validation and description).
pub(crate) const LAST_NAME_MAX: usize = 100;
/// The most characters `phone` takes (validation and description).
pub(crate) const PHONE_MAX: usize = 50;
/// The most characters `source` takes (validation and description).
pub(crate) const SOURCE_MAX: usize = 100;

crate::domain::text_enum!(
    /// Where a lead stands.
    LeadStatus { New = "new", Contacted = "contacted", Qualified = "qualified", Unqualified = "unqualified", Converted = "converted" }
);

macro_rules! lead_columns {
    () => {
        "l.id, l.first_name, l.last_name, l.email, l.phone, l.company_name, l.source, l.status,
         l.estimated_value, l.currency, l.converted_at, l.converted_contact_id, l.converted_company_id,
         l.converted_deal_id, l.owner_id, l.created_by, l.created_at, l.updated_at, l.sort_name"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub source: Option<String>,
    pub status: LeadStatus,
    /// Minor units of `currency`.
    pub estimated_value: Option<i64>,
    pub currency: String,
    pub converted_at: Option<DateTime<Utc>>,
    pub converted_contact_id: Option<Uuid>,
    pub converted_company_id: Option<Uuid>,
    pub converted_deal_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for LeadView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(LeadView {
            id: r.get("id")?,
            first_name: r.get("first_name")?,
            last_name: r.get("last_name")?,
            email: r.get("email")?,
            phone: r.get("phone")?,
            company_name: r.get("company_name")?,
            source: r.get("source")?,
            status: r.get("status")?,
            estimated_value: r.get("estimated_value")?,
            currency: r.get("currency")?,
            converted_at: r.get("converted_at")?,
            converted_contact_id: r.get("converted_contact_id")?,
            converted_company_id: r.get("converted_company_id")?,
            converted_deal_id: r.get("converted_deal_id")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed!(LeadView);

/// `POST /api/leads` and `PATCH /api/leads/:id` (there every field is
/// optional, and `null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ FIRST_NAME_MAX }>)]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ LAST_NAME_MAX }>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable_email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ PHONE_MAX }>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ COMPANY_NAME_MAX }>)]
    pub company_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ SOURCE_MAX }>)]
    pub source: Option<Option<String>>,
    /// `new` (default), `contacted`, `qualified` or `unqualified`;
    /// `converted` only by conversion.
    #[schema(schema_with = crate::contract::settable_lead_status)]
    pub status: Option<LeadStatus>,
    /// Minor units, 0 or more.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::amount_or_null)]
    pub estimated_value: Option<Option<i64>>,
    /// ISO 4217; default USD.
    #[schema(schema_with = crate::contract::currency_or_null)]
    pub currency: Option<String>,
    pub owner_id: Option<Uuid>,
}

struct Changes {
    first_name: Option<String>,
    last_name: Option<Option<String>>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    company_name: Option<Option<String>>,
    source: Option<Option<String>>,
    currency: Option<String>,
}

async fn validate(tx: &mut impl Scoped, input: &LeadInput, creating: bool) -> ApiResult<Changes> {
    let mut e = FieldErrors::default();
    let first_name = if creating {
        e.required("first_name", input.first_name.clone())
    } else {
        input.first_name.clone()
    };
    let first_name = e.text("first_name", first_name, FIRST_NAME_MAX);
    let last_name = clearable(&mut e, "last_name", input.last_name.clone(), LAST_NAME_MAX);
    let email = match input.email.clone() {
        Some(Some(s)) if !s.trim().is_empty() => e
            .check("email", Email::parse(&s))
            .map(|m| Some(m.as_str().to_owned())),
        Some(_) => Some(None),
        None => None,
    };
    let phone = clearable(&mut e, "phone", input.phone.clone(), PHONE_MAX);
    let company_name = clearable(
        &mut e,
        "company_name",
        input.company_name.clone(),
        COMPANY_NAME_MAX,
    );
    let source = clearable(&mut e, "source", input.source.clone(), SOURCE_MAX);
    if input.status == Some(LeadStatus::Converted) {
        e.add(
            "status",
            "a lead is converted with POST /api/leads/{id}/convert",
        );
    }
    if let Some(Some(v)) = input.estimated_value {
        if v < 0 {
            e.add("estimated_value", "must not be negative");
        }
    }
    let currency = input.currency.clone().and_then(|c| {
        let c = c.trim().to_ascii_uppercase();
        if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
            Some(c)
        } else {
            e.add(
                "currency",
                "must be a three-letter ISO 4217 code such as USD",
            );
            None
        }
    });
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    e.finish()?;
    Ok(Changes {
        first_name,
        last_name,
        email,
        phone,
        company_name,
        source,
        currency,
    })
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<LeadView> {
    tx.query_opt(
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads l WHERE l.tenant_id = $1 AND l.id = $2"
        ),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: LeadInput,
    now: DateTime<Utc>,
) -> ApiResult<LeadView> {
    let c = validate(tx, &input, true).await?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO leads (tenant_id, id, first_name, last_name, email, phone, company_name, source,
                            status, estimated_value, currency, owner_id, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
        &[
            &id,
            &c.first_name,
            &c.last_name.flatten(),
            &c.email.flatten(),
            &c.phone.flatten(),
            &c.company_name.flatten(),
            &c.source.flatten(),
            &input.status.unwrap_or(LeadStatus::New),
            &input.estimated_value.flatten(),
            &c.currency.unwrap_or_else(|| "USD".into()),
            &input.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
        ],
    )
    .await?;
    get(tx, id).await
}

pub async fn update(
    tx: &mut impl Scoped,
    by: Uuid,
    id: Uuid,
    input: LeadInput,
    now: DateTime<Utc>,
) -> ApiResult<LeadView> {
    let current = get(tx, id).await?;
    let c = validate(tx, &input, false).await?;
    if current.status == LeadStatus::Converted && input.status.is_some() {
        return Err(ApiError::conflict(
            "the lead is converted; its status stays",
        ));
    }
    tx.execute(
        "UPDATE leads SET
            first_name = COALESCE($3, first_name),
            last_name = CASE WHEN $4 THEN $5 ELSE last_name END,
            email = CASE WHEN $6 THEN $7 ELSE email END,
            phone = CASE WHEN $8 THEN $9 ELSE phone END,
            company_name = CASE WHEN $10 THEN $11 ELSE company_name END,
            source = CASE WHEN $12 THEN $13 ELSE source END,
            status = COALESCE($14, status),
            estimated_value = CASE WHEN $15 THEN $16 ELSE estimated_value END,
            currency = COALESCE($17, currency),
            owner_id = COALESCE($18, owner_id),
            updated_at = $19
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &c.first_name,
            &c.last_name.is_some(),
            &c.last_name.flatten(),
            &c.email.is_some(),
            &c.email.flatten(),
            &c.phone.is_some(),
            &c.phone.flatten(),
            &c.company_name.is_some(),
            &c.company_name.flatten(),
            &c.source.is_some(),
            &c.source.flatten(),
            &input.status,
            &input.estimated_value.is_some(),
            &input.estimated_value.flatten(),
            &c.currency,
            &input.owner_id,
            &now,
        ],
    )
    .await?;
    let after = get(tx, id).await?;
    super::timeline::record_change(
        tx,
        super::timeline::RecordKind::Lead,
        id,
        &current,
        &after,
        by,
        now,
    )
    .await?;
    Ok(after)
}

pub async fn delete(tx: &mut impl Scoped, user: &SessionUser, id: Uuid) -> ApiResult<()> {
    let current = get(tx, id).await?;
    ensure_can_delete(user, current.owner_id)?;
    tx.execute("DELETE FROM leads WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct LeadFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub status: Option<LeadStatus>,
}

pub async fn list(
    tx: &mut impl Scoped,
    f: &LeadFilter,
    req: &ListRequest,
) -> ApiResult<Page<LeadView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads l WHERE l.tenant_id = $1"
        ),
        "l",
    );
    s.search(
        f.q.as_deref(),
        &["l.sort_name", "lower(l.email)", "lower(l.company_name)"],
    );
    if let Some(owner) = f.owner_id {
        s.and("l.owner_id = {}", Param::Uuid(owner));
    }
    if let Some(status) = f.status {
        s.and("l.status = {}", Param::Text(status.as_str().to_owned()));
    }
    s.fetch(tx, req).await
}

/// `POST /api/leads/:id/convert`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertRequest {
    /// Also open a deal for the new contact.
    pub create_deal: Option<bool>,
    /// Default: "<company or name> deal".
    #[schema(schema_with = crate::contract::text_or_null::<{ crate::crm::deals::TITLE_MAX }>)]
    pub deal_title: Option<String>,
    /// Default: the tenant's default pipeline.
    pub pipeline_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Conversion {
    pub lead: LeadView,
    pub contact: ContactView,
    /// Made from the lead's company name, when it had one.
    pub company: Option<CompanyView>,
    pub deal: Option<DealView>,
}

/// Converts in the caller's transaction: contact (and company, and deal),
/// then the lead marked converted. Converting twice is 409.
pub async fn convert(
    tx: &mut impl Scoped,
    user: &SessionUser,
    id: Uuid,
    req: ConvertRequest,
    now: DateTime<Utc>,
) -> ApiResult<Conversion> {
    let lead = get(tx, id).await?;
    if lead.status == LeadStatus::Converted {
        return Err(ApiError::conflict("the lead is already converted"));
    }
    let company = match lead.company_name.clone().filter(|n| !n.trim().is_empty()) {
        Some(name) => Some(
            companies::create(
                tx,
                user,
                CompanyInput {
                    name: Some(name),
                    owner_id: lead.owner_id,
                    ..Default::default()
                },
                now,
            )
            .await?,
        ),
        None => None,
    };
    let contact = contacts::create(
        tx,
        user,
        ContactInput {
            first_name: Some(lead.first_name.clone()),
            last_name: Some(lead.last_name.clone()),
            email: Some(lead.email.clone()),
            phone: Some(lead.phone.clone()),
            company_id: Some(company.as_ref().map(|c| c.id)),
            source: Some(lead.source.clone()),
            owner_id: lead.owner_id,
            ..Default::default()
        },
        now,
    )
    .await?;
    let deal = if req.create_deal == Some(true) {
        let title = req.deal_title.clone().unwrap_or_else(|| {
            let who = lead.company_name.clone().unwrap_or_else(|| {
                format!(
                    "{} {}",
                    lead.first_name,
                    lead.last_name.clone().unwrap_or_default()
                )
            });
            format!("{} deal", who.trim())
        });
        Some(
            deals::create(
                tx,
                user,
                DealInput {
                    title: Some(title),
                    pipeline_id: req.pipeline_id,
                    amount: lead.estimated_value,
                    currency: Some(lead.currency.clone()),
                    contact_id: Some(Some(contact.id)),
                    company_id: Some(company.as_ref().map(|c| c.id)),
                    owner_id: lead.owner_id,
                    ..Default::default()
                },
                now,
            )
            .await?,
        )
    } else {
        None
    };
    tx.execute(
        "UPDATE leads SET status = 'converted', converted_at = $3, converted_contact_id = $4,
                converted_company_id = $5, converted_deal_id = $6, updated_at = $3
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &now,
            &contact.id,
            &company.as_ref().map(|c| c.id),
            &deal.as_ref().map(|d| d.id),
        ],
    )
    .await?;
    Ok(Conversion {
        lead: get(tx, id).await?,
        contact,
        company,
        deal,
    })
}
