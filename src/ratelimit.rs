//! Fixed-window rate limits that every server process behind a load
//! balancer counts together: in Redis when one is configured (and
//! answers), else in the database.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::store::{Access, One, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Counts one request in `bucket`; 429 with Retry-After once more than
/// `limit` arrived in the current window.
pub async fn hit(app: &App, bucket: &str, limit: i64, window: Duration) -> ApiResult<()> {
    let std_window = window.to_std().unwrap_or(std::time::Duration::from_secs(1));
    match app.limiter.hit_shared(bucket, limit, std_window).await {
        Some(Ok(())) => Ok(()),
        Some(Err(retry)) => Err(ApiError::rate_limited(retry)),
        // No Redis, or it does not answer: the database is shared too.
        None => hit_in_database(&app.store, bucket, limit, window, app.clock.now()).await,
    }
}

/// The same count in the database's `rate_limits`, in windows aligned to
/// the clock.
async fn hit_in_database(
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
