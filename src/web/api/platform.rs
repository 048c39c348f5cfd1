//! The platform admin API: the vendor's staff managing tenants. Every route
//! here takes an [`AdminSession`]: no token is 401, any other token 403.

use super::{ok, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::audit::{self, AuditEntry};
use crate::auth::{AdminSession, TenantSession};
use crate::domain::{PlanCode, TenantId, TenantStatus};
use crate::error::{ApiResult, FieldErrors};
use crate::pagination::PageParams;
use crate::platform::tenants::{
    self, AdminUpdateTenant, Deletion, TenantDetail, TenantFilter, TenantSummary,
};
use crate::web::extract::{Json, JsonOrEmpty, PathId, Query};
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantListQuery {
    /// `active`, `trial`, `suspended` or `cancelled`.
    #[param(schema_with = crate::contract::tenant_statuses)]
    pub status: Option<String>,
    /// `trial`, `starter`, `professional` or `enterprise`.
    #[param(schema_with = crate::contract::plan_codes)]
    pub plan: Option<String>,
    /// Name, slug or e-mail contains (case-insensitive).
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::page_cursor)]
    pub cursor: Option<String>,
}

impl TenantListQuery {
    /// The filter and page asked for, validated.
    pub(crate) fn parse(self) -> ApiResult<(TenantFilter, crate::pagination::PageRequest)> {
        let mut errors = FieldErrors::default();
        let page = PageParams {
            limit: self.limit,
            cursor: self.cursor,
        }
        .parse(&mut errors);
        let status = self.status.filter(|s| !s.is_empty()).and_then(|s| {
            errors.check(
                "status",
                s.parse::<TenantStatus>()
                    .map_err(|_| "must be active, trial, suspended or cancelled"),
            )
        });
        let plan = self.plan.filter(|s| !s.is_empty()).and_then(|s| {
            errors.check(
                "plan",
                s.parse::<PlanCode>()
                    .map_err(|_| "must be trial, starter, professional or enterprise"),
            )
        });
        if self.q.as_ref().is_some_and(|s| s.chars().count() > 200) {
            errors.add("q", "must be at most 200 characters long");
        }
        errors.finish()?;
        let filter = TenantFilter {
            status,
            plan,
            q: self.q,
        };
        Ok((filter, page))
    }
}

#[utoipa::path(get, path = "/api/tenants", tag = "platform", security(("bearer" = [])),
    params(TenantListQuery),
    responses(
        (status = 200, description = "Tenants, newest first", body = ListEnvelope<TenantSummary>),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<TenantListQuery>,
) -> ApiResult<ListEnvelope<TenantSummary>> {
    let (filter, page) = q.parse()?;
    Ok(tenants::list(&state.store, &filter, page).await?.into())
}

