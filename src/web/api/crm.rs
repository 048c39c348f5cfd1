//! The CRM records over HTTP (companies, contacts, pipelines, deals, leads,
//! activities, notes): list (filter, sort, keyset pages),
//! create, read, change, delete. Every route works on the caller's tenant
//! only; another tenant's ids answer 404, another tenant's references 422.

use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::TenantSession;
use crate::crm::activities::{self, ActivityFilter, ActivityInput, ActivityType, ActivityView};
use crate::crm::companies::{self, CompanyFilter, CompanyInput, CompanyView};
use crate::crm::contacts::{self, ContactFilter, ContactInput, ContactView};
use crate::crm::deals::{self, DealFilter, DealInput, DealView};
use crate::crm::leads::{
    self, Conversion, ConvertRequest, LeadFilter, LeadInput, LeadStatus, LeadView,
};
use crate::crm::listing::ListRequest;
use crate::crm::notes::{self, NoteChange, NoteFilter, NoteInput, NoteView};
use crate::crm::pipelines::{
    self, CreatePipeline, PipelineView, Reorder, StageInput, StageView, UpdatePipeline, UpdateStage,
};
use crate::crm::products::{self, ItemInput, ItemView, ProductFilter, ProductInput, ProductView};
use crate::crm::reports::{self, MonthReport, PipelineReport, SourceReport, UserActivityReport};
use crate::crm::search::SearchHit;
use crate::crm::timeline::{self, RecordKind, TimelineEntry};
use crate::crm::transfer::{self, Contacts, ImportReport, Kind, Leads, OnDuplicate};
use crate::error::{ApiResult, FieldErrors};
use crate::web::api::users::Deleted;
use crate::web::extract::{CsvUpload, Json, JsonOrEmpty, PathId, PathIds, Query};
use crate::web::session::WithBody;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// The longest `?q=` of the contact and company lists, and of search.
const Q_MAX: usize = 200;
/// The most hits a search answers.
const SEARCH_MAX_LIMIT: i64 = 50;
/// What `?on_duplicate=` of an import takes.
const ON_DUPLICATE: &[&str] = &["skip", "update"];

fn on_duplicate() -> utoipa::openapi::schema::Object {
    crate::contract::query_one_of(ON_DUPLICATE)
}

