//! Contacts: the people a tenant deals with.

use super::listing::{self, ListRequest, Param, Select};
use super::timeline::RecordKind;
use super::{custom, parse_tags, Table};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::{ContactId, Email, UserId};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{EventType, Subject};
use crate::pagination::Page;
use crate::store::{Bind, DbResult, FromRow, IdList, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
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
         c.owner_id, c.created_by, c.created_at, c.updated_at, c.sort_name, c.custom_fields"
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
    /// `{key: value}` of the tenant's custom fields for contacts.
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
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
            custom_fields: custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed_custom!(ContactView);

impl Owned for ContactView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, None]
    }
}

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
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
}

/// Changes that passed the API's rules for each field
/// ([`ContactInput::check`]): `None` leaves a field, `Some(None)` clears
/// it. Their references are checked by [`validate_many`].
pub struct Checked {
    first_name: Option<String>,
    last_name: Option<Option<String>>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    title: Option<Option<String>>,
    company_id: Option<Option<Uuid>>,
    tags: Option<Vec<String>>,
    source: Option<Option<String>>,
    owner_id: Option<Uuid>,
    custom: custom::Given,
}

impl Checked {
    /// The e-mail it sets (lowercased).
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref()?.as_deref()
    }

    /// Sets the company, which [`validate_many`] checks with the other
    /// references.
    pub fn set_company(&mut self, id: Uuid) {
        self.company_id = Some(Some(id));
    }
}

/// Changes that passed every rule of the API, references included: what
/// [`create_many`] and [`update_many`] write.
pub struct Valid(Checked);

impl Valid {
    /// The e-mail it sets (lowercased).
    pub fn email(&self) -> Option<&str> {
        self.0.email()
    }
}

impl ContactInput {
    /// The API's rules for each field, without the database: the changes,
    /// or each bad field's message. `creating`: a new contact's required
    /// fields must be there.
    pub fn check(self, creating: bool) -> Result<Checked, FieldErrors> {
        let mut e = FieldErrors::default();
        let c = check_fields(&mut e, self, creating);
        if e.is_empty() {
            Ok(c)
        } else {
            Err(e)
        }
    }
}

fn check_fields(e: &mut FieldErrors, input: ContactInput, creating: bool) -> Checked {
    let first_name = if creating {
        e.required("first_name", input.first_name)
    } else {
        input.first_name
    };
    let first_name = e.text("first_name", first_name, FIRST_NAME_MAX);
    let last_name = clearable(e, "last_name", input.last_name, LAST_NAME_MAX);
    let email = match input.email {
        Some(Some(s)) if !s.trim().is_empty() => e
            .check("email", Email::parse(&s))
            .map(|m| Some(m.as_str().to_owned())),
        Some(_) => Some(None),
        None => None,
    };
    let phone = clearable(e, "phone", input.phone, PHONE_MAX);
    let title = clearable(e, "title", input.title, TITLE_MAX);
    let source = clearable(e, "source", input.source, SOURCE_MAX);
    let tags = input.tags.and_then(|t| parse_tags(e, t));
    Checked {
        first_name,
        last_name,
        email,
        phone,
        title,
        company_id: input.company_id,
        tags,
        source,
        owner_id: input.owner_id,
        custom: custom::Given::new(input.custom_fields, creating),
    }
}

/// The references of many checked changes, one query per table; each
/// record's errors are added to its entry of `errors`.
async fn check_references(
    tx: &mut impl Scoped,
    items: &mut [Checked],
    errors: &mut [FieldErrors],
) -> ApiResult<()> {
    let companies: Vec<Option<Uuid>> = items.iter().map(|c| c.company_id.flatten()).collect();
    super::check_references(tx, errors, "company_id", Table::Companies, &companies).await?;
    let owners: Vec<Option<Uuid>> = items.iter().map(|c| c.owner_id).collect();
    super::check_references(tx, errors, "owner_id", Table::Users, &owners).await?;
    let mut given: Vec<&mut custom::Given> = items.iter_mut().map(|c| &mut c.custom).collect();
    custom::check_many(tx, custom::Entity::Contacts, &mut given, errors).await
}

