//! Limits that several servers behind a load balancer enforce together:
//! request rates (GCRA), fixed windows, login failures and per-tenant
//! concurrency caps. With `TRASEALLA_REDIS_URL` they are kept in Redis;
//! without it, or while Redis does not answer, each server keeps its own
//! in-process (the rates and windows here; callers whose limits the
//! database kept before Redis fall back to the database). A Redis that
//! stops answering is logged once, retried at most every second, and used
//! again as soon as it answers.

mod memory;
mod redis;
#[cfg(test)]
mod tests;

use self::memory::Memory;
use self::redis::Redis;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prefix of every key the server writes to Redis.
pub const DEFAULT_PREFIX: &str = "trasealla";

/// How long after a failed call Redis is tried again; meanwhile the
/// in-process limits answer without waiting on it.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How often a Redis that stays unreachable is logged again.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The answer of a rate check, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// seconds until the bucket is full again
    pub reset_secs: u64,
    /// when refused: seconds to wait
    pub retry_after_secs: Option<u64>,
}

impl RateDecision {
    /// A limit of zero: nothing is allowed, ever.
    fn refuse_all() -> RateDecision {
        RateDecision {
            allowed: false,
            limit: 0,
            remaining: 0,
            reset_secs: 60,
            retry_after_secs: Some(60),
        }
    }
}

/// The server's limits; cheap to clone (clones share them).
#[derive(Clone)]
pub struct Limiter(Arc<Inner>);

struct Inner {
    memory: Memory,
    redis: Option<(Redis, Health)>,
}

impl Limiter {
    /// With a Redis URL, limits are shared through that Redis (a URL that
    /// cannot be one is an error; a Redis that does not answer yet is not:
    /// the limits stay in-process until it does).
    pub async fn new(redis_url: Option<&str>) -> anyhow::Result<Limiter> {
        Limiter::with_prefix(redis_url, DEFAULT_PREFIX).await
    }

    /// As [`Limiter::new`], with every key under `prefix` (deployments
    /// sharing one Redis; tests that must not see each other's keys).
    pub async fn with_prefix(redis_url: Option<&str>, prefix: &str) -> anyhow::Result<Limiter> {
        let redis = match redis_url {
            None => None,
            Some(url) => {
                let redis = Redis::new(url, prefix).map_err(|e| {
                    anyhow::anyhow!(
                        "TRASEALLA_REDIS_URL ({}): {e}",
                        crate::config::redact_url(url)
                    )
                })?;
                let health = Health::new();
                match redis.ping().await {
                    Ok(()) => tracing::info!(
                        redis = %crate::config::redact_url(url),
                        "limits are shared through Redis"
                    ),
                    Err(e) => health.failed(&e),
                }
                Some((redis, health))
            }
        };
        Ok(Limiter(Arc::new(Inner {
            memory: Memory::default(),
            redis,
        })))
    }

    /// A limiter of this server alone (no Redis).
    pub fn in_process() -> Limiter {
        Limiter(Arc::new(Inner {
            memory: Memory::default(),
            redis: None,
        }))
    }

    /// True while Redis is in use (it answered the last call), false when
    /// the limits are in-process.
    pub fn shared(&self) -> bool {
        self.0.redis.as_ref().is_some_and(|(_, h)| h.up())
    }

    /// GCRA: `per_minute` requests per minute with a burst of `per_minute`
    /// (a minute's worth). `key` is e.g. "tenant:<uuid>".
    pub async fn check(&self, key: &str, per_minute: u32) -> RateDecision {
        if let Some(decision) = self.on_redis(|r| r.check(key, per_minute)).await {
            return decision;
        }
        self.0.memory.check(key, per_minute)
    }

    /// Fixed window: counts one hit in `bucket`; Err(retry_after_secs) once
    /// more than `limit` arrived in the current `window` (which starts at
    /// the bucket's first hit).
    pub async fn hit(&self, bucket: &str, limit: i64, window: Duration) -> Result<(), u64> {
        match self.hit_shared(bucket, limit, window).await {
            Some(answer) => answer,
            None => self.0.memory.hit(bucket, limit, window),
        }
    }

    /// As [`Limiter::hit`] when Redis answers; `None` when it is not
    /// configured or does not answer (the caller counts elsewhere).
    pub async fn hit_shared(
        &self,
        bucket: &str,
        limit: i64,
        window: Duration,
    ) -> Option<Result<(), u64>> {
        self.on_redis(|r| r.hit(bucket, limit, window)).await
    }

