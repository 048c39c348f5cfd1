//! Workers: claim due jobs under a lease, run their handlers, and record
//! the outcome (done, retry later, or dead).

use super::{backoff, jitter, registry, wake, JobCtx, JobError};
use crate::app::App;
use crate::domain::TenantId;
use crate::store::{Access, DbResult, Dialect, FromRow, IdList, Row};
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

/// Whether this claim also looks for jobs whose worker died: at most once a
/// second per process (a lease is seconds long), not at every claim of a
/// busy queue.
fn sweep_due() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let now = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
        + 1000;
    let last = LAST.load(Ordering::Relaxed);
    now.saturating_sub(last) >= 1000
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Claims up to `limit` due jobs for this worker, oldest first (an index
/// scan of the due jobs: the cost does not grow with finished ones). With
/// `sweep`, jobs whose lease passed are first queued again, or made `dead`
/// when that was their last attempt (a job that kills its server every
/// time must not loop forever).
pub(super) async fn claim(app: &App, limit: usize, sweep: bool) -> DbResult<Vec<Claimed>> {
    let now = app.clock.now();
    let lease = Duration::seconds(i64::try_from(app.config.job_lease_secs).unwrap_or(60));
    let default_max = i64::from(app.config.job_max_attempts);
    let mut tx = app.store.platform(Access::Write).await?;
    if sweep {
        tx.execute(
            "UPDATE jobs SET state = 'dead', finished_at = $1, locked_by = NULL,
                    locked_until = NULL,
                    last_error = 'its worker stopped during its last attempt (the lease passed)'
             WHERE state = 'running' AND locked_until <= $1
               AND attempts >= COALESCE(max_attempts, $2)",
            &[&now, &default_max],
        )
        .await?;
        tx.execute(
            "UPDATE jobs SET state = 'queued', run_at = $1, locked_by = NULL, locked_until = NULL,
                    last_error = 'its worker stopped before it finished (the lease passed)'
             WHERE state = 'running' AND locked_until <= $1",
            &[&now],
        )
        .await?;
    }
    let lock = match tx.dialect() {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
                locked_until = $2
         WHERE id IN (SELECT id FROM jobs
                      WHERE state = 'queued' AND run_at <= $3
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
pub(super) async fn run(
    app: &App,
    job: Claimed,
    done: Option<&tokio::sync::mpsc::UnboundedSender<Uuid>>,
) {
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
    let recorded = match (&outcome, done) {
        (Ok(()), Some(done)) => {
            // The completer records it with others finished meanwhile.
            if done.send(job.id).is_ok() {
                return;
            }
            finish(app, &[job.id]).await
        }
        (Ok(()), None) => finish(app, &[job.id]).await,
        (Err(e), _) => fail(app, &ctx, &job.kind, e).await,
    };
    if let Err(e) = recorded {
        tracing::warn!(job = %job.id, error = %e, "could not record a job's outcome; it runs again after its lease");
    }
}

/// Marks jobs this worker ran as done, in one statement.
async fn finish(app: &App, ids: &[Uuid]) -> DbResult<()> {
    let mut tx = app.store.platform(Access::Write).await?;
    let list = match tx.dialect() {
        Dialect::Postgres => "id = ANY($1)",
        Dialect::Sqlite => "id IN (SELECT value FROM json_each($1))",
    };
    tx.execute(
        &format!(
            "UPDATE jobs SET state = 'done', finished_at = $3, locked_by = NULL,
                    locked_until = NULL, last_error = NULL
             WHERE {list} AND locked_by = $2 AND state = 'running'"
        ),
        &[&IdList(ids.to_vec()), &worker_name(), &app.clock.now()],
    )
    .await?;
    tx.commit().await
}

/// Records finished jobs in batches: what finished while the last batch was
/// written goes in the next one (as River's batch completer does), so a
/// busy queue pays one write for many jobs and an idle one waits for none.
async fn complete(app: App, mut done: tokio::sync::mpsc::UnboundedReceiver<Uuid>) {
    const MAX_BATCH: usize = 500;
    while let Some(first) = done.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match done.try_recv() {
                Ok(id) => batch.push(id),
                Err(_) => break,
            }
        }
        if let Err(e) = finish(&app, &batch).await {
            tracing::warn!(jobs = batch.len(), error = %e, "could not record finished jobs; they run again after their lease");
        }
    }
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
        let claimed = claim(app, 16, true).await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        for job in claimed {
            run(app, job, None).await;
            ran += 1;
        }
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

/// Starts the scheduler, the usage meter's flush and
/// `TRASEALLA_JOB_WORKERS` workers.
pub fn spawn(app: App) -> Background {
    let mut tasks = vec![
        tokio::spawn(super::schedule::run(app.clone())),
        tokio::spawn(crate::usage::flush_periodically(app.clone())),
    ];
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
    let (done, finished) = tokio::sync::mpsc::unbounded_channel();
    let completer = AbortOnDrop(tokio::spawn(complete(app.clone(), finished)));
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
        let claimed = match claim(&app, room, sweep_due()).await {
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
            let done = done.clone();
            tokio::spawn(async move {
                run(&app, job, Some(&done)).await;
                drop(permit);
            });
        }
        if !full {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        if completer.0.is_finished() {
            return;
        }
    }
}

/// A task that stops with the worker loop that owns it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
