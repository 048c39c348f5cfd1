//! The CRM records over HTTP (companies, contacts, pipelines, deals, leads,
//! activities, notes): list (filter, sort, keyset pages),
//! create, read, change, delete. Every route works on the caller's tenant
//! only; another tenant's ids answer 404, another tenant's references 422.
//!
//! One file per resource; the list query and its parsing, which several
//! share, live here.

mod activities;
mod contacts;
mod custom_fields;
mod deals;
mod leads;
mod notes;
mod pipelines;
mod products;
mod reports;
mod search;
mod timeline;
mod transfer;

pub use activities::*;
pub use contacts::*;
pub use custom_fields::*;
pub use deals::*;
pub use leads::*;
pub use notes::*;
pub use pipelines::*;
pub use products::*;
pub use reports::*;
pub use search::*;
pub use timeline::*;
pub use transfer::*;

/// The CRM's routes, each resource's from its own file.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .merge(contacts::routes())
        .merge(custom_fields::routes())
        .merge(pipelines::routes())
        .merge(deals::routes())
        .merge(leads::routes())
        .merge(activities::routes())
        .merge(notes::routes())
        .merge(products::routes())
        .merge(timeline::routes())
        .merge(reports::routes())
        .merge(search::routes())
        .merge(transfer::routes())
}

use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::TenantSession;
use crate::crm;
use crate::crm::activities::{ActivityFilter, ActivityInput, ActivityType, ActivityView};
use crate::crm::companies::{CompanyFilter, CompanyInput, CompanyView};
use crate::crm::contacts::{ContactFilter, ContactInput, ContactView};
use crate::crm::deals::{DealFilter, DealInput, DealView};
use crate::crm::leads::{Conversion, ConvertRequest, LeadFilter, LeadInput, LeadStatus, LeadView};
use crate::crm::listing::ListRequest;
use crate::crm::notes::{NoteChange, NoteFilter, NoteInput, NoteView};
use crate::crm::pipelines::{
    CreatePipeline, PipelineView, Reorder, StageInput, StageView, UpdatePipeline, UpdateStage,
};
use crate::crm::products::{ItemInput, ItemView, ProductFilter, ProductInput, ProductView};
use crate::crm::reports::{MonthReport, PipelineReport, SourceReport, UserActivityReport};
use crate::crm::search::SearchHit;
use crate::crm::timeline::{RecordKind, TimelineEntry};
use crate::crm::transfer::{Contacts, ImportReport, Kind, Leads, OnDuplicate};
use crate::domain::{
    ActivityId, CompanyId, ContactId, DealId, ItemId, LeadId, NoteId, PipelineId, ProductId,
    StageId,
};
use crate::error::{ApiResult, FieldErrors};
use crate::web::api::users::Deleted;
use crate::web::extract::{CsvUpload, Json, JsonOrEmpty, PathId, PathIds, Query};
use crate::web::session::{HeavyOperation, WithBody};
use axum::extract::{RawQuery, State};
use axum::Extension;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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

/// The `?cf.<key>=…` filters of a list's query string.
pub(crate) fn custom_filters(raw: Option<String>) -> crate::crm::custom::Filters {
    crate::crm::custom::Filters::of_query(raw.as_deref().unwrap_or_default())
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
