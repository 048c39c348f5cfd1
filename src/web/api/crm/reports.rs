//! The basic reports over HTTP.

use super::*;
use crate::plans::Feature;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PipelineReportQuery {
    /// Default: the default pipeline.
    #[param(schema_with = crate::contract::query_uuid)]
    pub pipeline_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start (RFC 3339), inclusive, before `to`; default 30 days before `to`.
    #[param(schema_with = crate::contract::query_time)]
    pub from: Option<String>,
    /// End (RFC 3339), exclusive; default now.
    #[param(schema_with = crate::contract::query_time)]
    pub to: Option<String>,
}

impl PeriodQuery {
    fn parse(
        self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
        let mut e = FieldErrors::default();
        // By default up to and including now.
        let to = time_param(&mut e, "to", self.to).unwrap_or(now + chrono::Duration::seconds(1));
        let from = time_param(&mut e, "from", self.from).unwrap_or(to - chrono::Duration::days(30));
        // `from` before `to` relates two parameters, which OpenAPI cannot
        // state. Any length is fine: the reports group what exists.
        if from >= to {
            e.add("from", "must be before to");
        }
        e.finish()?;
        Ok((from, to))
    }
}

#[utoipa::path(get, path = "/api/reports/pipeline", tag = "reports", security(("bearer" = [])),
    params(PipelineReportQuery),
    responses(
        (status = 200, description = "Deals and their value per stage (per currency)", body = Envelope<PipelineReport>),
        (status = 404, description = "`not_found`: no pipeline of that id", body = ErrorEnvelope),
        (status = 402, description = "`feature_not_in_plan`: the plan has no reports (`basic_reports`)", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn pipeline_report(
    mut s: TenantSession,
    Query(q): Query<PipelineReportQuery>,
) -> ApiResult<Envelope<PipelineReport>> {
    s.tenant.require(Feature::BasicReports)?;
    let mut e = FieldErrors::default();
    let pipeline = uuid_param(&mut e, "pipeline_id", q.pipeline_id);
    e.finish()?;
    let r = crm::reports::pipeline(&mut s.tx, &s.user.access, pipeline).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/sales", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "Won deals and their value per month (UTC)", body = Envelope<Vec<MonthReport>>),
        (status = 402, description = "`feature_not_in_plan`: the plan has no reports (`basic_reports`)", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn sales_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<MonthReport>>> {
    s.tenant.require(Feature::BasicReports)?;
    let (from, to) = q.parse(state.clock.now())?;
    let r = crm::reports::sales(&mut s.tx, &s.user.access, from, to).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/activities", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "Done and open activities per assignee", body = Envelope<Vec<UserActivityReport>>),
        (status = 402, description = "`feature_not_in_plan`: the plan has no reports (`basic_reports`)", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn activities_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<UserActivityReport>>> {
    s.tenant.require(Feature::BasicReports)?;
    let (from, to) = q.parse(state.clock.now())?;
    let r = crm::reports::activities(&mut s.tx, &s.user.access, from, to).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/leads", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "Leads and their conversion rate per source", body = Envelope<Vec<SourceReport>>),
        (status = 402, description = "`feature_not_in_plan`: the plan has no reports (`basic_reports`)", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn leads_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<SourceReport>>> {
    s.tenant.require(Feature::BasicReports)?;
    let (from, to) = q.parse(state.clock.now())?;
    let r = crm::reports::leads(&mut s.tx, &s.user.access, from, to).await?;
    Ok(ok(r))
}

/// These routes, with their descriptions; each is a heavy operation.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(pipeline_report))
        .routes(routes!(sales_report))
        .routes(routes!(activities_report))
        .routes(routes!(leads_report))
        .route_layer(Extension(HeavyOperation))
}
