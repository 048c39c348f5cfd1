//! E-mail and the work behind it: address verification, password reset,
//! invitations, the messages a tenant's users were sent, and (for platform
//! admins) the job queue and every tenant's messages.

use super::auth::{LoginResponse, Principal};
use super::{ok, Created, Envelope, ErrorEnvelope, ListEnvelope};
use crate::app::App;
use crate::auth::{recovery, AdminSession, TenantAuth, TenantSession};
use crate::domain::{Email, Password, TenantId};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::invitations::{self, AcceptRequest, InvitationView, InviteRequest};
use crate::jobs::admin::{self as queue, Filter, JobView, QueueStats};
use crate::mail::{self, MessageView, PlatformMessageView};
use crate::web::extract::{ClientAddr, Json, PathId, Query};
use crate::web::RequestTenant;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The envelope with 202 Accepted: the work is queued.
pub struct Queued<T>(pub T);

impl<T: Serialize> IntoResponse for Queued<T> {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, axum::Json(ok(self.0))).into_response()
    }
}

/// A body that carries only a link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token of the link the message carried.
    #[schema(required = true, schema_with = crate::contract::link_token)]
    pub token: Option<String>,
}

fn token_of(t: Option<String>) -> ApiResult<String> {
    let mut e = FieldErrors::default();
    let token = e.required("token", t.filter(|t| !t.is_empty()));
    e.finish()?;
    token.ok_or_else(|| ApiError::internal("validated without a token"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Always true.
    pub verified: bool,
}

#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The address the link was sent to is confirmed", body = Envelope<Verified>),
        (status = 400, description = "`invalid_token`: unknown, used or expired", body = ErrorEnvelope),
    ))]
pub async fn verify_email(
    State(state): State<App>,
    log: Option<Extension<RequestTenant>>,
    Json(req): Json<TokenRequest>,
) -> ApiResult<Envelope<Verified>> {
    let token = token_of(req.token)?;
    let tenant = recovery::verify_email(&state, &token).await?;
    if let Some(Extension(log)) = log {
        log.set(tenant);
    }
    Ok(ok(Verified { verified: true }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentTo {
    /// Where the message goes.
    pub email: String,
}

#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "A new verification message is queued; earlier links stop working", body = Envelope<SentTo>),
        (status = 409, description = "`conflict`: the address is confirmed already", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: a few an hour, with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn resend_verification(
    State(state): State<App>,
    auth: TenantAuth,
) -> ApiResult<Queued<SentTo>> {
    recovery::throttle_verification(&state, auth.user()).await?;
    let mut s = auth.begin(&state).await?;
    let email = recovery::resend_verification(&mut s.tx, &state, s.user.id).await?;
    Ok(Queued(SentTo { email }))
}

/// `POST /api/auth/password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(required = true, schema_with = crate::contract::email)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetQueued {
    /// The same whatever the address.
    pub message: &'static str,
}

#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "When an account uses the address, a link to reset its password is on its way (the answer is the same either way)", body = Envelope<ResetQueued>),
        (status = 429, description = "`rate_limited`: too many for this address or from this client, with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn password_reset(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ResetRequest>,
) -> ApiResult<Queued<ResetQueued>> {
    let mut e = FieldErrors::default();
    let email = e.required("email", req.email);
    let email = email.and_then(|v| e.check("email", Email::parse(&v)));
    e.finish()?;
    let email = email.ok_or_else(|| ApiError::internal("validated without an email"))?;
    recovery::request_reset(&state, &email, &client).await?;
    Ok(Queued(ResetQueued {
        message: "If an account uses that address, a link to reset its password is on its way. It works once, for one hour.",
    }))
}

/// `POST /api/auth/password-reset/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token of the link the message carried.
    #[schema(required = true, schema_with = crate::contract::link_token)]
    pub token: Option<String>,
    /// The new password: at least 8 characters.
    #[schema(required = true, schema_with = crate::contract::password)]
    pub password: Option<Password>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordReset {
    /// Always true: sign in with the new password; every earlier session
    /// and token has stopped working.
    pub reset: bool,
}

#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth",
    request_body = ResetConfirm,
    responses(
        (status = 200, description = "The password is changed, and the user's other sessions and tokens are ended", body = Envelope<PasswordReset>),
        (status = 400, description = "`invalid_token`: unknown, used or expired", body = ErrorEnvelope),
    ))]
pub async fn password_reset_confirm(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<ResetConfirm>,
) -> ApiResult<Envelope<PasswordReset>> {
    let mut e = FieldErrors::default();
    let token = e.required("token", req.token.filter(|t| !t.is_empty()));
    let password = e.required("password", req.password);
    let password =
        password.and_then(|p| e.check("password", Password::new_secret(p.expose().to_owned())));
    e.finish()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(ApiError::internal("validated without a field"));
    };
    recovery::confirm_reset(&state, &token, &password, &client).await?;
    Ok(ok(PasswordReset { reset: true }))
}

