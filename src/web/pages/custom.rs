//! Custom fields in the pages: the right input per type in record forms
//! (named `custom_fields.<key>`, the API's own names, so its errors land
//! beside them), their values on detail pages and in list columns, and the
//! settings page where admins define them.

use super::layout::{self, form_alert, form_failure, money, page, Errors, Field, Nav};
use super::settings::tabs;
use super::{see_other, Ctx, PageResult, UserForm, UserPage};
use crate::app::App;
use crate::crm::custom::{self, Entity, FieldDef, FieldInput, FieldType, SelectOption};
use crate::error::FieldErrors;
use crate::plans::Feature;
use crate::web::extract::PathId;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDateTime, TimeZone, Utc};
use maud::{html, Markup};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

type Form = HashMap<String, String>;

/// The tenant's users, for user fields.
pub type Users = Vec<(Uuid, String)>;

fn name(def: &FieldDef) -> String {
    format!("custom_fields.{}", def.key)
}

/// The inputs of `defs` for a record whose custom values (or what was
/// typed) are `values`.
pub fn inputs(
    ctx: &Ctx,
    defs: &[FieldDef],
    values: &Value,
    users: &Users,
    errors: &Errors,
) -> Markup {
    html! {
        @for def in defs { (input(ctx, def, &values[&def.key], values, users, errors)) }
    }
}

fn input(
    ctx: &Ctx,
    def: &FieldDef,
    v: &Value,
    all: &Value,
    users: &Users,
    errors: &Errors,
) -> Markup {
    let n = name(def);
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(x) => x.to_string(),
        _ => String::new(),
    };
    let hint = def.help_text.as_deref();
    let field = |kind: &str, value: &str| {
        let mut f = Field::new(&n, &def.label, value).kind(kind).auto("off");
        if def.required {
            f = f.required();
        }
        if let Some(h) = hint {
            f = f.hint(h);
        }
        f.render(errors)
    };
    match def.field_type {
        FieldType::Text => field("text", &text),
        FieldType::Email => field("email", &text),
        FieldType::Phone => field("tel", &text),
        FieldType::Url => field("url", &text),
        FieldType::Number => field("number", &text),
        FieldType::Date => field("date", &text),
        FieldType::Datetime => {
            let local = chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| {
                    t.with_timezone(&ctx.tz)
                        .format("%Y-%m-%dT%H:%M")
                        .to_string()
                })
                .unwrap_or(text);
            field("datetime-local", &local)
        }
        FieldType::LongText => html! {
            div.field.invalid[errors.contains_key(&n)] {
                label for=(format!("f-{n}")) { (def.label) }
                textarea id=(format!("f-{n}")) name=(n) rows="4" required[def.required] { (text) }
                @if let Some(m) = errors.get(&n) { p.error { (m) } } @else if let Some(h) = hint { p.hint { (h) } }
            }
        },
        FieldType::Money => {
            let (amount, currency) = match v {
                Value::Object(m) => (
                    m.get("amount")
                        .and_then(Value::as_i64)
                        .map(|a| format!("{}.{:02}", a / 100, a % 100))
                        .unwrap_or_default(),
                    m.get("currency")
                        .and_then(Value::as_str)
                        .unwrap_or("USD")
                        .to_owned(),
                ),
                Value::String(s) => (
                    s.clone(),
                    all[format!("{}[currency]", def.key)]
                        .as_str()
                        .unwrap_or("USD")
                        .to_owned(),
                ),
                _ => (String::new(), "USD".to_owned()),
            };
            html! {
                div.field.money.invalid[errors.contains_key(&n)] {
                    label for=(format!("f-{n}")) { (def.label) }
                    input id=(format!("f-{n}")) name=(n) value=(amount) inputmode="decimal" autocomplete="off" required[def.required];
                    label.sr-only for=(format!("f-{n}-currency")) { (def.label) " currency" }
                    input.currency id=(format!("f-{n}-currency")) name=(format!("{n}[currency]")) value=(currency) size="3" maxlength="3" autocomplete="off";
                    @if let Some(m) = errors.get(&n) { p.error { (m) } } @else { p.hint { (hint.unwrap_or("An amount such as 1500.50, and a currency code such as EUR.")) } }
                }
            }
        }
        FieldType::Checkbox => html! {
            div.field {
                label { input type="checkbox" name=(n) value="true" checked[v.as_bool().unwrap_or(false) || text == "true"]; " " (def.label) }
                @if let Some(h) = hint { p.hint { (h) } }
            }
        },
        FieldType::Select | FieldType::User => {
            let mut opts: Vec<(String, String)> = vec![(String::new(), "—".to_owned())];
            if def.field_type == FieldType::Select {
                opts.extend(
                    def.options
                        .iter()
                        .map(|o| (o.value.clone(), o.label.clone())),
                );
            } else {
                opts.extend(
                    users
                        .iter()
                        .map(|(id, name)| (id.to_string(), name.clone())),
                );
            }
            layout::select(&n, &def.label, &opts, &text, errors)
        }
        FieldType::MultiSelect => {
            let chosen = |value: &str| {
                v.as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(value)))
                    || !all[format!("{}[{value}]", def.key)].is_null()
            };
            html! {
                fieldset.field.invalid[errors.contains_key(&n)] {
                    legend { (def.label) }
                    @for o in &def.options {
                        label.choice { input type="checkbox" name=(format!("{n}[{}]", o.value)) value="true" checked[chosen(&o.value)]; " " (o.label) }
                    }
                    @if let Some(m) = errors.get(&n) { p.error { (m) } } @else if let Some(h) = hint { p.hint { (h) } }
                }
            }
        }
    }
}

