//! The JSON API: the route table, the response envelopes and the OpenAPI
//! description generated from the handlers' annotations.
//!
//! Every route is mounted from [`api`], which takes each route's path and
//! method from its handler's OpenAPI annotation: the route table and the
//! description are one list.

pub mod access;
pub mod auth;
pub mod billing;
pub mod crm;
pub mod health;
pub mod integrations;
pub mod licenses;
pub mod mail;
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

/// A whole list in one page (pipelines, a deal's items, teams, roles).
impl<T: Serialize> From<Vec<T>> for ListEnvelope<T> {
    fn from(data: Vec<T>) -> Self {
        ListEnvelope {
            success: true,
            data,
            next_cursor: None,
        }
    }
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
        .routes(routes!(auth::logout_all))
        .routes(routes!(mail::verify_email))
        .routes(routes!(mail::resend_verification))
        .routes(routes!(mail::password_reset))
        .routes(routes!(mail::password_reset_confirm))
        .routes(routes!(mail::list_invitations, mail::invite))
        .routes(routes!(mail::resend_invitation))
        .routes(routes!(mail::revoke_invitation))
        .routes(routes!(mail::accept_invitation))
        .routes(routes!(mail::messages))
        .routes(routes!(mail::jobs))
        .routes(routes!(mail::retry_job))
        .routes(routes!(mail::platform_messages))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(platform::own_audit_log))
        .routes(routes!(platform::list))
        .routes(routes!(platform::get, platform::update, platform::delete))
        .routes(routes!(platform::suspend))
        .routes(routes!(platform::activate))
        .routes(routes!(platform::tenant_audit_log))
        .routes(routes!(platform::usage))
        .routes(routes!(platform::usage_csv))
        .routes(routes!(licenses::generate))
        .routes(routes!(licenses::list))
        .routes(routes!(licenses::revoke))
        .routes(routes!(licenses::validate))
        .routes(routes!(licenses::claim))
        .routes(routes!(licenses::activate))
        .merge(billing::routes())
        .merge(crm::routes())
        .merge(access::routes())
        .merge(integrations::routes())
}

/// The routes of the API, and its description.
pub fn router() -> Router<App> {
    let (router, openapi) = api().split_for_parts();
    router.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", describe(openapi)))
}

/// The description as served: the paths the router collected, with what
/// every operation may answer and its operation id.
pub fn describe(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    FreeFormJson.modify(&mut openapi);
    RequestBodies.modify(&mut openapi);
    CommonResponses.modify(&mut openapi);
    CreatedLinks.modify(&mut openapi);
    WebhookEvents.modify(&mut openapi);
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
                    add("429", "`rate_limited`: past the plan's requests per minute, or the company's requests hold as many database connections as they may (`TRASEALLA_TENANT_MAX_CONNECTIONS`); `quota_exceeded`: past the plan's API calls this month; with Retry-After");
                    if method != "get" {
                        add("402", "`trial_expired`, `plan_limit_reached` or `feature_not_in_plan`: what the plan allows (`details` names the limit or feature and the plan that has it)");
                    }
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
    ("RoleInput", &["name"]),
    ("TeamInput", &["name"]),
    // Its alternatives are in ANY_OF_TO_CREATE.
    ("ItemInput", &[]),
];

/// Creates that need one of several sets of fields (given, not `null`).
const ANY_OF_TO_CREATE: &[(&str, &[&[&str]])] = &[(
    // A line item names a product, or gives its own name and price.
    "ItemInput",
    &[&["product_id"], &["name", "unit_price"]],
)];

/// Fields an update (PATCH) of a body type it shares with the create
/// (POST) cannot change: there only `null` (not given) is taken, in a
/// `<Type>Change` schema.
const FIXED_ON_UPDATE: &[(&str, &[(&str, &str)])] = &[(
    "ItemInput",
    &[(
        "product_id",
        "Cannot be changed: add a new item for another product.",
    )],
)];

/// The fields of which a body names exactly one (given, not `null`).
const EXACTLY_ONE_OF: &[(&str, &[&str])] = &[(
    "NoteInput",
    &["contact_id", "company_id", "lead_id", "deal_id"],
)];

/// Request bodies as the server reads them: a POST of a shared input type
/// gets its own `<Type>Create` schema listing what a create requires (and
/// not taking `null` there); an optional body (`JsonOrEmpty`) is the object
/// or nothing, not `null`.
/// Free-form JSON the API takes (a tenant's `settings`) holds no NUL
/// character, in any key or string at any depth: no database keeps one in
/// text, and the body reader refuses it. `JsonValue` says so recursively.
struct FreeFormJson;

