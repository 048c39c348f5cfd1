//! Leads: people who might buy, not yet contacts. Conversion turns a lead
//! into a contact (and its company, and a deal when asked) in one
//! transaction, and marks it converted.

use super::companies::{self, CompanyInput, CompanyView};
use super::contacts::{self, ContactInput, ContactView};
use super::deals::{self, DealInput, DealView};
use super::listing::{self, ListRequest, Param, Select};
use super::timeline::RecordKind;
use super::{custom, Table};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::{Currency, Email, LeadId, UserId};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{EventType, Subject};
use crate::pagination::Page;
use crate::store::{Bind, DbResult, FromRow, IdList, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
         l.converted_deal_id, l.owner_id, l.created_by, l.created_at, l.updated_at, l.sort_name, l.custom_fields"
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
    /// `{key: value}` of the tenant's custom fields for leads.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
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
            custom_fields: super::custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed_custom!(LeadView);

impl Owned for LeadView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, None]
    }
}

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
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Who may mark a lead converted, and what an update does to a converted
/// lead's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusRule {
    /// The API: only conversion (`POST /api/leads/{id}/convert`) marks a
    /// lead converted, and changing a converted lead's status is 409.
    Api,
    /// A CSV import: a lead converted in another CRM stays converted (from
    /// now, with no contact linked), and a converted lead keeps its status
    /// when a row updates it.
    Import,
}

/// Changes that passed the API's rules for each field
/// ([`LeadInput::check`]): `None` leaves a field, `Some(None)` clears it.
/// Their references are checked by [`validate_many`].
pub struct Checked {
    first_name: Option<String>,
    last_name: Option<Option<String>>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    company_name: Option<Option<String>>,
    source: Option<Option<String>>,
    status: Option<LeadStatus>,
    estimated_value: Option<Option<i64>>,
    currency: Option<String>,
    owner_id: Option<Uuid>,
    rule: StatusRule,
    custom: custom::Given,
}

