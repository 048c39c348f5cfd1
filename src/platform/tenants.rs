//! Platform staff managing tenants: list and inspect them, change plan and
//! status, suspend and activate, cancel and purge. Every change is audited in
//! the same transaction.
//!
//! Status moves: trial ⇄ active ⇄ suspended (activation returns a tenant to
//! `trial` or `active` by its plan); any of them → cancelled by DELETE; a
//! cancelled tenant changes no more and is purged after the retention period
//! (or at once with `?purge=true`).

use crate::audit::{self, Actor, Event};
use crate::domain::{PlanCode, SubscriptionStatus, TenantId, TenantStatus};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::licensing::Ceiling;
use crate::pagination::{Page, PageRequest};
use crate::staff::{self, UserView};
use crate::store::{Access, DbResult, Dialect, FromRow, One, PlatformTx, Row, Scoped, Store};
use crate::tenancy::{self, SubscriptionView, TenantView, UsageView};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `name` takes (validation and description).
pub(crate) const NAME_MAX: usize = 255;

/// One row of the tenants table as platform staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub email: String,
    pub status: TenantStatus,
    pub plan: PlanCode,
    /// `null`: unlimited.
    pub max_users: Option<i64>,
    pub current_users: i64,
    pub created_at: DateTime<Utc>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl FromRow for TenantSummary {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(TenantSummary {
            id: r.get("id")?,
            name: r.get("name")?,
            slug: r.get("slug")?,
            email: r.get("email")?,
            status: r.get("status")?,
            plan: r.get("plan")?,
            max_users: r.get("max_users")?,
            current_users: r.get("current_users")?,
            created_at: r.get("created_at")?,
            trial_ends_at: r.get("trial_ends_at")?,
            cancelled_at: r.get("cancelled_at")?,
        })
    }
}

#[derive(Debug, Default)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
    pub plan: Option<PlanCode>,
    /// Name, slug or e-mail contains this (case-insensitive).
    pub q: Option<String>,
}

/// `%text%` for LIKE, with LIKE's own wildcards escaped.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Tenants, newest first.
pub async fn list(
    store: &Store,
    filter: &TenantFilter,
    page: PageRequest,
) -> ApiResult<Page<TenantSummary>> {
    let status = filter.status.map_or("", |s| s.as_str());
    let plan = filter.plan.map_or("", |p| p.as_str());
    let q = filter.q.as_deref().map(str::trim).unwrap_or("");
    let pattern = contains_pattern(q);
    let mut tx = store.platform(Access::Read).await?;
    let rows: Vec<TenantSummary> = tx
        .query(
            "SELECT t.id, t.name, t.slug, t.email, t.status, t.created_at, t.trial_ends_at,
                    t.cancelled_at, s.plan, s.max_users,
                    (SELECT count(*) FROM users u WHERE u.tenant_id = t.id AND u.is_active) AS current_users
               FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id
              WHERE t.id < $1
                AND ($2 = '' OR t.status = $2)
                AND ($3 = '' OR s.plan = $3)
                AND ($4 = '' OR lower(t.name) LIKE $5 ESCAPE '\\' OR t.slug LIKE $5 ESCAPE '\\'
                     OR lower(t.email) LIKE $5 ESCAPE '\\')
              ORDER BY t.id DESC
              LIMIT $6",
            &[&page.before(), &status, &plan, &q, &pattern, &page.fetch()],
        )
        .await?;
    tx.commit().await?;
    Ok(page.page(rows, |t| t.id))
}

/// A tenant with everything staff look at first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDetail {
    pub tenant: TenantView,
    pub subscription: SubscriptionView,
    pub owner: Option<UserView>,
    pub usage: UsageView,
    /// The tenant's Stripe customer and subscription; `null` when it never
    /// went to checkout.
    pub billing: Option<crate::billing::StripeRecords>,
}

