//! Registration, availability, and the tenant's own settings, subscription
//! and usage.

use super::{ok, Created, Envelope, ErrorEnvelope};
use crate::app::App;
use crate::auth::TenantSession;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::licensing::Mode;
use crate::staff::UserView;
use crate::tenancy::register::{self, Availability, RegisterRequest};
use crate::tenancy::{self, SubscriptionView, TenantView, UpdateTenant};
use crate::web::extract::{ClientAddr, Json, Query};
use crate::web::session::WithBody;
use crate::web::RequestTenant;
use axum::extract::State;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserView,
    pub tenant: TenantView,
    pub subscription: SubscriptionView,
}

#[utoipa::path(post, path = "/api/tenants/register", tag = "tenants",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Tenant, trial subscription and owner created; logged in", body = Envelope<RegisterResponse>),
        (status = 409, description = "`slug_taken` or `email_taken`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many sign-ups from this address (`TRASEALLA_SIGNUPS_PER_HOUR`), with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn register(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    log: Option<Extension<RequestTenant>>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Created<RegisterResponse>> {
    if state.licensing.mode == Mode::SelfHosted {
        // A self-hosted server's one tenant comes from licence activation.
        return Err(ApiError::not_found());
    }
    register::throttle_signups(&state, &client).await?;
    let input = req.validate()?;
    let r = register::register(&state, input).await?;
    if let Some(Extension(log)) = log {
        log.set(TenantId(r.tenant.id));
    }
    Ok(Created(RegisterResponse::new(&state, r)?))
}

impl RegisterResponse {
    /// The response to a new tenant's owner: logged in at once.
    pub fn new(state: &App, r: register::Registered) -> ApiResult<RegisterResponse> {
        let issued = state.tokens.issue(
            r.user.id,
            Some(r.tenant.id),
            r.user.role.as_str(),
            0,
            state.clock.now(),
        )?;
        Ok(RegisterResponse {
            token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            user: r.user,
            tenant: r.tenant,
            subscription: r.subscription,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// A slug to check.
    #[param(schema_with = crate::contract::query_any)]
    pub slug: Option<String>,
    /// An e-mail address to check.
    #[param(schema_with = crate::contract::query_any)]
    pub email: Option<String>,
}

#[utoipa::path(get, path = "/api/tenants/check-availability", tag = "tenants",
    params(AvailabilityQuery),
    responses(
        (status = 200, description = "Availability of what was asked", body = Envelope<Availability>),
        (status = 429, description = "`rate_limited`: too many checks from this address (`TRASEALLA_AVAILABILITY_PER_MINUTE`), with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn check_availability(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<AvailabilityQuery>,
) -> ApiResult<Envelope<Availability>> {
    register::throttle_availability(&state, &client).await?;
    let a =
        register::check_availability(&state.store, q.slug.as_deref(), q.email.as_deref()).await?;
    Ok(ok(a))
}

#[utoipa::path(get, path = "/api/tenants/current", tag = "tenants", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's tenant", body = Envelope<TenantView>),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`tenant_suspended`, or a platform admin's token", body = ErrorEnvelope),
    ))]
pub async fn current(mut s: TenantSession) -> ApiResult<Envelope<TenantView>> {
    let t = tenancy::current(&mut s.tx).await?;
    Ok(ok(t))
}

#[utoipa::path(patch, path = "/api/tenants/current", tag = "tenants", security(("bearer" = [])),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "Updated", body = Envelope<TenantView>),
        (status = 402, description = "`trial_expired`, or `feature_not_in_plan`: a logo or brand colour needs `custom_branding`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_current(
    State(state): State<App>,
    WithBody(mut s, Json(req)): WithBody<Json<UpdateTenant>>,
) -> ApiResult<Envelope<TenantView>> {
    let admin = s.user.admin()?;
    let t = tenancy::update_current(&mut s.tx, &admin, &s.tenant, req, state.clock.now()).await?;
    Ok(ok(t))
}

#[utoipa::path(get, path = "/api/tenants/subscription", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, description = "Plan, limits and trial state", body = Envelope<SubscriptionView>)))]
pub async fn subscription(
    State(state): State<App>,
    mut s: TenantSession,
) -> ApiResult<Envelope<SubscriptionView>> {
    let now = state.clock.now();
    let mut v = tenancy::subscription(&mut s.tx, now).await?;
    v.license = state.licensing.info(now);
    Ok(ok(v))
}

#[utoipa::path(get, path = "/api/tenants/usage", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, description = "Usage this billing period against the plan: API calls (counted when each completes, so this one is not in its own answer), records, users, storage and feature use", body = Envelope<crate::usage::UsageReport>)))]
pub async fn usage(
    State(state): State<App>,
    auth: crate::auth::TenantAuth,
) -> ApiResult<Envelope<crate::usage::UsageReport>> {
    let now = state.clock.now();
    // What this server counted goes in first, before the transaction's
    // snapshot is taken.
    crate::usage::flush(&state).await?;
    let mut s = auth.begin(&state).await?;
    let v = crate::usage::report(&state, &mut s.tx, &s.tenant.entitlements, now).await?;
    Ok(ok(v))
}
