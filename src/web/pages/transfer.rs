//! CSV import and export in the browser: the same import the API runs.
//! Checking a file is a dry run (everything done, then rolled back) that
//! shows how its columns are read, its first rows, and each bad row.

use super::layout::{self, page, Nav};
use super::{PageResult, UserPage, UserUpload};
use crate::app::App;
use crate::crm::transfer::{self, CsvStream, ImportReport, Kind};
use crate::web::api::crm::ImportQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where each kind's pages live, and what its page calls it.
pub trait Place: Kind + Default + 'static {
    const PATH: &'static str;
    const PLURAL: &'static str;
    const NAV: Nav;
}

impl Place for transfer::Contacts {
    const PATH: &'static str = "/contacts";
    const PLURAL: &'static str = "contacts";
    const NAV: Nav = Nav::Contacts;
}

impl Place for transfer::Leads {
    const PATH: &'static str = "/leads";
    const PLURAL: &'static str = "leads";
    const NAV: Nav = Nav::Leads;
}

pub async fn export<K: Place>(p: UserPage) -> Response {
    crate::web::api::crm::export::<K>(p.s).await
}

fn upload_form<K: Place>(ctx: &super::Ctx, dry_run: bool) -> Markup {
    html! {
        form.card method="post" action=(format!("{}/import", K::PATH)) enctype="multipart/form-data" {
            (ctx.csrf_field())
            div.field {
                label for="on_duplicate" { "When a row's e-mail is already in your " (K::PLURAL) }
                select #on_duplicate name="on_duplicate" {
                    option value="skip" { "skip the row" }
                    option value="update" { "update that record with the row" }
                }
            }
            div.field {
                label { input type="checkbox" name="dry_run" value="true" checked[dry_run]; " Check the file only (write nothing)" }
            }
            div.field {
                label for="file" { "CSV file (up to 50 MiB)" }
                input #file type="file" name="file" accept=".csv,text/csv" required;
            }
            button type="submit" { @if dry_run { "Check the file" } @else { "Import" } }
        }
    }
}

pub async fn import_form<K: Place>(p: UserPage) -> PageResult {
    let UserPage { ctx, .. } = p;
    let body = html! {
        h1 { "Import " (K::PLURAL) }
        p.muted {
            "The first row names the columns; common names are understood (First Name, first_name, E-mail…). "
            "Columns read: " @for (i, c) in K::COLUMNS.iter().enumerate() { @if i > 0 { ", " } code { (c) } } "."
        }
        (upload_form::<K>(&ctx, true))
        p { a href=(format!("{}/export.csv", K::PATH)) { "Export your " (K::PLURAL) " as CSV" } " — the import reads the export back unchanged." }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&format!("Import {}", K::PLURAL), &ctx, K::NAV, body),
    ))
}

/// The first rows of a spooled file, for the preview.
async fn first_rows(file: &mut tokio::fs::File, n: usize) -> Vec<Vec<String>> {
    let mut buf = vec![0u8; 64 * 1024];
    let read = file.read(&mut buf).await.unwrap_or(0);
    let _ = file.rewind().await;
    let mut csv = CsvStream::default();
    let mut rows = csv.feed(&buf[..read]).unwrap_or_default();
    if read < buf.len() {
        rows.extend(csv.feed(&[]).unwrap_or_default());
    }
    rows.truncate(n);
    rows
}

pub async fn import<K: Place>(State(state): State<App>, up: UserUpload) -> PageResult {
    let UserUpload { mut s, ctx, upload } = up;
    // The form's fields, read as the API reads its query.
    let (on_duplicate, dry_run) = ImportQuery {
        dry_run: upload.fields.get("dry_run").cloned(),
        on_duplicate: upload.fields.get("on_duplicate").cloned(),
    }
    .options()?;
    let mut file = upload.file;
    let preview = first_rows(&mut file, 6).await;
    let now = state.clock.now();
    let heavy = s.take_heavy()?;
    let tx = s.tx.take();
    let result = transfer::import::<K>(&heavy, tx, &s.user, on_duplicate, dry_run, file, now).await;
    let report = match result {
        Ok(r) => {
            if !dry_run {
                (state.meter).count(s.user.tenant_id, crate::usage::Metric::Imports, 1);
            }
            r
        }
        Err(e) => {
            return layout::form_failure(e, |errors| {
                page(
                    &format!("Import {}", K::PLURAL),
                    &ctx,
                    K::NAV,
                    html! {
                        h1 { "Import " (K::PLURAL) }
                        (layout::form_alert(errors, &[]))
                        (upload_form::<K>(&ctx, true))
                    },
                )
            })
        }
    };
    let body = html! {
        h1 { @if dry_run { "Checked: nothing written yet" } @else { "Imported" } }
        (summary(&report))
        section.card {
            h2 { "How the columns are read" }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Column in the file" } th { "Fills" } } }
                    tbody {
                        @for c in &report.columns {
                            tr { td { (c.header) } td { @if let Some(f) = &c.field { code { (f) } } @else { span.muted { "ignored" } } } }
                        }
                    }
                }
            }
        }
        @if preview.len() > 1 {
            section.card {
                h2 { "First rows" }
                div.table-wrap {
                    table.list {
                        thead { tr { @for h in &preview[0] { th { (h) } } } }
                        tbody { @for row in &preview[1..] { tr { @for v in row { td { (v) } } } } }
                    }
                }
            }
        }
        @if !report.errors.is_empty() {
            section.card {
                h2 { "Rows with errors (skipped)" }
                div.table-wrap {
                    table.list {
                        thead { tr { th { "Row" } th { "Field" } th { "Problem" } } }
                        tbody { @for e in &report.errors { tr { td { (e.row) } td { code { (e.field) } } td { (e.message) } } } }
                    }
                }
                @if report.more_errors > 0 { p.muted { "…and " (report.more_errors) " more." } }
            }
        }
        @if dry_run {
            h2 { "Import it" }
            p.muted { "Choose the same file again to write it." }
            (upload_form::<K>(&ctx, false))
        } @else {
            p { a.button href=(K::PATH) { "See your " (K::PLURAL) } }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        page(&format!("Import {}", K::PLURAL), &ctx, K::NAV, body),
    ))
}

fn summary(r: &ImportReport) -> Markup {
    let verb = if r.dry_run { "would be " } else { "" };
    html! {
        section.stats {
            div.card.stat { h2 { "New" } p.big { (r.imported) } p.muted { (verb) "imported" } }
            div.card.stat { h2 { "Updated" } p.big { (r.updated) } p.muted { (verb) "updated" } }
            div.card.stat { h2 { "Skipped" } p.big { (r.skipped) } p.muted { "duplicate e-mails" } }
            div.card.stat { h2 { "Errors" } p.big { (r.errors.len() as u64 + r.more_errors) } p.muted { @if r.dry_run { "rows that would be skipped" } @else { "rows skipped" } } }
        }
    }
}
