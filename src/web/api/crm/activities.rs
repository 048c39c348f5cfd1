//! Activities (calls, meetings, tasks) over HTTP.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    /// Text search in the subject.
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    /// Due at or after this time (RFC 3339).
    #[param(schema_with = crate::contract::query_time)]
    pub from: Option<String>,
    /// Due before this time (RFC 3339).
    #[param(schema_with = crate::contract::query_time)]
    pub to: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub assigned_to: Option<String>,
    /// `true` or `false`.
    #[param(schema_with = crate::contract::query_bool)]
    pub done: Option<String>,
    /// `call`, `meeting`, `task`, `email` or `deadline`.
    #[param(rename = "type")]
    #[serde(rename = "type")]
    #[param(schema_with = crate::contract::activity_types)]
    pub kind: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub contact_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub company_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub lead_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub deal_id: Option<String>,
    /// `due_at`, `name` (subject), `created_at` or `updated_at`; `-` in front
    /// for descending. Default `-created_at`; a calendar uses `due_at`.
    #[param(schema_with = crate::contract::activity_sort)]
    pub sort: Option<String>,
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/activities", tag = "crm", security(("bearer" = [])),
    params(ActivityListQuery),
    responses((status = 200, description = "A page of the tenant's activities (the calendar: from, to, sort=due_at)", body = ListEnvelope<ActivityView>)))]
pub async fn list_activities(
    mut s: TenantSession,
    Query(q): Query<ActivityListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<ActivityView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse_with_due(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    let done = q
        .done
        .filter(|s| !s.is_empty())
        .and_then(|d| match d.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                e.add("done", "must be true or false");
                None
            }
        });
    let kind = q.kind.filter(|s| !s.is_empty()).and_then(|k| {
        e.check(
            "type",
            k.parse::<ActivityType>()
                .map_err(|_| "must be call, meeting, task, email or deadline"),
        )
    });
    let filter = ActivityFilter {
        from: time_param(&mut e, "from", q.from),
        to: time_param(&mut e, "to", q.to),
        assigned_to: uuid_param(&mut e, "assigned_to", q.assigned_to),
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
        contact_id: uuid_param(&mut e, "contact_id", q.contact_id),
        company_id: uuid_param(&mut e, "company_id", q.company_id),
        lead_id: uuid_param(&mut e, "lead_id", q.lead_id),
        deal_id: uuid_param(&mut e, "deal_id", q.deal_id),
        done,
        kind,
        q: q.q,
        custom: custom_filters(raw),
    };
    e.finish()?;
    let page = crm::activities::list(&mut s.tx, &s.user.access, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/activities", tag = "crm", security(("bearer" = [])),
    request_body = ActivityInput,
    responses((status = 201, description = "Created", body = Envelope<ActivityView>)))]
pub async fn create_activity(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<ActivityInput>>,
) -> ApiResult<Created<ActivityView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let a = crm::activities::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(a))
}

#[utoipa::path(get, path = "/api/activities/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses((status = 200, description = "The activity", body = Envelope<ActivityView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_activity(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ActivityView>> {
    let a = crm::activities::get(&mut s.tx, &s.user.access, ActivityId(id)).await?;
    Ok(ok(a))
}

#[utoipa::path(patch, path = "/api/activities/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    request_body = ActivityInput,
    responses((status = 200, description = "Changed (`done: true` marks it done)", body = Envelope<ActivityView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn update_activity(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<ActivityInput>>,
) -> ApiResult<Envelope<ActivityView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let a = crm::activities::update(
        &mut s.tx,
        &s.user.access,
        ActivityId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(a))
}

#[utoipa::path(delete, path = "/api/activities/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_activity(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::activities::delete(&mut s.tx, &s.user.access, ActivityId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_activities, create_activity))
        .routes(routes!(get_activity, update_activity, delete_activity))
}