/// The API's validation of one input: its fields, then its references;
/// every bad field is named in the one 422.
async fn validate(tx: &mut impl Scoped, input: ContactInput, creating: bool) -> ApiResult<Valid> {
    let mut e = FieldErrors::default();
    let mut c = check_fields(&mut e, input, creating);
    check_references(
        tx,
        std::slice::from_mut(&mut c),
        std::slice::from_mut(&mut e),
    )
    .await?;
    e.finish()?;
    Ok(Valid(c))
}

/// Checks the references of many checked changes at once (one query per
/// table): all valid, the changes to write; otherwise each one back with
/// its errors.
pub async fn validate_many(
    tx: &mut impl Scoped,
    mut items: Vec<Checked>,
) -> ApiResult<super::Validated<Checked, Valid>> {
    let mut errors: Vec<FieldErrors> = items.iter().map(|_| FieldErrors::default()).collect();
    check_references(tx, &mut items, &mut errors).await?;
    if errors.iter().all(FieldErrors::is_empty) {
        Ok(Ok(items.into_iter().map(Valid).collect()))
    } else {
        Ok(Err(items.into_iter().zip(errors).collect()))
    }
}

#[derive(Debug, Default)]
pub struct ContactFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
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
    s.visible(who, RecordType::Contacts);
    custom::list(tx, custom::Entity::Contacts, &filter.custom, s, "c", req).await
}

/// A contact the caller may read (404 otherwise).
pub async fn get(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ContactId,
) -> ApiResult<ContactView> {
    let mut c = fetch(tx, id).await?;
    who.ensure_read(tx, RecordType::Contacts, &c).await?;
    custom::visible(tx, custom::Entity::Contacts, std::slice::from_mut(&mut c)).await?;
    Ok(c)
}

/// A contact of the tenant, whoever may read it.
async fn fetch(tx: &mut impl Scoped, id: ContactId) -> ApiResult<ContactView> {
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
    create_many(tx, user, vec![(id, c)], now).await?;
    let mut c = fetch(tx, ContactId(id)).await?;
    custom::visible(tx, custom::Entity::Contacts, std::slice::from_mut(&mut c)).await?;
    Ok(c)
}

/// Inserts new contacts (each with its id) in one statement: what
/// [`create`] does for one. Each needs its first name (checked as
/// `creating`).
pub async fn create_many(
    tx: &mut impl Scoped,
    user: &SessionUser,
    rows: Vec<(Uuid, Valid)>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    crate::usage::ensure_records(tx, user, rows.len() as i64).await?;
    struct New {
        id: Uuid,
        first_name: String,
        last_name: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        title: Option<String>,
        company_id: Option<Uuid>,
        tags: serde_json::Value,
        source: Option<String>,
        owner_id: Uuid,
        custom: Value,
    }
    let mut new = Vec::with_capacity(rows.len());
    for (id, Valid(c)) in rows {
        new.push(New {
            id,
            first_name: c
                .first_name
                .ok_or_else(|| ApiError::field("first_name", "is required"))?,
            last_name: c.last_name.flatten(),
            email: c.email.flatten(),
            phone: c.phone.flatten(),
            title: c.title.flatten(),
            company_id: c.company_id.flatten(),
            tags: serde_json::json!(c.tags.unwrap_or_default()),
            source: c.source.flatten(),
            owner_id: c.owner_id.unwrap_or(user.id.0),
            custom: c.custom.object(),
        });
    }
    super::insert_rows(
        tx,
        "INSERT INTO contacts (tenant_id, created_by, created_at, updated_at, id, first_name, last_name,
                               email, phone, title, company_id, tags, source, owner_id, custom_fields)",
        &[&user.id.0, &now],
        &new,
        |c, b| {
            b.extend_from_slice(&[
                &c.id as &dyn Bind,
                &c.first_name,
                &c.last_name,
                &c.email,
                &c.phone,
                &c.title,
                &c.company_id,
                &c.tags,
                &c.source,
                &c.owner_id,
                &c.custom,
            ])
        },
        |p| format!("($1, $2, $3, $3, {})", p.join(", ")),
    )
    .await?;
    if crate::events::wanted(tx, &[EventType::Created(Subject::Contact)]).await? {
        let mut views = get_many(tx, &new.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
        views.sort_by_key(|v| v.id);
        crate::events::created(tx, Subject::Contact, &views, now).await?;
    }
    Ok(())
}

