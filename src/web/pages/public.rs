//! Public pages: the landing page, registration, login, logout, and the
//! hand-off that carries a new session from the bare domain to the
//! tenant's sub-domain.

use super::layout::{self, field_errors, form_alert, is_form_error, page, Ctx, Errors, Field, Nav};
use super::{host_slug, safe_next, see_other, session_cookie, PageError, PageResult, Visitor};
use crate::app::App;
use crate::auth::login::{self, LoggedIn, LoginRequest};
use crate::auth::sessions;
use crate::domain::{Password, TenantId, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::licensing::Mode;
use crate::tenancy::register::{self, RegisterRequest};
use crate::web::extract::ClientAddr;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The anonymous forms' anti-forgery cookie (double submit: the form
/// carries the same value).
const FORM_COOKIE: &str = "trasealla_form";

/// A fresh anti-forgery value for an anonymous form, and its cookie.
pub(super) fn form_token(state: &App, headers: &HeaderMap) -> (String, HeaderValue) {
    let existing = super::cookie(headers, FORM_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let token = existing.map(str::to_owned).unwrap_or_else(|| {
        let mut bytes = [0u8; 16];
        let _ = getrandom::getrandom(&mut bytes);
        hex::encode(bytes)
    });
    let secure = if crate::web::extract::is_https(state, headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
    (
        token,
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("")),
    )
}

pub(super) fn with_form_cookie(
    cookie: HeaderValue,
    markup: Markup,
    status: StatusCode,
) -> Response {
    let mut r = layout::respond(status, markup);
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

/// An anonymous form post, its double-submit token checked.
pub struct PublicForm<T> {
    pub form: T,
    pub headers: HeaderMap,
}

impl<T: DeserializeOwned + Send> FromRequest<App> for PublicForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> PageResult<Self> {
        let headers = req.headers().clone();
        super::same_origin(&headers)?;
        // No cookie, no token: a form from nowhere (or a blocked cookie).
        let Some(expected) = super::cookie(&headers, FORM_COOKIE)
            .filter(|v| v.len() == 32)
            .map(str::to_owned)
        else {
            return Err(super::expired_form().into());
        };
        let form = super::read_form(req, state, &expected).await?;
        Ok(PublicForm { form, headers })
    }
}

// ---------------------------------------------------------------------------
// Landing.

pub async fn landing(State(state): State<App>, visitor: Visitor, headers: HeaderMap) -> Response {
    if visitor.signed_in {
        return see_other("/dashboard");
    }
    if host_slug(&state, &headers).is_some() {
        return see_other("/login");
    }
    let saas = state.licensing.mode == Mode::Saas;
    layout::respond(
        StatusCode::OK,
        page(
            "The CRM your sales team lives in",
            &Ctx::anonymous(),
            Nav::None,
            html! {
                section.hero {
                    h1 { "Every lead, deal and call in one place." }
                    p.lead {
                        "Trasealla CRM keeps your contacts, companies, pipelines and activities together — "
                        "fast on modest hardware, with your company's data kept strictly apart from everyone else's."
                    }
                    p.actions {
                        @if saas {
                            a.button.big href="/register" { "Start Free Trial" }
                            " "
                        }
                        a.button.secondary.big href="/login" { "Log in" }
                    }
                    @if saas { p.small { "14 days free, every feature, no card needed." } }
                }
                section.features {
                    div.card { h2 { "Pipelines you can see" } p { "Drag deals across stages; the value of every stage adds up as you go." } }
                    div.card { h2 { "Contacts and companies" } p { "Search, import a spreadsheet of 100,000 rows, export it back — nothing capped." } }
                    div.card { h2 { "Activities and calendar" } p { "Log calls and meetings, plan tasks, and see today's work on your dashboard." } }
                }
            },
        ),
    )
}

// ---------------------------------------------------------------------------
// Registration.

#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    company_name: Option<String>,
    full_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    slug: Option<String>,
}

fn register_page(f: &RegisterForm, errors: &Errors, csrf: &str, base: &str) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let (company, name, email, slug) =
        (v(&f.company_name), v(&f.full_name), v(&f.email), v(&f.slug));
    let fields = ["company_name", "full_name", "email", "password", "slug"];
    page(
        "Start your free trial",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Start your free trial" }
                p.muted { "14 days, every feature. You will be signed in straight away." }
                (form_alert(errors, &fields))
                form method="post" action="/register" novalidate data-availability="" {
                    input type="hidden" name="_csrf" value=(csrf);
                    (Field::new("company_name", "Company name", &company).auto("organization").required().render(errors))
                    (Field::new("full_name", "Your name", &name).auto("name").required().render(errors))
                    (Field::new("email", "Work e-mail", &email).kind("email").auto("email").required().render(errors))
                    (Field::new("password", "Password", "").kind("password").auto("new-password").required()
                        .hint("At least 8 characters.").render(errors))
                    (Field::new("slug", "Your address", &slug).auto("off")
                        .hint(&format!("Optional: the part before .{base}; made from the company name when empty.")).render(errors))
                    p.availability aria-live="polite" {}
                    button.big type="submit" { "Create my account" }
                }
                p.small { "Already have an account? " a href="/login" { "Log in" } }
            }
        },
    )
}