fn search_text() -> utoipa::openapi::schema::Object {
    crate::contract::text::<Q_MAX>()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrmListQuery {
    /// Text search (name, e-mail, phone; domain for companies).
    #[param(schema_with = crate::contract::query_text::<{ Q_MAX }>)]
    pub q: Option<String>,
    /// Only records owned by this user.
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    /// Contacts only: only contacts of this company.
    #[param(schema_with = crate::contract::query_uuid)]
    pub company_id: Option<String>,
    /// `name`, `created_at` or `updated_at`; `-` in front for descending.
    /// Default `-created_at`.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

/// An id given as a filter: malformed is 422 (unlike a path id, a query
/// parameter is input to validate).
fn uuid_param(errors: &mut FieldErrors, field: &str, v: Option<String>) -> Option<Uuid> {
    v.filter(|s| !s.is_empty()).and_then(|s| {
        // The hyphenated form only, as the description says (`format: uuid`).
        let id = Some(&s)
            .filter(|s| s.len() == 36)
            .and_then(|s| Uuid::try_parse(s).ok());
        errors.check(field, id.ok_or("is not an id"))
    })
}

/// A list query, validated.
pub(crate) struct Parsed {
    pub req: ListRequest,
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
}

impl CrmListQuery {
    pub(crate) fn parse(self) -> ApiResult<Parsed> {
        let mut e = FieldErrors::default();
        let req = ListRequest::parse(
            self.limit.as_deref(),
            self.sort.as_deref(),
            self.cursor.as_deref(),
            &mut e,
        );
        let owner = uuid_param(&mut e, "owner_id", self.owner_id);
        let company = uuid_param(&mut e, "company_id", self.company_id);
        if self.q.as_ref().is_some_and(|q| q.chars().count() > Q_MAX) {
            e.add("q", format!("must be at most {Q_MAX} characters long"));
        }
        e.finish()?;
        Ok(Parsed {
            req,
            q: self.q,
            owner_id: owner,
            company_id: company,
        })
    }
}

#[utoipa::path(get, path = "/api/contacts", tag = "crm", security(("bearer" = [])),
    params(CrmListQuery),
    responses(
        (status = 200, description = "A page of the tenant's contacts", body = ListEnvelope<ContactView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_contacts(
    mut s: TenantSession,
    Query(q): Query<CrmListQuery>,
) -> ApiResult<ListEnvelope<ContactView>> {
    let p = q.parse()?;
    let filter = ContactFilter {
        q: p.q,
        owner_id: p.owner_id,
        company_id: p.company_id,
    };
    let page = contacts::list(&mut s.tx, &filter, &p.req).await?;
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
    let c = contacts::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
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
    let c = contacts::get(&mut s.tx, id).await?;
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
    let c = contacts::update(&mut s.tx, s.user.id.0, id, input, state.clock.now()).await?;
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
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    contacts::delete(&mut s.tx, &s.user, id).await?;
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
) -> ApiResult<ListEnvelope<CompanyView>> {
    let p = q.parse()?;
    let filter = CompanyFilter {
        q: p.q,
        owner_id: p.owner_id,
    };
    let page = companies::list(&mut s.tx, &filter, &p.req).await?;
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
    let c = companies::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
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
    let c = companies::get(&mut s.tx, id).await?;
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
    let c = companies::update(&mut s.tx, s.user.id.0, id, input, state.clock.now()).await?;
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
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    companies::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

// ---------------------------------------------------------------------------
// Pipelines and stages.

#[utoipa::path(get, path = "/api/pipelines", tag = "crm", security(("bearer" = [])),
    responses((status = 200, description = "Every pipeline with its stages, in order (one page)", body = ListEnvelope<PipelineView>)))]
pub async fn list_pipelines(mut s: TenantSession) -> ApiResult<ListEnvelope<PipelineView>> {
    let all = pipelines::list(&mut s.tx).await?;
    Ok(ListEnvelope {
        success: true,
        data: all,
        next_cursor: None,
    })
}

#[utoipa::path(post, path = "/api/pipelines", tag = "crm", security(("bearer" = [])),
    request_body = CreatePipeline,
    responses(
        (status = 201, description = "Created, with its stages", body = Envelope<PipelineView>),
        (status = 403, description = "`forbidden`: admins and managers only", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_pipeline(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<CreatePipeline>>,
) -> ApiResult<Created<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::create(&mut s.tx, &by, input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(get, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The pipeline with its stages", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_pipeline(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<PipelineView>> {
    let p = pipelines::get(&mut s.tx, id).await?;
    Ok(ok(p))
}

#[utoipa::path(patch, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = UpdatePipeline,
    responses(
        (status = 200, description = "Changed", body = Envelope<PipelineView>),
        (status = 403, description = "`forbidden`: admins and managers only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn update_pipeline(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<UpdatePipeline>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::update(&mut s.tx, &by, id, input, state.clock.now()).await?;
    Ok(ok(p))
}

#[utoipa::path(delete, path = "/api/pipelines/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "Deleted with its stages", body = Envelope<Deleted>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the default pipeline, or one with deals", body = ErrorEnvelope),
    ))]
pub async fn delete_pipeline(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    let by = s.user.manager("change pipelines")?;
    pipelines::delete(&mut s.tx, &by, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/pipelines/{id}/stages", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The stages, in order", body = ListEnvelope<StageView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn list_stages(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<ListEnvelope<StageView>> {
    let p = pipelines::get(&mut s.tx, id).await?;
    Ok(ListEnvelope {
        success: true,
        data: p.stages,
        next_cursor: None,
    })
}

#[utoipa::path(post, path = "/api/pipelines/{id}/stages", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = StageInput,
    responses(
        (status = 201, description = "Added at the end; the pipeline as it now stands", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn add_stage(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<StageInput>>,
) -> ApiResult<Created<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::add_stage(&mut s.tx, &by, id, input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(patch, path = "/api/pipelines/{id}/stages/{stage_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id"), ("stage_id" = Uuid, Path, description = "Stage id")),
    request_body = UpdateStage,
    responses(
        (status = 200, description = "Changed; a new kind changes its deals' status", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn update_stage(
    State(state): State<App>,
    PathIds(id, stage): PathIds,
    WithBody(mut s, Json(input)): WithBody<Json<UpdateStage>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::update_stage(&mut s.tx, &by, id, stage, input, state.clock.now()).await?;
    Ok(ok(p))
}

#[utoipa::path(delete, path = "/api/pipelines/{id}/stages/{stage_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id"), ("stage_id" = Uuid, Path, description = "Stage id")),
    responses(
        (status = 200, description = "Deleted; the pipeline as it now stands", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the stage has deals, or is the last one", body = ErrorEnvelope),
    ))]
pub async fn delete_stage(
    mut s: TenantSession,
    PathIds(id, stage): PathIds,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::delete_stage(&mut s.tx, &by, id, stage).await?;
    Ok(ok(p))
}

#[utoipa::path(post, path = "/api/pipelines/{id}/stages/reorder", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = Reorder,
    responses(
        (status = 200, description = "Reordered", body = Envelope<PipelineView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: not every stage exactly once", body = ErrorEnvelope),
    ))]
pub async fn reorder_stages(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<Reorder>>,
) -> ApiResult<Envelope<PipelineView>> {
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::reorder(&mut s.tx, &by, id, input, state.clock.now()).await?;
    Ok(ok(p))
}

// ---------------------------------------------------------------------------
// Deals.

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    /// Text search in the title.
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub pipeline_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub stage_id: Option<String>,
    /// `open`, `won` or `lost`.
    #[param(schema_with = crate::contract::deal_statuses)]
    pub status: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub company_id: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub contact_id: Option<String>,
    /// `name` (title), `created_at` or `updated_at`; `-` in front for
    /// descending. Default `-created_at`.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/deals", tag = "crm", security(("bearer" = [])),
    params(DealListQuery),
    responses(
        (status = 200, description = "A page of the tenant's deals", body = ListEnvelope<DealView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_deals(
    mut s: TenantSession,
    Query(q): Query<DealListQuery>,
) -> ApiResult<ListEnvelope<DealView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    let status = q.status.filter(|s| !s.is_empty()).and_then(|st| {
        e.check(
            "status",
            st.parse::<crate::domain::StageKind>()
                .map_err(|_| "must be open, won or lost"),
        )
    });
    let filter = DealFilter {
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
        pipeline_id: uuid_param(&mut e, "pipeline_id", q.pipeline_id),
        stage_id: uuid_param(&mut e, "stage_id", q.stage_id),
        company_id: uuid_param(&mut e, "company_id", q.company_id),
        contact_id: uuid_param(&mut e, "contact_id", q.contact_id),
        status,
        q: q.q,
    };
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        e.add("q", "must be at most 200 characters long");
    }
    e.finish()?;
    let page = deals::list(&mut s.tx, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/deals", tag = "crm", security(("bearer" = [])),
    request_body = DealInput,
    responses(
        (status = 201, description = "Created", body = Envelope<DealView>),
        (status = 422, description = "`validation_failed`, also for a stage of another pipeline or a reference that is not the tenant's", body = ErrorEnvelope),
    ))]
pub async fn create_deal(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<DealInput>>,
) -> ApiResult<Created<DealView>> {
    let d = deals::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(d))
}

#[utoipa::path(get, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses(
        (status = 200, description = "The deal", body = Envelope<DealView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_deal(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<DealView>> {
    let d = deals::get(&mut s.tx, id).await?;
    Ok(ok(d))
}

#[utoipa::path(patch, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    request_body = DealInput,
    responses(
        (status = 200, description = "Changed (a new stage_id moves it)", body = Envelope<DealView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_deal(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<DealInput>>,
) -> ApiResult<Envelope<DealView>> {
    let d = deals::update(&mut s.tx, s.user.id.0, id, input, state.clock.now()).await?;
    Ok(ok(d))
}

#[utoipa::path(delete, path = "/api/deals/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: users delete only their own records", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_deal(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<Deleted>> {
    deals::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

// ---------------------------------------------------------------------------
// Leads, activities and notes.

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadListQuery {
    /// Text search (name, e-mail, company name).
    #[param(schema_with = crate::contract::query_any)]
    pub q: Option<String>,
    #[param(schema_with = crate::contract::query_uuid)]
    pub owner_id: Option<String>,
    /// `new`, `contacted`, `qualified`, `unqualified` or `converted`.
    #[param(schema_with = crate::contract::lead_statuses)]
    pub status: Option<String>,
    /// `name`, `created_at` or `updated_at`; `-` in front for descending.
    #[param(schema_with = crate::contract::crm_sort)]
    pub sort: Option<String>,
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    #[param(schema_with = crate::contract::crm_cursor)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/leads", tag = "crm", security(("bearer" = [])),
    params(LeadListQuery),
    responses((status = 200, description = "A page of the tenant's leads", body = ListEnvelope<LeadView>)))]
pub async fn list_leads(
    mut s: TenantSession,
    Query(q): Query<LeadListQuery>,
) -> ApiResult<ListEnvelope<LeadView>> {
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(
        q.limit.as_deref(),
        q.sort.as_deref(),
        q.cursor.as_deref(),
        &mut e,
    );
    let status = q.status.filter(|s| !s.is_empty()).and_then(|st| {
        e.check(
            "status",
            st.parse::<LeadStatus>()
                .map_err(|_| "must be new, contacted, qualified, unqualified or converted"),
        )
    });
    let filter = LeadFilter {
        owner_id: uuid_param(&mut e, "owner_id", q.owner_id),
        status,
        q: q.q,
    };
    e.finish()?;
    let page = leads::list(&mut s.tx, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/leads", tag = "crm", security(("bearer" = [])),
    request_body = LeadInput,
    responses((status = 201, description = "Created", body = Envelope<LeadView>)))]
pub async fn create_lead(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<LeadInput>>,
) -> ApiResult<Created<LeadView>> {
    let l = leads::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(l))
}

#[utoipa::path(get, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses((status = 200, description = "The lead", body = Envelope<LeadView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_lead(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<LeadView>> {
    let l = leads::get(&mut s.tx, id).await?;
    Ok(ok(l))
}

#[utoipa::path(patch, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body = LeadInput,
    responses((status = 200, description = "Changed", body = Envelope<LeadView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn update_lead(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<LeadInput>>,
) -> ApiResult<Envelope<LeadView>> {
    let l = leads::update(&mut s.tx, s.user.id.0, id, input, state.clock.now()).await?;
    Ok(ok(l))
}

#[utoipa::path(delete, path = "/api/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_lead(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<Deleted>> {
    leads::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(post, path = "/api/leads/{id}/convert", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body(content = Option<ConvertRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Converted: the contact (and company, and deal) in one transaction", body = Envelope<Conversion>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: already converted", body = ErrorEnvelope),
    ))]
pub async fn convert_lead(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, JsonOrEmpty(req)): WithBody<JsonOrEmpty<ConvertRequest>>,
) -> ApiResult<Envelope<Conversion>> {
    let c = leads::convert(&mut s.tx, &s.user, id, req, state.clock.now()).await?;
    Ok(ok(c))
}

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

fn time_param(
    e: &mut FieldErrors,
    field: &str,
    v: Option<String>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    v.filter(|s| !s.is_empty()).and_then(|s| {
        e.check(
            field,
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| "is not an RFC 3339 time such as 2026-03-01T09:00:00Z"),
        )
    })
}

#[utoipa::path(get, path = "/api/activities", tag = "crm", security(("bearer" = [])),
    params(ActivityListQuery),
    responses((status = 200, description = "A page of the tenant's activities (the calendar: from, to, sort=due_at)", body = ListEnvelope<ActivityView>)))]
pub async fn list_activities(
    mut s: TenantSession,
    Query(q): Query<ActivityListQuery>,
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
    };
    e.finish()?;
    let page = activities::list(&mut s.tx, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/activities", tag = "crm", security(("bearer" = [])),
    request_body = ActivityInput,
    responses((status = 201, description = "Created", body = Envelope<ActivityView>)))]
pub async fn create_activity(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<ActivityInput>>,
) -> ApiResult<Created<ActivityView>> {
    let a = activities::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(a))
}

#[utoipa::path(get, path = "/api/activities/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses((status = 200, description = "The activity", body = Envelope<ActivityView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_activity(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ActivityView>> {
    let a = activities::get(&mut s.tx, id).await?;
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
    let a = activities::update(&mut s.tx, id, input, state.clock.now()).await?;
    Ok(ok(a))
}

#[utoipa::path(delete, path = "/api/activities/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Activity id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_activity(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    activities::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

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
    let page = notes::list(&mut s.tx, &filter, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/notes", tag = "crm", security(("bearer" = [])),
    request_body = NoteInput,
    responses((status = 201, description = "Created", body = Envelope<NoteView>)))]
pub async fn create_note(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<NoteInput>>,
) -> ApiResult<Created<NoteView>> {
    let n = notes::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(n))
}

