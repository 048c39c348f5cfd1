//! Deals: money moving through a pipeline. A deal's status is its stage's
//! kind (open, won, lost), and `closed_at` is when it last entered a won or
//! lost stage.

use super::listing::{self, ListRequest, Param, Select};
use super::{check_reference, custom, Table};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::{Currency, DealId, PipelineId, StageId, StageKind};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{EventType, NewEvent, Subject};
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `lost_reason` takes (validation and description).
pub(crate) const LOST_REASON_MAX: usize = 500;
/// The most characters `title` takes (validation and description).
pub(crate) const TITLE_MAX: usize = 255;

macro_rules! deal_columns {
    () => {
        "d.id, d.title, d.pipeline_id, d.stage_id, d.status, d.amount, d.currency, d.expected_close_date,
         d.contact_id, d.company_id, d.lost_reason, d.closed_at, d.owner_id, d.created_by,
         d.created_at, d.updated_at, d.sort_name, d.custom_fields"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealView {
    pub id: Uuid,
    pub title: String,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// The stage's kind: `open`, `won` or `lost`.
    pub status: StageKind,
    /// In minor units (cents) of `currency`.
    pub amount: i64,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
    pub expected_close_date: Option<NaiveDate>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lost_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `{key: value}` of the tenant's custom fields for deals.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for DealView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(DealView {
            id: r.get("id")?,
            title: r.get("title")?,
            pipeline_id: r.get("pipeline_id")?,
            stage_id: r.get("stage_id")?,
            status: r.get("status")?,
            amount: r.get("amount")?,
            currency: r.get("currency")?,
            expected_close_date: r.get("expected_close_date")?,
            contact_id: r.get("contact_id")?,
            company_id: r.get("company_id")?,
            lost_reason: r.get("lost_reason")?,
            closed_at: r.get("closed_at")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            custom_fields: super::custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed_custom!(DealView);

impl Owned for DealView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, None]
    }
}

/// `POST /api/deals` and `PATCH /api/deals/:id` (there every field is
/// optional, and `null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ TITLE_MAX }>)]
    pub title: Option<String>,
    /// Default: the tenant's default pipeline (or the stage's pipeline).
    pub pipeline_id: Option<Uuid>,
    /// Must belong to the pipeline; default: its first open stage. Moving a
    /// deal between stages is a PATCH of this field.
    pub stage_id: Option<Uuid>,
    /// Minor units (cents), 0 or more.
    #[schema(schema_with = crate::contract::amount_or_null)]
    pub amount: Option<i64>,
    /// ISO 4217 code; default `USD`.
    #[schema(schema_with = crate::contract::currency_or_null)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::date_or_null)]
    pub expected_close_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub contact_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub company_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ LOST_REASON_MAX }>)]
    pub lost_reason: Option<Option<String>>,
    pub owner_id: Option<Uuid>,
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Where in which pipeline a deal stands.
struct Placement {
    pipeline_id: Uuid,
    stage_id: Uuid,
    kind: StageKind,
}

struct PlacementRow(Placement);

impl FromRow for PlacementRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(PlacementRow(Placement {
            pipeline_id: r.get("pipeline_id")?,
            stage_id: r.get("id")?,
            kind: r.get("kind")?,
        }))
    }
}

/// Resolves pipeline and stage: the stage must be of the pipeline; either
/// may be left out.
async fn place(
    tx: &mut impl Scoped,
    e: &mut FieldErrors,
    pipeline: Option<Uuid>,
    stage: Option<Uuid>,
) -> ApiResult<Option<Placement>> {
    let row: Option<PlacementRow> = match (pipeline, stage) {
        (_, Some(stage)) => {
            let found: Option<PlacementRow> = tx
                .query_opt(
                    "SELECT id, pipeline_id, kind FROM pipeline_stages WHERE tenant_id = $1 AND id = $2",
                    &[&stage],
                )
                .await?;
            match (found, pipeline) {
                (None, _) => {
                    e.add("stage_id", "does not name a stage of this company");
                    None
                }
                (Some(f), Some(p)) if f.0.pipeline_id != p => {
                    e.add("stage_id", "is not a stage of that pipeline");
                    None
                }
                (found, _) => found,
            }
        }
        (Some(pipeline), None) => {
            let found: Option<PlacementRow> = tx
                .query_opt(
                    "SELECT s.id, s.pipeline_id, s.kind FROM pipeline_stages s
                      WHERE s.tenant_id = $1 AND s.pipeline_id = $2
                      ORDER BY CASE WHEN s.kind = 'open' THEN 0 ELSE 1 END, s.position LIMIT 1",
                    &[&pipeline],
                )
                .await?;
            if found.is_none() {
                e.add("pipeline_id", "does not name a pipeline of this company");
            }
            found
        }
        (None, None) => {
            let found: Option<PlacementRow> = tx
                .query_opt(
                    "SELECT s.id, s.pipeline_id, s.kind FROM pipeline_stages s
                       JOIN pipelines p ON p.tenant_id = s.tenant_id AND p.id = s.pipeline_id
                      WHERE s.tenant_id = $1 AND p.tenant_id = $1 AND p.is_default
                      ORDER BY CASE WHEN s.kind = 'open' THEN 0 ELSE 1 END, s.position LIMIT 1",
                    &[],
                )
                .await?;
            if found.is_none() {
                e.add(
                    "pipeline_id",
                    "is required: the company has no default pipeline",
                );
            }
            found
        }
    };
    Ok(row.map(|r| r.0))
}

