//! Login throttling, kept in the database so every server process behind a
//! load balancer counts the same failures. Ten failures for one username, or
//! three hundred from one client address, within fifteen minutes lock further
//! attempts until the window has passed. A success clears only the failures
//! of that username from that same client, so a legitimate login elsewhere
//! never resets an attacker's count.

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

/// 429 with Retry-After when either count has reached its limit.
pub async fn check(
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
pub async fn record_failure(
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

pub async fn clear(tx: &mut PlatformTx, username: &str, client: &str) -> ApiResult<()> {
    tx.execute(
        "DELETE FROM login_failures WHERE username = $1 AND client_addr = $2",
        &[&username, &client],
    )
    .await?;
    Ok(())
}