#[utoipa::path(get, path = "/api/notes/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Note id")),
    responses((status = 200, description = "The note", body = Envelope<NoteView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_note(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<NoteView>> {
    let n = notes::get(&mut s.tx, id).await?;
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
    let n = notes::update(&mut s.tx, id, input, state.clock.now()).await?;
    Ok(ok(n))
}

#[utoipa::path(delete, path = "/api/notes/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Note id")),
    responses((status = 200, description = "Deleted", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_note(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<Deleted>> {
    notes::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

// ---------------------------------------------------------------------------
// Products and deal line items.

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
    let page = products::list(&mut s.tx, &ProductFilter { q: q.q, active }, &req).await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/products", tag = "crm", security(("bearer" = [])),
    request_body = ProductInput,
    responses((status = 201, description = "Created", body = Envelope<ProductView>), (status = 409, description = "`conflict`: the SKU is taken", body = ErrorEnvelope)))]
pub async fn create_product(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<ProductInput>>,
) -> ApiResult<Created<ProductView>> {
    let p = products::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(Created(p))
}

#[utoipa::path(get, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, description = "The product", body = Envelope<ProductView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn get_product(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<ProductView>> {
    let p = products::get(&mut s.tx, id).await?;
    Ok(ok(p))
}

#[utoipa::path(patch, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = ProductInput,
    responses((status = 200, description = "Changed", body = Envelope<ProductView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn update_product(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<ProductInput>>,
) -> ApiResult<Envelope<ProductView>> {
    let p = products::update(&mut s.tx, id, input, state.clock.now()).await?;
    Ok(ok(p))
}

#[utoipa::path(delete, path = "/api/products/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, description = "Deleted; line items keep their name and price", body = Envelope<Deleted>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_product(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    products::delete(&mut s.tx, &s.user, id).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/deals/{id}/items", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id")),
    responses((status = 200, description = "The deal's line items, in order", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn list_items(
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<ListEnvelope<ItemView>> {
    let all = products::items(&mut s.tx, id).await?;
    Ok(ListEnvelope {
        success: true,
        data: all,
        next_cursor: None,
    })
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
    let all = products::add_item(&mut s.tx, id, input, state.clock.now()).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        ListEnvelope {
            success: true,
            data: all,
            next_cursor: None,
        },
    ))
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
    let all = products::update_item(&mut s.tx, id, item, input, state.clock.now()).await?;
    Ok(ListEnvelope {
        success: true,
        data: all,
        next_cursor: None,
    })
}

#[utoipa::path(delete, path = "/api/deals/{id}/items/{item_id}", tag = "crm", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deal id"), ("item_id" = Uuid, Path, description = "Item id")),
    responses((status = 200, description = "Removed; the remaining items", body = ListEnvelope<ItemView>), (status = 404, description = "`not_found`", body = ErrorEnvelope)))]
pub async fn delete_item(
    State(state): State<App>,
    mut s: TenantSession,
    PathIds(id, item): PathIds,
) -> ApiResult<ListEnvelope<ItemView>> {
    let all = products::delete_item(&mut s.tx, id, item, state.clock.now()).await?;
    Ok(ListEnvelope {
        success: true,
        data: all,
        next_cursor: None,
    })
}

// ---------------------------------------------------------------------------
// Timelines.

async fn timeline_of(
    mut s: TenantSession,
    kind: RecordKind,
    id: Uuid,
    page: crate::pagination::PageParams,
) -> ApiResult<ListEnvelope<TimelineEntry>> {
    let mut e = FieldErrors::default();
    let limit = crate::pagination::PageParams {
        limit: page.limit,
        cursor: None,
    }
    .parse(&mut e)
    .limit;
    let before = timeline::parse_cursor(&mut e, page.cursor.as_deref());
    e.finish()?;
    let t = timeline::timeline(&mut s.tx, kind, id, limit, before).await?;
    Ok(t.into())
}

macro_rules! timeline_route {
    ($name:ident, $path:literal, $kind:ident, $what:literal) => {
        #[utoipa::path(get, path = $path, tag = "crm", security(("bearer" = [])),
            params(("id" = Uuid, Path, description = $what), crate::crm::timeline::TimelineParams),
            responses(
                (status = 200, description = "Notes, activities and field changes, newest first", body = ListEnvelope<TimelineEntry>),
                (status = 404, description = "`not_found`", body = ErrorEnvelope),
            ))]
        pub async fn $name(
            s: TenantSession,
            PathId(id): PathId,
            Query(page): Query<crate::pagination::PageParams>,
        ) -> ApiResult<ListEnvelope<TimelineEntry>> {
            timeline_of(s, RecordKind::$kind, id, page).await
        }
    };
}

timeline_route!(
    contact_timeline,
    "/api/contacts/{id}/timeline",
    Contact,
    "Contact id"
);
timeline_route!(
    company_timeline,
    "/api/companies/{id}/timeline",
    Company,
    "Company id"
);
timeline_route!(lead_timeline, "/api/leads/{id}/timeline", Lead, "Lead id");
timeline_route!(deal_timeline, "/api/deals/{id}/timeline", Deal, "Deal id");

// ---------------------------------------------------------------------------
// Reports.

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
    /// Start (RFC 3339), inclusive; default 30 days before `to`.
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
        if from >= to {
            e.add("from", "must be before to");
        }
        if to - from > chrono::Duration::days(3660) {
            e.add("from", "the period is at most ten years");
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
    ))]
pub async fn pipeline_report(
    mut s: TenantSession,
    Query(q): Query<PipelineReportQuery>,
) -> ApiResult<Envelope<PipelineReport>> {
    let mut e = FieldErrors::default();
    let pipeline = uuid_param(&mut e, "pipeline_id", q.pipeline_id);
    e.finish()?;
    let r = reports::pipeline(&mut s.tx, pipeline).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/sales", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses((status = 200, description = "Won deals and their value per month (UTC)", body = Envelope<Vec<MonthReport>>)))]
pub async fn sales_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<MonthReport>>> {
    let (from, to) = q.parse(state.clock.now())?;
    let r = reports::sales(&mut s.tx, from, to).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/activities", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses((status = 200, description = "Done and open activities per assignee", body = Envelope<Vec<UserActivityReport>>)))]
pub async fn activities_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<UserActivityReport>>> {
    let (from, to) = q.parse(state.clock.now())?;
    let r = reports::activities(&mut s.tx, from, to).await?;
    Ok(ok(r))
}

#[utoipa::path(get, path = "/api/reports/leads", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses((status = 200, description = "Leads and their conversion rate per source", body = Envelope<Vec<SourceReport>>)))]
pub async fn leads_report(
    State(state): State<App>,
    mut s: TenantSession,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Envelope<Vec<SourceReport>>> {
    let (from, to) = q.parse(state.clock.now())?;
    let r = reports::leads(&mut s.tx, from, to).await?;
    Ok(ok(r))
}

// ---------------------------------------------------------------------------
// Search.

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find (each as a prefix; all must match).
    #[param(schema_with = search_text, required = true)]
    pub q: Option<String>,
    /// 1–50 (default 20).
    #[param(schema_with = crate::contract::limit::<{ SEARCH_MAX_LIMIT }>)]
    pub limit: Option<String>,
}

#[utoipa::path(get, path = "/api/search", tag = "crm", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, description = "Contacts, companies, leads and deals, best matches first", body = Envelope<Vec<SearchHit>>)))]
pub async fn search(
    mut s: TenantSession,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Envelope<Vec<SearchHit>>> {
    let mut e = FieldErrors::default();
    let text = e.required("q", q.q.filter(|t| !t.trim().is_empty()));
    if text.as_ref().is_some_and(|t| t.chars().count() > Q_MAX) {
        e.add("q", format!("must be at most {Q_MAX} characters long"));
    }
    let limit = match q.limit.as_deref() {
        None | Some("") => 20,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=SEARCH_MAX_LIMIT).contains(&n) => n,
            _ => {
                e.add(
                    "limit",
                    format!("must be a whole number from 1 to {SEARCH_MAX_LIMIT}"),
                );
                20
            }
        },
    };
    e.finish()?;
    s.tx.plan_once().await?;
    let hits =
        crate::crm::search::search(&mut s.tx, text.as_deref().unwrap_or_default(), limit).await?;
    Ok(ok(hits))
}

// ---------------------------------------------------------------------------
// CSV import and export.

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: check and count everything, write nothing.
    #[param(schema_with = crate::contract::query_bool)]
    pub dry_run: Option<String>,
    /// `skip` (default) or `update`: what to do with a row whose e-mail
    /// belongs to a contact already.
    #[param(schema_with = on_duplicate)]
    pub on_duplicate: Option<String>,
}

impl ImportQuery {
    pub(crate) fn options(&self) -> ApiResult<(OnDuplicate, bool)> {
        let mut e = FieldErrors::default();
        let dry_run = match self.dry_run.as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                e.add("dry_run", "must be true or false");
                false
            }
        };
        let on_duplicate = match self.on_duplicate.as_deref() {
            None | Some("") | Some("skip") => OnDuplicate::Skip,
            Some("update") => OnDuplicate::Update,
            Some(_) => {
                e.add("on_duplicate", "must be skip or update");
                OnDuplicate::Skip
            }
        };
        e.finish()?;
        Ok((on_duplicate, dry_run))
    }
}

