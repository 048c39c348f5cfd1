//! Basic reports (every plan has them): the pipeline by stage, won deals by
//! month, activities by user, leads by source. Money is summed per currency,
//! never across currencies. Months are calendar months in UTC.

use super::query_within;
use crate::auth::{RecordAccess, RecordType};
use crate::domain::PipelineId;
use crate::error::{ApiError, ApiResult};
use crate::store::{DbResult, Dialect, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// An amount in one currency.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Money {
    /// Minor units. A total past 2^63 - 1 is shown as 9223372036854775807.
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageReport {
    pub stage_id: Uuid,
    pub name: String,
    pub kind: crate::domain::StageKind,
    pub probability: i64,
    pub count: i64,
    /// One entry per currency present.
    pub value: Vec<Money>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineReport {
    pub pipeline_id: Uuid,
    pub stages: Vec<StageReport>,
}

struct StageRow {
    id: Uuid,
    name: String,
    kind: crate::domain::StageKind,
    probability: i64,
    currency: Option<String>,
    count: i64,
    amount: i64,
}

impl FromRow for StageRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(StageRow {
            id: r.get("id")?,
            name: r.get("name")?,
            kind: r.get("kind")?,
            probability: r.get("probability")?,
            currency: r.get("currency")?,
            count: r.get("deal_count")?,
            amount: total(r)?,
        })
    }
}

/// Sums of amounts cannot overflow: each amount is split into its high and
/// low 32 bits (`amount = hi * 2^32 + lo`), whose column sums fit in a
/// 64-bit integer for up to 2^31 rows on both databases (SQLite's `sum`
/// errors on overflow, PostgreSQL's `CAST(sum(bigint) AS BIGINT)` too), and
/// [`total`] puts them back together.
const SUM: &str = "CAST(COALESCE(sum(d.amount / 4294967296), 0) AS BIGINT) AS amount_hi,
                    CAST(COALESCE(sum(d.amount % 4294967296), 0) AS BIGINT) AS amount_lo";

/// The amount a report shows for a split sum ([`SUM`]). A total past the
/// largest 64-bit integer (2^63 - 1, more than 9,000 deals of the largest
/// amount, [`crate::contract::AMOUNT_MAX`]) is shown as that integer.
fn total(r: &Row<'_>) -> DbResult<i64> {
    let hi: i64 = r.get("amount_hi")?;
    let lo: i64 = r.get("amount_lo")?;
    let sum = (i128::from(hi) << 32) + i128::from(lo);
    Ok(i64::try_from(sum.max(0)).unwrap_or(i64::MAX))
}

