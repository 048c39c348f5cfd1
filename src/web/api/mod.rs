//! The JSON API: the route table, the response envelopes and the OpenAPI
//! description generated from the handlers' annotations.
//!
//! Every route is mounted from [`routes`]; a test checks each one against
//! the OpenAPI description, so an undocumented route fails the build's tests.

pub mod auth;
pub mod crm;
pub mod health;
pub mod licenses;
pub mod platform;
pub mod tenants;
pub mod users;

use crate::web::AppState;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
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

/// One mounted route: method, path (axum syntax, which is also OpenAPI's) and
/// handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

macro_rules! route {
    ($method:ident $path:expr => $handler:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            handler: route!(@fn $method)($handler),
        }
    };
    (@fn GET) => { get };
    (@fn POST) => { post };
    (@fn PATCH) => { patch };
    (@fn DELETE) => { delete };
}
pub(crate) use route;

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    vec![
        route!(GET "/healthz" => health::healthz),
        route!(POST "/api/tenants/register" => tenants::register),
        route!(GET "/api/tenants/check-availability" => tenants::check_availability),
        route!(GET "/api/tenants/current" => tenants::current),
        route!(PATCH "/api/tenants/current" => tenants::update_current),
        route!(GET "/api/tenants/subscription" => tenants::subscription),
        route!(GET "/api/tenants/usage" => tenants::usage),
        route!(POST "/api/auth/login" => auth::login),
        route!(GET "/api/auth/me" => auth::me),
        route!(GET "/api/users" => users::list),
        route!(POST "/api/users" => users::create),
        route!(GET "/api/users/{id}" => users::get),
        route!(PATCH "/api/users/{id}" => users::update),
        route!(DELETE "/api/users/{id}" => users::delete),
        route!(GET "/api/audit-log" => platform::own_audit_log),
        route!(GET "/api/tenants" => platform::list),
        route!(GET "/api/tenants/{id}" => platform::get),
        route!(PATCH "/api/tenants/{id}" => platform::update),
        route!(DELETE "/api/tenants/{id}" => platform::delete),
        route!(POST "/api/tenants/{id}/suspend" => platform::suspend),
        route!(POST "/api/tenants/{id}/activate" => platform::activate),
        route!(GET "/api/tenants/{id}/audit-log" => platform::tenant_audit_log),
        route!(POST "/api/tenants/licenses/generate" => licenses::generate),
        route!(GET "/api/tenants/licenses" => licenses::list),
        route!(POST "/api/tenants/licenses/{id}/revoke" => licenses::revoke),
        route!(POST "/api/tenants/licenses/validate" => licenses::validate),
        route!(POST "/api/tenants/licenses/claim" => licenses::claim),
        route!(POST "/api/tenants/licenses/activate" => licenses::activate),
        route!(GET "/api/companies" => crm::list_companies),
        route!(POST "/api/companies" => crm::create_company),
        route!(GET "/api/companies/{id}" => crm::get_company),
        route!(PATCH "/api/companies/{id}" => crm::update_company),
        route!(DELETE "/api/companies/{id}" => crm::delete_company),
        route!(GET "/api/contacts" => crm::list_contacts),
        route!(POST "/api/contacts" => crm::create_contact),
        route!(GET "/api/contacts/{id}" => crm::get_contact),
        route!(PATCH "/api/contacts/{id}" => crm::update_contact),
        route!(DELETE "/api/contacts/{id}" => crm::delete_contact),
        route!(GET "/api/pipelines" => crm::list_pipelines),
        route!(POST "/api/pipelines" => crm::create_pipeline),
        route!(GET "/api/pipelines/{id}" => crm::get_pipeline),
        route!(PATCH "/api/pipelines/{id}" => crm::update_pipeline),
        route!(DELETE "/api/pipelines/{id}" => crm::delete_pipeline),
        route!(GET "/api/pipelines/{id}/stages" => crm::list_stages),
        route!(POST "/api/pipelines/{id}/stages" => crm::add_stage),
        route!(PATCH "/api/pipelines/{id}/stages/{stage_id}" => crm::update_stage),
        route!(DELETE "/api/pipelines/{id}/stages/{stage_id}" => crm::delete_stage),
        route!(POST "/api/pipelines/{id}/stages/reorder" => crm::reorder_stages),
        route!(GET "/api/deals" => crm::list_deals),
        route!(POST "/api/deals" => crm::create_deal),
        route!(GET "/api/deals/{id}" => crm::get_deal),
        route!(PATCH "/api/deals/{id}" => crm::update_deal),
        route!(DELETE "/api/deals/{id}" => crm::delete_deal),
        route!(GET "/api/leads" => crm::list_leads),
        route!(POST "/api/leads" => crm::create_lead),
        route!(GET "/api/leads/{id}" => crm::get_lead),
        route!(PATCH "/api/leads/{id}" => crm::update_lead),
        route!(DELETE "/api/leads/{id}" => crm::delete_lead),
        route!(POST "/api/leads/{id}/convert" => crm::convert_lead),
        route!(GET "/api/activities" => crm::list_activities),
        route!(POST "/api/activities" => crm::create_activity),
        route!(GET "/api/activities/{id}" => crm::get_activity),
        route!(PATCH "/api/activities/{id}" => crm::update_activity),
        route!(DELETE "/api/activities/{id}" => crm::delete_activity),
        route!(GET "/api/notes" => crm::list_notes),
        route!(POST "/api/notes" => crm::create_note),
        route!(GET "/api/notes/{id}" => crm::get_note),
        route!(PATCH "/api/notes/{id}" => crm::update_note),
        route!(DELETE "/api/notes/{id}" => crm::delete_note),
        route!(GET "/api/products" => crm::list_products),
        route!(POST "/api/products" => crm::create_product),
        route!(GET "/api/products/{id}" => crm::get_product),
        route!(PATCH "/api/products/{id}" => crm::update_product),
        route!(DELETE "/api/products/{id}" => crm::delete_product),
        route!(GET "/api/deals/{id}/items" => crm::list_items),
        route!(POST "/api/deals/{id}/items" => crm::add_item),
        route!(PATCH "/api/deals/{id}/items/{item_id}" => crm::update_item),
        route!(DELETE "/api/deals/{id}/items/{item_id}" => crm::delete_item),
        route!(GET "/api/contacts/{id}/timeline" => crm::contact_timeline),
        route!(GET "/api/companies/{id}/timeline" => crm::company_timeline),
        route!(GET "/api/leads/{id}/timeline" => crm::lead_timeline),
        route!(GET "/api/deals/{id}/timeline" => crm::deal_timeline),
        route!(GET "/api/reports/pipeline" => crm::pipeline_report),
        route!(GET "/api/reports/sales" => crm::sales_report),
        route!(GET "/api/reports/activities" => crm::activities_report),
        route!(GET "/api/reports/leads" => crm::leads_report),
        route!(GET "/api/search" => crm::search),
        route!(POST "/api/contacts/import" => crm::import_contacts),
        route!(GET "/api/contacts/export" => crm::export_contacts),
        route!(POST "/api/leads/import" => crm::import_leads),
        route!(GET "/api/leads/export" => crm::export_leads),
    ]
}