/// The contacts of `ids` (those of the caller's tenant), in no order.
async fn get_many(tx: &mut impl Scoped, ids: &[Uuid]) -> ApiResult<Vec<ContactView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts c WHERE c.tenant_id = $1 AND {}"
        ),
        super::id_in(tx.dialect(), "c.id")
    );
    Ok(tx.query(&sql, &[&IdList(ids.to_vec())]).await?)
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ContactId,
    input: ContactInput,
    now: DateTime<Utc>,
) -> ApiResult<ContactView> {
    let before = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Contacts, &before).await?;
    let c = validate(tx, input, false).await?;
    let mut after = write_updates(tx, who.me().0, vec![before], vec![(id.0, c)], now).await?;
    after.remove(&id.0).ok_or_else(ApiError::not_found)
}

/// Writes changes over existing contacts, as [`update`] does for one: each
/// record's change lands on its timeline. A record named twice is changed
/// twice, in order. A record missing from the tenant (deleted meanwhile)
/// is 409.
pub async fn update_many(
    tx: &mut impl Scoped,
    by: UserId,
    rows: Vec<(Uuid, Valid)>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let mut ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let before = get_many(tx, &ids).await?;
    if before.len() != ids.len() {
        return Err(ApiError::conflict(
            "a record was deleted by another request meanwhile; try again",
        ));
    }
    write_updates(tx, by.0, before, rows, now).await?;
    Ok(())
}

/// The one way contacts are changed: each change written, the records read
/// back, and what changed recorded for their timelines. `before` holds the
/// current view of every record named; the views after are returned.
async fn write_updates(
    tx: &mut impl Scoped,
    by: Uuid,
    before: Vec<ContactView>,
    rows: Vec<(Uuid, Valid)>,
    now: DateTime<Utc>,
) -> ApiResult<HashMap<Uuid, ContactView>> {
    let mut before = before;
    custom::visible(tx, custom::Entity::Contacts, &mut before).await?;
    let mut current: HashMap<Uuid, ContactView> = before.into_iter().map(|v| (v.id, v)).collect();
    for round in super::rounds(rows) {
        let ids: Vec<Uuid> = round.iter().map(|(id, _)| *id).collect();
        let sql = format!(
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
                    custom_fields = {},
                    updated_at = $18
                  WHERE tenant_id = $1 AND id = $2",
            custom::merge_sql(tx.dialect(), "custom_fields", "$19")
        );
        for (id, Valid(c)) in round {
            tx.execute(
                &sql,
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
                    &c.custom.value().cloned(),
                ],
            )
            .await?;
        }
        let mut after = get_many(tx, &ids).await?;
        custom::visible(tx, custom::Entity::Contacts, &mut after).await?;
        let changed: Vec<(Uuid, &ContactView, &ContactView)> = after
            .iter()
            .filter_map(|a| current.get(&a.id).map(|b| (a.id, b, a)))
            .collect();
        super::timeline::record_changes(tx, RecordKind::Contact, &changed, by, now).await?;
        current.extend(after.into_iter().map(|v| (v.id, v)));
    }
    Ok(current)
}

pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ContactId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Contacts, &current)
        .await?;
    tx.execute(
        "DELETE FROM contacts WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    crate::events::deleted(tx, Subject::Contact, &[current], now).await
}
