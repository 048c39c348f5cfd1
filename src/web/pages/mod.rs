//! The web application: pages rendered on the server with maud (markup
//! checked at compile time), assets embedded in the binary, no build step.
//! Pages call the same services as the JSON API, inside the same tenant
//! transaction, so business rules and isolation exist once.
//!
//! Sessions: a signed token in an HttpOnly, SameSite=Lax cookie (Secure
//! behind HTTPS), naming a session row that logging out deletes. Every
//! form that changes state carries an anti-forgery token derived from the
//! session, and cross-site `Origin`s are refused.

mod access;
mod admin;
mod assets;
mod crm;
mod custom;
mod format;
mod kinds;
mod layout;
mod overview;
mod pipelines;
mod public;
mod records;
mod recovery;
mod refs;
mod settings;
mod transfer;

use crate::app::App;
use crate::auth::token::Claims;
use crate::auth::{session_claims, AdminSession, TenantAuth, TenantSession};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::web::extract::{is_https, read_bytes, slug_from_host};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub use layout::{error_page, Ctx, Flash};

/// The tenant user's session cookie.
pub const SESSION_COOKIE: &str = "trasealla_session";
/// The platform admin's session cookie (sent to `/admin` only).
pub const ADMIN_COOKIE: &str = "trasealla_admin";
/// The one-time notice for the next page (a [`Flash`] code).
pub const FLASH_COOKIE: &str = "trasealla_flash";

/// One mounted route: method, path (axum syntax, which is also OpenAPI's) and
/// handler.
pub struct Route {
    pub method: Method,
    pub path: String,
    pub handler: axum::routing::MethodRouter<App>,
}

macro_rules! route {
    ($method:ident $path:expr => $handler:expr) => {
        Route {
            method: Method::$method,
            path: ($path).to_string(),
            handler: route!(@fn $method)($handler),
        }
    };
    (@fn GET) => { get };
    (@fn POST) => { post };
}

/// `route` with `mark` among its request's extensions.
fn marked<M: Clone + Send + Sync + 'static>(route: Route, mark: M) -> Route {
    Route {
        handler: route.handler.route_layer(axum::Extension(mark)),
        ..route
    }
}

/// `route`, as a heavy operation (see [`crate::web::session::HeavyOperation`]).
fn heavy(route: Route) -> Route {
    marked(route, crate::web::session::HeavyOperation)
}

/// `route`, as one of billing's (see [`crate::web::session::PaymentRoute`]).
fn payment(route: Route) -> Route {
    marked(route, crate::web::session::PaymentRoute)
}

/// A router of `routes`.
fn router_of(routes: Vec<Route>) -> axum::Router<App> {
    routes.into_iter().fold(axum::Router::new(), |r, route| {
        r.route(&route.path, route.handler)
    })
}

/// The pages of a record kind: list, new, detail, edit, delete.
pub(crate) fn record_routes<R: records::Record>() -> Vec<Route> {
    let at = |tail: &str| format!("{}{tail}", R::PATH);
    let route = |method: Method, path: String, handler| Route {
        method,
        path,
        handler,
    };
    vec![
        route(Method::GET, at(""), get(records::list::<R>)),
        route(Method::GET, at("/new"), get(records::new_form::<R>)),
        route(Method::POST, at("/new"), post(records::create::<R>)),
        route(Method::GET, at("/{id}"), get(records::show::<R>)),
        route(Method::GET, at("/{id}/edit"), get(records::edit_form::<R>)),
        route(Method::POST, at("/{id}/edit"), post(records::update::<R>)),
        route(Method::POST, at("/{id}/delete"), post(records::delete::<R>)),
    ]
}

/// The notes and activities forms of a record kind with a timeline.
pub(crate) fn timeline_routes<R: records::Timelined>() -> Vec<Route> {
    let at = |tail: &str| format!("{}{tail}", R::PATH);
    vec![
        Route {
            method: Method::POST,
            path: at("/{id}/notes"),
            handler: post(records::add_note::<R>),
        },
        Route {
            method: Method::POST,
            path: at("/{id}/activities"),
            handler: post(records::add_activity::<R>),
        },
    ]
}

