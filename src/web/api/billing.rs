//! Billing with Stripe: the tenant's billing view, Checkout, the Billing
//! Portal, plan changes, Stripe's webhook, and the platform's overview.

use super::{ok, Envelope, ErrorEnvelope};
use crate::app::App;
use crate::auth::{AdminSession, TenantSession};
use crate::billing::{self, webhook, BillingView, Overview, PlanChoice, Redirect};
use crate::error::ApiResult;
use crate::web::extract::{Json, RawBody};
use crate::web::session::{PaymentRoute, WithBody};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Extension;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(get, path = "/api/billing", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Plan, interval, status, period end, card and recent invoices as Stripe's webhooks stored them, and the plans for sale", body = Envelope<BillingView>),
        (status = 503, description = "`billing_not_configured`: billing is off on this server", body = ErrorEnvelope),
    ))]
pub async fn get(State(app): State<App>, mut s: TenantSession) -> ApiResult<Envelope<BillingView>> {
    Ok(ok(billing::view(&app, &mut s.tx).await?))
}

#[utoipa::path(post, path = "/api/billing/checkout", tag = "billing", security(("bearer" = [])),
    request_body = PlanChoice,
    responses(
        (status = 200, description = "A Stripe Checkout Session for the plan: send the customer to `url`", body = Envelope<Redirect>),
        (status = 409, description = "`conflict`: the tenant already has a running subscription (change it instead)", body = ErrorEnvelope),
        (status = 503, description = "`billing_not_configured`, or Stripe cannot be reached", body = ErrorEnvelope),
    ))]
pub async fn checkout(
    State(app): State<App>,
    WithBody(s, Json(choice)): WithBody<Json<PlanChoice>>,
) -> ApiResult<Envelope<Redirect>> {
    Ok(ok(billing::checkout(&app, s, choice).await?))
}

#[utoipa::path(post, path = "/api/billing/portal", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "A Stripe Billing Portal session (card, invoices, cancellation): send the customer to `url`", body = Envelope<Redirect>),
        (status = 409, description = "`conflict`: the tenant has no billing account yet", body = ErrorEnvelope),
        (status = 503, description = "`billing_not_configured`, or Stripe cannot be reached", body = ErrorEnvelope),
    ))]
pub async fn portal(State(app): State<App>, s: TenantSession) -> ApiResult<Envelope<Redirect>> {
    Ok(ok(billing::portal(&app, s).await?))
}

#[utoipa::path(post, path = "/api/billing/change", tag = "billing", security(("bearer" = [])),
    request_body = PlanChoice,
    responses(
        (status = 200, description = "The subscription moved to the plan and interval, prorated; the billing view as it now is", body = Envelope<BillingView>),
        (status = 409, description = "`conflict`: no running subscription, already on that plan, or more active users than the plan allows (`details`: `{limit, used, max}`)", body = ErrorEnvelope),
        (status = 503, description = "`billing_not_configured`, or Stripe cannot be reached", body = ErrorEnvelope),
    ))]
pub async fn change(
    State(app): State<App>,
    WithBody(s, Json(choice)): WithBody<Json<PlanChoice>>,
) -> ApiResult<Envelope<BillingView>> {
    Ok(ok(billing::change(&app, s, choice).await?))
}

#[utoipa::path(post, path = "/api/billing/webhook", tag = "billing",
    request_body(content = Object, description = "A Stripe event, signed in the `Stripe-Signature` header", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of \"{t}.{body}\">`")),
    responses(
        (status = 200, description = "Received (and applied, or recognised as a duplicate, stale or not ours)", body = Envelope<webhook::Receipt>),
        (status = 400, description = "`bad_request`: the signature is missing, does not verify or is too old, or the event is malformed; nothing changed", body = ErrorEnvelope),
        (status = 503, description = "`billing_not_configured`", body = ErrorEnvelope),
    ))]
pub async fn receive(
    State(app): State<App>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Envelope<webhook::Receipt>> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    Ok(ok(webhook::receive(&app, signature, &body).await?))
}

#[utoipa::path(get, path = "/api/platform/billing", tag = "platform", security(("bearer" = [])),
    responses(
        (status = 200, description = "Monthly recurring revenue, running subscriptions per plan, and the tenants whose payment is overdue", body = Envelope<Overview>),
    ))]
pub async fn overview(
    State(app): State<App>,
    _admin: AdminSession,
) -> ApiResult<Envelope<Overview>> {
    Ok(ok(billing::overview(&app.store).await?))
}

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get))
        .routes(routes!(checkout))
        .routes(routes!(portal))
        .routes(routes!(change))
        .route_layer(Extension(PaymentRoute))
        .routes(routes!(receive))
        .routes(routes!(overview))
}
