//! Pages for a kind of record (contacts, companies, leads, products), made
//! once: a searchable, sortable, paginated table; a detail page (with the
//! timeline, notes and activities where the record has them); and forms
//! whose fields carry the API's names. A form is turned into the API's JSON
//! and read by the API's own input type, so validation and its messages
//! are the API's.

use super::layout::{self, form_alert, form_failure, money, page, Errors, Field, Nav};
use super::{see_other, Ctx, PageResult, UserForm, UserPage};
use crate::app::App;
use crate::auth::SessionUser;
use crate::crm::activities::{self, ActivityInput, ActivityType};
use crate::crm::listing::ListRequest;
use crate::crm::names::{Named, Names};
use crate::crm::notes::{self, NoteInput};
use crate::crm::timeline::{self, RecordKind, TimelineEntry};
use crate::error::{ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::TenantTx;
use crate::web::api::crm::CrmListQuery;
use crate::web::extract::PathId;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use uuid::Uuid;

/// How a form field becomes the API's JSON, and back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Email,
    Tel,
    Url,
    /// Separated by commas in the form, a list in the API.
    Tags,
    /// Major units in the form ("1,500.50"), minor units in the API.
    Money,
    /// A checkbox.
    Bool,
    /// One of these values.
    Choice(&'static [&'static str]),
}

/// One field of a record's form.
pub struct Spec {
    /// The API's field name; `a.b` is `b` inside the object `a`.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub hint: Option<&'static str>,
}

pub const fn spec(name: &'static str, label: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        label,
        kind,
        required: false,
        hint: None,
    }
}

pub const fn required(name: &'static str, label: &'static str) -> Spec {
    Spec {
        name,
        label,
        kind: Kind::Text,
        required: true,
        hint: None,
    }
}

/// A field of a record's form that names another record (a contact's
/// company): a choice of those records, shown by name on the pages.
pub struct Reference {
    /// The API's field name.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Named,
}

