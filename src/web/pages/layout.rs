//! The frame every page shares (header, navigation, trial banner), the
//! error pages, and form fields that show the API's validation messages.

use super::assets;
pub use super::format::Locale;
use crate::app::App;
use crate::auth::TenantSession;
use crate::domain::{Role, TenantStatus};
use crate::error::{ApiError, ErrorCode};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What the frame of a page needs to know of its viewer.
pub struct Ctx {
    /// The session's anti-forgery token, for forms.
    pub csrf: String,
    /// The zone times are shown and read in: the user's own, else the
    /// tenant's (UTC for admins).
    pub tz: chrono_tz::Tz,
    /// How dates and numbers are written for this viewer.
    pub locale: Locale,
    /// When the page is made (relative times count from it).
    pub now: chrono::DateTime<chrono::Utc>,
    pub user: Option<UserChrome>,
    pub admin: Option<String>,
    /// The one-time notice of what the last form did.
    pub flash: Option<Flash>,
}

/// A one-time notice after a form, carried to the next page by a cookie
/// that names it (so no page shows text a link could make up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flash {
    VerificationSent,
    PasswordChanged,
    InvitationSent,
    InvitationResent,
    InvitationRevoked,
    JobRetried,
    PlanChanged,
    LeadConverted,
}

impl Flash {
    const ALL: [Flash; 8] = [
        Flash::LeadConverted,
        Flash::VerificationSent,
        Flash::PasswordChanged,
        Flash::InvitationSent,
        Flash::InvitationResent,
        Flash::InvitationRevoked,
        Flash::JobRetried,
        Flash::PlanChanged,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Flash::VerificationSent => "verification-sent",
            Flash::PasswordChanged => "password-changed",
            Flash::InvitationSent => "invitation-sent",
            Flash::InvitationResent => "invitation-resent",
            Flash::InvitationRevoked => "invitation-revoked",
            Flash::JobRetried => "job-retried",
            Flash::PlanChanged => "plan-changed",
            Flash::LeadConverted => "lead-converted",
        }
    }

    pub fn parse(code: &str) -> Option<Flash> {
        Flash::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn text(self) -> &'static str {
        match self {
            Flash::VerificationSent => {
                "A new confirmation link is on its way; earlier links no longer work."
            }
            Flash::PasswordChanged => "Your password is changed. Sign in with it.",
            Flash::InvitationSent => "The invitation is on its way.",
            Flash::InvitationResent => {
                "A new invitation link is on its way; the earlier one no longer works."
            }
            Flash::InvitationRevoked => "The invitation is revoked: its link no longer works.",
            Flash::JobRetried => "The job is queued again.",
            Flash::PlanChanged => {
                "The plan is changed; the difference is prorated on the next invoice."
            }
            Flash::LeadConverted => {
                "The lead is converted: here is the new contact, with the lead's history and its deal below."
            }
        }
    }
}

pub struct UserChrome {
    pub username: String,
    pub role: Role,
    pub tenant_name: String,
    pub status: TenantStatus,
    /// The tenant's logo and colour, when its plan has custom branding.
    pub logo_url: Option<String>,
    pub brand_color: Option<String>,
    /// Whole days left, while in a trial that has not ended.
    pub trial_days_left: Option<i64>,
    pub trial_expired: bool,
    /// Their address, while they have not confirmed it.
    pub unconfirmed_email: Option<String>,
    /// A payment problem every user is told of.
    pub payment: Option<crate::billing::Standing>,
}

impl Ctx {
    pub fn anonymous() -> Ctx {
        Ctx {
            csrf: String::new(),
            tz: chrono_tz::UTC,
            locale: Locale::DEFAULT,
            now: chrono::Utc::now(),
            user: None,
            admin: None,
            flash: None,
        }
    }

    /// This context, with a notice to show.
    pub fn with_flash(self, flash: Option<Flash>) -> Ctx {
        Ctx { flash, ..self }
    }