/// A router of `routes`.
pub fn router_of(routes: Vec<Route>) -> Router<AppState> {
    let mut router = Router::new();
    for r in routes {
        router = router.route(r.path, r.handler);
    }
    router
}

pub fn router() -> Router<AppState> {
    router_of(routes())
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", ApiDoc::openapi()))
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
                op.operation_id = Some(operation_id(method, path));
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

/// Fields a create (POST) needs of a body type it shares with the update
/// (PATCH), where every field is optional: the services' `required` checks.
const REQUIRED_TO_CREATE: &[(&str, &[&str])] = &[
    ("ActivityInput", &["subject"]),
    ("CompanyInput", &["name"]),
    ("ContactInput", &["first_name"]),
    ("DealInput", &["title"]),
    ("LeadInput", &["first_name"]),
    ("ProductInput", &["name"]),
];

/// Request bodies as the server reads them: a POST of a shared input type
/// gets its own `<Type>Create` schema listing what a create requires (and
/// not taking `null` there); an optional body (`JsonOrEmpty`) is the object
/// or nothing, not `null`.
struct RequestBodies;

impl Modify for RequestBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        use utoipa::openapi::{Ref, RefOr};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, required) in REQUIRED_TO_CREATE {
            let Some(RefOr::T(Schema::Object(base))) = components.schemas.get(*name) else {
                panic!("{name} is not an object schema");
            };
            let mut create = base.clone();
            for field in *required {
                let Some(RefOr::T(Schema::Object(prop))) = create.properties.get_mut(*field) else {
                    panic!("{name}.{field} is not an inline property");
                };
                prop.schema_type = SchemaType::Type(Type::String);
                create.required.push((*field).to_owned());
            }
            components
                .schemas
                .insert(format!("{name}Create"), Schema::Object(create).into());
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.post, &mut item.patch].into_iter().flatten() {
                let Some(body) = op.request_body.as_mut() else {
                    continue;
                };
                for content in body.content.values_mut() {
                    // `Option<T>` bodies: oneOf [null, T] → T, not required.
                    if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema {
                        if let Some(only) = one.items.iter().find(|i| {
                            !matches!(i, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
                        }) {
                            content.schema = Some(only.clone());
                        }
                    }
                }
            }
            if let Some(op) = item.post.as_mut() {
                let Some(body) = op.request_body.as_mut() else {
                    continue;
                };
                for content in body.content.values_mut() {
                    if let Some(RefOr::Ref(r)) = &content.schema {
                        let name = r.ref_location.trim_start_matches("#/components/schemas/");
                        if REQUIRED_TO_CREATE.iter().any(|(n, _)| *n == name) {
                            content.schema =
                                Some(RefOr::Ref(Ref::from_schema_name(format!("{name}Create"))));
                        }
                    }
                }
            }
        }
    }
}

