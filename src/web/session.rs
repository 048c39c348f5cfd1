//! Who is calling, read from the request: the bearer token (or, for pages,
//! the session cookie) turned into the handle the caller may use. The
//! checks themselves live in `auth`; this module only reads HTTP.

use crate::app::App;
use crate::auth::token::Claims;
use crate::auth::{session_claims, AdminSession, AnySession, TenantAuth, TenantSession};
use crate::error::{ApiError, ApiResult};
use crate::store::Access;
use crate::store::TxSlot;
use crate::web::extract::ClientAddr;
use crate::web::{RequestRate, RequestTenant};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, Method};

/// Reads write or read access from the method: GET and HEAD only read.
fn access_of(parts: &Parts) -> Access {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        Access::Read
    } else {
        Access::Write
    }
}

/// Marks the routes of heavy operations (imports, exports, reports): a
/// tenant runs only so many at once
/// (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), counted from the moment its
/// caller is known, before any upload is read. A router gets it with
/// `.route_layer(Extension(HeavyOperation))`.
#[derive(Clone, Copy)]
pub struct HeavyOperation;

/// Marks billing's routes: a tenant whose trial ended or whose payment is
/// due may still use them (they are how it pays). A router gets it with
/// `.route_layer(Extension(PaymentRoute))`.
#[derive(Clone, Copy)]
pub struct PaymentRoute;

/// The tenant caller of verified `claims`, noted for the request log; on a
/// heavy operation's route, holding one of its tenant's places for them.
pub async fn tenant_auth(claims: Claims, parts: &mut Parts, app: &App) -> ApiResult<TenantAuth> {
    let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, app).await?;
    let auth = TenantAuth::new(claims, access_of(parts), client_addr, slot(parts))?;
    admit(auth, parts, app, None).await
}

/// The caller of an API key: its tenant from the key's hash (401 for a
/// malformed or unknown key), its first use from an address audited, its
/// own rate checked; its liveness and scopes are checked with the
/// transaction's first statement ([`TenantAuth::begin`]).
pub async fn key_auth(key: &str, parts: &mut Parts, app: &App) -> ApiResult<TenantAuth> {
    let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, app).await?;
    let resolved = app.api_keys.resolve(app, key).await?;
    let access = access_of(parts);
    let needed = crate::integrations::scopes::needed(parts.uri.path(), access == Access::Write);
    app.api_keys
        .note_address(app, &resolved, &client_addr)
        .await?;
    if let Some(slot) = parts.extensions.get::<RequestTenant>() {
        slot.set_key(resolved.id, &client_addr);
    }
    let auth = TenantAuth::for_key(&resolved, needed, access, client_addr, slot(parts));
    admit(auth, parts, app, Some(&resolved)).await
}

/// Notes the caller for the log and the meter, holds API calls to the
/// plan's rate and quota (and a key's own rate), and takes a heavy
/// operation's place.
async fn admit(
    mut auth: TenantAuth,
    parts: &mut Parts,
    app: &App,
    key: Option<&crate::integrations::keys::Resolved>,
) -> ApiResult<TenantAuth> {
    if let Some(slot) = parts.extensions.get::<RequestTenant>() {
        slot.set_caller(auth.tenant());
    }
    // API calls are held to the plan's rate and monthly quota before any
    // work (pages are people, not integrations).
    if parts.uri.path().starts_with("/api/") {
        let rate = parts.extensions.get::<RequestRate>().cloned();
        match crate::usage::admit(app, auth.tenant(), parts.uri.path(), key).await {
            Ok(decision) => {
                if let (Some(r), Some(d)) = (rate, decision) {
                    r.set(d);
                }
            }
            Err((e, decision)) => {
                if let (Some(r), Some(d)) = (rate, decision) {
                    r.set(d);
                }
                return Err(e);
            }
        }
    }
    if parts.extensions.get::<HeavyOperation>().is_some() {
        auth.heavy(app)?;
    }
    if parts.extensions.get::<PaymentRoute>().is_some() {
        auth.exempt_from_payment();
    }
    Ok(auth)
}

/// The request's transaction slot, which commits the tenant transaction
/// when the handler succeeds. Every route runs inside
/// [`super::transaction`], which puts one there; without it (a bug), the
/// transaction is never committed.
fn slot(parts: &Parts) -> TxSlot {
    parts
        .extensions
        .get::<TxSlot>()
        .cloned()
        .unwrap_or_default()
}

/// The platform admin of verified `claims`.
pub async fn admin_session(
    claims: Claims,
    parts: &mut Parts,
    app: &App,
) -> ApiResult<AdminSession> {
    let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, app).await?;
    AdminSession::from_claims(claims, app, client_addr).await
}

impl FromRequestParts<App> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        match bearer(parts, app)? {
            Bearer::Token(claims) => tenant_auth(claims, parts, app).await,
            Bearer::Key(key) => key_auth(&key, parts, app).await,
        }
    }
}

impl FromRequestParts<App> for TenantSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        let auth = TenantAuth::from_request_parts(parts, app).await?;
        auth.begin(app).await
    }
}

/// A tenant user's request with a body: the body (any body extractor, such
/// as `Json<T>`) is read and checked first, and only then does the
/// transaction begin, so a slow or stalled upload never holds a connection
/// or a lock. The token is still checked before the body is read.
pub struct WithBody<E>(pub TenantSession, pub E);

impl<E> FromRequest<App> for WithBody<E>
where
    E: FromRequest<App, Rejection = ApiError> + Send,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> ApiResult<Self> {
        let (mut parts, body) = req.into_parts();
        let auth = TenantAuth::from_request_parts(&mut parts, app).await?;
        let body = E::from_request(Request::from_parts(parts, body), app).await?;
        Ok(WithBody(auth.begin(app).await?, body))
    }
}

impl FromRequestParts<App> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        match bearer(parts, app)? {
            Bearer::Token(claims) => admin_session(claims, parts, app).await,
            Bearer::Key(_) => Err(ApiError::forbidden(
                "this needs a platform administrator; API keys act for a company",
            )),
        }
    }
}

impl FromRequestParts<App> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        let claims = match bearer(parts, app)? {
            Bearer::Token(claims) => claims,
            Bearer::Key(key) => {
                let auth = key_auth(&key, parts, app).await?;
                return auth
                    .begin(app)
                    .await
                    .map(|s| AnySession::Tenant(Box::new(s)));
            }
        };
        if claims.tid.is_some() {
            let auth = tenant_auth(claims, parts, app).await?;
            auth.begin(app)
                .await
                .map(|s| AnySession::Tenant(Box::new(s)))
        } else {
            admin_session(claims, parts, app)
                .await
                .map(AnySession::Admin)
        }
    }
}

/// What `Authorization: Bearer` carries: a session token, or an API key
/// (`trs_…`).
enum Bearer {
    Token(Claims),
    Key(String),
}

fn bearer(parts: &Parts, app: &App) -> ApiResult<Bearer> {
    let token = bearer_text(parts)?;
    if token.starts_with(crate::integrations::keys::PREFIX) {
        return Ok(Bearer::Key(token.to_owned()));
    }
    session_claims(app, token).map(Bearer::Token)
}

fn bearer_text(parts: &Parts) -> ApiResult<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be: Bearer <token>")
        })?;
    Ok(token)
}