    pub fn for_user(state: &App, s: &TenantSession) -> Ctx {
        let now = state.clock.now();
        let trial = s.tenant.status == TenantStatus::Trial;
        let left = s
            .tenant
            .trial_ends_at
            .filter(|_| trial)
            .map(|end| (end - now).num_seconds());
        Ctx {
            csrf: state.tokens.csrf_token(s.sid.unwrap_or_default()),
            tz: s
                .tenant
                .timezone
                .as_deref()
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC),
            locale: s
                .tenant
                .locale
                .as_deref()
                .and_then(Locale::parse)
                .unwrap_or(Locale::DEFAULT),
            now,
            user: Some(UserChrome {
                username: s.user.username.clone(),
                role: s.user.role,
                tenant_name: s.tenant.name.clone(),
                status: s.tenant.status,
                logo_url: s
                    .tenant
                    .logo_url
                    .clone()
                    .filter(|_| s.tenant.has_feature("custom_branding")),
                brand_color: s
                    .tenant
                    .brand_color
                    .clone()
                    .filter(|c| is_color(c) && s.tenant.has_feature("custom_branding")),
                // A part-day counts as a day: "1 day left" until it is over.
                trial_days_left: left.filter(|l| *l > 0).map(|l| (l + 86_399) / 86_400),
                trial_expired: left.is_some_and(|l| l <= 0),
                unconfirmed_email: (!s.user.email_verified).then(|| s.user.email.clone()),
                payment: crate::billing::Standing::of(
                    s.tenant.billing_status.as_deref(),
                    s.tenant.past_due_since,
                    state.config.billing_grace_days,
                    now,
                ),
            }),
            admin: None,
            flash: None,
        }
    }

    pub fn for_admin(state: &App, username: &str, sid: Uuid) -> Ctx {
        Ctx {
            csrf: state.tokens.csrf_token(sid),
            tz: chrono_tz::UTC,
            locale: Locale::DEFAULT,
            now: state.clock.now(),
            user: None,
            admin: Some(username.to_owned()),
            flash: None,
        }
    }

    /// A time as this viewer reads it: in the tenant's zone.
    pub fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// A time as a `<time>` element: relative where it helps, the exact
    /// time on hover.
    pub fn time(&self, t: &chrono::DateTime<chrono::Utc>) -> Markup {
        super::format::time(t, &self.now, self.tz, self.locale)
    }

    /// Money with its currency's symbol and this viewer's grouping.
    pub fn money(&self, minor: i64, currency: &str) -> String {
        self.locale.money(minor, currency)
    }

    /// A day in this viewer's words: "5 March 2026".
    pub fn date(&self, d: chrono::NaiveDate) -> String {
        self.locale.date(d, true)
    }

    /// The day `t` falls on, in the viewer's zone.
    pub fn day_of(&self, t: &chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Midnight starting `day` in the viewer's zone.
    pub fn midnight(&self, day: chrono::NaiveDate) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::TimeZone;
        let local = day.and_hms_opt(0, 0, 0)?;
        Some(
            self.tz
                .from_local_datetime(&local)
                .earliest()?
                .with_timezone(&chrono::Utc),
        )
    }

    /// A browser's `datetime-local` value, read in the viewer's zone.
    pub fn parse_local(&self, d: &str) -> Result<chrono::DateTime<chrono::Utc>, &'static str> {
        use chrono::TimeZone;
        let naive = chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S"))
            .map_err(|_| "is not a date and time")?;
        self.tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or("does not exist in your time zone (a clock change)")
    }

    /// The hidden anti-forgery field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="_csrf" value=(self.csrf); }
    }
}

/// Which section of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Dashboard,
    Contacts,
    Companies,
    Leads,
    Deals,
    Activities,
    Products,
    Reports,
    Settings,
    Admin,
    Licenses,
    Jobs,
    Usage,
}

/// The tenant user's navigation.
const SECTIONS: &[(&str, &str, Nav)] = &[
    ("/dashboard", "Dashboard", Nav::Dashboard),
    ("/contacts", "Contacts", Nav::Contacts),
    ("/companies", "Companies", Nav::Companies),
    ("/leads", "Leads", Nav::Leads),
    ("/deals", "Deals", Nav::Deals),
    ("/activities", "Activities", Nav::Activities),
    ("/products", "Products", Nav::Products),
    ("/reports", "Reports", Nav::Reports),
];

