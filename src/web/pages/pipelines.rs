//! The pipeline editor, for admins and managers: pipelines made, renamed,
//! made the default and deleted; their stages added, renamed, recoloured,
//! given a kind (open, won, lost), reordered (by drag and drop, or by the
//! Move up / Move down buttons, which need no script), and deleted, with
//! the stage's deals moved to a stage chosen first. Every change goes
//! through the service the JSON API calls.

use super::layout::{self, field_errors, form_alert, is_form_error, page, Errors, Field, Nav};
use super::{see_other, Ctx, PageResult, UserForm, UserPage};
use crate::app::App;
use crate::crm::pipelines::{
    self, CreatePipeline, PipelineView, Reorder, StageInput, StageView, UpdatePipeline, UpdateStage,
};
use crate::domain::{PipelineId, StageId, StageKind};
use crate::error::{ApiError, ApiResult};
use crate::web::extract::{PathId, PathIds};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use std::collections::HashMap;
use uuid::Uuid;

type Form = HashMap<String, String>;

/// What a stage's kind means, for the people choosing it.
fn kind_label(k: StageKind) -> &'static str {
    match k {
        StageKind::Open => "Open",
        StageKind::Won => "Won (closes the deal as won)",
        StageKind::Lost => "Lost (closes the deal as lost)",
    }
}

fn kinds() -> Vec<(String, String)> {
    StageKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), kind_label(*k).to_owned()))
        .collect()
}

fn editor_path(id: Uuid) -> String {
    format!("/pipelines/{id}")
}

// ---------------------------------------------------------------------------
// The list.

fn list_page(ctx: &Ctx, all: &[PipelineView], values: &Form, errors: &Errors) -> Markup {
    page(
        "Pipelines",
        ctx,
        Nav::Deals,
        html! {
            div.titlebar {
                h1 { "Pipelines" }
                a.button.secondary href="/deals" { "Back to the board" }
            }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Pipeline" } th { "Stages" } th { span.sr-only { "Default" } } } }
                    tbody {
                        @for p in all {
                            tr {
                                td { a href=(editor_path(p.id)) { (p.name) } }
                                td { (p.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" → ")) }
                                td { @if p.is_default { span.badge { "default" } } }
                            }
                        }
                    }
                }
            }
            section.card.narrow {
                h2 { "New pipeline" }
                p.muted { "It starts with the usual stages (New, Qualified, Proposal, Negotiation, Won, Lost); rename and reorder them on its page." }
                (form_alert(errors, &["name"]))
                form method="post" action="/pipelines/new" novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Name", values.get("name").map(String::as_str).unwrap_or("")).auto("off").required().render(errors))
                    button type="submit" { "Create pipeline" }
                }
            }
        },
    )
}

pub async fn list(p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.manager("change pipelines")?;
    let all = pipelines::list(&mut s.tx).await?;
    Ok(layout::respond(
        StatusCode::OK,
        list_page(&ctx, &all, &Form::new(), &Errors::new()),
    ))
}