/// The API's `custom_fields` for a submitted form: blank clears a value.
pub fn values_of(
    tz: chrono_tz::Tz,
    defs: &[FieldDef],
    form: &Form,
    errors: &mut FieldErrors,
) -> Map<String, Value> {
    let mut out = Map::new();
    for def in defs {
        let n = name(def);
        let raw = form.get(&n).map(|v| v.trim()).unwrap_or("");
        let value = match def.field_type {
            FieldType::Checkbox => Value::Bool(raw == "true"),
            FieldType::MultiSelect => Value::Array(
                def.options
                    .iter()
                    .filter(|o| form.contains_key(&format!("{n}[{}]", o.value)))
                    .map(|o| Value::String(o.value.clone()))
                    .collect(),
            ),
            _ if raw.is_empty() => Value::Null,
            FieldType::Number => match raw
                .replace(',', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Some(x) => Value::Number(x),
                None => {
                    errors.add(&n, "must be a number");
                    continue;
                }
            },
            FieldType::Money => match super::records::parse_amount(raw) {
                Ok(minor) => {
                    let currency = form
                        .get(&format!("{n}[currency]"))
                        .map(|c| c.trim().to_uppercase())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "USD".to_owned());
                    serde_json::json!({ "amount": minor, "currency": currency })
                }
                Err(m) => {
                    errors.add(&n, m);
                    continue;
                }
            },
            FieldType::Datetime => match NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M") {
                Ok(local) => match tz.from_local_datetime(&local).earliest() {
                    Some(t) => Value::String(
                        t.with_timezone(&Utc)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                    None => {
                        errors.add(&n, "does not exist in your time zone");
                        continue;
                    }
                },
                Err(_) => Value::String(raw.to_owned()),
            },
            _ => Value::String(raw.to_owned()),
        };
        out.insert(def.key.clone(), value);
    }
    out
}