/// An import of `K`: the file is already spooled; the whole import runs in
/// one transaction, rolled back after a dry run.
async fn import<K: Kind + Default>(
    state: App,
    q: ImportQuery,
    WithBody(s, CsvUpload { file, .. }): WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    let (on_duplicate, dry_run) = q.options()?;
    let now = state.clock.now();
    let report =
        transfer::import::<K>(s.tx.take(), &s.user, on_duplicate, dry_run, file, now).await?;
    Ok(ok(report))
}

/// The whole CSV export of `K`, streamed as a download, read in `tx`.
pub(crate) fn export<K: Kind + 'static>(tx: crate::store::TenantTx) -> axum::response::Response {
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.csv\"", K::TABLE),
        )
        .body(axum::body::Body::from_stream(transfer::export_stream::<K>(
            tx,
        )))
        .unwrap_or_default()
}

#[utoipa::path(post, path = "/api/contacts/import", tag = "crm", security(("bearer" = [])),
    params(ImportQuery),
    request_body(description = "A CSV file (up to 50 MiB), as the body or as the `file` part of a form, whose first row names the columns: first_name (required), last_name, email, phone, title, company, tags (separated by ;), source",
        content((String = "text/csv"), (String = "multipart/form-data"))),
    responses(
        (status = 200, description = "What was imported, updated and skipped, and each bad row's error", body = Envelope<ImportReport>),
        (status = 413, description = "`payload_too_large`: over 50 MiB", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: send text/csv or multipart/form-data", body = ErrorEnvelope),
    ))]
