//! Activities: calls, meetings, tasks, e-mails and deadlines, each linked to
//! any of a contact, company, lead or deal, assigned to a user, and shown on
//! a calendar (`from`/`to` on `due_at`).

use super::listing::{Keyed, ListRequest, Param, Select};
use super::{check_reference, custom, Table, LINKS};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::ActivityId;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::Subject;
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `subject` takes (validation and description).
pub(crate) const SUBJECT_MAX: usize = 255;
/// The longest activity, in minutes (a week).
pub(crate) const DURATION_MAX: i64 = 10_080;

crate::domain::text_enum!(
    /// What kind of activity.
    ActivityType { Call = "call", Meeting = "meeting", Task = "task", Email = "email", Deadline = "deadline" }
);

macro_rules! activity_columns {
    () => {
        "a.id, a.type, a.subject, a.notes, a.due_at, a.duration_minutes, a.done, a.done_at,
         a.assigned_to, a.contact_id, a.company_id, a.lead_id, a.deal_id, a.owner_id, a.created_by,
         a.created_at, a.updated_at, a.sort_name, a.custom_fields"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: ActivityType,
    pub subject: String,
    pub notes: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub done: bool,
    pub done_at: Option<DateTime<Utc>>,
    pub assigned_to: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `{key: value}` of the tenant's custom fields for activities.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for ActivityView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(ActivityView {
            id: r.get("id")?,
            kind: r.get("type")?,
            subject: r.get("subject")?,
            notes: r.get("notes")?,
            due_at: r.get("due_at")?,
            duration_minutes: r.get("duration_minutes")?,
            done: r.get("done")?,
            done_at: r.get("done_at")?,
            assigned_to: r.get("assigned_to")?,
            contact_id: r.get("contact_id")?,
            company_id: r.get("company_id")?,
            lead_id: r.get("lead_id")?,
            deal_id: r.get("deal_id")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            custom_fields: super::custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

impl Keyed for ActivityView {
    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    fn sort_name(&self) -> &str {
        &self.sort_name
    }
    fn due_at(&self) -> Option<DateTime<Utc>> {
        self.due_at
    }
    fn custom_fields(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        Some(&self.custom_fields)
    }
}

impl custom::Custom for ActivityView {
    fn custom_fields_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.custom_fields
    }
}

/// `POST /api/activities` and `PATCH /api/activities/:id` (there every
/// field is optional, and `null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    /// `call`, `meeting`, `task` (default), `email` or `deadline`.
    #[serde(rename = "type")]
    pub kind: Option<ActivityType>,
    #[schema(schema_with = crate::contract::text_or_null::<{ SUBJECT_MAX }>)]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::time_or_null)]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::int_or_null::<0, { DURATION_MAX }>)]
    pub duration_minutes: Option<Option<i64>>,
    /// Marking it done records `done_at`; undoing clears it.
    pub done: Option<bool>,
    /// A user of the same tenant; default: the creator.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub assigned_to: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub contact_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub company_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub lead_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub deal_id: Option<Option<Uuid>>,
    pub owner_id: Option<Uuid>,
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

async fn validate(
    tx: &mut impl Scoped,
    input: &ActivityInput,
    creating: bool,
) -> ApiResult<(Option<String>, Option<Option<String>>, custom::Given)> {
    let mut e = FieldErrors::default();
    let subject = if creating {
        e.required("subject", input.subject.clone())
    } else {
        input.subject.clone()
    };
    let subject = e.text("subject", subject, SUBJECT_MAX);
    let notes = clearable(&mut e, "notes", input.notes.clone(), 10_000);
    if let Some(Some(d)) = input.duration_minutes {
        if !(0..=DURATION_MAX).contains(&d) {
            e.add("duration_minutes", "must be from 0 to 10080 (a week)");
        }
    }
    if let Some(Some(t)) = &input.due_at {
        e.check("due_at", crate::domain::check_time(t));
    }
    check_reference(
        tx,
        &mut e,
        "assigned_to",
        Table::Users,
        input.assigned_to.flatten(),
    )
    .await?;
    check_reference(
        tx,
        &mut e,
        "contact_id",
        Table::Contacts,
        input.contact_id.flatten(),
    )
    .await?;
    check_reference(
        tx,
        &mut e,
        "company_id",
        Table::Companies,
        input.company_id.flatten(),
    )
    .await?;
    check_reference(tx, &mut e, "lead_id", Table::Leads, input.lead_id.flatten()).await?;
    check_reference(tx, &mut e, "deal_id", Table::Deals, input.deal_id.flatten()).await?;
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    let given = custom::check_one(
        tx,
        custom::Entity::Activities,
        input.custom_fields.clone(),
        creating,
        &mut e,
    )
    .await?;
    e.finish()?;
    Ok((subject, notes, given))
}

impl Owned for ActivityView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, self.assigned_to]
    }
}

