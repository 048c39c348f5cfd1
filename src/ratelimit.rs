//! Fixed-window rate limits kept in the database, so every server process
//! behind a load balancer counts the same requests.

use crate::error::{ApiError, ApiResult};
use crate::store::{Access, One, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Counts one request in `bucket`; 429 with Retry-After once more than
/// `limit` arrived in the current window.
pub async fn hit(
    store: &Store,
    bucket: &str,
    limit: i64,
    window: Duration,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let secs = window.num_seconds().max(1);
    let start_secs = now.timestamp() - now.timestamp().rem_euclid(secs);
    let start = Utc
        .timestamp_opt(start_secs, 0)
        .single()
        .ok_or_else(|| ApiError::internal("time out of range"))?;
    let mut tx = store.platform(Access::Write).await?;
    let One(count): One<i64> = tx
        .query_one(
            "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
             ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1
             RETURNING count",
            &[&bucket, &start],
        )
        .await?;
    if count == 1 {
        // First request of a new window: the bucket's old windows can go.
        tx.execute(
            "DELETE FROM rate_limits WHERE bucket = $1 AND window_start < $2",
            &[&bucket, &start],
        )
        .await?;
    }
    tx.commit().await?;
    if count > limit {
        let retry = (start + window - now).num_seconds().max(1);
        return Err(ApiError::rate_limited(u64::try_from(retry).unwrap_or(1)));
    }
    Ok(())
}