/// Every page route.
pub fn routes() -> Vec<Route> {
    let mut all = vec![
        route!(GET "/" => public::landing),
        route!(GET "/register" => public::register_form),
        route!(POST "/register" => public::register),
        route!(GET "/login" => public::login_form),
        route!(POST "/login" => public::login),
        route!(POST "/logout" => public::logout),
        route!(POST "/session/handoff" => public::handoff),
        route!(GET "/forgot-password" => recovery::forgot_form),
        route!(POST "/forgot-password" => recovery::forgot),
        route!(GET "/reset-password" => recovery::reset_form),
        route!(POST "/reset-password" => recovery::reset),
        route!(GET "/verify-email" => recovery::verify_form),
        route!(POST "/verify-email" => recovery::verify),
        route!(POST "/verify-email/resend" => recovery::resend_verification),
        route!(GET "/accept-invitation" => recovery::accept_form),
        route!(POST "/accept-invitation" => recovery::accept),
        route!(GET "/dashboard" => crm::dashboard),
        route!(GET "/upgrade" => settings::upgrade),
        payment(route!(POST "/billing/checkout" => settings::checkout)),
        payment(route!(POST "/billing/portal" => settings::portal)),
        payment(route!(POST "/billing/change" => settings::change_plan)),
        route!(GET "/settings" => settings::company),
        route!(POST "/settings" => settings::save_company),
        route!(GET "/settings/users" => settings::users),
        route!(POST "/settings/users/new" => settings::add_user),
        route!(POST "/settings/users/{id}" => settings::change_user),
        route!(POST "/settings/users/{id}/delete" => settings::delete_user),
        route!(POST "/settings/invitations/new" => settings::invite),
        route!(POST "/settings/invitations/{id}/resend" => settings::resend_invitation),
        route!(POST "/settings/invitations/{id}/revoke" => settings::revoke_invitation),
        route!(GET "/settings/messages" => settings::messages),
        route!(GET "/settings/teams" => access::teams_list),
        route!(POST "/settings/teams/new" => access::create_team),
        route!(POST "/settings/teams/{id}" => access::update_team),
        route!(POST "/settings/teams/{id}/delete" => access::delete_team),
        route!(GET "/settings/roles" => access::roles_list),
        route!(POST "/settings/roles/new" => access::create_role),
        route!(POST "/settings/roles/{id}" => access::update_role),
        route!(POST "/settings/roles/{id}/delete" => access::delete_role),
        route!(POST "/logout-all" => public::logout_all),
        route!(GET "/settings/subscription" => settings::subscription),
        route!(GET "/settings/audit" => settings::audit),
        route!(GET "/settings/usage" => settings::usage),
        route!(GET "/settings/fields" => custom::settings),
        route!(POST "/settings/fields/new" => custom::create),
        route!(POST "/settings/fields/{id}/archive" => custom::archive),
        route!(POST "/settings/fields/{id}/restore" => custom::restore),
        route!(POST "/activities/{id}/done" => crm::activity_done),
        route!(GET "/deals" => crm::board),
        route!(GET "/deals/new" => crm::new_deal),
        route!(POST "/deals/new" => crm::create_deal),
        route!(GET "/deals/{id}" => crm::deal),
        route!(GET "/deals/{id}/edit" => crm::edit_deal),
        route!(POST "/deals/{id}/edit" => crm::update_deal),
        route!(POST "/deals/{id}/delete" => crm::delete_deal),
        route!(POST "/deals/{id}/move" => crm::move_deal),
        route!(POST "/deals/{id}/items" => crm::add_item),
        route!(GET "/pipelines" => pipelines::list),
        route!(POST "/pipelines/new" => pipelines::create),
        route!(GET "/pipelines/{id}" => pipelines::show),
        route!(POST "/pipelines/{id}" => pipelines::update),
        route!(POST "/pipelines/{id}/delete" => pipelines::delete),
        route!(POST "/pipelines/{id}/stages/new" => pipelines::add_stage),
        route!(POST "/pipelines/{id}/stages/reorder" => pipelines::reorder),
        route!(POST "/pipelines/{id}/stages/{stage}" => pipelines::update_stage),
        route!(POST "/pipelines/{id}/stages/{stage}/move" => pipelines::move_stage),
        route!(GET "/pipelines/{id}/stages/{stage}/delete" => pipelines::delete_stage_form),
        route!(POST "/pipelines/{id}/stages/{stage}/delete" => pipelines::delete_stage),
        route!(GET "/admin" => admin::tenants),
        route!(GET "/admin/login" => admin::login_form),
        route!(POST "/admin/login" => admin::login),
        route!(POST "/admin/logout" => admin::logout),
        route!(GET "/admin/tenants/{id}" => admin::tenant),
        route!(POST "/admin/tenants/{id}/suspend" => admin::suspend),
        route!(POST "/admin/tenants/{id}/activate" => admin::activate),
        route!(POST "/admin/tenants/{id}/plan" => admin::change_plan),
        route!(POST "/admin/tenants/{id}/delete" => admin::delete),
        route!(GET "/admin/licenses" => admin::licenses),
        route!(POST "/admin/licenses" => admin::generate_license),
        route!(POST "/admin/licenses/{id}/revoke" => admin::revoke_license),
        route!(GET "/admin/jobs" => admin::jobs),
        route!(POST "/admin/jobs/{id}/retry" => admin::retry_job),
        route!(GET "/admin/usage" => admin::usage),
        route!(GET "/admin/usage.csv" => admin::usage_csv),
        route!(GET "/assets/{file}" => assets::serve),
        route!(GET "/leads/{id}/convert" => kinds::convert_form),
        route!(POST "/leads/{id}/convert" => kinds::convert_lead),
        route!(GET "/activities" => overview::calendar),
        route!(GET "/activities/tasks" => overview::tasks),
        heavy(route!(GET "/reports" => overview::reports)),
        heavy(
            route!(GET "/contacts/export.csv" => transfer::export::<crate::crm::transfer::Contacts>),
        ),
        route!(GET "/contacts/import" => transfer::import_form::<crate::crm::transfer::Contacts>),
        heavy(
            route!(POST "/contacts/import" => transfer::import::<crate::crm::transfer::Contacts>),
        ),
        heavy(route!(GET "/leads/export.csv" => transfer::export::<crate::crm::transfer::Leads>)),
        route!(GET "/leads/import" => transfer::import_form::<crate::crm::transfer::Leads>),
        heavy(route!(POST "/leads/import" => transfer::import::<crate::crm::transfer::Leads>)),
    ];
    all.extend(kinds::routes());
    all
}