pub async fn register_form(State(state): State<App>, headers: HeaderMap) -> PageResult {
    if state.licensing.mode == Mode::SelfHosted {
        return Err(ApiError::not_found().into());
    }
    let (csrf, cookie) = form_token(&state, &headers);
    Ok(with_form_cookie(
        cookie,
        register_page(
            &RegisterForm::default(),
            &Errors::new(),
            &csrf,
            &state.config.base_domain,
        ),
        StatusCode::OK,
    ))
}

pub async fn register(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    PublicForm { form, headers }: PublicForm<RegisterForm>,
) -> PageResult {
    if state.licensing.mode == Mode::SelfHosted {
        return Err(ApiError::not_found().into());
    }
    let request = RegisterRequest {
        company_name: layout::given(&form.company_name),
        email: layout::given(&form.email),
        password: form
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .map(Password::offered),
        full_name: layout::given(&form.full_name),
        industry: None,
        slug: layout::given(&form.slug),
    };
    let result = async {
        let input = request.validate()?;
        register::throttle_signups(&state, &client).await?;
        register::register(&state, input).await
    }
    .await;
    match result {
        Ok(r) => {
            let started = sessions::start_tenant(
                &state,
                TenantId(r.tenant.id),
                UserId(r.user.id),
                r.user.role.as_str(),
            )
            .await?;
            signed_in(
                &state,
                &headers,
                started,
                r.tenant.id,
                &r.tenant.slug,
                r.user.role.as_str(),
                r.user.id,
                "/dashboard",
            )
        }
        Err(e) if is_form_error(&e) => {
            let mut errors = field_errors(&e);
            match e.code {
                ErrorCode::SlugTaken => {
                    errors.insert("slug".into(), e.message.clone());
                }
                ErrorCode::EmailTaken => {
                    errors.insert("email".into(), e.message.clone());
                }
                _ => {}
            }
            if errors.len() > 1 || !errors.contains_key("") {
                errors.remove("");
            }
            let (csrf, cookie) = form_token(&state, &headers);
            Ok(with_form_cookie(
                cookie,
                register_page(&form, &errors, &csrf, &state.config.base_domain),
                e.code.status(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// After a login or registration: the session cookie on this host, or, on
/// the bare base domain, a hand-off to the tenant's own sub-domain.
#[allow(clippy::too_many_arguments)]
pub(super) fn signed_in(
    state: &App,
    headers: &HeaderMap,
    started: sessions::Started,
    tenant: uuid::Uuid,
    slug: &str,
    role: &str,
    user: uuid::Uuid,
    next: &str,
) -> PageResult {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (bare, port) = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h.to_owned(), Some(p.to_owned())),
        _ => (host.clone(), None),
    };
    let base = state
        .config
        .base_domain
        .trim()
        .trim_start_matches('.')
        .to_ascii_lowercase();
    if bare == base && !base.is_empty() {
        let handoff =
            state
                .tokens
                .issue_handoff(user, tenant, role, started.sid, state.clock.now())?;
        let scheme = if super::is_https(state, headers) {
            "https"
        } else {
            "http"
        };
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let to = format!("{scheme}://{slug}.{base}{port}/session/handoff");
        return Ok(handoff_page(&to, &handoff.token, next));
    }
    let mut r = see_other(next);
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(
            state,
            headers,
            false,
            Some((&started.token.token, started.token.expires_in)),
        ),
    );
    Ok(r)
}

/// The page that carries a new session to the tenant's sub-domain: a form
/// the browser posts there at once (a button without scripts). The token
/// travels in the body, so it never lands in a URL: not in the address
/// bar's history, server logs or a Referer header.
fn handoff_page(to: &str, token: &str, next: &str) -> Response {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="referrer" content="no-referrer";
                title { "Signing you in…" }
                script src="/assets/app.js" defer {}
            }
            body {
                form method="post" action=(to) data-autopost {
                    input type="hidden" name="token" value=(token);
                    input type="hidden" name="next" value=(next);
                    p { "Signing you in to your company's address…" }
                    button type="submit" { "Continue" }
                }
            }
        }
    };
    let mut r = layout::respond(StatusCode::OK, markup);
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[derive(Deserialize)]
pub struct HandoffForm {
    token: Option<String>,
    next: Option<String>,
}

/// Takes a session handed over from the bare domain (posted by
/// [`handoff_page`]): the one-minute token names a session, which is
/// replaced by a new one (so the token works once) whose cookie is set on
/// this host. The token is the credential, so the post comes from the bare
/// domain's page by design.
pub async fn handoff(
    State(state): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PageResult {
    let q: HandoffForm =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::field("token", "is required"))?;
    let expired = || PageError::Login {
        admin: false,
        next: String::new(),
    };
    let claims = state
        .tokens
        .verify(q.token.as_deref().unwrap_or_default(), state.clock.now())
        .map_err(|_| expired())?;
    let (Some(tid), Some(sid), true) = (claims.tid, claims.sid, claims.handoff) else {
        return Err(expired());
    };
    let slug = host_slug(&state, &headers);
    let started = sessions::hand_over(
        &state,
        TenantId(tid),
        sid,
        UserId(claims.sub),
        &claims.role,
        slug.as_deref(),
    )
    .await?
    .ok_or_else(expired)?;
    let mut r = see_other(&safe_next(q.next.as_deref(), "/dashboard"));
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(
            &state,
            &headers,
            false,
            Some((&started.token.token, started.token.expires_in)),
        ),
    );
    Ok(r)
}

