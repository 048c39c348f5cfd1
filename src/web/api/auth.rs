//! Login and the caller's own identity.

use super::{ok, Envelope, ErrorEnvelope};
use crate::app::App;
use crate::auth::login::{self, AdminView, LoggedIn, LoginRequest};
use crate::auth::token::PLATFORM_ADMIN_ROLE;
use crate::auth::{sessions, AnySession, TenantSession};
use crate::domain::TenantId;
use crate::error::ApiResult;
use crate::staff::{self, UserView};
use crate::tenancy::{self, TenantView};
use crate::web::extract::{ClientAddr, Json, TenantHint};
use crate::web::RequestTenant;
use axum::extract::State;
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

/// A tenant user (`"kind": "user"`) or a platform admin
/// (`"kind": "platform_admin"`): `kind` tells which, so exactly one branch
/// of the description matches.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    User(UserView),
    #[serde(rename = "platform_admin")]
    Admin(AdminView),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: Principal,
    /// `null` for platform admins.
    pub tenant: Option<TenantView>,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    params(("X-Tenant" = Option<String>, Header, description = "Tenant slug, when the username is ambiguous")),
    responses(
        (status = 200, description = "Logged in", body = Envelope<LoginResponse>),
        (status = 401, description = "`invalid_credentials`", body = ErrorEnvelope),
        (status = 403, description = "`tenant_suspended`", body = ErrorEnvelope),
        (status = 409, description = "`tenant_required`: the username exists in several tenants", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`, with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    TenantHint(hint): TenantHint,
    log: Option<Extension<RequestTenant>>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Envelope<LoginResponse>> {
    let (sub, tid, role, user, tenant, ver) = match login::login(&state, req, hint, &client).await?
    {
        LoggedIn::Tenant {
            user,
            tenant,
            token_version,
        } => {
            if let Some(Extension(log)) = log {
                log.set(TenantId(tenant.id));
            }
            let role = user.role.as_str();
            (
                user.id,
                Some(tenant.id),
                role,
                Principal::User(*user),
                Some(*tenant),
                token_version,
            )
        }
        LoggedIn::Admin(admin) => (
            admin.id,
            None,
            PLATFORM_ADMIN_ROLE,
            Principal::Admin(admin),
            None,
            0,
        ),
    };
    let issued = state.tokens.issue(sub, tid, role, ver, state.clock.now())?;
    let response = LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        user,
        tenant,
    };
    Ok(ok(response))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: Principal,
    /// `null` for platform admins.
    pub tenant: Option<TenantView>,
}

/// What "log out everywhere" ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOut {
    /// Browser sessions ended; every bearer token issued before stops too.
    #[schema(minimum = 0)]
    pub sessions_ended: u64,
}

#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every token and browser session of the caller issued before this one stops working, this request's token included", body = Envelope<SignedOut>),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
    ))]
pub async fn logout_all(
    State(state): State<App>,
    mut s: TenantSession,
) -> ApiResult<Envelope<SignedOut>> {
    let sessions_ended = sessions::end_all(&mut s.tx, &s.user, state.clock.now()).await?;
    Ok(ok(SignedOut { sessions_ended }))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Envelope<MeResponse>),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`tenant_suspended`", body = ErrorEnvelope),
    ))]
pub async fn me(State(state): State<App>, session: AnySession) -> ApiResult<Envelope<MeResponse>> {
    match session {
        AnySession::Tenant(s) => {
            let mut s = *s;
            let user = staff::get(&mut s.tx, s.user.id).await?;
            let tenant = tenancy::current(&mut s.tx).await?;
            Ok(ok(MeResponse {
                user: Principal::User(user),
                tenant: Some(tenant),
            }))
        }
        AnySession::Admin(a) => {
            let admin = login::admin(&state.store, a.id).await?;
            Ok(ok(MeResponse {
                user: Principal::Admin(admin),
                tenant: None,
            }))
        }
    }
}
