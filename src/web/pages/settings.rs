//! Settings, for the tenant's admins: the company profile and time zone,
//! branding (on plans with custom branding), users and roles within the
//! plan's user limit, invitations, the subscription and plan catalogue,
//! usage against the plan, the messages sent, the audit log.

use super::layout::{
    self, field_errors, form_alert, form_failure, money, page, select, Errors, Field, Nav,
};
use super::{
    see_other, see_other_with, Ctx, Flash, PageResult, PendingForm, PendingPage, UserForm, UserPage,
};
use crate::app::App;
use crate::auth::password;
use crate::domain::{Password, Role, UserId};
use crate::error::{ApiError, ErrorCode, FieldErrors};
use crate::invitations::{self, InviteRequest};
use crate::pagination::PageParams;
use crate::staff::{self, CreateUserRequest, UpdateUserRequest};
use crate::tenancy::{self, TenantView, UpdateTenant};
use crate::web::extract::PathId;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

type Form = HashMap<String, String>;

const BRANDING: &str = "custom_branding";

pub(super) fn tabs(current: &str) -> Markup {
    html! {
        nav.tabs aria-label="Settings" {
            @for (href, label) in [("/settings", "Company"), ("/settings/users", "Users"), ("/settings/teams", "Teams"), ("/settings/roles", "Roles"), ("/settings/subscription", "Subscription"), ("/settings/usage", "Usage"), ("/settings/fields", "Custom fields"), ("/settings/messages", "Messages"), ("/settings/audit", "Audit log")] {
                a href=(href) aria-current=[(href == current).then_some("page")] { (label) }
            }
        }
    }
}

/// Common IANA zones offered while typing (any valid zone is accepted).
const ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Istanbul",
    "Africa/Cairo",
    "Africa/Lagos",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Mexico_City",
];

fn company_page(
    ctx: &Ctx,
    t: &TenantView,
    branding: bool,
    values: &Form,
    errors: &Errors,
) -> Markup {
    let v = |k: &str, fallback: &str| {
        values
            .get(k)
            .cloned()
            .unwrap_or_else(|| fallback.to_owned())
    };
    let color = t
        .settings
        .get("brand_color")
        .and_then(|c| c.as_str())
        .unwrap_or("");
    page(
        "Settings",
        ctx,
        Nav::Settings,
        html! {
            h1 { "Settings" }
            (tabs("/settings"))
            section.card.narrow {
                h2 { "Company profile" }
                (form_alert(errors, &["name", "phone", "industry", "timezone", "logo_url", "brand_color"]))
                form method="post" action="/settings" novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Company name", &v("name", &t.name)).auto("organization").required().render(errors))
                    (Field::new("phone", "Phone", &v("phone", t.phone.as_deref().unwrap_or(""))).kind("tel").auto("tel").render(errors))
                    (Field::new("industry", "Industry", &v("industry", t.industry.as_deref().unwrap_or(""))).auto("off").render(errors))
                    div.field.invalid[errors.contains_key("timezone")] {
                        label for="f-timezone" { "Time zone" }
                        input #f-timezone name="timezone" list="zones" value=(v("timezone", &t.timezone)) autocomplete="off";
                        datalist #zones { @for z in ZONES { option value=(z) {} } }
                        @if let Some(m) = errors.get("timezone") { p.error { (m) } } @else { p.hint { "An IANA name such as Europe/Paris." } }
                    }
                    h2 { "Branding" }
                    @if branding {
                        (Field::new("logo_url", "Logo address", &v("logo_url", t.logo_url.as_deref().unwrap_or(""))).kind("url").auto("off")
                            .hint("An https:// address of an image; shown in the header.").render(errors))
                        div.field.invalid[errors.contains_key("brand_color")] {
                            label for="f-brand_color" { "Primary colour" }
                            input #f-brand_color name="brand_color" type="color" value=(v("brand_color", if color.is_empty() { "#1d4ed8" } else { color }));
                            @if let Some(m) = errors.get("brand_color") { p.error { (m) } }
                        }
                    } @else {
                        p.muted { "Your logo and colour in the header come with the Enterprise plan. " a href="/settings/subscription" { "See the plans" } }
                    }
                    button type="submit" { "Save" }
                }
            }
        },
    )
}

