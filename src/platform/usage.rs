//! Platform staff's view of what every tenant uses: users, records,
//! storage (as last measured) and API calls this billing period, sortable,
//! and as CSV.

use crate::domain::PlanCode;
use crate::error::{ApiResult, FieldErrors};
use crate::store::{Access, DbResult, FromRow, Row, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One tenant's usage, as `GET /api/platform/usage` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantUsage {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: PlanCode,
    /// Active users.
    pub users: i64,
    /// Contacts, companies, leads and deals together.
    pub records: i64,
    /// As last measured (daily); `null` if never measured.
    pub storage_bytes: Option<i64>,
    /// API calls this billing period (the calendar month, UTC), as flushed.
    pub api_calls: i64,
}

impl FromRow for TenantUsage {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(TenantUsage {
            id: r.get("id")?,
            name: r.get("name")?,
            slug: r.get("slug")?,
            plan: r.get("plan")?,
            users: r.get("users")?,
            records: r.get("records")?,
            storage_bytes: r.get("storage_bytes")?,
            api_calls: r.get("api_calls")?,
        })
    }
}

/// What the list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    ApiCalls,
    Records,
    Users,
    StorageBytes,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Name,
        Sort::ApiCalls,
        Sort::Records,
        Sort::Users,
        Sort::StorageBytes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::ApiCalls => "api_calls",
            Sort::Records => "records",
            Sort::Users => "users",
            Sort::StorageBytes => "storage_bytes",
        }
    }

    /// The order a column is first sorted in: names A–Z, counts largest
    /// first.
    pub fn default_desc(self) -> bool {
        self != Sort::Name
    }
}

/// The sort and order asked for (`sort`, `order`), validated; empty means
/// the default.
pub fn parse_sort(sort: Option<&str>, order: Option<&str>) -> ApiResult<(Sort, bool)> {
    let mut errors = FieldErrors::default();
    let sort = match sort.filter(|s| !s.is_empty()) {
        None => Some(Sort::default()),
        Some(s) => errors.check(
            "sort",
            Sort::ALL
                .into_iter()
                .find(|k| k.as_str() == s)
                .ok_or("must be api_calls, records, users, storage_bytes or name"),
        ),
    };
    let desc = match order.filter(|s| !s.is_empty()) {
        None => None,
        Some("asc") => Some(false),
        Some("desc") => Some(true),
        Some(_) => {
            errors.add("order", "must be asc or desc");
            None
        }
    };
    errors.finish()?;
    let sort = sort.unwrap_or_default();
    Ok((sort, desc.unwrap_or(sort.default_desc())))
}

/// Every tenant not cancelled with its usage, sorted (ties by name).
pub async fn list(
    store: &Store,
    now: DateTime<Utc>,
    sort: Sort,
    desc: bool,
) -> ApiResult<Vec<TenantUsage>> {
    let (start, end) = crate::usage::period(now);
    let mut tx = store.platform(Access::Read).await?;
    // Platform work across tenants: each subquery names its tenant.
    let mut rows: Vec<TenantUsage> = tx
        .query(
            "SELECT t.id, t.name, t.slug, s.plan,
                    (SELECT count(*) FROM users u WHERE u.tenant_id = t.id AND u.is_active) AS users,
                    (SELECT count(*) FROM contacts c WHERE c.tenant_id = t.id)
                  + (SELECT count(*) FROM companies co WHERE co.tenant_id = t.id)
                  + (SELECT count(*) FROM leads l WHERE l.tenant_id = t.id)
                  + (SELECT count(*) FROM deals d WHERE d.tenant_id = t.id) AS records,
                    (SELECT us.bytes FROM usage_storage us WHERE us.tenant_id = t.id) AS storage_bytes,
                    (SELECT CAST(COALESCE(SUM(uc.count), 0) AS BIGINT) FROM usage_counters uc
                      WHERE uc.tenant_id = t.id AND uc.metric = 'api_calls'
                        AND uc.day >= $1 AND uc.day < $2) AS api_calls
               FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id
              WHERE t.status <> 'cancelled'",
            &[&start.date_naive(), &end.date_naive()],
        )
        .await?;
    tx.commit().await?;
    rows.sort_by(|a, b| {
        let by = match sort {
            Sort::Name => std::cmp::Ordering::Equal,
            Sort::ApiCalls => a.api_calls.cmp(&b.api_calls),
            Sort::Records => a.records.cmp(&b.records),
            Sort::Users => a.users.cmp(&b.users),
            Sort::StorageBytes => a.storage_bytes.cmp(&b.storage_bytes),
        };
        let by = by.then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
        let by = by.then_with(|| a.slug.cmp(&b.slug));
        if desc {
            by.reverse()
        } else {
            by
        }
    });
    Ok(rows)
}

/// The rows as CSV, a header line first.
pub fn csv(rows: &[TenantUsage]) -> String {
    use crate::crm::transfer::csv_line;
    let mut out = csv_line(&[
        "id",
        "name",
        "slug",
        "plan",
        "users",
        "records",
        "storage_bytes",
        "api_calls",
    ]);
    for r in rows {
        out.push_str(&csv_line(&[
            &r.id.to_string(),
            &r.name,
            &r.slug,
            r.plan.as_str(),
            &r.users.to_string(),
            &r.records.to_string(),
            &r.storage_bytes.map(|b| b.to_string()).unwrap_or_default(),
            &r.api_calls.to_string(),
        ]));
    }
    out
}