const GET: &str = concat!(
    "SELECT ",
    activity_columns!(),
    " FROM activities a WHERE a.tenant_id = $1 AND a.id = $2"
);

/// An activity the caller may read, with the records it belongs to (404
/// otherwise).
pub async fn get(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ActivityId,
) -> ApiResult<ActivityView> {
    let mut a: ActivityView =
        super::get_linked(tx, who, RecordType::Activities, "a", GET, &id).await?;
    custom::visible(tx, custom::Entity::Activities, std::slice::from_mut(&mut a)).await?;
    Ok(a)
}

/// An activity of the tenant, whoever may read it.
async fn fetch(tx: &mut impl Scoped, id: ActivityId) -> ApiResult<ActivityView> {
    tx.query_opt(GET, &[&id])
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: ActivityInput,
    now: DateTime<Utc>,
) -> ApiResult<ActivityView> {
    let (subject, notes, given) = validate(tx, &input, true).await?;
    let done = input.done.unwrap_or(false);
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO activities (tenant_id, id, type, subject, notes, due_at, duration_minutes, done,
                                 done_at, assigned_to, contact_id, company_id, lead_id, deal_id,
                                 owner_id, created_by, created_at, updated_at, custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18)",
        &[
            &id,
            &input.kind.unwrap_or(ActivityType::Task),
            &subject,
            &notes.flatten(),
            &input.due_at.flatten(),
            &input.duration_minutes.flatten(),
            &done,
            &done.then_some(now),
            &input.assigned_to.unwrap_or(Some(user.id.0)),
            &input.contact_id.flatten(),
            &input.company_id.flatten(),
            &input.lead_id.flatten(),
            &input.deal_id.flatten(),
            &input.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
            &given.object(),
        ],
    )
    .await?;
    let mut created = fetch(tx, ActivityId(id)).await?;
    custom::visible(
        tx,
        custom::Entity::Activities,
        std::slice::from_mut(&mut created),
    )
    .await?;
    crate::events::created(tx, Subject::Activity, std::slice::from_ref(&created), now).await?;
    Ok(created)
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ActivityId,
    input: ActivityInput,
    now: DateTime<Utc>,
) -> ApiResult<ActivityView> {
    let current = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Activities, &current)
        .await?;
    let (subject, notes, given) = validate(tx, &input, false).await?;
    let done_at = match input.done {
        Some(true) if !current.done => Some(now),
        Some(true) => current.done_at,
        Some(false) => None,
        None => current.done_at,
    };
    let sql = format!(
        "UPDATE activities SET
            type = COALESCE($3, type),
            subject = COALESCE($4, subject),
            notes = CASE WHEN $5 THEN $6 ELSE notes END,
            due_at = CASE WHEN $7 THEN $8 ELSE due_at END,
            duration_minutes = CASE WHEN $9 THEN $10 ELSE duration_minutes END,
            done = COALESCE($11, done),
            done_at = $12,
            assigned_to = CASE WHEN $13 THEN $14 ELSE assigned_to END,
            contact_id = CASE WHEN $15 THEN $16 ELSE contact_id END,
            company_id = CASE WHEN $17 THEN $18 ELSE company_id END,
            lead_id = CASE WHEN $19 THEN $20 ELSE lead_id END,
            deal_id = CASE WHEN $21 THEN $22 ELSE deal_id END,
            owner_id = COALESCE($23, owner_id),
            custom_fields = {},
            updated_at = $24
          WHERE tenant_id = $1 AND id = $2",
        custom::merge_sql(tx.dialect(), "custom_fields", "$25")
    );
    tx.execute(
        &sql,
        &[
            &id,
            &input.kind,
            &subject,
            &notes.is_some(),
            &notes.flatten(),
            &input.due_at.is_some(),
            &input.due_at.flatten(),
            &input.duration_minutes.is_some(),
            &input.duration_minutes.flatten(),
            &input.done,
            &done_at,
            &input.assigned_to.is_some(),
            &input.assigned_to.flatten(),
            &input.contact_id.is_some(),
            &input.contact_id.flatten(),
            &input.company_id.is_some(),
            &input.company_id.flatten(),
            &input.lead_id.is_some(),
            &input.lead_id.flatten(),
            &input.deal_id.is_some(),
            &input.deal_id.flatten(),
            &input.owner_id,
            &now,
            &given.value().cloned(),
        ],
    )
    .await?;
    let mut after = fetch(tx, id).await?;
    custom::visible(
        tx,
        custom::Entity::Activities,
        std::slice::from_mut(&mut after),
    )
    .await?;
    crate::events::updated(tx, Subject::Activity, &[(&current, &after)], now).await?;
    Ok(after)
}

pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: ActivityId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Activities, &current)
        .await?;
    tx.execute(
        "DELETE FROM activities WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    crate::events::deleted(tx, Subject::Activity, &[current], now).await
}

#[derive(Debug, Default)]
pub struct ActivityFilter {
    pub q: Option<String>,
    /// Due at or after.
    pub from: Option<DateTime<Utc>>,
    /// Due before.
    pub to: Option<DateTime<Utc>>,
    pub assigned_to: Option<Uuid>,
    pub done: Option<bool>,
    pub kind: Option<ActivityType>,
    pub owner_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    f: &ActivityFilter,
    req: &ListRequest,
) -> ApiResult<Page<ActivityView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            activity_columns!(),
            " FROM activities a WHERE a.tenant_id = $1"
        ),
        "a",
    );
    s.search(f.q.as_deref(), &["a.sort_name"]);
    if let Some(from) = f.from {
        s.and("a.due_at >= {}", Param::Time(from));
    }
    if let Some(to) = f.to {
        s.and("a.due_at < {}", Param::Time(to));
    }
    if let Some(done) = f.done {
        s.and_sql(if done { "a.done" } else { "NOT a.done" });
    }
    if let Some(kind) = f.kind {
        s.and("a.type = {}", Param::Text(kind.as_str().to_owned()));
    }
    s.and_ids(&[
        ("a.assigned_to", f.assigned_to),
        ("a.owner_id", f.owner_id),
        ("a.contact_id", f.contact_id),
        ("a.company_id", f.company_id),
        ("a.lead_id", f.lead_id),
        ("a.deal_id", f.deal_id),
    ]);
    s.visible_linked(who, RecordType::Activities, LINKS);
    custom::list(tx, custom::Entity::Activities, &f.custom, s, "a", req).await
}

/// The newest activities of one record, for its timeline.
pub(crate) async fn for_record(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    kind: super::timeline::RecordKind,
    id: Uuid,
    req: &ListRequest,
) -> ApiResult<Vec<ActivityView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            activity_columns!(),
            " FROM activities a WHERE a.tenant_id = $1"
        ),
        "a",
    );
    s.and(&format!("a.{} = {{}}", kind.link_column()), Param::Uuid(id));
    s.visible_linked(who, RecordType::Activities, LINKS);
    s.rows(tx, req).await
}
