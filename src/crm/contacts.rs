//! Contacts: the people a tenant deals with.

use super::listing::{self, ListRequest, Param, Select};
use super::{check_reference, ensure_can_delete, parse_tags, Table};
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

/// The most characters `first_name` takes (validation and description).
pub(crate) const FIRST_NAME_MAX: usize = 100;
/// The most characters `last_name` takes (validation and description).
pub(crate) const LAST_NAME_MAX: usize = 100;
/// The most characters `phone` takes (validation and description).
pub(crate) const PHONE_MAX: usize = 50;
/// The most characters `source` takes (validation and description).
pub(crate) const SOURCE_MAX: usize = 100;
/// The most characters `title` takes (validation and description).
pub(crate) const TITLE_MAX: usize = 100;

macro_rules! contact_columns {
    () => {
        "c.id, c.first_name, c.last_name, c.email, c.phone, c.title, c.company_id, c.tags, c.source,
         c.owner_id, c.created_by, c.created_at, c.updated_at, c.sort_name"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub company_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for ContactView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let tags: serde_json::Value = r.get("tags")?;
        Ok(ContactView {
            id: r.get("id")?,
            first_name: r.get("first_name")?,
            last_name: r.get("last_name")?,
            email: r.get("email")?,
            phone: r.get("phone")?,
            title: r.get("title")?,
            company_id: r.get("company_id")?,
            tags: crate::tenancy::features_list(&tags),
            source: r.get("source")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed!(ContactView);

/// `POST /api/contacts` and `PATCH /api/contacts/:id` (there every field is
/// optional, and `null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
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
    #[schema(schema_with = crate::contract::clearable::<{ TITLE_MAX }>)]
    pub title: Option<Option<String>>,
    /// A company of the same tenant.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub company_id: Option<Option<Uuid>>,
    #[schema(schema_with = crate::contract::tags_or_null)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ SOURCE_MAX }>)]
    pub source: Option<Option<String>>,
    /// A user of the same tenant; default: the creator.
    pub owner_id: Option<Uuid>,
}

/// Validated changes: `None` leaves a field, `Some(None)` clears it.
struct Changes {
    first_name: Option<String>,
    last_name: Option<Option<String>>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    title: Option<Option<String>>,
    company_id: Option<Option<Uuid>>,
    tags: Option<Vec<String>>,
    source: Option<Option<String>>,
    owner_id: Option<Uuid>,
}

async fn validate(tx: &mut impl Scoped, input: ContactInput, creating: bool) -> ApiResult<Changes> {
    let mut e = FieldErrors::default();
    let first_name = if creating {
        e.required("first_name", input.first_name)
    } else {
        input.first_name
    };
    let first_name = e.text("first_name", first_name, FIRST_NAME_MAX);
    let last_name = clearable(&mut e, "last_name", input.last_name, LAST_NAME_MAX);
    let email = match input.email {
        Some(Some(s)) if !s.trim().is_empty() => e
            .check("email", Email::parse(&s))
            .map(|m| Some(m.as_str().to_owned())),
        Some(_) => Some(None),
        None => None,
    };
    let phone = clearable(&mut e, "phone", input.phone, PHONE_MAX);
    let title = clearable(&mut e, "title", input.title, TITLE_MAX);
    let source = clearable(&mut e, "source", input.source, SOURCE_MAX);
    let tags = input.tags.and_then(|t| parse_tags(&mut e, t));
    check_reference(
        tx,
        &mut e,
        "company_id",
        Table::Companies,
        input.company_id.flatten(),
    )
    .await?;
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    e.finish()?;
    Ok(Changes {
        first_name,
        last_name,
        email,
        phone,
        title,
        company_id: input.company_id,
        tags,
        source,
        owner_id: input.owner_id,
    })
}

#[derive(Debug, Default)]
pub struct ContactFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
}

pub async fn list(
    tx: &mut impl Scoped,
    filter: &ContactFilter,
    req: &ListRequest,
) -> ApiResult<Page<ContactView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts c WHERE c.tenant_id = $1"
        ),
        "c",
    );
    s.search(
        filter.q.as_deref(),
        &["c.sort_name", "lower(c.email)", "c.phone"],
    );
    if let Some(owner) = filter.owner_id {
        s.and("c.owner_id = {}", Param::Uuid(owner));
    }
    if let Some(company) = filter.company_id {
        s.and("c.company_id = {}", Param::Uuid(company));
    }
    s.fetch(tx, req).await
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<ContactView> {
    tx.query_opt(
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2"
        ),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: ContactInput,
    now: DateTime<Utc>,
) -> ApiResult<ContactView> {
    let c = validate(tx, input, true).await?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO contacts (tenant_id, id, first_name, last_name, email, phone, title, company_id,
                               tags, source, owner_id, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        &[
            &id,
            &c.first_name,
            &c.last_name.flatten(),
            &c.email.flatten(),
            &c.phone.flatten(),
            &c.title.flatten(),
            &c.company_id.flatten(),
            &serde_json::json!(c.tags.unwrap_or_default()),
            &c.source.flatten(),
            &c.owner_id.unwrap_or(user.id.0),
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
    input: ContactInput,
    now: DateTime<Utc>,
) -> ApiResult<ContactView> {
    let before = get(tx, id).await?;
    let c = validate(tx, input, false).await?;
    tx.execute(
        "UPDATE contacts SET
            first_name = COALESCE($3, first_name),
            last_name = CASE WHEN $4 THEN $5 ELSE last_name END,
            email = CASE WHEN $6 THEN $7 ELSE email END,
            phone = CASE WHEN $8 THEN $9 ELSE phone END,
            title = CASE WHEN $10 THEN $11 ELSE title END,
            company_id = CASE WHEN $12 THEN $13 ELSE company_id END,
            tags = COALESCE($14, tags),
            source = CASE WHEN $15 THEN $16 ELSE source END,
            owner_id = COALESCE($17, owner_id),
            updated_at = $18
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
            &c.title.is_some(),
            &c.title.flatten(),
            &c.company_id.is_some(),
            &c.company_id.flatten(),
            &c.tags.map(|t| serde_json::json!(t)),
            &c.source.is_some(),
            &c.source.flatten(),
            &c.owner_id,
            &now,
        ],
    )
    .await?;
    let after = get(tx, id).await?;
    super::timeline::record_change(
        tx,
        super::timeline::RecordKind::Contact,
        id,
        &before,
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
    tx.execute(
        "DELETE FROM contacts WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    Ok(())
}