fn check_close_date(e: &mut FieldErrors, input: &DealInput) {
    if let Some(Some(d)) = &input.expected_close_date {
        e.check("expected_close_date", crate::domain::check_date(d));
    }
}

/// `closed_at` after a move to a stage of `kind`.
fn closed_at(
    kind: StageKind,
    before: Option<(StageKind, Option<DateTime<Utc>>)>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (kind, before) {
        (StageKind::Open, _) => None,
        (k, Some((old, at))) if old == k => at,
        _ => Some(now),
    }
}

/// One the caller may read (404 otherwise).
pub async fn get(tx: &mut impl Scoped, who: &RecordAccess, id: DealId) -> ApiResult<DealView> {
    let mut v = fetch(tx, id).await?;
    who.ensure_read(tx, RecordType::Deals, &v).await?;
    custom::visible(tx, custom::Entity::Deals, std::slice::from_mut(&mut v)).await?;
    Ok(v)
}

/// One of the tenant, whoever may read it.
pub(crate) async fn fetch(tx: &mut impl Scoped, id: DealId) -> ApiResult<DealView> {
    tx.query_opt(
        concat!(
            "SELECT ",
            deal_columns!(),
            " FROM deals d WHERE d.tenant_id = $1 AND d.id = $2"
        ),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

async fn check_links(
    tx: &mut impl Scoped,
    e: &mut FieldErrors,
    input: &DealInput,
) -> ApiResult<()> {
    check_reference(
        tx,
        e,
        "contact_id",
        Table::Contacts,
        input.contact_id.flatten(),
    )
    .await?;
    check_reference(
        tx,
        e,
        "company_id",
        Table::Companies,
        input.company_id.flatten(),
    )
    .await?;
    check_reference(tx, e, "owner_id", Table::Users, input.owner_id).await
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: DealInput,
    now: DateTime<Utc>,
) -> ApiResult<DealView> {
    crate::usage::ensure_records(tx, user, 1).await?;
    let mut e = FieldErrors::default();
    let title = e.required("title", input.title.clone());
    let title = e.text("title", title, TITLE_MAX);
    super::check_amount(&mut e, "amount", input.amount);
    let amount = input.amount.unwrap_or(0);
    let currency = Currency::field(&mut e, "currency", input.currency.clone())
        .unwrap_or_else(|| Currency::DEFAULT.into());
    check_close_date(&mut e, &input);
    let lost_reason = clearable(
        &mut e,
        "lost_reason",
        input.lost_reason.clone(),
        LOST_REASON_MAX,
    );
    check_links(tx, &mut e, &input).await?;
    let given = custom::check_one(
        tx,
        custom::Entity::Deals,
        input.custom_fields.clone(),
        true,
        &mut e,
    )
    .await?;
    let placement = place(tx, &mut e, input.pipeline_id, input.stage_id).await?;
    e.finish()?;
    let (Some(title), Some(p)) = (title, placement) else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO deals (tenant_id, id, title, pipeline_id, stage_id, status, amount, currency,
                            expected_close_date, contact_id, company_id, lost_reason, closed_at,
                            owner_id, created_by, created_at, updated_at, custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17)",
        &[
            &id,
            &title,
            &p.pipeline_id,
            &p.stage_id,
            &p.kind,
            &amount,
            &currency,
            &input.expected_close_date.flatten(),
            &input.contact_id.flatten(),
            &input.company_id.flatten(),
            &lost_reason.flatten(),
            &closed_at(p.kind, None, now),
            &input.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
            &given.object(),
        ],
    )
    .await?;
    let mut created = fetch(tx, DealId(id)).await?;
    custom::visible(
        tx,
        custom::Entity::Deals,
        std::slice::from_mut(&mut created),
    )
    .await?;
    let consumers = crate::events::Consumers::of(tx).await?;
    let mut events = Vec::new();
    if consumers.wants(EventType::Created(Subject::Deal)) {
        events.push(NewEvent::of(
            EventType::Created(Subject::Deal),
            &created,
            None,
        )?);
    }
    // A deal made straight into a won or lost stage is won or lost.
    events.extend(closing_event(&consumers, None, &created)?);
    crate::events::publish_to(tx, &consumers, events, now).await?;
    Ok(created)
}

/// `deal.won` or `deal.lost` when the deal just entered a won or lost
/// stage (from another kind of stage, or on creation), if wanted.
fn closing_event(
    consumers: &crate::events::Consumers,
    before: Option<&DealView>,
    after: &DealView,
) -> ApiResult<Option<NewEvent>> {
    let kind = match after.status {
        StageKind::Won => EventType::DealWon,
        StageKind::Lost => EventType::DealLost,
        StageKind::Open => return Ok(None),
    };
    let entered = before.is_none_or(|b| b.status != after.status);
    if !entered || !consumers.wants(kind) {
        return Ok(None);
    }
    Ok(Some(NewEvent::of(kind, after, None)?))
}

/// The events of a deal's change beyond `deal.updated` (which its
/// timeline entry publishes): `deal.stage_changed`, then `deal.won` or
/// `deal.lost` when it entered such a stage.
pub(crate) async fn stage_events(
    tx: &mut impl Scoped,
    before: &DealView,
    after: &DealView,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if before.stage_id == after.stage_id && before.status == after.status {
        return Ok(());
    }
    let consumers = crate::events::Consumers::of(tx).await?;
    let mut events = Vec::new();
    if before.stage_id != after.stage_id && consumers.wants(EventType::DealStageChanged) {
        let changes = crate::events::changes(before, after).map(serde_json::Value::Object);
        events.push(NewEvent::of(
            EventType::DealStageChanged,
            after,
            changes.as_ref(),
        )?);
    }
    events.extend(closing_event(&consumers, Some(before), after)?);
    crate::events::publish_to(tx, &consumers, events, now).await
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: DealId,
    input: DealInput,
    now: DateTime<Utc>,
) -> ApiResult<DealView> {
    let current = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Deals, &current).await?;
    let mut e = FieldErrors::default();
    let title = e.text("title", input.title.clone(), TITLE_MAX);
    super::check_amount(&mut e, "amount", input.amount);
    let currency = Currency::field(&mut e, "currency", input.currency.clone());
    check_close_date(&mut e, &input);
    if (input.amount.is_some() || currency.as_ref().is_some_and(|c| *c != current.currency))
        && super::products::has_items(tx, id).await?
    {
        e.add(
            "amount",
            "follows the deal's line items; change those instead",
        );
    }
    let lost_reason = clearable(
        &mut e,
        "lost_reason",
        input.lost_reason.clone(),
        LOST_REASON_MAX,
    );
    check_links(tx, &mut e, &input).await?;
    let given = custom::check_one(
        tx,
        custom::Entity::Deals,
        input.custom_fields.clone(),
        false,
        &mut e,
    )
    .await?;
    let placement = if input.pipeline_id.is_some() || input.stage_id.is_some() {
        // A new pipeline without a stage lands on that pipeline's first open
        // stage; a new stage alone stays within the current pipeline.
        let pipeline = input.pipeline_id.or(Some(current.pipeline_id));
        place(tx, &mut e, pipeline, input.stage_id).await?
    } else {
        None
    };
    e.finish()?;
    let (pipeline_id, stage_id, status, closed) = match placement {
        Some(p) => (
            p.pipeline_id,
            p.stage_id,
            p.kind,
            closed_at(p.kind, Some((current.status, current.closed_at)), now),
        ),
        None => (
            current.pipeline_id,
            current.stage_id,
            current.status,
            current.closed_at,
        ),
    };
    let sql = format!(
        "UPDATE deals SET
            title = COALESCE($3, title),
            pipeline_id = $4, stage_id = $5, status = $6, closed_at = $7,
            amount = COALESCE($8, amount),
            currency = COALESCE($9, currency),
            expected_close_date = CASE WHEN $10 THEN $11 ELSE expected_close_date END,
            contact_id = CASE WHEN $12 THEN $13 ELSE contact_id END,
            company_id = CASE WHEN $14 THEN $15 ELSE company_id END,
            lost_reason = CASE WHEN $16 THEN $17 ELSE lost_reason END,
            owner_id = COALESCE($18, owner_id),
            custom_fields = {},
            updated_at = $19
          WHERE tenant_id = $1 AND id = $2",
        custom::merge_sql(tx.dialect(), "custom_fields", "$20")
    );
    tx.execute(
        &sql,
        &[
            &id,
            &title,
            &pipeline_id,
            &stage_id,
            &status,
            &closed,
            &input.amount,
            &currency,
            &input.expected_close_date.is_some(),
            &input.expected_close_date.flatten(),
            &input.contact_id.is_some(),
            &input.contact_id.flatten(),
            &input.company_id.is_some(),
            &input.company_id.flatten(),
            &lost_reason.is_some(),
            &lost_reason.flatten(),
            &input.owner_id,
            &now,
            &given.value().cloned(),
        ],
    )
    .await?;
    let mut after = fetch(tx, id).await?;
    custom::visible(tx, custom::Entity::Deals, std::slice::from_mut(&mut after)).await?;
    super::timeline::record_change(
        tx,
        super::timeline::RecordKind::Deal,
        id.0,
        &current,
        &after,
        who.me().0,
        now,
    )
    .await?;
    stage_events(tx, &current, &after, now).await?;
    Ok(after)
}

