//! Notes over HTTP.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoteListQuery {
    #[param(schema_with = crate::contract::query_uuid)]
    pub contact_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub company_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub lead_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub deal_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    /// `created_at` or `updated_at`; `-` in front for descending (default).
    #[param(schema_with = crate::contract::note_sort)]
    pub sort: Option<String>,
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/notes", tag = "crm", security(("bearer" = [])),
    params(NoteListQuery),
    responses((status = 200, description = "A page of notes, filtered by record", body = ListEnvelope<NoteView>)))]
pub async fn list_notes(
    mut s: TenantSession,
    Query(q): Query<NoteListQuery>,
) -> ApiResult<ListEnvelope<NoteView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    if req.sort.field == crate::crm::listing::SortField::Name {
        e.add("sort", "notes sort by created_at or updated_at");
    }
    let filter = NoteFilter {
        contact_id: uuid_param(&mut e, "contact_id", q.contact_id),
        company_id: uuid_param(&mut e, "company_id", q.company_id),
        lead_id: uuid_param(&mut e, "lead_id", q.lead_id),
        deal_id: uuid_param(&mut e, "deal_id", q.deal_id),
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
    };
    e.finish()?;
    let page = crm::notes::list(&mut s.tx, &s.user.access, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/notes", tag = "crm", security(("bearer" = [])),
    request_body = NoteInput,
    responses((status = 201, description = "Created", body = Envelope<NoteView>)))]
pub async fn create_note(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<NoteInput>>,
) -> ApiResult<Created<NoteView>> {
    let n = crm::notes::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(n))
}

#[utoipa::path(get, path = "/api/notes/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Note id")),
    responses((status = 200, description = "The note", body = Envelope<NoteView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_note(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<NoteView>> {
    let n = crm::notes::get(&mut s.tx, &s.user.access, NoteId(id)).await?;
    Ok(ok(n))
}

#[utoipa::path(patch, path = "/api/notes/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Note id")),
    request_body = NoteChange,
    responses((status = 200, description = "Changed", body = Envelope<NoteView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn update_note(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<NoteChange>>,
) -> ApiResult<Envelope<NoteView>> {
    let n = crm::notes::update(
        &mut s.tx,
        &s.user.access,
        NoteId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(n))
}

#[utoipa::path(delete, path = "/api/notes/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Note id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_note(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::notes::delete(&mut s.tx, &s.user.access, NoteId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_notes, create_note))
        .routes(routes!(get_note, update_note, delete_note))
}