async fn detail_in(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<TenantDetail> {
    let tenant = tenancy::current(tx).await?;
    let subscription = tenancy::subscription(tx, now).await?;
    let owner = staff::owner(tx).await?;
    let usage = tenancy::usage(tx).await?;
    let billing = crate::billing::records(tx).await?;
    Ok(TenantDetail {
        tenant,
        subscription,
        owner,
        usage,
        billing,
    })
}

pub async fn detail(store: &Store, id: TenantId, now: DateTime<Utc>) -> ApiResult<TenantDetail> {
    let mut tx = store.platform(Access::Read).await?;
    let d = detail_in(&mut tx.for_tenant(id), now).await?;
    tx.commit().await?;
    Ok(d)
}

/// `PATCH /api/tenants/:id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateTenant {
    /// `trial`, `active` or `suspended` (cancel with DELETE).
    pub status: Option<TenantStatus>,
    /// A plan change re-derives max_users and features from the catalogue
    /// unless `max_users` is given.
    pub plan: Option<PlanCode>,
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// A positive number, or `null` for unlimited.
    #[serde(default, deserialize_with = "tenancy::nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_users: Option<Option<i64>>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Allow a user limit below the tenant's current active users.
    pub force: Option<bool>,
    /// Features given or taken beyond the plan's: `{"workflows": true}`; a
    /// `null` removes the override. Names: see `GET /api/tenants/usage`'s
    /// plan table in the README.
    #[schema(value_type = Option<Object>)]
    pub feature_overrides: Option<std::collections::BTreeMap<String, Option<bool>>>,
    /// Limits other than the plan's: `{"requests_per_minute": 600}`; a
    /// `null` removes the override. `users`, `records`, `storage_bytes`,
    /// `api_calls_per_month`, `requests_per_minute`, `import_rows`,
    /// `active_workflows`.
    #[schema(value_type = Option<Object>)]
    pub limit_overrides: Option<std::collections::BTreeMap<String, Option<i64>>>,
}

/// The state a change applies to, for the audit's before/after.
#[derive(Debug, Clone, Serialize)]
struct State {
    name: String,
    status: TenantStatus,
    plan: PlanCode,
    max_users: Option<i64>,
    trial_ends_at: Option<DateTime<Utc>>,
    feature_overrides: serde_json::Value,
    limit_overrides: serde_json::Value,
}

struct StateRow(State);

impl FromRow for StateRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(StateRow(State {
            name: r.get("name")?,
            status: r.get("status")?,
            plan: r.get("plan")?,
            max_users: r.get("max_users")?,
            trial_ends_at: r.get("trial_ends_at")?,
            feature_overrides: r.get("feature_overrides")?,
            limit_overrides: r.get("limit_overrides")?,
        }))
    }
}

/// Reads the tenant's state, locking its row on PostgreSQL so concurrent
/// changes queue instead of overwriting each other.
async fn state_for_update(tx: &mut impl Scoped) -> ApiResult<State> {
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            "SELECT t.name, t.status, t.trial_ends_at, s.plan, s.max_users,
                    s.feature_overrides, s.limit_overrides
               FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id
              WHERE t.id = $1 AND s.tenant_id = $1
                FOR UPDATE OF t"
        }
        Dialect::Sqlite => {
            "SELECT t.name, t.status, t.trial_ends_at, s.plan, s.max_users,
                    s.feature_overrides, s.limit_overrides
               FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id
              WHERE t.id = $1 AND s.tenant_id = $1"
        }
    };
    let row: Option<StateRow> = tx.query_opt(sql, &[]).await?;
    row.map(|r| r.0).ok_or_else(ApiError::not_found)
}

fn cancelled_conflict() -> ApiError {
    ApiError::conflict("the tenant is cancelled; it can no longer be changed")
}

