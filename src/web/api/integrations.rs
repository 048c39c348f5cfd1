//! API keys and webhooks over HTTP: tenant admins, on a plan with
//! `integrations` (reading and removing stay allowed after a downgrade).

use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::{TenantAuth, TenantSession};
use crate::error::ApiResult;
use crate::integrations::keys::{self, ApiKeyView, NewApiKey};
use crate::integrations::webhooks::{self, DeliveryView, NewWebhook, WebhookChange, WebhookView};
use crate::pagination::PageParams;
use crate::plans::Feature;
use crate::web::extract::{Json, PathId, PathIds, Query};
use crate::web::session::WithBody;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A 202: queued, the delivery as it stands.
pub struct Accepted<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> axum::response::Response {
        (StatusCode::ACCEPTED, axum::Json(ok(self.0))).into_response()
    }
}

#[utoipa::path(get, path = "/api/api-keys", tag = "integrations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The company's API keys, newest first, revoked ones too (never a key itself)", body = ListEnvelope<ApiKeyView>),
        (status = 403, description = "`forbidden`: admins only; API keys cannot manage keys", body = ErrorEnvelope),
    ))]
pub async fn list_keys(
    State(state): State<App>,
    auth: TenantAuth,
) -> ApiResult<ListEnvelope<ApiKeyView>> {
    // Last uses counted by this server go in first.
    crate::usage::flush(&state).await?;
    let mut s = auth.begin(&state).await?;
    s.user.admin()?;
    Ok(keys::list(&mut s.tx, state.clock.now()).await?.into())
}

#[utoipa::path(post, path = "/api/api-keys", tag = "integrations", security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created: `key` is the whole key, shown this once", body = Envelope<ApiKeyView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_key(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<NewApiKey>>,
) -> ApiResult<Created<ApiKeyView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(Created(
        keys::create(&mut s.tx, &admin, input, state.clock.now()).await?,
    ))
}

#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "API key id")),
    responses(
        (status = 200, description = "Revoked: refused from its next request on, on every server", body = Envelope<ApiKeyView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn revoke_key(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ApiKeyView>> {
    let admin = s.user.admin()?;
    Ok(ok(
        keys::revoke(&mut s.tx, &admin, id, state.clock.now()).await?
    ))
}

#[utoipa::path(get, path = "/api/webhooks", tag = "integrations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The company's webhook endpoints (one page)", body = ListEnvelope<WebhookView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
    ))]
pub async fn list_webhooks(mut s: TenantSession) -> ApiResult<ListEnvelope<WebhookView>> {
    s.user.admin()?;
    Ok(webhooks::list(&mut s.tx).await?.into())
}

#[utoipa::path(post, path = "/api/webhooks", tag = "integrations", security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created: `secret` (`whsec_…`) is shown this once", body = Envelope<WebhookView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: also a URL that is not https:// or points at a private address", body = ErrorEnvelope),
    ))]
pub async fn create_webhook(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<NewWebhook>>,
) -> ApiResult<Created<WebhookView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(Created(
        webhooks::create(&mut s.tx, &admin, &state, input, state.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = Envelope<WebhookView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_webhook(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<WebhookView>> {
    s.user.admin()?;
    Ok(ok(webhooks::get(&mut s.tx, id).await?))
}

#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    request_body = WebhookChange,
    responses(
        (status = 200, description = "Changed", body = Envelope<WebhookView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_webhook(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<WebhookChange>>,
) -> ApiResult<Envelope<WebhookView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(ok(webhooks::update(
        &mut s.tx,
        &admin,
        &state,
        id,
        input,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "Deleted, with its deliveries", body = Envelope<super::users::Deleted>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_webhook(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<super::users::Deleted>> {
    let admin = s.user.admin()?;
    webhooks::delete(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(ok(super::users::Deleted { id, deleted: true }))
}

#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 202, description = "A `webhook.test` event queued for this endpoint alone", body = Envelope<DeliveryView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the endpoint is disabled", body = ErrorEnvelope),
    ))]
pub async fn test_webhook(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Accepted<DeliveryView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(Accepted(
        webhooks::send_test(&mut s.tx, &admin, id, state.clock.now()).await?,
    ))
}

#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "A new `secret`, shown this once; the previous one also signs until `previous_secret_expires_at` (24 hours)", body = Envelope<WebhookView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn rotate_secret(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<WebhookView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(ok(webhooks::rotate(
        &mut s.tx,
        &admin,
        &state,
        id,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "integrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Webhook endpoint id"), PageParams),
    responses(
        (status = 200, description = "The endpoint's deliveries, newest first, each with its attempts (time, status, duration, the first KiB of the answer)", body = ListEnvelope<DeliveryView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn list_deliveries(
    mut s: TenantSession,
    PathId(id): PathId,
    Query(page): Query<PageParams>,
) -> ApiResult<ListEnvelope<DeliveryView>> {
    s.user.admin()?;
    let page = page.validate()?;
    Ok(webhooks::deliveries(&mut s.tx, id, page).await?.into())
}

#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "integrations", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Webhook endpoint id"),
        ("delivery_id" = uuid::Uuid, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued for an attempt now", body = Envelope<DeliveryView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the endpoint is disabled", body = ErrorEnvelope),
    ))]
pub async fn retry_delivery(
    State(state): State<App>,
    mut s: TenantSession,
    PathIds(id, delivery_id): PathIds,
) -> ApiResult<Accepted<DeliveryView>> {
    let admin = s.user.admin()?;
    s.tenant.require(Feature::Integrations)?;
    Ok(Accepted(
        webhooks::retry(&mut s.tx, &admin, id, delivery_id, state.clock.now()).await?,
    ))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(test_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}
