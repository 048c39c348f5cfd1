//! Licensing endpoints: the vendor issues, lists, revokes and lets
//! installations claim keys; anyone holding a key may validate it; a key (or,
//! self-hosted, a certificate) is activated into a tenant.

use super::tenants::RegisterResponse;
use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::AdminSession;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::licensing::vendor::{
    self, ActivateRequest, Claimed, GenerateRequest, Issued, LicenseSummary, Validation,
};
use crate::licensing::{installation, Mode};
use crate::pagination::PageParams;
use crate::web::extract::{ClientAddr, Json, PathId, Query};
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Public licence endpoints allow this many requests per client address per
/// minute (they are where keys would be guessed).
const PUBLIC_PER_MINUTE: i64 = 30;

async fn throttle(state: &App, client: &str) -> ApiResult<()> {
    crate::ratelimit::hit(
        state,
        &format!("license:{client}"),
        PUBLIC_PER_MINUTE,
        chrono::Duration::minutes(1),
    )
    .await
}

fn vendor_only(state: &App) -> ApiResult<()> {
    if state.licensing.mode == Mode::SelfHosted {
        Err(ApiError::not_found())
    } else {
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/tenants/licenses/generate", tag = "licensing", security(("bearer" = [])),
    request_body = GenerateRequest,
    responses(
        (status = 201, description = "Issued; the full key is shown only now", body = Envelope<Issued>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
        (status = 503, description = "No signing key configured (TRASEALLA_LICENSE_SIGNING_KEY)", body = ErrorEnvelope),
    ))]
pub async fn generate(
    State(state): State<App>,
    admin: AdminSession,
    Json(req): Json<GenerateRequest>,
) -> ApiResult<Created<Issued>> {
    vendor_only(&state)?;
    let signing = vendor::signing_key(state.licensing.signing.as_ref())?;
    let issued = vendor::generate(
        &state.store,
        signing,
        req,
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(Created(issued))
}

fn license_statuses() -> utoipa::openapi::schema::Object {
    crate::contract::query_one_of(vendor::STATUSES)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LicenseListQuery {
    /// `available`, `activated`, `expired` or `revoked`.
    #[param(schema_with = license_statuses)]
    pub status: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::page_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/tenants/licenses", tag = "licensing", security(("bearer" = [])),
    params(LicenseListQuery),
    responses(
        (status = 200, description = "Licences, newest first, keys masked", body = ListEnvelope<LicenseSummary>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<LicenseListQuery>,
) -> ApiResult<ListEnvelope<LicenseSummary>> {
    vendor_only(&state)?;
    let mut errors = FieldErrors::default();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse(&mut errors);
    let status = q.status.filter(|s| !s.is_empty());
    if status
        .as_deref()
        .is_some_and(|s| !vendor::STATUSES.contains(&s))
    {
        errors.add("status", "must be available, activated, expired or revoked");
    }
    errors.finish()?;
    Ok(
        vendor::list(&state.store, status.as_deref(), page, state.clock.now())
            .await?
            .into(),
    )
}

#[utoipa::path(post, path = "/api/tenants/licenses/{id}/revoke", tag = "licensing", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Licence id")),
    responses(
        (status = 200, description = "Revoked", body = Envelope<LicenseSummary>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: already revoked", body = ErrorEnvelope),
    ))]
pub async fn revoke(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<LicenseSummary>> {
    vendor_only(&state)?;
    Ok(ok(vendor::revoke(
        &state.store,
        id,
        &admin.actor(),
        state.clock.now(),
    )
    .await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    #[schema(required = true, schema_with = crate::contract::query_any)]
    pub license_key: Option<String>,
    /// The installation's active users, checked against max_users.
    #[schema(schema_with = crate::contract::int_or_null::<0, { i64::MAX }>)]
    pub current_users: Option<i64>,
}

#[utoipa::path(post, path = "/api/tenants/licenses/validate", tag = "licensing",
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "`code`: valid, not_found, expired, revoked, user_limit_exceeded or malformed", body = Envelope<Validation>),
        (status = 429, description = "`rate_limited`", body = ErrorEnvelope),
    ))]
pub async fn validate(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ValidateRequest>,
) -> ApiResult<Envelope<Validation>> {
    vendor_only(&state)?;
    let key = req
        .license_key
        .ok_or_else(|| ApiError::field("license_key", "is required"))?;
    if req.current_users.is_some_and(|n| n < 0) {
        return Err(ApiError::field("current_users", "must not be negative"));
    }
    throttle(&state, &client).await?;
    Ok(ok(vendor::validate(
        &state.store,
        &key,
        req.current_users,
        state.clock.now(),
    )
    .await?))
}

/// The most characters of an installation's id.
const INSTANCE_ID_MAX: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    #[schema(required = true, schema_with = crate::contract::query_any)]
    pub license_key: Option<String>,
    /// The claiming installation's fingerprint (it may claim again; no other
    /// may); the certificate the claim answers with names it.
    #[schema(required = true, schema_with = crate::contract::text::<{ INSTANCE_ID_MAX }>)]
    pub instance_id: Option<String>,
}

#[utoipa::path(post, path = "/api/tenants/licenses/claim", tag = "licensing",
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "The key is this installation's; here is a certificate naming it", body = Envelope<Claimed>),
        (status = 409, description = "`license_already_activated`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed` with `details.code`: malformed, not_found, expired or revoked", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`", body = ErrorEnvelope),
        (status = 503, description = "No signing key configured (TRASEALLA_LICENSE_SIGNING_KEY)", body = ErrorEnvelope),
    ))]
pub async fn claim(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ClaimRequest>,
) -> ApiResult<Envelope<Claimed>> {
    vendor_only(&state)?;
    let mut errors = FieldErrors::default();
    let key = errors.required("license_key", req.license_key);
    let instance = errors.required("instance_id", req.instance_id);
    let instance = errors.text("instance_id", instance, INSTANCE_ID_MAX);
    errors.finish()?;
    let (Some(key), Some(instance)) = (key, instance) else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    throttle(&state, &client).await?;
    Ok(ok(vendor::claim(
        &state.store,
        state.licensing.signing.as_ref(),
        &key,
        &instance,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(post, path = "/api/tenants/licenses/activate", tag = "licensing",
    request_body = ActivateRequest,
    responses(
        (status = 201, description = "Tenant (active, on the licence's plan) and owner created; logged in", body = Envelope<RegisterResponse>),
        (status = 409, description = "`license_already_activated`, `email_taken` or `slug_taken`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`; for an unusable licence `details.code` is malformed, not_found, expired or revoked, and `wrong_installation` for a certificate issued for another installation (`details.installation` is this one's fingerprint)", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`", body = ErrorEnvelope),
        (status = 503, description = "Self-hosted, key given: the licence server cannot be reached (activate with the certificate)", body = ErrorEnvelope),
    ))]
pub async fn activate(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ActivateRequest>,
) -> ApiResult<Created<RegisterResponse>> {
    throttle(&state, &client).await?;
    let now = state.clock.now();
    let r = match state.licensing.mode {
        Mode::Saas => vendor::activate(&state.store, req, now).await?,
        Mode::SelfHosted => {
            installation::activate(&state.store, &state.licensing, req, now).await?
        }
    };
    Ok(Created(RegisterResponse::new(&state, r)?))
}
