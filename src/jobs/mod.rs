//! The durable job queue: work that runs after the request that asked for
//! it (mail, reminders, purges), on whichever server has a free worker.
//!
//! Jobs are rows of the `jobs` table, added inside the caller's own
//! transaction, so that a request that rolls back leaves no job behind.
//! A worker claims due jobs with a lease (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so servers sharing a database never take the
//! same row; SQLite has one writer at a time). Delivery is at least once:
//! a job whose worker died is claimed again when its lease has passed, so
//! handlers are written to be run twice. A failed job is retried with
//! exponential back-off and jitter until its attempts are spent; then it is
//! `dead`, with its last error, until a platform admin retries it.
//! `idempotency_key` makes one logical job exist once, ever.
//!
//! The design follows the PostgreSQL-backed queues Oban and River: one
//! table, typed handlers registered once ([`registry`]), transactional
//! enqueueing, and a scheduler ([`schedule`]) that enqueues periodic work
//! under an advisory lock.

pub mod admin;
pub mod bench;
pub mod schedule;
mod worker;

use crate::app::App;
use crate::domain::TenantId;
use crate::store::{DbError, DbResult, PlatformTx, Scoped};
use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use uuid::Uuid;

pub use worker::{drain, spawn, Background};

/// A kind of job: its payload is the value itself (as JSON), its handler
/// [`Job::run`]. Handlers may run more than once for one job (at least
/// once delivery): they check what is already done.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The name stored with each job; never change it once released.
    const KIND: &'static str;

    fn run(self, app: &App, ctx: &JobCtx) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// What a handler knows of the job it runs.
#[derive(Debug, Clone)]
pub struct JobCtx {
    pub id: Uuid,
    pub tenant: Option<TenantId>,
    /// This attempt, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
}

impl JobCtx {
    /// No attempt follows this one when it fails.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Why a job failed; kept as the job's `last_error`. It must not hold
/// secrets: it is shown to platform admins.
#[derive(Debug)]
pub struct JobError(pub String);

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        JobError(e.to_string())
    }
}

impl From<crate::error::ApiError> for JobError {
    fn from(e: crate::error::ApiError) -> Self {
        JobError(e.message)
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        JobError(format!("{e:#}"))
    }
}

/// How to queue one job.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Not before this time (default: now).
    pub run_at: Option<DateTime<Utc>>,
    /// One job with this key, ever: a second enqueue is ignored.
    pub key: Option<String>,
    /// Attempts before `dead` (default: `TRASEALLA_JOB_MAX_ATTEMPTS`).
    pub max_attempts: Option<u32>,
}

impl Options {
    pub fn keyed(key: impl Into<String>) -> Options {
        Options {
            key: Some(key.into()),
            ..Options::default()
        }
    }
}

/// The insert: the tenant (or NULL) first. A duplicate idempotency key is
/// skipped, not an error.
const INSERT: &str = "INSERT INTO jobs (tenant_id, id, kind, payload, idempotency_key, state,
                                       max_attempts, run_at, created_at)
                      VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8)
                      ON CONFLICT (idempotency_key) DO NOTHING";

/// Queues `job` for the transaction's tenant. False when a job with the
/// same idempotency key exists (it is not queued again).
pub async fn enqueue<J: Job>(
    tx: &mut impl Scoped,
    job: &J,
    opts: Options,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let row = Row::of(job, &opts, now)?;
    let n = tx.execute(INSERT, &row.params(&opts)).await?;
    note_queued();
    Ok(n == 1)
}

/// Queues many jobs of one kind for the transaction's tenant, to run now,
/// in one statement per 500 (a webhook delivery for each record of an
/// import).
pub async fn enqueue_many<J: Job>(
    tx: &mut impl Scoped,
    jobs: &[J],
    now: DateTime<Utc>,
) -> DbResult<()> {
    let opts = Options::default();
    for chunk in jobs.chunks(500) {
        let rows = chunk
            .iter()
            .map(|job| Row::of(job, &opts, now))
            .collect::<DbResult<Vec<Row>>>()?;
        let mut params: Vec<&dyn crate::store::Bind> = Vec::with_capacity(rows.len() * 7);
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let n = params.len() + 2;
            values.push(format!(
                "($1, ${}, ${}, ${}, ${}, 'queued', ${}, ${}, ${})",
                n,
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            ));
            params.extend(row.params(&opts));
        }
        if values.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO jobs (tenant_id, id, kind, payload, idempotency_key, state,
                               max_attempts, run_at, created_at)
             VALUES {}",
            values.join(", ")
        );
        tx.execute(&sql, &params).await?;
        note_queued();
    }
    Ok(())
}

