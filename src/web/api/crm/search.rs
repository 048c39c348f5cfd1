//! Search across record types over HTTP.

use super::*;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub limit: Option<String>,
}

/// Written out: utoipa drops `required` and the description of a parameter
/// whose schema comes from a function.
impl IntoParams for SearchQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::Required;
        vec![
            ParameterBuilder::new()
                .name("q")
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some(
                    "Words to find (each as a prefix; all must match): at least one of letters or digits.",
                ))
                .schema(Some(search_text()))
                .build(),
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("1–50 (default 20)."))
                .schema(Some(crate::contract::limit::<{ SEARCH_MAX_LIMIT }>()))
                .build(),
        ]
    }
}

#[utoipa::path(get, path = "/api/search", tag = "crm", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, description = "Contacts, companies, leads and deals, best matches first", body = Envelope<Vec<SearchHit>>)))]
pub async fn search(
    mut s: TenantSession,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Envelope<Vec<SearchHit>>> {
    let mut e = FieldErrors::default();
    let text = e.required("q", q.q.filter(|t| !t.trim().is_empty()));
    if text.as_ref().is_some_and(|t| t.chars().count() > Q_MAX) {
        e.add("q", format!("must be at most {Q_MAX} characters long"));
    }
    let limit = match q.limit.as_deref() {
        None | Some("") => 20,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=SEARCH_MAX_LIMIT).contains(&n) => n,
            _ => {
                e.add(
                    "limit",
                    format!("must be a whole number from 1 to {SEARCH_MAX_LIMIT}"),
                );
                20
            }
        },
    };
    e.finish()?;
    s.tx.plan_once().await?;
    let hits = crate::crm::search::search(
        &mut s.tx,
        &s.user.access,
        text.as_deref().unwrap_or_default(),
        limit,
    )
    .await?;
    Ok(ok(hits))
}

/// These routes, with their descriptions.
pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(search))
}