impl Checked {
    /// The e-mail it sets (lowercased).
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref()?.as_deref()
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

impl LeadInput {
    /// The API's rules for each field, without the database: the changes,
    /// or each bad field's message. `creating`: a new lead's required
    /// fields must be there.
    pub fn check(self, creating: bool, rule: StatusRule) -> Result<Checked, FieldErrors> {
        let mut e = FieldErrors::default();
        let c = check_fields(&mut e, self, creating, rule);
        if e.is_empty() {
            Ok(c)
        } else {
            Err(e)
        }
    }
}

fn check_fields(
    e: &mut FieldErrors,
    input: LeadInput,
    creating: bool,
    rule: StatusRule,
) -> Checked {
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
    let company_name = clearable(e, "company_name", input.company_name, COMPANY_NAME_MAX);
    let source = clearable(e, "source", input.source, SOURCE_MAX);
    if input.status == Some(LeadStatus::Converted) && rule == StatusRule::Api {
        e.add(
            "status",
            "a lead is converted with POST /api/leads/{id}/convert",
        );
    }
    super::check_amount(e, "estimated_value", input.estimated_value.flatten());
    let currency = Currency::field(e, "currency", input.currency);
    Checked {
        first_name,
        last_name,
        email,
        phone,
        company_name,
        source,
        status: input.status,
        estimated_value: input.estimated_value,
        currency,
        owner_id: input.owner_id,
        rule,
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
    let owners: Vec<Option<Uuid>> = items.iter().map(|c| c.owner_id).collect();
    super::check_references(tx, errors, "owner_id", Table::Users, &owners).await?;
    let mut given: Vec<&mut custom::Given> = items.iter_mut().map(|c| &mut c.custom).collect();
    custom::check_many(tx, custom::Entity::Leads, &mut given, errors).await
}

/// The API's validation of one input: its fields, then its references;
/// every bad field is named in the one 422.
async fn validate(tx: &mut impl Scoped, input: LeadInput, creating: bool) -> ApiResult<Valid> {
    let mut e = FieldErrors::default();
    let mut c = check_fields(&mut e, input, creating, StatusRule::Api);
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

/// One the caller may read (404 otherwise).
pub async fn get(tx: &mut impl Scoped, who: &RecordAccess, id: LeadId) -> ApiResult<LeadView> {
    let mut v = fetch(tx, id).await?;
    who.ensure_read(tx, RecordType::Leads, &v).await?;
    custom::visible(tx, custom::Entity::Leads, std::slice::from_mut(&mut v)).await?;
    Ok(v)
}

/// One of the tenant, whoever may read it.
pub(crate) async fn fetch(tx: &mut impl Scoped, id: LeadId) -> ApiResult<LeadView> {
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
    let c = validate(tx, input, true).await?;
    let id = Uuid::now_v7();
    create_many(tx, user, vec![(id, c)], now).await?;
    let mut v = fetch(tx, LeadId(id)).await?;
    custom::visible(tx, custom::Entity::Leads, std::slice::from_mut(&mut v)).await?;
    Ok(v)
}

/// Inserts new leads (each with its id) in one statement: what [`create`]
/// does for one. Each needs its first name (checked as `creating`); one
/// marked converted (by an import) is converted from `now`.
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
        company_name: Option<String>,
        source: Option<String>,
        status: LeadStatus,
        estimated_value: Option<i64>,
        currency: String,
        owner_id: Uuid,
        converted_at: Option<DateTime<Utc>>,
        custom: serde_json::Value,
    }
    let mut new = Vec::with_capacity(rows.len());
    for (id, Valid(c)) in rows {
        let status = c.status.unwrap_or(LeadStatus::New);
        new.push(New {
            id,
            first_name: c
                .first_name
                .ok_or_else(|| ApiError::field("first_name", "is required"))?,
            last_name: c.last_name.flatten(),
            email: c.email.flatten(),
            phone: c.phone.flatten(),
            company_name: c.company_name.flatten(),
            source: c.source.flatten(),
            status,
            estimated_value: c.estimated_value.flatten(),
            currency: c.currency.unwrap_or_else(|| Currency::DEFAULT.into()),
            owner_id: c.owner_id.unwrap_or(user.id.0),
            converted_at: (status == LeadStatus::Converted).then_some(now),
            custom: c.custom.object(),
        });
    }
    super::insert_rows(
        tx,
        "INSERT INTO leads (tenant_id, created_by, created_at, updated_at, id, first_name, last_name, email,
                            phone, company_name, source, status, estimated_value, currency, owner_id,
                            converted_at, custom_fields)",
        &[&user.id.0, &now],
        &new,
        |l, b| {
            b.extend_from_slice(&[
                &l.id as &dyn Bind,
                &l.first_name,
                &l.last_name,
                &l.email,
                &l.phone,
                &l.company_name,
                &l.source,
                &l.status,
                &l.estimated_value,
                &l.currency,
                &l.owner_id,
                &l.converted_at,
                &l.custom,
            ])
        },
        |p| format!("($1, $2, $3, $3, {})", p.join(", ")),
    )
    .await?;
    if crate::events::wanted(tx, &[EventType::Created(Subject::Lead)]).await? {
        let mut views = get_many(tx, &new.iter().map(|l| l.id).collect::<Vec<_>>()).await?;
        views.sort_by_key(|v| v.id);
        crate::events::created(tx, Subject::Lead, &views, now).await?;
    }
    Ok(())
}

/// The leads of `ids` (those of the caller's tenant), in no order.
async fn get_many(tx: &mut impl Scoped, ids: &[Uuid]) -> ApiResult<Vec<LeadView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads l WHERE l.tenant_id = $1 AND {}"
        ),
        super::id_in(tx.dialect(), "l.id")
    );
    Ok(tx.query(&sql, &[&IdList(ids.to_vec())]).await?)
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: LeadId,
    input: LeadInput,
    now: DateTime<Utc>,
) -> ApiResult<LeadView> {
    let current = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Leads, &current).await?;
    let c = validate(tx, input, false).await?;
    let mut after = write_updates(tx, who.me().0, vec![current], vec![(id.0, c)], now).await?;
    after.remove(&id.0).ok_or_else(ApiError::not_found)
}

