//! The limits kept in Redis, shared by every server that uses the same
//! Redis. Each decision is one Lua script, so it is atomic however many
//! servers ask at once, and reads the time with Redis `TIME`, so servers
//! whose clocks differ still agree. Every key expires once it no longer
//! matters.

use super::RateDecision;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// How long one Redis call may take before the in-process limits answer
/// instead: a limit must never be what makes a request slow.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// GCRA (the generic cell rate algorithm): the key holds the theoretical
/// arrival time (TAT) in microseconds. A request is allowed when the TAT it
/// would push to stays within a burst's worth of intervals from now.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, math.ceil((tat - now) / 1000000), math.ceil((allow_at - now) / 1000000)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.floor((now + tolerance - new_tat) / interval)
return {1, remaining, math.ceil((new_tat - now) / 1000000), 0}
"#,
    )
});

/// A fixed window that starts at the bucket's first hit: the count and
/// the milliseconds the window has left.
static WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"#,
    )
});

/// A semaphore: a sorted set of holders scored by when their lease ends.
/// Holders past their lease (a server that died holding) are dropped
/// first; the set itself expires with its last lease.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#,
    )
});

/// A log of failures per subject (a username) and per source (a client
/// address), for the login throttle. The subject's members are
/// `<source> <id>` so that a success can clear only the failures of that
/// subject from that source; the source's members are the bare ids.
/// Answers `{failures of the subject, 0}` after recording one, or
/// `{-1, seconds}` while either log is full.
static FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local until_ms = 0
for i, max in ipairs({tonumber(ARGV[1]), tonumber(ARGV[2])}) do
  if redis.call('ZCARD', KEYS[i]) >= max then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local ends = tonumber(oldest[2]) + window
    if ends > until_ms then until_ms = ends end
  end
end
if until_ms > now then
  return {-1, math.ceil((until_ms - now) / 1000)}
end
redis.call('ZADD', KEYS[1], now, ARGV[5] .. ' ' .. ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return {n + 1, 0}
"#,
    )
});

/// Forgets the subject's failures from one source (a successful login).
static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local prefix = ARGV[1] .. ' '
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #prefix) == prefix then
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZREM', KEYS[2], string.sub(m, #prefix + 1))
  end
end
return 0
"#,
    )
});

/// A connection (reconnecting by itself) and the prefix of every key.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: String,
}

/// What went wrong with a call: Redis's error, or no answer in time.
pub type Failure = String;

impl Redis {
    /// A connection made on first use; a URL that cannot be one is an
    /// error.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Redis> {
        let client = ::redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            // The limiter retries by itself (see `Health`): a reconnection
            // that gives up fast keeps requests from waiting on it.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Redis {
            conn,
            prefix: format!("{prefix}:"),
        })
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// Runs `call` on a clone of the connection, within [`CALL_TIMEOUT`].
    async fn run<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Result<T, Failure>
    where
        F: std::future::Future<Output = ::redis::RedisResult<T>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, call(self.conn.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
        }
    }

    pub async fn ping(&self) -> Result<(), Failure> {
        self.run(|mut c| async move { ::redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }

    pub async fn check(&self, key: &str, per_minute: u32) -> Result<RateDecision, Failure> {
        if per_minute == 0 {
            return Ok(RateDecision::refuse_all());
        }
        let key = self.key("rate", key);
        let interval_us = 60_000_000.0 / f64::from(per_minute);
        let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = self
            .run(|mut c| async move {
                GCRA.key(key)
                    .arg(interval_us)
                    .arg(per_minute)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: per_minute,
            remaining: u32::try_from(remaining.clamp(0, i64::from(per_minute))).unwrap_or(0),
            reset_secs: u64::try_from(reset).unwrap_or(0),
            retry_after_secs: (allowed != 1).then(|| u64::try_from(retry).unwrap_or(1).max(1)),
        })
    }

    pub async fn hit(
        &self,
        bucket: &str,
        limit: i64,
        window: Duration,
    ) -> Result<Result<(), u64>, Failure> {
        let key = self.key("window", bucket);
        let window_ms = millis(window);
        let (count, ttl_ms): (i64, i64) = self
            .run(|mut c| async move { WINDOW.key(key).arg(window_ms).invoke_async(&mut c).await })
            .await?;
        if count > limit {
            let secs = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000);
            return Ok(Err(secs.max(1)));
        }
        Ok(Ok(()))
    }

    /// Takes one of `cap` places of `key` for at most `lease`, as
    /// `holder`: whether it got one.
    pub async fn acquire(
        &self,
        key: &str,
        cap: u32,
        lease: Duration,
        holder: &str,
    ) -> Result<bool, Failure> {
        let key = self.key("sem", key);
        let lease_ms = millis(lease).max(1);
        let holder = holder.to_owned();
        let got: i64 = self
            .run(|mut c| async move {
                ACQUIRE
                    .key(key)
                    .arg(cap)
                    .arg(lease_ms)
                    .arg(holder)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(got == 1)
    }

    pub async fn release(&self, key: &str, holder: &str) -> Result<(), Failure> {
        let key = self.key("sem", key);
        let holder = holder.to_owned();
        self.run(|mut c| async move {
            ::redis::cmd("ZREM")
                .arg(key)
                .arg(holder)
                .query_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }

    /// Records a failure of `subject` from `source` unless either has
    /// `max` failures within `window` already: `Ok(failures of the
    /// subject)`, or `Err(seconds until an attempt is allowed)`.
    pub async fn failure(
        &self,
        subject: &str,
        source: &str,
        max: (i64, i64),
        window: Duration,
    ) -> Result<Result<i64, u64>, Failure> {
        let keys = [
            self.key("fail_subject", subject),
            self.key("fail_source", source),
        ];
        let id = uuid::Uuid::now_v7().simple().to_string();
        let source = source.replace(' ', "_");
        let window_ms = millis(window);
        let (n, secs): (i64, i64) = self
            .run(|mut c| async move {
                FAILURE
                    .key(&keys[0])
                    .key(&keys[1])
                    .arg(max.0)
                    .arg(max.1)
                    .arg(window_ms)
                    .arg(id)
                    .arg(source)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(if n < 0 {
            Err(u64::try_from(secs).unwrap_or(1).max(1))
        } else {
            Ok(n)
        })
    }

    pub async fn clear_failures(&self, subject: &str, source: &str) -> Result<(), Failure> {
        let keys = [
            self.key("fail_subject", subject),
            self.key("fail_source", source),
        ];
        let source = source.replace(' ', "_");
        self.run(|mut c| async move {
            CLEAR
                .key(&keys[0])
                .key(&keys[1])
                .arg(source)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
