//! Pipelines and their ordered stages. Every tenant starts with a default
//! "Sales" pipeline; admins and managers shape more (Support, Projects…).
//! A stage's kind (open, won, lost) is what its deals' status says.

use crate::auth::Manager;
use crate::domain::{PipelineId, StageId, StageKind};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `name` takes (validation and description).
pub(crate) const NAME_MAX: usize = 100;

/// The stages a new pipeline gets unless it is given its own.
pub const DEFAULT_STAGES: &[(&str, i64, StageKind)] = &[
    ("New", 10, StageKind::Open),
    ("Qualified", 25, StageKind::Open),
    ("Proposal", 50, StageKind::Open),
    ("Negotiation", 75, StageKind::Open),
    ("Won", 100, StageKind::Won),
    ("Lost", 0, StageKind::Lost),
];

const MAX_PIPELINES: i64 = 50;
pub const MAX_STAGES: usize = 30;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageView {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: String,
    pub position: i64,
    /// Percent chance of winning a deal in this stage.
    pub probability: i64,
    pub kind: StageKind,
    /// `#rrggbb`, or `null`: the board's plain colour.
    pub color: Option<String>,
}

impl FromRow for StageView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(StageView {
            id: r.get("id")?,
            pipeline_id: r.get("pipeline_id")?,
            name: r.get("name")?,
            position: r.get("position")?,
            probability: r.get("probability")?,
            kind: r.get("kind")?,
            color: r.get("color")?,
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineView {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    pub is_default: bool,
    /// In order.
    pub stages: Vec<StageView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for PipelineView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(PipelineView {
            id: r.get("id")?,
            name: r.get("name")?,
            position: r.get("position")?,
            is_default: r.get("is_default")?,
            stages: Vec::new(),
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

async fn stages_of(tx: &mut impl Scoped, pipeline: Option<Uuid>) -> ApiResult<Vec<StageView>> {
    let rows = match pipeline {
        Some(p) => {
            tx.query(
                "SELECT id, pipeline_id, name, position, probability, kind, color FROM pipeline_stages
                  WHERE tenant_id = $1 AND pipeline_id = $2 ORDER BY position, id",
                &[&p],
            )
            .await?
        }
        None => {
            tx.query(
                "SELECT id, pipeline_id, name, position, probability, kind, color FROM pipeline_stages
                  WHERE tenant_id = $1 ORDER BY pipeline_id, position, id",
                &[],
            )
            .await?
        }
    };
    Ok(rows)
}

/// Every pipeline with its stages, in order.
pub async fn list(tx: &mut impl Scoped) -> ApiResult<Vec<PipelineView>> {
    let mut pipelines: Vec<PipelineView> = tx
        .query(
            "SELECT id, name, position, is_default, created_at, updated_at FROM pipelines
              WHERE tenant_id = $1 ORDER BY position, created_at, id",
            &[],
        )
        .await?;
    for stage in stages_of(tx, None).await? {
        if let Some(p) = pipelines.iter_mut().find(|p| p.id == stage.pipeline_id) {
            p.stages.push(stage);
        }
    }
    Ok(pipelines)
}

pub async fn get(tx: &mut impl Scoped, id: PipelineId) -> ApiResult<PipelineView> {
    let mut p: PipelineView = tx
        .query_opt(
            "SELECT id, name, position, is_default, created_at, updated_at FROM pipelines
              WHERE tenant_id = $1 AND id = $2",
            &[&id],
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    p.stages = stages_of(tx, Some(id.0)).await?;
    Ok(p)
}

/// A stage as given when a pipeline is made or a stage added.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[schema(required = true, schema_with = crate::contract::text::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// 0–100; default by kind (open 10, won 100, lost 0).
    #[schema(schema_with = crate::contract::percent_or_null)]
    pub probability: Option<i64>,
    /// `open` (default), `won` or `lost`.
    pub kind: Option<StageKind>,
    /// `#rrggbb`; default none.
    #[schema(schema_with = crate::contract::color_or_null)]
    pub color: Option<String>,
}

struct NewStage {
    name: String,
    probability: i64,
    kind: StageKind,
    color: Option<String>,
}

/// A colour as `#rrggbb` (lower case), the one form stored.
fn check_color(e: &mut FieldErrors, field: &str, c: Option<String>) -> Option<String> {
    let c = c.map(|c| c.trim().to_ascii_lowercase())?;
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Some(c)
    } else {
        e.add(field, "must be a colour such as #1d4ed8");
        None
    }
}

fn validate_stage(e: &mut FieldErrors, prefix: &str, s: StageInput) -> Option<NewStage> {
    let name = e.required(&format!("{prefix}name"), s.name);
    let name = e.text(&format!("{prefix}name"), name, 100);
    let kind = s.kind.unwrap_or(StageKind::Open);
    let probability = s.probability.unwrap_or(match kind {
        StageKind::Open => 10,
        StageKind::Won => 100,
        StageKind::Lost => 0,
    });
    if !(0..=100).contains(&probability) {
        e.add(&format!("{prefix}probability"), "must be from 0 to 100");
    }
    let color = check_color(e, &format!("{prefix}color"), s.color);
    Some(NewStage {
        name: name?,
        probability,
        kind,
        color,
    })
}

async fn insert_stage(
    tx: &mut impl Scoped,
    pipeline: Uuid,
    position: i64,
    s: &NewStage,
    now: DateTime<Utc>,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO pipeline_stages (tenant_id, id, pipeline_id, name, position, probability, kind, color, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[&id, &pipeline, &s.name, &position, &s.probability, &s.kind, &s.color, &now],
    )
    .await?;
    Ok(id)
}

/// `POST /api/pipelines`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    #[schema(required = true, schema_with = crate::contract::text::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// 1 to 30 stages, in order. Default: New, Qualified, Proposal,
    /// Negotiation, Won, Lost.
    #[schema(schema_with = crate::contract::stages_or_null)]
    pub stages: Option<Vec<StageInput>>,
    /// Make it the tenant's default pipeline.
    pub is_default: Option<bool>,
}

fn name_taken() -> ApiError {
    ApiError::conflict("a pipeline of that name exists")
        .with_details(serde_json::json!({ "fields": { "name": "is already in use" } }))
}

pub async fn create(
    tx: &mut impl Scoped,
    _by: &Manager<'_>,
    input: CreatePipeline,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    insert(tx, input, now).await
}

async fn insert(
    tx: &mut impl Scoped,
    input: CreatePipeline,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let mut e = FieldErrors::default();
    let name = e.required("name", input.name);
    let name = e.text("name", name, NAME_MAX);
    let stages: Vec<NewStage> = match input.stages {
        Some(stages) => {
            if stages.is_empty() || stages.len() > MAX_STAGES {
                e.add("stages", "a pipeline has 1 to 30 stages");
            }
            stages
                .into_iter()
                .enumerate()
                .filter_map(|(i, s)| validate_stage(&mut e, &format!("stages[{i}]."), s))
                .collect()
        }
        None => DEFAULT_STAGES
            .iter()
            .map(|(name, probability, kind)| NewStage {
                name: (*name).to_owned(),
                probability: *probability,
                kind: *kind,
                color: None,
            })
            .collect(),
    };
    e.finish()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    let One(count): One<i64> = tx
        .query_one("SELECT count(*) FROM pipelines WHERE tenant_id = $1", &[])
        .await?;
    if count >= MAX_PIPELINES {
        return Err(ApiError::conflict(
            "a company can have at most 50 pipelines",
        ));
    }
    let make_default = input.is_default == Some(true) || count == 0;
    if make_default {
        tx.execute(
            "UPDATE pipelines SET is_default = false WHERE tenant_id = $1 AND is_default",
            &[],
        )
        .await?;
    }
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO pipelines (tenant_id, id, name, position, is_default, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[&id, &name, &count, &make_default, &now],
    )
    .await
    .map_err(|e| {
        if e.is_unique("pipelines", "name") {
            name_taken()
        } else {
            e.into()
        }
    })?;
    for (i, s) in stages.iter().enumerate() {
        insert_stage(tx, id, i as i64, s, now).await?;
    }
    get(tx, PipelineId(id)).await
}

/// The default pipeline a new tenant starts with.
pub async fn create_default(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<PipelineView> {
    insert(
        tx,
        CreatePipeline {
            name: Some("Sales".to_owned()),
            stages: None,
            is_default: Some(true),
        },
        now,
    )
    .await
}

/// `PATCH /api/pipelines/:id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePipeline {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// `true` makes it the default (the previous default stops being one).
    #[schema(schema_with = crate::contract::true_or_null)]
    pub is_default: Option<bool>,
    pub position: Option<i64>,
}

pub async fn update(
    tx: &mut impl Scoped,
    _by: &Manager<'_>,
    id: PipelineId,
    input: UpdatePipeline,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let mut e = FieldErrors::default();
    let name = e.text("name", input.name, NAME_MAX);
    if input.is_default == Some(false) {
        e.add("is_default", "make another pipeline the default instead");
    }
    e.finish()?;
    get(tx, id).await?;
    if input.is_default == Some(true) {
        tx.execute(
            "UPDATE pipelines SET is_default = false WHERE tenant_id = $1 AND is_default AND id <> $2",
            &[&id],
        )
        .await?;
    }
    tx.execute(
        "UPDATE pipelines SET name = COALESCE($3, name), position = COALESCE($4, position),
                is_default = is_default OR $5, updated_at = $6
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &name,
            &input.position,
            &(input.is_default == Some(true)),
            &now,
        ],
    )
    .await
    .map_err(|e| {
        if e.is_unique("pipelines", "name") {
            name_taken()
        } else {
            e.into()
        }
    })?;
    get(tx, id).await
}

async fn deal_count(tx: &mut impl Scoped, pipeline: Uuid, stage: Option<Uuid>) -> ApiResult<i64> {
    let One(n): One<i64> = match stage {
        Some(s) => {
            tx.query_one(
                "SELECT count(*) FROM deals WHERE tenant_id = $1 AND pipeline_id = $2 AND stage_id = $3",
                &[&pipeline, &s],
            )
            .await?
        }
        None => {
            tx.query_one(
                "SELECT count(*) FROM deals WHERE tenant_id = $1 AND pipeline_id = $2",
                &[&pipeline],
            )
            .await?
        }
    };
    Ok(n)
}

/// How many deals each stage of a pipeline holds (all of them, whoever
/// may read them: what deleting the stage would move), by stage id.
pub async fn deals_per_stage(
    tx: &mut impl Scoped,
    pipeline: PipelineId,
) -> ApiResult<std::collections::HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = tx
        .query(
            "SELECT stage_id, count(*) AS n FROM deals WHERE tenant_id = $1 AND pipeline_id = $2
              GROUP BY stage_id",
            &[&pipeline],
        )
        .await?;
    Ok(rows.into_iter().collect())
}

pub async fn delete(tx: &mut impl Scoped, _by: &Manager<'_>, id: PipelineId) -> ApiResult<()> {
    let p = get(tx, id).await?;
    if p.is_default {
        return Err(ApiError::conflict(
            "this is the default pipeline; make another one the default first",
        ));
    }
    let deals = deal_count(tx, id.0, None).await?;
    if deals > 0 {
        return Err(ApiError::conflict(format!(
            "the pipeline has {deals} deals; move or delete them first"
        )));
    }
    tx.execute(
        "DELETE FROM pipelines WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn add_stage(
    tx: &mut impl Scoped,
    _by: &Manager<'_>,
    pipeline: PipelineId,
    input: StageInput,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let p = get(tx, pipeline).await?;
    let mut e = FieldErrors::default();
    let stage = validate_stage(&mut e, "", input);
    e.finish()?;
    let Some(stage) = stage else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    if p.stages.len() >= MAX_STAGES {
        return Err(ApiError::conflict("a pipeline has at most 30 stages"));
    }
    let position = p.stages.iter().map(|s| s.position + 1).max().unwrap_or(0);
    insert_stage(tx, pipeline.0, position, &stage, now).await?;
    get(tx, pipeline).await
}

/// `PATCH /api/pipelines/:id/stages/:stage_id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    #[schema(schema_with = crate::contract::percent_or_null)]
    pub probability: Option<i64>,
    /// Changing the kind changes the status of the stage's deals.
    pub kind: Option<StageKind>,
    /// `#rrggbb`; `null` clears it.
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(schema_with = crate::contract::color_or_null)]
    pub color: Option<Option<String>>,
}