pub fn router(state: &App) -> Router<App> {
    // Forms may lead on to the tenants' sub-domains (the sign-in hand-off).
    let base = state.config.base_domain.trim().trim_start_matches('.');
    let csp = format!(
        "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; \
         script-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self' http://*.{base}:* https://*.{base}:*"
    );
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'none'"));
    router_of(routes())
        .layer(axum::middleware::map_response(move |r: Response| {
            page_headers(r, csp.clone())
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            flash_once,
        ))
}

/// A notice is shown once: the page that showed it clears its cookie.
async fn flash_once(
    axum::extract::State(state): axum::extract::State<App>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let carried = cookie(req.headers(), FLASH_COOKIE).is_some();
    let https = is_https(&state, req.headers());
    let mut r = next.run(req).await;
    let shown = r.status() == axum::http::StatusCode::OK
        && r.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
    if carried && shown {
        r.headers_mut()
            .append(header::SET_COOKIE, flash_cookie(https, None));
    }
    r
}

fn flash_cookie(https: bool, flash: Option<Flash>) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let value = match flash {
        Some(f) => format!(
            "{FLASH_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=300{secure}",
            f.code()
        ),
        None => format!("{FLASH_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A redirect to `to` whose page shows `flash`.
pub fn see_other_with(state: &App, headers: &HeaderMap, to: &str, flash: Flash) -> Response {
    let mut r = see_other(to);
    r.headers_mut().append(
        header::SET_COOKIE,
        flash_cookie(is_https(state, headers), Some(flash)),
    );
    r
}

/// The notice a form left for this page, if any.
pub fn flash_of(headers: &HeaderMap) -> Option<Flash> {
    cookie(headers, FLASH_COOKIE).and_then(Flash::parse)
}

/// The path of the page a form was posted from (its Referer, on this
/// site), else `default`.
pub fn back_to(headers: &HeaderMap, default: &str) -> String {
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
        });
    safe_next(back.as_deref(), default)
}

/// Headers of every page: no framing by other sites, no referrer beyond
/// this origin, scripts and styles from here only (the one inline style is
/// the tenant's colour), and pages with people's data kept out of caches.
async fn page_headers(mut r: Response, csp: HeaderValue) -> Response {
    let html = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = r.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A page may ask for less (one whose address carries a token).
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if html {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// Whether a path belongs to the pages (not the JSON API): its errors are
/// pages too.
pub fn is_page_path(path: &str) -> bool {
    !(path == "/api" || path.starts_with("/api/") || path == "/healthz" || path == "/readyz")
}

// ---------------------------------------------------------------------------
// Responses.

/// What a page handler answers when it does not render: a redirect to the
/// login, or an error shown as a page.
pub enum PageError {
    /// Not signed in (or the session ended): to the login, then back.
    Login {
        admin: bool,
        next: String,
    },
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<crate::store::DbError> for PageError {
    fn from(e: crate::store::DbError) -> Self {
        PageError::Api(e.into())
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login { admin, next } => {
                let login = if admin { "/admin/login" } else { "/login" };
                let to = if next.is_empty() || next == "/" || next == "/dashboard" {
                    login.to_owned()
                } else {
                    format!("{login}?next={}", urlencode(&next))
                };
                see_other(&to)
            }
            PageError::Api(e) => layout::error_page(&e),
        }
    }
}

/// 303 See Other: after a form post, the browser GETs `to`.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Only local paths are followed after a login (no open redirect).
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => default.to_owned(),
    }
}

/// A path on this origin: `/…`, but not `//host` (scheme-relative), and
/// with no backslash or control character, which browsers drop or turn
/// into `/` (`/\t/evil.example` lands on `//evil.example`).
fn is_local_path(next: &str) -> bool {
    next.strip_prefix('/').is_some_and(|rest| {
        !rest.starts_with('/') && !next.chars().any(|c| c.is_control() || c == '\\')
    })
}

// ---------------------------------------------------------------------------
// Cookies.

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a session token (`None` clears the cookie).
pub fn session_cookie(
    state: &App,
    headers: &HeaderMap,
    admin: bool,
    token: Option<(&str, i64)>,
) -> HeaderValue {
    let (name, path) = if admin {
        (ADMIN_COOKIE, "/admin")
    } else {
        (SESSION_COOKIE, "/")
    };
    let secure = if is_https(state, headers) {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some((t, max_age)) => {
            format!("{name}={t}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
        }
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The claims of the session cookie, if it holds a live session token.
fn cookie_claims(state: &App, headers: &HeaderMap, admin: bool) -> Option<Claims> {
    let name = if admin { ADMIN_COOKIE } else { SESSION_COOKIE };
    let claims = session_claims(state, cookie(headers, name)?).ok()?;
    claims.sid?;
    Some(claims)
}

/// The host's tenant slug, when the page is served on `<slug>.<base>`.
pub fn host_slug(state: &App, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    slug_from_host(host, &state.config.base_domain)
}

/// A form post from another site is refused (SameSite=Lax already keeps
/// the cookie off it; this closes the gap for older browsers).
fn same_origin(headers: &HeaderMap) -> ApiResult<()> {
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return Ok(());
    };
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
        return Err(ApiError::forbidden("cross-site form posts are refused"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Extractors.

/// A signed-in tenant user's page: the tenant transaction (read-only for
/// GET) and what the layout shows.
pub struct UserPage {
    pub s: TenantSession,
    pub ctx: Ctx,
}

impl FromRequestParts<App> for UserPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> PageResult<Self> {
        // A signed-out visitor comes back here after logging in.
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let (s, ctx) = Pending::check(parts, state, here)
            .await?
            .begin(state)
            .await?;
        Ok(UserPage { s, ctx })
    }
}

/// A signed-in tenant user's page whose transaction begins when the
/// handler calls `begin`, after work that must come before its snapshot
/// (flushing usage counts).
pub struct PendingPage {
    pending: Pending,
}

impl PendingPage {
    pub async fn begin(self, state: &App) -> PageResult<(TenantSession, Ctx)> {
        self.pending.begin(state).await
    }
}

impl FromRequestParts<App> for PendingPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> PageResult<Self> {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let pending = Pending::check(parts, state, here).await?;
        Ok(PendingPage { pending })
    }
}

/// A signed-in tenant user's form post: the session is checked, then the
/// body is read and its anti-forgery token compared, and only then does
/// the transaction begin. The fields arrive as `T`.
pub struct UserForm<T> {
    pub s: TenantSession,
    pub ctx: Ctx,
    pub form: T,
}

/// A form whose anti-forgery token is missing or wrong.
fn expired_form() -> ApiError {
    ApiError::forbidden("the form has expired; reload the page and try again")
}

/// The body of a form post as `T`, after the `_csrf` field (or the
/// `X-CSRF-Token` header) is checked against `expected`.
async fn read_form<T: DeserializeOwned>(req: Request, state: &App, expected: &str) -> ApiResult<T> {
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = read_bytes(req, state).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the form could not be read"))?;
    let sent = header_token.or_else(|| {
        pairs
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.clone())
    });
    if sent.as_deref() != Some(expected) {
        return Err(expired_form());
    }
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("the form is malformed: {e}")))
}

/// A session, checked from its cookie before any body is read; the
/// transaction begins after (`begin`), and a signed-out visitor is sent to
/// the login and then back to `back`.
struct Pending {
    auth: TenantAuth,
    csrf: String,
    back: String,
    slug: Option<String>,
    flash: Option<Flash>,
}

impl Pending {
    async fn check(parts: &mut Parts, state: &App, back: String) -> PageResult<Pending> {
        let Some(claims) = cookie_claims(state, &parts.headers, false) else {
            return Err(PageError::Login {
                admin: false,
                next: back,
            });
        };
        let csrf = state.tokens.csrf_token(claims.sid.unwrap_or_default());
        let auth = crate::web::session::tenant_auth(claims, parts, state).await?;
        Ok(Pending {
            auth,
            csrf,
            back,
            slug: host_slug(state, &parts.headers),
            flash: flash_of(&parts.headers),
        })
    }

    async fn begin(self, state: &App) -> PageResult<(TenantSession, Ctx)> {
        let login = || PageError::Login {
            admin: false,
            next: self.back.clone(),
        };
        let s = match self.auth.begin(state).await {
            Ok(s) => s,
            Err(e) if e.code == ErrorCode::Unauthorized => return Err(login()),
            Err(e) => return Err(e.into()),
        };
        if self
            .slug
            .as_ref()
            .is_some_and(|slug| *slug != s.tenant.slug)
        {
            return Err(login());
        }
        let ctx = Ctx::for_user(state, &s).with_flash(self.flash);
        Ok((s, ctx))
    }
}

/// A form post's session: same origin only; a signed-out poster is sent
/// back to the page the form was on.
async fn form_session(parts: &mut Parts, state: &App) -> PageResult<Pending> {
    same_origin(&parts.headers)?;
    let back = parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
        })
        .unwrap_or_default();
    Pending::check(parts, state, back).await
}

