//! Usage metering: what each tenant uses of what its plan allows.
//!
//! Events (API calls, imports, e-mails sent…) are counted in memory and
//! added to `usage_counters` (per tenant, metric and day) by a periodic
//! flush, so counting adds no database write to a request; a crash loses
//! at most one flush interval of counts, and several servers on one
//! database each add their own, so the sum stays exact. Records and users
//! are counted when asked; storage is measured by a scheduled job (and on
//! demand for platform admins).

use crate::app::App;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::plans::{Entitlements, Limit};
use crate::store::{Access, DbResult, Dialect, FromRow, One, Row, Scoped, Store};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use utoipa::ToSchema;

/// A metered kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    ApiCalls,
    Imports,
    EmailsSent,
    WorkflowRuns,
    WebhookDeliveries,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::ApiCalls,
        Metric::Imports,
        Metric::EmailsSent,
        Metric::WorkflowRuns,
        Metric::WebhookDeliveries,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ApiCalls => "api_calls",
            Metric::Imports => "imports",
            Metric::EmailsSent => "emails_sent",
            Metric::WorkflowRuns => "workflow_runs",
            Metric::WebhookDeliveries => "webhook_deliveries",
        }
    }
}

/// The events counted since the last flush, the monthly API-call totals
/// the last flush saw (for the quota), and each tenant's request limits as
/// its last session read them (so a request is limited before it touches
/// the database).
#[derive(Default)]
pub struct Meter {
    pending: Mutex<HashMap<(TenantId, Metric), i64>>,
    /// Per API key: its tenant, the calls counted and its last use.
    keys: Mutex<HashMap<uuid::Uuid, KeyUse>>,
    /// Per tenant: the period the total is of, and its API calls then.
    api_calls: Mutex<HashMap<TenantId, (NaiveDate, i64)>>,
    quotas: Mutex<HashMap<TenantId, Quota>>,
}

/// One API key's use since the last flush.
struct KeyUse {
    tenant: TenantId,
    calls: i64,
    last_at: DateTime<Utc>,
    last_addr: String,
}

/// A tenant's request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: Option<i64>,
    pub per_month: Option<i64>,
}

impl Quota {
    pub fn of(e: &Entitlements) -> Quota {
        Quota {
            per_minute: e.limit(Limit::RequestsPerMinute),
            per_month: e.limit(Limit::ApiCallsPerMonth),
        }
    }
}