    /// Records a failure of `subject` (a username) from `source` (a client
    /// address) unless either already has its maximum (`max`: the
    /// subject's, the source's) within `window`: the subject's failures
    /// with this one, or Err(seconds until an attempt is allowed). `None`
    /// when Redis is not configured or does not answer.
    pub async fn record_failure_shared(
        &self,
        subject: &str,
        source: &str,
        max: (i64, i64),
        window: Duration,
    ) -> Option<Result<i64, u64>> {
        self.on_redis(|r| r.failure(subject, source, max, window))
            .await
    }

    /// Forgets the failures of `subject` from `source` (false when Redis
    /// did not do it).
    pub async fn clear_failures_shared(&self, subject: &str, source: &str) -> bool {
        self.on_redis(|r| r.clear_failures(subject, source))
            .await
            .is_some()
    }

    /// One of `cap` places of `key` across every server, held until the
    /// returned [`Place`] is dropped or `lease` has passed (whichever is
    /// first: a server that dies holding places frees them after the
    /// lease).
    pub async fn hold(&self, key: &str, cap: u32, lease: Duration) -> Hold {
        let holder = uuid::Uuid::now_v7().simple().to_string();
        match self.on_redis(|r| r.acquire(key, cap, lease, &holder)).await {
            Some(true) => Hold::Held(Place {
                limiter: self.clone(),
                key: key.to_owned(),
                holder,
            }),
            Some(false) => Hold::Full,
            None => Hold::Unshared,
        }
    }

    /// Runs `call` on Redis when it is configured and not known to be
    /// down; `None` otherwise or when the call fails (logged, and Redis
    /// rested for a second).
    async fn on_redis<'a, T, F>(&'a self, call: impl FnOnce(&'a Redis) -> F) -> Option<T>
    where
        F: std::future::Future<Output = Result<T, redis::Failure>>,
    {
        let (redis, health) = self.0.redis.as_ref()?;
        if !health.may_try() {
            return None;
        }
        match call(redis).await {
            Ok(v) => {
                health.answered();
                Some(v)
            }
            Err(e) => {
                health.failed(&e);
                None
            }
        }
    }
}

/// The answer of [`Limiter::hold`].
pub enum Hold {
    /// A place, given back when dropped.
    Held(Place),
    /// Every place is taken.
    Full,
    /// No Redis in use: only this server's own gates count.
    Unshared,
}

/// A place of a shared cap; dropping it gives it back (in a spawned task).
pub struct Place {
    limiter: Limiter,
    key: String,
    holder: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        // Outside a runtime the lease's expiry gives the place back.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let limiter = self.limiter.clone();
        let key = std::mem::take(&mut self.key);
        let holder = std::mem::take(&mut self.holder);
        runtime.spawn(async move {
            limiter.on_redis(|r| r.release(&key, &holder)).await;
        });
    }
}

/// Whether Redis answers: when it does not, it is tried again once a
/// second (by one caller; the others answer in-process meanwhile), and the
/// outage is logged once a minute, not once a request.
struct Health {
    up: AtomicBool,
    down: Mutex<Down>,
}

struct Down {
    retry_at: Instant,
    warned_at: Option<Instant>,
}

impl Health {
    fn new() -> Health {
        Health {
            up: AtomicBool::new(true),
            down: Mutex::new(Down {
                retry_at: Instant::now(),
                warned_at: None,
            }),
        }
    }

    fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Down> {
        self.down.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether to call Redis now: always while it answers; while it does
    /// not, once a second, and that try is this caller's.
    fn may_try(&self) -> bool {
        if self.up() {
            return true;
        }
        let now = Instant::now();
        let mut down = self.lock();
        if now < down.retry_at {
            return false;
        }
        down.retry_at = now + RETRY_EVERY;
        true
    }

    fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            self.lock().warned_at = None;
            tracing::info!("Redis answers again: limits are shared across servers again");
        }
    }

    fn failed(&self, error: &str) {
        let now = Instant::now();
        let was_up = self.up.swap(false, Ordering::Relaxed);
        let mut down = self.lock();
        down.retry_at = now + RETRY_EVERY;
        let warn = was_up || down.warned_at.is_none_or(|t| now - t >= WARN_EVERY);
        if warn {
            down.warned_at = Some(now);
            tracing::warn!(
                error,
                "Redis does not answer: each server enforces its limits alone until it does"
            );
        }
    }
}
