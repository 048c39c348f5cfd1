//! Companies: the organisations a tenant's contacts belong to.

use super::listing::{self, ListRequest, Param, Select};
use super::{check_reference, custom, Table};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::CompanyId;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, Row, Scoped};
use crate::tenancy::{clearable, nullable, valid_url};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `domain` takes (validation and description).
pub(crate) const DOMAIN_MAX: usize = 255;
/// The most characters `industry` takes (validation and description).
pub(crate) const INDUSTRY_MAX: usize = 100;
/// The most characters `name` takes (validation and description).
pub(crate) const NAME_MAX: usize = 255;
/// The most characters `phone` takes (validation and description).
pub(crate) const PHONE_MAX: usize = 50;
/// The most characters `website` takes (validation and description).
pub(crate) const WEBSITE_MAX: usize = 500;

macro_rules! company_columns {
    () => {
        "c.id, c.name, c.domain, c.industry, c.phone, c.website, c.address, c.owner_id,
         c.created_by, c.created_at, c.updated_at, c.sort_name, c.custom_fields"
    };
}

/// The most characters a part of an address takes (validation and
/// description).
pub(crate) const ADDRESS_PART_MAX: usize = 200;

/// A postal address; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::contract::clearable::<{ ADDRESS_PART_MAX }>)]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::contract::clearable::<{ ADDRESS_PART_MAX }>)]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::contract::clearable::<{ ADDRESS_PART_MAX }>)]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::contract::clearable::<{ ADDRESS_PART_MAX }>)]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::contract::clearable::<{ ADDRESS_PART_MAX }>)]
    pub country: Option<String>,
}

impl Address {
    fn validate(self, e: &mut FieldErrors) -> Address {
        let mut part = |name: &str, v: Option<String>| match v {
            Some(s) if s.trim().is_empty() => None,
            other => e.text(&format!("address.{name}"), other, ADDRESS_PART_MAX),
        };
        Address {
            street: part("street", self.street),
            city: part("city", self.city),
            region: part("region", self.region),
            postal_code: part("postal_code", self.postal_code),
            country: part("country", self.country),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompanyView {
    pub id: Uuid,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub address: Address,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `{key: value}` of the tenant's custom fields for companies.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for CompanyView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let address: serde_json::Value = r.get("address")?;
        Ok(CompanyView {
            id: r.get("id")?,
            name: r.get("name")?,
            domain: r.get("domain")?,
            industry: r.get("industry")?,
            phone: r.get("phone")?,
            website: r.get("website")?,
            address: serde_json::from_value(address).unwrap_or_default(),
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            custom_fields: super::custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed_custom!(CompanyView);

impl Owned for CompanyView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, None]
    }
}

/// `POST /api/companies` and `PATCH /api/companies/:id` (there every field
/// is optional, and `null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// A domain name such as `example.com`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable_domain::<{ DOMAIN_MAX }>)]
    pub domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ INDUSTRY_MAX }>)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ PHONE_MAX }>)]
    pub phone: Option<Option<String>>,
    /// An http:// or https:// URL.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable_url::<{ WEBSITE_MAX }>)]
    pub website: Option<Option<String>>,
    /// Replaces the whole address.
    pub address: Option<Address>,
    /// A user of the same tenant; default: the creator.
    pub owner_id: Option<Uuid>,
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

struct Changes {
    name: Option<String>,
    domain: Option<Option<String>>,
    industry: Option<Option<String>>,
    phone: Option<Option<String>>,
    website: Option<Option<String>>,
    address: Option<Address>,
    owner_id: Option<Uuid>,
    custom: custom::Given,
}

fn valid_domain(d: &str) -> bool {
    d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

impl CompanyInput {
    /// The API's rules for each field, without the database (the owner is
    /// checked when the company is written): each bad field's message.
    pub fn check(self, creating: bool) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        check_fields(&mut e, self, creating);
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

async fn validate(tx: &mut impl Scoped, input: CompanyInput, creating: bool) -> ApiResult<Changes> {
    let mut e = FieldErrors::default();
    let mut c = check_fields(&mut e, input, creating);
    check_reference(tx, &mut e, "owner_id", Table::Users, c.owner_id).await?;
    custom::check_many(
        tx,
        custom::Entity::Companies,
        &mut [&mut c.custom],
        std::slice::from_mut(&mut e),
    )
    .await?;
    e.finish()?;
    Ok(c)
}

fn check_fields(e: &mut FieldErrors, input: CompanyInput, creating: bool) -> Changes {
    let name = if creating {
        e.required("name", input.name)
    } else {
        input.name
    };
    let name = e.text("name", name, NAME_MAX);
    let domain = clearable(e, "domain", input.domain, DOMAIN_MAX)
        .map(|d| d.map(|d| d.trim_end_matches('.').to_lowercase()));
    if let Some(Some(d)) = &domain {
        if !valid_domain(d) {
            e.add("domain", "is not a domain name such as example.com");
        }
    }
    let industry = clearable(e, "industry", input.industry, INDUSTRY_MAX);
    let phone = clearable(e, "phone", input.phone, PHONE_MAX);
    let website = clearable(e, "website", input.website, WEBSITE_MAX);
    if let Some(Some(w)) = &website {
        if !valid_url(w) {
            e.add("website", "must be an http:// or https:// URL");
        }
    }
    let address = input.address.map(|a| a.validate(e));
    Changes {
        name,
        domain,
        industry,
        phone,
        website,
        address,
        owner_id: input.owner_id,
        custom: custom::Given::new(input.custom_fields, creating),
    }
}

#[derive(Debug, Default)]
pub struct CompanyFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    filter: &CompanyFilter,
    req: &ListRequest,
) -> ApiResult<Page<CompanyView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            company_columns!(),
            " FROM companies c WHERE c.tenant_id = $1"
        ),
        "c",
    );
    s.search(filter.q.as_deref(), &["c.sort_name", "c.domain"]);
    if let Some(owner) = filter.owner_id {
        s.and("c.owner_id = {}", Param::Uuid(owner));
    }
    s.visible(who, RecordType::Companies);
    custom::list(tx, custom::Entity::Companies, &filter.custom, s, "c", req).await
}

