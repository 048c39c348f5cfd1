//! The tenant's CRM pages: dashboard, contacts, the deal board, and the
//! plan catalogue. Each handler calls the service the JSON API calls.

use super::layout::{self, form_alert, json_data, money, page, select, Errors, Field, Nav};
use super::{refs, see_other, PageError, PageResult, UserForm, UserPage};
use crate::app::App;
use crate::crm::activities::{self, ActivityFilter, ActivityInput, ActivityView};
use crate::crm::deals::{self, DealFilter, DealInput, DealView};
use crate::crm::listing::ListRequest;
use crate::crm::names::{Named, Names};
use crate::crm::pipelines::{self, PipelineView};
use crate::crm::reports;
use crate::crm::timeline::{self, RecordKind};
use crate::domain::{ActivityId, DealId, PipelineId, StageKind};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::web::extract::PathId;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

/// The pipeline a page asked for (`?pipeline_id=`), else the default, else
/// the first.
pub fn chosen_pipeline<'a>(
    all: &'a [PipelineView],
    asked: Option<&str>,
) -> Option<&'a PipelineView> {
    asked
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| all.iter().find(|p| p.id == id))
        .or_else(|| all.iter().find(|p| p.is_default))
        .or_else(|| all.first())
}

// ---------------------------------------------------------------------------
// Dashboard.

pub async fn dashboard(State(state): State<App>, p: UserPage) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let now = state.clock.now();
    let all = pipelines::list(&mut s.tx).await?;
    let pipeline = chosen_pipeline(&all, None).cloned();
    let report = match &pipeline {
        Some(p) => Some(reports::pipeline(&mut s.tx, &s.user.access, Some(p.id)).await?),
        None => None,
    };
    let start = ctx.midnight(ctx.day_of(&now)).unwrap_or(now);
    let mut e = FieldErrors::default();
    let req = ListRequest::parse_with_due(Some("20"), Some("due_at"), None, &mut e);
    e.finish()?;
    let today = activities::list(
        &mut s.tx,
        &s.user.access,
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
        &s.user.access,
        &ActivityFilter {
            assigned_to: Some(s.user.id.0),
            done: Some(false),
            ..Default::default()
        },
        &req,
    )
    .await?;

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
                (layout::bar_chart("Deals per stage", &r.stages.iter().map(|s| (s.name.clone(), s.count, s.kind.as_str())).collect::<Vec<_>>()))
            }
        }
        div.columns {
            section.card {
                h2 { "Today" }
                (activity_list(&ctx, &today.items, "Nothing due today.", "/dashboard"))
            }
            section.card {
                h2 { "My open tasks" }
                (activity_list(&ctx, &open_tasks.items, "No open tasks — well done.", "/dashboard"))
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Dashboard", &ctx, Nav::Dashboard, body),
    ))
}

/// Activities with their "Mark done" buttons, which return to `back`.
pub fn activity_list(ctx: &super::Ctx, items: &[ActivityView], empty: &str, back: &str) -> Markup {
    html! {
        @if items.is_empty() { p.muted { (empty) } }
        ul.activities {
            @for a in items {
                li.done[a.done] {
                    span.badge { (a.kind.as_str()) }
                    " " strong { (a.subject) }
                    @if let Some(d) = a.due_at { " " span.muted { "due " (ctx.when(&d)) } }
                    @if let Some(c) = a.contact_id { " · " a href=(format!("/contacts/{c}")) { "contact" } }
                    @if !a.done {
                        form.inline method="post" action=(format!("/activities/{}/done", a.id)) {
                            (ctx.csrf_field())
                            input type="hidden" name="back" value=(back);
                            button.small type="submit" { "Mark done" }
                        }
                    }
                }
            }
        }
    }
}