/// Writes changes over existing leads, as [`update`] does for one: each
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

/// The one way leads are changed: each change written, the records read
/// back, and what changed recorded for their timelines. `before` holds the
/// current view of every record named; the views after are returned. A
/// converted lead's status stays (409 for the API, see [`StatusRule`]); a
/// lead marked converted (by an import) is converted from `now`.
async fn write_updates(
    tx: &mut impl Scoped,
    by: Uuid,
    before: Vec<LeadView>,
    rows: Vec<(Uuid, Valid)>,
    now: DateTime<Utc>,
) -> ApiResult<HashMap<Uuid, LeadView>> {
    let mut before = before;
    custom::visible(tx, custom::Entity::Leads, &mut before).await?;
    let mut current: HashMap<Uuid, LeadView> = before.into_iter().map(|v| (v.id, v)).collect();
    for round in super::rounds(rows) {
        let ids: Vec<Uuid> = round.iter().map(|(id, _)| *id).collect();
        for (id, Valid(mut c)) in round {
            let converted = current
                .get(&id)
                .is_some_and(|l| l.status == LeadStatus::Converted);
            if converted && c.status.is_some() {
                match c.rule {
                    StatusRule::Api => {
                        return Err(ApiError::conflict(
                            "the lead is converted; its status stays",
                        ))
                    }
                    StatusRule::Import => c.status = None,
                }
            }
            let sql = format!(
                "UPDATE leads SET
                    first_name = COALESCE($3, first_name),
                    last_name = CASE WHEN $4 THEN $5 ELSE last_name END,
                    email = CASE WHEN $6 THEN $7 ELSE email END,
                    phone = CASE WHEN $8 THEN $9 ELSE phone END,
                    company_name = CASE WHEN $10 THEN $11 ELSE company_name END,
                    source = CASE WHEN $12 THEN $13 ELSE source END,
                    status = COALESCE($14, status),
                    converted_at = CASE WHEN $20 THEN COALESCE(converted_at, $19) ELSE converted_at END,
                    estimated_value = CASE WHEN $15 THEN $16 ELSE estimated_value END,
                    currency = COALESCE($17, currency),
                    owner_id = COALESCE($18, owner_id),
                    custom_fields = {},
                    updated_at = $19
                  WHERE tenant_id = $1 AND id = $2",
                custom::merge_sql(tx.dialect(), "custom_fields", "$21")
            );
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
                    &c.company_name.is_some(),
                    &c.company_name.flatten(),
                    &c.source.is_some(),
                    &c.source.flatten(),
                    &c.status,
                    &c.estimated_value.is_some(),
                    &c.estimated_value.flatten(),
                    &c.currency,
                    &c.owner_id,
                    &now,
                    &(c.status == Some(LeadStatus::Converted)),
                    &c.custom.value().cloned(),
                ],
            )
            .await?;
        }
        let mut after = get_many(tx, &ids).await?;
        custom::visible(tx, custom::Entity::Leads, &mut after).await?;
        let changed: Vec<(Uuid, &LeadView, &LeadView)> = after
            .iter()
            .filter_map(|a| current.get(&a.id).map(|b| (a.id, b, a)))
            .collect();
        super::timeline::record_changes(tx, RecordKind::Lead, &changed, by, now).await?;
        current.extend(after.into_iter().map(|v| (v.id, v)));
    }
    Ok(current)
}

pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: LeadId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Leads, &current).await?;
    tx.execute("DELETE FROM leads WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    crate::events::deleted(tx, Subject::Lead, &[current], now).await
}

#[derive(Debug, Default)]
pub struct LeadFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub status: Option<LeadStatus>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
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
    s.visible(who, RecordType::Leads);
    custom::list(tx, custom::Entity::Leads, &f.custom, s, "l", req).await
}

