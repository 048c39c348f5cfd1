//! CSV import and export over HTTP.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: check and count everything, write nothing.
    #[param(schema_with = crate::contract::query_bool)]
    pub dry_run: Option<String>,
    /// `skip` (default) or `update`: what to do with a row whose e-mail
    /// belongs to a contact already.
    #[param(schema_with = on_duplicate)]
    pub on_duplicate: Option<String>,
}

impl ImportQuery {
    pub(crate) fn options(&self) -> ApiResult<(OnDuplicate, bool)> {
        let mut e = FieldErrors::default();
        let dry_run = match self.dry_run.as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                e.add("dry_run", "must be true or false");
                false
            }
        };
        let on_duplicate = match self.on_duplicate.as_deref() {
            None | Some("") | Some("skip") => OnDuplicate::Skip,
            Some("update") => OnDuplicate::Update,
            Some(_) => {
                e.add("on_duplicate", "must be skip or update");
                OnDuplicate::Skip
            }
        };
        e.finish()?;
        Ok((on_duplicate, dry_run))
    }
}

/// An import sent as a `multipart/form-data` form: the CSV is its `file`
/// part ([`CsvUpload`]); other small fields are ignored.
pub struct ImportForm;

impl utoipa::PartialSchema for ImportForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::contract::import_form().into()
    }
}

impl utoipa::ToSchema for ImportForm {}

/// An import sent as the body: the CSV itself.
pub struct CsvText;

impl utoipa::PartialSchema for CsvText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::contract::csv_text().into()
    }
}

impl utoipa::ToSchema for CsvText {}

/// An import of `K`: the file is already spooled; the whole import runs in
/// one transaction, rolled back after a dry run.
async fn import<K: Kind + Default + 'static>(
    state: App,
    q: ImportQuery,
    WithBody(mut s, CsvUpload { file, .. }): WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    let (on_duplicate, dry_run) = q.options()?;
    let now = state.clock.now();
    let heavy = s.take_heavy()?;
    let tx = s.tx.take();
    let report =
        crm::transfer::import::<K>(&heavy, tx, &s.user, on_duplicate, dry_run, file, now).await?;
    if !dry_run {
        (state.meter).count(s.user.tenant_id, crate::usage::Metric::Imports, 1);
    }
    Ok(ok(report))
}

/// The whole CSV export of `K` as a download, for roles that may export: read
/// in the session's transaction into a temporary file, which is then sent
/// (the transaction and its connection are done before the first byte).
/// The export counts as one of its tenant's heavy operations until the
/// last byte is sent or the client is gone, so a tenant's stalled
/// downloads cannot pile up.
pub(crate) async fn export<K: Kind + 'static>(mut s: TenantSession) -> axum::response::Response {
    use axum::response::IntoResponse;
    let heavy = match s.take_heavy() {
        Ok(heavy) => heavy,
        Err(e) => return e.into_response(),
    };
    let file = match crm::transfer::export_file::<K>(&heavy, s.tx.take(), &s.user).await {
        Ok(file) => file,
        Err(e) => return e.into_response(),
    };
    let stream = futures_util::stream::unfold((file, heavy), |(mut file, heavy)| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; 64 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)),
                    (file, heavy),
                ))
            }
            Err(e) => Some((Err(e), (file, heavy))),
        }
    });
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.csv\"", K::TABLE),
        )
        .body(axum::body::Body::from_stream(stream))
        .unwrap_or_default()
}

#[utoipa::path(post, path = "/api/contacts/import", tag = "crm", security(("bearer" = [])),
    params(ImportQuery),
    request_body(description = "A CSV file (up to 50 MiB), as the body or as the `file` part of a form, whose first row names the columns: first_name (required), last_name, email, phone, title, company, tags (separated by ;), source",
        content((CsvText = "text/csv"), (ImportForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "What was imported, updated and skipped, and each bad row's error", body = Envelope<ImportReport>),
        (status = 413, description = "`payload_too_large`: over 50 MiB", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: no `file` part, an empty file, or a first row without the required column", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: send text/csv or multipart/form-data", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn import_contacts(
    State(state): State<App>,
    Query(q): Query<ImportQuery>,
    body: WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    import::<Contacts>(state, q, body).await
}

#[utoipa::path(get, path = "/api/contacts/export", tag = "crm", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every contact as CSV (the columns the import reads), streamed", content_type = "text/csv", body = String),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn export_contacts(s: TenantSession) -> axum::response::Response {
    export::<Contacts>(s).await
}

#[utoipa::path(post, path = "/api/leads/import", tag = "crm", security(("bearer" = [])),
    params(ImportQuery),
    request_body(description = "A CSV file (up to 50 MiB), as the body or as the `file` part of a form, whose first row names the columns: first_name (required), last_name, email, phone, company_name, source, status, estimated_value (minor units), currency",
        content((CsvText = "text/csv"), (ImportForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "What was imported, updated and skipped, and each bad row's error", body = Envelope<ImportReport>),
        (status = 413, description = "`payload_too_large`: over 50 MiB", body = ErrorEnvelope),
        (status = 422, description = "`validation_failed`: no `file` part, an empty file, or a first row without the required column", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: send text/csv or multipart/form-data", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn import_leads(
    State(state): State<App>,
    Query(q): Query<ImportQuery>,
    body: WithBody<CsvUpload>,
) -> ApiResult<Envelope<ImportReport>> {
    import::<Leads>(state, q, body).await
}

#[utoipa::path(get, path = "/api/leads/export", tag = "crm", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every lead as CSV (the columns the import reads), streamed", content_type = "text/csv", body = String),
        (status = 429, description = "`rate_limited`: the company runs as many imports, exports and reports at once as it may (`TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS`), or its requests hold as many database connections as they may; with Retry-After", body = ErrorEnvelope),
    ))]
pub async fn export_leads(s: TenantSession) -> axum::response::Response {
    export::<Leads>(s).await
}

/// These routes, with their descriptions; each is a heavy operation.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(import_contacts))
        .routes(routes!(export_contacts))
        .routes(routes!(import_leads))
        .routes(routes!(export_leads))
        .route_layer(Extension(HeavyOperation))
}
