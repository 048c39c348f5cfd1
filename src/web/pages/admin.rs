//! The platform admin dashboard (`/admin`): tenants with filters and
//! search, a tenant's subscription and usage, suspend and activate.

use super::layout::{self, field_errors, form_alert, page, select, Ctx, Errors, Field, Nav};
use super::public::PublicForm;
use super::{safe_next, see_other, session_cookie, AdminForm, AdminPage, PageResult};
use crate::auth::login::{self, LoggedIn, LoginRequest};
use crate::auth::sessions;
use crate::domain::{Password, TenantId, TenantStatus};
use crate::error::{ApiError, ErrorCode};
use crate::platform::tenants;
use crate::web::api::platform::TenantListQuery;
use crate::web::extract::{ClientAddr, PathId};
use crate::web::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(f: &LoginForm, errors: &Errors, csrf: &str) -> Markup {
    page(
        "Platform admin",
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow {
                h1 { "Platform admin" }
                p.muted { "For the vendor's staff. Tenant users log in at " a href="/login" { "/login" } "." }
                (form_alert(errors, &["username", "password"]))
                form method="post" action="/admin/login" {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="next" value=(f.next.clone().unwrap_or_default());
                    (layout::credentials("Username", &f.username.clone().unwrap_or_default(), errors))
                }
            }
        },
    )
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> axum::response::Response {
    let (csrf, cookie) = super::public::form_token(&state, &headers);
    let f = LoginForm {
        next: q.next,
        ..Default::default()
    };
    super::public::with_form_cookie(
        cookie,
        login_page(&f, &Errors::new(), &csrf),
        StatusCode::OK,
    )
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PublicForm { form, headers }: PublicForm<LoginForm>,
) -> PageResult {
    let request = LoginRequest {
        username: form.username.clone().filter(|u| !u.trim().is_empty()),
        password: form
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .map(Password::offered),
        tenant: None,
    };
    let result = match login::login(&state, request, None, &client).await {
        Ok(LoggedIn::Admin(admin)) => {
            sessions::start_admin(&state, crate::domain::AdminId(admin.id)).await
        }
        Ok(LoggedIn::Tenant { .. }) => Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "invalid username or password",
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(started) => {
            let mut r = see_other(&safe_next(
                form.next.as_deref().filter(|n| n.starts_with("/admin")),
                "/admin",
            ));
            r.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(
                    &state,
                    &headers,
                    true,
                    Some((&started.token.token, started.token.expires_in)),
                ),
            );
            Ok(r)
        }
        Err(e) if layout::is_form_error(&e) || e.code == ErrorCode::RateLimited => {
            let (csrf, cookie) = super::public::form_token(&state, &headers);
            Ok(super::public::with_form_cookie(
                cookie,
                login_page(&form, &field_errors(&e), &csrf),
                e.code.status(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Empty {}

pub async fn logout(State(state): State<AppState>, f: AdminForm<Empty>) -> PageResult {
    sessions::end_admin(&state.store, f.page.sid).await?;
    let mut r = see_other("/admin/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &HeaderMap::new(), true, None),
    );
    Ok(r)
}

fn status_badge(s: TenantStatus) -> Markup {
    html! { span class=(format!("badge status-{}", s.as_str())) { (s.as_str()) } }
}

pub async fn tenants(
    State(state): State<AppState>,
    p: AdminPage,
    Query(q): Query<TenantListQuery>,
) -> PageResult {
    let text = q.q.clone().unwrap_or_default();
    let status = q.status.clone().unwrap_or_default();
    let plan = q.plan.clone().unwrap_or_default();
    let (filter, page_req) = TenantListQuery {
        limit: Some("25".into()),
        ..q
    }
    .parse()?;
    let list = tenants::list(&state.store, &filter, page_req).await?;
    let opts = |all: &[&str], any: &str| -> Vec<(String, String)> {
        std::iter::once((String::new(), any.to_owned()))
            .chain(all.iter().map(|s| (s.to_string(), s.to_string())))
            .collect()
    };
    let next_link = |cursor: &str| {
        format!(
            "/admin?{}",
            serde_urlencoded::to_string([
                ("q", text.as_str()),
                ("status", status.as_str()),
                ("plan", plan.as_str()),
                ("cursor", cursor)
            ])
            .unwrap_or_default()
        )
    };
    let none = Errors::new();
    let body = html! {
        h1 { "Tenants" }
        form.filters method="get" action="/admin" role="search" {
            (Field::new("q", "Search", &text).kind("search").auto("off").render(&none))
            (select("status", "Status", &opts(&["trial", "active", "suspended", "cancelled"], "Any status"), &status, &none))
            (select("plan", "Plan", &opts(&["trial", "starter", "professional", "enterprise"], "Any plan"), &plan, &none))
            button type="submit" { "Filter" }
        }
        div.table-wrap {
            table.list {
                thead { tr { th { "Company" } th { "Address" } th { "Status" } th { "Plan" } th { "Users" } th { "Created" } } }
                tbody {
                    @for t in &list.items {
                        tr {
                            td { a href=(format!("/admin/tenants/{}", t.id)) { (t.name) } br; span.muted.small { (t.email) } }
                            td { code { (t.slug) } }
                            td { (status_badge(t.status)) }
                            td { (t.plan.as_str()) }
                            td { (t.current_users) " / " (t.max_users.map(|m| m.to_string()).unwrap_or_else(|| "∞".into())) }
                            td { (t.created_at.format("%Y-%m-%d")) }
                        }
                    }
                    @if list.items.is_empty() { tr { td colspan="6" .muted { "No tenant matches." } } }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if let Some(c) = &list.next_cursor { a rel="next" href=(next_link(c)) { "Next page »" } }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Tenants", &p.ctx, Nav::Admin, body),
    ))
}

pub async fn tenant(State(state): State<AppState>, p: AdminPage, PathId(id): PathId) -> PageResult {
    let d = tenants::detail(&state.store, TenantId(id), state.clock.now()).await?;
    let t = &d.tenant;
    let sub = &d.subscription;
    let body = html! {
        div.titlebar {
            h1 { (t.name) " " (status_badge(t.status)) }
            div.actions {
                @if t.status == TenantStatus::Suspended {
                    form.inline method="post" action=(format!("/admin/tenants/{id}/activate")) {
                        (p.ctx.csrf_field())
                        button type="submit" { "Activate" }
                    }
                } @else if t.status != TenantStatus::Cancelled {
                    form.inline method="post" action=(format!("/admin/tenants/{id}/suspend"))
                        data-confirm=(format!("Suspend {}? Its users are refused at once.", t.name)) {
                        (p.ctx.csrf_field())
                        input type="hidden" name="reason" value="suspended from the admin dashboard";
                        button.danger type="submit" { "Suspend" }
                    }
                }
            }
        }
        div.columns {
            section.card {
                h2 { "Tenant" }
                dl.details {
                    dt { "Address" } dd { code { (t.subdomain) } }
                    dt { "E-mail" } dd { (t.email) }
                    dt { "Created" } dd { (t.created_at.format("%Y-%m-%d %H:%M UTC")) }
                    dt { "Owner" } dd { (d.owner.as_ref().map(|o| o.email.as_str()).unwrap_or("—")) }
                }
            }
            section.card {
                h2 { "Subscription" }
                dl.details {
                    dt { "Plan" } dd { (sub.plan_name) }
                    dt { "Status" } dd { (sub.status.as_str()) }
                    dt { "Users" } dd { (sub.current_users) " of " (sub.max_users.map(|m| m.to_string()).unwrap_or_else(|| "unlimited".into())) }
                    @if let Some(days) = sub.days_left_in_trial { dt { "Trial" } dd { (days) " days left" } }
                    @if sub.trial_expired { dt { "Trial" } dd { "ended" } }
                }
            }
        }
        p { a href="/admin" { "« All tenants" } }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&t.name, &p.ctx, Nav::Admin, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    reason: Option<String>,
}

pub async fn suspend(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: AdminForm<ReasonForm>,
) -> PageResult {
    let actor = f.page.admin.actor();
    tenants::suspend(
        &state.store,
        TenantId(id),
        f.form.reason,
        &actor,
        state.clock.now(),
    )
    .await?;
    Ok(see_other(&format!("/admin/tenants/{id}")))
}

pub async fn activate(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: AdminForm<Empty>,
) -> PageResult {
    let actor = f.page.admin.actor();
    tenants::activate(&state.store, TenantId(id), &actor, state.clock.now()).await?;
    Ok(see_other(&format!("/admin/tenants/{id}")))
}
