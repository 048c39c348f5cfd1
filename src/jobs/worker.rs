//! Workers: claim due jobs under a lease, run their handlers, and record
//! the outcome (done, retry later, or dead).

use super::{backoff, jitter, registry, wake, JobCtx, JobError};
use crate::app::App;
use crate::domain::TenantId;
use crate::store::{Access, DbResult, Dialect, FromRow, Row};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// A job as claimed.
pub(super) struct Claimed {
    id: Uuid,
    tenant: Option<TenantId>,
    kind: String,
    payload: serde_json::Value,
    attempts: i64,
    max_attempts: Option<i64>,
}

impl FromRow for Claimed {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Claimed {
            id: r.get("id")?,
            tenant: r.get("tenant_id")?,
            kind: r.get("kind")?,
            payload: r.get("payload")?,
            attempts: r.get("attempts")?,
            max_attempts: r.get("max_attempts")?,
        })
    }
}

/// This process's name in `locked_by`: whose lease a row holds.
fn worker_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".to_owned());
        format!("{host}:{}:{}", std::process::id(), Uuid::now_v7().simple())
    })
}

/// Claims up to `limit` due jobs (and jobs whose lease has passed) for this
/// worker. A job whose lease passed during its last attempt is `dead`
/// instead: a job that kills its server every time must not loop forever.
pub(super) async fn claim(app: &App, limit: usize) -> DbResult<Vec<Claimed>> {
    let now = app.clock.now();
    let lease = Duration::seconds(i64::try_from(app.config.job_lease_secs).unwrap_or(60));
    let default_max = i64::from(app.config.job_max_attempts);
    let mut tx = app.store.platform(Access::Write).await?;
    tx.execute(
        "UPDATE jobs SET state = 'dead', finished_at = $1, locked_by = NULL, locked_until = NULL,
                last_error = 'its worker stopped during its last attempt (the lease passed)'
         WHERE state = 'running' AND locked_until <= $1 AND attempts >= COALESCE(max_attempts, $2)",
        &[&now, &default_max],
    )
    .await?;
    let lock = match tx.dialect() {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
                locked_until = $2
         WHERE id IN (SELECT id FROM jobs
                      WHERE (state = 'queued' AND run_at <= $3)
                         OR (state = 'running' AND locked_until <= $3)
                      ORDER BY run_at, id LIMIT $4 {lock})
         RETURNING id, tenant_id, kind, payload, attempts, max_attempts"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let claimed: Vec<Claimed> = tx
        .query(&sql, &[&worker_name(), &(now + lease), &now, &limit])
        .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// Runs one claimed job and records how it went. The handler runs in its
/// own task, so that a panic fails the job instead of the worker, and at
/// most for the lease: past it another worker may take the job.
pub(super) async fn run(app: &App, job: Claimed) {
    let max = job
        .max_attempts
        .unwrap_or(i64::from(app.config.job_max_attempts));
    let ctx = JobCtx {
        id: job.id,
        tenant: job.tenant,
        attempt: u32::try_from(job.attempts).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(max).unwrap_or(u32::MAX),
    };
    let lease = std::time::Duration::from_secs(app.config.job_lease_secs);
    let outcome = match registry().get(&job.kind) {
        None => Err(JobError(format!(
            "no handler for jobs of kind {:?} in this version",
            job.kind
        ))),
        Some(handler) => {
            let task = tokio::spawn(handler(app.clone(), ctx.clone(), job.payload));
            let abort = task.abort_handle();
            match tokio::time::timeout(lease, task).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) if e.is_panic() => Err(JobError("the handler panicked".into())),
                Ok(Err(_)) => Err(JobError("the handler was cancelled".into())),
                Err(_) => {
                    abort.abort();
                    Err(JobError(format!(
                        "did not finish within its lease ({} s)",
                        app.config.job_lease_secs
                    )))
                }
            }
        }
    };
    let recorded = match &outcome {
        Ok(()) => finish(app, job.id).await,
        Err(e) => fail(app, &ctx, &job.kind, e).await,
    };
    if let Err(e) = recorded {
        tracing::warn!(job = %job.id, error = %e, "could not record a job's outcome; it runs again after its lease");
    }
}

async fn finish(app: &App, id: Uuid) -> DbResult<()> {
    let mut tx = app.store.platform(Access::Write).await?;
    tx.execute(
        "UPDATE jobs SET state = 'done', finished_at = $3, locked_by = NULL, locked_until = NULL,
                last_error = NULL
         WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        &[&id, &worker_name(), &app.clock.now()],
    )
    .await?;
    tx.commit().await
}

async fn fail(app: &App, ctx: &JobCtx, kind: &str, error: &JobError) -> DbResult<()> {
    let now = app.clock.now();
    let message: String = error.0.chars().take(2000).collect();
    let mut tx = app.store.platform(Access::Write).await?;
    if ctx.is_last_attempt() {
        tracing::warn!(job = %ctx.id, kind, attempts = ctx.attempt, error = %message, "job is dead");
        tx.execute(
            "UPDATE jobs SET state = 'dead', finished_at = $3, locked_by = NULL,
                    locked_until = NULL, last_error = $4
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            &[&ctx.id, &worker_name(), &now, &message],
        )
        .await?;
    } else {
        let retry_at: DateTime<Utc> = now + backoff(ctx.attempt, jitter());
        tracing::info!(job = %ctx.id, kind, attempt = ctx.attempt, error = %message, retry_at = %retry_at, "job failed; retrying later");
        tx.execute(
            "UPDATE jobs SET state = 'queued', run_at = $3, locked_by = NULL,
                    locked_until = NULL, last_error = $4
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            &[&ctx.id, &worker_name(), &retry_at, &message],
        )
        .await?;
    }
    tx.commit().await
}

/// Runs every due job, one at a time, until none is due; the number run.
/// For tests and the command line: servers run [`spawn`]'s workers.
pub async fn drain(app: &App) -> DbResult<usize> {
    let mut ran = 0;
    loop {
        let claimed = claim(app, 16).await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        for job in claimed {
            run(app, job).await;
            ran += 1;
        }
        super::committed();
    }
}

/// The background tasks of one server: its workers and its scheduler.
/// Dropping it stops them (a job in flight is left to its lease).
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the scheduler and `TRASEALLA_JOB_WORKERS` workers.
pub fn spawn(app: App) -> Background {
    let mut tasks = vec![tokio::spawn(super::schedule::run(app.clone()))];
    let workers = app.config.job_workers as usize;
    if workers > 0 {
        tasks.push(tokio::spawn(work(app, workers)));
    }
    Background { tasks }
}

/// The worker loop: claim as many jobs as there are free workers, run each
/// in its own task, and when nothing is due wait for a job queued by this
/// process or for the next poll.
async fn work(app: App, workers: usize) {
    let free = Arc::new(Semaphore::new(workers));
    let poll = std::time::Duration::from_millis(app.config.job_poll_ms);
    loop {
        // Wait for at least one free worker.
        match free.clone().acquire_owned().await {
            Ok(permit) => drop(permit),
            Err(_) => return,
        }
        let notified = wake().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let room = free.available_permits();
        let claimed = match claim(&app, room).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim jobs");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let full = claimed.len() == room;
        for job in claimed {
            let Ok(permit) = free.clone().acquire_owned().await else {
                return;
            };
            let app = app.clone();
            tokio::spawn(async move {
                run(&app, job).await;
                super::committed();
                drop(permit);
            });
        }
        if !full {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}
