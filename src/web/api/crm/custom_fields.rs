//! Custom field definitions over HTTP. Everyone reads them (forms need
//! them); admins change them, on plans with `custom_fields`. Archiving
//! stays possible without the feature (data made with a lost feature can
//! be removed), restoring does not.

use super::*;
use crate::crm::custom::{self, Entity, FieldChange, FieldDef, FieldInput};
use crate::plans::Feature;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldListQuery {
    /// Only the fields of this record type.
    #[param(schema_with = entities)]
    pub entity: Option<String>,
    /// `true`: archived fields too.
    #[param(schema_with = crate::contract::query_bool)]
    pub archived: Option<String>,
}

fn entities() -> utoipa::openapi::Object {
    crate::contract::query_one_of(Entity::NAMES)
}

#[utoipa::path(get, path = "/api/custom-fields", tag = "custom fields", security(("bearer" = [])),
    params(FieldListQuery),
    responses(
        (status = 200, description = "The tenant's custom fields, by record type and position", body = ListEnvelope<FieldDef>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list_custom_fields(
    mut s: TenantSession,
    Query(q): Query<FieldListQuery>,
) -> ApiResult<ListEnvelope<FieldDef>> {
    let mut e = FieldErrors::default();
    let entity = q.entity.filter(|x| !x.is_empty()).and_then(|x| {
        e.check(
            "entity",
            x.parse::<Entity>()
                .map_err(|_| "is not a record type with custom fields"),
        )
    });
    let archived = match q.archived.as_deref() {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => {
            e.add("archived", "must be true or false");
            false
        }
    };
    e.finish()?;
    Ok(custom::definitions(&mut s.tx, entity, archived)
        .await?
        .into())
}

#[utoipa::path(post, path = "/api/custom-fields", tag = "custom fields", security(("bearer" = [])),
    request_body = FieldInput,
    responses(
        (status = 201, description = "Defined", body = Envelope<FieldDef>),
        (status = 402, description = "`feature_not_in_plan`: the plan has no custom fields", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the record type has 100 fields already", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed` (also a key the record type has already)", body = ErrorEnvelope),
    ))]
pub async fn create_custom_field(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<FieldInput>>,
) -> ApiResult<Created<FieldDef>> {
    s.user.admin()?;
    s.tenant.require(Feature::CustomFields)?;
    Ok(Created(
        custom::create(&mut s.tx, input, state.clock.now()).await?,
    ))
}

#[utoipa::path(patch, path = "/api/custom-fields/{id}", tag = "custom fields", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Field id")),
    request_body = FieldChange,
    responses(
        (status = 200, description = "Changed; a type change converts the stored values", body = Envelope<FieldDef>),
        (status = 402, description = "`feature_not_in_plan`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: stored values would not fit the new type or options", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed` (also for `entity` or `key`, which never change)", body = ErrorEnvelope),
    ))]
pub async fn update_custom_field(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<FieldChange>>,
) -> ApiResult<Envelope<FieldDef>> {
    s.user.admin()?;
    s.tenant.require(Feature::CustomFields)?;
    Ok(ok(custom::update(
        &mut s.tx,
        id,
        input.into(),
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(delete, path = "/api/custom-fields/{id}", tag = "custom fields", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Field id")),
    responses(
        (status = 200, description = "Archived: hidden, its values kept until it is restored", body = Envelope<FieldDef>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: archived already", body = ErrorEnvelope),
    ))]
pub async fn delete_custom_field(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<FieldDef>> {
    s.user.admin()?;
    Ok(ok(custom::set_archived(
        &mut s.tx,
        id,
        true,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(post, path = "/api/custom-fields/{id}/restore", tag = "custom fields", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Field id")),
    responses(
        (status = 200, description = "Restored, with its values", body = Envelope<FieldDef>),
        (status = 402, description = "`feature_not_in_plan`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: not archived", body = ErrorEnvelope),
    ))]
pub async fn restore_custom_field(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<FieldDef>> {
    s.user.admin()?;
    s.tenant.require(Feature::CustomFields)?;
    Ok(ok(custom::set_archived(
        &mut s.tx,
        id,
        false,
        state.clock.now(),
    )
    .await?))
}

/// Values for custom fields need the plan's feature; clearing them does
/// not (data made with a lost feature can be removed).
pub(crate) fn custom_values_allowed(
    s: &TenantSession,
    values: Option<&serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<()> {
    if values.is_some_and(|m| m.values().any(|v| !v.is_null())) {
        s.tenant.require(Feature::CustomFields)?;
    }
    Ok(())
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_custom_fields, create_custom_field))
        .routes(routes!(update_custom_field, delete_custom_field))
        .routes(routes!(restore_custom_field))
}
