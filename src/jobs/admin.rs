//! What the platform admin sees of the queue: its depth, the jobs that
//! failed and those that are dead (with their errors), and retrying a dead
//! job.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Access, DbResult, FromRow, Row, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The queue at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStats {
    /// Waiting to run (due now or later, retries included).
    pub queued: i64,
    /// Of those, due now: the queue's depth.
    pub due: i64,
    /// Held by a worker.
    pub running: i64,
    /// Waiting for a retry after a failed attempt.
    pub retrying: i64,
    /// Gave up after their last attempt.
    pub dead: i64,
    /// Finished in the last 24 hours.
    pub done_last_day: i64,
    /// When the longest-waiting due job became due.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

impl FromRow for QueueStats {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(QueueStats {
            queued: r.get("queued")?,
            due: r.get("due")?,
            running: r.get("running")?,
            retrying: r.get("retrying")?,
            dead: r.get("dead")?,
            done_last_day: r.get("done_last_day")?,
            oldest_due_at: r.get("oldest_due_at")?,
        })
    }
}

/// One job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub kind: String,
    /// `queued`, `running`, `done` or `dead`.
    pub state: String,
    pub attempts: i64,
    /// NULL: the server's `TRASEALLA_JOB_MAX_ATTEMPTS`.
    pub max_attempts: Option<i64>,
    pub run_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl FromRow for JobView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(JobView {
            id: r.get("id")?,
            tenant_id: r.get("tenant_id")?,
            kind: r.get("kind")?,
            state: r.get("state")?,
            attempts: r.get("attempts")?,
            max_attempts: r.get("max_attempts")?,
            run_at: r.get("run_at")?,
            last_error: r.get("last_error")?,
            created_at: r.get("created_at")?,
            finished_at: r.get("finished_at")?,
        })
    }
}

const COLUMNS: &str = "id, tenant_id, kind, state, attempts, max_attempts, run_at, last_error,
                       created_at, finished_at";

pub async fn stats(store: &Store, now: DateTime<Utc>) -> ApiResult<QueueStats> {
    let mut tx = store.platform(Access::Read).await?;
    let day_ago = now - chrono::Duration::hours(24);
    let s: QueueStats = tx
        .query_one(
            "SELECT
                 COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0) AS queued,
                 COALESCE(SUM(CASE WHEN state = 'queued' AND run_at <= $1 THEN 1 ELSE 0 END), 0) AS due,
                 COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) AS running,
                 COALESCE(SUM(CASE WHEN state = 'queued' AND last_error IS NOT NULL THEN 1 ELSE 0 END), 0) AS retrying,
                 COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS dead,
                 COALESCE(SUM(CASE WHEN state = 'done' AND finished_at >= $2 THEN 1 ELSE 0 END), 0) AS done_last_day,
                 MIN(CASE WHEN state = 'queued' AND run_at <= $1 THEN run_at END) AS oldest_due_at
             FROM jobs WHERE state <> 'done' OR finished_at >= $2",
            &[&now, &day_ago],
        )
        .await?;
    tx.commit().await?;
    Ok(s)
}

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Failed (waiting for a retry) or dead.
    Problems,
    /// Waiting for a retry after a failed attempt.
    Failed,
    Dead,
    Queued,
    Running,
}

impl std::str::FromStr for Filter {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "problems" => Ok(Filter::Problems),
            "failed" => Ok(Filter::Failed),
            "dead" => Ok(Filter::Dead),
            "queued" => Ok(Filter::Queued),
            "running" => Ok(Filter::Running),
            _ => Err(()),
        }
    }
}

/// The latest jobs of a kind of trouble (at most `limit`), newest first.
pub async fn list(store: &Store, filter: Filter, limit: i64) -> ApiResult<Vec<JobView>> {
    let condition = match filter {
        Filter::Problems => "state = 'dead' OR (state = 'queued' AND last_error IS NOT NULL)",
        Filter::Failed => "state = 'queued' AND last_error IS NOT NULL",
        Filter::Dead => "state = 'dead'",
        Filter::Queued => "state = 'queued'",
        Filter::Running => "state = 'running'",
    };
    let mut tx = store.platform(Access::Read).await?;
    let jobs = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM jobs WHERE {condition}
                 ORDER BY COALESCE(finished_at, run_at) DESC, id DESC LIMIT $1"
            ),
            &[&limit],
        )
        .await?;
    tx.commit().await?;
    Ok(jobs)
}

/// Queues a dead job again, with fresh attempts. 404 for no such job, 409
/// when it is not dead.
pub async fn retry(
    store: &Store,
    actor: &crate::audit::Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<JobView> {
    let mut tx = store.platform(Access::Write).await?;
    let job: Option<JobView> = tx
        .query_opt(
            &format!(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, finished_at = NULL
                 WHERE id = $1 AND state = 'dead' RETURNING {COLUMNS}"
            ),
            &[&id, &now],
        )
        .await?;
    let Some(job) = job else {
        let exists: Option<crate::store::One<String>> = tx
            .query_opt("SELECT state FROM jobs WHERE id = $1", &[&id])
            .await?;
        return Err(match exists {
            None => ApiError::not_found(),
            Some(_) => ApiError::new(ErrorCode::Conflict, "only a dead job can be retried"),
        });
    };
    crate::audit::record_platform(
        &mut tx,
        actor,
        crate::audit::Event::new("job.retried").target("job", id),
        now,
    )
    .await?;
    tx.commit().await?;
    super::committed();
    Ok(job)
}