/// `POST /api/leads/:id/convert`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertRequest {
    /// Also open a deal for the new contact.
    pub create_deal: Option<bool>,
    /// Default: "<company or name> deal". Checked also without a deal.
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

/// The title a converted lead's deal gets unless it is given one.
pub fn default_deal_title(lead: &LeadView) -> String {
    let who = lead
        .company_name
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "{} {}",
                lead.first_name,
                lead.last_name.clone().unwrap_or_default()
            )
        });
    // A long company name still makes a title within the limit.
    let who: String = who
        .trim()
        .chars()
        .take(crate::crm::deals::TITLE_MAX - " deal".len())
        .collect();
    format!("{} deal", who.trim_end())
}

/// A lead as another record names its origin.
#[derive(Debug, Clone)]
pub struct LeadRef {
    pub id: Uuid,
    pub name: String,
}

/// The leads converted into this contact, company or deal (their ids; any
/// the caller may read or not: the record's timeline carries their notes
/// and activities, each kept to what the caller may read).
pub(crate) async fn converted_ids(
    tx: &mut impl Scoped,
    kind: RecordKind,
    id: Uuid,
) -> ApiResult<Vec<Uuid>> {
    let sql = match kind {
        RecordKind::Contact => {
            "SELECT id FROM leads WHERE tenant_id = $1 AND converted_contact_id = $2"
        }
        RecordKind::Company => {
            "SELECT id FROM leads WHERE tenant_id = $1 AND converted_company_id = $2"
        }
        RecordKind::Deal => "SELECT id FROM leads WHERE tenant_id = $1 AND converted_deal_id = $2",
        RecordKind::Lead => return Ok(Vec::new()),
    };
    let rows: Vec<crate::store::One<Uuid>> = tx.query(sql, &[&id]).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The lead (one the caller may read) this contact, company or deal was
/// converted from.
pub async fn converted_into(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    kind: RecordKind,
    id: Uuid,
) -> ApiResult<Option<LeadRef>> {
    let ids = converted_ids(tx, kind, id).await?;
    let names = super::names::of(tx, who, super::names::Named::Lead, &ids).await?;
    Ok(ids.into_iter().find_map(|id| {
        names.get(&id).map(|name| LeadRef {
            id,
            name: name.clone(),
        })
    }))
}

/// Converts in the caller's transaction: contact (and company, and deal),
/// then the lead marked converted. Converting twice is 409.
pub async fn convert(
    tx: &mut impl Scoped,
    user: &SessionUser,
    id: LeadId,
    req: ConvertRequest,
    now: DateTime<Utc>,
) -> ApiResult<Conversion> {
    let lead = get(tx, &user.access, id).await?;
    user.access
        .ensure_edit(tx, RecordType::Leads, &lead)
        .await?;
    if lead.status == LeadStatus::Converted {
        return Err(ApiError::conflict("the lead is already converted"));
    }
    // A title given is checked like a deal's, whether or not a deal is made.
    let mut e = FieldErrors::default();
    let deal_title = e.text(
        "deal_title",
        req.deal_title.clone(),
        crate::crm::deals::TITLE_MAX,
    );
    e.finish()?;
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
        let title = deal_title.unwrap_or_else(|| default_deal_title(&lead));
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
    let converted = fetch(tx, id).await?;
    let consumers = crate::events::Consumers::of(tx).await?;
    if consumers.wants_any(&[EventType::Updated(Subject::Lead), EventType::LeadConverted]) {
        let changes = crate::events::changes(&lead, &converted).map(serde_json::Value::Object);
        let events = vec![
            crate::events::NewEvent::of(
                EventType::Updated(Subject::Lead),
                &converted,
                changes.as_ref(),
            )?,
            crate::events::NewEvent::of(EventType::LeadConverted, &converted, None)?,
        ];
        crate::events::publish_to(tx, &consumers, events, now).await?;
    }
    Ok(Conversion {
        lead: converted,
        contact,
        company,
        deal,
    })
}