/// A whole page: the frame around `body`.
pub fn page(title: &str, ctx: &Ctx, nav: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Trasealla CRM" }
                link rel="stylesheet" href=(assets::url("app.css"));
                link rel="icon" href=(assets::url("icon.svg")) type="image/svg+xml";
                script src=(assets::url("app.js")) defer {}
                @if let Some(color) = ctx.user.as_ref().and_then(|u| u.brand_color.as_deref()) {
                    style { (PreEscaped(format!(":root {{ --brand: {color}; --brand-dark: {color}; }}"))) }
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    @if let Some(u) = &ctx.user {
                        a.brand href="/dashboard" {
                            @if let Some(src) = &u.logo_url { img.tenant-logo src=(src) alt="" height="28"; } @else { (logo()) }
                            span { (u.tenant_name) }
                        }
                        nav aria-label="Main" {
                            @for (href, label, section) in SECTIONS {
                                a href=(href) aria-current=[(nav == *section).then_some("page")] { (label) }
                            }
                            @if u.role == Role::Admin {
                                a href="/settings" aria-current=[(nav == Nav::Settings).then_some("page")] { "Settings" }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            (ctx.csrf_field())
                            span.who { (u.username) " · " (u.role.as_str()) }
                            button.link type="submit" { "Log out" }
                            button.link type="submit" formaction="/logout-all" data-confirm="Sign out on every device, this one included?" { "Sign out everywhere" }
                        }
                    } @else if let Some(a) = &ctx.admin {
                        a.brand href="/admin" { (logo()) span { "Trasealla admin" } }
                        nav aria-label="Main" {
                            a href="/admin" aria-current=[(nav == Nav::Admin).then_some("page")] { "Tenants" }
                            a href="/admin/licenses" aria-current=[(nav == Nav::Licenses).then_some("page")] { "Licences" }
                            a href="/admin/jobs" aria-current=[(nav == Nav::Jobs).then_some("page")] { "Jobs" }
                            a href="/admin/usage" aria-current=[(nav == Nav::Usage).then_some("page")] { "Usage" }
                        }
                        form.logout method="post" action="/admin/logout" {
                            (ctx.csrf_field())
                            span.who { (a) }
                            button.link type="submit" { "Log out" }
                        }
                    } @else {
                        a.brand href="/" { (logo()) span { "Trasealla CRM" } }
                        nav aria-label="Main" {
                            a href="/login" { "Log in" }
                            a.button href="/register" { "Start Free Trial" }
                        }
                    }
                }
                @if let Some(u) = &ctx.user {
                    @if let Some(days) = u.trial_days_left {
                        div.banner.trial role="status" {
                            strong { (days) " " (if days == 1 { "day" } else { "days" }) " left in trial" }
                            " — everything is unlocked while you try it. "
                            a href="/upgrade" { "Upgrade" }
                        }
                    }
                    @if u.trial_expired {
                        div.banner.expired role="alert" {
                            strong { "Your trial has ended." }
                            " Your data is safe and readable; choose a plan to keep making changes. "
                            a href="/upgrade" { "Choose a plan" }
                        }
                    }
                    @if let Some(standing) = u.payment {
                        @let admin = u.role == Role::Admin;
                        @match standing {
                            crate::billing::Standing::PastDue { writes_stop } => {
                                div.banner.expired role="alert" {
                                    strong { "A payment failed." }
                                    " Changes stay possible until " (ctx.when(&writes_stop)) "; after that the account is read-only until it is paid. "
                                    @if admin { a href="/settings/subscription" { "Update billing" } } @else { "Your admins have been told." }
                                }
                            }
                            crate::billing::Standing::PaymentRequired => {
                                div.banner.expired role="alert" {
                                    strong { "A payment is overdue." }
                                    " Your data is safe and readable; changes are paused until it is paid. "
                                    @if admin { a href="/settings/subscription" { "Update billing" } } @else { "Your admins have been told." }
                                }
                            }
                            crate::billing::Standing::Inactive => {
                                div.banner.expired role="alert" {
                                    strong { "The subscription has ended." }
                                    " Your data is kept and readable; choose a plan to keep making changes. "
                                    a href="/upgrade" { "Choose a plan" }
                                }
                            }
                        }
                    }
                    @if let Some(email) = &u.unconfirmed_email {
                        div.banner.unconfirmed role="status" {
                            "Please confirm your e-mail address: we sent a link to " strong { (email) } ". "
                            form.inline method="post" action="/verify-email/resend" {
                                (ctx.csrf_field())
                                button.link type="submit" { "Send the link again" }
                            }
                        }
                    }
                }
                @if let Some(f) = ctx.flash {
                    div.banner.flash role="status" { (f.text()) }
                }
                main #main { (body) }
                footer { "Trasealla CRM" }
            }
        }
    }
}

