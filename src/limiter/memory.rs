//! The in-process limits: what one server enforces alone, with no Redis
//! configured or while it does not answer. Rates are governor's GCRA, one
//! limiter per key with its own quota; fixed windows are counters that
//! expire. Idle keys are forgotten, so memory stays bounded by the keys
//! seen in the last minute or window.

use super::RateDecision;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// How often the maps are swept of idle keys, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A rate limiter that has not been used for this long has refilled (its
/// burst is a minute's worth): forgetting it changes no answer.
const RATE_IDLE: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Memory {
    rates: Mutex<Swept<RateEntry>>,
    windows: Mutex<Swept<WindowEntry>>,
}

struct RateEntry {
    per_minute: u32,
    limiter: Arc<Gcra>,
    used: Instant,
}

struct WindowEntry {
    count: i64,
    ends: Instant,
}

/// A map with the time of its last sweep.
struct Swept<T> {
    map: HashMap<String, T>,
    swept: Instant,
}

impl<T> Default for Swept<T> {
    fn default() -> Self {
        Swept {
            map: HashMap::new(),
            swept: Instant::now(),
        }
    }
}

impl<T> Swept<T> {
    /// Drops the entries `stale` says are stale, at most every
    /// [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant, stale: impl Fn(&T) -> bool) {
        if now.duration_since(self.swept) >= SWEEP_EVERY {
            self.map.retain(|_, e| !stale(e));
            self.swept = now;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Memory {
    /// GCRA: `per_minute` a minute, a burst of as many.
    pub fn check(&self, key: &str, per_minute: u32) -> RateDecision {
        let Some(rate) = NonZeroU32::new(per_minute) else {
            return RateDecision::refuse_all();
        };
        let now = Instant::now();
        let limiter = {
            let mut rates = lock(&self.rates);
            rates.sweep(now, |e| now.duration_since(e.used) > RATE_IDLE);
            let entry = rates
                .map
                .entry(key.to_owned())
                .or_insert_with(|| RateEntry {
                    per_minute,
                    limiter: Arc::new(gcra(rate)),
                    used: now,
                });
            // A plan changed: the key starts over with its new quota.
            if entry.per_minute != per_minute {
                entry.per_minute = per_minute;
                entry.limiter = Arc::new(gcra(rate));
            }
            entry.used = now;
            entry.limiter.clone()
        };
        let interval = 60.0 / f64::from(per_minute);
        match limiter.check() {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: per_minute,
                    remaining,
                    reset_secs: ceil_secs(f64::from(per_minute - remaining) * interval),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs_f64();
                RateDecision {
                    allowed: false,
                    limit: per_minute,
                    remaining: 0,
                    reset_secs: ceil_secs(wait + f64::from(per_minute - 1) * interval),
                    retry_after_secs: Some(ceil_secs(wait).max(1)),
                }
            }
        }
    }

    /// Counts one hit of `bucket` in its window (which starts at the
    /// bucket's first hit); `Err(seconds until the window ends)` past
    /// `limit`.
    pub fn hit(&self, bucket: &str, limit: i64, window: Duration) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        windows.sweep(now, |e| e.ends <= now);
        let entry = windows.map.entry(bucket.to_owned()).or_insert(WindowEntry {
            count: 0,
            ends: now + window,
        });
        if entry.ends <= now {
            *entry = WindowEntry {
                count: 0,
                ends: now + window,
            };
        }
        entry.count += 1;
        if entry.count > limit {
            return Err(ceil_secs(entry.ends.duration_since(now).as_secs_f64()).max(1));
        }
        Ok(())
    }

    /// Keys held now (tests check that idle keys are forgotten).
    #[cfg(test)]
    pub fn keys(&self) -> usize {
        lock(&self.rates).map.len() + lock(&self.windows).map.len()
    }

    /// Sweeps as if [`SWEEP_EVERY`] had passed and every entry had been
    /// idle `idle` longer than it was.
    #[cfg(test)]
    pub fn age(&self, idle: Duration) {
        let mut rates = lock(&self.rates);
        for e in rates.map.values_mut() {
            e.used -= idle;
        }
        rates.swept -= SWEEP_EVERY;
        let mut windows = lock(&self.windows);
        for e in windows.map.values_mut() {
            e.ends -= idle;
        }
        windows.swept -= SWEEP_EVERY;
    }
}

fn gcra(per_minute: NonZeroU32) -> Gcra {
    RateLimiter::direct(Quota::per_minute(per_minute))
        .with_middleware::<StateInformationMiddleware>()
}

fn ceil_secs(secs: f64) -> u64 {
    secs.max(0.0).ceil() as u64
}