pub async fn update_stage(
    tx: &mut impl Scoped,
    _by: &Manager<'_>,
    pipeline: PipelineId,
    stage: StageId,
    input: UpdateStage,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let mut e = FieldErrors::default();
    let name = e.text("name", input.name, NAME_MAX);
    if input.probability.is_some_and(|p| !(0..=100).contains(&p)) {
        e.add("probability", "must be from 0 to 100");
    }
    let color = input.color.map(|c| check_color(&mut e, "color", c));
    e.finish()?;
    let p = get(tx, pipeline).await?;
    let current = p
        .stages
        .iter()
        .find(|s| s.id == stage.0)
        .ok_or_else(ApiError::not_found)?;
    tx.execute(
        "UPDATE pipeline_stages SET name = COALESCE($4, name), probability = COALESCE($5, probability),
                kind = COALESCE($6, kind), updated_at = $7,
                color = CASE WHEN $8 THEN $9 ELSE color END
          WHERE tenant_id = $1 AND pipeline_id = $2 AND id = $3",
        &[&pipeline, &stage, &name, &input.probability, &input.kind, &now, &color.is_some(), &color.flatten()],
    )
    .await?;
    if let Some(kind) = input.kind.filter(|k| *k != current.kind) {
        super::deals::restatus_stage(tx, pipeline, stage, kind, now).await?;
    }
    get(tx, pipeline).await
}

