//! Leads over HTTP, and their conversion.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadListQuery {
    /// Text search (name, e-mail, company name).
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    /// `new`, `contacted`, `qualified`, `unqualified` or `converted`.
    #[param(schema_with = crate::contract::lead_statuses)]
    pub status: Option<String>,
    /// `name`, `created_at` or `updated_at`; `-` in front for descending.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/leads", tag = "crm", security(("bearer" = [])),
    params(LeadListQuery),
    responses((status = 200, description = "A page of the tenant's leads", body = ListEnvelope<LeadView>)))]
pub async fn list_leads(
    mut s: TenantSession,
    Query(q): Query<LeadListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<LeadView>> {
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
            st.parse::<LeadStatus>()
                .map_err(|_| "must be new, contacted, qualified, unqualified or converted"),
        )
    });
    let filter = LeadFilter {
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
        status,
        q: q.q,
        custom: custom_filters(raw),
    };
    e.finish()?;
    let page = crm::leads::list(&mut s.tx, &s.user.access, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/leads", tag = "crm", security(("bearer" = [])),
    request_body = LeadInput,
    responses((status = 201, description = "Created", body = Envelope<LeadView>)))]
pub async fn create_lead(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<LeadInput>>,
) -> ApiResult<Created<LeadView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let l = crm::leads::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(l))
}

#[utoipa::path(get, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses((status = 200, description = "The lead", body = Envelope<LeadView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_lead(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<LeadView>> {
    let l = crm::leads::get(&mut s.tx, &s.user.access, LeadId(id)).await?;
    Ok(ok(l))
}

#[utoipa::path(patch, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body = LeadInput,
    responses(
        (status = 200, description = "Changed", body = Envelope<LeadView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the lead is converted; its status stays", body = ErrorEnvelope),
    ))]
pub async fn update_lead(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<LeadInput>>,
) -> ApiResult<Envelope<LeadView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let l = crm::leads::update(
        &mut s.tx,
        &s.user.access,
        LeadId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(l))
}

#[utoipa::path(delete, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_lead(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::leads::delete(&mut s.tx, &s.user.access, LeadId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(post, path = "/api/leads/{id}/convert", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body(content = Option<ConvertRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Converted: the contact (and company, and deal) in one transaction", body = Envelope<Conversion>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: already converted", body = ErrorEnvelope),
    ))]
pub async fn convert_lead(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, JsonOrEmpty(req)): WithBody<JsonOrEmpty<ConvertRequest>>,
) -> ApiResult<Envelope<Conversion>> {
    let c = crm::leads::convert(&mut s.tx, &s.user, LeadId(id), req, state.clock.now()).await?;
    Ok(ok(c))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_leads, create_lead))
        .routes(routes!(get_lead, update_lead, delete_lead))
        .routes(routes!(convert_lead))
}