// ---------------------------------------------------------------------------
// Login and logout.

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    tenant: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(
    f: &LoginForm,
    errors: &Errors,
    csrf: &str,
    on_subdomain: Option<&str>,
    flash: Option<super::Flash>,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    page(
        "Log in",
        &Ctx::anonymous().with_flash(flash),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Log in" }
                @if let Some(slug) = on_subdomain { p.muted { "to " strong { (slug) } } }
                (form_alert(errors, &["username", "password", "tenant"]))
                form method="post" action="/login" {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="next" value=(v(&f.next));
                    @if on_subdomain.is_none() {
                        (Field::new("tenant", "Company address", &v(&f.tenant)).auto("organization")
                            .hint("The name before the dot in your CRM's address; leave empty if you are not sure.").render(errors))
                    }
                    (layout::credentials("E-mail or username", &v(&f.username), errors))
                }
                p.small { a href="/forgot-password" { "Forgot password?" } }
            }
        },
    )
}

pub async fn login_form(
    State(state): State<App>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let (csrf, cookie) = form_token(&state, &headers);
    let slug = host_slug(&state, &headers);
    let form = LoginForm {
        next: q.next,
        ..Default::default()
    };
    with_form_cookie(
        cookie,
        login_page(
            &form,
            &Errors::new(),
            &csrf,
            slug.as_deref(),
            super::flash_of(&headers),
        ),
        StatusCode::OK,
    )
}

pub async fn login(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    PublicForm { form, headers }: PublicForm<LoginForm>,
) -> PageResult {
    let slug = host_slug(&state, &headers);
    let hint = slug.clone().or_else(|| layout::given(&form.tenant));
    let request = LoginRequest {
        username: layout::given(&form.username),
        password: form
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .map(Password::offered),
        tenant: None,
    };
    let result: ApiResult<_> = async {
        match login::login(&state, request, hint, &client).await? {
            LoggedIn::Tenant { user, tenant, .. } => {
                let started = sessions::start_tenant(
                    &state,
                    TenantId(tenant.id),
                    UserId(user.id),
                    user.role.as_str(),
                )
                .await?;
                Ok((
                    started,
                    tenant.id,
                    tenant.slug,
                    user.role.as_str().to_owned(),
                    user.id,
                ))
            }
            LoggedIn::Admin(_) => Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "platform administrators sign in at /admin/login",
            )),
        }
    }
    .await;
    match result {
        Ok((started, tenant, tenant_slug, role, user)) => {
            let next = safe_next(form.next.as_deref(), "/dashboard");
            signed_in(
                &state,
                &headers,
                started,
                tenant,
                &tenant_slug,
                &role,
                user,
                &next,
            )
        }
        Err(e) if is_form_error(&e) || e.code == ErrorCode::RateLimited => {
            let mut errors = field_errors(&e);
            if e.code == ErrorCode::TenantRequired {
                errors.clear();
                errors.insert(
                    "tenant".into(),
                    "this e-mail is used in several companies: name yours".into(),
                );
            }
            let (csrf, cookie) = form_token(&state, &headers);
            let status = e.code.status();
            Ok(with_form_cookie(
                cookie,
                login_page(&form, &errors, &csrf, slug.as_deref(), None),
                status,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// "Sign out everywhere": every token and browser session of the user
/// stops working (their credential version moves on), this one included.
pub async fn logout_all(
    State(state): State<App>,
    headers: HeaderMap,
    f: super::UserForm<std::collections::HashMap<String, String>>,
) -> PageResult {
    let super::UserForm { mut s, .. } = f;
    sessions::end_all(&mut s.tx, &s.user, state.clock.now()).await?;
    let mut r = see_other("/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &headers, false, None),
    );
    Ok(r)
}

/// Ends the session on the server (its row is deleted) and clears the
/// cookie. It needs no tenant transaction, so it works for a suspended
/// tenant or an ended trial too.
pub async fn logout(State(state): State<App>, req: Request) -> PageResult {
    let headers = req.headers().clone();
    super::same_origin(&headers)?;
    if let Some(claims) = super::cookie_claims(&state, &headers, false) {
        let (Some(tid), Some(sid)) = (claims.tid, claims.sid) else {
            return Err(ApiError::forbidden("not a session").into());
        };
        let expected = state.tokens.csrf_token(sid);
        super::read_form::<std::collections::HashMap<String, String>>(req, &state, &expected)
            .await?;
        sessions::end_tenant(&state.store, TenantId(tid), sid).await?;
    }
    let mut r = see_other("/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &headers, false, None),
    );
    Ok(r)
}
