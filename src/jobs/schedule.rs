//! The scheduler: periodic work, enqueued as jobs by one server at a time.
//!
//! Every `TRASEALLA_SCHEDULER_INTERVAL` seconds each server tries to lead:
//! on PostgreSQL it takes a transaction-level advisory lock (the others see
//! it taken and skip this round); SQLite has one writer at a time. The
//! leader queues each task whose `schedules.next_run_at` has come and moves
//! that time on, in the same transaction, so a restart neither skips nor
//! repeats a run.

use super::{enqueue_platform, Job, JobCtx, JobError, Options};
use crate::app::App;
use crate::licensing::Mode;
use crate::store::{Access, DbResult, Dialect, One};
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// The advisory lock the scheduler's leader holds ("trsSched").
const LEADER_LOCK: i64 = 0x7472_7353_6368_6564;

/// A periodic task: queue a `J` every `every` (zero: at every round).
struct Periodic {
    name: &'static str,
    every: Duration,
    queue: for<'a> fn(
        &'a mut crate::store::PlatformTx,
        chrono::DateTime<chrono::Utc>,
    ) -> futures_util::future::BoxFuture<'a, DbResult<bool>>,
}

fn queue<J: Job + Default + Sync>(
    tx: &mut crate::store::PlatformTx,
    now: chrono::DateTime<chrono::Utc>,
) -> futures_util::future::BoxFuture<'_, DbResult<bool>> {
    Box::pin(async move { enqueue_platform(tx, &J::default(), Options::default(), now).await })
}

fn periodic(app: &App) -> Vec<Periodic> {
    let mut all = vec![
        Periodic {
            name: "trial_reminders",
            every: Duration::zero(),
            queue: queue::<crate::mail::reminders::TrialReminders>,
        },
        Periodic {
            name: "purge_tenants",
            every: Duration::hours(1),
            queue: queue::<PurgeTenants>,
        },
        Periodic {
            name: "prune_jobs",
            every: Duration::hours(24),
            queue: queue::<PruneJobs>,
        },
        Periodic {
            name: "sweep_webhooks",
            every: Duration::minutes(5),
            queue: queue::<crate::integrations::delivery::SweepWebhooks>,
        },
        Periodic {
            name: "measure_storage",
            every: Duration::hours(24),
            queue: queue::<crate::usage::MeasureStorage>,
        },
    ];
    if app.licensing.mode == Mode::SelfHosted {
        all.push(Periodic {
            name: "licence_check",
            every: Duration::hours(1),
            queue: queue::<LicenceCheck>,
        });
    }
    all
}

/// One round: when this server leads, queue what is due. The number of
/// jobs queued.
pub async fn tick(app: &App) -> DbResult<usize> {
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    if tx.dialect() == Dialect::Postgres {
        let One(leader): One<bool> = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LEADER_LOCK])
            .await?;
        if !leader {
            return Ok(0);
        }
    }
    let mut queued = 0;
    for task in periodic(app) {
        tx.execute(
            "INSERT INTO schedules (name, next_run_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            &[&task.name, &now],
        )
        .await?;
        let One(next): One<chrono::DateTime<chrono::Utc>> = tx
            .query_one(
                "SELECT next_run_at FROM schedules WHERE name = $1",
                &[&task.name],
            )
            .await?;
        if next > now {
            continue;
        }
        (task.queue)(&mut tx, now).await?;
        queued += 1;
        tx.execute(
            "UPDATE schedules SET next_run_at = $2, last_run_at = $3 WHERE name = $1",
            &[&task.name, &(now + task.every), &now],
        )
        .await?;
    }
    tx.commit().await?;
    super::committed();
    Ok(queued)
}

/// The scheduler loop.
pub(super) async fn run(app: App) {
    let every = std::time::Duration::from_secs(app.config.scheduler_interval_secs);
    let mut round = tokio::time::interval(every);
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        round.tick().await;
        if let Err(e) = tick(&app).await {
            tracing::warn!(error = %e, "the scheduler's round failed");
        }
    }
}

/// Purges tenants cancelled longer ago than `TRASEALLA_PURGE_AFTER_DAYS`,
/// and removes expired browser sessions. Idempotent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PurgeTenants {}

impl Job for PurgeTenants {
    const KIND: &'static str = "purge_tenants";

    async fn run(self, app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        let retention = Duration::days(i64::from(app.config.purge_after_days));
        let n = crate::platform::tenants::purge_due(&app.store, retention, app.clock.now()).await?;
        if n > 0 {
            tracing::info!(purged = n, "purged cancelled tenants past retention");
        }
        crate::auth::sessions::prune(&app.store, app.clock.now()).await?;
        Ok(())
    }
}

/// Removes finished jobs after a week (those with an idempotency key stay:
/// they are what makes their work happen once, ever), and the bodies of
/// messages that were given up on a week ago (their links have expired;
/// a message still waiting to be sent keeps its body).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PruneJobs {}

impl Job for PruneJobs {
    const KIND: &'static str = "prune_jobs";

    async fn run(self, app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        let before = app.clock.now() - Duration::days(7);
        let mut tx = app.store.platform(Access::Write).await?;
        tx.execute(
            "DELETE FROM jobs WHERE state = 'done' AND idempotency_key IS NULL
                                AND finished_at < $1",
            &[&before],
        )
        .await?;
        tx.execute(
            "UPDATE mail_messages SET body = NULL
             WHERE body IS NOT NULL AND status IN ('not_sent', 'dead') AND created_at < $1",
            &[&before],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Self-hosted: keeps the clock's high-water mark hourly and re-verifies
/// the licence (and asks the licence server about a revocation) daily.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LicenceCheck {}

impl Job for LicenceCheck {
    const KIND: &'static str = "licence_check";

    async fn run(self, app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        use crate::licensing::installation;
        let now = app.clock.now();
        let daily = {
            let mut tx = app.store.platform(Access::Write).await?;
            tx.execute(
                "INSERT INTO schedules (name, next_run_at) VALUES ('licence_verify', $1)
                 ON CONFLICT (name) DO NOTHING",
                &[&now],
            )
            .await?;
            let n = tx
                .execute(
                    "UPDATE schedules SET next_run_at = $2, last_run_at = $1
                     WHERE name = 'licence_verify' AND next_run_at <= $1",
                    &[&now, &(now + Duration::hours(24))],
                )
                .await?;
            tx.commit().await?;
            n == 1
        };
        if daily {
            installation::check(&app.store, &app.licensing, true, now).await?;
        } else {
            installation::record_clock(&app.store, &app.licensing, now).await?;
        }
        Ok(())
    }
}
