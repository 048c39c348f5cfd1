//! Settings for teams and roles: who works together, and which records
//! each role reads and changes. Admins only, like the other settings.

use super::layout::{self, field_errors, form_alert, page, Errors, Field, Nav};
use super::settings::tabs;
use super::{see_other, Ctx, PageResult, TenantSession, UserForm, UserPage};
use crate::app::App;
use crate::auth::{RecordType, Scope};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::roles::{self, PermissionsChange, RoleInput, TypeChange};
use crate::staff;
use crate::teams::{self, TeamInput};
use crate::web::extract::PathId;
use axum::extract::State;
use axum::http::StatusCode;
use maud::{html, Markup};
use std::collections::HashMap;
use uuid::Uuid;

type Form = HashMap<String, String>;

const SCOPES: [(Scope, &str); 3] = [
    (Scope::Own, "own"),
    (Scope::Team, "team"),
    (Scope::All, "all"),
];

/// The members a team form ticked (`member_<id>` checkboxes).
fn members(form: &Form) -> Vec<Uuid> {
    form.keys()
        .filter_map(|k| k.strip_prefix("member_"))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}

fn team_input(form: &Form) -> TeamInput {
    TeamInput {
        name: form.get("name").cloned(),
        description: form
            .get("description")
            .map(|d| Some(d.clone()).filter(|d| !d.trim().is_empty())),
        member_ids: Some(members(form)),
    }
}

fn member_boxes(people: &[(Uuid, String)], ticked: &[Uuid], prefix: &str) -> Markup {
    html! {
        fieldset {
            legend { "Members" }
            @for (id, name) in people {
                label { input type="checkbox" id=(format!("{prefix}-{id}")) name=(format!("member_{id}")) value="on" checked[ticked.contains(id)]; " " (name) }
            }
        }
    }
}

async fn teams_page(
    s: &mut TenantSession,
    ctx: &Ctx,
    form: &Form,
    errors: &Errors,
) -> Result<Markup, ApiError> {
    let all = teams::list(&mut s.tx).await?;
    let people = staff::names(&mut s.tx).await?;
    let name_of = |id: &Uuid| {
        people
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let v = |k: &str| form.get(k).cloned().unwrap_or_default();
    Ok(page(
        "Teams",
        ctx,
        Nav::Settings,
        html! {
            h1 { "Settings" }
            (tabs("/settings/teams"))
            p.muted { "A role whose reach is " strong { "team" } " lets its users work on the records of everyone who shares a team with them." }
            @if all.is_empty() { p { "No teams yet." } }
            @for t in &all {
                section.card {
                    h2 { (t.name) }
                    @if let Some(d) = &t.description { p.muted { (d) } }
                    p { @if t.member_ids.is_empty() { "No members." } @else {
                        @for (i, m) in t.member_ids.iter().enumerate() { @if i > 0 { ", " } (name_of(m)) }
                    } }
                    details {
                        summary { "Edit " (t.name) }
                        form method="post" action=(format!("/settings/teams/{}", t.id)) {
                            (ctx.csrf_field())
                            (Field::new("name", "Name", &t.name).required().render(&Errors::new()))
                            (Field::new("description", "Description", t.description.as_deref().unwrap_or("")).render(&Errors::new()))
                            (member_boxes(&people, &t.member_ids, &t.id.to_string()))
                            button type="submit" { "Save team" }
                        }
                    }
                    form.inline method="post" action=(format!("/settings/teams/{}/delete", t.id)) data-confirm=(format!("Delete the team {}?", t.name)) {
                        (ctx.csrf_field())
                        button.small.danger type="submit" { "Delete team" }
                    }
                }
            }
            section.card.narrow {
                h2 { "Add a team" }
                (form_alert(errors, &["name", "description", "member_ids"]))
                form method="post" action="/settings/teams/new" novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Name", &v("name")).required().render(errors))
                    (Field::new("description", "Description", &v("description")).render(errors))
                    (member_boxes(&people, &members(form), "new"))
                    button type="submit" { "Add team" }
                }
            }
        },
    ))
}

