//! The pages behind the links mail carries: asking for a new password
//! (`/forgot-password`) and choosing it (`/reset-password`), confirming an
//! address (`/verify-email`), accepting an invitation
//! (`/accept-invitation`); and, for a signed-in user whose address is not
//! confirmed yet, sending the link again. A link's token is redeemed only
//! by a form post, never by opening the link: mail scanners that fetch
//! every link must not use it up.

use super::layout::{self, field_errors, form_alert, page, Ctx, Errors, Field, Flash, Nav};
use super::public::{form_token, signed_in, with_form_cookie, PublicForm};
use super::{back_to, see_other_with, PageResult, PendingForm};
use crate::app::App;
use crate::auth::{recovery, sessions};
use crate::domain::{Email, Password, TenantId, UserId};
use crate::error::{ApiError, ErrorCode, FieldErrors};
use crate::invitations::{self, AcceptRequest};
use crate::web::extract::ClientAddr;
use crate::web::RequestTenant;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

impl TokenQuery {
    fn token(&self) -> Option<&str> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// A page whose address carries a link's token: its Referer is the origin
/// only, so the token stays out of every log but this server's. (Not
/// `no-referrer`: browsers then post its form with `Origin: null`, which
/// the cross-site check refuses.)
fn token_page(cookie: HeaderValue, markup: Markup, status: StatusCode) -> Response {
    let mut r = with_form_cookie(cookie, markup, status);
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin"),
    );
    r
}

/// What to do about a link that does not work, by the kind of link.
#[derive(Clone, Copy)]
enum Link {
    Reset,
    Verify,
    Invitation,
}

/// The page for a link that is unknown, used, revoked or expired.
fn invalid_link(link: Link) -> Response {
    let (advice, action): (&str, Option<(&str, &str)>) = match link {
        Link::Reset => (
            "Ask for a new one: it works once, for one hour.",
            Some(("/forgot-password", "Ask for a new link")),
        ),
        Link::Verify => (
            "Sign in and send yourself a new one from the banner at the top of the page.",
            Some(("/dashboard", "Sign in")),
        ),
        Link::Invitation => (
            "Ask whoever invited you to send the invitation again. If you accepted it already, sign in.",
            Some(("/login", "Sign in")),
        ),
    };
    let markup = page(
        "This link is not valid",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow.error {
                h1 { "This link is not valid" }
                p { "This link is not valid: it may have expired or been used already." }
                p { (advice) }
                @if let Some((href, label)) = action {
                    p { a.button href=(href) { (label) } }
                }
            }
        },
    );
    layout::respond(ErrorCode::InvalidToken.status(), markup)
}