/// A form's reference fields with their choices.
pub type Choices = Vec<(&'static Reference, Vec<(String, String)>)>;

/// A kind of record, as its pages see it.
pub trait Record: Send + Sync + 'static {
    /// Where its pages live: `/companies`.
    const PATH: &'static str;
    const PLURAL: &'static str;
    const SINGULAR: &'static str;
    const NAV: Nav;
    /// Records with a timeline get notes and activities too.
    const TIMELINE: Option<RecordKind>;
    const SEARCH_HINT: &'static str;
    /// Whether the kind has CSV import and export pages.
    const CSV: bool = false;
    /// Its custom fields' record type.
    const ENTITY: crate::crm::custom::Entity;

    type View: Serialize + Send + Sync;
    type Input: DeserializeOwned + Send;

    fn fields() -> &'static [Spec];
    /// Its fields that name other records, after [`Record::fields`].
    fn references() -> &'static [Reference] {
        &[]
    }
    /// The list's columns after the name: label and the view's field (a
    /// reference field shows the record's name).
    fn columns() -> &'static [(&'static str, &'static str)];
    fn id(v: &Self::View) -> Uuid;
    fn title(v: &Self::View) -> String;
    /// Buttons of the detail page beyond Edit and Delete.
    fn actions(_ctx: &Ctx, _v: &Self::View) -> Markup {
        html! {}
    }
    /// More of the detail page, after the details: the records linked to
    /// this one (a company's contacts and deals, the lead it came from…).
    fn related(
        _tx: &mut TenantTx,
        _user: &SessionUser,
        _ctx: &Ctx,
        _v: &Self::View,
    ) -> impl Future<Output = ApiResult<Markup>> + Send {
        async { Ok(html! {}) }
    }

    /// The records `user` may read.
    fn list(
        tx: &mut TenantTx,
        user: &SessionUser,
        q: Option<String>,
        req: &ListRequest,
    ) -> impl Future<Output = ApiResult<Page<Self::View>>> + Send;
    /// One record `user` may read.
    fn get(
        tx: &mut TenantTx,
        user: &SessionUser,
        id: Uuid,
    ) -> impl Future<Output = ApiResult<Self::View>> + Send;
    fn create(
        tx: &mut TenantTx,
        user: &SessionUser,
        input: Self::Input,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<Self::View>> + Send;
    fn update(
        tx: &mut TenantTx,
        user: &SessionUser,
        id: Uuid,
        input: Self::Input,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<Self::View>> + Send;
    fn delete(
        tx: &mut TenantTx,
        user: &SessionUser,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

// ---------------------------------------------------------------------------
// Form ⇄ JSON.

type Form = HashMap<String, String>;

fn lookup<'a>(v: &'a Value, name: &str) -> &'a Value {
    name.split('.').fold(v, |v, part| &v[part])
}

/// The text a field shows for the record's value.
fn shown(kind: Kind, v: &Value) -> String {
    match (kind, v) {
        (_, Value::Null) => String::new(),
        (Kind::Tags, Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        (Kind::Money, Value::Number(n)) => {
            let minor = n.as_i64().unwrap_or(0);
            format!("{}.{:02}", minor / 100, (minor % 100).abs())
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// "1,500.50" → 150050.
pub fn parse_amount(text: &str) -> Result<i64, &'static str> {
    const MSG: &str = "must be an amount such as 1500 or 1500.50";
    let t = text.trim().replace([',', ' '], "");
    let (major, minor) = t.split_once('.').unwrap_or((&t, ""));
    if (major.is_empty() && minor.is_empty())
        || minor.len() > 2
        || !major.bytes().all(|b| b.is_ascii_digit())
        || !minor.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MSG);
    }
    let major: i64 = if major.is_empty() {
        0
    } else {
        major.parse().map_err(|_| MSG)?
    };
    let minor: i64 = format!("{minor:0<2}").parse().map_err(|_| MSG)?;
    major
        .checked_mul(100)
        .and_then(|m| m.checked_add(minor))
        .ok_or(MSG)
}

/// The API's JSON for a submitted form. Blank optional fields are `null`
/// (cleared), blank required ones empty (refused by the API as empty).
fn to_json(specs: &[Spec], form: &Form, errors: &mut FieldErrors) -> Value {
    let mut root = Map::new();
    for s in specs {
        let raw = form.get(s.name).map(|v| v.trim()).unwrap_or("");
        let value = match s.kind {
            Kind::Bool => Value::Bool(raw == "true"),
            _ if raw.is_empty() && s.required => Value::String(String::new()),
            _ if raw.is_empty() => Value::Null,
            Kind::Tags => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_owned()))
                    .collect(),
            ),
            Kind::Money => match parse_amount(raw) {
                Ok(minor) => Value::from(minor),
                Err(m) => {
                    errors.add(s.name, m);
                    Value::Null
                }
            },
            _ => Value::String(raw.to_owned()),
        };
        match s.name.split_once('.') {
            Some((outer, inner)) => {
                let obj = root
                    .entry(outer)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(o), false) = (obj, value.is_null()) {
                    o.insert(inner.to_owned(), value);
                }
            }
            None => {
                root.insert(s.name.to_owned(), value);
            }
        }
    }
    Value::Object(root)
}

/// The API's input for a form, validated as the API validates JSON. The
/// custom fields' values go in when the plan has them (otherwise they are
/// left as they are).
fn input_of<R: Record>(c: &Custom, form: &Form) -> ApiResult<R::Input> {
    let mut e = FieldErrors::default();
    let mut json = to_json(R::fields(), form, &mut e);
    for r in R::references() {
        if let (Some(v), Value::Object(o)) = (form.get(r.name), &mut json) {
            let v = v.trim();
            o.insert(
                r.name.to_owned(),
                if v.is_empty() {
                    Value::Null
                } else {
                    Value::String(v.to_owned())
                },
            );
        }
    }
    if c.allowed && !c.defs.is_empty() {
        json["custom_fields"] =
            Value::Object(super::custom::values_of(c.tz, &c.defs, form, &mut e));
    }
    e.finish()?;
    crate::web::extract::parse_json(json.to_string().as_bytes())
}

/// A record kind's custom fields, as its pages need them.
struct Custom {
    defs: Vec<crate::crm::custom::FieldDef>,
    users: super::custom::Users,
    allowed: bool,
    tz: chrono_tz::Tz,
}