/// The billing period `now` is in: the calendar month (UTC).
pub fn period(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let next = if now.month() == 12 {
        NaiveDate::from_ymd_opt(now.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(now.year(), now.month() + 1, 1)
    }
    .unwrap_or_default();
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
    (at(start), at(next))
}

impl Meter {
    /// Notes the tenant's limits, as its session just read them.
    pub fn note_quota(&self, tenant: TenantId, quota: Quota) {
        let mut q = self.quotas.lock().unwrap_or_else(|e| e.into_inner());
        if q.get(&tenant) != Some(&quota) {
            q.insert(tenant, quota);
        }
    }

    /// The tenant's limits as last seen; a tenant this server has not seen
    /// yet is held to the trial's until its first session reads its own.
    pub fn quota(&self, tenant: TenantId) -> Quota {
        let q = self.quotas.lock().unwrap_or_else(|e| e.into_inner());
        q.get(&tenant).copied().unwrap_or_else(|| {
            Quota::of(&Entitlements::of(
                crate::domain::PlanCode::Trial,
                &Default::default(),
            ))
        })
    }

    /// Notes a call made with an API key: its last use always, and a call
    /// on its count when `counted` (metered).
    pub fn count_key(
        &self,
        tenant: TenantId,
        key: uuid::Uuid,
        addr: &str,
        at: DateTime<Utc>,
        counted: bool,
    ) {
        let mut k = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let entry = k.entry(key).or_insert_with(|| KeyUse {
            tenant,
            calls: 0,
            last_at: at,
            last_addr: addr.to_owned(),
        });
        entry.calls += i64::from(counted);
        if at >= entry.last_at {
            entry.last_at = at;
            addr.clone_into(&mut entry.last_addr);
        }
    }

    pub fn count(&self, tenant: TenantId, metric: Metric, n: i64) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p.entry((tenant, metric)).or_default() += n;
    }

    fn pending(&self, tenant: TenantId, metric: Metric) -> i64 {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.get(&(tenant, metric)).copied().unwrap_or(0)
    }

    /// The tenant's API calls this period as this server knows them: the
    /// total at its last flush and what it counted since.
    pub fn api_calls(&self, tenant: TenantId, now: DateTime<Utc>) -> i64 {
        let month = period(now).0.date_naive();
        let flushed = {
            let t = self.api_calls.lock().unwrap_or_else(|e| e.into_inner());
            t.get(&tenant)
                .filter(|(p, _)| *p == month)
                .map_or(0, |(_, n)| *n)
        };
        flushed + self.pending(tenant, Metric::ApiCalls)
    }

    /// Adds the pending counts to the database, in one transaction; on
    /// failure they stay pending for the next flush.
    pub async fn flush(&self, store: &Store, now: DateTime<Utc>) -> DbResult<()> {
        let taken: Vec<((TenantId, Metric), i64)> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().filter(|(_, n)| *n != 0).collect()
        };
        let keys: Vec<(uuid::Uuid, KeyUse)> = {
            let mut k = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            k.drain().collect()
        };
        if taken.is_empty() && keys.is_empty() {
            return Ok(());
        }
        let day = now.date_naive();
        let (start, _) = period(now);
        let result = async {
            let mut tx = store.platform(Access::Write).await?;
            let mut totals = Vec::new();
            for ((tenant, metric), n) in &taken {
                // Platform work: each row names its tenant.
                tx.execute(
                    "INSERT INTO usage_counters (tenant_id, metric, day, count)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, metric, day)
                     DO UPDATE SET count = usage_counters.count + excluded.count",
                    &[tenant, &metric.as_str(), &day, n],
                )
                .await?;
                if *metric == Metric::ApiCalls {
                    let One(total): One<i64> = tx
                        .for_tenant(*tenant)
                        .query_one(
                            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM usage_counters
                             WHERE tenant_id = $1 AND metric = 'api_calls' AND day >= $2",
                            &[&start.date_naive()],
                        )
                        .await?;
                    totals.push((*tenant, total));
                }
            }
            for (key, used) in &keys {
                if used.calls > 0 {
                    tx.execute(
                        "INSERT INTO usage_counters (tenant_id, metric, day, count)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant_id, metric, day)
                         DO UPDATE SET count = usage_counters.count + excluded.count",
                        &[
                            &used.tenant,
                            &crate::integrations::keys::metric(*key),
                            &day,
                            &used.calls,
                        ],
                    )
                    .await?;
                }
                crate::integrations::keys::record_use(
                    &mut tx,
                    used.tenant,
                    *key,
                    used.last_at,
                    &used.last_addr,
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, crate::store::DbError>(totals)
        }
        .await;
        match result {
            Ok(totals) => {
                let mut t = self.api_calls.lock().unwrap_or_else(|e| e.into_inner());
                for (tenant, total) in totals {
                    t.insert(tenant, (start.date_naive(), total));
                }
                Ok(())
            }
            Err(e) => {
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in taken {
                    *p.entry(k).or_default() += n;
                }
                drop(p);
                for (key, used) in keys {
                    self.count_key(used.tenant, key, &used.last_addr, used.last_at, false);
                    let mut k = self.keys.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(entry) = k.get_mut(&key) {
                        entry.calls += used.calls;
                    }
                }
                Err(e)
            }
        }
    }
}

/// Measures every live tenant's storage (daily, from the scheduler).
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct MeasureStorage {}

impl crate::jobs::Job for MeasureStorage {
    const KIND: &'static str = "measure_storage";

    async fn run(self, app: &App, _ctx: &crate::jobs::JobCtx) -> Result<(), crate::jobs::JobError> {
        let mut tx = app.store.platform(Access::Read).await?;
        let tenants: Vec<One<TenantId>> = tx
            .query("SELECT id FROM tenants WHERE status <> 'cancelled'", &[])
            .await?;
        tx.commit().await?;
        for One(tenant) in tenants {
            measure_storage(&app.store, tenant, app.clock.now()).await?;
        }
        Ok(())
    }
}

/// The flush loop of one server: counts go to the database, and admins
/// hear when their API calls pass 80 % and 100 % of the month's.
pub async fn flush_periodically(app: App) {
    let every = std::time::Duration::from_secs(app.config.usage_flush_secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = flush(&app).await {
            tracing::warn!(error = %e.message, "could not write usage counts; they are kept for the next flush");
        }
    }
}

/// Flushes this server's counts, then queues the usage alerts they call
/// for (once per tenant, threshold and month: the messages' keys).
pub async fn flush(app: &App) -> ApiResult<()> {
    let now = app.clock.now();
    app.meter.flush(&app.store, now).await?;
    let month = period(now).0;
    let crossed: Vec<(TenantId, u32, i64, i64)> = {
        let totals = app
            .meter
            .api_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let quotas = app.meter.quotas.lock().unwrap_or_else(|e| e.into_inner());
        totals
            .iter()
            .filter(|(_, (p, _))| *p == month.date_naive())
            .filter_map(|(t, (_, used))| {
                let max = quotas.get(t)?.per_month.filter(|m| *m > 0)?;
                let percent = if *used >= max {
                    100
                } else if used * 100 >= max * 80 {
                    80
                } else {
                    return None;
                };
                Some((*t, percent, *used, max))
            })
            .collect()
    };
    for (tenant, percent, used, max) in crossed {
        let notice = crate::mail::templates::Notice::Usage {
            limit: "API calls this month".to_owned(),
            percent,
            current: used,
            max,
        };
        let key = format!("api_calls:{percent}:{}", month.format("%Y-%m"));
        let mut tx = app.store.platform(Access::Write).await?;
        let queued =
            crate::mail::notify_admins(&mut tx.for_tenant(tenant), app, &notice, Some(&key), now)
                .await?;
        tx.commit().await?;
        if queued > 0 {
            crate::jobs::committed();
        }
    }
    Ok(())
}

/// Admits one API call of `tenant` before any work: 429 `quota_exceeded`
/// past the month's API calls (until the month ends), 429 `rate_limited`
/// past its requests per minute. The rate decision is for the
/// `RateLimit-*` headers.
pub async fn admit(
    app: &App,
    tenant: TenantId,
    path: &str,
    key: Option<&crate::integrations::keys::Resolved>,
) -> Result<Option<crate::limiter::RateDecision>, (ApiError, Option<crate::limiter::RateDecision>)>
{
    if !app.config.metering {
        return Ok(None);
    }
    // A key with a rate of its own is held to it first (and to its
    // tenant's below): one integration cannot spend its company's rate.
    if let Some((id, per_minute)) = key.and_then(|k| k.requests_per_minute.map(|n| (k.id, n))) {
        let per_minute = u32::try_from(per_minute).unwrap_or(u32::MAX);
        let decision = app.limiter.check(&format!("key:{id}"), per_minute).await;
        if !decision.allowed {
            let e = ApiError::rate_limited_because(
                format!("this API key allows {per_minute} requests a minute"),
                decision.retry_after_secs.unwrap_or(1),
            );
            return Err((e, Some(decision)));
        }
    }
    let quota = app.meter.quota(tenant);
    let now = app.clock.now();
    // Past its quota a tenant can still see its usage and plan: why it is
    // refused, and what would lift it.
    let exempt = matches!(path, "/api/tenants/usage" | "/api/tenants/subscription");
    if let Some(max) = quota.per_month.filter(|_| !exempt) {
        if app.meter.api_calls(tenant, now) >= max {
            let end = period(now).1;
            let mut e = ApiError::new(
                crate::error::ErrorCode::QuotaExceeded,
                format!(
                    "your plan allows {max} API calls a month; they start again on {}",
                    end.format("%-d %B")
                ),
            )
            .with_details(serde_json::json!({
                "limit": Limit::ApiCallsPerMonth.as_str(),
                "max": max,
                "reset_at": end,
            }));
            e.retry_after = Some(u64::try_from((end - now).num_seconds()).unwrap_or(1).max(1));
            return Err((e, None));
        }
    }
    let Some(per_minute) = quota.per_minute else {
        return Ok(None);
    };
    let per_minute = u32::try_from(per_minute).unwrap_or(u32::MAX);
    let decision = app
        .limiter
        .check(&format!("tenant:{tenant}"), per_minute)
        .await;
    if decision.allowed {
        return Ok(Some(decision));
    }
    let e = ApiError::rate_limited_because(
        format!("your plan allows {per_minute} requests a minute"),
        decision.retry_after_secs.unwrap_or(1),
    );
    Err((e, Some(decision)))
}

/// Contacts, companies, leads and deals: the records the plan counts.
pub async fn records(tx: &mut impl Scoped) -> ApiResult<i64> {
    let One(n): One<i64> = tx
        .query_one(
            "SELECT (SELECT count(*) FROM contacts c WHERE c.tenant_id = $1)
                  + (SELECT count(*) FROM companies co WHERE co.tenant_id = $1)
                  + (SELECT count(*) FROM leads l WHERE l.tenant_id = $1)
                  + (SELECT count(*) FROM deals d WHERE d.tenant_id = $1)",
            &[],
        )
        .await?;
    Ok(n)
}

/// 402 `plan_limit_reached` when `adding` records would pass the plan's
/// records, or when the storage last measured is at the plan's storage
/// (`None` limits: nothing is counted).
pub async fn ensure_records(
    tx: &mut impl Scoped,
    user: &crate::auth::SessionUser,
    adding: i64,
) -> ApiResult<()> {
    if let Some(max) = user.storage_limit {
        let stored: Option<One<i64>> = tx
            .query_opt("SELECT bytes FROM usage_storage WHERE tenant_id = $1", &[])
            .await?;
        if let Some(One(used)) = stored.filter(|s| s.0 >= max) {
            return Err(crate::plans::limit_reached(Limit::StorageBytes, used, max));
        }
    }
    let Some(max) = user.records_limit else {
        return Ok(());
    };
    let used = records(tx).await?;
    if used + adding > max {
        return Err(crate::plans::limit_reached(Limit::Records, used, max));
    }
    Ok(())
}

/// One metric of `GET /api/tenants/usage`, in the shape billing systems use.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricUsage {
    /// `api_calls`, `records`, `users`, `storage_bytes`, `imports`,
    /// `emails_sent`, `workflow_runs`, `webhook_deliveries`.
    pub metric: &'static str,
    pub used: i64,
    /// `null`: unlimited (or not limited).
    pub limit: Option<i64>,
    /// `null` when unlimited.
    pub remaining: Option<i64>,
    /// When the count starts again (the end of the period); `null` for
    /// what is not counted per period.
    pub reset_at: Option<DateTime<Utc>>,
}