pub async fn create(State(state): State<App>, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let by = s.user.manager("change pipelines")?;
    let input = CreatePipeline {
        name: form.get("name").cloned(),
        stages: None,
        is_default: None,
    };
    match pipelines::create(&mut s.tx, &by, input, state.clock.now()).await {
        Ok(p) => Ok(see_other(&editor_path(p.id))),
        Err(e) if is_form_error(&e) => {
            let all = pipelines::list(&mut s.tx).await?;
            Ok(layout::respond(
                e.code.status(),
                list_page(&ctx, &all, &form, &field_errors(&e)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// One pipeline.

/// Which form of the editor an error belongs to: the pipeline's own, a
/// stage's (by id), or the new stage's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Pipeline,
    Stage(Uuid),
    NewStage,
}

struct Failed<'a> {
    scope: Scope,
    values: &'a Form,
    errors: Errors,
}

fn editor(
    ctx: &Ctx,
    p: &PipelineView,
    counts: &HashMap<Uuid, i64>,
    failed: Option<&Failed<'_>>,
) -> Markup {
    let none = Errors::new();
    let errors_of = |scope: Scope| match failed {
        Some(f) if f.scope == scope => &f.errors,
        _ => &none,
    };
    let typed = |scope: Scope, key: &str, fallback: &str| -> String {
        match failed {
            Some(f) if f.scope == scope => f.values.get(key).cloned().unwrap_or_default(),
            _ => fallback.to_owned(),
        }
    };
    let last = p.stages.len().saturating_sub(1);
    let here = editor_path(p.id);
    let pe = errors_of(Scope::Pipeline);
    let ne = errors_of(Scope::NewStage);
    page(
        &format!("Pipeline {}", p.name),
        ctx,
        Nav::Deals,
        html! {
            div.titlebar {
                h1 { "Pipeline: " (p.name) @if p.is_default { " " span.badge { "default" } } }
                div.actions {
                    a.button.secondary href="/pipelines" { "All pipelines" }
                    a.button.secondary href=(format!("/deals?pipeline_id={}", p.id)) { "Open the board" }
                }
            }
            section.card {
                h2 { "Name" }
                (form_alert(pe, &["name"]))
                form.row-form method="post" action=(here.clone()) novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Pipeline name", &typed(Scope::Pipeline, "name", &p.name)).auto("off").required().render(pe))
                    @if !p.is_default {
                        div.field { label { input type="checkbox" name="is_default" value="true"; " Make it the default pipeline" } }
                    }
                    button type="submit" { "Save" }
                }
            }
            section.card {
                h2 #stages-title { "Stages" }
                p.muted.small {
                    "In order, left to right on the board. Drag a stage by its handle, or use Move up and Move down. "
                    "A deal in a Won or Lost stage is closed as won or lost."
                }
                p.sr-only aria-live="polite" data-stage-status="" {}
                ol.stages aria-labelledby="stages-title" data-stages=(p.id) {
                    @for (i, st) in p.stages.iter().enumerate() {
                        @let se = errors_of(Scope::Stage(st.id));
                        @let deals = counts.get(&st.id).copied().unwrap_or(0);
                        li.stage data-stage=(st.id) {
                            span.handle draggable="true" aria-hidden="true" title="Drag to reorder" { "⠿" }
                            span.swatch style=(format!("background: {}", st.color.as_deref().unwrap_or("#e5e7eb"))) {}
                            (form_alert(se, &["name", "kind", "probability", "color"]))
                            form.stage-form method="post" action=(format!("{here}/stages/{}", st.id)) novalidate {
                                (ctx.csrf_field())
                                @let id = |f: &str| format!("s-{}-{f}", st.id);
                                div.field.invalid[se.contains_key("name")] {
                                    label for=(id("name")) { "Name" }
                                    input id=(id("name")) name="name" value=(typed(Scope::Stage(st.id), "name", &st.name)) required autocomplete="off"
                                        aria-invalid=[se.get("name").map(|_| "true")];
                                    @if let Some(m) = se.get("name") { p.error { (m) } }
                                }
                                div.field {
                                    label for=(id("kind")) { "Kind" }
                                    select id=(id("kind")) name="kind" {
                                        @for (value, text) in kinds() {
                                            option value=(value) selected[value == st.kind.as_str()] { (text) }
                                        }
                                    }
                                }
                                div.field.narrow-field.invalid[se.contains_key("probability")] {
                                    label for=(id("probability")) { "Win chance %" }
                                    input id=(id("probability")) name="probability" type="number" min="0" max="100"
                                        value=(typed(Scope::Stage(st.id), "probability", &st.probability.to_string()));
                                    @if let Some(m) = se.get("probability") { p.error { (m) } }
                                }
                                div.field.narrow-field {
                                    label for=(id("color")) { "Colour" }
                                    input id=(id("color")) name="color" type="color" value=(st.color.as_deref().unwrap_or("#9ca3af"));
                                }
                                button.small type="submit" { "Save" }
                            }
                            div.stage-actions {
                                span.badge class=(format!("badge kind-{}", st.kind.as_str())) { (st.kind.as_str()) }
                                span.muted.small { (deals) (if deals == 1 { " deal" } else { " deals" }) }
                                form.inline method="post" action=(format!("{here}/stages/{}/move", st.id)) {
                                    (ctx.csrf_field())
                                    button.small.secondary type="submit" name="direction" value="up" disabled[i == 0]
                                        aria-label=(format!("Move {} up", st.name)) { "↑ Move up" }
                                    button.small.secondary type="submit" name="direction" value="down" disabled[i == last]
                                        aria-label=(format!("Move {} down", st.name)) { "↓ Move down" }
                                }
                                @if p.stages.len() > 1 {
                                    a.button.small.danger-link href=(format!("{here}/stages/{}/delete", st.id))
                                        aria-label=(format!("Delete stage {}", st.name)) { "Delete" }
                                }
                            }
                        }
                    }
                }
                noscript { p.muted.small { "Without scripts, reorder with Move up and Move down." } }
            }
            section.card.narrow {
                h2 { "Add a stage" }
                (form_alert(ne, &["name", "kind", "color"]))
                form method="post" action=(format!("{here}/stages/new")) novalidate {
                    (ctx.csrf_field())
                    (Field::new("name", "Stage name", &typed(Scope::NewStage, "name", "")).auto("off").required().render(ne))
                    (layout::select("kind", "Kind", &kinds(), &typed(Scope::NewStage, "kind", "open"), ne))
                    div.field {
                        label for="new-color" { "Colour" }
                        input #new-color name="color" type="color" value="#9ca3af";
                    }
                    button type="submit" { "Add stage" }
                }
            }
            @if !p.is_default {
                section.card.narrow {
                    h2 { "Delete this pipeline" }
                    p.muted { "Only a pipeline without deals can be deleted; move its deals to another pipeline first." }
                    form method="post" action=(format!("{here}/delete")) data-confirm=(format!("Delete the pipeline {}?", p.name)) {
                        (ctx.csrf_field())
                        button.danger type="submit" { "Delete pipeline" }
                    }
                }
            }
        },
    )
}

async fn render_editor(
    s: &mut crate::auth::TenantSession,
    ctx: &Ctx,
    id: PipelineId,
    status: StatusCode,
    failed: Option<&Failed<'_>>,
) -> PageResult {
    let p = pipelines::get(&mut s.tx, id).await?;
    let counts = pipelines::deals_per_stage(&mut s.tx, id).await?;
    Ok(layout::respond(status, editor(ctx, &p, &counts, failed)))
}

/// The editor again after `result`: on success a redirect to it, on a
/// form's error the editor with the error beside that form.
async fn after(
    s: &mut crate::auth::TenantSession,
    ctx: &Ctx,
    id: PipelineId,
    scope: Scope,
    form: &Form,
    result: ApiResult<PipelineView>,
) -> PageResult {
    match result {
        Ok(_) => Ok(see_other(&editor_path(id.0))),
        Err(e) if is_form_error(&e) => {
            let failed = Failed {
                scope,
                values: form,
                errors: field_errors(&e),
            };
            render_editor(s, ctx, id, e.code.status(), Some(&failed)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn show(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.manager("change pipelines")?;
    render_editor(&mut s, &ctx, PipelineId(id), StatusCode::OK, None).await
}

pub async fn update(State(state): State<App>, PathId(id): PathId, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let by = s.user.manager("change pipelines")?;
    let input = UpdatePipeline {
        name: form.get("name").cloned(),
        is_default: (form.get("is_default").map(String::as_str) == Some("true")).then_some(true),
        position: None,
    };
    let result = pipelines::update(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await;
    after(&mut s, &ctx, PipelineId(id), Scope::Pipeline, &form, result).await
}

pub async fn delete(PathId(id): PathId, f: UserForm<Form>) -> PageResult {
    let UserForm { mut s, .. } = f;
    let by = s.user.manager("change pipelines")?;
    pipelines::delete(&mut s.tx, &by, PipelineId(id)).await?;
    Ok(see_other("/pipelines"))
}

/// A whole number from a form field; blank is none.
fn number(form: &Form, key: &str) -> ApiResult<Option<i64>> {
    match form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::field(key, "must be a whole number from 0 to 100")),
    }
}

fn kind_of(form: &Form) -> ApiResult<Option<StageKind>> {
    match form.get("kind").filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) => k
            .parse()
            .map(Some)
            .map_err(|_| ApiError::field("kind", "must be open, won or lost")),
    }
}

pub async fn add_stage(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let by = s.user.manager("change pipelines")?;
    let result = match kind_of(&form) {
        Ok(kind) => {
            let input = StageInput {
                name: form.get("name").cloned(),
                probability: None,
                kind,
                color: form.get("color").cloned().filter(|c| !c.is_empty()),
            };
            pipelines::add_stage(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    after(&mut s, &ctx, PipelineId(id), Scope::NewStage, &form, result).await
}

pub async fn update_stage(
    State(state): State<App>,
    PathIds(id, stage): PathIds,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let by = s.user.manager("change pipelines")?;
    let parsed = kind_of(&form).and_then(|k| Ok((k, number(&form, "probability")?)));
    let result = match parsed {
        Ok((kind, probability)) => {
            let input = UpdateStage {
                name: form.get("name").cloned(),
                probability,
                kind,
                color: form
                    .get("color")
                    .map(|c| Some(c.clone()).filter(|c| !c.is_empty())),
            };
            pipelines::update_stage(
                &mut s.tx,
                &by,
                PipelineId(id),
                StageId(stage),
                input,
                state.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    after(
        &mut s,
        &ctx,
        PipelineId(id),
        Scope::Stage(stage),
        &form,
        result,
    )
    .await
}

/// One step up or down: the keyboard's (and the script-less) way to
/// reorder.
pub async fn move_stage(
    State(state): State<App>,
    PathIds(id, stage): PathIds,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let by = s.user.manager("change pipelines")?;
    let p = pipelines::get(&mut s.tx, PipelineId(id)).await?;
    let mut order: Vec<Uuid> = p.stages.iter().map(|s| s.id).collect();
    let at = order
        .iter()
        .position(|s| *s == stage)
        .ok_or_else(ApiError::not_found)?;
    match form.get("direction").map(String::as_str) {
        Some("up") if at > 0 => order.swap(at, at - 1),
        Some("down") if at + 1 < order.len() => order.swap(at, at + 1),
        Some("up" | "down") => {}
        _ => return Err(ApiError::field("direction", "must be up or down").into()),
    }
    let input = Reorder {
        stage_ids: Some(order),
    };
    pipelines::reorder(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await?;
    Ok(see_other(&format!("{}#stages-title", editor_path(id))))
}

/// The order after a drag: every stage id, comma separated. Answered with
/// JSON for the script, with the editor otherwise.
pub async fn reorder(
    State(state): State<App>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: UserForm<Form>,
) -> PageResult<Response> {
    let UserForm { mut s, form, .. } = f;
    let by = s.user.manager("change pipelines")?;
    let ids: Result<Vec<Uuid>, _> = form_ids(form.get("order"));
    let result = match ids {
        Ok(ids) => {
            let input = Reorder {
                stage_ids: Some(ids),
            };
            pipelines::reorder(&mut s.tx, &by, PipelineId(id), input, state.clock.now()).await
        }
        Err(()) => Err(ApiError::field("order", "must list the stage ids")),
    };
    let fetch = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch");
    match (result, fetch) {
        (Ok(p), true) => Ok(axum::Json(serde_json::json!({
            "stage_ids": p.stages.iter().map(|s| s.id).collect::<Vec<_>>()
        }))
        .into_response()),
        (Ok(_), false) => Ok(see_other(&editor_path(id))),
        (Err(e), true) => Ok(e.into_response()),
        (Err(e), false) => Err(e.into()),
    }
}

fn form_ids(v: Option<&String>) -> Result<Vec<Uuid>, ()> {
    v.map(|v| {
        v.split(',')
            .map(|s| Uuid::parse_str(s.trim()).map_err(|_| ()))
            .collect()
    })
    .unwrap_or(Err(()))
}

// ---------------------------------------------------------------------------
// Deleting a stage.

fn delete_page(
    ctx: &Ctx,
    p: &PipelineView,
    stage: &StageView,
    deals: i64,
    errors: &Errors,
) -> Markup {
    let others: Vec<(String, String)> = p
        .stages
        .iter()
        .filter(|s| s.id != stage.id)
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let first_open = p
        .stages
        .iter()
        .find(|s| s.id != stage.id && s.kind == stage.kind)
        .or_else(|| p.stages.iter().find(|s| s.id != stage.id))
        .map(|s| s.id.to_string())
        .unwrap_or_default();
    page(
        &format!("Delete stage {}", stage.name),
        ctx,
        Nav::Deals,
        html! {
            section.card.narrow {
                h1 { "Delete the stage “" (stage.name) "”?" }
                (form_alert(errors, &["move_to"]))
                form method="post" action=(format!("{}/stages/{}/delete", editor_path(p.id), stage.id)) {
                    (ctx.csrf_field())
                    @if deals > 0 {
                        p { "It holds " strong { (deals) (if deals == 1 { " deal" } else { " deals" }) } ". Where should "
                            (if deals == 1 { "it" } else { "they" }) " go?" }
                        (layout::select("move_to", "Move the deals to", &others, &first_open, errors))
                    } @else {
                        p.muted { "No deal is in this stage." }
                    }
                    div.actions {
                        button.danger type="submit" { "Delete the stage" }
                        a.button.secondary href=(editor_path(p.id)) { "Cancel" }
                    }
                }
            }
        },
    )
}

/// The delete page of a stage: the deals it holds and where they go.
async fn render_delete(
    s: &mut crate::auth::TenantSession,
    ctx: &Ctx,
    id: Uuid,
    stage: Uuid,
    status: StatusCode,
    failed: Option<&ApiError>,
) -> PageResult {
    let pipeline = pipelines::get(&mut s.tx, PipelineId(id)).await?;
    let st = pipeline
        .stages
        .iter()
        .find(|s| s.id == stage)
        .ok_or_else(ApiError::not_found)?;
    let counts = pipelines::deals_per_stage(&mut s.tx, PipelineId(id)).await?;
    let deals = counts.get(&stage).copied().unwrap_or(0);
    let mut errors = failed.map(field_errors).unwrap_or_default();
    if failed.is_some() && deals > 0 && !errors.contains_key("move_to") {
        errors = Errors::from([("move_to".to_owned(), "choose where its deals go".to_owned())]);
    }
    Ok(layout::respond(
        status,
        delete_page(ctx, &pipeline, st, deals, &errors),
    ))
}

pub async fn delete_stage_form(p: UserPage, PathIds(id, stage): PathIds) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.user.manager("change pipelines")?;
    render_delete(&mut s, &ctx, id, stage, StatusCode::OK, None).await
}

pub async fn delete_stage(
    State(state): State<App>,
    PathIds(id, stage): PathIds,
    f: UserForm<Form>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let by = s.user.manager("change pipelines")?;
    let move_to = match form.get("move_to").filter(|v| !v.is_empty()) {
        Some(v) => Some(StageId(Uuid::parse_str(v).map_err(|_| {
            ApiError::field("move_to", "must be another stage of this pipeline")
        })?)),
        None => None,
    };
    let result = pipelines::delete_stage(
        &mut s.tx,
        &by,
        PipelineId(id),
        StageId(stage),
        move_to,
        state.clock.now(),
    )
    .await;
    match result {
        Ok(_) => Ok(see_other(&editor_path(id))),
        // A stage that holds deals (or gained some since the page was
        // shown): ask where they go.
        Err(e) if is_form_error(&e) => {
            render_delete(&mut s, &ctx, id, stage, e.code.status(), Some(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}
