//! Contacts and companies over HTTP.

use super::*;

#[utoipa::path(get, path = "/api/contacts", tag = "crm", security(("bearer" = [])),
    params(CrmListQuery),
    responses(
        (status = 200, description = "A page of the tenant's contacts", body = ListEnvelope<ContactView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_contacts(
    mut s: TenantSession,
    Query(q): Query<CrmListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<ContactView>> {
    let p = q.parse()?;
    let filter = ContactFilter {
        q: p.q,
        owner_id: p.owner_id,
        company_id: p.company_id,
        custom: custom_filters(raw),
    };
    let page = crm::contacts::list(&mut s.tx, &s.user.access, &filter, &p.req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/contacts", tag = "crm", security(("bearer" = [])),
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created", body = Envelope<ContactView>),
        (status = 422, description = "`validation_failed`, also for a company_id or owner_id that is not the tenant's", body = ErrorEnvelope),
    ))]
pub async fn create_contact(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<ContactInput>>,
) -> ApiResult<Created<ContactView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let c = crm::contacts::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(c))
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contact id")),
    responses(
        (status = 200, description = "The contact", body = Envelope<ContactView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_contact(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ContactView>> {
    let c = crm::contacts::get(&mut s.tx, &s.user.access, ContactId(id)).await?;
    Ok(ok(c))
}

#[utoipa::path(patch, path = "/api/contacts/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contact id")),
    request_body = ContactInput,
    responses(
        (status = 200, description = "Changed", body = Envelope<ContactView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_contact(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<ContactInput>>,
) -> ApiResult<Envelope<ContactView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let c = crm::contacts::update(
        &mut s.tx,
        &s.user.access,
        ContactId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(c))
}

#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Contact id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: users delete only their own records", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_contact(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::contacts::delete(&mut s.tx, &s.user.access, ContactId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/companies", tag = "crm", security(("bearer" = [])),
    params(CrmListQuery),
    responses(
        (status = 200, description = "A page of the tenant's companies", body = ListEnvelope<CompanyView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_companies(
    mut s: TenantSession,
    Query(q): Query<CrmListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<CompanyView>> {
    let p = q.parse()?;
    let filter = CompanyFilter {
        q: p.q,
        owner_id: p.owner_id,
        custom: custom_filters(raw),
    };
    let page = crm::companies::list(&mut s.tx, &s.user.access, &filter, &p.req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/companies", tag = "crm", security(("bearer" = [])),
    request_body = CompanyInput,
    responses(
        (status = 201, description = "Created", body = Envelope<CompanyView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_company(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<CompanyInput>>,
) -> ApiResult<Created<CompanyView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let c = crm::companies::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(c))
}

#[utoipa::path(get, path = "/api/companies/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Company id")),
    responses(
        (status = 200, description = "The company", body = Envelope<CompanyView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_company(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<CompanyView>> {
    let c = crm::companies::get(&mut s.tx, &s.user.access, CompanyId(id)).await?;
    Ok(ok(c))
}

#[utoipa::path(patch, path = "/api/companies/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Company id")),
    request_body = CompanyInput,
    responses(
        (status = 200, description = "Changed", body = Envelope<CompanyView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_company(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<CompanyInput>>,
) -> ApiResult<Envelope<CompanyView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let c = crm::companies::update(
        &mut s.tx,
        &s.user.access,
        CompanyId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ok(c))
}

#[utoipa::path(delete, path = "/api/companies/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Company id")),
    responses(
        (status = 200, description = "Deleted; its contacts stay, without a company", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: users delete only their own records", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_company(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::companies::delete(&mut s.tx, &s.user.access, CompanyId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_companies, create_company))
        .routes(routes!(get_company, update_company, delete_company))
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
}
