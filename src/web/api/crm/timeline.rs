//! Record timelines over HTTP.

use super::*;

async fn timeline_of(
    mut s: TenantSession,
    kind: RecordKind,
    id: Uuid,
    page: crate::pagination::PageParams,
) -> ApiResult<ListEnvelope<TimelineEntry>> {
    let mut e = FieldErrors::default();
    let limit = crate::pagination::PageParams {
        limit: page.limit,
        cursor: None,
    }
    .parse(&mut e)
    .limit;
    let before = crm::timeline::parse_cursor(&mut e, page.cursor.as_deref());
    e.finish()?;
    let t = crm::timeline::timeline(&mut s.tx, &s.user.access, kind, id, limit, before).await?;
    Ok(t.into())
}

macro_rules! timeline_route {
    ($name:ident, $path:literal, $kind:ident, $what:literal) => {
        #[utoipa::path(get, path = $path, tag = "crm", security(("bearer" = [])),
            params(("id" = Uuid, Path, description = $what), crate::crm::timeline::TimelineParams),
            responses(
                (status = 200, description = "Notes, activities and field changes, newest first", body = ListEnvelope<TimelineEntry>),
                (status = 404, description = "`not_found`", body = ErrorEnvelope),
            ))]
        pub async fn $name(
            s: TenantSession,
            PathId(id): PathId,
            Query(page): Query<crate::pagination::PageParams>,
        ) -> ApiResult<ListEnvelope<TimelineEntry>> {
            timeline_of(s, RecordKind::$kind, id, page).await
        }
    };
}

timeline_route!(
    contact_timeline,
    "/api/contacts/{id}/timeline",
    Contact,
    "Contact id"
);
timeline_route!(
    company_timeline,
    "/api/companies/{id}/timeline",
    Company,
    "Company id"
);
timeline_route!(lead_timeline, "/api/leads/{id}/timeline", Lead, "Lead id");
timeline_route!(deal_timeline, "/api/deals/{id}/timeline", Deal, "Deal id");

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(contact_timeline))
        .routes(routes!(company_timeline))
        .routes(routes!(lead_timeline))
        .routes(routes!(deal_timeline))
}