pub async fn company(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let t = tenancy::current(&mut s.tx).await?;
    let branding = s.tenant.has_feature(BRANDING);
    Ok(layout::respond(
        StatusCode::OK,
        company_page(&ctx, &t, branding, &Form::new(), &Errors::new()),
    ))
}

pub async fn save_company(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    s.user.admin()?;
    let current = tenancy::current(&mut s.tx).await?;
    let branding = s.tenant.has_feature(BRANDING);
    let opt = |k: &str| {
        form.get(k)
            .map(|v| Some(v.trim().to_owned()).filter(|v| !v.is_empty()))
    };
    let mut input = UpdateTenant {
        name: form.get("name").cloned(),
        timezone: form.get("timezone").cloned(),
        phone: opt("phone"),
        industry: opt("industry"),
        ..Default::default()
    };
    let mut e = FieldErrors::default();
    if branding {
        input.logo_url = opt("logo_url");
        let mut settings = current.settings.clone();
        match form
            .get("brand_color")
            .map(|c| c.trim().to_ascii_lowercase())
        {
            Some(c) if layout::is_color(&c) => {
                if let Some(o) = settings.as_object_mut() {
                    o.insert("brand_color".into(), c.into());
                }
            }
            Some(_) => e.add("brand_color", "must be a colour like #1d4ed8"),
            None => {}
        }
        input.settings = Some(settings);
    }
    let result = match e.finish() {
        Ok(()) => {
            let admin = s.user.admin()?;
            tenancy::update_current(&mut s.tx, &admin, &s.tenant, input, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/settings")),
        Err(e) => form_failure(e, |errors| {
            company_page(&ctx, &current, branding, &form, errors)
        }),
    }
}

// ---------------------------------------------------------------------------
// Users.

/// What the two forms of the users page were sent, and their errors:
/// adding a user, and inviting one.
#[derive(Default)]
struct UserForms {
    add: Form,
    add_errors: Errors,
    invite: Form,
    invite_errors: Errors,
}

async fn users_page(
    state: &App,
    s: &mut super::TenantSession,
    ctx: &Ctx,
    forms: &UserForms,
    cursor: Option<String>,
) -> Result<Markup, ApiError> {
    let (values, errors) = (&forms.add, &forms.add_errors);
    let mut e = FieldErrors::default();
    let page_req = PageParams {
        limit: Some("50".into()),
        cursor,
    }
    .parse(&mut e);
    e.finish()?;
    let users = staff::list(&mut s.tx, page_req, None).await?;
    let seats = tenancy::seats(&mut s.tx).await?;
    let full = seats.max.is_some_and(|m| seats.current >= m);
    let roles: Vec<(String, String)> = Role::ALL
        .iter()
        .map(|r| (r.as_str().to_owned(), r.as_str().to_owned()))
        .collect();
    let custom = super::access::custom_roles(s).await?;
    let invited = invitations::list(&mut s.tx, state.clock.now()).await?;
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let invite_errors = &forms.invite_errors;
    Ok(page(
        "Users",
        ctx,
        Nav::Settings,
        html! {
            h1 { "Settings" }
            (tabs("/settings/users"))
            p.seats.alert[full] {
                strong { (seats.current) } " of " (seats.max.map(|m| m.to_string()).unwrap_or_else(|| "unlimited".into())) " users on your plan."
                @if full { " The limit is reached: " a href="/settings/subscription" { "upgrade for more" } "." }
            }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Name" } th { "E-mail" } th { "Role" } th { "Status" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for u in &users.items {
                            tr {
                                td { (u.full_name) @if u.is_owner { " " span.badge { "owner" } } br; span.muted.small { (u.username) } }
                                td { (u.email) }
                                td {
                                    @if u.is_owner { (u.role.as_str()) } @else {
                                        form.inline method="post" action=(format!("/settings/users/{}", u.id)) {
                                            (ctx.csrf_field())
                                            label.sr-only for=(format!("role-{}", u.id)) { "Role of " (u.full_name) }
                                            select id=(format!("role-{}", u.id)) name="role" {
                                                @for (value, text) in &roles { option value=(value) selected[value == u.role.as_str()] { (text) } }
                                            }
                                            @if !custom.is_empty() && super::access::takes_custom_role(u.role) {
                                                label.sr-only for=(format!("role-id-{}", u.id)) { "Record access of " (u.full_name) }
                                                select id=(format!("role-id-{}", u.id)) name="role_id" {
                                                    option value="" selected[u.role_id.is_none()] { "as " (u.role.as_str()) }
                                                    @for (value, text) in &custom { option value=(value) selected[u.role_id.map(|r| r.to_string()).as_deref() == Some(value.as_str())] { (text) } }
                                                }
                                            }
                                            button.small type="submit" { "Change" }
                                        }
                                    }
                                }
                                td { @if u.is_active { "active" } @else { span.muted { "deactivated" } } }
                                td {
                                    @if !u.is_owner {
                                        form.inline method="post" action=(format!("/settings/users/{}", u.id)) {
                                            (ctx.csrf_field())
                                            input type="hidden" name="is_active" value=(if u.is_active { "false" } else { "true" });
                                            button.small.secondary type="submit" { @if u.is_active { "Deactivate" } @else { "Activate" } }
                                        }
                                        form.inline method="post" action=(format!("/settings/users/{}/delete", u.id)) data-confirm=(format!("Delete {}?", u.full_name)) {
                                            (ctx.csrf_field())
                                            button.small.danger type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager { @if let Some(c) = &users.next_cursor { a rel="next" href=(format!("/settings/users?cursor={c}")) { "Next page »" } } }
            section.card.narrow {
                h2 { "Add a user" }
                (form_alert(errors, &["email", "full_name", "password", "role", "username"]))
                form method="post" action="/settings/users/new" novalidate {
                    (ctx.csrf_field())
                    (Field::new("full_name", "Name", &v("full_name")).auto("off").required().render(errors))
                    (Field::new("email", "E-mail", &v("email")).kind("email").auto("off").required().render(errors))
                    (Field::new("password", "Password", "").kind("password").auto("new-password").required()
                        .hint("At least 8 characters; they can change it later.").render(errors))
                    (select("role", "Role", &roles, values.get("role").map(String::as_str).unwrap_or("user"), errors))
                    button type="submit" { "Add user" }
                }
            }
            section.card.narrow #invite {
                h2 { "Invite a colleague" }
                p.muted { "They get a link by e-mail to choose their name and password. An open invitation holds a seat for 7 days." }
                (form_alert(invite_errors, &["invite_email", "invite_role"]))
                form method="post" action="/settings/invitations/new" novalidate {
                    (ctx.csrf_field())
                    (Field::new("invite_email", "Colleague's e-mail", forms.invite.get("invite_email").map(String::as_str).unwrap_or("")).kind("email").auto("off").required().render(invite_errors))
                    (select("invite_role", "Their role", &roles, forms.invite.get("invite_role").map(String::as_str).unwrap_or("user"), invite_errors))
                    button type="submit" { "Send the invitation" }
                }
            }
            h2 { "Invitations" }
            div.table-wrap {
                table.list.invitations {
                    thead { tr { th { "E-mail" } th { "Role" } th { "Status" } th { "Sent" } th { "Expires" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for i in &invited {
                            tr {
                                td { (i.email) }
                                td { (i.role.as_str()) }
                                td { span class=(format!("badge status-{}", i.status)) { (i.status) } }
                                td { (ctx.when(&i.sent_at)) }
                                td { (ctx.when(&i.expires_at)) }
                                td {
                                    @if matches!(i.status, "pending" | "expired") {
                                        form.inline method="post" action=(format!("/settings/invitations/{}/resend", i.id)) {
                                            (ctx.csrf_field())
                                            button.small.secondary type="submit" { "Resend" }
                                        }
                                        form.inline method="post" action=(format!("/settings/invitations/{}/revoke", i.id)) data-confirm=(format!("Revoke the invitation to {}? Its link stops working.", i.email)) {
                                            (ctx.csrf_field())
                                            button.small.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                        @if invited.is_empty() { tr { td colspan="6" .muted { "Nobody invited yet." } } }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

pub async fn users(
    State(state): State<App>,
    p: UserPage,
    Query(q): Query<CursorQuery>,
) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let markup = users_page(&state, &mut s, &ctx, &UserForms::default(), q.cursor).await?;
    Ok(layout::respond(StatusCode::OK, markup))
}

pub async fn add_user(State(state): State<App>, f: PendingForm<Form>) -> PageResult {
    // Only admins make users: refused before any password is hashed, so
    // a plain user cannot keep the hashing permits busy.
    f.token_says_admin()?;
    let form = &f.form;
    let request = CreateUserRequest {
        email: form.get("email").cloned(),
        full_name: form.get("full_name").cloned(),
        password: form
            .get("password")
            .filter(|p| !p.is_empty())
            .cloned()
            .map(Password::offered),
        role: form.get("role").and_then(|r| r.parse().ok()),
        username: None,
    };
    // Checked and hashed before the transaction begins.
    let checked = match request.validate() {
        Ok(input) => match password::hash(&input.password).await {
            Ok(hash) => Ok((input, hash)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (mut s, ctx, form) = f.begin(&state).await?;
    let admin = s.user.admin()?;
    let result = match checked {
        Ok((input, hash)) => staff::create(&mut s.tx, &admin, input, &hash, &state).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/settings/users")),
        Err(e)
            if layout::is_form_error(&e) || e.code == crate::error::ErrorCode::PlanLimitReached =>
        {
            let forms = UserForms {
                add: form,
                add_errors: field_errors(&e),
                ..Default::default()
            };
            let markup = users_page(&state, &mut s, &ctx, &forms, None).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Invitations.

pub async fn invite(State(state): State<App>, headers: HeaderMap, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let admin = s.user.admin()?;
    let request = InviteRequest {
        email: form.get("invite_email").cloned(),
        role: form.get("invite_role").and_then(|r| r.parse().ok()),
    };
    let result = match request.validate() {
        Ok((email, role)) => {
            invitations::invite(&mut s.tx, &state, &admin, email, role, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other_with(
            &state,
            &headers,
            "/settings/users",
            Flash::InvitationSent,
        )),
        Err(e) if layout::is_form_error(&e) || e.code == ErrorCode::PlanLimitReached => {
            // The service names its fields as the API does.
            let invite_errors = field_errors(&e)
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "email" | "role" => (format!("invite_{k}"), v),
                    _ => (k, v),
                })
                .collect();
            let forms = UserForms {
                invite: form,
                invite_errors,
                ..Default::default()
            };
            let markup = users_page(&state, &mut s, &ctx, &forms, None).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn resend_invitation(
    State(state): State<App>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let admin = s.user.admin()?;
    invitations::resend(&mut s.tx, &state, &admin, id, state.clock.now()).await?;
    Ok(see_other_with(
        &state,
        &headers,
        "/settings/users",
        Flash::InvitationResent,
    ))
}

pub async fn revoke_invitation(
    State(state): State<App>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let admin = s.user.admin()?;
    invitations::revoke(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(see_other_with(
        &state,
        &headers,
        "/settings/users",
        Flash::InvitationRevoked,
    ))
}

pub async fn change_user(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let admin = s.user.admin()?;
    let request = UpdateUserRequest {
        role: form.get("role").and_then(|r| r.parse().ok()),
        is_active: form.get("is_active").map(|v| v == "true"),
        role_id: match form.get("role_id").map(String::as_str) {
            None => None,
            Some("") => Some(None),
            Some(id) => {
                Some(Some(uuid::Uuid::parse_str(id).map_err(|_| {
                    ApiError::field("role_id", "must name a custom role")
                })?))
            }
        },
        ..Default::default()
    };
    let changes = request.validate()?;
    staff::update(
        &mut s.tx,
        &admin,
        UserId(id),
        changes,
        None,
        state.clock.now(),
    )
    .await?;
    Ok(see_other("/settings/users"))
}

pub async fn delete_user(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let admin = s.user.admin()?;
    staff::delete(&mut s.tx, &admin, UserId(id), state.clock.now()).await?;
    Ok(see_other("/settings/users"))
}

// ---------------------------------------------------------------------------
// Subscription and plans.

/// The plans for sale, each with a button per interval it is sold with:
/// Checkout for a tenant without a running subscription, a prorated change
/// for one with, nothing for non-admins or when billing is off.
fn plan_chooser(
    ctx: &Ctx,
    offers: &[crate::billing::PlanOffer],
    running: bool,
    admin: bool,
) -> Markup {
    use crate::billing::Interval;
    let action = if running {
        "/billing/change"
    } else {
        "/billing/checkout"
    };
    html! {
        div.plans {
            @for p in offers {
                section.card.plan.current[p.current] aria-labelledby=(format!("plan-{}", p.plan)) {
                    h2 id=(format!("plan-{}", p.plan)) { (p.name) @if p.current { " " span.badge { "your plan" } } }
                    p.big { (money(p.monthly_cents, &p.currency)) span.muted.small { " / month" } }
                    p.muted.small { "or " (money(p.yearly_cents, &p.currency)) " / year, paid yearly" }
                    p { @if let Some(n) = p.max_users { "Up to " (n) " users" } @else { "Unlimited users" } }
                    ul { @for f in &p.features { li { (f.title()) } } }
                    @if admin && !p.intervals.is_empty() {
                        @for interval in &p.intervals {
                            form method="post" action=(action) {
                                (ctx.csrf_field())
                                input type="hidden" name="plan" value=(p.plan.as_str());
                                input type="hidden" name="interval" value=(interval.as_str());
                                button type="submit" .secondary[*interval == Interval::Yearly] {
                                    @if running { "Switch to " (p.name) } @else { "Choose " (p.name) }
                                    @if *interval == Interval::Yearly { ", yearly" } @else { ", monthly" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if offers.iter().all(|p| p.intervals.is_empty()) {
            p.muted { "Online payment is not available here: contact sales and your account manager switches the plan for you." }
        } @else if !admin {
            p.muted { "An admin of your company can change the plan." }
        }
    }
}

/// The plan chooser: where the trial banner's "Upgrade" leads.
pub async fn upgrade(
    State(state): State<App>,
    p: UserPage,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let admin = s.user.role == Role::Admin;
    let sub = tenancy::subscription(&mut s.tx, state.clock.now()).await?;
    let running = s
        .tenant
        .billing_status
        .as_deref()
        .is_some_and(crate::billing::is_live);
    let offers = crate::billing::offers(state.billing.as_deref(), sub.plan);
    let body = html! {
        h1 { "Choose a plan" }
        @if q.get("checkout").map(String::as_str) == Some("cancelled") {
            p.notice role="status" { "Checkout was cancelled; nothing was charged." }
        }
        p { "You are on the " strong { (crate::plans::spec(sub.plan).name) } " plan. Prices are per company, not per user; yearly billing gives two months free." }
        (plan_chooser(&ctx, &offers, running, admin))
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Plans", &ctx, Nav::None, body),
    ))
}

/// A page that sends the browser on to Stripe (Checkout or the Billing
/// Portal). A redirect after a form would be refused by the pages'
/// form-action policy; a refresh is not, and the link works without it.
fn onward(ctx: &Ctx, url: &str, what: &str) -> Response {
    let body = html! {
        h1 { (what) }
        p { "Taking you to Stripe, our payment provider… " a href=(url) { "Continue" } }
    };
    let mut r = layout::respond(StatusCode::OK, page(what, ctx, Nav::None, body));
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("0; url={url}")) {
        r.headers_mut().insert("refresh", v);
    }
    r
}

/// The plan and interval a plan chooser's button posts.
fn choice_of(form: &Form) -> crate::billing::PlanChoice {
    crate::billing::PlanChoice {
        plan: form.get("plan").and_then(|p| p.parse().ok()),
        interval: form.get("interval").and_then(|i| i.parse().ok()),
    }
}

pub async fn checkout(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { s, ctx, form } = f;
    let r = crate::billing::checkout(&state, s, choice_of(&form)).await?;
    Ok(onward(&ctx, &r.url, "Secure payment"))
}

pub async fn portal(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { s, ctx, .. } = f;
    let r = crate::billing::portal(&state, s).await?;
    Ok(onward(&ctx, &r.url, "Billing"))
}

pub async fn change_plan(
    State(state): State<App>,
    headers: HeaderMap,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { s, form, .. } = f;
    crate::billing::change(&state, s, choice_of(&form)).await?;
    Ok(see_other_with(
        &state,
        &headers,
        "/settings/subscription",
        Flash::PlanChanged,
    ))
}

pub async fn subscription(
    State(state): State<App>,
    p: UserPage,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let sub = tenancy::subscription(&mut s.tx, state.clock.now()).await?;
    let billing = match state.billing {
        Some(_) => Some(crate::billing::view(&state, &mut s.tx).await?),
        None => None,
    };
    let running = billing
        .as_ref()
        .and_then(|b| b.status.as_deref())
        .is_some_and(crate::billing::is_live);
    let offers = crate::billing::offers(state.billing.as_deref(), sub.plan);
    let status = match billing.as_ref().and_then(|b| b.status.as_deref()) {
        Some(s) => s.replace('_', " "),
        None => sub.status.as_str().replace('_', " "),
    };
    let body = html! {
        h1 { "Settings" }
        (tabs("/settings/subscription"))
        @if q.get("checkout").map(String::as_str) == Some("success") {
            p.notice role="status" {
                "Thank you: the payment went through. "
                @if running { "Your plan is active." } @else { "Your plan changes as soon as Stripe confirms it, usually within seconds; reload this page if it has not yet." }
            }
        }
        section.card {
            h2 { "Your subscription" }
            dl.details {
                dt { "Plan" } dd data-plan=(sub.plan.as_str()) { (sub.plan_name) }
                dt { "Status" } dd { (status) }
                @if let Some(i) = billing.as_ref().and_then(|b| b.interval) { dt { "Billed" } dd { (i.as_str()) } }
                dt { "Users" } dd { (sub.current_users) " of " (sub.max_users.map(|m| m.to_string()).unwrap_or_else(|| "unlimited".into())) }
                @if let Some(days) = sub.days_left_in_trial { dt { "Trial" } dd { (days) " days left" } }
                @if sub.trial_expired { dt { "Trial" } dd { "ended: choose a plan to keep making changes" } }
                @if let Some(end) = sub.current_period_end {
                    @if billing.as_ref().is_some_and(|b| b.cancel_at_period_end) {
                        dt { "Ends" } dd { (ctx.when(&end)) " (cancelled: it will not renew)" }
                    } @else {
                        dt { "Current period ends" } dd { (ctx.when(&end)) }
                    }
                }
                @if let Some(card) = billing.as_ref().and_then(|b| b.card.as_ref()) {
                    dt { "Card" } dd { (card.brand) " ending " (card.last4) }
                }
                @if let Some(at) = billing.as_ref().and_then(|b| b.grace_ends_at) {
                    dt { "Payment due" } dd.alert { "changes stop on " (ctx.when(&at)) " unless it is paid" }
                }
            }
            @if billing.as_ref().is_some_and(|b| b.status.is_some()) {
                form method="post" action="/billing/portal" {
                    (ctx.csrf_field())
                    button type="submit" { "Manage billing" }
                    span.muted.small { " Card, invoices and cancellation, at Stripe." }
                }
            }
        }
        @if let Some(b) = &billing {
            @if !b.invoices.is_empty() {
                section.card {
                    h2 { "Invoices" }
                    div.table-wrap {
                        table.list {
                            thead { tr { th { "Number" } th { "Date" } th { "Amount" } th { "Status" } th { span.visually-hidden { "Link" } } } }
                            tbody {
                                @for i in &b.invoices {
                                    tr {
                                        td { (i.number.as_deref().unwrap_or(&i.id)) }
                                        td { (ctx.when(&i.created_at)) }
                                        td { (money(i.amount_due, &i.currency.to_uppercase())) }
                                        td { (i.status) }
                                        td { @if let Some(u) = &i.hosted_invoice_url { a href=(u) rel="noopener" { "View" } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Plans" }
        (plan_chooser(&ctx, &offers, running, true))
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Subscription", &ctx, Nav::Settings, body),
    ))
}

// ---------------------------------------------------------------------------
// Usage.

/// What the usage tab calls a metric, and the plan limit it is held to.
fn metric_label(metric: &str) -> (&'static str, Option<crate::plans::Limit>) {
    use crate::plans::Limit;
    match metric {
        "api_calls" => ("API calls this month", Some(Limit::ApiCallsPerMonth)),
        "records" => ("Records", Some(Limit::Records)),
        "users" => ("Users", Some(Limit::Users)),
        "storage_bytes" => ("Storage", Some(Limit::StorageBytes)),
        "imports" => ("Imports", None),
        "emails_sent" => ("E-mails sent", None),
        "workflow_runs" => ("Workflow runs", None),
        "webhook_deliveries" => ("Webhook deliveries", None),
        _ => ("Other", None),
    }
}

/// The cheapest plan above the tenant's that allows more than `used` of
/// `limit` (none when only an override would: an own limit lowered).
fn upgrade_for(
    current: crate::domain::PlanCode,
    limit: crate::plans::Limit,
    used: i64,
) -> Option<&'static crate::plans::PlanSpec> {
    let rank = |code| crate::plans::CATALOGUE.iter().position(|p| p.code == code);
    let code = crate::plans::cheapest_above(limit, used);
    (rank(code) > rank(current)).then(|| crate::plans::spec(code))
}

/// Usage this billing period against the plan: a bar per limited metric,
/// the other counts plain, and the plan that allows more near a limit.
pub async fn usage(State(state): State<App>, p: PendingPage) -> PageResult {
    // What this server counted goes in before the snapshot is taken.
    crate::usage::flush(&state).await?;
    let (mut s, ctx) = p.begin(&state).await?;
    s.user.admin()?;
    let now = state.clock.now();
    let report = crate::usage::report(&state, &mut s.tx, &s.tenant.entitlements, now).await?;
    let show = |metric: &str, n: i64| {
        if metric == "storage_bytes" {
            layout::bytes(n)
        } else {
            n.to_string()
        }
    };
    let current = s.tenant.entitlements.plan;
    let last_day = report.period.end - chrono::Duration::days(1);
    let body = html! {
        h1 { "Settings" }
        (tabs("/settings/usage"))
        p.muted {
            "This billing period: " (report.period.start.format("%-d %B")) " to " (last_day.format("%-d %B %Y"))
            " (UTC). API calls count again from " (report.period.end.format("%-d %B")) "."
        }
        section.card.usage {
            h2 { "Against your plan" }
            @for m in report.metrics.iter().filter(|m| metric_label(m.metric).1.is_some()) {
                @let (label, limit) = metric_label(m.metric);
                div.metric data-metric=(m.metric) {
                    @if let Some(max) = m.limit {
                        @let percent = if max > 0 { m.used.saturating_mul(100) / max } else { 100 };
                        p {
                            strong { (label) } ": " (show(m.metric, m.used)) " of " (show(m.metric, max))
                            " (" (percent) " %)"
                        }
                        meter min="0" max=(max) high=(max * 8 / 10) optimum="0" value=(m.used.min(max)) aria-label=(label) { (percent) " %" }
                        @if percent >= 80 {
                            @if let Some(limit) = limit {
                                @let plan = upgrade_for(current, limit, max.max(m.used));
                                p.seats.alert {
                                    @if m.used >= max { "The limit is reached. " } @else { "Close to the limit. " }
                                    @if let Some(plan) = plan {
                                        "The " (plan.name) " plan allows more: " a href="/settings/subscription" { "see the plans" } "."
                                    } @else {
                                        "Your account manager can raise it."
                                    }
                                }
                            }
                        }
                    } @else {
                        p { strong { (label) } ": " (show(m.metric, m.used)) " — unlimited" }
                    }
                }
            }
        }
        section.card {
            h2 { "Activity this period" }
            dl.details {
                @for m in report.metrics.iter().filter(|m| metric_label(m.metric).1.is_none()) {
                    dt { (metric_label(m.metric).0) } dd data-metric=(m.metric) { (m.used) }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Usage", &ctx, Nav::Settings, body),
    ))
}

// ---------------------------------------------------------------------------
// Messages.

/// The latest 200 messages sent to the company's users and invitees.
pub async fn messages(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let list = crate::mail::messages(&mut s.tx, 200).await?;
    let body = html! {
        h1 { "Settings" }
        (tabs("/settings/messages"))
        p.muted { "The latest 200 messages sent to your users and the people you invited." }
        div.table-wrap {
            table.list.messages {
                thead { tr { th { "When" } th { "To" } th { "Subject" } th { "Kind" } th { "Status" } } }
                tbody {
                    @for m in &list {
                        tr {
                            td { (ctx.when(m.sent_at.as_ref().unwrap_or(&m.created_at))) }
                            td { (m.recipient) }
                            td { (m.subject) }
                            td { (m.kind.replace('_', " ")) }
                            td {
                                span class=(format!("badge status-{}", m.status)) { (m.status.replace('_', " ")) }
                                @if m.status != "sent" { @if let Some(error) = &m.error { br; span.muted.small { (error) } } }
                            }
                        }
                    }
                    @if list.is_empty() { tr { td colspan="5" .muted { "No messages yet." } } }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Messages", &ctx, Nav::Settings, body),
    ))
}

// ---------------------------------------------------------------------------
// Audit log.

pub async fn audit(p: UserPage, Query(q): Query<CursorQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let admin = s.user.admin()?;
    let mut e = FieldErrors::default();
    let page_req = PageParams {
        limit: Some("50".into()),
        cursor: q.cursor,
    }
    .parse(&mut e);
    e.finish()?;
    let entries = crate::audit::own_log(&mut s.tx, &admin, page_req).await?;
    let body = html! {
        h1 { "Settings" }
        (tabs("/settings/audit"))
        div.table-wrap {
            table.list {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "Target" } th { "From" } } }
                tbody {
                    @for a in &entries.items {
                        tr {
                            td { (ctx.when(&a.created_at)) }
                            td { (a.actor_name.as_deref().unwrap_or(&a.actor_type)) }
                            td { code { (a.action) } }
                            td { (a.target_type.as_deref().unwrap_or("")) " " span.muted.small { (a.target_id.as_deref().unwrap_or("")) } }
                            td { (a.client_addr.as_deref().unwrap_or("")) }
                        }
                    }
                    @if entries.items.is_empty() { tr { td colspan="5" .muted { "Nothing recorded yet." } } }
                }
            }
        }
        nav.pager { @if let Some(c) = &entries.next_cursor { a rel="next" href=(format!("/settings/audit?cursor={c}")) { "Older »" } } }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Audit log", &ctx, Nav::Settings, body),
    ))
}