impl Custom {
    async fn of<R: Record>(s: &mut crate::auth::TenantSession, ctx: &Ctx) -> ApiResult<Custom> {
        let defs = crate::crm::custom::fields(&mut s.tx, R::ENTITY, false).await?;
        let users = super::custom::users_for(&mut s.tx, &defs).await?;
        Ok(Custom {
            defs,
            users,
            allowed: s
                .tenant
                .has_feature(crate::plans::Feature::CustomFields.as_str()),
            tz: ctx.tz,
        })
    }
}

// ---------------------------------------------------------------------------
// Pages.

fn form_page<R: Record>(
    ctx: &Ctx,
    custom: &Custom,
    values: &Value,
    choices: &Choices,
    errors: &Errors,
    editing: Option<Uuid>,
) -> Markup {
    let (title, action, cancel) = match editing {
        Some(id) => (
            format!("Edit {}", R::SINGULAR),
            format!("{}/{id}/edit", R::PATH),
            format!("{}/{id}", R::PATH),
        ),
        None => (
            format!("New {}", R::SINGULAR),
            format!("{}/new", R::PATH),
            R::PATH.to_owned(),
        ),
    };
    let custom_names: Vec<String> = custom
        .defs
        .iter()
        .map(|d| format!("custom_fields.{}", d.key))
        .collect();
    let mut names: Vec<&str> = R::fields()
        .iter()
        .map(|s| s.name)
        .chain(R::references().iter().map(|r| r.name))
        .collect();
    names.extend(custom_names.iter().map(String::as_str));
    page(
        &title,
        ctx,
        R::NAV,
        html! {
            section.card.narrow {
                h1 { (title) }
                (form_alert(errors, &names))
                form method="post" action=(action) novalidate {
                    (ctx.csrf_field())
                    @for s in R::fields() { (field(s, lookup(values, s.name), errors)) }
                    @for (r, options) in choices {
                        (super::refs::field(r.name, r.label, options, values[r.name].as_str().unwrap_or(""), errors))
                    }
                    @if custom.allowed {
                        (super::custom::inputs(ctx, &custom.defs, &values["custom_fields"], &custom.users, errors))
                    }
                    div.actions {
                        button type="submit" { "Save" }
                        a.button.secondary href=(cancel) { "Cancel" }
                    }
                }
            }
        },
    )
}

fn field(s: &Spec, value: &Value, errors: &Errors) -> Markup {
    let text = shown(s.kind, value);
    match s.kind {
        Kind::Bool => html! {
            div.field {
                label { input type="checkbox" name=(s.name) value="true" checked[value.as_bool().unwrap_or(false)]; " " (s.label) }
            }
        },
        Kind::Choice(options) => {
            let opts: Vec<(String, String)> = options
                .iter()
                .map(|o| (o.to_string(), o.replace('_', " ")))
                .collect();
            layout::select(s.name, s.label, &opts, &text, errors)
        }
        other => {
            let kind = match other {
                Kind::Email => "email",
                Kind::Tel => "tel",
                Kind::Url => "url",
                _ => "text",
            };
            let hint = s.hint.or(match other {
                Kind::Tags => Some("Separated by commas."),
                Kind::Money => Some("For example 1500 or 1500.50."),
                _ => None,
            });
            let mut f = Field::new(s.name, s.label, &text).kind(kind).auto("off");
            if s.required {
                f = f.required();
            }
            if let Some(h) = hint {
                f = f.hint(h);
            }
            f.render(errors)
        }
    }
}