#[utoipa::path(get, path = "/api/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "Tenant, subscription, owner and usage", body = Envelope<TenantDetail>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<App>,
    _admin: AdminSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<TenantDetail>> {
    Ok(ok(tenants::detail(
        &state.store,
        TenantId(id),
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(patch, path = "/api/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    request_body = AdminUpdateTenant,
    responses(
        (status = 200, description = "Changed", body = Envelope<TenantDetail>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: an invalid status change, or a user limit below the active users without `force`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`; on a licensed self-hosted installation also a plan or user limit beyond the licence", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
    Json(req): Json<AdminUpdateTenant>,
) -> ApiResult<Envelope<TenantDetail>> {
    let d = tenants::update(
        &state,
        TenantId(id),
        req,
        state.licensing.ceiling().as_ref(),
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(ok(d))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Shown to platform staff and kept in the audit log.
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/tenants/{id}/suspend", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    request_body(content = Option<SuspendRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Suspended: its users get 403 `tenant_suspended`", body = Envelope<TenantDetail>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: already suspended, or cancelled", body = ErrorEnvelope),
    ))]
pub async fn suspend(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
    JsonOrEmpty(req): JsonOrEmpty<SuspendRequest>,
) -> ApiResult<Envelope<TenantDetail>> {
    let mut errors = FieldErrors::default();
    let reason = match req.reason {
        Some(r) if r.trim().is_empty() => None,
        other => errors.text("reason", other, 500),
    };
    errors.finish()?;
    let d = tenants::suspend(
        &state.store,
        TenantId(id),
        reason,
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(ok(d))
}

#[utoipa::path(post, path = "/api/tenants/{id}/activate", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "Active again (trial or active, by its plan); existing tokens work again", body = Envelope<TenantDetail>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: not suspended, or cancelled", body = ErrorEnvelope),
    ))]
pub async fn activate(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<TenantDetail>> {
    let d = tenants::activate(
        &state.store,
        TenantId(id),
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(ok(d))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true`: remove every row of the tenant now and free its slug.
    pub purge: Option<bool>,
}

#[utoipa::path(delete, path = "/api/tenants/{id}", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id"), DeleteQuery),
    responses(
        (status = 200, description = "Cancelled (purged after the retention period), or purged", body = Envelope<Deletion>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: already cancelled (use ?purge=true)", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Envelope<Deletion>> {
    let retention = chrono::Duration::days(i64::from(state.config.purge_after_days));
    let d = tenants::delete(
        &state.store,
        TenantId(id),
        q.purge == Some(true),
        retention,
        &admin.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(ok(d))
}

#[utoipa::path(get, path = "/api/tenants/{id}/audit-log", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Tenant id"), PageParams),
    responses(
        (status = 200, description = "The tenant's audit log, newest first", body = ListEnvelope<AuditEntry>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn tenant_audit_log(
    State(state): State<App>,
    _admin: AdminSession,
    PathId(id): PathId,
    Query(page): Query<PageParams>,
) -> ApiResult<ListEnvelope<AuditEntry>> {
    let page = page.validate()?;
    Ok(tenants::audit_log(&state.store, TenantId(id), page)
        .await?
        .into())
}

#[utoipa::path(get, path = "/api/audit-log", tag = "tenants", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "The caller's tenant's audit log, newest first (tenant admins)", body = ListEnvelope<AuditEntry>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
    ))]
pub async fn own_audit_log(
    mut s: TenantSession,
    Query(page): Query<PageParams>,
) -> ApiResult<ListEnvelope<AuditEntry>> {
    let admin = s.user.admin()?;
    let page = page.validate()?;
    let entries = audit::own_log(&mut s.tx, &admin, page).await?;
    Ok(entries.into())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `api_calls`, `records`, `users`, `storage_bytes` or `name` (the
    /// default).
    #[param(schema_with = usage_sorts)]
    pub sort: Option<String>,
    /// `asc` or `desc`; by default names A–Z and counts largest first.
    #[param(schema_with = usage_orders)]
    pub order: Option<String>,
}

fn usage_sorts() -> utoipa::openapi::Object {
    crate::contract::query_one_of(&["api_calls", "records", "users", "storage_bytes", "name"])
}

fn usage_orders() -> utoipa::openapi::Object {
    crate::contract::query_one_of(&["asc", "desc"])
}

/// Every tenant not cancelled with its usage, sorted as asked; this
/// server's pending counts are flushed first.
pub(crate) async fn usage_rows(
    state: &App,
    q: UsageQuery,
) -> ApiResult<Vec<crate::platform::usage::TenantUsage>> {
    let (sort, desc) = crate::platform::usage::parse_sort(q.sort.as_deref(), q.order.as_deref())?;
    let now = state.clock.now();
    state.meter.flush(&state.store, now).await?;
    crate::platform::usage::list(&state.store, now, sort, desc).await
}

#[utoipa::path(get, path = "/api/platform/usage", tag = "platform", security(("bearer" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "Every tenant not cancelled with its users, records, storage (as last measured) and API calls this billing period", body = Envelope<Vec<crate::platform::usage::TenantUsage>>),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: an unknown `sort` or `order`", body = ErrorEnvelope),
    ))]
pub async fn usage(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Envelope<Vec<crate::platform::usage::TenantUsage>>> {
    Ok(ok(usage_rows(&state, q).await?))
}

#[utoipa::path(get, path = "/api/platform/usage.csv", tag = "platform", security(("bearer" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "The same rows as CSV, a header line first (storage empty when never measured)", content_type = "text/csv", body = String),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: an unknown `sort` or `order`", body = ErrorEnvelope),
    ))]
pub async fn usage_csv(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::response::Response> {
    let rows = usage_rows(&state, q).await?;
    Ok(usage_csv_response(&rows))
}

/// The CSV download of usage rows.
pub fn usage_csv_response(
    rows: &[crate::platform::usage::TenantUsage],
) -> axum::response::Response {
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"usage.csv\"",
        )
        .body(axum::body::Body::from(crate::platform::usage::csv(rows)))
        .unwrap_or_default()
}