#[utoipa::path(get, path = "/api/invitations", tag = "invitations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest 200 invitations, newest first", body = ListEnvelope<InvitationView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
    ))]
pub async fn list_invitations(
    State(state): State<App>,
    mut s: TenantSession,
) -> ApiResult<ListEnvelope<InvitationView>> {
    s.user.admin()?;
    Ok(invitations::list(&mut s.tx, state.clock.now())
        .await?
        .into())
}

#[utoipa::path(post, path = "/api/invitations", tag = "invitations", security(("bearer" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invited: the message is queued", body = Envelope<InvitationView>),
        (status = 402, description = "`plan_limit_reached`: pending invitations hold seats too", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`, or `conflict`: an open invitation to the address exists", body = ErrorEnvelope),
    ))]
pub async fn invite(
    State(state): State<App>,
    auth: TenantAuth,
    Json(req): Json<InviteRequest>,
) -> ApiResult<Created<InvitationView>> {
    auth.token_says_admin()?;
    let (email, role) = req.validate()?;
    let mut s = auth.begin(&state).await?;
    let admin = s.user.admin()?;
    let now = state.clock.now();
    let view = invitations::invite(&mut s.tx, &state, &admin, email, role, now).await?;
    Ok(Created(view))
}

#[utoipa::path(post, path = "/api/invitations/{id}/resend", tag = "invitations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "A new link is queued (the old one stops working) and the invitation has 7 more days", body = Envelope<InvitationView>),
        (status = 402, description = "`plan_limit_reached`: an expired invitation needs a seat again", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: accepted or revoked", body = ErrorEnvelope),
    ))]
pub async fn resend_invitation(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<InvitationView>> {
    let admin = s.user.admin()?;
    let now = state.clock.now();
    let view = invitations::resend(&mut s.tx, &state, &admin, id, now).await?;
    Ok(ok(view))
}

#[utoipa::path(delete, path = "/api/invitations/{id}", tag = "invitations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "Revoked: its link stops working and its seat is free", body = Envelope<InvitationView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: accepted already", body = ErrorEnvelope),
    ))]
pub async fn revoke_invitation(
    State(state): State<App>,
    mut s: TenantSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<InvitationView>> {
    let admin = s.user.admin()?;
    let view = invitations::revoke(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(ok(view))
}

#[utoipa::path(post, path = "/api/invitations/accept", tag = "invitations",
    request_body = AcceptRequest,
    responses(
        (status = 201, description = "The user is created and signed in", body = Envelope<LoginResponse>),
        (status = 400, description = "`invalid_token`: unknown, used, revoked or expired", body = ErrorEnvelope),
        (status = 402, description = "`plan_limit_reached`: the plan has no seat left", body = ErrorEnvelope),
        (status = 403, description = "`tenant_suspended`", body = ErrorEnvelope),
        (status = 409, description = "`email_taken`: the address got an account meanwhile", body = ErrorEnvelope),
    ))]
pub async fn accept_invitation(
    State(state): State<App>,
    log: Option<Extension<RequestTenant>>,
    Json(req): Json<AcceptRequest>,
) -> ApiResult<Created<LoginResponse>> {
    let input = req.validate()?;
    let accepted = invitations::accept(&state, input).await?;
    let tenant = accepted.tenant;
    if let Some(Extension(log)) = log {
        log.set(TenantId(tenant.id));
    }
    let user = accepted.user;
    let issued = state.tokens.issue(
        user.id,
        Some(tenant.id),
        user.role.as_str(),
        0,
        state.clock.now(),
    )?;
    Ok(Created(LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        user: Principal::User(user),
        tenant: Some(tenant),
    }))
}

#[utoipa::path(get, path = "/api/messages", tag = "invitations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest 200 messages sent to the company's users and invitees, newest first (recipient, subject, status, time; never the body)", body = ListEnvelope<MessageView>),
        (status = 403, description = "`forbidden`: admins only", body = ErrorEnvelope),
    ))]
pub async fn messages(mut s: TenantSession) -> ApiResult<ListEnvelope<MessageView>> {
    s.user.admin()?;
    Ok(mail::messages(&mut s.tx, 200).await?.into())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `problems` (the default: failed and dead), `failed` (waiting for a
    /// retry), `dead`, `queued` or `running`.
    #[param(schema_with = crate::contract::job_filters)]
    pub state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobsOverview {
    pub stats: QueueStats,
    /// The latest 100 jobs in the state asked for, newest first.
    pub jobs: Vec<JobView>,
}

#[utoipa::path(get, path = "/api/platform/jobs", tag = "platform", security(("bearer" = [])),
    params(JobsQuery),
    responses(
        (status = 200, description = "The queue's depth and the jobs asked for, with their errors", body = Envelope<JobsOverview>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
    ))]
pub async fn jobs(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Envelope<JobsOverview>> {
    let mut e = FieldErrors::default();
    let filter = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => Some(Filter::Problems),
        Some(s) => e.check(
            "state",
            s.parse::<Filter>()
                .map_err(|_| "must be problems, failed, dead, queued or running"),
        ),
    };
    e.finish()?;
    let now = state.clock.now();
    let stats = queue::stats(&state.store, now).await?;
    let jobs = queue::list(&state.store, filter.unwrap_or(Filter::Problems), 100).await?;
    Ok(ok(JobsOverview { stats, jobs }))
}

#[utoipa::path(post, path = "/api/platform/jobs/{id}/retry", tag = "platform", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Queued again, with fresh attempts", body = Envelope<JobView>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: only a dead job can be retried", body = ErrorEnvelope),
    ))]
pub async fn retry_job(
    State(state): State<App>,
    admin: AdminSession,
    PathId(id): PathId,
) -> ApiResult<Envelope<JobView>> {
    let job = queue::retry(&state.store, &admin.actor(), id, state.clock.now()).await?;
    Ok(ok(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages in this state: `queued`, `sent`, `not_sent`,
    /// `retrying` or `dead`.
    #[param(schema_with = crate::contract::message_statuses)]
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/platform/messages", tag = "platform", security(("bearer" = [])),
    params(MessagesQuery),
    responses(
        (status = 200, description = "Every company's latest 200 messages, newest first, with why they were not sent", body = ListEnvelope<PlatformMessageView>),
        (status = 403, description = "`forbidden`: platform admins only", body = ErrorEnvelope),
    ))]
pub async fn platform_messages(
    State(state): State<App>,
    _admin: AdminSession,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<ListEnvelope<PlatformMessageView>> {
    let mut e = FieldErrors::default();
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !mail::STATUSES.contains(&s.as_str()) {
            e.add("status", "must be queued, sent, not_sent, retrying or dead");
        }
    }
    e.finish()?;
    Ok(mail::all_messages(&state.store, status.as_deref(), 200)
        .await?
        .into())
}
