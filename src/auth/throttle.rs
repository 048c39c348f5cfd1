//! Login throttling, kept where every server process behind a load
//! balancer counts the same failures: in Redis when one is configured (and
//! answers), else in the database. Ten failures for one username, or three
//! hundred from one client address, within fifteen minutes lock further
//! attempts until the window has passed. A success clears only the failures
//! of that username from that same client, so a legitimate login elsewhere
//! never resets an attacker's count.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::store::{DbResult, FromRow, One, PlatformTx, Row};
use chrono::{DateTime, Duration, Utc};

pub const WINDOW_MINUTES: i64 = 15;
pub const MAX_PER_USERNAME: i64 = 10;
pub const MAX_PER_CLIENT: i64 = 300;

struct Counts {
    by_user: i64,
    oldest_user: Option<DateTime<Utc>>,
    by_client: i64,
    oldest_client: Option<DateTime<Utc>>,
}

impl FromRow for Counts {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Counts {
            by_user: r.get("by_user")?,
            oldest_user: r.get("oldest_user")?,
            by_client: r.get("by_client")?,
            oldest_client: r.get("oldest_client")?,
        })
    }
}

fn window() -> Duration {
    Duration::minutes(WINDOW_MINUTES)
}

/// Counts an attempt as a failure before its password is checked (a
/// success [`clear`]s it), or 429 with Retry-After when either count has
/// reached its limit: how many failures the username now has in the
/// window. Without Redis the caller's transaction must serialise attempts
/// on the username (the check and the count are two statements).
pub async fn attempt(
    app: &App,
    tx: &mut PlatformTx,
    username: &str,
    client: &str,
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    let window = std::time::Duration::from_secs(60 * WINDOW_MINUTES as u64);
    let max = (MAX_PER_USERNAME, MAX_PER_CLIENT);
    match app
        .limiter
        .record_failure_shared(username, client, max, window)
        .await
    {
        Some(Ok(failures)) => Ok(failures),
        Some(Err(retry)) => Err(ApiError::rate_limited(retry)),
        None => {
            check(tx, username, client, now).await?;
            record_failure(tx, username, client, now).await
        }
    }
}

/// 429 with Retry-After when either count has reached its limit.
async fn check(
    tx: &mut PlatformTx,
    username: &str,
    client: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let since = now - window();
    let c: Counts = tx
        .query_one(
            "SELECT (SELECT count(*) FROM login_failures WHERE username = $1 AND at > $3) AS by_user,
                    (SELECT min(at) FROM login_failures WHERE username = $1 AND at > $3) AS oldest_user,
                    (SELECT count(*) FROM login_failures WHERE client_addr = $2 AND at > $3) AS by_client,
                    (SELECT min(at) FROM login_failures WHERE client_addr = $2 AND at > $3) AS oldest_client",
            &[&username, &client, &since],
        )
        .await?;
    let blocked_until = [
        (c.by_user >= MAX_PER_USERNAME)
            .then_some(c.oldest_user)
            .flatten(),
        (c.by_client >= MAX_PER_CLIENT)
            .then_some(c.oldest_client)
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .map(|oldest| oldest + window())
    .max();
    match blocked_until {
        Some(until) => Err(ApiError::rate_limited(
            u64::try_from((until - now).num_seconds()).unwrap_or(1),
        )),
        None => Ok(()),
    }
}

/// Records a failure; returns how many failures the username now has in
/// the window.
async fn record_failure(
    tx: &mut PlatformTx,
    username: &str,
    client: &str,
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    // Old rows of this username or client are pruned as new ones arrive.
    tx.execute(
        "DELETE FROM login_failures WHERE (username = $1 OR client_addr = $2) AND at <= $3",
        &[&username, &client, &(now - window())],
    )
    .await?;
    tx.execute(
        "INSERT INTO login_failures (id, username, client_addr, at) VALUES ($1, $2, $3, $4)",
        &[&uuid::Uuid::now_v7(), &username, &client, &now],
    )
    .await?;
    let One(n) = tx
        .query_one(
            "SELECT count(*) FROM login_failures WHERE username = $1 AND at > $2",
            &[&username, &(now - window())],
        )
        .await?;
    Ok(n)
}

/// Forgets the username's failures from this client: in Redis, and in
/// the database, which may hold some from while Redis did not answer.
pub async fn clear(app: &App, tx: &mut PlatformTx, username: &str, client: &str) -> ApiResult<()> {
    app.limiter.clear_failures_shared(username, client).await;
    tx.execute(
        "DELETE FROM login_failures WHERE username = $1 AND client_addr = $2",
        &[&username, &client],
    )
    .await?;
    Ok(())
}
