//! Trial reminders: 7, 3 and 1 days before a trial ends, and when it has
//! ended, to the tenant's admins. Each is one job per tenant and threshold,
//! ever (its idempotency key), so a scan that runs again, or on two
//! servers at once, queues nothing twice; a tenant whose trial is moved
//! gets the reminder its new end calls for, and none it already had.

use super::{admins, brand, queue, templates, Outgoing};
use crate::app::App;
use crate::domain::TenantId;
use crate::jobs::{self, Job, JobCtx, JobError, Options};
use crate::store::{Access, DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The thresholds, in days before the end (0: it has ended).
const THRESHOLDS: [u32; 4] = [7, 3, 1, 0];

/// The reminder a trial ending at `end` calls for at `now`, if any: the
/// smallest threshold it is within (a trial with two days left gets the
/// 3-day reminder, not the 7-day one as well). Ended trials get theirs for
/// a week, so a server that was down does not skip it, and older ones none.
pub fn due_threshold(end: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
    window_of(end - now)
}

fn window_of(left: Duration) -> Option<u32> {
    THRESHOLDS.iter().copied().find(|&days| {
        let (lo, hi) = window(days);
        left > lo && left <= hi
    })
}

/// The time left for which a threshold's reminder is due: (lo, hi].
fn window(days: u32) -> (Duration, Duration) {
    match days {
        7 => (Duration::days(3), Duration::days(7)),
        3 => (Duration::days(1), Duration::days(3)),
        1 => (Duration::zero(), Duration::days(1)),
        _ => (Duration::days(-7), Duration::zero()),
    }
}

fn key(days: u32, tenant: TenantId) -> String {
    format!("trial_reminder:{days}:{tenant}")
}

/// The periodic scan (every scheduler round): queues the reminder each
/// trial is due, once.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TrialReminders {}

impl Job for TrialReminders {
    const KIND: &'static str = "trial_reminders";

    async fn run(self, app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        let now = app.clock.now();
        let mut tx = app.store.platform(Access::Write).await?;
        for days in THRESHOLDS {
            let (lo, hi) = window(days);
            let due: Vec<One<TenantId>> = tx
                .query(
                    "SELECT t.id FROM tenants t
                     WHERE t.status = 'trial' AND t.trial_ends_at > $1 AND t.trial_ends_at <= $2
                       AND NOT EXISTS (SELECT 1 FROM jobs j
                                       WHERE j.idempotency_key = CAST($3 AS TEXT) || CAST(t.id AS TEXT))
                     ORDER BY t.trial_ends_at LIMIT 1000",
                    &[&(now + lo), &(now + hi), &format!("trial_reminder:{days}:")],
                )
                .await?;
            for One(tenant) in due {
                jobs::enqueue(
                    &mut tx.for_tenant(tenant),
                    &TrialReminder { days },
                    Options::keyed(key(days, tenant)),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        jobs::committed();
        Ok(())
    }
}

/// One tenant's reminder at one threshold: a message to each admin.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrialReminder {
    pub days: u32,
}

struct Trial {
    status: String,
    trial_ends_at: Option<DateTime<Utc>>,
}

impl FromRow for Trial {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Trial {
            status: r.get("status")?,
            trial_ends_at: r.get("trial_ends_at")?,
        })
    }
}

impl Job for TrialReminder {
    const KIND: &'static str = "trial_reminder";

    async fn run(self, app: &App, ctx: &JobCtx) -> Result<(), JobError> {
        let Some(tenant) = ctx.tenant else {
            return Err(JobError("a trial reminder without a tenant".into()));
        };
        let now = app.clock.now();
        let mut platform = app.store.platform(Access::Write).await?;
        let mut tx = platform.for_tenant(tenant);
        let trial: Option<Trial> = tx
            .query_opt(
                "SELECT status, trial_ends_at FROM tenants WHERE id = $1",
                &[],
            )
            .await?;
        // Upgraded, cancelled or gone since; nothing to remind of.
        let Some(Trial {
            status,
            trial_ends_at: Some(end),
        }) = trial
        else {
            return Ok(());
        };
        if status != "trial" {
            return Ok(());
        }
        let brand = brand(&mut tx, app).await?;
        for (user, email, name) in admins(&mut tx).await? {
            let content = templates::trial_reminder(&brand, &name, self.days, end);
            queue(
                &mut tx,
                &app.master,
                Outgoing {
                    kind: if self.days == 0 {
                        "trial_ended"
                    } else {
                        "trial_reminder"
                    },
                    to: email,
                    user: Some(user),
                    content,
                    dedupe_key: Some(format!("{}:{user}", key(self.days, tenant))),
                },
                now,
            )
            .await?;
        }
        platform.commit().await?;
        jobs::committed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_moment_calls_for_at_most_one_threshold() {
        let h = Duration::hours;
        assert_eq!(window_of(h(24 * 8)), None);
        assert_eq!(window_of(h(24 * 7)), Some(7));
        assert_eq!(window_of(h(24 * 3 + 1)), Some(7));
        assert_eq!(window_of(h(24 * 3)), Some(3));
        assert_eq!(window_of(h(25)), Some(3));
        assert_eq!(window_of(h(24)), Some(1));
        assert_eq!(window_of(Duration::seconds(1)), Some(1));
        assert_eq!(window_of(Duration::zero()), Some(0));
        assert_eq!(window_of(h(-24 * 6)), Some(0));
        assert_eq!(window_of(h(-24 * 8)), None);
    }
}