fn logo() -> Markup {
    html! {
        svg.logo width="24" height="24" viewBox="0 0 24 24" aria-hidden="true" {
            path d="M4 6h16M12 6v14M7 12h10" stroke="currentColor" stroke-width="2.5" stroke-linecap="round" fill="none" {}
        }
    }
}

/// A rendered page with a status.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// An error as a page, in words for people.
pub fn error_page(e: &ApiError) -> Response {
    let (title, text, action): (&str, String, Option<(&str, &str)>) = match e.code {
        ErrorCode::TenantSuspended => (
            "This account is suspended",
            "Its data is kept, but nobody can sign in until it is reactivated. Contact support to resolve it.".into(),
            None,
        ),
        ErrorCode::TrialExpired => (
            "Your trial has ended",
            "Your data is safe and you can still read it. Choose a plan to keep making changes.".into(),
            Some(("/upgrade", "Choose a plan")),
        ),
        ErrorCode::PaymentRequired => (
            "A payment is overdue",
            "Your data is safe and readable; changes are paused until the payment goes through. An admin can update the card in the subscription settings.".into(),
            Some(("/settings/subscription", "Open billing")),
        ),
        ErrorCode::SubscriptionInactive => (
            "The subscription has ended",
            "Your data is kept and readable; choose a plan to keep making changes.".into(),
            Some(("/upgrade", "Choose a plan")),
        ),
        ErrorCode::BillingNotConfigured => (
            "Online payment is not available",
            "Contact sales to change your plan; they switch it for you.".into(),
            None,
        ),
        ErrorCode::PlanLimitReached | ErrorCode::FeatureNotInPlan => (
            "Your plan's limit is reached",
            e.message.clone(),
            Some(("/upgrade", "See the plans")),
        ),
        ErrorCode::LicenseExpired | ErrorCode::LicenseRevoked => {
            ("The licence is not valid", e.message.clone(), None)
        }
        ErrorCode::NotFound => (
            "Not found",
            "There is nothing here — it may have been deleted, or the link is wrong.".into(),
            Some(("/", "Go to the start page")),
        ),
        ErrorCode::Forbidden => ("Not allowed", e.message.clone(), None),
        ErrorCode::RateLimited => ("Too many attempts", e.message.clone(), None),
        ErrorCode::Internal | ErrorCode::Unavailable => (
            "Something went wrong",
            "The server could not finish this. Try again in a moment.".into(),
            None,
        ),
        _ => ("That did not work", e.message.clone(), None),
    };
    let markup = page(
        title,
        &Ctx::anonymous(),
        Nav::None,
        html! {
            section.card.narrow.error {
                h1 { (title) }
                p { (text) }
                @if let Some((href, label)) = action {
                    p { a.button href=(href) { (label) } }
                }
            }
        },
    );
    let mut response = respond(e.code.status(), markup);
    if let Some(secs) = e.retry_after {
        if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert("retry-after", v);
        }
    }
    response
}

/// Field messages of a validation error, by field name.
pub type Errors = BTreeMap<String, String>;