impl<T: DeserializeOwned + Send> FromRequest<App> for UserForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> PageResult<Self> {
        let (mut parts, body) = req.into_parts();
        let pending = form_session(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state, &pending.csrf).await?;
        let (s, ctx) = pending.begin(state).await?;
        Ok(UserForm { s, ctx, form })
    }
}

/// A form post whose slow work (hashing a password) happens after the
/// body is read and before the transaction begins: call `begin`.
pub struct PendingForm<T> {
    pending: Pending,
    pub form: T,
}

impl<T> PendingForm<T> {
    /// What the session's token says of the role: a cheap refusal before
    /// slow work (hashing a password). The role read when the transaction
    /// begins is the one that counts.
    pub fn token_says_admin(&self) -> PageResult<()> {
        Ok(self.pending.auth.token_says_admin()?)
    }

    /// Whose session it is, as its token says (the transaction's first
    /// statement checks they may still act).
    pub fn user(&self) -> crate::domain::UserId {
        self.pending.auth.user()
    }

    pub async fn begin(self, state: &App) -> PageResult<(TenantSession, Ctx, T)> {
        let (s, ctx) = self.pending.begin(state).await?;
        Ok((s, ctx, self.form))
    }
}

impl<T: DeserializeOwned + Send> FromRequest<App> for PendingForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> PageResult<Self> {
        let (mut parts, body) = req.into_parts();
        let pending = form_session(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state, &pending.csrf).await?;
        Ok(PendingForm { pending, form })
    }
}

