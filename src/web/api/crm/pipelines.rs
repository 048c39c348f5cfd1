//! Pipelines and their stages over HTTP (admins and managers change them).

use super::*;

#[utoipa::path(get, path = "/api/pipelines", tag = "crm", security(("bearer" = [])),
    responses((status = 200, description = "Every pipeline with its stages, in order (one page)", body = ListEnvelope<PipelineView>)))]
pub async fn list_pipelines(mut s: TenantSession) -> ApiResult<ListEnvelope<PipelineView>> {
    let all = crm::pipelines::list(&mut s.tx).await?;
    Ok(ListEnvelope::from(all))
}

#[utoipa::path(post, path = "/api/pipelines", tag = "crm", security(("bearer" = [])),
    request_body = CreatePipeline,
    responses(
        (status = 201, description = "Created, with its stages", body = Envelope<PipelineView>),
        (status = 403, description = "`forbidden`: admins and managers only", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_pipeline(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<CreatePipeline>>,
) -> ApiResult<Created<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = crm::pipelines::create(&mut s.tx, &by, input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(get, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The pipeline with its stages", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_pipeline(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<PipelineView>> {
    let p = crm::pipelines::get(&mut s.tx, PipelineId(id)).await?;
    Ok(ok(p))
}

#[utoipa::path(patch, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = UpdatePipeline,
    responses(
        (status = 200, description = "Changed", body = Envelope<PipelineView>),
        (status = 409, description = "`conflict`: another pipeline has that name", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins and managers only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn update_pipeline(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<UpdatePipeline>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p =
        crm::pipelines::update(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await?;
    Ok(ok(p))
}

#[utoipa::path(delete, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "Deleted with its stages", body = Envelope<Deleted>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the default pipeline, or one with deals", body = ErrorEnvelope),
    ))]
pub async fn delete_pipeline(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    let by = s.user.manager("change pipelines")?;
    crm::pipelines::delete(&mut s.tx, &by, PipelineId(id)).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/pipelines/{id}/stages", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The stages, in order", body = ListEnvelope<StageView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn list_stages(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<ListEnvelope<StageView>> {
    let p = crm::pipelines::get(&mut s.tx, PipelineId(id)).await?;
    Ok(ListEnvelope::from(p.stages))
}

#[utoipa::path(post, path = "/api/pipelines/{id}/stages", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = StageInput,
    responses(
        (status = 201, description = "Added at the end; the pipeline as it now stands", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn add_stage(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<StageInput>>,
) -> ApiResult<Created<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p =
        crm::pipelines::add_stage(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(patch, path = "/api/pipelines/{id}/stages/{stage_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id"), ("stage_id" = Uuid, Path, description = "Stage id")),
    request_body = UpdateStage,
    responses(
        (status = 200, description = "Changed; a new kind changes its deals' status", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn update_stage(
    State(state): State<App>,
    PathIds(id, stage): PathIds,
    WithBody(mut s, Json(input)): WithBody<Json<UpdateStage>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = crm::pipelines::update_stage(
        &mut s.tx,
        &by,
        PipelineId(id),
        StageId(stage),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(p))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteStageQuery {
    /// Another stage of the same pipeline: the deleted stage's deals move
    /// there first. Needed when the stage has deals.
    pub move_to: Option<Uuid>,
}

#[utoipa::path(delete, path = "/api/pipelines/{id}/stages/{stage_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id"), ("stage_id" = Uuid, Path, description = "Stage id"), DeleteStageQuery),
    responses(
        (status = 200, description = "Deleted (its deals moved to `move_to`); the pipeline as it now stands", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the stage has deals and no `move_to`, or is the last one", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: `move_to` is not another stage of the pipeline", body = ErrorEnvelope),
    ))]
pub async fn delete_stage(
    State(state): State<App>,
    mut s: TenantSession,
    PathIds(id, stage): PathIds,
    Query(q): Query<DeleteStageQuery>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = crm::pipelines::delete_stage(
        &mut s.tx,
        &by,
        PipelineId(id),
        StageId(stage),
        q.move_to.map(StageId),
        state.clock.now(),
    )
    .await?;
    Ok(ok(p))
}

#[utoipa::path(post, path = "/api/pipelines/{id}/stages/reorder", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = Reorder,
    responses(
        (status = 200, description = "Reordered", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: not every stage exactly once", body = ErrorEnvelope),
    ))]
pub async fn reorder_stages(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<Reorder>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p =
        crm::pipelines::reorder(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await?;
    Ok(ok(p))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_pipelines, create_pipeline))
        .routes(routes!(get_pipeline, update_pipeline, delete_pipeline))
        .routes(routes!(list_stages, add_stage))
        .routes(routes!(update_stage, delete_stage))
        .routes(routes!(reorder_stages))
}
