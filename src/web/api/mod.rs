//! The JSON API: the route table, the response envelopes and the OpenAPI
//! description generated from the handlers' annotations.
//!
//! Every route is mounted from [`api`], which takes each route's path and
//! method from its handler's OpenAPI annotation: the route table and the
//! description are one list.

pub mod auth;
pub mod crm;
pub mod health;
pub mod licenses;
pub mod platform;
pub mod tenants;
pub mod users;

use crate::app::App;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// `{"success": true, "data": …}`, 200.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

pub fn ok<T: Serialize>(data: T) -> Envelope<T> {
    Envelope {
        success: true,
        data,
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// The same envelope with 201 Created.
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, axum::Json(ok(self.0))).into_response()
    }
}

/// `{"success": true, "data": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    pub success: bool,
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: Serialize> From<crate::pagination::Page<T>> for ListEnvelope<T> {
    fn from(p: crate::pagination::Page<T>) -> Self {
        ListEnvelope {
            success: true,
            data: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

impl<T: Serialize> IntoResponse for ListEnvelope<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// The error envelope (documentation only; `ApiError` renders it).
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    pub message: String,
    /// For `validation_failed`: `{"fields": {"name": "why"}}`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// The API: every route with its OpenAPI description, both from the
/// handlers' `#[utoipa::path]` annotations, so a route cannot exist
/// undocumented nor a documented one be missing.
pub fn api() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(tenants::register))
        .routes(routes!(tenants::check_availability))
        .routes(routes!(tenants::current, tenants::update_current))
        .routes(routes!(tenants::subscription))
        .routes(routes!(tenants::usage))
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(platform::own_audit_log))
        .routes(routes!(platform::list))
        .routes(routes!(platform::get, platform::update, platform::delete))
        .routes(routes!(platform::suspend))
        .routes(routes!(platform::activate))
        .routes(routes!(platform::tenant_audit_log))
        .routes(routes!(licenses::generate))
        .routes(routes!(licenses::list))
        .routes(routes!(licenses::revoke))
        .routes(routes!(licenses::validate))
        .routes(routes!(licenses::claim))
        .routes(routes!(licenses::activate))
        .routes(routes!(crm::list_companies, crm::create_company))
        .routes(routes!(
            crm::get_company,
            crm::update_company,
            crm::delete_company
        ))
        .routes(routes!(crm::list_contacts, crm::create_contact))
        .routes(routes!(
            crm::get_contact,
            crm::update_contact,
            crm::delete_contact
        ))
        .routes(routes!(crm::list_pipelines, crm::create_pipeline))
        .routes(routes!(
            crm::get_pipeline,
            crm::update_pipeline,
            crm::delete_pipeline
        ))
        .routes(routes!(crm::list_stages, crm::add_stage))
        .routes(routes!(crm::update_stage, crm::delete_stage))
        .routes(routes!(crm::reorder_stages))
        .routes(routes!(crm::list_deals, crm::create_deal))
        .routes(routes!(crm::get_deal, crm::update_deal, crm::delete_deal))
        .routes(routes!(crm::list_leads, crm::create_lead))
        .routes(routes!(crm::get_lead, crm::update_lead, crm::delete_lead))
        .routes(routes!(crm::convert_lead))
        .routes(routes!(crm::list_activities, crm::create_activity))
        .routes(routes!(
            crm::get_activity,
            crm::update_activity,
            crm::delete_activity
        ))
        .routes(routes!(crm::list_notes, crm::create_note))
        .routes(routes!(crm::get_note, crm::update_note, crm::delete_note))
        .routes(routes!(crm::list_products, crm::create_product))
        .routes(routes!(
            crm::get_product,
            crm::update_product,
            crm::delete_product
        ))
        .routes(routes!(crm::list_items, crm::add_item))
        .routes(routes!(crm::update_item, crm::delete_item))
        .routes(routes!(crm::contact_timeline))
        .routes(routes!(crm::company_timeline))
        .routes(routes!(crm::lead_timeline))
        .routes(routes!(crm::deal_timeline))
        .routes(routes!(crm::pipeline_report))
        .routes(routes!(crm::sales_report))
        .routes(routes!(crm::activities_report))
        .routes(routes!(crm::leads_report))
        .routes(routes!(crm::search))
        .routes(routes!(crm::import_contacts))
        .routes(routes!(crm::export_contacts))
        .routes(routes!(crm::import_leads))
        .routes(routes!(crm::export_leads))
}

/// The routes of the API, and its description.
pub fn router() -> Router<App> {
    let (router, openapi) = api().split_for_parts();
    router.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", describe(openapi)))
}

/// The description as served: the paths the router collected, with what
/// every operation may answer and its operation id.
pub fn describe(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    CommonResponses.modify(&mut openapi);
    openapi
}

/// One mounted route of the API.
pub struct Endpoint {
    pub method: axum::http::Method,
    pub path: String,
}

/// Every route of the API, read from the description the router was built
/// from (tests walk it).
pub fn routes() -> Vec<Endpoint> {
    let doc = serde_json::to_value(openapi()).expect("the description serialises");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if let Ok(method) = method.to_uppercase().parse() {
                out.push(Endpoint {
                    method,
                    path: path.clone(),
                });
            }
        }
    }
    out
}

/// The served description (tests read it).
pub fn openapi() -> utoipa::openapi::OpenApi {
    describe(api().split_for_parts().1)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// What every operation may answer besides its own responses, and an
/// operation id made from method and path (unique by construction).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name(
                                "ErrorEnvelope",
                            )))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
                ("put", &mut item.put),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let id: String = format!("{method}{path}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .split('_')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join("_");
                op.operation_id = Some(id);
                let responses = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(what));
                };
                if op.security.is_some() {
                    add("401", "`unauthorized`: no token, or one that is invalid, expired or no longer valid");
                    add("403", "`forbidden`, `tenant_suspended`");
                }
                if op.request_body.is_some() {
                    add("400", "`invalid_json`");
                    add("413", "`payload_too_large`: over 1 MiB");
                    add("415", "`unsupported_media_type`: not JSON");
                    add(
                        "422",
                        "`validation_failed`: `details.fields` names each bad field",
                    );
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(
                        "422",
                        "`validation_failed`: `details.fields` names each bad field",
                    );
                }
                add("500", "`internal`");
                add("503", "`service_unavailable`: the database does not answer");
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trasealla CRM API",
        description = "Multi-tenant CRM. Success: `{\"success\": true, \"data\": …}`; errors: `{\"success\": false, \"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    components(schemas(ErrorEnvelope, ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Registration and the tenant's own settings"),
        (name = "auth", description = "Logging in"),
        (name = "users", description = "The tenant's staff"),
        (name = "platform", description = "The vendor's staff: tenants and their lifecycle"),
        (name = "licensing", description = "Licence keys and certificates for self-hosted installations"),
        (name = "reports", description = "Basic reports"),
        (name = "crm", description = "Companies, contacts, pipelines, deals, leads, activities and notes"),
        (name = "system", description = "Health"),
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_query_parameters_are_in_the_query() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: {name} is not in the path"
                        );
                    }
                }
            }
        }
    }
}
