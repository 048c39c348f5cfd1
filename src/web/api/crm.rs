//! Companies and contacts over HTTP: list (filter, sort, keyset pages),
//! create, read, change, delete. Every route works on the caller's tenant
//! only; another tenant's ids answer 404, another tenant's references 422.

use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::auth::TenantSession;
use crate::crm::companies::{self, CompanyFilter, CompanyInput, CompanyView};
use crate::crm::contacts::{self, ContactFilter, ContactInput, ContactView};
use crate::crm::listing::ListRequest;
use crate::error::{ApiResult, FieldErrors};
use crate::web::api::users::Deleted;
use crate::web::extract::{Json, PathId, Query};
use crate::web::AppState;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct CrmListQuery {
    /// Text search (name, e-mail, phone; domain for companies).
    pub q: Option<String>,
    /// Only records owned by this user.
    pub owner_id: Option<String>,
    /// Contacts only: only contacts of this company.
    pub company_id: Option<String>,
    /// `name`, `created_at` or `updated_at`; `-` in front for descending.
    /// Default `-created_at`.
    pub sort: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An id given as a filter: malformed is 422 (unlike a path id, a query
/// parameter is input to validate).
fn uuid_param(errors: &mut FieldErrors, field: &str, v: Option<String>) -> Option<Uuid> {
    v.filter(|s| !s.is_empty())
        .and_then(|s| errors.check(field, Uuid::parse_str(s.trim()).map_err(|_| "is not an id")))
}

/// A list query, validated.
struct Parsed {
    req: ListRequest,
    q: Option<String>,
    owner_id: Option<Uuid>,
    company_id: Option<Uuid>,
}

impl CrmListQuery {
    fn parse(self) -> ApiResult<Parsed> {
        let mut e = FieldErrors::default();
        let req = ListRequest::parse(
            self.limit.as_deref(),
            self.sort.as_deref(),
            self.cursor.as_deref(),
            &mut e,
        );
        let owner = uuid_param(&mut e, "owner_id", self.owner_id);
        let company = uuid_param(&mut e, "company_id", self.company_id);
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            e.add("q", "must be at most 200 characters long");
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
    s.tx.commit().await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/contacts", tag = "crm", security(("bearer" = [])),
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created", body = Envelope<ContactView>),
        (status = 422, description = "`validation_failed`, also for a company_id or owner_id that is not the tenant's", body = ErrorEnvelope),
    ))]
pub async fn create_contact(
    State(state): State<AppState>,
    mut s: TenantSession,
    Json(input): Json<ContactInput>,
) -> ApiResult<Created<ContactView>> {
    let c = contacts::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    s.tx.commit().await?;
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
    s.tx.commit().await?;
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
    State(state): State<AppState>,
    mut s: TenantSession,
    PathId(id): PathId,
    Json(input): Json<ContactInput>,
) -> ApiResult<Envelope<ContactView>> {
    let c = contacts::update(&mut s.tx, id, input, state.clock.now()).await?;
    s.tx.commit().await?;
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
    s.tx.commit().await?;
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
    s.tx.commit().await?;
    Ok(page.into())
}

#[utoipa::path(post, path = "/api/companies", tag = "crm", security(("bearer" = [])),
    request_body = CompanyInput,
    responses(
        (status = 201, description = "Created", body = Envelope<CompanyView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_company(
    State(state): State<AppState>,
    mut s: TenantSession,
    Json(input): Json<CompanyInput>,
) -> ApiResult<Created<CompanyView>> {
    let c = companies::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    s.tx.commit().await?;
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
    s.tx.commit().await?;
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
    State(state): State<AppState>,
    mut s: TenantSession,
    PathId(id): PathId,
    Json(input): Json<CompanyInput>,
) -> ApiResult<Envelope<CompanyView>> {
    let c = companies::update(&mut s.tx, id, input, state.clock.now()).await?;
    s.tx.commit().await?;
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
    s.tx.commit().await?;
    Ok(ok(Deleted { id, deleted: true }))
}