pub async fn teams_list(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let markup = teams_page(&mut s, &ctx, &Form::new(), &Errors::new()).await?;
    Ok(layout::respond(StatusCode::OK, markup))
}

pub async fn create_team(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let admin = s.user.admin()?;
    match teams::create(&mut s.tx, &admin, team_input(&form), state.clock.now()).await {
        Ok(_) => Ok(see_other("/settings/teams")),
        Err(e) if layout::is_form_error(&e) => {
            let markup = teams_page(&mut s, &ctx, &form, &field_errors(&e)).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update_team(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let admin = s.user.admin()?;
    match teams::update(&mut s.tx, &admin, id, team_input(&form), state.clock.now()).await {
        Ok(_) => Ok(see_other("/settings/teams")),
        Err(e) if layout::is_form_error(&e) => {
            let markup = teams_page(&mut s, &ctx, &Form::new(), &field_errors(&e)).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_team(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let admin = s.user.admin()?;
    teams::delete(&mut s.tx, &admin, id, state.clock.now()).await?;
    Ok(see_other("/settings/teams"))
}

/// A role's permission form: one row per record type.
fn role_form(ctx: &Ctx, r: &roles::RoleView) -> Markup {
    let flag = |t: RecordType, name: &str, on: bool| {
        let field = format!("{}.{name}", t.as_str());
        html! { td { label { span.sr-only { (name) " " (t.as_str()) } input type="checkbox" name=(field) value="on" checked[on] disabled[!r.editable]; } } }
    };
    let scope = |t: RecordType, name: &str, current: Scope| {
        let field = format!("{}.{name}", t.as_str());
        html! { td {
            label.sr-only for=(format!("{}-{field}", r.id)) { (name) " " (t.as_str()) }
            select id=(format!("{}-{field}", r.id)) name=(field) disabled[!r.editable] {
                @for (s, label) in SCOPES { option value=(label) selected[s == current] { (label) } }
            }
        } }
    };
    html! {
        form method="post" action=(format!("/settings/roles/{}", r.id)) {
            (ctx.csrf_field())
            div.table-wrap { table.list {
                thead { tr { th { "Records" } th { "Read" } th { "Change" } th { "Delete" } th { "Import" } th { "Export" } th { "Bulk" } } }
                tbody { @for t in RecordType::ALL {
                    @let p = r.permissions.of(t);
                    tr { th scope="row" { (t.as_str()) } (scope(t, "read", p.read)) (scope(t, "edit", p.edit))
                        (flag(t, "delete", p.delete)) (flag(t, "import", p.import)) (flag(t, "export", p.export)) (flag(t, "bulk", p.bulk)) }
                } }
            } }
            @if r.editable { button type="submit" { "Save " (r.name) } } @else { p.muted { "Admins always have full access." } }
        }
    }
}

async fn roles_page(s: &mut TenantSession, ctx: &Ctx, errors: &Errors) -> Result<Markup, ApiError> {
    let all = roles::list(&mut s.tx).await?;
    Ok(page(
        "Roles",
        ctx,
        Nav::Settings,
        html! {
            h1 { "Settings" }
            (tabs("/settings/roles"))
            p.muted { "Per record type, how far each role reads and changes: its users' " strong { "own" } " records, their " strong { "team" } "'s, or " strong { "all" } ". A record out of reach is not shown at all." }
            (form_alert(errors, &["name", "permissions"]))
            @for r in &all {
                section.card {
                    h2 { (r.name) @if r.builtin.is_some() { " " span.badge { "built-in" } } " " span.muted.small { (r.users) " users" } }
                    (role_form(ctx, r))
                    @if r.builtin.is_none() {
                        form.inline method="post" action=(format!("/settings/roles/{}/delete", r.id)) data-confirm=(format!("Delete the role {}?", r.name)) {
                            (ctx.csrf_field())
                            button.small.danger type="submit" { "Delete role" }
                        }
                    }
                }
            }
            section.card.narrow {
                h2 { "Add a role" }
                p.muted { "It starts from the user role's defaults; give it to users on the Users tab." }
                form method="post" action="/settings/roles/new" novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Name", "").required().render(errors))
                    button type="submit" { "Add role" }
                }
            }
        },
    ))
}

/// Every permission of a submitted role form (an unticked box is `false`).
fn permissions(form: &Form) -> Result<PermissionsChange, ApiError> {
    let scope = |field: String| -> Result<Option<Scope>, ApiError> {
        match form.get(&field) {
            None => Ok(None),
            Some(v) => SCOPES
                .iter()
                .find(|(_, l)| l == v)
                .map(|(s, _)| Some(*s))
                .ok_or_else(|| {
                    ApiError::field(&format!("permissions.{field}"), "must be own, team or all")
                }),
        }
    };
    let mut change = PermissionsChange::default();
    for t in RecordType::ALL {
        let k = |name: &str| format!("{}.{name}", t.as_str());
        let c = TypeChange {
            read: scope(k("read"))?,
            edit: scope(k("edit"))?,
            delete: Some(form.contains_key(&k("delete"))),
            import: Some(form.contains_key(&k("import"))),
            export: Some(form.contains_key(&k("export"))),
            bulk: Some(form.contains_key(&k("bulk"))),
        };
        match t {
            RecordType::Companies => change.companies = Some(c),
            RecordType::Contacts => change.contacts = Some(c),
            RecordType::Leads => change.leads = Some(c),
            RecordType::Deals => change.deals = Some(c),
            RecordType::Activities => change.activities = Some(c),
            RecordType::Notes => change.notes = Some(c),
        }
    }
    Ok(change)
}

pub async fn roles_list(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let markup = roles_page(&mut s, &ctx, &Errors::new()).await?;
    Ok(layout::respond(StatusCode::OK, markup))
}

/// Runs a role change; a refused one shows the page with its reasons.
async fn role_result(
    s: &mut TenantSession,
    ctx: &Ctx,
    result: ApiResult<roles::RoleView>,
) -> PageResult {
    match result {
        Ok(_) => Ok(see_other("/settings/roles")),
        Err(e) if layout::is_form_error(&e) || e.code == crate::error::ErrorCode::Conflict => {
            let markup = roles_page(s, ctx, &field_errors(&e)).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create_role(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let admin = s.user.admin()?;
    let input = RoleInput {
        name: form.get("name").cloned(),
        permissions: None,
    };
    let result = roles::create(&mut s.tx, &admin, input, state.clock.now()).await;
    role_result(&mut s, &ctx, result).await
}

pub async fn update_role(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let admin = s.user.admin()?;
    let input = RoleInput {
        name: None,
        permissions: Some(permissions(&form)?),
    };
    let result = roles::update(&mut s.tx, &admin, id, input, state.clock.now()).await;
    role_result(&mut s, &ctx, result).await
}

pub async fn delete_role(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, .. } = f;
    let admin = s.user.admin()?;
    match roles::delete(&mut s.tx, &admin, id, state.clock.now()).await {
        Ok(()) => Ok(see_other("/settings/roles")),
        Err(e) if e.code == crate::error::ErrorCode::Conflict => {
            let markup = roles_page(&mut s, &ctx, &field_errors(&e)).await?;
            Ok(layout::respond(e.code.status(), markup))
        }
        Err(e) => Err(e.into()),
    }
}

/// The custom roles, for the users page's "record access" choice.
pub(super) async fn custom_roles(s: &mut TenantSession) -> ApiResult<Vec<(String, String)>> {
    Ok(roles::list(&mut s.tx)
        .await?
        .into_iter()
        .filter(|r| r.builtin.is_none())
        .map(|r| (r.id.to_string(), r.name))
        .collect())
}

/// Whether `role` is one a custom role can replace (not an admin's).
pub(super) fn takes_custom_role(role: Role) -> bool {
    role != Role::Admin
}