/// `GET /api/tenants/usage`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// Active users against the user limit (as before).
    pub users: crate::tenancy::UsageCount,
    /// The billing period the counts are of (a calendar month, UTC).
    pub period: Period,
    pub metrics: Vec<MetricUsage>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn metric(
    name: &'static str,
    used: i64,
    limit: Option<i64>,
    reset_at: Option<DateTime<Utc>>,
) -> MetricUsage {
    MetricUsage {
        metric: name,
        used,
        limit,
        remaining: limit.map(|l| (l - used).max(0)),
        reset_at,
    }
}

struct Counted(String, i64);

impl FromRow for Counted {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Counted(r.get("metric")?, r.get("total")?))
    }
}

/// The tenant's usage this period: each metric with its limit. The caller
/// flushes this server's pending counts first (before its transaction
/// begins, so that it sees them), so what this server counted is in.
pub async fn report(
    app: &App,
    tx: &mut impl Scoped,
    entitlements: &Entitlements,
    now: DateTime<Utc>,
) -> ApiResult<UsageReport> {
    let (start, end) = period(now);
    let counted: Vec<Counted> = tx
        .query(
            "SELECT metric, CAST(SUM(count) AS BIGINT) AS total FROM usage_counters
             WHERE tenant_id = $1 AND day >= $2 AND day < $3 GROUP BY metric",
            &[&start.date_naive(), &end.date_naive()],
        )
        .await?;
    let of = |m: Metric| {
        counted
            .iter()
            .find(|c| c.0 == m.as_str())
            .map_or(0, |c| c.1)
    };
    let seats = crate::tenancy::seats(tx).await?;
    let records = records(tx).await?;
    let storage: Option<One<i64>> = tx
        .query_opt("SELECT bytes FROM usage_storage WHERE tenant_id = $1", &[])
        .await?;
    let storage = match storage {
        Some(One(b)) => b,
        None => storage_bytes(&app.store, tx.tenant_id()).await?,
    };
    let mut metrics = vec![
        metric(
            "api_calls",
            of(Metric::ApiCalls),
            entitlements.limit(Limit::ApiCallsPerMonth),
            Some(end),
        ),
        metric("records", records, entitlements.limit(Limit::Records), None),
        metric("users", seats.current, seats.max, None),
        metric(
            "storage_bytes",
            storage,
            entitlements.limit(Limit::StorageBytes),
            None,
        ),
    ];
    for m in [
        Metric::Imports,
        Metric::EmailsSent,
        Metric::WorkflowRuns,
        Metric::WebhookDeliveries,
    ] {
        metrics.push(metric(m.as_str(), of(m), None, Some(end)));
    }
    Ok(UsageReport {
        users: crate::tenancy::UsageCount {
            current: seats.current,
            max: seats.max,
        },
        period: Period { start, end },
        metrics,
    })
}