/// A company the caller may read (404 otherwise).
pub async fn get(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: CompanyId,
) -> ApiResult<CompanyView> {
    let mut c = fetch(tx, id).await?;
    who.ensure_read(tx, RecordType::Companies, &c).await?;
    custom::visible(tx, custom::Entity::Companies, std::slice::from_mut(&mut c)).await?;
    Ok(c)
}

/// A company of the tenant, whoever may read it.
async fn fetch(tx: &mut impl Scoped, id: CompanyId) -> ApiResult<CompanyView> {
    tx.query_opt(
        concat!(
            "SELECT ",
            company_columns!(),
            " FROM companies c WHERE c.tenant_id = $1 AND c.id = $2"
        ),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: CompanyInput,
    now: DateTime<Utc>,
) -> ApiResult<CompanyView> {
    crate::usage::ensure_records(tx, user, 1).await?;
    let c = validate(tx, input, true).await?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO companies (tenant_id, id, name, domain, industry, phone, website, address,
                                owner_id, created_by, created_at, updated_at, custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        &[
            &id,
            &c.name,
            &c.domain.flatten(),
            &c.industry.flatten(),
            &c.phone.flatten(),
            &c.website.flatten(),
            &serde_json::json!(c.address.unwrap_or_default()),
            &c.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
            &c.custom.object(),
        ],
    )
    .await?;
    let mut created = fetch(tx, CompanyId(id)).await?;
    custom::visible(
        tx,
        custom::Entity::Companies,
        std::slice::from_mut(&mut created),
    )
    .await?;
    crate::events::created(
        tx,
        crate::events::Subject::Company,
        std::slice::from_ref(&created),
        now,
    )
    .await?;
    Ok(created)
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: CompanyId,
    input: CompanyInput,
    now: DateTime<Utc>,
) -> ApiResult<CompanyView> {
    let before = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Companies, &before).await?;
    let c = validate(tx, input, false).await?;
    let sql = format!(
        "UPDATE companies SET
            name = COALESCE($3, name),
            domain = CASE WHEN $4 THEN $5 ELSE domain END,
            industry = CASE WHEN $6 THEN $7 ELSE industry END,
            phone = CASE WHEN $8 THEN $9 ELSE phone END,
            website = CASE WHEN $10 THEN $11 ELSE website END,
            address = COALESCE($12, address),
            owner_id = COALESCE($13, owner_id),
            custom_fields = {},
            updated_at = $14
          WHERE tenant_id = $1 AND id = $2",
        custom::merge_sql(tx.dialect(), "custom_fields", "$15")
    );
    tx.execute(
        &sql,
        &[
            &id,
            &c.name,
            &c.domain.is_some(),
            &c.domain.flatten(),
            &c.industry.is_some(),
            &c.industry.flatten(),
            &c.phone.is_some(),
            &c.phone.flatten(),
            &c.website.is_some(),
            &c.website.flatten(),
            &c.address.map(|a| serde_json::json!(a)),
            &c.owner_id,
            &now,
            &c.custom.value().cloned(),
        ],
    )
    .await?;
    let mut after = fetch(tx, id).await?;
    custom::visible(
        tx,
        custom::Entity::Companies,
        std::slice::from_mut(&mut after),
    )
    .await?;
    super::timeline::record_change(
        tx,
        super::timeline::RecordKind::Company,
        id.0,
        &before,
        &after,
        who.me().0,
        now,
    )
    .await?;
    Ok(after)
}

/// Deletes a company; its contacts stay, without a company.
pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: CompanyId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Companies, &current)
        .await?;
    tx.execute(
        "DELETE FROM companies WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    crate::events::deleted(tx, crate::events::Subject::Company, &[current], now).await
}