/// A value as people read it.
pub fn shown(ctx: &Ctx, def: &FieldDef, v: &Value, users: &Users) -> Markup {
    let label_of = |value: &str| {
        def.options
            .iter()
            .find(|o| o.value == value)
            .map(|o| o.label.clone())
            .unwrap_or_else(|| value.to_owned())
    };
    html! {
        @match (def.field_type, v) {
            (_, Value::Null) => "—",
            (FieldType::Money, Value::Object(m)) => (money(m.get("amount").and_then(Value::as_i64).unwrap_or(0), m.get("currency").and_then(Value::as_str).unwrap_or(""))),
            (FieldType::Checkbox, Value::Bool(b)) => (if *b { "yes" } else { "no" }),
            (FieldType::Datetime, Value::String(s)) => (chrono::DateTime::parse_from_rfc3339(s).map(|t| ctx.when(&t.with_timezone(&Utc))).unwrap_or_else(|_| s.clone())),
            (FieldType::Select, Value::String(s)) => (label_of(s)),
            (FieldType::MultiSelect, Value::Array(a)) => @for x in a { span.tag { (label_of(x.as_str().unwrap_or(""))) } " " },
            (FieldType::Url, Value::String(s)) => a href=(s) rel="noopener nofollow" { (s) },
            (FieldType::Email, Value::String(s)) => a href=(format!("mailto:{s}")) { (s) },
            (FieldType::Phone, Value::String(s)) => a href=(format!("tel:{s}")) { (s) },
            (FieldType::User, Value::String(s)) => (users.iter().find(|(id, _)| id.to_string() == *s).map(|(_, n)| n.clone()).unwrap_or_else(|| s.clone())),
            (FieldType::LongText, Value::String(s)) => span.prewrap { (s) },
            (_, Value::String(s)) => (s),
            (_, other) => (other.to_string()),
        }
    }
}

/// The users user fields choose from (only read when a field needs them).
pub async fn users_for(
    tx: &mut crate::store::TenantTx,
    defs: &[FieldDef],
) -> crate::error::ApiResult<Users> {
    if defs.iter().any(|d| d.field_type == FieldType::User) {
        crate::staff::names(tx).await
    } else {
        Ok(Vec::new())
    }
}

// ---------------------------------------------------------------------------
// Settings → Custom fields.