/// A page of one message (after a form did its work).
fn done_page(title: &str, body: Markup) -> Markup {
    page(
        title,
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// A rate-limited form: its page, with the Retry-After the service gave.
fn with_retry_after(mut r: Response, e: &ApiError) -> Response {
    if let Some(v) = e
        .retry_after
        .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

// ---------------------------------------------------------------------------
// Forgotten password.

#[derive(Debug, Default, Deserialize)]
pub struct ForgotForm {
    email: Option<String>,
}

fn forgot_page(f: &ForgotForm, errors: &Errors, csrf: &str) -> Markup {
    page(
        "Forgot your password?",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Forgot your password?" }
                p.muted { "Give the e-mail address you sign in with; we send a link to choose a new password." }
                (form_alert(errors, &["email"]))
                form method="post" action="/forgot-password" novalidate {
                    input type="hidden" name="_csrf" value=(csrf);
                    (Field::new("email", "E-mail", f.email.as_deref().unwrap_or("")).kind("email").auto("email").required().render(errors))
                    button.big type="submit" { "Send me a link" }
                }
                p.small { a href="/login" { "Back to the login" } }
            }
        },
    )
}

pub async fn forgot_form(State(state): State<App>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = form_token(&state, &headers);
    with_form_cookie(
        cookie,
        forgot_page(&ForgotForm::default(), &Errors::new(), &csrf),
        StatusCode::OK,
    )
}

/// Answers the same whether or not an account uses the address, so the
/// form tells nobody who has one.
pub async fn forgot(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    PublicForm { form, headers }: PublicForm<ForgotForm>,
) -> PageResult {
    let result = async {
        let mut e = FieldErrors::default();
        let email = e.required("email", layout::given(&form.email));
        let email = email.and_then(|v| e.check("email", Email::parse(&v)));
        e.finish()?;
        let email = email.ok_or_else(|| ApiError::internal("validated without an email"))?;
        recovery::request_reset(&state, &email, &client).await
    }
    .await;
    match result {
        Ok(()) => Ok(layout::respond(
            StatusCode::OK,
            done_page(
                "Check your inbox",
                html! {
                    p { "If an account uses that address, a link to choose a new password is on its way. It works once, for one hour." }
                    p.small { a href="/login" { "Back to the login" } }
                },
            ),
        )),
        Err(e) if layout::is_form_error(&e) || e.code == ErrorCode::RateLimited => {
            let (csrf, cookie) = form_token(&state, &headers);
            let r = with_form_cookie(
                cookie,
                forgot_page(&form, &field_errors(&e), &csrf),
                e.code.status(),
            );
            Ok(with_retry_after(r, &e))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// A new password.

#[derive(Debug, Default, Deserialize)]
pub struct ResetForm {
    token: Option<String>,
    password: Option<String>,
    password_again: Option<String>,
}

fn reset_page(token: &str, errors: &Errors, csrf: &str) -> Markup {
    page(
        "Choose a new password",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Choose a new password" }
                p.muted { "Every other session of your account ends when it is changed." }
                (form_alert(errors, &["password", "password_again"]))
                form method="post" action="/reset-password" novalidate {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="token" value=(token);
                    (Field::new("password", "New password", "").kind("password").auto("new-password").required()
                        .hint("At least 8 characters.").render(errors))
                    (Field::new("password_again", "New password, again", "").kind("password").auto("new-password").required().render(errors))
                    button.big type="submit" { "Change my password" }
                }
            }
        },
    )
}

pub async fn reset_form(
    State(state): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token() else {
        return invalid_link(Link::Reset);
    };
    let (csrf, cookie) = form_token(&state, &headers);
    token_page(
        cookie,
        reset_page(token, &Errors::new(), &csrf),
        StatusCode::OK,
    )
}

pub async fn reset(
    State(state): State<App>,
    ClientAddr(client): ClientAddr,
    PublicForm { form, headers }: PublicForm<ResetForm>,
) -> PageResult {
    let Some(token) = form.token.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(invalid_link(Link::Reset));
    };
    let result = async {
        let mut e = FieldErrors::default();
        let password = e.required("password", form.password.clone().filter(|p| !p.is_empty()));
        let password = password.and_then(|p| e.check("password", Password::new_secret(p)));
        if password.is_some() && form.password != form.password_again {
            e.add("password_again", "does not match the new password");
        }
        e.finish()?;
        let password =
            password.ok_or_else(|| ApiError::internal("validated without a password"))?;
        recovery::confirm_reset(&state, token, &password, &client).await
    }
    .await;
    match result {
        Ok(()) => Ok(see_other_with(
            &state,
            &headers,
            "/login",
            Flash::PasswordChanged,
        )),
        Err(e) if e.code == ErrorCode::InvalidToken => Ok(invalid_link(Link::Reset)),
        Err(e) if layout::is_form_error(&e) => {
            let (csrf, cookie) = form_token(&state, &headers);
            Ok(token_page(
                cookie,
                reset_page(token, &field_errors(&e), &csrf),
                e.code.status(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Confirming an address.

fn verify_page(token: &str, csrf: &str) -> Markup {
    page(
        "Confirm your e-mail address",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Confirm your e-mail address" }
                // Posted at once by the script; a button without it.
                form method="post" action="/verify-email" data-autopost {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="token" value=(token);
                    button.big type="submit" { "Confirm my address" }
                }
            }
        },
    )
}

pub async fn verify_form(
    State(state): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token() else {
        return invalid_link(Link::Verify);
    };
    let (csrf, cookie) = form_token(&state, &headers);
    token_page(cookie, verify_page(token, &csrf), StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    token: Option<String>,
}

pub async fn verify(
    State(state): State<App>,
    log: Option<Extension<RequestTenant>>,
    PublicForm { form, .. }: PublicForm<TokenForm>,
) -> PageResult {
    let Some(token) = form.token.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(invalid_link(Link::Verify));
    };
    match recovery::verify_email(&state, token).await {
        Ok(tenant) => {
            if let Some(Extension(log)) = log {
                log.set(tenant);
            }
            Ok(layout::respond(
                StatusCode::OK,
                done_page(
                    "Your address is confirmed",
                    html! {
                        p { "Your address is confirmed. Thank you!" }
                        p { a.button href="/dashboard" { "Open the CRM" } }
                    },
                ),
            ))
        }
        Err(e) if e.code == ErrorCode::InvalidToken => Ok(invalid_link(Link::Verify)),
        Err(e) => Err(e.into()),
    }
}

/// "Send the link again", from the banner of a user whose address is not
/// confirmed: back to the page they were on, with a notice.
pub async fn resend_verification(
    State(state): State<App>,
    headers: HeaderMap,
    f: PendingForm<HashMap<String, String>>,
) -> PageResult {
    recovery::throttle_verification(&state, f.user()).await?;
    let (mut s, _, _) = f.begin(&state).await?;
    recovery::resend_verification(&mut s.tx, &state, s.user.id).await?;
    Ok(see_other_with(
        &state,
        &headers,
        &back_to(&headers, "/dashboard"),
        Flash::VerificationSent,
    ))
}

// ---------------------------------------------------------------------------
// Accepting an invitation.

#[derive(Debug, Default, Deserialize)]
pub struct AcceptForm {
    token: Option<String>,
    full_name: Option<String>,
    password: Option<String>,
}

fn accept_page(token: &str, f: &AcceptForm, errors: &Errors, csrf: &str) -> Markup {
    page(
        "Accept the invitation",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Accept the invitation" }
                p.muted { "Choose your name and a password; you are signed in straight away." }
                (form_alert(errors, &["full_name", "password"]))
                form method="post" action="/accept-invitation" novalidate {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="token" value=(token);
                    (Field::new("full_name", "Your name", f.full_name.as_deref().unwrap_or("")).auto("name").required().render(errors))
                    (Field::new("password", "Password", "").kind("password").auto("new-password").required()
                        .hint("At least 8 characters.").render(errors))
                    button.big type="submit" { "Join" }
                }
            }
        },
    )
}

pub async fn accept_form(
    State(state): State<App>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token() else {
        return invalid_link(Link::Invitation);
    };
    let (csrf, cookie) = form_token(&state, &headers);
    token_page(
        cookie,
        accept_page(token, &AcceptForm::default(), &Errors::new(), &csrf),
        StatusCode::OK,
    )
}

/// Creates the invitee's account and signs them in on this host, as
/// registration and login do.
pub async fn accept(
    State(state): State<App>,
    log: Option<Extension<RequestTenant>>,
    PublicForm { form, headers }: PublicForm<AcceptForm>,
) -> PageResult {
    let Some(token) = form.token.clone().filter(|t| !t.is_empty()) else {
        return Ok(invalid_link(Link::Invitation));
    };
    let request = AcceptRequest {
        token: Some(token.clone()),
        full_name: form.full_name.clone(),
        password: form
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .map(Password::offered),
    };
    let result = async {
        let accepted = invitations::accept(&state, request.validate()?).await?;
        let (tenant, user) = (accepted.tenant, accepted.user);
        let started = sessions::start_tenant(
            &state,
            TenantId(tenant.id),
            UserId(user.id),
            user.role.as_str(),
        )
        .await?;
        Ok::<_, ApiError>((started, tenant, user))
    }
    .await;
    match result {
        Ok((started, tenant, user)) => {
            if let Some(Extension(log)) = log {
                log.set(TenantId(tenant.id));
            }
            signed_in(
                &state,
                &headers,
                started,
                tenant.id,
                &tenant.slug,
                user.role.as_str(),
                user.id,
                "/dashboard",
            )
        }
        Err(e) if e.code == ErrorCode::InvalidToken => Ok(invalid_link(Link::Invitation)),
        Err(e) => {
            // Said above the form: none of these is about what was typed.
            let general = match e.code {
                ErrorCode::ValidationFailed => None,
                ErrorCode::EmailTaken => {
                    Some("An account uses this address already: sign in with it instead.")
                }
                ErrorCode::PlanLimitReached => Some(
                    "This company's plan has no seat left for you: ask whoever invited you to free one, then try again.",
                ),
                ErrorCode::TenantSuspended => {
                    Some("This company's account is not active, so nobody can join it now.")
                }
                ErrorCode::Conflict => Some(e.message.as_str()),
                _ => return Err(e.into()),
            };
            let errors = match general {
                Some(m) => Errors::from([(String::new(), m.to_owned())]),
                None => field_errors(&e),
            };
            let (csrf, cookie) = form_token(&state, &headers);
            Ok(token_page(
                cookie,
                accept_page(&token, &form, &errors, &csrf),
                e.code.status(),
            ))
        }
    }
}