pub async fn pipeline(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    pipeline: Option<Uuid>,
) -> ApiResult<PipelineReport> {
    let pipeline_id = match pipeline {
        Some(p) => super::pipelines::get(tx, PipelineId(p)).await?.id,
        None => {
            let found: Option<One<Uuid>> = tx
                .query_opt(
                    "SELECT id FROM pipelines WHERE tenant_id = $1 AND is_default",
                    &[],
                )
                .await?;
            found.ok_or_else(ApiError::not_found)?.0
        }
    };
    let rows: Vec<StageRow> = query_within(
        tx,
        who,
        &format!(
            "SELECT s.id, s.name, s.kind, s.probability, s.position, d.currency,
                    count(d.id) AS deal_count, {SUM}
               FROM pipeline_stages s
               LEFT JOIN deals d ON d.tenant_id = $1 AND d.pipeline_id = s.pipeline_id AND d.stage_id = s.id {{deals}}
              WHERE s.tenant_id = $1 AND s.pipeline_id = $2
              GROUP BY s.id, s.name, s.kind, s.probability, s.position, d.currency
              ORDER BY s.position, s.id, d.currency"
        ),
        &[&pipeline_id],
        &[("{deals}", who.read_clause(RecordType::Deals, "d"))],
    )
    .await?;
    let mut stages: Vec<StageReport> = Vec::new();
    for r in rows {
        if stages.last().map(|s| s.stage_id) != Some(r.id) {
            stages.push(StageReport {
                stage_id: r.id,
                name: r.name.clone(),
                kind: r.kind,
                probability: r.probability,
                count: 0,
                value: Vec::new(),
            });
        }
        if let (Some(stage), Some(currency)) = (stages.last_mut(), r.currency) {
            stage.count += r.count;
            stage.value.push(Money {
                amount: r.amount,
                currency,
            });
        }
    }
    Ok(PipelineReport {
        pipeline_id,
        stages,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthReport {
    /// `YYYY-MM`.
    pub month: String,
    pub won_deals: i64,
    pub value: Vec<Money>,
}

struct MonthRow {
    month: String,
    currency: String,
    count: i64,
    amount: i64,
}

impl FromRow for MonthRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(MonthRow {
            month: r.get("month")?,
            currency: r.get("currency")?,
            count: r.get("deal_count")?,
            amount: total(r)?,
        })
    }
}

/// Won deals by the month they closed, in [from, to).
pub async fn sales(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<MonthReport>> {
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            format!(
                "SELECT to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, d.currency,
                    count(*) AS deal_count, {SUM}
               FROM deals d
              WHERE d.tenant_id = $1 AND d.status = 'won' AND d.closed_at >= $2 AND d.closed_at < $3 {{deals}}
              GROUP BY 1, 2 ORDER BY 1, 2"
            )
        }
        Dialect::Sqlite => {
            format!(
                "SELECT substr(d.closed_at, 1, 7) AS month, d.currency,
                    count(*) AS deal_count, {SUM}
               FROM deals d
              WHERE d.tenant_id = $1 AND d.status = 'won' AND d.closed_at >= $2 AND d.closed_at < $3 {{deals}}
              GROUP BY 1, 2 ORDER BY 1, 2"
            )
        }
    };
    let rows: Vec<MonthRow> = query_within(
        tx,
        who,
        &sql,
        &[&from, &to],
        &[("{deals}", who.read_clause(RecordType::Deals, "d"))],
    )
    .await?;
    let mut months: BTreeMap<String, MonthReport> = BTreeMap::new();
    for r in rows {
        let m = months
            .entry(r.month.clone())
            .or_insert_with(|| MonthReport {
                month: r.month.clone(),
                won_deals: 0,
                value: Vec::new(),
            });
        m.won_deals += r.count;
        m.value.push(Money {
            amount: r.amount,
            currency: r.currency,
        });
    }
    Ok(months.into_values().collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserActivityReport {
    /// `null`: unassigned.
    pub user_id: Option<Uuid>,
    pub full_name: Option<String>,
    pub done: i64,
    pub open: i64,
}

impl FromRow for UserActivityReport {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(UserActivityReport {
            user_id: r.get("assigned_to")?,
            full_name: r.get("full_name")?,
            done: r.get("done_count")?,
            open: r.get("open_count")?,
        })
    }
}

/// Activities due (or, undated, created) in [from, to), by assignee.
pub async fn activities(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<UserActivityReport>> {
    query_within(
        tx,
        who,
        "SELECT a.assigned_to, u.full_name,
                    sum(CASE WHEN a.done THEN 1 ELSE 0 END) AS done_count,
                    sum(CASE WHEN a.done THEN 0 ELSE 1 END) AS open_count
               FROM activities a
               LEFT JOIN users u ON u.tenant_id = $1 AND u.id = a.assigned_to
              WHERE a.tenant_id = $1 AND COALESCE(a.due_at, a.created_at) >= $2
                AND COALESCE(a.due_at, a.created_at) < $3 {activities}
              GROUP BY a.assigned_to, u.full_name
              ORDER BY u.full_name, a.assigned_to",
        &[&from, &to],
        &[(
            "{activities}",
            who.read_clause_linked(RecordType::Activities, "a", super::LINKS),
        )],
    )
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceReport {
    /// `null`: no source recorded.
    pub source: Option<String>,
    pub leads: i64,
    pub converted: i64,
    /// converted / leads, 0–1.
    pub conversion_rate: f64,
}

struct SourceRow {
    source: Option<String>,
    leads: i64,
    converted: i64,
}

impl FromRow for SourceRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(SourceRow {
            source: r.get("source")?,
            leads: r.get("lead_count")?,
            converted: r.get("converted_count")?,
        })
    }
}

/// Leads created in [from, to), by source.
pub async fn leads(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<SourceReport>> {
    let rows: Vec<SourceRow> = query_within(
        tx,
        who,
        "SELECT l.source, count(*) AS lead_count,
                    sum(CASE WHEN l.status = 'converted' THEN 1 ELSE 0 END) AS converted_count
               FROM leads l
              WHERE l.tenant_id = $1 AND l.created_at >= $2 AND l.created_at < $3 {leads}
              GROUP BY l.source ORDER BY 2 DESC, l.source",
        &[&from, &to],
        &[("{leads}", who.read_clause(RecordType::Leads, "l"))],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SourceReport {
            conversion_rate: if r.leads == 0 {
                0.0
            } else {
                r.converted as f64 / r.leads as f64
            },
            source: r.source,
            leads: r.leads,
            converted: r.converted,
        })
        .collect())
}
