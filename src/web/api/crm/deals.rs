//! Deals over HTTP.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    /// Text search in the title.
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub pipeline_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub stage_id: Option<String>,
    /// `open`, `won` or `lost`.
    #[param(schema_with = crate::contract::deal_statuses)]
    pub status: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub company_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub contact_id: Option<String>,
    /// `name` (title), `created_at` or `updated_at`; `-` in front for
    /// descending. Default `-created_at`.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/deals", tag = "crm", security(("bearer" = [])),
    params(DealListQuery),
    responses(
        (status = 200, description = "A page of the tenant's deals", body = ListEnvelope<DealView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_deals(
    mut s: TenantSession,
    Query(q): Query<DealListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<DealView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    let status = q.status.filter(|s| !s.is_empty()).and_then(|st| {
        e.check(
            "status",
            st.parse::<crate::domain::StageKind>()
                .map_err(|_| "must be open, won or lost"),
        )
    });
    let filter = DealFilter {
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
        pipeline_id: uuid_param(&mut e, "pipeline_id", q.pipeline_id),
        stage_id: uuid_param(&mut e, "stage_id", q.stage_id),
        company_id: uuid_param(&mut e, "company_id", q.company_id),
        contact_id: uuid_param(&mut e, "contact_id", q.contact_id),
        status,
        q: q.q,
        custom: custom_filters(raw),
    };
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        e.add("q", "must be at most 200 characters long");
    }
    e.finish()?;
    let page = crm::deals::list(&mut s.tx, &s.user.access, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/deals", tag = "crm", security(("bearer" = [])),
    request_body = DealInput,
    responses(
        (status = 201, description = "Created", body = Envelope<DealView>),
        (status = 422, description = "`validation_failed`, also for a stage of another pipeline or a reference that is not the tenant's", body = ErrorEnvelope),
    ))]
pub async fn create_deal(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<DealInput>>,
) -> ApiResult<Created<DealView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let d = crm::deals::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(d))
}

#[utoipa::path(get, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses(
        (status = 200, description = "The deal", body = Envelope<DealView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_deal(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<DealView>> {
    let d = crm::deals::get(&mut s.tx, &s.user.access, DealId(id)).await?;
    Ok(ok(d))
}

#[utoipa::path(patch, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    request_body = DealInput,
    responses(
        (status = 200, description = "Changed (a new stage_id moves it)", body = Envelope<DealView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_deal(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<DealInput>>,
) -> ApiResult<Envelope<DealView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let d = crm::deals::update(
        &mut s.tx,
        &s.user.access,
        DealId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(d))
}

#[utoipa::path(delete, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: users delete only their own records", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_deal(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::deals::delete(&mut s.tx, &s.user.access, DealId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_deals, create_deal))
        .routes(routes!(get_deal, update_deal, delete_deal))
}