pub async fn import_contacts(
    State(state): State<App>,
    Query(q): Query<ImportQuery>,
    body: WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    import::<Contacts>(state, q, body).await
}

#[utoipa::path(get, path = "/api/contacts/export", tag = "crm", security(("bearer" = [])),
    responses((status = 200, description = "Every contact as CSV (the columns the import reads), streamed", content_type = "text/csv", body = String)))]
pub async fn export_contacts(s: TenantSession) -> axum::response::Response {
    export::<Contacts>(s.tx.take())
}

#[utoipa::path(post, path = "/api/leads/import", tag = "crm", security(("bearer" = [])),
    params(ImportQuery),
    request_body(description = "A CSV file (up to 50 MiB), as the body or as the `file` part of a form, whose first row names the columns: first_name (required), last_name, email, phone, company_name, source, status, estimated_value (minor units), currency",
        content((String = "text/csv"), (String = "multipart/form-data"))),
    responses(
        (status = 200, description = "What was imported, updated and skipped, and each bad row's error", body = Envelope<ImportReport>),
        (status = 413, description = "`payload_too_large`: over 50 MiB", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: send text/csv or multipart/form-data", body = ErrorEnvelope),
    ))]
pub async fn import_leads(
    State(state): State<App>,
    Query(q): Query<ImportQuery>,
    body: WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    import::<Leads>(state, q, body).await
}

#[utoipa::path(get, path = "/api/leads/export", tag = "crm", security(("bearer" = [])),
    responses((status = 200, description = "Every lead as CSV (the columns the import reads), streamed", content_type = "text/csv", body = String)))]
pub async fn export_leads(s: TenantSession) -> axum::response::Response {
    export::<Leads>(s.tx.take())
}