/// Deletes a stage; its deals, if any, move to `move_to` (another stage
/// of the same pipeline) in the same transaction, or the stage stays.
pub async fn delete_stage(
    tx: &mut impl Scoped,
    by: &Manager<'_>,
    pipeline: PipelineId,
    stage: StageId,
    move_to: Option<StageId>,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let p = get(tx, pipeline).await?;
    if !p.stages.iter().any(|s| s.id == stage.0) {
        return Err(ApiError::not_found());
    }
    if p.stages.len() == 1 {
        return Err(ApiError::conflict("a pipeline keeps at least one stage"));
    }
    let deals = deal_count(tx, pipeline.0, Some(stage.0)).await?;
    if deals > 0 {
        let Some(to) = move_to else {
            return Err(ApiError::conflict(format!(
                "the stage has {deals} deals; name the stage to move them to (move_to)"
            ))
            .with_details(serde_json::json!({ "deals": deals })));
        };
        let target = p.stages.iter().find(|s| s.id == to.0 && s.id != stage.0);
        let Some(target) = target else {
            return Err(ApiError::field(
                "move_to",
                "must be another stage of this pipeline",
            ));
        };
        super::deals::move_stage(tx, by.user(), pipeline, stage, target, now).await?;
    }
    tx.execute(
        "DELETE FROM pipeline_stages WHERE tenant_id = $1 AND pipeline_id = $2 AND id = $3",
        &[&pipeline, &stage],
    )
    .await?;
    get(tx, pipeline).await
}

/// `POST /api/pipelines/:id/stages/reorder`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    /// Every stage of the pipeline, once, in the new order.
    #[schema(required = true, value_type = Vec<Uuid>)]
    pub stage_ids: Option<Vec<Uuid>>,
}

pub async fn reorder(
    tx: &mut impl Scoped,
    _by: &Manager<'_>,
    pipeline: PipelineId,
    input: Reorder,
    now: DateTime<Utc>,
) -> ApiResult<PipelineView> {
    let p = get(tx, pipeline).await?;
    let ids = input
        .stage_ids
        .ok_or_else(|| ApiError::field("stage_ids", "is required"))?;
    let mut given = ids.clone();
    given.sort();
    given.dedup();
    let mut current: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();
    current.sort();
    if given.len() != ids.len() || given != current {
        return Err(ApiError::field(
            "stage_ids",
            "must list every stage of this pipeline exactly once",
        ));
    }
    for (position, id) in ids.iter().enumerate() {
        tx.execute(
            "UPDATE pipeline_stages SET position = $4, updated_at = $5
              WHERE tenant_id = $1 AND pipeline_id = $2 AND id = $3",
            &[&pipeline, id, &(position as i64), &now],
        )
        .await?;
    }
    get(tx, pipeline).await
}