impl Modify for FreeFormJson {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{
            ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type,
        };
        use utoipa::openapi::{Ref, RefOr, Schema};
        let no_nul = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::contract::NO_NUL))
                .build()
        };
        let any = || Ref::from_schema_name("JsonValue");
        let object = |nullable: bool| {
            let ty = if nullable {
                SchemaType::from_iter([Type::Object, Type::Null])
            } else {
                SchemaType::new(Type::Object)
            };
            ObjectBuilder::new()
                .schema_type(ty)
                .property_names(Some(no_nul()))
                .additional_properties(Some(any()))
        };
        let value: RefOr<Schema> = OneOfBuilder::new()
            .description(Some(
                "Any JSON value without NUL characters in its strings or keys",
            ))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(-crate::tenancy::SETTINGS_NUMBER_MAX))
                    .maximum(Some(crate::tenancy::SETTINGS_NUMBER_MAX)),
            )
            .item(no_nul())
            .item(ArrayBuilder::new().items(any()))
            .item(object(false))
            .into();
        let settings: RefOr<Schema> = object(true)
            .description(Some(
                "Replaces the settings object (at most 16 KiB); no NUL characters",
            ))
            .into();
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        components.schemas.insert("JsonValue".into(), value);
        // A custom field's default, and the custom-field values records
        // take: free-form JSON too (their fields check the rest).
        for name in ["FieldInput", "FieldChange", "FieldDef"] {
            if let Some(RefOr::T(Schema::Object(s))) = components.schemas.get_mut(name) {
                s.properties.insert("default".into(), any().into());
            }
        }
        for (_, schema) in components.schemas.iter_mut() {
            if let RefOr::T(Schema::Object(s)) = schema {
                if s.properties.contains_key("custom_fields")
                    && s.properties.contains_key("owner_id")
                {
                    s.properties.insert(
                        "custom_fields".into(),
                        object(true)
                            .description(Some("Values of the tenant's custom fields: `{key: value}`; `null` clears one"))
                            .into(),
                    );
                }
            }
        }
        if let Some(RefOr::T(Schema::Object(tenant))) = components.schemas.get_mut("UpdateTenant") {
            if tenant.properties.contains_key("settings") {
                tenant.properties.insert("settings".into(), settings);
            }
        }
    }
}

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
        for (name, sets) in ANY_OF_TO_CREATE {
            let Some(RefOr::T(Schema::Object(create))) =
                components.schemas.get_mut(&format!("{name}Create"))
            else {
                panic!("{name}Create is not an object schema");
            };
            let branches: Vec<serde_json::Value> = sets
                .iter()
                .map(|fields| {
                    let not_null: serde_json::Map<String, serde_json::Value> = fields
                        .iter()
                        .map(|f| {
                            (
                                (*f).to_owned(),
                                serde_json::json!({ "not": { "type": "null" } }),
                            )
                        })
                        .collect();
                    serde_json::json!({ "required": fields, "properties": not_null })
                })
                .collect();
            create
                .extensions
                .get_or_insert_with(Default::default)
                .insert("anyOf".to_owned(), serde_json::Value::Array(branches));
        }
        for (name, fixed) in FIXED_ON_UPDATE {
            let Some(RefOr::T(Schema::Object(base))) = components.schemas.get(*name) else {
                panic!("{name} is not an object schema");
            };
            let mut change = base.clone();
            for (field, why) in *fixed {
                let mut only_null = crate::contract::null_only();
                only_null.description = Some((*why).to_owned());
                change
                    .properties
                    .insert((*field).to_owned(), Schema::Object(only_null).into());
            }
            components
                .schemas
                .insert(format!("{name}Change"), Schema::Object(change).into());
        }
        for (name, fields) in EXACTLY_ONE_OF {
            let Some(RefOr::T(Schema::Object(base))) = components.schemas.get_mut(*name) else {
                panic!("{name} is not an object schema");
            };
            let branches: Vec<serde_json::Value> = fields
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "required": [f],
                        "properties": { *f: { "type": "string", "format": "uuid" } }
                    })
                })
                .collect();
            base.extensions
                .get_or_insert_with(Default::default)
                .insert("oneOf".to_owned(), serde_json::Value::Array(branches));
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
            if let Some(body) = item.patch.as_mut().and_then(|op| op.request_body.as_mut()) {
                for content in body.content.values_mut() {
                    if let Some(RefOr::Ref(r)) = &content.schema {
                        let name = r.ref_location.trim_start_matches("#/components/schemas/");
                        if FIXED_ON_UPDATE.iter().any(|(n, _)| *n == name) {
                            content.schema =
                                Some(RefOr::Ref(Ref::from_schema_name(format!("{name}Change"))));
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

/// Creates whose 201 shows the parent record rather than the new one.
const ANSWER_WITH_PARENT: &[&str] = &["/api/pipelines/{id}/stages", "/api/deals/{id}/items"];

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
            // These answer with the record they add to (the pipeline, the
            // deal's items), not with what they add: no id to link by.
            if ANSWER_WITH_PARENT.contains(&path.as_str()) {
                continue;
            }
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

/// The OpenAPI 3.1 `webhooks` section: one entry per event type, the body
/// each delivery POSTs (`{"type", "timestamp", "data"}`, `data` the record
/// as the API returns it), and the Standard Webhooks headers it is signed
/// with.
struct WebhookEvents;

impl Modify for WebhookEvents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::events::{Subject, TYPES};
        use serde_json::json;
        let view = |s: Subject| match s {
            Subject::Contact => "ContactView",
            Subject::Company => "CompanyView",
            Subject::Lead => "LeadView",
            Subject::Deal => "DealView",
            Subject::Product => "ProductView",
            Subject::Activity => "ActivityView",
            Subject::Note => "NoteView",
        };
        let header = |what: &str| json!({"required": true, "schema": {"type": "string"}, "description": what});
        let headers = json!({
            "webhook-id": header("The event's id: the same on every retry (receivers deduplicate with it)"),
            "webhook-timestamp": header("Unix seconds when this attempt was sent"),
            "webhook-signature": header("`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, keyed with the base64-decoded part of the secret after `whsec_`; during the 24 hours after a rotation, one signature per secret, space-separated"),
        });
        let mut all = serde_json::Map::new();
        let mut entry = |name: &str, summary: String, data: serde_json::Value| {
            let body = json!({
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"type": "string", "const": name},
                    "timestamp": {"type": "string", "format": "date-time", "description": "When it happened"},
                    "data": data,
                },
            });
            all.insert(name.to_owned(), json!({"post": {
                "summary": summary,
                "operationId": format!("webhook_{}", name.replace('.', "_")),
                "tags": ["integrations"],
                "parameters": headers.as_object().into_iter().flatten().map(|(n, h)| {
                    let mut p = h.clone();
                    p["name"] = json!(n);
                    p["in"] = json!("header");
                    p
                }).collect::<Vec<_>>(),
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"2XX": {"description": "Received; any other answer (or none within 10 s) is retried: after 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 8 h and 8 h"}},
            }}));
        };
        for (t, name) in TYPES {
            let record = json!({"$ref": format!("#/components/schemas/{}", view(t.subject()))});
            let data = if t.has_changes() {
                json!({"allOf": [record, {"type": "object", "required": ["changes"], "properties": {
                    "changes": {"type": "object", "description": "Each field that changed: `{\"from\": …, \"to\": …}`",
                                "additionalProperties": {"type": "object", "properties": {"from": {}, "to": {}}}}}}]})
            } else {
                record
            };
            entry(name, t.describe(), data);
        }
        entry(
            crate::events::TEST_TYPE,
            "Sent by POST /api/webhooks/{id}/test to that endpoint alone".to_owned(),
            json!({"type": "object", "properties": {"webhook_id": {"type": "string", "format": "uuid"}, "message": {"type": "string"}}}),
        );
        openapi
            .extensions
            .get_or_insert_with(Default::default)
            .insert("webhooks".to_owned(), serde_json::Value::Object(all));
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
        (name = "access", description = "Teams and roles: which records each user reads and changes"),
        (name = "platform", description = "The vendor's staff: tenants and their lifecycle"),
        (name = "licensing", description = "Licence keys and certificates for self-hosted installations"),
        (name = "reports", description = "Basic reports"),
        (name = "crm", description = "Companies, contacts, pipelines, deals, leads, activities and notes"),
        (name = "integrations", description = "API keys (`Authorization: Bearer trs_…`) and signed webhooks (Standard Webhooks); the events are in `webhooks`"),
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
        let doc = serde_json::to_value(openapi()).unwrap();
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
                    // Stripe's ids (cus_…, sub_…, in_…, cs_…) in billing's schemas.
                    let stripe = ["InvoiceView", "StripeRecords", "Redirect"]
                        .iter()
                        .any(|schema| at.contains(schema));
                    let exempt = ["instance_id", "target_id"].contains(&name.as_str()) || stripe;
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
        let doc = serde_json::to_value(openapi()).unwrap();
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
        let doc = serde_json::to_value(openapi()).unwrap();
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
    fn the_webhooks_section_documents_every_event_payload() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let hooks = doc["webhooks"].as_object().expect("a webhooks section");
        for (t, name) in crate::events::TYPES {
            let op = &hooks[*name]["post"];
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(body["properties"]["type"]["const"], *name);
            let data = serde_json::to_string(&body["properties"]["data"]).unwrap();
            assert!(data.contains("#/components/schemas/"), "{name}: {data}");
            assert_eq!(t.has_changes(), data.contains("changes"), "{name}");
            let headers: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
                assert!(headers.contains(&h), "{name}: {h}");
            }
        }
        assert!(hooks.contains_key(crate::events::TEST_TYPE));
        for schema in [
            "ContactView",
            "CompanyView",
            "LeadView",
            "DealView",
            "ProductView",
            "ActivityView",
            "NoteView",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
    }

    #[test]
    fn the_description_has_no_route_that_is_not_mounted() {
        let doc = serde_json::to_value(openapi()).unwrap();
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