/// The operation id of `method path`: `get_api_contacts_id`.
fn operation_id(method: &str, path: &str) -> String {
    format!("{method}{path}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The path parameters of an OpenAPI path: `{id}`, `{item_id}`.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// OpenAPI `links` on every 201 of a POST that creates a resource: to each
/// operation under `<created path>/{param}` whose one new parameter is the
/// created resource's `id` (get, update, delete, and the record's own
/// sub-resources), the other parameters taken from the create's request.
struct CreatedLinks;

impl Modify for CreatedLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        let mut targets: Vec<(String, String)> = Vec::new();
        for (path, item) in &openapi.paths.paths {
            for (method, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                if op.is_some() {
                    targets.push((method.to_owned(), path.clone()));
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(op) = item.post.as_mut() else {
                continue;
            };
            let Some(utoipa::openapi::RefOr::T(created)) = op.responses.responses.get_mut("201")
            else {
                continue;
            };
            let own = path_params(path);
            for (method, target) in &targets {
                let Some(rest) = target.strip_prefix(path.as_str()) else {
                    continue;
                };
                let Some(first) = rest
                    .strip_prefix("/{")
                    .and_then(|r| r.split_once('}'))
                    .map(|(name, _)| name)
                else {
                    continue;
                };
                let new: Vec<&str> = path_params(target)
                    .into_iter()
                    .filter(|p| !own.contains(p))
                    .collect();
                if new != [first] {
                    continue;
                }
                let mut link = LinkBuilder::new().parameter(first, "$response.body#/data/id");
                for p in &own {
                    link = link.parameter(*p, format!("$request.path.{p}"));
                }
                let mut link = link.build();
                // utoipa 5 writes `Link::operation_id` as `operation_id`;
                // OpenAPI spells it `operationId`.
                let mut spelled = utoipa::openapi::extensions::Extensions::default();
                spelled.insert(
                    "operationId".to_owned(),
                    operation_id(method, target).into(),
                );
                link.extensions = Some(spelled);
                created
                    .links
                    .insert(operation_id(method, target), link.into());
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
    paths(
        health::healthz,
        tenants::register,
        tenants::check_availability,
        tenants::current,
        tenants::update_current,
        tenants::subscription,
        tenants::usage,
        auth::login,
        auth::me,
        users::list,
        users::create,
        users::get,
        users::update,
        users::delete,
        platform::own_audit_log,
        platform::list,
        platform::get,
        platform::update,
        platform::delete,
        platform::suspend,
        platform::activate,
        platform::tenant_audit_log,
        licenses::generate,
        licenses::list,
        licenses::revoke,
        licenses::validate,
        licenses::claim,
        licenses::activate,
        crm::list_companies,
        crm::create_company,
        crm::get_company,
        crm::update_company,
        crm::delete_company,
        crm::list_contacts,
        crm::create_contact,
        crm::get_contact,
        crm::update_contact,
        crm::delete_contact,
        crm::list_pipelines,
        crm::create_pipeline,
        crm::get_pipeline,
        crm::update_pipeline,
        crm::delete_pipeline,
        crm::list_stages,
        crm::add_stage,
        crm::update_stage,
        crm::delete_stage,
        crm::reorder_stages,
        crm::list_deals,
        crm::create_deal,
        crm::get_deal,
        crm::update_deal,
        crm::delete_deal,
        crm::list_leads,
        crm::create_lead,
        crm::get_lead,
        crm::update_lead,
        crm::delete_lead,
        crm::convert_lead,
        crm::list_activities,
        crm::create_activity,
        crm::get_activity,
        crm::update_activity,
        crm::delete_activity,
        crm::list_notes,
        crm::create_note,
        crm::get_note,
        crm::update_note,
        crm::delete_note,
        crm::list_products,
        crm::create_product,
        crm::get_product,
        crm::update_product,
        crm::delete_product,
        crm::list_items,
        crm::add_item,
        crm::update_item,
        crm::delete_item,
        crm::contact_timeline,
        crm::company_timeline,
        crm::lead_timeline,
        crm::deal_timeline,
        crm::pipeline_report,
        crm::sales_report,
        crm::activities_report,
        crm::leads_report,
        crm::search,
        crm::import_contacts,
        crm::export_contacts,
        crm::import_leads,
        crm::export_leads,
    ),
    components(schemas(ErrorEnvelope, ErrorBody)),
    modifiers(&BearerAuth, &RequestBodies, &CommonResponses, &CreatedLinks),
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
    fn every_route_is_in_the_openapi_description() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut missing = Vec::new();
        for r in routes() {
            let method = r.method.as_str().to_lowercase();
            if doc["paths"][r.path][&method].is_null() {
                missing.push(format!("{} {}", r.method, r.path));
            }
        }
        assert!(
            missing.is_empty(),
            "routes missing from OpenAPI: {missing:?}"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_query_parameters_are_in_the_query() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
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

    /// Every value of a JSON document, with its JSON pointer.
    fn walk<'a>(
        v: &'a serde_json::Value,
        at: String,
        out: &mut Vec<(String, &'a serde_json::Value)>,
    ) {
        out.push((at.clone(), v));
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    walk(x, format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn ids_are_uuids_and_patterns_compile() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut all = Vec::new();
        walk(&doc, String::new(), &mut all);
        for (at, v) in all {
            // A schema property named `id` or `…_id` that is a string is a UUID.
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (name, prop) in props {
                    let is_id = name == "id" || name.ends_with("_id");
                    let types = prop.get("type");
                    let stringy = types == Some(&serde_json::json!("string"))
                        || types == Some(&serde_json::json!(["string", "null"]));
                    // Not record ids: an installation's own name, and the
                    // audit log's free-form target.
                    let exempt = ["instance_id", "target_id"].contains(&name.as_str());
                    if is_id && stringy && !exempt {
                        assert_eq!(prop["format"], "uuid", "{at}/properties/{name}");
                    }
                }
            }
            if let Some(p) = v.get("pattern").and_then(|p| p.as_str()) {
                regex::Regex::new(p).unwrap_or_else(|e| panic!("{at}: {p}: {e}"));
            }
        }
    }

    #[test]
    fn created_resources_link_to_their_operations() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let ids: std::collections::HashSet<String> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap().to_owned())
            .collect();
        for path in [
            "/api/companies",
            "/api/contacts",
            "/api/deals",
            "/api/leads",
            "/api/activities",
            "/api/notes",
            "/api/products",
            "/api/pipelines",
            "/api/users",
        ] {
            let links = doc["paths"][path]["post"]["responses"]["201"]["links"]
                .as_object()
                .unwrap_or_else(|| panic!("POST {path}: no links"));
            for verb in ["get", "patch", "delete"] {
                let target = format!("{verb}{}_id", path.replace('/', "_"));
                let link = &links[&target];
                assert_eq!(link["operationId"], target.as_str(), "POST {path}");
                assert!(ids.contains(&target), "{target}");
                assert_eq!(link["parameters"]["id"], "$response.body#/data/id");
            }
        }
    }

    #[test]
    fn creates_require_what_the_services_require() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (name, required) in REQUIRED_TO_CREATE {
            let create = &doc["components"]["schemas"][format!("{name}Create")];
            for field in *required {
                assert!(
                    create["required"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r == field),
                    "{name}Create.{field}"
                );
            }
        }
        // The Principal is one of two kinds, told apart by `kind`.
        let principal = &doc["components"]["schemas"]["Principal"]["oneOf"];
        let kinds: Vec<&serde_json::Value> = principal
            .as_array()
            .unwrap()
            .iter()
            .map(|b| &b["allOf"][1]["properties"]["kind"]["enum"][0])
            .collect();
        assert_eq!(
            kinds,
            [
                &serde_json::json!("user"),
                &serde_json::json!("platform_admin")
            ]
        );
    }

    #[test]
    fn the_description_has_no_route_that_is_not_mounted() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mounted: Vec<(String, String)> = routes()
            .iter()
            .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
            .collect();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    mounted.contains(&(method.clone(), path.clone())),
                    "documented but not mounted: {method} {path}"
                );
            }
        }
    }
}