const TYPES: &[(&str, &str)] = &[
    ("text", "Text"),
    ("long_text", "Long text"),
    ("number", "Number"),
    ("money", "Money"),
    ("date", "Date"),
    ("datetime", "Date and time"),
    ("checkbox", "Checkbox"),
    ("select", "Choice (one)"),
    ("multi_select", "Choices (several)"),
    ("url", "Web address"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("user", "User"),
];

fn fields_page(
    ctx: &Ctx,
    defs: &[FieldDef],
    allowed: bool,
    values: &Form,
    errors: &Errors,
) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    let entities: Vec<(String, String)> = Entity::ALL
        .iter()
        .map(|e| {
            (
                e.as_str().to_owned(),
                super::records::capitalise(e.as_str()),
            )
        })
        .collect();
    let types: Vec<(String, String)> = TYPES
        .iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect();
    page(
        "Custom fields",
        ctx,
        Nav::Settings,
        html! {
            h1 { "Settings" }
            (tabs("/settings/fields"))
            @for entity in Entity::ALL {
                @let of: Vec<&FieldDef> = defs.iter().filter(|d| d.entity == *entity).collect();
                @if !of.is_empty() {
                    section.card {
                        h2 { (super::records::capitalise(entity.as_str())) }
                        div.table-wrap {
                            table.list.fields {
                                thead { tr { th { "Label" } th { "Key" } th { "Type" } th { "Required" } th { "In the list" } th { span.sr-only { "Actions" } } } }
                                tbody {
                                    @for d in of {
                                        tr.archived[d.archived] {
                                            td { (d.label) @if d.archived { " " span.badge { "archived" } } }
                                            td { code { (d.key) } }
                                            td { (TYPES.iter().find(|(k, _)| *k == d.field_type.as_str()).map(|(_, l)| *l).unwrap_or("")) }
                                            td { (if d.required { "yes" } else { "no" }) }
                                            td { (if d.in_list { "yes" } else { "no" }) }
                                            td {
                                                @if d.archived {
                                                    form.inline method="post" action=(format!("/settings/fields/{}/restore", d.id)) {
                                                        (ctx.csrf_field())
                                                        button.small type="submit" { "Restore" }
                                                    }
                                                } @else {
                                                    form.inline method="post" action=(format!("/settings/fields/{}/archive", d.id))
                                                        data-confirm=(format!("Archive {}? Its values are kept, hidden, until you restore it.", d.label)) {
                                                        (ctx.csrf_field())
                                                        button.small.secondary type="submit" { "Archive" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if defs.is_empty() { p.muted { "No custom fields yet: add the first below." } }
            section.card.narrow {
                h2 { "Add a field" }
                @if allowed {
                    (form_alert(errors, &["entity", "key", "label", "type", "options", "help_text"]))
                    form method="post" action="/settings/fields/new" novalidate {
                        (ctx.csrf_field())
                        (layout::select("entity", "Record type", &entities, &v("entity"), errors))
                        (Field::new("label", "Label", &v("label")).auto("off").required().render(errors))
                        (Field::new("key", "Key", &v("key")).auto("off").hint("Used by the API and imports: a-z, 0-9 and _. It never changes. Empty: made from the label.").render(errors))
                        (layout::select("type", "Type", &types, &v("type"), errors))
                        div.field.invalid[errors.contains_key("options")] {
                            label for="f-options" { "Choices" }
                            textarea #f-options name="options" rows="4" { (v("options")) }
                            @if let Some(m) = errors.get("options") { p.error { (m) } } @else { p.hint { "For choice fields: one per line." } }
                        }
                        (Field::new("help_text", "Help text", &v("help_text")).auto("off").render(errors))
                        div.field { label { input type="checkbox" name="required" value="true" checked[v("required") == "true"]; " Required" } }
                        div.field { label { input type="checkbox" name="in_list" value="true" checked[v("in_list") == "true"]; " Show as a column of the list" } }
                        button type="submit" { "Add field" }
                    }
                } @else {
                    p.muted { "Custom fields come with the Professional plan. " a href="/upgrade" { "See the plans" } }
                }
            }
        },
    )
}

pub async fn settings(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.admin()?;
    let defs = custom::definitions(&mut s.tx, None, true).await?;
    let allowed = s.tenant.has_feature(Feature::CustomFields.as_str());
    Ok(layout::respond(
        StatusCode::OK,
        fields_page(&ctx, &defs, allowed, &Form::new(), &Errors::new()),
    ))
}

/// A key made from a label: "Move-in date" → `move_in_date`.
fn key_of(label: &str) -> String {
    let mut key = String::new();
    for c in label.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    let key = key.trim_matches('_').to_owned();
    let key = if key.starts_with(|c: char| c.is_ascii_digit()) {
        format!("f_{key}")
    } else {
        key
    };
    key.chars().take(50).collect()
}

pub async fn create(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    s.user.admin()?;
    s.tenant.require(Feature::CustomFields)?;
    let get = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let label = get("label");
    let options: Vec<SelectOption> = get("options")
        .map(|o| {
            o.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| SelectOption {
                    value: key_of(l),
                    label: l.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let input = FieldInput {
        entity: get("entity").and_then(|e| e.parse().ok()),
        key: get("key").or_else(|| label.as_deref().map(key_of)),
        label,
        field_type: get("type").and_then(|t| t.parse().ok()),
        options: Some(options),
        required: Some(form.get("required").is_some_and(|v| v == "true")),
        help_text: get("help_text").map(Some),
        in_list: Some(form.get("in_list").is_some_and(|v| v == "true")),
        ..Default::default()
    };
    match custom::create(&mut s.tx, input, state.clock.now()).await {
        Ok(_) => Ok(see_other("/settings/fields")),
        Err(e) => {
            let defs = custom::definitions(&mut s.tx, None, true).await?;
            form_failure(e, |errors| fields_page(&ctx, &defs, true, &form, errors))
        }
    }
}

async fn set_archived(state: &App, id: Uuid, f: UserForm<Form>, archive: bool) -> PageResult {
    let UserForm { mut s, .. } = f;
    s.user.admin()?;
    if !archive {
        s.tenant.require(Feature::CustomFields)?;
    }
    custom::set_archived(&mut s.tx, id, archive, state.clock.now()).await?;
    Ok(see_other("/settings/fields"))
}

pub async fn archive(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    set_archived(&state, id, f, true).await
}

pub async fn restore(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    set_archived(&state, id, f, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_from_labels() {
        assert_eq!(key_of("Move-in date"), "move_in_date");
        assert_eq!(key_of("  Budget (€) "), "budget");
        assert_eq!(key_of("3 bedrooms"), "f_3_bedrooms");
    }
}
