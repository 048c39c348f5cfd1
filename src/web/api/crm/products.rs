//! Products and deal line items over HTTP.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// Text search (name, SKU).
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    /// `true` or `false`.
    #[param(schema_with = crate::contract::query_bool)]
    pub active: Option<String>,
    /// `name`, `created_at` or `updated_at`; `-` in front for descending.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/products", tag = "crm", security(("bearer" = [])),
    params(ProductListQuery),
    responses((status = 200, description = "A page of the tenant's products", body = ListEnvelope<ProductView>)))]
pub async fn list_products(
    mut s: TenantSession,
    Query(q): Query<ProductListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<ListEnvelope<ProductView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    let active = q
        .active
        .filter(|s| !s.is_empty())
        .and_then(|a| match a.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                e.add("active", "must be true or false");
                None
            }
        });
    e.finish()?;
    let page = crm::products::list(
        &mut s.tx,
        &ProductFilter {
            q: q.q,
            active,
            custom: custom_filters(raw),
        },
        &req,
    )
    .await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/products", tag = "crm", security(("bearer" = [])),
    request_body = ProductInput,
    responses((status = 201, description = "Created", body = Envelope<ProductView>), (status = 409, description = "`conflict`: the SKU is taken", body = ErrorEnvelope)))]
pub async fn create_product(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<ProductInput>>,
) -> ApiResult<Created<ProductView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let p = crm::products::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(get, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, description = "The product", body = Envelope<ProductView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_product(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ProductView>> {
    let p = crm::products::get(&mut s.tx, ProductId(id)).await?;
    Ok(ok(p))
}

#[utoipa::path(patch, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = ProductInput,
    responses((status = 200, description = "Changed", body = Envelope<ProductView>), (status = 404, description = "`not_found`", body = ErrorEnvelope), (status = 409, description = "`conflict`: another product has that SKU", body = ErrorEnvelope)))]
pub async fn update_product(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<ProductInput>>,
) -> ApiResult<Envelope<ProductView>> {
    custom_values_allowed(&s, input.custom_fields.as_ref())?;
    let p = crm::products::update(&mut s.tx, ProductId(id), input, state.clock.now()).await?;
    Ok(ok(p))
}

#[utoipa::path(delete, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, description = "Deleted; line items keep their name and price", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_product(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    crm::products::delete(&mut s.tx, &s.user, ProductId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/deals/{id}/items", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses((status = 200, description = "The deal's line items, in order", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn list_items(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<ListEnvelope<ItemView>> {
    let all = crm::products::items(&mut s.tx, &s.user.access, DealId(id)).await?;
    Ok(ListEnvelope::from(all))
}

#[utoipa::path(post, path = "/api/deals/{id}/items", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    request_body = ItemInput,
    responses((status = 201, description = "Added; the deal's amount is now the items' sum. Answers every item", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn add_item(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<ItemInput>>,
) -> ApiResult<(axum::http::StatusCode, ListEnvelope<ItemView>)> {
    let all = crm::products::add_item(
        &mut s.tx,
        &s.user.access,
        DealId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, ListEnvelope::from(all)))
}

#[utoipa::path(patch, path = "/api/deals/{id}/items/{item_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id"), ("item_id" = Uuid, Path, description = "Item id")),
    request_body = ItemInput,
    responses((status = 200, description = "Changed; every item", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn update_item(
    State(state): State<App>,
    PathIds(id, item): PathIds,
    WithBody(mut s, Json(input)): WithBody<Json<ItemInput>>,
) -> ApiResult<ListEnvelope<ItemView>> {
    let all = crm::products::update_item(
        &mut s.tx,
        &s.user.access,
        DealId(id),
        ItemId(item),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(ListEnvelope::from(all))
}

#[utoipa::path(delete, path = "/api/deals/{id}/items/{item_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id"), ("item_id" = Uuid, Path, description = "Item id")),
    responses((status = 200, description = "Removed; the remaining items", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_item(
    State(state): State<App>,
    mut s: TenantSession,
    PathIds(id, item): PathIds,
) -> ApiResult<ListEnvelope<ItemView>> {
    let all = crm::products::delete_item(
        &mut s.tx,
        &s.user.access,
        DealId(id),
        ItemId(item),
        state.clock.now(),
    )
    .await?;
    Ok(ListEnvelope::from(all))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(list_items, add_item))
        .routes(routes!(update_item, delete_item))
}