/// The per-field messages of `e`, or the message under `""`.
pub fn field_errors(e: &ApiError) -> Errors {
    let mut out = Errors::new();
    if let Some(fields) = e
        .details
        .as_ref()
        .and_then(|d| d.get("fields"))
        .and_then(|f| f.as_object())
    {
        for (k, v) in fields {
            out.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
    }
    if out.is_empty() {
        out.insert(String::new(), e.message.clone());
    }
    out
}

/// Whether `e` is for the person filling the form (shown beside it) rather
/// than a failure of the page.
pub fn is_form_error(e: &ApiError) -> bool {
    matches!(
        e.code,
        ErrorCode::ValidationFailed
            | ErrorCode::Conflict
            | ErrorCode::SlugTaken
            | ErrorCode::EmailTaken
            | ErrorCode::UsernameTaken
            | ErrorCode::InvalidCredentials
            | ErrorCode::TenantRequired
            | ErrorCode::BadRequest
    )
}

/// A form's service error: beside its fields when it is about the input,
/// else a failure page.
pub fn form_failure(e: ApiError, render: impl FnOnce(&Errors) -> Markup) -> super::PageResult {
    if is_form_error(&e) {
        Ok(respond(e.code.status(), render(&field_errors(&e))))
    } else {
        Err(super::PageError::Api(e))
    }
}

/// The messages not tied to a field shown here, above the form.
pub fn form_alert(errors: &Errors, fields: &[&str]) -> Markup {
    let general: Vec<&String> = errors
        .iter()
        .filter(|(k, _)| !fields.contains(&k.as_str()))
        .map(|(_, v)| v)
        .collect();
    html! {
        @if !general.is_empty() {
            div.alert role="alert" {
                @for m in general { p { (m) } }
            }
        }
    }
}

/// One labelled input with its error beside it.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub autocomplete: Option<&'a str>,
    pub required: bool,
    pub hint: Option<&'a str>,
}

impl<'a> Field<'a> {
    pub fn new(name: &'a str, label: &'a str, value: &'a str) -> Field<'a> {
        Field {
            name,
            label,
            kind: "text",
            value,
            autocomplete: None,
            required: false,
            hint: None,
        }
    }
    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }
    pub fn auto(mut self, autocomplete: &'a str) -> Self {
        self.autocomplete = Some(autocomplete);
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn render(&self, errors: &Errors) -> Markup {
        let id = format!("f-{}", self.name);
        let error = errors.get(self.name);
        let described = match (error.is_some(), self.hint.is_some()) {
            (true, _) => Some(format!("{id}-error")),
            (false, true) => Some(format!("{id}-hint")),
            _ => None,
        };
        html! {
            div.field.invalid[error.is_some()] {
                label for=(id) { (self.label) @if self.required { span.req aria-hidden="true" { " *" } } }
                input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                    autocomplete=[self.autocomplete] required[self.required]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
                @if let Some(m) = error {
                    p.error id=(format!("{id}-error")) { (m) }
                } @else if let Some(h) = self.hint {
                    p.hint id=(format!("{id}-hint")) { (h) }
                }
            }
        }
    }
}

/// The username and password fields of a login form, with the hints
/// password managers use.
pub fn credentials(username_label: &str, username: &str, errors: &Errors) -> Markup {
    html! {
        (Field::new("username", username_label, username).auto("username").required().render(errors))
        (Field::new("password", "Password", "").kind("password").auto("current-password").required().render(errors))
        button.big type="submit" { "Log in" }
    }
}

/// A labelled select with its error beside it.
pub fn select(
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    errors: &Errors,
) -> Markup {
    let id = format!("f-{name}");
    let error = errors.get(name);
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            @if let Some(m) = error { p.error { (m) } }
        }
    }
}

/// A horizontal bar per row (label, value, css class), drawn on the server
/// as SVG; the numbers are also in the table the page shows beside it.
pub fn bar_chart(title: &str, rows: &[(String, i64, &str)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let row = 28;
    let height = row * rows.len() as i64 + 4;
    html! {
        @if !rows.is_empty() {
            svg.chart viewBox=(format!("0 0 600 {height}")) role="img" aria-label=(title) {
                @for (i, (label, value, class)) in rows.iter().enumerate() {
                    @let y = i as i64 * row + 2;
                    @let w = 380 * value / max;
                    text x="0" y=(y + 18) class="label" { (label) }
                    rect x="150" y=(y + 4) width=(w.max(2)) height="18" rx="3" class=(format!("bar {class}")) {}
                    text x=(160 + w) y=(y + 18) class="value" { (value) }
                }
            }
        }
    }
}

/// A form field's text; blank is none.
pub fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A colour as `#rrggbb`, the only form put into a style rule.
pub fn is_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

pub use crate::domain::money;

/// A small inline script's data, safely embedded as JSON.
pub fn json_data(id: &str, value: &serde_json::Value) -> Markup {
    let text = value.to_string().replace("</", "<\\/");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}

/// A size in bytes for people: 512 B, 1.5 KiB, 2.0 GiB.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(money(123_456_789, "USD"), "1,234,567.89 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(-25_000, "GBP"), "-250.00 GBP");
    }
}
