//! Overviews: the activity calendar (week and month), the open tasks, and
//! the reports as charts and tables.

use super::layout::{self, bar_chart, money, page, Nav};
use super::{PageResult, UserPage};
use crate::app::App;
use crate::crm::activities::{self, ActivityFilter, ActivityView};
use crate::crm::listing::ListRequest;
use crate::crm::{pipelines, reports};
use crate::error::FieldErrors;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{Datelike, Duration, NaiveDate};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct CalendarQuery {
    view: Option<String>,
    date: Option<String>,
    mine: Option<String>,
}

/// The most activities a calendar page shows.
const CALENDAR_LIMIT: &str = "200";

pub async fn calendar(
    State(state): State<App>,
    p: UserPage,
    Query(q): Query<CalendarQuery>,
) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.tenant.require(crate::plans::Feature::BasicReports)?;
    let today = ctx.day_of(&state.clock.now());
    let mut e = FieldErrors::default();
    let day = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => e
            .check(
                "date",
                NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| "must be YYYY-MM-DD"),
            )
            .unwrap_or(today),
        None => today,
    };
    let month = q.view.as_deref() == Some("month");
    let mine = q.mine.as_deref() != Some("0");
    let (start, end) = if month {
        let first = day.with_day(1).unwrap_or(day);
        let grid = first - Duration::days(first.weekday().num_days_from_monday() as i64);
        (grid, grid + Duration::days(42))
    } else {
        let monday = day - Duration::days(day.weekday().num_days_from_monday() as i64);
        (monday, monday + Duration::days(7))
    };
    let req = ListRequest::parse_with_due(Some(CALENDAR_LIMIT), Some("due_at"), None, &mut e);
    e.finish()?;
    let at = |d: NaiveDate| ctx.midnight(d);
    let page_ = activities::list(
        &mut s.tx,
        &s.user.access,
        &ActivityFilter {
            from: at(start),
            to: at(end),
            assigned_to: mine.then_some(s.user.id.0),
            ..Default::default()
        },
        &req,
    )
    .await?;
    let on = |d: NaiveDate| -> Vec<&ActivityView> {
        page_
            .items
            .iter()
            .filter(|a| a.due_at.is_some_and(|t| ctx.day_of(&t) == d))
            .collect()
    };
    let link = |view: &str, d: NaiveDate| {
        format!(
            "/activities?view={view}&date={d}&mine={}",
            if mine { "1" } else { "0" }
        )
    };
    let view = if month { "month" } else { "week" };
    let (prev, next) = if month {
        let first = day.with_day(1).unwrap_or(day);
        let prev = (first - Duration::days(1)).with_day(1).unwrap_or(first);
        let next = (first + Duration::days(32)).with_day(1).unwrap_or(first);
        (prev, next)
    } else {
        (day - Duration::days(7), day + Duration::days(7))
    };
    let days: Vec<NaiveDate> = (0..(end - start).num_days())
        .map(|i| start + Duration::days(i))
        .collect();
    let title = if month {
        day.format("%B %Y").to_string()
    } else {
        format!("Week of {}", start.format("%-d %B %Y"))
    };
    let body = html! {
        div.titlebar {
            h1 { "Activities" }
            div.actions {
                a.button.secondary href="/activities/tasks" { "My open tasks" }
            }
        }
        nav.calendar-nav aria-label="Calendar" {
            a href=(link(view, prev)) { "« Previous" }
            strong { (title) }
            a href=(link(view, next)) { "Next »" }
            span.sep {}
            a href=(link("week", day)) aria-current=[(!month).then_some("page")] { "Week" }
            a href=(link("month", day)) aria-current=[month.then_some("page")] { "Month" }
            a href=(link(view, today)) { "Today" }
            @if mine { a href=(link(view, day).replace("mine=1", "mine=0")) { "Everyone's" } }
            @else { a href=(link(view, day)) { "Only mine" } }
        }
        @if page_.next_cursor.is_some() { p.alert { "More than " (CALENDAR_LIMIT) " activities in this range: showing the first. Narrow it to the week." } }
        div class=(if month { "calendar month" } else { "calendar week" }) {
            @for d in &days {
                section.day.today[*d == today].other[month && d.month() != day.month()] aria-label=(d.format("%A %-d %B").to_string()) {
                    h2 { span.dow { (d.format("%a")) } " " (d.format("%-d")) }
                    ul {
                        @let items = on(*d);
                        @let shown = if month { 3 } else { items.len() };
                        @for a in items.iter().take(shown) {
                            li.done[a.done] {
                                span.time { (a.due_at.map(|t| t.with_timezone(&ctx.tz).format("%H:%M").to_string()).unwrap_or_default()) }
                                " " (a.subject)
                                @if let Some(c) = a.contact_id { " " a href=(format!("/contacts/{c}")) aria-label="contact" { "→" } }
                            }
                        }
                        @if items.len() > shown { li.more { a href=(link("week", *d)) { "+" (items.len() - shown) " more" } } }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Activities", &ctx, Nav::Activities, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct TasksQuery {
    cursor: Option<String>,
}

pub async fn tasks(p: UserPage, Query(q): Query<TasksQuery>) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let mut e = FieldErrors::default();
    let req = ListRequest::parse_with_due(Some("25"), Some("due_at"), q.cursor.as_deref(), &mut e);
    e.finish()?;
    let page_ = activities::list(
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
    let body = html! {
        div.titlebar {
            h1 { "My open tasks" }
            a.button.secondary href="/activities" { "Calendar" }
        }
        section.card {
            (super::crm::activity_list(&ctx, &page_.items, "No open tasks with a due date — well done.", "/activities/tasks"))
        }
        nav.pager { @if let Some(c) = &page_.next_cursor { a rel="next" href=(format!("/activities/tasks?cursor={c}")) { "Next page »" } } }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("My open tasks", &ctx, Nav::Activities, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    pipeline_id: Option<String>,
}

pub async fn reports(
    State(state): State<App>,
    p: UserPage,
    Query(q): Query<ReportQuery>,
) -> PageResult {
    let UserPage { mut s, ctx } = p;
    s.tenant.require(crate::plans::Feature::BasicReports)?;
    let today = ctx.day_of(&state.clock.now());
    let mut e = FieldErrors::default();
    let mut date =
        |name: &str, v: Option<&str>, default: NaiveDate| match v.filter(|v| !v.is_empty()) {
            Some(v) => e
                .check(
                    name,
                    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| "must be YYYY-MM-DD"),
                )
                .unwrap_or(default),
            None => default,
        };
    let from = date(
        "from",
        q.from.as_deref(),
        (today - Duration::days(365)).with_day(1).unwrap_or(today),
    );
    let to = date("to", q.to.as_deref(), today + Duration::days(1));
    e.finish()?;
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    };
    let all = pipelines::list(&mut s.tx).await?;
    let chosen = super::crm::chosen_pipeline(&all, q.pipeline_id.as_deref());
    let pipeline = match chosen {
        Some(p) => Some(reports::pipeline(&mut s.tx, &s.user.access, Some(p.id)).await?),
        None => None,
    };
    let sales = reports::sales(&mut s.tx, &s.user.access, at(from), at(to)).await?;
    let work = reports::activities(&mut s.tx, &s.user.access, at(from), at(to)).await?;
    let leads = reports::leads(&mut s.tx, &s.user.access, at(from), at(to)).await?;
    let body = html! {
        h1 { "Reports" }
        form.filters method="get" action="/reports" {
            div.field { label for="from" { "From" } input #from type="date" name="from" value=(from); }
            div.field { label for="to" { "To (exclusive)" } input #to type="date" name="to" value=(to); }
            @if all.len() > 1 {
                div.field {
                    label for="pipeline_id" { "Pipeline" }
                    select #pipeline_id name="pipeline_id" {
                        @for p in &all { option value=(p.id) selected[chosen.is_some_and(|c| c.id == p.id)] { (p.name) } }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        div.columns {
            section.card {
                h2 { "Pipeline: deals per stage" }
                @if let Some(r) = &pipeline {
                    (bar_chart("Deals per stage", &r.stages.iter().map(|s| (s.name.clone(), s.count, s.kind.as_str())).collect::<Vec<_>>()))
                    (table(&["Stage", "Deals", "Value"], r.stages.iter().map(|s| vec![s.name.clone(), s.count.to_string(), values(&s.value)])))
                }
            }
            section.card {
                h2 { "Sales: won deals per month" }
                (bar_chart("Won deals per month", &sales.iter().map(|m| (m.month.clone(), m.won_deals, "won")).collect::<Vec<_>>()))
                (table(&["Month", "Won", "Value"], sales.iter().map(|m| vec![m.month.clone(), m.won_deals.to_string(), values(&m.value)])))
            }
            section.card {
                h2 { "Activities per user" }
                (bar_chart("Activities done per user", &work.iter().map(|u| (u.full_name.clone().unwrap_or_else(|| "Unassigned".into()), u.done, "won")).collect::<Vec<_>>()))
                (table(&["User", "Done", "Open"], work.iter().map(|u| vec![u.full_name.clone().unwrap_or_else(|| "Unassigned".into()), u.done.to_string(), u.open.to_string()])))
            }
            section.card {
                h2 { "Leads per source" }
                (bar_chart("Leads per source", &leads.iter().map(|l| (l.source.clone().unwrap_or_else(|| "(none)".into()), l.leads, "open")).collect::<Vec<_>>()))
                (table(&["Source", "Leads", "Converted", "Rate"], leads.iter().map(|l| vec![
                    l.source.clone().unwrap_or_else(|| "(none)".into()), l.leads.to_string(), l.converted.to_string(),
                    format!("{:.0} %", l.conversion_rate * 100.0)])))
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page("Reports", &ctx, Nav::Reports, body),
    ))
}

fn values(v: &[reports::Money]) -> String {
    v.iter()
        .map(|m| money(m.amount, &m.currency))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Markup {
    let rows: Vec<Vec<String>> = rows.collect();
    html! {
        @if rows.is_empty() { p.muted { "Nothing in this period." } }
        @else {
            div.table-wrap {
                table.list {
                    thead { tr { @for h in headers { th { (h) } } } }
                    tbody { @for r in &rows { tr { @for c in r { td { (c) } } } } }
                }
            }
        }
    }
}
