//! What one tenant may hold at once, so that it cannot starve the others:
//! pooled database connections (each tenant transaction holds one) and
//! heavy operations (imports, exports, reports). Past a cap a request
//! answers 429 `rate_limited` with Retry-After. The counts are per server
//! process, like the connection pool they protect; a tenant that holds
//! nothing has no entry. With Redis (TRASEALLA_REDIS_URL) a tenant's
//! connections are also capped across every server together: this
//! server's own cap is the first gate, the shared one the second, and
//! while Redis does not answer only the first counts.
//!
//! The work of imports and exports (parsing, checking and writing rows)
//! runs on threads of its own ([`HeavyLease::run`]), a few for the whole
//! server, so however many run at once they cannot occupy the threads that
//! answer everyone's requests.

use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::limiter::{Hold, Limiter, Place};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a refused heavy operation suggests as Retry-After: imports and
/// exports take seconds, not minutes.
const HEAVY_RETRY_SECS: u64 = 5;

/// The caps of every tenant, from the configuration, and the threads of
/// heavy work.
pub struct TenantLimits {
    connections: PerTenant,
    connection_wait: Duration,
    heavy: PerTenant,
    workers: Arc<Workers>,
    /// The cap across servers and how long a place in it is held at most.
    shared: Option<(Limiter, Duration)>,
}

/// How often a connection waiting for a place of the shared cap asks
/// again, at most (it starts faster).
const SHARED_POLL_MAX: Duration = Duration::from_millis(100);

impl TenantLimits {
    /// At most `connections` tenant transactions of one tenant at a time
    /// (a further one waits up to `connection_wait` for one of them to
    /// end), and at most `heavy` heavy operations, whose work runs on
    /// `workers` threads.
    pub fn new(
        connections: u32,
        connection_wait: Duration,
        heavy: u32,
        workers: usize,
    ) -> std::io::Result<TenantLimits> {
        Ok(TenantLimits {
            connections: PerTenant::new(connections),
            connection_wait,
            heavy: PerTenant::new(heavy),
            workers: Arc::new(Workers::new(workers)?),
            shared: None,
        })
    }

    /// Caps the connections of a tenant across every server that shares
    /// `limiter`'s Redis too; a place is held at most `lease` (so that a
    /// server that dies holding places frees them).
    pub fn shared_through(mut self, limiter: Limiter, lease: Duration) -> TenantLimits {
        self.shared = Some((limiter, lease));
        self
    }

    /// One of the tenant's connections, for a tenant transaction: waits
    /// briefly while the tenant holds all of its own, then 429.
    pub async fn connection(&self, tenant: TenantId) -> ApiResult<ConnectionLease> {
        let deadline = tokio::time::Instant::now() + self.connection_wait;
        let Some(lease) = self.connections.acquire(tenant, self.connection_wait).await else {
            return Err(self.at_connection_limit(tenant));
        };
        let Some((limiter, hold_for)) = &self.shared else {
            return Ok(ConnectionLease {
                lease,
                _shared: None,
            });
        };
        let key = format!("connections:{tenant}");
        let mut pause = Duration::from_millis(10);
        loop {
            match limiter.hold(&key, self.connections.max(), *hold_for).await {
                Hold::Held(place) => {
                    return Ok(ConnectionLease {
                        lease,
                        _shared: Some(place),
                    })
                }
                Hold::Unshared => {
                    return Ok(ConnectionLease {
                        lease,
                        _shared: None,
                    })
                }
                Hold::Full if tokio::time::Instant::now() + pause > deadline => {
                    return Err(self.at_connection_limit(tenant))
                }
                Hold::Full => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(SHARED_POLL_MAX);
                }
            }
        }
    }

    fn at_connection_limit(&self, tenant: TenantId) -> ApiError {
        tracing::info!(%tenant, limit = self.connections.max(), "tenant at its connection limit");
        let secs = self.connection_wait.as_secs_f64().ceil() as u64;
        ApiError::rate_limited_because(
            "too many of this company's requests are running at once; try again shortly",
            secs,
        )
    }

    /// A heavy operation of the tenant (an import, an export, a report),
    /// held until it has finished: at once, or 429 while the tenant runs as
    /// many as it may.
    pub fn heavy(&self, tenant: TenantId) -> ApiResult<HeavyLease> {
        match self.heavy.try_acquire(tenant) {
            Some(lease) => Ok(HeavyLease {
                _lease: lease,
                workers: self.workers.clone(),
            }),
            None => {
                let limit = self.heavy.max();
                tracing::info!(%tenant, limit, "tenant at its heavy-operation limit");
                Err(ApiError::rate_limited_because(
                    format!(
                        "this company already runs {limit} imports, exports or reports at once; try again when one has finished"
                    ),
                    HEAVY_RETRY_SECS,
                )
                .with_details(serde_json::json!({ "limit": limit })))
            }
        }
    }

    /// How many tenants hold anything now (tests check that idle tenants
    /// leave nothing behind).
    pub fn tenants_holding(&self) -> usize {
        self.connections.tenants() + self.heavy.tenants()
    }
}