/// Queues a job that belongs to no tenant (periodic platform work).
pub async fn enqueue_platform<J: Job>(
    tx: &mut PlatformTx,
    job: &J,
    opts: Options,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let row = Row::of(job, &opts, now)?;
    let no_tenant: Option<Uuid> = None;
    let mut params: Vec<&dyn crate::store::Bind> = vec![&no_tenant];
    params.extend(row.params(&opts));
    let n = tx.execute(INSERT, &params).await?;
    note_queued();
    Ok(n == 1)
}

/// A job's values, as the insert binds them after the tenant.
struct Row {
    id: Uuid,
    kind: &'static str,
    payload: serde_json::Value,
    max_attempts: Option<i64>,
    run_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn of<J: Job>(job: &J, opts: &Options, now: DateTime<Utc>) -> DbResult<Row> {
        Ok(Row {
            id: Uuid::now_v7(),
            kind: J::KIND,
            payload: serde_json::to_value(job)
                .map_err(|e| DbError::Other(format!("job payload: {e}")))?,
            max_attempts: opts.max_attempts.map(i64::from),
            run_at: opts.run_at.unwrap_or(now),
            created_at: now,
        })
    }

    fn params<'a>(&'a self, opts: &'a Options) -> Vec<&'a dyn crate::store::Bind> {
        vec![
            &self.id,
            &self.kind,
            &self.payload,
            &opts.key,
            &self.max_attempts,
            &self.run_at,
            &self.created_at,
        ]
    }
}

fn wake() -> &'static tokio::sync::Notify {
    static WAKE: OnceLock<tokio::sync::Notify> = OnceLock::new();
    WAKE.get_or_init(tokio::sync::Notify::new)
}

tokio::task_local! {
    /// Set when the task (a request) queued a job.
    static QUEUED: Cell<bool>;
}

/// Runs `work` (a request) noting whether it queued a job, so that only
/// requests that did wake the workers ([`committed`]) once they have
/// committed.
pub async fn tracked<T>(work: impl Future<Output = T>) -> (T, bool) {
    QUEUED
        .scope(Cell::new(false), async {
            let out = work.await;
            (out, QUEUED.with(Cell::get))
        })
        .await
}

fn note_queued() {
    let _ = QUEUED.try_with(|q| q.set(true));
}

/// Call after committing a transaction that queued jobs: this process's
/// idle workers look at once (otherwise at their next poll).
pub fn committed() {
    wake().notify_waiters();
}

/// A handler, type-erased.
type Handler = fn(App, JobCtx, serde_json::Value) -> BoxFuture<'static, Result<(), JobError>>;

fn handler<J: Job>(
    app: App,
    ctx: JobCtx,
    payload: serde_json::Value,
) -> BoxFuture<'static, Result<(), JobError>> {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload)
            .map_err(|e| JobError(format!("unreadable {} payload: {e}", J::KIND)))?;
        job.run(&app, &ctx).await
    })
}

/// The handlers, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    pub fn register<J: Job>(&mut self) -> &mut Self {
        let previous = self.handlers.insert(J::KIND, handler::<J>);
        assert!(previous.is_none(), "job kind {} registered twice", J::KIND);
        self
    }

    fn get(&self, kind: &str) -> Option<Handler> {
        self.handlers.get(kind).copied()
    }
}

/// Every kind of job this binary runs.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        r.register::<Noop>()
            .register::<crate::mail::SendMail>()
            .register::<crate::mail::reminders::TrialReminders>()
            .register::<crate::mail::reminders::TrialReminder>()
            .register::<schedule::PurgeTenants>()
            .register::<schedule::PruneJobs>()
            .register::<schedule::LicenceCheck>()
            .register::<crate::usage::MeasureStorage>()
            .register::<crate::billing::webhook::SyncCard>()
            .register::<crate::integrations::delivery::Deliver>()
            .register::<crate::integrations::delivery::SweepWebhooks>();
        r
    })
}

/// A job that does nothing: the queue's own overhead, measured by
/// `trasealla jobs bench`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Noop {}

impl Job for Noop {
    const KIND: &'static str = "noop";

    async fn run(self, _app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        Ok(())
    }
}

/// The wait before attempt `attempt + 1` after attempt `attempt` failed:
/// 30 s doubling each time, at most two hours, ±20 % jitter so that jobs
/// that failed together do not retry together.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 30f64 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = base.min(7200.0);
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::milliseconds((capped * factor * 1000.0) as i64)
}

/// A uniform draw in [0, 1) for the jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::getrandom(&mut b);
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        assert_eq!(backoff(1, 0.5), Duration::seconds(30));
        assert_eq!(backoff(2, 0.5), Duration::seconds(60));
        assert_eq!(backoff(3, 0.5), Duration::seconds(120));
        assert_eq!(backoff(30, 0.5), Duration::hours(2));
        assert_eq!(backoff(1, 0.0), Duration::seconds(24));
        assert_eq!(backoff(1, 1.0), Duration::seconds(36));
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