/// Applies `input` and returns the tenant as it now stands. On a licensed
/// self-hosted installation, `ceiling` is what the licence allows: neither
/// the plan nor the user limit may go past it, and a plan's catalogue
/// limit and features are held to it.
pub async fn update(
    app: &crate::app::App,
    id: TenantId,
    input: AdminUpdateTenant,
    ceiling: Option<&Ceiling>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<TenantDetail> {
    let store = &app.store;
    let mut errors = FieldErrors::default();
    let name = errors.text("name", input.name, NAME_MAX);
    if let Some(Some(n)) = input.max_users {
        if n < 1 {
            errors.add("max_users", "must be at least 1, or null for unlimited");
        }
    }
    if let Some(c) = ceiling {
        if input.plan.is_some_and(|p| !c.allows_plan(p)) {
            errors.add(
                "plan",
                format!("the licence allows the {} plan at most", c.plan),
            );
        }
        if let (Some(limit), Some(asked)) = (c.max_users, input.max_users) {
            if asked.is_none_or(|n| n > limit) {
                errors.add(
                    "max_users",
                    format!("the licence allows {limit} users at most"),
                );
            }
        }
    }
    if let Some(t) = &input.trial_ends_at {
        errors.check("trial_ends_at", crate::domain::check_time(t));
    }
    if input.status == Some(TenantStatus::Cancelled) {
        errors.add("status", "cancel a tenant with DELETE /api/tenants/{id}");
    }
    let mut feature_changes = Vec::new();
    for (name, on) in input.feature_overrides.iter().flatten() {
        match crate::plans::Feature::parse(name) {
            Some(f) => feature_changes.push((f, *on)),
            None => errors.add(&format!("feature_overrides.{name}"), "is not a feature"),
        }
    }
    let mut limit_changes = Vec::new();
    for (name, value) in input.limit_overrides.iter().flatten() {
        match crate::plans::Limit::parse(name) {
            Some(_) if value.is_some_and(|n| n < 0) => {
                errors.add(&format!("limit_overrides.{name}"), "must be at least 0")
            }
            Some(crate::plans::Limit::Users) if *value == Some(0) => {
                errors.add("limit_overrides.users", "must be at least 1")
            }
            Some(l) => limit_changes.push((l, *value)),
            None => errors.add(&format!("limit_overrides.{name}"), "is not a limit"),
        }
    }
    errors.finish()?;

    let mut tx = store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(id);
    let before = state_for_update(&mut scope).await?;
    if before.status == TenantStatus::Cancelled {
        return Err(cancelled_conflict());
    }
    let mut after = before.clone();
    if let Some(n) = name {
        after.name = n;
    }
    if let Some(t) = input.trial_ends_at {
        after.trial_ends_at = Some(t);
    }
    let mut overrides =
        crate::plans::Overrides::from_json(&before.feature_overrides, &before.limit_overrides);
    for (f, on) in &feature_changes {
        match on {
            Some(on) => overrides.features.insert(*f, *on),
            None => overrides.features.remove(f),
        };
    }
    let mut users_override_changed = false;
    for (l, value) in &limit_changes {
        users_override_changed |= *l == crate::plans::Limit::Users;
        match value {
            Some(n) => overrides.limits.insert(*l, *n),
            None => overrides.limits.remove(l),
        };
    }
    after.feature_overrides = overrides.features_json();
    after.limit_overrides = overrides.limits_json();
    if let Some(plan) = input.plan.filter(|p| *p != before.plan) {
        after.plan = plan;
        // A paid plan ends the trial (and lifts an expired trial's
        // read-only state); moving back to the trial plan restarts one.
        after.status = match (before.status, plan) {
            (TenantStatus::Trial, p) if p != PlanCode::Trial => TenantStatus::Active,
            (TenantStatus::Active, PlanCode::Trial) => TenantStatus::Trial,
            (s, _) => s,
        };
    }
    // The user limit and the features follow the plan and the overrides;
    // a `max_users` given now wins over both.
    let entitled = crate::plans::Entitlements::of(after.plan, &overrides);
    if after.plan != before.plan || users_override_changed {
        after.max_users = entitled.limit(crate::plans::Limit::Users);
    }
    if let Some(max) = input.max_users {
        after.max_users = max;
    }
    let mut features: Vec<String> = entitled
        .features()
        .iter()
        .map(|f| f.as_str().to_owned())
        .collect();
    if let Some(c) = ceiling {
        if let Some(limit) = c.max_users {
            after.max_users = Some(after.max_users.map_or(limit, |m| m.min(limit)));
        }
        features.retain(|name| c.features.contains(name));
        features.sort();
    }
    // Only a change of plan or of feature overrides rewrites the features
    // (a licence activation may have set others).
    let features = (after.plan != before.plan || !feature_changes.is_empty())
        .then(|| serde_json::json!(features));
    if let Some(status) = input.status {
        after.status = status;
    }
    if after.status == TenantStatus::Trial && after.plan != PlanCode::Trial {
        return Err(ApiError::conflict(
            "only a tenant on the trial plan can be in trial; change the plan too",
        ));
    }
    if after.status == TenantStatus::Trial && after.trial_ends_at.is_none() {
        after.trial_ends_at = Some(now + Duration::days(crate::tenancy::register::TRIAL_DAYS));
    }
    if let Some(max) = after.max_users {
        let seats = tenancy::seats(&mut scope).await?;
        let shrinking = before.max_users.is_none_or(|b| max < b);
        if shrinking && seats.current > max && input.force != Some(true) {
            return Err(ApiError::conflict(format!(
                "the tenant has {} active users, more than the {max} allowed; deactivate users first or send \"force\": true",
                seats.current
            ))
            .with_details(serde_json::json!({
                "max_users": max,
                "current_users": seats.current,
            })));
        }
    }

    scope
        .execute(
            "UPDATE tenants SET name = $2, status = $3, trial_ends_at = $4, updated_at = $5,
                    status_reason = CASE WHEN $3 = 'suspended' THEN status_reason ELSE NULL END
              WHERE id = $1",
            &[&after.name, &after.status, &after.trial_ends_at, &now],
        )
        .await?;
    let sub_status = if after.plan == PlanCode::Trial {
        SubscriptionStatus::Trialing
    } else {
        SubscriptionStatus::Active
    };
    let period_end = (after.plan == PlanCode::Trial)
        .then_some(after.trial_ends_at)
        .flatten();
    scope
        .execute(
            "UPDATE subscriptions SET plan = $2, status = $3, max_users = $4,
                    features = COALESCE($5, features), current_period_end = $6, updated_at = $7,
                    feature_overrides = $8, limit_overrides = $9
              WHERE tenant_id = $1",
            &[
                &after.plan,
                &sub_status,
                &after.max_users,
                &features,
                &period_end,
                &now,
                &after.feature_overrides,
                &after.limit_overrides,
            ],
        )
        .await?;
    audit::record(
        &mut scope,
        actor,
        Event::new("tenant.updated")
            .target("tenant", id)
            .change(&before, &after),
        now,
    )
    .await?;
    if after.plan != before.plan {
        let label = |p: PlanCode| {
            let code = p.as_str();
            code[..1].to_uppercase() + &code[1..]
        };
        let notice = crate::mail::templates::Notice::PlanChanged {
            from: label(before.plan),
            to: label(after.plan),
        };
        crate::mail::notify_admins(&mut scope, app, &notice, None, now).await?;
    }
    let detail = detail_in(&mut scope, now).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Moves a tenant between statuses: suspend (with a reason) or activate.
async fn set_status(
    store: &Store,
    id: TenantId,
    suspend: bool,
    reason: Option<String>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<TenantDetail> {
    let mut tx = store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(id);
    let before = state_for_update(&mut scope).await?;
    let to = match (before.status, suspend) {
        (TenantStatus::Cancelled, _) => return Err(cancelled_conflict()),
        (TenantStatus::Suspended, true) => {
            return Err(ApiError::conflict("the tenant is already suspended"))
        }
        (TenantStatus::Trial | TenantStatus::Active, false) => {
            return Err(ApiError::conflict("the tenant is not suspended"))
        }
        (_, true) => TenantStatus::Suspended,
        (_, false) if before.plan == PlanCode::Trial => TenantStatus::Trial,
        (_, false) => TenantStatus::Active,
    };
    scope
        .execute(
            "UPDATE tenants SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1",
            &[&to, &reason, &now],
        )
        .await?;
    let action = if suspend {
        "tenant.suspended"
    } else {
        "tenant.activated"
    };
    audit::record(
        &mut scope,
        actor,
        Event::new(action).target("tenant", id).change(
            serde_json::json!({ "status": before.status }),
            serde_json::json!({ "status": to, "reason": reason }),
        ),
        now,
    )
    .await?;
    let detail = detail_in(&mut scope, now).await?;
    tx.commit().await?;
    Ok(detail)
}

/// A tenant's audit log, newest first; an unknown tenant is 404, not an
/// empty log.
pub async fn audit_log(
    store: &Store,
    id: TenantId,
    page: PageRequest,
) -> ApiResult<Page<audit::AuditEntry>> {
    let mut tx = store.platform(Access::Read).await?;
    let mut scope = tx.for_tenant(id);
    tenancy::current(&mut scope).await?;
    let entries = audit::list(&mut scope, page).await?;
    tx.commit().await?;
    Ok(entries)
}

pub async fn suspend(
    store: &Store,
    id: TenantId,
    reason: Option<String>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<TenantDetail> {
    set_status(store, id, true, reason, actor, now).await
}

pub async fn activate(
    store: &Store,
    id: TenantId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<TenantDetail> {
    set_status(store, id, false, None, actor, now).await
}

/// What `DELETE /api/tenants/:id` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deletion {
    pub id: Uuid,
    pub status: TenantStatus,
    /// When the data will be purged; `null` once it has been.
    pub purge_after: Option<DateTime<Utc>>,
    pub purged: bool,
}

/// Cancels a tenant at once (its users are refused from the next request;
/// its slug stays reserved) and purges it now or after `retention`.
pub async fn delete(
    store: &Store,
    id: TenantId,
    purge_now: bool,
    retention: Duration,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Deletion> {
    let mut tx = store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(id);
    let before = state_for_update(&mut scope).await?;
    if before.status == TenantStatus::Cancelled && !purge_now {
        return Err(ApiError::conflict(
            "the tenant is already cancelled; add ?purge=true to purge it now",
        ));
    }
    if purge_now {
        purge_in(&mut tx, id, actor, now).await?;
        tx.commit().await?;
        return Ok(Deletion {
            id: id.0,
            status: TenantStatus::Cancelled,
            purge_after: None,
            purged: true,
        });
    }
    scope
        .execute(
            "UPDATE tenants SET status = 'cancelled', cancelled_at = $2, updated_at = $2 WHERE id = $1",
            &[&now],
        )
        .await?;
    audit::record(
        &mut scope,
        actor,
        Event::new("tenant.cancelled").target("tenant", id).change(
            serde_json::json!({ "status": before.status }),
            serde_json::json!({ "status": TenantStatus::Cancelled }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Deletion {
        id: id.0,
        status: TenantStatus::Cancelled,
        purge_after: Some(now + retention),
        purged: false,
    })
}

/// Every table that holds tenant rows, read from the schema rather than a
/// hand-kept list, so a table added later is covered without anyone
/// remembering it.
pub async fn tenant_tables(tx: &mut PlatformTx) -> DbResult<Vec<String>> {
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            "SELECT c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              ORDER BY 1"
        }
        Dialect::Sqlite => {
            "SELECT m.name FROM sqlite_master m
              WHERE m.type = 'table'
                AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'tenant_id')
              ORDER BY 1"
        }
    };
    let rows: Vec<One<String>> = tx.query(sql, &[]).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Removes the tenant and every row that belongs to it, inside `tx`. Tenant
/// tables reference `tenants` with ON DELETE CASCADE; afterwards every table
/// found in the schema is checked to hold no row of the tenant, and the
/// transaction fails (rolls back) if one does.
async fn purge_in(
    tx: &mut PlatformTx,
    id: TenantId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    #[derive(Serialize)]
    struct Gone {
        name: String,
        slug: String,
    }
    struct GoneRow(Gone);
    impl FromRow for GoneRow {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(GoneRow(Gone {
                name: r.get("name")?,
                slug: r.get("slug")?,
            }))
        }
    }
    let gone: GoneRow = tx
        .query_opt("SELECT name, slug FROM tenants WHERE id = $1", &[&id])
        .await?
        .ok_or_else(ApiError::not_found)?;
    let tables = tenant_tables(tx).await?;
    tx.execute("DELETE FROM tenants WHERE id = $1", &[&id])
        .await?;
    for table in &tables {
        // Table names come from the catalogue, not from a request.
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        let One(left): One<i64> = tx.query_one(&sql, &[&id]).await?;
        if left > 0 {
            return Err(ApiError::internal(format!(
                "purge of tenant {id} left {left} rows in {table}: its tenant_id must reference tenants ON DELETE CASCADE"
            )));
        }
    }
    audit::record_platform(
        tx,
        actor,
        Event::new("tenant.purged")
            .target("tenant", id)
            .change(&gone.0, ()),
        now,
    )
    .await?;
    Ok(())
}

/// Purges every tenant cancelled longer than `retention` ago; returns how
/// many. Each purge is its own transaction.
pub async fn purge_due(store: &Store, retention: Duration, now: DateTime<Utc>) -> ApiResult<usize> {
    let mut tx = store.platform(Access::Read).await?;
    let due: Vec<One<Uuid>> = tx
        .query(
            "SELECT id FROM tenants WHERE status = 'cancelled' AND cancelled_at <= $1",
            &[&(now - retention)],
        )
        .await?;
    tx.commit().await?;
    let mut purged = 0;
    for One(id) in due {
        let mut tx = store.platform(Access::Write).await?;
        let still_due: Option<One<Uuid>> = tx
            .query_opt(
                "SELECT id FROM tenants WHERE id = $1 AND status = 'cancelled' AND cancelled_at <= $2",
                &[&id, &(now - retention)],
            )
            .await?;
        if still_due.is_some() {
            purge_in(&mut tx, TenantId(id), &Actor::system(), now).await?;
            purged += 1;
        }
        tx.commit().await?;
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("Acme"), "%acme%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