/// A tenant transaction's share of the pool (and its place in the cap
/// shared across servers, if any); given back when dropped.
pub struct ConnectionLease {
    lease: Lease,
    _shared: Option<Place>,
}

impl ConnectionLease {
    pub fn tenant(&self) -> TenantId {
        self.lease.tenant
    }
}

/// A running heavy operation's place; given back when dropped.
pub struct HeavyLease {
    _lease: Lease,
    workers: Arc<Workers>,
}

impl HeavyLease {
    /// Runs the operation's work on the heavy-work threads and waits for
    /// it. Dropping the wait (the client went away) stops the work too, as
    /// it would have stopped on the request's own task.
    pub async fn run<F>(&self, work: F) -> ApiResult<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.workers.run(work).await
    }
}

/// The threads heavy work runs on: a runtime of their own, so the
/// request runtime's threads stay free.
struct Workers {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Workers {
    fn new(threads: usize) -> std::io::Result<Workers> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("trasealla-heavy")
            .enable_all()
            .build()?;
        Ok(Workers {
            runtime: Some(runtime),
        })
    }

    async fn run<F>(&self, work: F) -> ApiResult<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| ApiError::internal("the heavy-work threads have stopped"))?;
        let mut task = AbortOnDrop(runtime.spawn(work));
        (&mut task.0).await.map_err(ApiError::internal)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // The last holder may be a task of another runtime, where a
        // blocking shutdown is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A spawned task that stops when its awaiter is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A cap per tenant: one semaphore per tenant that holds something.
struct PerTenant(Arc<Gate>);

struct Gate {
    max: u32,
    tenants: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

/// One unit of a tenant's allowance.
struct Lease {
    tenant: TenantId,
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<Gate>,
}

impl PerTenant {
    fn new(max: u32) -> PerTenant {
        PerTenant(Arc::new(Gate {
            max,
            tenants: Mutex::new(HashMap::new()),
        }))
    }

    fn max(&self) -> u32 {
        self.0.max
    }

    fn tenants(&self) -> usize {
        self.0.lock().len()
    }

    /// The tenant's semaphore, made when it holds nothing yet.
    fn semaphore(&self, tenant: TenantId) -> Arc<Semaphore> {
        self.0
            .lock()
            .entry(tenant)
            .or_insert_with(|| Arc::new(Semaphore::new(self.0.max as usize)))
            .clone()
    }

    fn try_acquire(&self, tenant: TenantId) -> Option<Lease> {
        let permit = self.semaphore(tenant).try_acquire_owned().ok();
        self.lease(tenant, permit)
    }

    async fn acquire(&self, tenant: TenantId, wait: Duration) -> Option<Lease> {
        let semaphore = self.semaphore(tenant);
        let permit = tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        self.lease(tenant, permit)
    }