/// A signed-in tenant user's file upload (a multipart form with its
/// anti-forgery field before the file), spooled before the transaction
/// begins.
pub struct UserUpload {
    pub s: TenantSession,
    pub ctx: Ctx,
    pub upload: crate::web::extract::CsvUpload,
}

impl FromRequest<App> for UserUpload {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> PageResult<Self> {
        let (mut parts, body) = req.into_parts();
        let pending = form_session(&mut parts, state).await?;
        let upload =
            crate::web::extract::CsvUpload::from_request(Request::from_parts(parts, body), state)
                .await?;
        if upload.fields.get("_csrf") != Some(&pending.csrf) {
            return Err(expired_form().into());
        }
        let (s, ctx) = pending.begin(state).await?;
        Ok(UserUpload { s, ctx, upload })
    }
}

/// A signed-in platform admin's page.
pub struct AdminPage {
    pub admin: AdminSession,
    pub sid: Uuid,
    pub ctx: Ctx,
}

async fn admin_session(parts: &mut Parts, state: &App) -> PageResult<AdminPage> {
    let next = parts.uri.path().to_owned();
    let login = || PageError::Login {
        admin: true,
        next: next.clone(),
    };
    let Some(claims) = cookie_claims(state, &parts.headers, true) else {
        return Err(login());
    };
    let sid = claims.sid.unwrap_or_default();
    match crate::web::session::admin_session(claims, parts, state).await {
        Ok(admin) => {
            let ctx =
                Ctx::for_admin(state, &admin.username, sid).with_flash(flash_of(&parts.headers));
            Ok(AdminPage { admin, sid, ctx })
        }
        Err(e) if matches!(e.code, ErrorCode::Unauthorized | ErrorCode::Forbidden) => Err(login()),
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<App> for AdminPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> PageResult<Self> {
        admin_session(parts, state).await
    }
}

/// A platform admin's form post, anti-forgery token checked.
pub struct AdminForm<T> {
    pub page: AdminPage,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<App> for AdminForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> PageResult<Self> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers)?;
        let page = admin_session(&mut parts, state).await?;
        let expected = state.tokens.csrf_token(page.sid);
        let form = read_form(Request::from_parts(parts, body), state, &expected).await?;
        Ok(AdminForm { page, form })
    }
}

/// A visitor who may or may not be signed in (public pages).
pub struct Visitor {
    pub signed_in: bool,
}

impl FromRequestParts<App> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> PageResult<Self> {
        Ok(Visitor {
            signed_in: cookie_claims(state, &parts.headers, false).is_some(),
        })
    }
}