pub async fn list<R: Record>(p: UserPage, Query(q): Query<CrmListQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    let columns: Vec<&crate::crm::custom::FieldDef> =
        custom.defs.iter().filter(|d| d.in_list).collect();
    let text = q.q.clone().unwrap_or_default();
    let sort = q.sort.clone().unwrap_or_else(|| "-created_at".into());
    let parsed = CrmListQuery {
        limit: Some("25".into()),
        ..q
    }
    .parse()?;
    let rows = R::list(&mut s.tx, &s.user, parsed.q.clone(), &parsed.req).await?;
    let link = |sort: &str, cursor: Option<&str>| {
        let mut pairs = vec![("sort", sort.to_owned())];
        if !text.is_empty() {
            pairs.push(("q", text.clone()));
        }
        if let Some(c) = cursor {
            pairs.push(("cursor", c.to_owned()));
        }
        format!(
            "{}?{}",
            R::PATH,
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
    let views: Vec<Value> = rows
        .items
        .iter()
        .map(|v| serde_json::to_value(v).unwrap_or_default())
        .collect();
    let span = R::columns().len() + columns.len() + 2;
    let wanted: Vec<(Named, Uuid)> = views.iter().flat_map(references_in::<R>).collect();
    let names = Names::load(&mut s.tx, &s.user.access, wanted).await?;
    let column = |key: &str, json: &Value| -> Markup {
        let value = lookup(json, key);
        if let Some(r) = R::references().iter().find(|r| r.name == key) {
            let id = value.as_str().and_then(|v| Uuid::parse_str(v).ok());
            return match id {
                None => html! {},
                Some(_) => super::refs::named(&names, r.kind, id),
            };
        }
        match (
            R::fields().iter().find(|s| s.name == key).map(|s| s.kind),
            value,
        ) {
            (Some(Kind::Tel), Value::String(t)) => tel(t),
            (Some(Kind::Email), Value::String(t)) => {
                html! { a href=(format!("mailto:{t}")) { (t) } }
            }
            (Some(Kind::Money), Value::Number(n)) => {
                html! { (ctx.money(n.as_i64().unwrap_or(0), json["currency"].as_str().unwrap_or(""))) }
            }
            _ => html! { (cell(value)) },
        }
    };
    let body = html! {
        div.titlebar {
            h1 { (R::PLURAL) }
            div.actions {
                (export_link::<R>())
                a.button href=(format!("{}/new", R::PATH)) { "New " (R::SINGULAR) }
            }
        }
        form.search method="get" action=(R::PATH) role="search" {
            label for="q" class="sr-only" { "Search " (R::PLURAL.to_lowercase()) }
            input #q type="search" name="q" value=(text) placeholder=(R::SEARCH_HINT);
            input type="hidden" name="sort" value=(sort);
            button type="submit" { "Search" }
        }
        div.table-wrap {
            table.list {
                thead { tr {
                    (header("Name", "name"))
                    @for (label, _) in R::columns() { th { (label) } }
                    @for d in &columns { (header(&d.label, &format!("cf.{}", d.key))) }
                    (header("Added", "created_at"))
                } }
                tbody {
                    @for (v, json) in rows.items.iter().zip(&views) {
                        tr {
                            td { a href=(format!("{}/{}", R::PATH, R::id(v))) { (R::title(v)) } }
                            @for (_, key) in R::columns() { td { (column(key, json)) } }
                            @for d in &columns { td { (super::custom::shown(&ctx, d, &json["custom_fields"][&d.key], &custom.users)) } }
                            td { @if let Some(t) = json["created_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()) { (ctx.date(ctx.day_of(&t))) } }
                        }
                    }
                    @if rows.items.is_empty() {
                        tr { td colspan=(span) .muted {
                            @if text.is_empty() { "None yet. " a href=(format!("{}/new", R::PATH)) { "Add the first one" } }
                            @else { "Nothing matches." }
                        } }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if parsed.req.cursor.is_some() { a href=(link(&sort, None)) { "« First page" } }
            @if let Some(c) = &rows.next_cursor { a rel="next" href=(link(&sort, Some(c))) { "Next page »" } }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(R::PLURAL, &ctx, R::NAV, body),
    ))
}

fn export_link<R: Record>() -> Markup {
    html! {
        @if R::CSV {
            a.button.secondary href=(format!("{}/import", R::PATH)) { "Import CSV" }
            a.button.secondary href=(format!("{}/export.csv", R::PATH)) download { "Export CSV" }
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.replace('_', " "),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The choices of `R`'s reference fields, the records `values` names
/// among them.
async fn choices_of<R: Record>(
    tx: &mut TenantTx,
    user: &SessionUser,
    values: &Value,
) -> ApiResult<Choices> {
    let mut out = Vec::new();
    for r in R::references() {
        let current = values[r.name]
            .as_str()
            .and_then(|v| Uuid::parse_str(v).ok());
        let options =
            super::refs::choices(tx, &user.access, r.kind, current, Some("— none —")).await?;
        out.push((r, options));
    }
    Ok(out)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewQuery {
    /// A reference field filled in advance (from the record it names).
    company_id: Option<String>,
}

pub async fn new_form<R: Record>(p: UserPage, Query(q): Query<NewQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let values = serde_json::json!({ "company_id": q.company_id });
    let choices = choices_of::<R>(&mut s.tx, &s.user, &values).await?;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    Ok(layout::respond(
        StatusCode::OK,
        form_page::<R>(&ctx, &custom, &values, &choices, &Errors::new(), None),
    ))
}

pub async fn create<R: Record>(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    let result = match input_of::<R>(&custom, &form) {
        Ok(input) => R::create(&mut s.tx, &s.user, input, state.clock.now()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Ok(see_other(&format!("{}/{}", R::PATH, R::id(&v)))),
        Err(e) => {
            let values = submitted(&form);
            let choices = choices_of::<R>(&mut s.tx, &s.user, &values).await?;
            form_failure(e, |errors| {
                form_page::<R>(&ctx, &custom, &values, &choices, errors, None)
            })
        }
    }
}

/// What was typed, to show again beside the errors.
fn submitted(form: &Form) -> Value {
    let mut root = Map::new();
    for (k, v) in form {
        match k.split_once('.') {
            Some((outer, inner)) => {
                if let Value::Object(o) = root
                    .entry(outer)
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    o.insert(inner.to_owned(), Value::String(v.clone()));
                }
            }
            None => {
                root.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(root)
}

pub async fn edit_form<R: Record>(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let v = R::get(&mut s.tx, &s.user, id).await?;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    let json = serde_json::to_value(&v).unwrap_or_default();
    let choices = choices_of::<R>(&mut s.tx, &s.user, &json).await?;
    Ok(layout::respond(
        StatusCode::OK,
        form_page::<R>(&ctx, &custom, &json, &choices, &Errors::new(), Some(id)),
    ))
}

pub async fn update<R: Record>(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    let result = match input_of::<R>(&custom, &form) {
        Ok(input) => R::update(&mut s.tx, &s.user, id, input, state.clock.now()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("{}/{id}", R::PATH))),
        Err(e) => {
            let values = submitted(&form);
            let choices = choices_of::<R>(&mut s.tx, &s.user, &values).await?;
            form_failure(e, |errors| {
                form_page::<R>(&ctx, &custom, &values, &choices, errors, Some(id))
            })
        }
    }
}

pub async fn delete<R: Record>(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    R::delete(&mut s.tx, &s.user, id, state.clock.now()).await?;
    Ok(see_other(R::PATH))
}

pub async fn show<R: Record>(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let v = R::get(&mut s.tx, &s.user, id).await?;
    let custom = Custom::of::<R>(&mut s, &ctx).await?;
    let entries = match R::TIMELINE {
        Some(kind) => {
            Some(timeline::timeline(&mut s.tx, &s.user.access, kind, id, 50, None).await?)
        }
        None => None,
    };
    let json = serde_json::to_value(&v).unwrap_or_default();
    let name = R::title(&v);
    let here = format!("{}/{id}", R::PATH);
    let mut wanted = references_in::<R>(&json);
    if let Some(e) = &entries {
        wanted.extend(timeline_refs(&e.items));
    }
    let names = Names::load(&mut s.tx, &s.user.access, wanted).await?;
    let related = R::related(&mut s.tx, &s.user, &ctx, &v).await?;
    let created = json["created_at"]
        .as_str()
        .and_then(|t| t.parse::<DateTime<Utc>>().ok());
    let body = html! {
        div.titlebar {
            h1 { (name) }
            div.actions {
                (R::actions(&ctx, &v))
                a.button.secondary href=(format!("{here}/edit")) { "Edit" }
                form.inline method="post" action=(format!("{here}/delete")) data-confirm=(format!("Delete {name}? This cannot be undone.")) {
                    (ctx.csrf_field())
                    button.danger type="submit" { "Delete" }
                }
            }
        }
        div.columns {
            section.card {
                h2 { "Details" }
                dl.details {
                    @for s in R::fields() {
                        dt { (s.label) }
                        dd { (detail(&ctx, s, lookup(&json, s.name), &json)) }
                    }
                    @for r in R::references() {
                        dt { (r.label) }
                        dd { (super::refs::named(&names, r.kind, json[r.name].as_str().and_then(|v| Uuid::parse_str(v).ok()))) }
                    }
                    @for d in &custom.defs {
                        dt { (d.label) }
                        dd { (super::custom::shown(&ctx, d, &json["custom_fields"][&d.key], &custom.users)) }
                    }
                    @if let Some(t) = &created { dt { "Added" } dd { (ctx.time(t)) } }
                }
            }
            @if R::TIMELINE.is_some() {
                (log_forms(&ctx, &here))
            }
        }
        (related)
        @if let Some(entries) = &entries {
            section.card {
                h2 { "Timeline" }
                (timeline_list(&ctx, &entries.items, &names, &here))
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&name, &ctx, R::NAV, body),
    ))
}

/// The records a record's reference fields name.
fn references_in<R: Record>(json: &Value) -> Vec<(Named, Uuid)> {
    R::references()
        .iter()
        .filter_map(|r| {
            json[r.name]
                .as_str()
                .and_then(|v| Uuid::parse_str(v).ok())
                .map(|id| (r.kind, id))
        })
        .collect()
}

/// A phone number as a `tel:` link: its digits, and a leading `+`.
pub fn tel(number: &str) -> Markup {
    let dial: String = number
        .trim()
        .chars()
        .enumerate()
        .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+'))
        .map(|(_, c)| c)
        .collect();
    html! { a href=(format!("tel:{dial}")) { (number) } }
}

fn detail(ctx: &Ctx, s: &Spec, v: &Value, record: &Value) -> Markup {
    let text = shown(s.kind, v);
    html! {
        @if text.is_empty() { "—" }
        @else {
            @match s.kind {
                Kind::Email => a href=(format!("mailto:{text}")) { (text) },
                Kind::Url => a href=(text) rel="noopener nofollow" { (text) },
                Kind::Tel => (tel(&text)),
                Kind::Money => (ctx.money(v.as_i64().unwrap_or(0), record["currency"].as_str().unwrap_or(""))),
                Kind::Tags => @for t in text.split(", ") { span.tag { (t) } " " },
                _ => (text.replace('_', " ")),
            }
        }
    }
}

/// The forms to log an activity and add a note to the record at `here`.
pub fn log_forms(ctx: &Ctx, here: &str) -> Markup {
    let none = Errors::new();
    let kinds: Vec<(String, String)> = ActivityType::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), capitalise(k.as_str())))
        .collect();
    html! {
        section.card {
            h2 { "Log an activity" }
            form method="post" action=(format!("{here}/activities")) {
                (ctx.csrf_field())
                (layout::select("kind", "Type", &kinds, "call", &none))
                (Field::new("subject", "Subject", "").auto("off").required().render(&none))
                (Field::new("due_at", "Due", "").kind("datetime-local").hint("Leave empty for something that already happened.").render(&none))
                div.field {
                    label { input type="checkbox" name="done" value="true"; " Already done" }
                }
                button type="submit" { "Log activity" }
            }
            h2 { "Add a note" }
            form method="post" action=(format!("{here}/notes")) {
                (ctx.csrf_field())
                div.field {
                    label for="note-body" { "Note" }
                    textarea #note-body name="body" rows="3" required {}
                }
                button type="submit" { "Add note" }
            }
        }
    }
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// What a change's field names, when it is a reference: the kind of
/// record its ids are.
fn referenced(field: &str) -> Option<Named> {
    Some(match field {
        "stage_id" => Named::Stage,
        "pipeline_id" => Named::Pipeline,
        "contact_id" | "converted_contact_id" => Named::Contact,
        "company_id" | "converted_company_id" => Named::Company,
        "deal_id" | "converted_deal_id" => Named::Deal,
        "lead_id" => Named::Lead,
        "owner_id" | "assigned_to" | "created_by" => Named::User,
        _ => return None,
    })
}

/// A field of a change, for people: "Stage", not `stage_id`.
fn field_label(field: &str) -> String {
    match field {
        "stage_id" => "Stage".into(),
        "pipeline_id" => "Pipeline".into(),
        "contact_id" => "Contact".into(),
        "company_id" => "Company".into(),
        "owner_id" => "Owner".into(),
        "assigned_to" => "Assigned to".into(),
        "email" => "E-mail".into(),
        "closed_at" => "Closed".into(),
        "due_at" => "Due".into(),
        other => capitalise(
            &other
                .trim_end_matches("_id")
                .trim_end_matches("_at")
                .replace('_', " "),
        ),
    }
}

/// The references a timeline shows (who changed what, and the records a
/// change names), to look their names up at once.
pub fn timeline_refs(entries: &[TimelineEntry]) -> Vec<(Named, Uuid)> {
    let mut out = Vec::new();
    for e in entries {
        match e {
            TimelineEntry::Change(c) => {
                out.extend(c.changed_by.map(|u| (Named::User, u)));
                for (field, diff) in c.changes.as_object().into_iter().flatten() {
                    if let Some(kind) = referenced(field) {
                        for side in ["from", "to"] {
                            if let Some(id) =
                                diff[side].as_str().and_then(|v| Uuid::parse_str(v).ok())
                            {
                                out.push((kind, id));
                            }
                        }
                    }
                }
            }
            TimelineEntry::Activity(a) => out.extend(a.assigned_to.map(|u| (Named::User, u))),
            TimelineEntry::Note(n) => out.extend(n.created_by.map(|u| (Named::User, u))),
        }
    }
    out
}

/// One side of a change, for people: names for ids, amounts as money,
/// times in the viewer's zone.
fn change_value(ctx: &Ctx, names: &Names, field: &str, v: &Value) -> Markup {
    if v.is_null() {
        return html! { span.muted { "none" } };
    }
    if let (Some(kind), Some(id)) = (
        referenced(field),
        v.as_str().and_then(|s| Uuid::parse_str(s).ok()),
    ) {
        return html! { @match names.get(kind, id) { Some(n) => (n), None => span.muted { "(removed)" } } };
    }
    if matches!(field, "amount" | "estimated_value" | "price") {
        if let Some(n) = v.as_i64() {
            return html! { (money(n, "")) };
        }
    }
    if field.ends_with("_at") {
        if let Some(t) = v.as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()) {
            return ctx.time(&t);
        }
    }
    html! { (cell(v)) }
}

pub fn timeline_list(ctx: &Ctx, entries: &[TimelineEntry], names: &Names, back: &str) -> Markup {
    let who = |id: Option<Uuid>| id.and_then(|u| names.get(Named::User, u));
    html! {
        @if entries.is_empty() { p.muted { "Nothing yet: notes, activities and changes appear here." } }
        ol.timeline {
            @for e in entries {
                @match e {
                    TimelineEntry::Note(n) => li.note {
                        span.badge { "note" } " " span.muted { (ctx.time(&n.created_at)) @if let Some(by) = who(n.created_by) { " · " (by) } }
                        @if n.lead_id.is_some() && !back.starts_with("/leads/") { " " span.badge.from-lead { "from the lead" } }
                        p { (n.body) }
                    },
                    TimelineEntry::Activity(a) => li.activity.done[a.done] {
                        span.badge { (a.kind.as_str()) } " " strong { (a.subject) } " "
                        span.muted { (ctx.time(&a.created_at)) @if a.done { " · done" } @else if let Some(d) = a.due_at { " · due " (ctx.time(&d)) } }
                        @if let Some(to) = who(a.assigned_to) { " " span.muted.small { "· for " (to) } }
                        @if a.lead_id.is_some() && !back.starts_with("/leads/") { " " span.badge.from-lead { "from the lead" } }
                        @if !a.done {
                            form.inline method="post" action=(format!("/activities/{}/done", a.id)) {
                                (ctx.csrf_field())
                                input type="hidden" name="back" value=(back);
                                button.small type="submit" { "Mark done" }
                            }
                        }
                    },
                    TimelineEntry::Change(c) => li.change {
                        span.badge { "change" } " " span.muted { (ctx.time(&c.changed_at)) @if let Some(by) = who(c.changed_by) { " · " (by) } }
                        ul {
                            @if let Some(fields) = c.changes.as_object() {
                                @for (field, diff) in fields {
                                    li { strong { (field_label(field)) } ": " (change_value(ctx, names, field, &diff["from"])) " → " (change_value(ctx, names, field, &diff["to"])) }
                                }
                            }
                        }
                    },
                }
            }
        }
    }
}

/// Which of a note's or activity's links the record at `kind` fills.
fn link_of(kind: RecordKind, id: Uuid) -> [Option<Uuid>; 4] {
    match kind {
        RecordKind::Contact => [Some(id), None, None, None],
        RecordKind::Company => [None, Some(id), None, None],
        RecordKind::Lead => [None, None, Some(id), None],
        RecordKind::Deal => [None, None, None, Some(id)],
    }
}

/// A record kind with a timeline, where notes and activities are logged.
pub trait Timelined: Send + Sync + 'static {
    const PATH: &'static str;
    const KIND: RecordKind;
}

pub async fn add_note<R: Timelined>(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let [contact_id, company_id, lead_id, deal_id] = link_of(R::KIND, id);
    let input = NoteInput {
        body: form.get("body").cloned(),
        contact_id,
        company_id,
        lead_id,
        deal_id,
        ..Default::default()
    };
    notes::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(see_other(&format!("{}/{id}", R::PATH)))
}

pub async fn add_activity<R: Timelined>(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, form, ctx } = f;
    let [contact_id, company_id, lead_id, deal_id] = link_of(R::KIND, id);
    let mut e = FieldErrors::default();
    let activity_kind = form.get("kind").and_then(|k| {
        e.check(
            "kind",
            k.parse::<ActivityType>().map_err(|_| "is not a type"),
        )
    });
    let due_at = form
        .get("due_at")
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .and_then(|d| e.check("due_at", ctx.parse_local(d)));
    e.finish()?;
    let input = ActivityInput {
        kind: activity_kind,
        subject: form.get("subject").cloned(),
        due_at: Some(due_at),
        done: Some(form.get("done").map(String::as_str) == Some("true")),
        contact_id: Some(contact_id),
        company_id: Some(company_id),
        lead_id: Some(lead_id),
        deal_id: Some(deal_id),
        assigned_to: Some(Some(s.user.id.0)),
        ..Default::default()
    };
    activities::create(&mut s.tx, &s.user, input, state.clock.now()).await?;
    Ok(see_other(&format!("{}/{id}", R::PATH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_like_people_write_them() {
        assert_eq!(parse_amount("1,500.5"), Ok(150_050));
        assert_eq!(parse_amount("0.07"), Ok(7));
        assert_eq!(parse_amount(".5"), Ok(50));
        assert!(parse_amount("12.345").is_err());
        assert!(parse_amount("-3").is_err());
        assert!(parse_amount("1e5").is_err());
        assert!(parse_amount("99999999999999999999").is_err());
    }

    #[test]
    fn forms_become_the_apis_json() {
        let specs = [
            required("name", "Name"),
            spec("email", "E-mail", Kind::Email),
            spec("tags", "Tags", Kind::Tags),
            spec("price", "Price", Kind::Money),
            spec("active", "Active", Kind::Bool),
            spec("address.city", "City", Kind::Text),
            spec("address.street", "Street", Kind::Text),
        ];
        let form: Form = [
            ("name", " "),
            ("email", ""),
            ("tags", "a, b,,"),
            ("price", "12.5"),
            ("address.city", "Oslo"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut e = FieldErrors::default();
        let json = to_json(&specs, &form, &mut e);
        assert_eq!(
            json,
            serde_json::json!({"name": "", "email": null, "tags": ["a", "b"], "price": 1250,
                               "active": false, "address": {"city": "Oslo"}})
        );
    }
}