    fn lease(&self, tenant: TenantId, permit: Option<OwnedSemaphorePermit>) -> Option<Lease> {
        match permit {
            Some(permit) => Some(Lease {
                tenant,
                permit: Some(permit),
                gate: self.0.clone(),
            }),
            None => {
                // A refused caller may have made the entry.
                self.0.tidy(tenant);
                None
            }
        }
    }
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Arc<Semaphore>>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the tenant's semaphore when no one holds or awaits it (the
    /// map's is then the only reference), so the map does not grow with
    /// every tenant ever seen.
    fn tidy(&self, tenant: TenantId) {
        let mut tenants = self.lock();
        if tenants
            .get(&tenant)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            tenants.remove(&tenant);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.gate.tidy(self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn tenant() -> TenantId {
        TenantId(uuid::Uuid::now_v7())
    }

    #[tokio::test]
    async fn a_tenant_gets_its_cap_and_no_more_and_others_are_not_counted() {
        let limits = TenantLimits::new(2, Duration::from_millis(10), 2, 1).unwrap();
        let (a, b) = (tenant(), tenant());
        let held = [limits.heavy(a).unwrap(), limits.heavy(a).unwrap()];
        let e = limits.heavy(a).err().expect("a third heavy operation");
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.retry_after, Some(HEAVY_RETRY_SECS));
        assert_eq!(e.details.as_ref().unwrap()["limit"], 2);
        let other = limits.heavy(b).expect("another tenant's");
        drop(held);
        let again = limits.heavy(a).expect("a place given back");
        drop((other, again));
        assert_eq!(limits.tenants_holding(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waits_briefly_for_one_of_its_tenants_own() {
        let limits = Arc::new(TenantLimits::new(1, Duration::from_millis(1500), 1, 1).unwrap());
        let a = tenant();
        let first = limits.connection(a).await.unwrap();
        let e = limits.connection(a).await.err().expect("no second one");
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.retry_after, Some(2));
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.connection(a).await.map(|l| l.tenant()) }
        });
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(waiting.await.unwrap().ok(), Some(a));
        assert_eq!(limits.tenants_holding(), 0);
    }

    /// Two servers sharing one Redis (TEST_REDIS_URL): a tenant's
    /// connections are capped across both, and a place given back on one
    /// is taken by a request waiting on the other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_redis_a_tenants_connections_are_capped_across_servers() {
        let Some(url) = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipped: TEST_REDIS_URL is not set");
            return;
        };
        let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
        let server = || async {
            let limiter = Limiter::with_prefix(Some(&url), &prefix).await.unwrap();
            assert!(limiter.shared());
            TenantLimits::new(2, Duration::from_millis(1000), 1, 1)
                .unwrap()
                .shared_through(limiter, Duration::from_secs(30))
        };
        let (a, b) = (Arc::new(server().await), Arc::new(server().await));
        let t = tenant();
        let first = a.connection(t).await.unwrap();
        let second = b.connection(t).await.unwrap();
        let e = a.connection(t).await.err().expect("a third across servers");
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(b.connection(t).await.is_err());
        // Another tenant is not counted.
        let other = b.connection(tenant()).await.expect("another tenant's");
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.connection(t).await.map(|l| l.tenant()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        assert_eq!(waiting.await.unwrap().ok(), Some(t));
        drop((second, other));
    }

    #[tokio::test]
    async fn heavy_work_runs_on_its_own_threads_and_stops_with_its_request() {
        let limits = TenantLimits::new(1, Duration::from_millis(10), 1, 1).unwrap();
        let lease = limits.heavy(tenant()).unwrap();
        let name = lease
            .run(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("trasealla-heavy"));

        // Work whose request is dropped stops: what it holds is dropped.
        let (held, gone) = tokio::sync::oneshot::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let request = lease.run(async move {
            let _held = held;
            let _ = started.send(());
            std::future::pending::<()>().await
        });
        tokio::select! {
            _ = request => unreachable!("the work never ends"),
            _ = running => {}
        }
        assert!(gone.await.is_err(), "the work was dropped");
    }
}