/// The tenant tables whose rows count as its storage.
const STORED: &[&str] = &[
    "contacts",
    "companies",
    "leads",
    "deals",
    "deal_items",
    "activities",
    "notes",
    "products",
    "pipelines",
    "pipeline_stages",
    "users",
    "audit_log",
    "record_changes",
    "mail_messages",
];

/// Measures what the tenant's rows take: PostgreSQL's own size of each row
/// (`pg_column_size`); on SQLite, the bytes of each row's values.
pub async fn storage_bytes(store: &Store, tenant: TenantId) -> ApiResult<i64> {
    let mut tx = store.platform(Access::Read).await?;
    let mut total = 0;
    for table in STORED {
        let sql = match tx.dialect() {
            Dialect::Postgres => format!(
                "SELECT COALESCE(SUM(pg_column_size(x.*)), 0)::bigint FROM {table} x
                 WHERE x.tenant_id = $1"
            ),
            Dialect::Sqlite => {
                let columns: Vec<One<String>> = tx
                    .query(
                        &format!("SELECT name FROM pragma_table_info('{table}')"),
                        &[],
                    )
                    .await?;
                let sizes: Vec<String> = columns
                    .iter()
                    .map(|c| format!("COALESCE(length(CAST(x.\"{}\" AS BLOB)), 0)", c.0))
                    .collect();
                format!(
                    "SELECT COALESCE(SUM({}), 0) FROM {table} x WHERE x.tenant_id = $1",
                    sizes.join(" + ")
                )
            }
        };
        let One(n): One<i64> = tx.for_tenant(tenant).query_one(&sql, &[]).await?;
        total += n;
    }
    tx.commit().await?;
    Ok(total)
}

/// Measures and keeps one tenant's storage; the bytes.
pub async fn measure_storage(
    store: &Store,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    let bytes = storage_bytes(store, tenant).await?;
    let mut tx = store.platform(Access::Write).await?;
    tx.execute(
        "INSERT INTO usage_storage (tenant_id, bytes, measured_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET bytes = excluded.bytes,
                                               measured_at = excluded.measured_at",
        &[&tenant, &bytes, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(bytes)
}
