//! The platform admin dashboard (`/admin`): tenants with filters and
//! search, a tenant's subscription and usage, suspend and activate.

use super::layout::{self, field_errors, form_alert, money, page, select, Ctx, Errors, Field, Nav};
use super::public::PublicForm;
use super::{safe_next, see_other, session_cookie, AdminForm, AdminPage, PageResult};
use crate::app::App;
use crate::auth::login::{self, LoggedIn, LoginRequest};
use crate::auth::sessions;
use crate::domain::{Password, TenantId, TenantStatus};
use crate::error::{ApiError, ErrorCode};
use crate::platform::tenants;
use crate::web::api::platform::TenantListQuery;
use crate::web::extract::{ClientAddr, PathId};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

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
    State(state): State<App>,
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
    State(state): State<App>,
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

pub async fn logout(
    State(state): State<App>,
    headers: HeaderMap,
    f: AdminForm<Empty>,
) -> PageResult {
    sessions::end_admin(&state.store, f.page.sid).await?;
    let mut r = see_other("/admin/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &headers, true, None),
    );
    Ok(r)
}

fn status_badge(s: TenantStatus) -> Markup {
    html! { span class=(format!("badge status-{}", s.as_str())) { (s.as_str()) } }
}

pub async fn tenants(
    State(state): State<App>,
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
    let revenue = crate::billing::overview(&state.store).await?;
    let body = html! {
        h1 { "Tenants" }
        div.columns.business {
            section.card {
                h2 { "Monthly recurring revenue" }
                p.big data-mrr=(revenue.mrr_cents) { (money(revenue.mrr_cents, &revenue.currency)) }
                p.muted.small { "Running Stripe subscriptions; a yearly one counts a twelfth." }
            }
            section.card {
                h2 { "Subscriptions" }
                @if revenue.subscriptions.is_empty() { p.muted { "None yet." } }
                ul { @for c in &revenue.subscriptions { li { a href=(format!("/admin?plan={}", c.plan)) { (crate::plans::spec(c.plan).name) } ": " (c.count) } } }
            }
            section.card {
                h2 { "Past due" }
                @if revenue.past_due.is_empty() { p.muted { "Nobody owes anything." } }
                ul { @for t in &revenue.past_due {
                    li { a href=(format!("/admin/tenants/{}", t.tenant_id)) { (t.name) } " — " (t.status.replace('_', " ")) @if let Some(since) = t.since { " since " (since.format("%Y-%m-%d")) } }
                } }
            }
        }
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

pub async fn tenant(State(state): State<App>, p: AdminPage, PathId(id): PathId) -> PageResult {
    let d = tenants::detail(&state.store, TenantId(id), state.clock.now()).await?;
    let mut e = crate::error::FieldErrors::default();
    let first_page = crate::pagination::PageParams {
        limit: Some("20".into()),
        cursor: None,
    }
    .parse(&mut e);
    let log = tenants::audit_log(&state.store, TenantId(id), first_page)
        .await?
        .items;
    let plans: Vec<(String, String)> = crate::domain::PlanCode::ALL
        .iter()
        .map(|p| (p.as_str().to_owned(), p.as_str().to_owned()))
        .collect();
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
            @if let Some(b) = &d.billing {
                section.card {
                    h2 { "Stripe" }
                    dl.details {
                        @if let Some(c) = &b.customer_id { dt { "Customer" } dd { a href=(format!("https://dashboard.stripe.com/customers/{c}")) rel="noopener" { code { (c) } } } }
                        @if let Some(s) = &b.subscription_id { dt { "Subscription" } dd { a href=(format!("https://dashboard.stripe.com/subscriptions/{s}")) rel="noopener" { code { (s) } } } }
                        dt { "Status" } dd { (b.status.as_deref().unwrap_or("no subscription yet")) }
                        @if let Some(i) = b.interval { dt { "Billed" } dd { (i.as_str()) } }
                        @if let Some(since) = b.past_due_since { dt { "Past due since" } dd { (since.format("%Y-%m-%d %H:%M UTC")) } }
                    }
                }
            }
        }
        @if t.status != TenantStatus::Cancelled {
            div.columns {
                section.card {
                    h2 { "Change plan" }
                    form method="post" action=(format!("/admin/tenants/{id}/plan")) {
                        (p.ctx.csrf_field())
                        (select("plan", "Plan", &plans, sub.plan.as_str(), &Errors::new()))
                        div.field { label { input type="checkbox" name="force" value="true"; " Even if it has more active users than the new plan allows" } }
                        button type="submit" { "Change plan" }
                    }
                }
                section.card {
                    h2 { "Delete" }
                    p.muted { "Its users are refused at once; the data is purged after the retention period." }
                    form method="post" action=(format!("/admin/tenants/{id}/delete"))
                        data-confirm=(format!("Delete {} and purge its data later? This cannot be undone.", t.name)) {
                        (p.ctx.csrf_field())
                        div.field { label { input type="checkbox" name="confirm" value=(t.slug) required; " Yes, delete " strong { (t.slug) } } }
                        button.danger type="submit" { "Delete tenant" }
                    }
                }
            }
        }
        section.card {
            h2 { "Audit log" }
            (audit_table(&log))
        }
        p { a href="/admin" { "« All tenants" } }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&t.name, &p.ctx, Nav::Admin, body),
    ))
}

