//! The tenant's CRM pages: dashboard, contacts, the deal board, and the
//! plan catalogue. Each handler calls the service the JSON API calls.

use super::layout::{
    self, field_errors, form_alert, is_form_error, json_data, money, page, select, Errors, Field,
    Nav,
};
use super::{see_other, PageError, PageResult, UserForm, UserPage};
use crate::crm::activities::{self, ActivityFilter, ActivityInput, ActivityType, ActivityView};
use crate::crm::contacts::{self, ContactFilter, ContactInput, ContactView};
use crate::crm::deals::{self, DealFilter, DealInput, DealView};
use crate::crm::listing::ListRequest;
use crate::crm::notes::{self, NoteInput};
use crate::crm::pipelines::{self, PipelineView};
use crate::crm::reports;
use crate::crm::timeline::{self, RecordKind, TimelineEntry};
use crate::domain::StageKind;
use crate::error::{ApiError, FieldErrors};
use crate::store::{DbResult, FromRow, Row, Scoped};
use crate::web::api::crm::CrmListQuery;
use crate::web::extract::PathId;
use crate::web::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn full_name(first: &str, last: Option<&str>) -> String {
    match last {
        Some(l) if !l.is_empty() => format!("{first} {l}"),
        _ => first.to_owned(),
    }
}

/// Blank is none.
fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The default pipeline, else the first.
fn default_pipeline(all: &[PipelineView]) -> Option<&PipelineView> {
    all.iter().find(|p| p.is_default).or_else(|| all.first())
}

// ---------------------------------------------------------------------------
// Dashboard.