/// After a stage's kind changed: its deals' status follows.
pub(crate) async fn restatus_stage(
    tx: &mut impl Scoped,
    pipeline: PipelineId,
    stage: StageId,
    kind: StageKind,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let closed = (kind != StageKind::Open).then_some(now);
    let before: Vec<DealView> = tx
        .query(
            concat!(
                "SELECT ",
                deal_columns!(),
                " FROM deals d WHERE d.tenant_id = $1 AND d.pipeline_id = $2 AND d.stage_id = $3
                   AND d.status <> $4"
            ),
            &[&pipeline, &stage, &kind],
        )
        .await?;
    tx.execute(
        "UPDATE deals SET status = $4, closed_at = $5, updated_at = $6
          WHERE tenant_id = $1 AND pipeline_id = $2 AND stage_id = $3",
        &[&pipeline, &stage, &kind, &closed, &now],
    )
    .await?;
    // The deals whose status changed with their stage's kind: updated,
    // and won or lost.
    for b in &before {
        let after = fetch(tx, DealId(b.id)).await?;
        crate::events::updated(tx, Subject::Deal, &[(b, &after)], now).await?;
        stage_events(tx, b, &after, now).await?;
    }
    Ok(())
}

/// Moves every deal of a stage to another stage of the same pipeline (the
/// stage is being deleted), each move on its deal's timeline.
pub(crate) async fn move_stage(
    tx: &mut impl Scoped,
    by: &SessionUser,
    pipeline: PipelineId,
    from: StageId,
    to: &super::pipelines::StageView,
    now: DateTime<Utc>,
) -> ApiResult<u64> {
    let before: Vec<DealView> = tx
        .query(
            concat!(
                "SELECT ",
                deal_columns!(),
                " FROM deals d WHERE d.tenant_id = $1 AND d.pipeline_id = $2 AND d.stage_id = $3"
            ),
            &[&pipeline, &from],
        )
        .await?;
    let after: Vec<DealView> = before
        .iter()
        .map(|d| DealView {
            stage_id: to.id,
            status: to.kind,
            closed_at: closed_at(to.kind, Some((d.status, d.closed_at)), now),
            updated_at: now,
            ..d.clone()
        })
        .collect();
    for d in &after {
        tx.execute(
            "UPDATE deals SET stage_id = $3, status = $4, closed_at = $5, updated_at = $6
              WHERE tenant_id = $1 AND id = $2",
            &[&d.id, &d.stage_id, &d.status, &d.closed_at, &now],
        )
        .await?;
    }
    let pairs: Vec<(Uuid, &DealView, &DealView)> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.id, b, a))
        .collect();
    super::timeline::record_changes(tx, super::timeline::RecordKind::Deal, &pairs, by.id.0, now)
        .await?;
    Ok(after.len() as u64)
}

pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: DealId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Deals, &current).await?;
    tx.execute("DELETE FROM deals WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    crate::events::deleted(tx, Subject::Deal, &[current], now).await
}

#[derive(Debug, Default)]
pub struct DealFilter {
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub status: Option<StageKind>,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    f: &DealFilter,
    req: &ListRequest,
) -> ApiResult<Page<DealView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            deal_columns!(),
            " FROM deals d WHERE d.tenant_id = $1"
        ),
        "d",
    );
    s.search(f.q.as_deref(), &["d.sort_name"]);
    s.and_ids(&[
        ("d.owner_id", f.owner_id),
        ("d.pipeline_id", f.pipeline_id),
        ("d.stage_id", f.stage_id),
        ("d.company_id", f.company_id),
        ("d.contact_id", f.contact_id),
    ]);
    if let Some(status) = f.status {
        s.and("d.status = {}", Param::Text(status.as_str().to_owned()));
    }
    s.visible(who, RecordType::Deals);
    custom::list(tx, custom::Entity::Deals, &f.custom, s, "d", req).await
}
