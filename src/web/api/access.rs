//! Teams and roles over HTTP: every user of the tenant reads them; admins
//! change them.

use super::users::Deleted;
use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::TenantSession;
use crate::error::ApiResult;
use crate::roles::{self, RoleInput, RoleView};
use crate::teams::{self, TeamInput, TeamView};
use crate::web::extract::{Json, PathId};
use crate::web::session::WithBody;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(get, path = "/api/teams", tag = "access", security(("bearer" = [])),
    responses((status = 200, description = "Every team, by name, with its members (one page)", body = ListEnvelope<TeamView>)))]
pub async fn list_teams(mut s: TenantSession) -> ApiResult<ListEnvelope<TeamView>> {
    Ok(teams::list(&mut s.tx).await?.into())
}

#[utoipa::path(post, path = "/api/teams", tag = "access", security(("bearer" = [])),
    request_body = TeamInput,
    responses(
        (status = 201, description = "Created", body = Envelope<TeamView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a team of that name exists", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_team(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<TeamInput>>,
) -> ApiResult<Created<TeamView>> {
    let admin = s.user.admin()?;
    let team = teams::create(&mut s.tx, &admin, input, state.clock.now()).await?;
    Ok(Created(team))
}

#[utoipa::path(get, path = "/api/teams/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Team id")),
    responses(
        (status = 200, description = "The team", body = Envelope<TeamView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_team(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<TeamView>> {
    Ok(ok(teams::get(&mut s.tx, id).await?))
}

#[utoipa::path(patch, path = "/api/teams/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Team id")),
    request_body = TeamInput,
    responses(
        (status = 200, description = "Updated; `member_ids` replaces the members", body = Envelope<TeamView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a team of that name exists", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_team(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<TeamInput>>,
) -> ApiResult<Envelope<TeamView>> {
    let admin = s.user.admin()?;
    Ok(ok(teams::update(
        &mut s.tx,
        &admin,
        id,
        input,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(delete, path = "/api/teams/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Team id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn delete_team(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    let admin = s.user.admin()?;
    teams::delete(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

#[utoipa::path(get, path = "/api/roles", tag = "access", security(("bearer" = [])),
    responses((status = 200, description = "The built-in roles (admin, manager, user), then the custom ones by name (one page)", body = ListEnvelope<RoleView>)))]
pub async fn list_roles(mut s: TenantSession) -> ApiResult<ListEnvelope<RoleView>> {
    Ok(roles::list(&mut s.tx).await?.into())
}

#[utoipa::path(post, path = "/api/roles", tag = "access", security(("bearer" = [])),
    request_body = RoleInput,
    responses(
        (status = 201, description = "Created: a custom role, from the user role's defaults with the changes given", body = Envelope<RoleView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a role of that name exists (admin, manager and user are taken)", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create_role(
    State(state): State<App>,
    WithBody(mut s, Json(input)): WithBody<Json<RoleInput>>,
) -> ApiResult<Created<RoleView>> {
    let admin = s.user.admin()?;
    Ok(Created(
        roles::create(&mut s.tx, &admin, input, state.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/roles/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = Envelope<RoleView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get_role(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<RoleView>> {
    Ok(ok(roles::get(&mut s.tx, id).await?))
}

#[utoipa::path(patch, path = "/api/roles/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Role id")),
    request_body = RoleInput,
    responses(
        (status = 200, description = "Updated; permissions not named stay", body = Envelope<RoleView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the admin role is fixed, or the name is taken", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update_role(
    State(state): State<App>,
    PathId(id): PathId,
    WithBody(mut s, Json(input)): WithBody<Json<RoleInput>>,
) -> ApiResult<Envelope<RoleView>> {
    let admin = s.user.admin()?;
    Ok(ok(roles::update(
        &mut s.tx,
        &admin,
        id,
        input,
        state.clock.now(),
    )
    .await?))
}

#[utoipa::path(delete, path = "/api/roles/{id}", tag = "access", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Role id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a built-in role, or one users still have", body = ErrorEnvelope),
    ))]
pub async fn delete_role(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    let admin = s.user.admin()?;
    roles::delete(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
}