pub async fn dashboard(State(state): State<AppState>, p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let now = state.clock.now();
    let all = pipelines::list(&mut s.tx).await?;
    let pipeline = default_pipeline(&all).cloned();
    let report = match &pipeline {
        Some(p) => Some(reports::pipeline(&mut s.tx, Some(p.id)).await?),
        None => None,
    };
    let start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let mut e = FieldErrors::default();
    let req = ListRequest::parse_with_due(Some("20"), Some("due_at"), None, &mut e);
    e.finish()?;
    let today = activities::list(
        &mut s.tx,
        &ActivityFilter {
            from: Some(start),
            to: Some(start + Duration::days(1)),
            assigned_to: Some(s.user.id.0),
            ..Default::default()
        },
        &req,
    )
    .await?;
    let open_tasks = activities::list(
        &mut s.tx,
        &ActivityFilter {
            assigned_to: Some(s.user.id.0),
            done: Some(false),
            ..Default::default()
        },
        &req,
    )
    .await?;
    s.tx.commit().await?;

    let mut open_value: std::collections::BTreeMap<String, i64> = Default::default();
    let mut open_count = 0;
    for st in report.iter().flat_map(|r| &r.stages) {
        if st.kind == StageKind::Open {
            open_count += st.count;
            for m in &st.value {
                *open_value.entry(m.currency.clone()).or_default() += m.amount;
            }
        }
    }
    let body = html! {
        h1 { "Dashboard" }
        section.stats {
            div.card.stat {
                h2 { "Pipeline value" }
                @if open_value.is_empty() { p.big { "0.00" } }
                @for (cur, amount) in &open_value { p.big { (money(*amount, cur)) } }
                p.muted { "Open deals in " (pipeline.as_ref().map(|p| p.name.as_str()).unwrap_or("the pipeline")) }
            }
            div.card.stat {
                h2 { "Open deals" }
                p.big { (open_count) }
                p { a href="/deals" { "Open the board" } }
            }
            div.card.stat {
                h2 { "Today's activities" }
                p.big { (today.items.len()) }
                p.muted { "Due today, assigned to you" }
            }
        }
        @if let Some(r) = &report {
            section.card {
                h2 { "Pipeline by stage" }
                (stage_chart(&r.stages))
            }
        }
        div.columns {
            section.card {
                h2 { "Today" }
                (activity_list(&ctx, &today.items, "Nothing due today."))
            }
            section.card {
                h2 { "My open tasks" }
                (activity_list(&ctx, &open_tasks.items, "No open tasks — well done."))
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Dashboard", &ctx, Nav::Dashboard, body),
    ))
}

/// A bar per stage, drawn on the server as SVG (count, and value by width).
fn stage_chart(stages: &[reports::StageReport]) -> Markup {
    let max = stages.iter().map(|s| s.count).max().unwrap_or(0).max(1);
    let row = 28;
    let height = row * stages.len() as i64 + 4;
    html! {
        svg.chart viewBox=(format!("0 0 600 {height}")) role="img" aria-label="Deals per stage" {
            @for (i, st) in stages.iter().enumerate() {
                @let y = i as i64 * row + 2;
                @let w = 380 * st.count / max;
                text x="0" y=(y + 18) class="label" { (st.name) }
                rect x="150" y=(y + 4) width=(w.max(2)) height="18" rx="3" class=(format!("bar {}", st.kind.as_str())) {}
                text x=(160 + w) y=(y + 18) class="value" { (st.count) }
            }
        }
        table.sr-only {
            caption { "Deals per stage" }
            thead { tr { th { "Stage" } th { "Deals" } th { "Value" } } }
            tbody {
                @for st in stages {
                    tr { td { (st.name) } td { (st.count) }
                         td { @for m in &st.value { (money(m.amount, &m.currency)) " " } } }
                }
            }
        }
    }
}

fn activity_list(ctx: &super::Ctx, items: &[ActivityView], empty: &str) -> Markup {
    html! {
        @if items.is_empty() { p.muted { (empty) } }
        ul.activities {
            @for a in items {
                li.done[a.done] {
                    span.badge { (a.kind.as_str()) }
                    " " strong { (a.subject) }
                    @if let Some(d) = a.due_at { " " span.muted { "due " (when(&d)) } }
                    @if let Some(c) = a.contact_id { " · " a href=(format!("/contacts/{c}")) { "contact" } }
                    @if !a.done {
                        form.inline method="post" action=(format!("/activities/{}/done", a.id)) {
                            (ctx.csrf_field())
                            button.small type="submit" { "Mark done" }
                        }
                    }
                }
            }
        }
    }
}

pub async fn activity_done(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: UserForm<Back>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let input = ActivityInput {
        done: Some(true),
        ..Default::default()
    };
    activities::update(&mut s.tx, id, input, state.clock.now()).await?;
    s.tx.commit().await?;
    Ok(see_other(&super::safe_next(
        f.form.back.as_deref(),
        "/dashboard",
    )))
}

#[derive(Debug, Default, Deserialize)]
pub struct Back {
    back: Option<String>,
}

// ---------------------------------------------------------------------------
// Contacts.

pub async fn contacts(p: UserPage, Query(q): Query<CrmListQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let text = q.q.clone().unwrap_or_default();
    let sort = q.sort.clone().unwrap_or_else(|| "-created_at".into());
    let parsed = CrmListQuery {
        limit: Some("25".into()),
        ..q
    }
    .parse()?;
    let filter = ContactFilter {
        q: parsed.q.clone(),
        owner_id: parsed.owner_id,
        company_id: parsed.company_id,
    };
    let page_ = contacts::list(&mut s.tx, &filter, &parsed.req).await?;
    s.tx.commit().await?;
    let link = |sort: &str, cursor: Option<&str>| {
        let mut pairs = vec![("sort", sort.to_owned())];
        if !text.is_empty() {
            pairs.push(("q", text.clone()));
        }
        if let Some(c) = cursor {
            pairs.push(("cursor", c.to_owned()));
        }
        format!(
            "/contacts?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let header = |label: &str, key: &str| {
        let (next, mark, aria) = if sort == key {
            (format!("-{key}"), " ▲", "ascending")
        } else if sort == format!("-{key}") {
            (key.to_owned(), " ▼", "descending")
        } else {
            (key.to_owned(), "", "none")
        };
        html! { th aria-sort=(aria) { a href=(link(&next, None)) { (label) (mark) } } }
    };
    let body = html! {
        div.titlebar {
            h1 { "Contacts" }
            a.button href="/contacts/new" { "New contact" }
        }
        form.search method="get" action="/contacts" role="search" {
            label for="q" class="sr-only" { "Search contacts" }
            input #q type="search" name="q" value=(text) placeholder="Search by name, e-mail or phone";
            input type="hidden" name="sort" value=(sort);
            button type="submit" { "Search" }
        }
        div.table-wrap {
            table.list {
                thead { tr {
                    (header("Name", "name"))
                    th { "E-mail" } th { "Phone" } th { "Title" }
                    (header("Added", "created_at"))
                } }
                tbody {
                    @for c in &page_.items {
                        tr {
                            td { a href=(format!("/contacts/{}", c.id)) { (full_name(&c.first_name, c.last_name.as_deref())) } }
                            td { (c.email.as_deref().unwrap_or("")) }
                            td { (c.phone.as_deref().unwrap_or("")) }
                            td { (c.title.as_deref().unwrap_or("")) }
                            td { (c.created_at.format("%Y-%m-%d")) }
                        }
                    }
                    @if page_.items.is_empty() {
                        tr { td colspan="5" .muted { @if text.is_empty() { "No contacts yet. " a href="/contacts/new" { "Add the first one" } } @else { "No contact matches." } } }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if parsed.req.cursor.is_some() { a href=(link(&sort, None)) { "« First page" } }
            @if let Some(c) = &page_.next_cursor { a rel="next" href=(link(&sort, Some(c))) { "Next page »" } }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Contacts", &ctx, Nav::Contacts, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactForm {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    tags: Option<String>,
    source: Option<String>,
}

impl ContactForm {
    fn of(c: &ContactView) -> ContactForm {
        ContactForm {
            first_name: Some(c.first_name.clone()),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            title: c.title.clone(),
            tags: Some(c.tags.join(", ")),
            source: c.source.clone(),
        }
    }

    fn input(&self) -> ContactInput {
        ContactInput {
            first_name: Some(
                self.first_name
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ),
            last_name: Some(given(&self.last_name)),
            email: Some(given(&self.email)),
            phone: Some(given(&self.phone)),
            title: Some(given(&self.title)),
            tags: Some(
                self.tags
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            source: Some(given(&self.source)),
            ..Default::default()
        }
    }
}

fn contact_form_page(
    ctx: &super::Ctx,
    f: &ContactForm,
    errors: &Errors,
    editing: Option<Uuid>,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let (title, action) = match editing {
        Some(id) => ("Edit contact".to_owned(), format!("/contacts/{id}/edit")),
        None => ("New contact".to_owned(), "/contacts/new".to_owned()),
    };
    let fields = [
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "tags",
        "source",
    ];
    page(
        &title,
        ctx,
        Nav::Contacts,
        html! {
            section.card.narrow {
                h1 { (title) }
                (form_alert(errors, &fields))
                form method="post" action=(action) novalidate {
                    (ctx.csrf_field())
                    div.row {
                        (Field::new("first_name", "First name", &v(&f.first_name)).auto("off").required().render(errors))
                        (Field::new("last_name", "Last name", &v(&f.last_name)).auto("off").render(errors))
                    }
                    (Field::new("email", "E-mail", &v(&f.email)).kind("email").auto("off").render(errors))
                    (Field::new("phone", "Phone", &v(&f.phone)).kind("tel").auto("off").render(errors))
                    (Field::new("title", "Job title", &v(&f.title)).auto("off").render(errors))
                    (Field::new("tags", "Tags", &v(&f.tags)).auto("off").hint("Separated by commas.").render(errors))
                    (Field::new("source", "Source", &v(&f.source)).auto("off").render(errors))
                    div.actions {
                        button type="submit" { "Save" }
                        a.button.secondary href=(editing.map(|id| format!("/contacts/{id}")).unwrap_or("/contacts".into())) { "Cancel" }
                    }
                }
            }
        },
    )
}

pub async fn new_contact(p: UserPage) -> PageResult {
    let UserPage { s, ctx } = p;
    drop(s);
    Ok(layout::respond(
        StatusCode::OK,
        contact_form_page(&ctx, &ContactForm::default(), &Errors::new(), None),
    ))
}

/// A form's service error: beside the fields when it is about the input,
/// else as a page.
fn form_failure(e: ApiError, render: impl FnOnce(&Errors) -> Markup) -> PageResult {
    if is_form_error(&e) {
        Ok(layout::respond(e.code.status(), render(&field_errors(&e))))
    } else {
        Err(PageError::Api(e))
    }
}

pub async fn create_contact(State(state): State<AppState>, f: UserForm<ContactForm>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    match contacts::create(&mut s.tx, &s.user, form.input(), state.clock.now()).await {
        Ok(c) => {
            s.tx.commit().await?;
            Ok(see_other(&format!("/contacts/{}", c.id)))
        }
        Err(e) => form_failure(e, |errors| contact_form_page(&ctx, &form, errors, None)),
    }
}

pub async fn edit_contact(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let c = contacts::get(&mut s.tx, id).await?;
    s.tx.commit().await?;
    Ok(layout::respond(
        StatusCode::OK,
        contact_form_page(&ctx, &ContactForm::of(&c), &Errors::new(), Some(id)),
    ))
}

pub async fn update_contact(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: UserForm<ContactForm>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    match contacts::update(&mut s.tx, s.user.id.0, id, form.input(), state.clock.now()).await {
        Ok(_) => {
            s.tx.commit().await?;
            Ok(see_other(&format!("/contacts/{id}")))
        }
        Err(e) => form_failure(e, |errors| contact_form_page(&ctx, &form, errors, Some(id))),
    }
}

pub async fn delete_contact(PathId(id): PathId, f: UserForm<Back>) -> PageResult {
    let UserForm { mut s, .. } = f;
    contacts::delete(&mut s.tx, &s.user, id).await?;
    s.tx.commit().await?;
    Ok(see_other("/contacts"))
}

struct Name(String);

impl FromRow for Name {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Name(r.get("name")?))
    }
}

pub async fn contact(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let c = contacts::get(&mut s.tx, id).await?;
    let company: Option<Name> = match c.company_id {
        Some(cid) => {
            s.tx.query_opt(
                "SELECT name FROM companies WHERE tenant_id = $1 AND id = $2",
                &[&cid],
            )
            .await?
        }
        None => None,
    };
    let entries = timeline::timeline(&mut s.tx, RecordKind::Contact, id, 50, None).await?;
    s.tx.commit().await?;
    let name = full_name(&c.first_name, c.last_name.as_deref());
    let back = format!("/contacts/{id}");
    let kinds: Vec<(String, String)> = ActivityType::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), capitalise(k.as_str())))
        .collect();
    let body = html! {
        div.titlebar {
            h1 { (name) }
            div.actions {
                a.button.secondary href=(format!("/contacts/{id}/edit")) { "Edit" }
                form.inline method="post" action=(format!("/contacts/{id}/delete")) data-confirm=(format!("Delete {name}? This cannot be undone.")) {
                    (ctx.csrf_field())
                    button.danger type="submit" { "Delete" }
                }
            }
        }
        div.columns {
            section.card {
                h2 { "Details" }
                dl.details {
                    dt { "E-mail" } dd { @if let Some(e) = &c.email { a href=(format!("mailto:{e}")) { (e) } } @else { "—" } }
                    dt { "Phone" } dd { (c.phone.as_deref().unwrap_or("—")) }
                    dt { "Title" } dd { (c.title.as_deref().unwrap_or("—")) }
                    dt { "Company" } dd { (company.map(|n| n.0).unwrap_or_else(|| "—".into())) }
                    dt { "Tags" } dd { @if c.tags.is_empty() { "—" } @for t in &c.tags { span.tag { (t) } " " } }
                    dt { "Source" } dd { (c.source.as_deref().unwrap_or("—")) }
                    dt { "Added" } dd { (when(&c.created_at)) }
                }
            }
            section.card {
                h2 { "Log an activity" }
                form method="post" action=(format!("/contacts/{id}/activities")) {
                    (ctx.csrf_field())
                    (select("kind", "Type", &kinds, "call", &Errors::new()))
                    (Field::new("subject", "Subject", "").auto("off").required().render(&Errors::new()))
                    (Field::new("due_at", "Due", "").kind("datetime-local").hint("Leave empty for something that already happened.").render(&Errors::new()))
                    div.field {
                        label { input type="checkbox" name="done" value="true"; " Already done" }
                    }
                    button type="submit" { "Log activity" }
                }
                h2 { "Add a note" }
                form method="post" action=(format!("/contacts/{id}/notes")) {
                    (ctx.csrf_field())
                    div.field {
                        label for="note-body" { "Note" }
                        textarea #note-body name="body" rows="3" required {}
                    }
                    button type="submit" { "Add note" }
                }
            }
        }
        section.card {
            h2 { "Timeline" }
            (timeline_list(&ctx, &entries.items, &back))
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&name, &ctx, Nav::Contacts, body),
    ))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn timeline_list(ctx: &super::Ctx, entries: &[TimelineEntry], back: &str) -> Markup {
    html! {
        @if entries.is_empty() { p.muted { "Nothing yet: notes, activities and changes appear here." } }
        ol.timeline {
            @for e in entries {
                @match e {
                    TimelineEntry::Note(n) => li.note { span.badge { "note" } " " span.muted { (when(&n.created_at)) } p { (n.body) } },
                    TimelineEntry::Activity(a) => li.activity.done[a.done] {
                        span.badge { (a.kind.as_str()) } " " strong { (a.subject) } " "
                        span.muted { (when(&a.created_at)) @if a.done { " · done" } @else if let Some(d) = a.due_at { " · due " (when(&d)) } }
                        @if !a.done {
                            form.inline method="post" action=(format!("/activities/{}/done", a.id)) {
                                (ctx.csrf_field())
                                input type="hidden" name="back" value=(back);
                                button.small type="submit" { "Mark done" }
                            }
                        }
                    },
                    TimelineEntry::Change(c) => li.change {
                        span.badge { "change" } " " span.muted { (when(&c.changed_at)) }
                        ul {
                            @if let Some(fields) = c.changes.as_object() {
                                @for (field, diff) in fields {
                                    li { code { (field) } ": " (show(&diff["from"])) " → " (show(&diff["to"])) }
                                }
                            }
                        }
                    },
                }
            }
        }
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoteForm {
    body: Option<String>,
}

pub async fn add_contact_note(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: UserForm<NoteForm>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let input = NoteInput {
        body: form.body,
        contact_id: Some(id),
        ..Default::default()
    };
    notes::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    s.tx.commit().await?;
    Ok(see_other(&format!("/contacts/{id}")))
}

#[derive(Debug, Default, Deserialize)]
pub struct ActivityForm {
    kind: Option<String>,
    subject: Option<String>,
    due_at: Option<String>,
    done: Option<String>,
}

pub async fn add_contact_activity(
    State(state): State<AppState>,
    PathId(id): PathId,
    f: UserForm<ActivityForm>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let mut e = FieldErrors::default();
    let kind = form.kind.as_deref().and_then(|k| {
        e.check(
            "kind",
            k.parse::<ActivityType>().map_err(|_| "is not a type"),
        )
    });
    // A browser's datetime-local has no zone; it is read as UTC.
    let due_at = given(&form.due_at).and_then(|d| {
        e.check(
            "due_at",
            chrono::NaiveDateTime::parse_from_str(&d, "%Y-%m-%dT%H:%M")
                .map(|n| n.and_utc())
                .map_err(|_| "is not a date and time"),
        )
    });
    e.finish()?;
    let input = ActivityInput {
        kind,
        subject: form.subject,
        due_at: Some(due_at),
        done: Some(form.done.as_deref() == Some("true")),
        contact_id: Some(Some(id)),
        assigned_to: Some(Some(s.user.id.0)),
        ..Default::default()
    };
    activities::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    s.tx.commit().await?;
    Ok(see_other(&format!("/contacts/{id}")))
}

// ---------------------------------------------------------------------------
// Deals.

#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    pipeline_id: Option<String>,
}

/// Up to this many cards per stage; the rest are counted.
const CARDS_PER_STAGE: &str = "50";

pub async fn board(p: UserPage, Query(q): Query<BoardQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let all = pipelines::list(&mut s.tx).await?;
    let chosen = q
        .pipeline_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| all.iter().find(|p| p.id == id))
        .or_else(|| default_pipeline(&all))
        .cloned();
    let Some(pipeline) = chosen else {
        return Err(ApiError::not_found().into());
    };
    let report = reports::pipeline(&mut s.tx, Some(pipeline.id)).await?;
    let mut e = FieldErrors::default();
    let req = ListRequest::parse(Some(CARDS_PER_STAGE), Some("-updated_at"), None, &mut e);
    e.finish()?;
    let mut columns: Vec<Vec<DealView>> = Vec::new();
    for stage in &pipeline.stages {
        let f = DealFilter {
            pipeline_id: Some(pipeline.id),
            stage_id: Some(stage.id),
            ..Default::default()
        };
        columns.push(deals::list(&mut s.tx, &f, &req).await?.items);
    }
    s.tx.commit().await?;
    let stage_options: Vec<(String, String)> = pipeline
        .stages
        .iter()
        .map(|st| (st.id.to_string(), st.name.clone()))
        .collect();
    let body = html! {
        div.titlebar {
            h1 { "Deals" }
            div.actions {
                @if all.len() > 1 {
                    form.inline method="get" action="/deals" {
                        label for="pipeline" class="sr-only" { "Pipeline" }
                        select #pipeline name="pipeline_id" data-autosubmit="" {
                            @for p in &all { option value=(p.id) selected[p.id == pipeline.id] { (p.name) } }
                        }
                        noscript { button type="submit" { "Show" } }
                    }
                }
                a.button href=(format!("/deals/new?pipeline_id={}", pipeline.id)) { "New deal" }
            }
        }
        p.muted.small { "Drag a card to another stage, or use its Move menu." }
        (json_data("board-data", &serde_json::json!({"csrf": ctx.csrf})))
        div.board data-board="" {
            @for (stage, deals_) in pipeline.stages.iter().zip(&columns) {
                @let r = report.stages.iter().find(|r| r.stage_id == stage.id);
                section.column data-stage=(stage.id) aria-label=(stage.name) {
                    header {
                        h2 { (stage.name) }
                        span.count data-count="" { (r.map(|r| r.count).unwrap_or(0)) }
                        div.muted.small data-totals="" {
                            @for m in r.map(|r| r.value.as_slice()).unwrap_or(&[]) {
                                span data-currency=(m.currency) data-minor=(m.amount) { (money(m.amount, &m.currency)) } " "
                            }
                        }
                    }
                    ol.cards {
                        @for d in deals_ {
                            li.deal draggable="true" data-deal=(d.id) data-amount=(d.amount) data-currency=(d.currency) {
                                a href=(format!("/deals/{}", d.id)) { (d.title) }
                                div.amount { (money(d.amount, &d.currency)) }
                                form.move method="post" action=(format!("/deals/{}/move", d.id)) {
                                    (ctx.csrf_field())
                                    input type="hidden" name="pipeline_id" value=(pipeline.id);
                                    label.sr-only for=(format!("move-{}", d.id)) { "Move " (d.title) " to stage" }
                                    select id=(format!("move-{}", d.id)) name="stage_id" {
                                        @for (value, text) in &stage_options {
                                            option value=(value) selected[*value == stage.id.to_string()] { (text) }
                                        }
                                    }
                                    button.small type="submit" { "Move" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Deals", &ctx, Nav::Deals, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    stage_id: Option<String>,
    pipeline_id: Option<String>,
}

/// Moves a deal to a stage: from the board's drag and drop (answered with
/// JSON) or its Move menu (answered with the board again).
pub async fn move_deal(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: UserForm<MoveForm>,
) -> Result<Response, PageError> {
    let UserForm { mut s, form, .. } = f;
    let fetch = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch");
    let mut e = FieldErrors::default();
    let stage = e.check(
        "stage_id",
        Uuid::parse_str(form.stage_id.as_deref().unwrap_or_default().trim())
            .map_err(|_| "is not a stage"),
    );
    let result = match e.finish() {
        Ok(()) => {
            let input = DealInput {
                stage_id: stage,
                ..Default::default()
            };
            deals::update(&mut s.tx, s.user.id.0, id, input, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match (result, fetch) {
        (Ok(d), true) => {
            s.tx.commit().await?;
            Ok(axum::Json(
                serde_json::json!({"id": d.id, "stage_id": d.stage_id, "status": d.status}),
            )
            .into_response())
        }
        (Ok(d), false) => {
            s.tx.commit().await?;
            Ok(see_other(&format!("/deals?pipeline_id={}", d.pipeline_id)))
        }
        (Err(e), true) => Ok(e.into_response()),
        (Err(e), false) => {
            let _ = form.pipeline_id;
            Err(e.into())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DealForm {
    title: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    pipeline_id: Option<String>,
    stage_id: Option<String>,
}

fn deal_form_page(
    ctx: &super::Ctx,
    pipeline: &PipelineView,
    f: &DealForm,
    errors: &Errors,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let stages: Vec<(String, String)> = pipeline
        .stages
        .iter()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let first = stages.first().map(|s| s.0.clone()).unwrap_or_default();
    let fields = ["title", "amount", "currency", "stage_id"];
    page(
        "New deal",
        ctx,
        Nav::Deals,
        html! {
            section.card.narrow {
                h1 { "New deal" }
                p.muted { "In " (pipeline.name) }
                (form_alert(errors, &fields))
                form method="post" action="/deals/new" novalidate {
                    (ctx.csrf_field())
                    input type="hidden" name="pipeline_id" value=(pipeline.id);
                    (Field::new("title", "Title", &v(&f.title)).auto("off").required().render(errors))
                    div.row {
                        (Field::new("amount", "Amount", &v(&f.amount)).kind("text").auto("off").hint("For example 1500 or 1500.50.").render(errors))
                        (Field::new("currency", "Currency", &f.currency.clone().unwrap_or_else(|| "USD".into())).auto("off").render(errors))
                    }
                    (select("stage_id", "Stage", &stages, f.stage_id.as_deref().unwrap_or(&first), errors))
                    div.actions {
                        button type="submit" { "Create deal" }
                        a.button.secondary href="/deals" { "Cancel" }
                    }
                }
            }
        },
    )
}

pub async fn new_deal(p: UserPage, Query(q): Query<BoardQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let all = pipelines::list(&mut s.tx).await?;
    s.tx.commit().await?;
    let chosen = q
        .pipeline_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| all.iter().find(|p| p.id == id))
        .or_else(|| default_pipeline(&all))
        .ok_or_else(ApiError::not_found)?;
    Ok(layout::respond(
        StatusCode::OK,
        deal_form_page(&ctx, chosen, &DealForm::default(), &Errors::new()),
    ))
}

/// "1,500.50" → 150050 minor units.
fn parse_amount(text: &str) -> Result<i64, &'static str> {
    let t = text.trim().replace([',', ' '], "");
    let (major, minor) = t.split_once('.').unwrap_or((&t, ""));
    if major.is_empty() && minor.is_empty() || minor.len() > 2 {
        return Err("must be an amount such as 1500 or 1500.50");
    }
    let major: i64 = if major.is_empty() {
        0
    } else {
        major
            .parse()
            .map_err(|_| "must be an amount such as 1500 or 1500.50")?
    };
    let minor: i64 = format!("{minor:0<2}")
        .parse()
        .map_err(|_| "must be an amount such as 1500 or 1500.50")?;
    major
        .checked_mul(100)
        .and_then(|m| m.checked_add(minor))
        .filter(|v| *v >= 0)
        .ok_or("must be an amount such as 1500 or 1500.50")
}

pub async fn create_deal(State(state): State<AppState>, f: UserForm<DealForm>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let pipeline_id = Uuid::parse_str(form.pipeline_id.as_deref().unwrap_or_default()).ok();
    let pipeline = match pipeline_id {
        Some(id) => pipelines::get(&mut s.tx, id).await?,
        None => return Err(ApiError::not_found().into()),
    };
    let mut e = FieldErrors::default();
    let amount = given(&form.amount).and_then(|a| e.check("amount", parse_amount(&a)));
    let stage = form.stage_id.as_deref().and_then(|id| {
        e.check(
            "stage_id",
            Uuid::parse_str(id).map_err(|_| "is not a stage"),
        )
    });
    let result = match e.finish() {
        Ok(()) => {
            let input = DealInput {
                title: form.title.clone(),
                pipeline_id: Some(pipeline.id),
                stage_id: stage,
                amount,
                currency: given(&form.currency),
                ..Default::default()
            };
            deals::create(&mut s.tx, &s.user, input, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            s.tx.commit().await?;
            Ok(see_other(&format!("/deals?pipeline_id={}", pipeline.id)))
        }
        Err(e) => form_failure(e, |errors| deal_form_page(&ctx, &pipeline, &form, errors)),
    }
}

pub async fn deal(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let d = deals::get(&mut s.tx, id).await?;
    let pipeline = pipelines::get(&mut s.tx, d.pipeline_id).await?;
    let items = crate::crm::products::items(&mut s.tx, id).await?;
    let entries = timeline::timeline(&mut s.tx, RecordKind::Deal, id, 50, None).await?;
    s.tx.commit().await?;
    let stage = pipeline.stages.iter().find(|s| s.id == d.stage_id);
    let back = format!("/deals/{id}");
    let body = html! {
        div.titlebar {
            h1 { (d.title) }
            a.button.secondary href=(format!("/deals?pipeline_id={}", d.pipeline_id)) { "Back to the board" }
        }
        div.columns {
            section.card {
                h2 { "Details" }
                dl.details {
                    dt { "Amount" } dd { (money(d.amount, &d.currency)) }
                    dt { "Pipeline" } dd { (pipeline.name) }
                    dt { "Stage" } dd { (stage.map(|s| s.name.as_str()).unwrap_or("—")) }
                    dt { "Status" } dd { span.badge { (d.status.as_str()) } }
                    dt { "Expected close" } dd { (d.expected_close_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                    @if let Some(c) = d.contact_id { dt { "Contact" } dd { a href=(format!("/contacts/{c}")) { "Open contact" } } }
                }
            }
            section.card {
                h2 { "Line items" }
                @if items.is_empty() { p.muted { "No line items: the amount is set by hand." } }
                @else {
                    table.list {
                        thead { tr { th { "Product" } th { "Quantity" } th { "Unit price" } th { "Total" } } }
                        tbody {
                            @for i in &items {
                                tr { td { (i.name) } td { (i.quantity) } td { (money(i.unit_price, &d.currency)) } td { (money(i.total, &d.currency)) } }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Timeline" }
            (timeline_list(&ctx, &entries.items, &back))
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&d.title, &ctx, Nav::Deals, body),
    ))
}

// ---------------------------------------------------------------------------
// Plans.

struct PlanRow {
    code: String,
    name: String,
    max_users: Option<i64>,
    price_cents: i64,
    currency: String,
    features: serde_json::Value,
}

impl FromRow for PlanRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(PlanRow {
            code: r.get("code")?,
            name: r.get("name")?,
            max_users: r.get("max_users")?,
            price_cents: r.get("price_cents")?,
            currency: r.get("currency")?,
            features: r.get("features")?,
        })
    }
}

pub async fn upgrade(State(state): State<AppState>, p: UserPage) -> PageResult {
    let UserPage { s, ctx } = p;
    s.tx.commit().await?;
    // The catalogue is global: read outside the tenant's scope.
    let mut tx = state.store.platform(crate::store::Access::Read).await?;
    let plans: Vec<PlanRow> = tx
        .query(
            "SELECT code, name, max_users, price_cents, currency, features FROM plans
              WHERE code <> 'trial' ORDER BY position",
            &[],
        )
        .await?;
    tx.commit().await?;
    let body = html! {
        h1 { "Plans" }
        p.muted { "Online payment arrives with billing; until then, your account manager switches plans for you." }
        div.plans {
            @for p in &plans {
                section.card.plan {
                    h2 { (p.name) }
                    p.big { (money(p.price_cents, &p.currency)) span.muted.small { " / month" } }
                    p { @if let Some(n) = p.max_users { "Up to " (n) " users" } @else { "Unlimited users" } }
                    ul {
                        @for f in p.features.as_array().into_iter().flatten() {
                            li { (f.as_str().unwrap_or_default().replace('_', " ")) }
                        }
                    }
                    p.small.muted { "Plan code: " code { (p.code) } }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Plans", &ctx, Nav::None, body),
    ))
}