fn audit_table(entries: &[crate::audit::AuditEntry]) -> Markup {
    html! {
        @if entries.is_empty() { p.muted { "Nothing recorded yet." } }
        @else {
            div.table-wrap {
                table.list {
                    thead { tr { th { "When" } th { "Who" } th { "What" } th { "From" } } }
                    tbody {
                        @for a in entries {
                            tr {
                                td { (a.created_at.format("%Y-%m-%d %H:%M UTC")) }
                                td { (a.actor_name.as_deref().unwrap_or(&a.actor_type)) }
                                td { code { (a.action) } }
                                td { (a.client_addr.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn change_plan(
    State(state): State<App>,
    PathId(id): PathId,
    f: AdminForm<HashMap<String, String>>,
) -> PageResult {
    let actor = f.page.admin.actor();
    let mut e = crate::error::FieldErrors::default();
    let plan = f.form.get("plan").and_then(|p| {
        e.check(
            "plan",
            p.parse::<crate::domain::PlanCode>()
                .map_err(|_| "is not a plan"),
        )
    });
    e.finish()?;
    let input = tenants::AdminUpdateTenant {
        plan,
        force: Some(f.form.get("force").map(String::as_str) == Some("true")),
        ..Default::default()
    };
    tenants::update(
        &state,
        TenantId(id),
        input,
        state.licensing.ceiling().as_ref(),
        &actor,
        state.clock.now(),
    )
    .await?;
    Ok(see_other(&format!("/admin/tenants/{id}")))
}

pub async fn delete(
    State(state): State<App>,
    PathId(id): PathId,
    f: AdminForm<HashMap<String, String>>,
) -> PageResult {
    let actor = f.page.admin.actor();
    let d = tenants::detail(&state.store, TenantId(id), state.clock.now()).await?;
    if f.form.get("confirm") != Some(&d.tenant.slug) {
        return Err(
            ApiError::field("confirm", "tick the box naming the tenant to delete it").into(),
        );
    }
    let retention = chrono::Duration::days(i64::from(state.config.purge_after_days));
    tenants::delete(
        &state.store,
        TenantId(id),
        false,
        retention,
        &actor,
        state.clock.now(),
    )
    .await?;
    Ok(see_other(&format!("/admin/tenants/{id}")))
}

// ---------------------------------------------------------------------------
// Licences.

#[derive(Debug, Default, Deserialize)]
pub struct LicenseQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn licenses_page(
    ctx: &Ctx,
    list: &crate::pagination::Page<crate::licensing::vendor::LicenseSummary>,
    issued: Option<&crate::licensing::vendor::Issued>,
    errors: &Errors,
) -> Markup {
    let types: Vec<(String, String)> = ["starter", "professional", "enterprise"]
        .iter()
        .map(|t| (t.to_string(), t.to_string()))
        .collect();
    page(
        "Licences",
        ctx,
        Nav::Licenses,
        html! {
            h1 { "Licences" }
            @if let Some(i) = issued {
                section.card.issued role="status" {
                    h2 { "Licence issued — copy it now" }
                    p.muted { "The full key and certificate are shown this once; the list shows the key masked." }
                    dl.details {
                        dt { "Key" } dd { code #license-key { (i.license_key) } }
                        dt { "Type" } dd { (i.license_type) }
                        dt { "Users" } dd { (i.max_users.map(|m| m.to_string()).unwrap_or_else(|| "unlimited".into())) }
                        dt { "Expires" } dd { (i.expires_at.map(|e| e.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into())) }
                        dt { "Installation" } dd { (i.fingerprint.as_deref().unwrap_or("the first to claim the key online")) }
                    }
                    @if let Some(certificate) = &i.certificate {
                        label for="certificate" { "Certificate (for offline activation of that installation)" }
                        textarea #certificate readonly rows="4" { (certificate) }
                    }
                }
            }
            section.card.narrow {
                h2 { "Generate a licence" }
                (form_alert(errors, &["license_type", "max_users", "expires_in_days", "issued_to", "fingerprint"]))
                form method="post" action="/admin/licenses" {
                    (ctx.csrf_field())
                    (select("license_type", "Type", &types, "enterprise", errors))
                    (Field::new("issued_to", "Issued to", "").auto("organization").render(errors))
                    (Field::new("max_users", "Users", "").auto("off").hint("Empty: the plan's limit.").render(errors))
                    (Field::new("expires_in_days", "Valid for (days)", "").auto("off").hint("Empty: perpetual.").render(errors))
                    (Field::new("fingerprint", "Installation fingerprint", "").auto("off").hint("For offline activation: what `trasealla license request` printed on the customer's server. Empty: the installation claims the key online.").render(errors))
                    button type="submit" { "Generate" }
                }
            }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Key" } th { "Type" } th { "Issued to" } th { "Status" } th { "Expires" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for l in &list.items {
                            tr {
                                td { code { (l.license_key) } }
                                td { (l.license_type) }
                                td { (l.issued_to.as_deref().unwrap_or("")) }
                                td { span class=(format!("badge status-{}", l.status)) { (l.status) } }
                                td { (l.expires_at.map(|e| e.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into())) }
                                td {
                                    @if l.revoked_at.is_none() {
                                        form.inline method="post" action=(format!("/admin/licenses/{}/revoke", l.id)) data-confirm="Revoke this licence? Its installation stops accepting changes." {
                                            (ctx.csrf_field())
                                            button.small.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                        @if list.items.is_empty() { tr { td colspan="6" .muted { "No licences yet." } } }
                    }
                }
            }
            nav.pager { @if let Some(c) = &list.next_cursor { a rel="next" href=(format!("/admin/licenses?cursor={c}")) { "Next page »" } } }
        },
    )
}

async fn license_list(
    state: &App,
    cursor: Option<String>,
) -> Result<crate::pagination::Page<crate::licensing::vendor::LicenseSummary>, ApiError> {
    let mut e = crate::error::FieldErrors::default();
    let page_req = crate::pagination::PageParams {
        limit: Some("50".into()),
        cursor,
    }
    .parse(&mut e);
    e.finish()?;
    crate::licensing::vendor::list(&state.store, None, page_req, state.clock.now()).await
}

pub async fn licenses(
    State(state): State<App>,
    p: AdminPage,
    Query(q): Query<LicenseQuery>,
) -> PageResult {
    let _ = q.status;
    let list = license_list(&state, q.cursor).await?;
    Ok(layout::respond(
        StatusCode::OK,
        licenses_page(&p.ctx, &list, None, &Errors::new()),
    ))
}

pub async fn generate_license(
    State(state): State<App>,
    f: AdminForm<HashMap<String, String>>,
) -> PageResult {
    let actor = f.page.admin.actor();
    let form = &f.form;
    let mut e = crate::error::FieldErrors::default();
    let number = |e: &mut crate::error::FieldErrors, k: &str| {
        form.get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .and_then(|v| e.check(k, v.parse::<i64>().map_err(|_| "must be a whole number")))
    };
    let max_users = number(&mut e, "max_users");
    let expires_in_days = number(&mut e, "expires_in_days");
    let result = async {
        e.finish()?;
        let signing = crate::licensing::vendor::signing_key(state.licensing.signing.as_ref())?;
        let req = crate::licensing::vendor::GenerateRequest {
            license_type: form.get("license_type").cloned(),
            max_users: max_users.map(Some),
            expires_in_days,
            issued_to: form
                .get("issued_to")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            features: None,
            fingerprint: form.get("fingerprint").map(|v| v.trim().to_owned()),
        };
        crate::licensing::vendor::generate(&state.store, signing, req, &actor, state.clock.now())
            .await
    }
    .await;
    let list = license_list(&state, None).await?;
    match result {
        Ok(issued) => Ok(layout::respond(
            StatusCode::CREATED,
            licenses_page(&f.page.ctx, &list, Some(&issued), &Errors::new()),
        )),
        Err(e) if layout::is_form_error(&e) || e.code == ErrorCode::Unavailable => {
            Ok(layout::respond(
                e.code.status(),
                licenses_page(&f.page.ctx, &list, None, &field_errors(&e)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_license(
    State(state): State<App>,
    PathId(id): PathId,
    f: AdminForm<Empty>,
) -> PageResult {
    let actor = f.page.admin.actor();
    crate::licensing::vendor::revoke(&state.store, id, &actor, state.clock.now()).await?;
    Ok(see_other("/admin/licenses"))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    reason: Option<String>,
}

pub async fn suspend(
    State(state): State<App>,
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
    State(state): State<App>,
    PathId(id): PathId,
    f: AdminForm<Empty>,
) -> PageResult {
    let actor = f.page.admin.actor();
    tenants::activate(&state.store, TenantId(id), &actor, state.clock.now()).await?;
    Ok(see_other(&format!("/admin/tenants/{id}")))
}

// ---------------------------------------------------------------------------
// Jobs and messages.

#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    /// Which messages: `problems` (not sent or dead, the default), one
    /// status, or `all`.
    messages: Option<String>,
}

/// The message filters the jobs page links to: (value, label).
const MESSAGE_FILTERS: &[(&str, &str)] = &[
    ("problems", "Not sent or dead"),
    ("dead", "Dead"),
    ("not_sent", "Not sent"),
    ("retrying", "Retrying"),
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("all", "All"),
];

fn tenant_link(id: Option<uuid::Uuid>) -> Markup {
    html! {
        @match id {
            Some(id) => a href=(format!("/admin/tenants/{id}")) { code { (id.to_string()[..8]) "…" } },
            None => span.muted { "platform" },
        }
    }
}

/// The queue at a glance, the jobs that failed or died (dead ones can be
/// retried), and the messages that did not go out.
pub async fn jobs(
    State(state): State<App>,
    p: AdminPage,
    Query(q): Query<JobsQuery>,
) -> PageResult {
    use crate::mail::{all_messages, STATUSES};
    let filter = q
        .messages
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "problems".to_owned());
    if !MESSAGE_FILTERS.iter().any(|(v, _)| *v == filter) {
        return Err(
            ApiError::field("messages", "must be problems, all, or a message status").into(),
        );
    }
    let now = state.clock.now();
    let stats = crate::jobs::admin::stats(&state.store, now).await?;
    let problems =
        crate::jobs::admin::list(&state.store, crate::jobs::admin::Filter::Problems, 100).await?;
    let mut messages = match filter.as_str() {
        "all" => all_messages(&state.store, None, 200).await?,
        "problems" => {
            let mut both = all_messages(&state.store, Some("not_sent"), 200).await?;
            both.extend(all_messages(&state.store, Some("dead"), 200).await?);
            both
        }
        s if STATUSES.contains(&s) => all_messages(&state.store, Some(s), 200).await?,
        _ => Vec::new(),
    };
    messages.sort_by(|a, b| {
        (b.message.created_at, b.message.id).cmp(&(a.message.created_at, a.message.id))
    });
    messages.truncate(200);
    let max_attempts = i64::from(state.config.job_max_attempts);
    let ctx = &p.ctx;
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let body = html! {
        h1 { "Jobs" }
        section.card {
            h2 { "The queue" }
            dl.details.queue-stats {
                dt { "Queued" } dd { (stats.queued) }
                dt { "Due now" } dd { (stats.due) }
                dt { "Running" } dd { (stats.running) }
                dt { "Retrying" } dd { (stats.retrying) }
                dt { "Dead" } dd { (stats.dead) }
                dt { "Done in the last day" } dd { (stats.done_last_day) }
                dt { "Oldest due" } dd { (stats.oldest_due_at.as_ref().map(when).unwrap_or_else(|| "—".into())) }
            }
        }
        h2 { "Failed and dead jobs" }
        div.table-wrap {
            table.list.jobs {
                thead { tr { th { "Kind" } th { "Tenant" } th { "State" } th { "Attempts" } th { "Last error" } th { "When" } th { span.sr-only { "Actions" } } } }
                tbody {
                    @for j in &problems {
                        @let dead = j.state == "dead";
                        tr {
                            td { code { (j.kind) } }
                            td { (tenant_link(j.tenant_id)) }
                            td { span class=(format!("badge status-{}", if dead { "dead" } else { "retrying" })) { (if dead { "dead" } else { "retrying" }) } }
                            td { (j.attempts) " of " (j.max_attempts.unwrap_or(max_attempts)) }
                            td.error-text { (j.last_error.as_deref().unwrap_or("")) }
                            td {
                                @if dead { (j.finished_at.as_ref().map(when).unwrap_or_default()) }
                                @else { "next try " (when(&j.run_at)) }
                            }
                            td {
                                @if dead {
                                    form.inline method="post" action=(format!("/admin/jobs/{}/retry", j.id)) {
                                        (ctx.csrf_field())
                                        button.small type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                    @if problems.is_empty() { tr { td colspan="7" .muted { "No job has failed." } } }
                }
            }
        }
        h2 #messages { "Messages" }
        nav.tabs aria-label="Messages by status" {
            @for (value, label) in MESSAGE_FILTERS {
                a href=(format!("/admin/jobs?messages={value}#messages")) aria-current=[(*value == filter).then_some("page")] { (label) }
                " "
            }
        }
        div.table-wrap {
            table.list.messages {
                thead { tr { th { "When" } th { "Tenant" } th { "To" } th { "Subject" } th { "Kind" } th { "Status" } } }
                tbody {
                    @for m in &messages {
                        tr {
                            td { (when(&m.message.created_at)) }
                            td { (tenant_link(Some(m.tenant_id))) }
                            td { (m.message.recipient) }
                            td { (m.message.subject) }
                            td { (m.message.kind.replace('_', " ")) }
                            td {
                                span class=(format!("badge status-{}", m.message.status)) { (m.message.status.replace('_', " ")) }
                                @if let Some(error) = &m.message.error { br; span.muted.small { (error) } }
                            }
                        }
                    }
                    @if messages.is_empty() { tr { td colspan="6" .muted { "No message here." } } }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Jobs", ctx, Nav::Jobs, body),
    ))
}

pub async fn retry_job(
    State(state): State<App>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: AdminForm<Empty>,
) -> PageResult {
    let actor = f.page.admin.actor();
    crate::jobs::admin::retry(&state.store, &actor, id, state.clock.now()).await?;
    Ok(super::see_other_with(
        &state,
        &headers,
        "/admin/jobs",
        super::Flash::JobRetried,
    ))
}

// ---------------------------------------------------------------------------
// Usage.

/// Every tenant's usage, sortable by each column; the same rows as CSV.
pub async fn usage(
    State(state): State<App>,
    p: AdminPage,
    Query(q): Query<crate::web::api::platform::UsageQuery>,
) -> PageResult {
    use crate::platform::usage::{self, Sort};
    let AdminPage { ctx, .. } = &p;
    let (sort, desc) = usage::parse_sort(q.sort.as_deref(), q.order.as_deref())?;
    let rows = crate::web::api::platform::usage_rows(&state, q).await?;
    let (start, end) = crate::usage::period(state.clock.now());
    let order = |desc: bool| if desc { "desc" } else { "asc" };
    // A column's link: the other order when it is the current sort.
    let head = |by: Sort, label: &str| {
        let next = if by == sort { !desc } else { by.default_desc() };
        let arrow = match (by == sort, desc) {
            (false, _) => "",
            (true, true) => " ↓",
            (true, false) => " ↑",
        };
        html! {
            th aria-sort=[(by == sort).then_some(if desc { "descending" } else { "ascending" })] {
                a href=(format!("/admin/usage?sort={}&order={}", by.as_str(), order(next))) { (label) (arrow) }
            }
        }
    };
    let body = html! {
        h1 { "Usage" }
        p.muted {
            "API calls from " (start.format("%-d %B %Y")) " to " ((end - chrono::Duration::days(1)).format("%-d %B %Y"))
            " (UTC); storage as last measured. "
            a href=(format!("/admin/usage.csv?sort={}&order={}", sort.as_str(), order(desc))) download { "Download CSV" }
        }
        div.table-wrap {
            table.list.usage-table {
                thead { tr {
                    (head(Sort::Name, "Company"))
                    th { "Plan" }
                    (head(Sort::Users, "Users"))
                    (head(Sort::Records, "Records"))
                    (head(Sort::StorageBytes, "Storage"))
                    (head(Sort::ApiCalls, "API calls"))
                } }
                tbody {
                    @for t in &rows {
                        tr {
                            td { a href=(format!("/admin/tenants/{}", t.id)) { (t.name) } br; span.muted.small { code { (t.slug) } } }
                            td { (t.plan.as_str()) }
                            td { (t.users) }
                            td { (t.records) }
                            td { @if let Some(b) = t.storage_bytes { (layout::bytes(b)) } @else { span.muted { "not measured" } } }
                            td { (t.api_calls) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="6" .muted { "No tenant yet." } } }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Usage", ctx, Nav::Usage, body),
    ))
}

/// `/admin/usage.csv`: the usage table as a download.
pub async fn usage_csv(
    State(state): State<App>,
    _p: AdminPage,
    Query(q): Query<crate::web::api::platform::UsageQuery>,
) -> PageResult {
    let rows = crate::web::api::platform::usage_rows(&state, q).await?;
    Ok(crate::web::api::platform::usage_csv_response(&rows))
}