pub async fn activity_done(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Back>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let input = ActivityInput {
        done: Some(true),
        ..Default::default()
    };
    activities::update(
        &mut s.tx,
        &s.user.access,
        ActivityId(id),
        input,
        state.clock.now(),
    )
    .await?;
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
    let Some(pipeline) = chosen_pipeline(&all, q.pipeline_id.as_deref()).cloned() else {
        return Err(ApiError::not_found().into());
    };
    let report = reports::pipeline(&mut s.tx, &s.user.access, Some(pipeline.id)).await?;
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
        columns.push(
            deals::list(&mut s.tx, &s.user.access, &f, &req)
                .await?
                .items,
        );
    }
    let shapes_pipelines = s.user.manager("change pipelines").is_ok();
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
                @if shapes_pipelines {
                    a.button.secondary href=(format!("/pipelines/{}", pipeline.id)) { "Edit pipeline" }
                }
                a.button href=(format!("/deals/new?pipeline_id={}", pipeline.id)) { "New deal" }
            }
        }
        p.muted.small { "Drag a card to another stage, or use its Move menu." }
        (json_data("board-data", &serde_json::json!({"csrf": ctx.csrf})))
        div.board data-board="" {
            @for (stage, deals_) in pipeline.stages.iter().zip(&columns) {
                @let r = report.stages.iter().find(|r| r.stage_id == stage.id);
                section.column data-stage=(stage.id) aria-label=(stage.name)
                    style=[stage.color.as_deref().map(|c| format!("border-top: 4px solid {c}"))] {
                    header {
                        h2 { (stage.name) }
                        @if stage.kind != StageKind::Open { span class=(format!("badge kind-{}", stage.kind.as_str())) { (stage.kind.as_str()) } }
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
}

/// Moves a deal to a stage: from the board's drag and drop (answered with
/// JSON) or its Move menu (answered with the board again).
pub async fn move_deal(
    State(state): State<App>,
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
            deals::update(
                &mut s.tx,
                &s.user.access,
                DealId(id),
                input,
                state.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match (result, fetch) {
        (Ok(d), true) => Ok(axum::Json(
            serde_json::json!({"id": d.id, "stage_id": d.stage_id, "status": d.status}),
        )
        .into_response()),
        (Ok(d), false) => Ok(see_other(&format!("/deals?pipeline_id={}", d.pipeline_id))),
        (Err(e), true) => Ok(e.into_response()),
        (Err(e), false) => Err(e.into()),
    }
}

/// The deal form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct DealForm {
    title: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    pipeline_id: Option<String>,
    stage_id: Option<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
    owner_id: Option<String>,
    expected_close_date: Option<String>,
    lost_reason: Option<String>,
}

impl DealForm {
    /// What an existing deal's form shows.
    fn of(d: &DealView) -> DealForm {
        let id = |v: Option<Uuid>| Some(v.map(|v| v.to_string()).unwrap_or_default());
        DealForm {
            title: Some(d.title.clone()),
            amount: Some(format!("{}.{:02}", d.amount / 100, d.amount % 100)),
            currency: Some(d.currency.clone()),
            pipeline_id: Some(d.pipeline_id.to_string()),
            stage_id: Some(d.stage_id.to_string()),
            contact_id: id(d.contact_id),
            company_id: id(d.company_id),
            owner_id: id(d.owner_id),
            expected_close_date: d.expected_close_date.map(|d| d.to_string()),
            lost_reason: d.lost_reason.clone(),
        }
    }

    /// The API's input for these fields (`has_items`: the amount and
    /// currency follow the deal's line items and are not sent).
    fn input(&self, has_items: bool) -> ApiResult<DealInput> {
        let mut e = FieldErrors::default();
        let amount = if has_items {
            None
        } else {
            layout::given(&self.amount)
                .and_then(|a| e.check("amount", super::records::parse_amount(&a)))
        };
        let stage = self
            .stage_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|id| {
                e.check(
                    "stage_id",
                    Uuid::parse_str(id).map_err(|_| "is not a stage"),
                )
            });
        let contact_id = refs::form_id(&mut e, "contact_id", self.contact_id.as_ref());
        let company_id = refs::form_id(&mut e, "company_id", self.company_id.as_ref());
        let owner_id = refs::form_id(&mut e, "owner_id", self.owner_id.as_ref()).flatten();
        let expected_close_date = self.expected_close_date.as_ref().map(|d| {
            let d = d.trim();
            (!d.is_empty())
                .then(|| {
                    e.check(
                        "expected_close_date",
                        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                            .map_err(|_| "is not a date"),
                    )
                })
                .flatten()
        });
        e.finish()?;
        Ok(DealInput {
            title: self.title.clone(),
            stage_id: stage,
            amount,
            currency: if has_items {
                None
            } else {
                layout::given(&self.currency)
            },
            expected_close_date,
            contact_id,
            company_id,
            owner_id,
            lost_reason: self
                .lost_reason
                .as_ref()
                .map(|_| layout::given(&self.lost_reason)),
            ..Default::default()
        })
    }
}

/// The choices of the deal form's reference fields.
struct DealChoices {
    contacts: Vec<(String, String)>,
    companies: Vec<(String, String)>,
    owners: Vec<(String, String)>,
}

impl DealChoices {
    async fn load(s: &mut crate::auth::TenantSession, f: &DealForm) -> ApiResult<DealChoices> {
        let current = |v: &Option<String>| v.as_deref().and_then(|v| Uuid::parse_str(v).ok());
        let who = &s.user.access;
        Ok(DealChoices {
            contacts: refs::choices(
                &mut s.tx,
                who,
                Named::Contact,
                current(&f.contact_id),
                Some("— none —"),
            )
            .await?,
            companies: refs::choices(
                &mut s.tx,
                who,
                Named::Company,
                current(&f.company_id),
                Some("— none —"),
            )
            .await?,
            owners: refs::choices(&mut s.tx, who, Named::User, current(&f.owner_id), None).await?,
        })
    }
}

/// The form to make a deal (`editing`: none) or change one.
fn deal_form_page(
    ctx: &super::Ctx,
    pipeline: &PipelineView,
    f: &DealForm,
    choices: &DealChoices,
    editing: Option<(Uuid, bool)>,
    errors: &Errors,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let stages: Vec<(String, String)> = pipeline
        .stages
        .iter()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let first = stages.first().map(|s| s.0.clone()).unwrap_or_default();
    let fields = [
        "title",
        "amount",
        "currency",
        "stage_id",
        "contact_id",
        "company_id",
        "owner_id",
        "expected_close_date",
        "lost_reason",
    ];
    let (title, action, cancel) = match editing {
        Some((id, _)) => (
            "Edit deal".to_owned(),
            format!("/deals/{id}/edit"),
            format!("/deals/{id}"),
        ),
        None => (
            "New deal".to_owned(),
            "/deals/new".to_owned(),
            format!("/deals?pipeline_id={}", pipeline.id),
        ),
    };
    let has_items = editing.is_some_and(|(_, items)| items);
    page(
        &title,
        ctx,
        Nav::Deals,
        html! {
            section.card.narrow {
                h1 { (title) }
                p.muted { "In " (pipeline.name) }
                (form_alert(errors, &fields))
                form method="post" action=(action) novalidate {
                    (ctx.csrf_field())
                    input type="hidden" name="pipeline_id" value=(pipeline.id);
                    (Field::new("title", "Title", &v(&f.title)).auto("off").required().render(errors))
                    @if has_items {
                        p.muted.small { "The amount is the total of the deal's line items: change those on the deal's page." }
                    } @else {
                        div.row {
                            (Field::new("amount", "Amount", &v(&f.amount)).kind("text").auto("off").hint("For example 1500 or 1500.50.").render(errors))
                            (Field::new("currency", "Currency", &f.currency.clone().unwrap_or_else(|| crate::domain::Currency::DEFAULT.into())).auto("off").render(errors))
                        }
                    }
                    (select("stage_id", "Stage", &stages, f.stage_id.as_deref().filter(|s| !s.is_empty()).unwrap_or(&first), errors))
                    (refs::field("contact_id", "Contact", &choices.contacts, f.contact_id.as_deref().unwrap_or(""), errors))
                    (refs::field("company_id", "Company", &choices.companies, f.company_id.as_deref().unwrap_or(""), errors))
                    (refs::field("owner_id", "Owner", &choices.owners, f.owner_id.as_deref().unwrap_or(""), errors))
                    (Field::new("expected_close_date", "Expected close date", &v(&f.expected_close_date)).kind("date").render(errors))
                    @if editing.is_some() {
                        (Field::new("lost_reason", "Reason it was lost", &v(&f.lost_reason)).auto("off").hint("For a lost deal.").render(errors))
                    }
                    div.actions {
                        button type="submit" { @if editing.is_some() { "Save" } @else { "Create deal" } }
                        a.button.secondary href=(cancel) { "Cancel" }
                    }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct NewDealQuery {
    pipeline_id: Option<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
}

/// The new-deal form; from a contact's or company's page, linked to it.
pub async fn new_deal(p: UserPage, Query(q): Query<NewDealQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let all = pipelines::list(&mut s.tx).await?;
    let chosen = chosen_pipeline(&all, q.pipeline_id.as_deref()).ok_or_else(ApiError::not_found)?;
    let form = DealForm {
        contact_id: q.contact_id,
        company_id: q.company_id,
        owner_id: Some(s.user.id.0.to_string()),
        ..Default::default()
    };
    let choices = DealChoices::load(&mut s, &form).await?;
    Ok(layout::respond(
        StatusCode::OK,
        deal_form_page(&ctx, chosen, &form, &choices, None, &Errors::new()),
    ))
}

pub async fn create_deal(State(state): State<App>, f: UserForm<DealForm>) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let pipeline_id = Uuid::parse_str(form.pipeline_id.as_deref().unwrap_or_default()).ok();
    let pipeline = match pipeline_id {
        Some(id) => pipelines::get(&mut s.tx, PipelineId(id)).await?,
        None => return Err(ApiError::not_found().into()),
    };
    let result = match form.input(false) {
        Ok(input) => {
            let input = DealInput {
                pipeline_id: Some(pipeline.id),
                ..input
            };
            deals::create(&mut s.tx, &s.user, input, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(see_other(&format!("/deals/{}", d.id))),
        Err(e) if layout::is_form_error(&e) => {
            let choices = DealChoices::load(&mut s, &form).await?;
            Ok(layout::respond(
                e.code.status(),
                deal_form_page(
                    &ctx,
                    &pipeline,
                    &form,
                    &choices,
                    None,
                    &layout::field_errors(&e),
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_deal(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let d = deals::get(&mut s.tx, &s.user.access, DealId(id)).await?;
    let pipeline = pipelines::get(&mut s.tx, PipelineId(d.pipeline_id)).await?;
    let items = crate::crm::products::has_items(&mut s.tx, DealId(id)).await?;
    let form = DealForm::of(&d);
    let choices = DealChoices::load(&mut s, &form).await?;
    Ok(layout::respond(
        StatusCode::OK,
        deal_form_page(
            &ctx,
            &pipeline,
            &form,
            &choices,
            Some((id, items)),
            &Errors::new(),
        ),
    ))
}

pub async fn update_deal(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<DealForm>,
) -> PageResult {
    let UserForm { mut s, ctx, form } = f;
    let d = deals::get(&mut s.tx, &s.user.access, DealId(id)).await?;
    let items = crate::crm::products::has_items(&mut s.tx, DealId(id)).await?;
    let result = match form.input(items) {
        Ok(input) => {
            deals::update(
                &mut s.tx,
                &s.user.access,
                DealId(id),
                input,
                state.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/deals/{id}"))),
        Err(e) if layout::is_form_error(&e) => {
            let pipeline = pipelines::get(&mut s.tx, PipelineId(d.pipeline_id)).await?;
            let choices = DealChoices::load(&mut s, &form).await?;
            Ok(layout::respond(
                e.code.status(),
                deal_form_page(
                    &ctx,
                    &pipeline,
                    &form,
                    &choices,
                    Some((id, items)),
                    &layout::field_errors(&e),
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_deal(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<Back>,
) -> PageResult {
    let UserForm { mut s, .. } = f;
    let d = deals::get(&mut s.tx, &s.user.access, DealId(id)).await?;
    deals::delete(&mut s.tx, &s.user.access, DealId(id), state.clock.now()).await?;
    Ok(see_other(&format!("/deals?pipeline_id={}", d.pipeline_id)))
}

pub async fn deal(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let d = deals::get(&mut s.tx, &s.user.access, DealId(id)).await?;
    let pipeline = pipelines::get(&mut s.tx, PipelineId(d.pipeline_id)).await?;
    let items = crate::crm::products::items(&mut s.tx, &s.user.access, DealId(id)).await?;
    let mut e = FieldErrors::default();
    let first = ListRequest::parse(Some("100"), Some("name"), None, &mut e);
    e.finish()?;
    let offered = crate::crm::products::list(
        &mut s.tx,
        &crate::crm::products::ProductFilter {
            active: Some(true),
            ..Default::default()
        },
        &first,
    )
    .await?;
    let entries =
        timeline::timeline(&mut s.tx, &s.user.access, RecordKind::Deal, id, 50, None).await?;
    let origin =
        crate::crm::leads::converted_into(&mut s.tx, &s.user.access, RecordKind::Deal, id).await?;
    let names = Names::load(
        &mut s.tx,
        &s.user.access,
        d.contact_id
            .map(|c| (Named::Contact, c))
            .into_iter()
            .chain(d.company_id.map(|c| (Named::Company, c)))
            .chain(d.owner_id.map(|c| (Named::User, c)))
            .chain(super::records::timeline_refs(&entries.items)),
    )
    .await?;
    let stage = pipeline.stages.iter().find(|s| s.id == d.stage_id);
    let back = format!("/deals/{id}");
    let body = html! {
        div.titlebar {
            h1 { (d.title) }
            div.actions {
                a.button.secondary href=(format!("/deals?pipeline_id={}", d.pipeline_id)) { "Back to the board" }
                a.button.secondary href=(format!("/deals/{id}/edit")) { "Edit" }
                form.inline method="post" action=(format!("/deals/{id}/delete")) data-confirm=(format!("Delete the deal {}? This cannot be undone.", d.title)) {
                    (ctx.csrf_field())
                    button.danger type="submit" { "Delete" }
                }
            }
        }
        div.columns {
            section.card {
                h2 { "Details" }
                dl.details {
                    dt { "Amount" } dd { (money(d.amount, &d.currency)) }
                    dt { "Pipeline" } dd { (pipeline.name) }
                    dt { "Stage" } dd { (stage.map(|s| s.name.as_str()).unwrap_or("—")) }
                    dt { "Status" } dd { span class=(format!("badge kind-{}", d.status.as_str())) { (d.status.as_str()) } }
                    dt { "Expected close" } dd { (d.expected_close_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                    dt { "Contact" } dd { (refs::named(&names, Named::Contact, d.contact_id)) }
                    dt { "Company" } dd { (refs::named(&names, Named::Company, d.company_id)) }
                    dt { "Owner" } dd { (refs::named(&names, Named::User, d.owner_id)) }
                    @if let Some(r) = &d.lost_reason { dt { "Lost because" } dd { (r) } }
                    @if let Some(lead) = &origin { dt { "Converted from" } dd { a href=(format!("/leads/{}", lead.id)) { "the lead " (lead.name) } } }
                }
            }
            section.card {
                h2 { "Line items" }
                @if items.is_empty() { p.muted { "No line items: the amount is set by hand. With items, it is their total." } }
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
                @if !offered.items.is_empty() {
                    form method="post" action=(format!("/deals/{id}/items")) {
                        (ctx.csrf_field())
                        (select("product_id", "Product", &offered.items.iter().map(|p| (p.id.to_string(), format!("{} ({})", p.name, money(p.price, &p.currency)))).collect::<Vec<_>>(), "", &Errors::new()))
                        div.row {
                            (Field::new("quantity", "Quantity", "1").kind("number").auto("off").render(&Errors::new()))
                            (Field::new("discount_percent", "Discount %", "0").kind("number").auto("off").render(&Errors::new()))
                        }
                        button type="submit" { "Add item" }
                    }
                } @else {
                    p.small { a href="/products/new" { "Add products" } " to put them on deals." }
                }
            }
            (super::records::log_forms(&ctx, &back))
        }
        section.card {
            h2 { "Timeline" }
            (super::records::timeline_list(&ctx, &entries.items, &names, &back))
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&d.title, &ctx, Nav::Deals, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemForm {
    product_id: Option<String>,
    quantity: Option<String>,
    discount_percent: Option<String>,
}

pub async fn add_item(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<ItemForm>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let mut e = FieldErrors::default();
    let product = form.product_id.as_deref().and_then(|p| {
        e.check(
            "product_id",
            Uuid::parse_str(p).map_err(|_| "is not a product"),
        )
    });
    let mut number = |name: &str, v: &Option<String>| {
        layout::given(v)
            .and_then(|v| e.check(name, v.parse::<i64>().map_err(|_| "must be a whole number")))
    };
    let quantity = number("quantity", &form.quantity);
    let discount = number("discount_percent", &form.discount_percent);
    e.finish()?;
    let input = crate::crm::products::ItemInput {
        product_id: product,
        quantity,
        discount_percent: discount,
        ..Default::default()
    };
    crate::crm::products::add_item(
        &mut s.tx,
        &s.user.access,
        DealId(id),
        input,
        state.clock.now(),
    )
    .await?;
    Ok(see_other(&format!("/deals/{id}")))
}
