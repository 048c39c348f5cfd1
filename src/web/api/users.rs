//! The tenant's staff. Reading is open to every user of the tenant;
//! creating, changing and deleting need the admin role.

use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::password;
use crate::auth::{TenantAuth, TenantSession};
use crate::domain::{Role, UserId};
use crate::error::{ApiResult, FieldErrors};
use crate::pagination::PageParams;
use crate::staff::{self, CreateUserRequest, UpdateUserRequest, UserView};
use crate::web::extract::{Json, PathId, Query};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::page_cursor)]
    pub cursor: Option<String>,
    /// Only users of this role.
    #[param(schema_with = crate::contract::roles)]
    pub role: Option<String>,
}

#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "A page of users, oldest first", body = ListEnvelope<UserView>),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn list(
    mut s: TenantSession,
    Query(q): Query<ListUsersQuery>,
) -> ApiResult<ListEnvelope<UserView>> {
    let mut errors = FieldErrors::default();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse(&mut errors);
    let role = q.role.filter(|r| !r.is_empty()).and_then(|r| {
        errors.check(
            "role",
            r.parse::<Role>()
                .map_err(|_| "must be admin, manager or user"),
        )
    });
    errors.finish()?;
    let users = staff::list(&mut s.tx, page, role).await?;
    Ok(users.into())
}

#[utoipa::path(post, path = "/api/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = Envelope<UserView>),
        (status = 402, description = "`plan_limit_reached` or `trial_expired`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 409, description = "`email_taken` or `username_taken`", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<App>,
    auth: TenantAuth,
    Json(req): Json<CreateUserRequest>,
) -> ApiResult<Created<UserView>> {
    auth.token_says_admin()?;
    let input = req.validate()?;
    let hash = password::hash(&input.password).await?;
    let mut s = auth.begin(&state).await?;
    let admin = s.user.admin()?;
    let user = staff::create(&mut s.tx, &admin, input, &hash, &state).await?;
    Ok(Created(user))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = Envelope<UserView>),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ))]
pub async fn get(mut s: TenantSession, PathId(id): PathId) -> ApiResult<Envelope<UserView>> {
    let user = staff::get(&mut s.tx, UserId(id)).await?;
    Ok(ok(user))
}

#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = Envelope<UserView>),
        (status = 402, description = "`plan_limit_reached` (reactivating past the limit)", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the owner cannot be demoted or deactivated", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<App>,
    auth: TenantAuth,
    PathId(id): PathId,
    Json(req): Json<UpdateUserRequest>,
) -> ApiResult<Envelope<UserView>> {
    auth.token_says_admin()?;
    let changes = req.validate()?;
    let hash = match &changes.password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let mut s = auth.begin(&state).await?;
    let admin = s.user.admin()?;
    let user = staff::update(
        &mut s.tx,
        &admin,
        UserId(id),
        changes,
        hash,
        state.clock.now(),
    )
    .await?;
    Ok(ok(user))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: uuid::Uuid,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<Deleted>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the owner cannot be deleted", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<Deleted>> {
    let admin = s.user.admin()?;
    staff::delete(&mut s.tx, &admin, UserId(id), state.clock.now()).await?;
    Ok(ok(Deleted { id, deleted: true }))
}
