//! The limiter in-process, and against the Redis of TEST_REDIS_URL (each
//! test under a prefix of its own, so tests running at once share no key).
//! Two `Limiter`s on one Redis stand for two servers.

use super::*;
use std::sync::atomic::AtomicUsize;

/// The test Redis, or `None` (with a note) when TEST_REDIS_URL is unset;
/// CI always sets it.
fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: TEST_REDIS_URL is not set");
    }
    url
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::now_v7().simple())
}

/// Two servers on one Redis, under one prefix.
async fn two_servers(url: &str) -> (Limiter, Limiter) {
    let prefix = unique_prefix();
    let a = Limiter::with_prefix(Some(url), &prefix).await.unwrap();
    let b = Limiter::with_prefix(Some(url), &prefix).await.unwrap();
    assert!(a.shared() && b.shared(), "the test Redis answers");
    (a, b)
}

/// A loopback port nothing listens on (just freed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn in_process_a_minutes_worth_is_allowed_then_refused() {
    let limiter = Limiter::in_process();
    assert!(!limiter.shared());
    for left in (0..5).rev() {
        let d = limiter.check("tenant:a", 5).await;
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.retry_after_secs), (5, left, None));
    }
    let d = limiter.check("tenant:a", 5).await;
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // One request comes back every 12 s.
    assert!((1..=12).contains(&d.retry_after_secs.unwrap()), "{d:?}");
    assert!(d.reset_secs >= 48, "{d:?}");
    // Another key has its own allowance; a key whose quota changed starts
    // over with the new one.
    assert!(limiter.check("tenant:b", 5).await.allowed);
    let d = limiter.check("tenant:a", 50).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 49);
    assert!(!limiter.check("tenant:c", 0).await.allowed);
}

#[tokio::test]
async fn in_process_windows_count_and_idle_keys_are_forgotten() {
    let limiter = Limiter::in_process();
    let minute = Duration::from_secs(60);
    assert_eq!(limiter.hit("signup:x", 2, minute).await, Ok(()));
    assert_eq!(limiter.hit("signup:x", 2, minute).await, Ok(()));
    let retry = limiter.hit("signup:x", 2, minute).await.unwrap_err();
    assert!((1..=60).contains(&retry), "{retry}");
    limiter.check("tenant:a", 10).await;
    assert_eq!(limiter.0.memory.keys(), 2);
    // A minute later both have refilled or ended: nothing is kept for them.
    limiter.0.memory.age(Duration::from_secs(61));
    limiter.check("tenant:b", 10).await;
    limiter.hit("signup:y", 2, minute).await.unwrap();
    assert_eq!(limiter.0.memory.keys(), 2, "only the keys just used");
}

#[tokio::test]
async fn a_url_that_cannot_be_redis_is_an_error() {
    let e = Limiter::new(Some("http://cache:6379")).await.err();
    assert!(e.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_together_enforce_one_limit_within_five_percent() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let per_minute = 600;
    let allowed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // Two servers, two callers each, 1,600 requests in all.
    let tasks: Vec<_> = [&a, &a, &b, &b]
        .into_iter()
        .map(|limiter| {
            let (limiter, allowed) = (limiter.clone(), allowed.clone());
            tokio::spawn(async move {
                for _ in 0..400 {
                    if limiter.check("tenant:t", per_minute).await.allowed {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(a.shared() && b.shared(), "Redis answered throughout");
    let allowed = allowed.load(Ordering::Relaxed) as f64;
    // A minute's worth at once, plus what came back while the test ran
    // (ten a second): however slow the machine, the refill is taken out.
    let refilled = elapsed * f64::from(per_minute) / 60.0;
    eprintln!("allowed {allowed} of 1,600 in {elapsed:.2} s (refill {refilled:.1})");
    let limit = f64::from(per_minute);
    assert!(allowed >= limit * 0.95, "{allowed}");
    assert!(allowed <= limit * 1.05 + refilled, "{allowed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_answers_carry_what_the_headers_need() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let first = a.check("tenant:h", 6).await;
    assert!(first.allowed);
    assert_eq!((first.limit, first.remaining), (6, 5));
    assert!((10..=11).contains(&first.reset_secs), "{first:?}");
    for _ in 0..5 {
        assert!(b.check("tenant:h", 6).await.allowed);
    }
    let refused = a.check("tenant:h", 6).await;
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert!(
        (1..=10).contains(&refused.retry_after_secs.unwrap()),
        "{refused:?}"
    );
    assert!(refused.reset_secs >= 50, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_window_is_shared() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let hour = Duration::from_secs(3600);
    for server in [&a, &b, &a] {
        assert_eq!(server.hit("signup:1.2.3.4", 3, hour).await, Ok(()));
    }
    let retry = b.hit("signup:1.2.3.4", 3, hour).await.unwrap_err();
    assert!((3590..=3600).contains(&retry), "{retry}");
    assert!(a.hit("signup:other", 3, hour).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_cap_is_never_exceeded_by_two_servers() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let cap = 3;
    let held = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let got = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (held, most, got) = (held.clone(), most.clone(), got.clone());
            tokio::spawn(async move {
                for _ in 0..15 {
                    if let Hold::Held(place) = limiter
                        .hold("connections:t", cap, Duration::from_secs(30))
                        .await
                    {
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        got.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        held.fetch_sub(1, Ordering::SeqCst);
                        drop(place);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    eprintln!(
        "{} places taken, at most {most} at once",
        got.load(Ordering::SeqCst)
    );
    assert!(most <= cap as usize, "{most}");
    assert!(got.load(Ordering::SeqCst) >= cap as usize);

    // Places given back (the release is spawned) are free again; a full
    // cap is refused on the other server.
    let mut places = Vec::new();
    for _ in 0..100 {
        if let Hold::Held(p) = a.hold("connections:t", cap, Duration::from_secs(30)).await {
            places.push(p);
            if places.len() == cap as usize {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(places.len(), cap as usize);
    assert!(matches!(
        b.hold("connections:t", cap, Duration::from_secs(30)).await,
        Hold::Full
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_whose_server_died_is_free_after_its_lease() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let Hold::Held(place) = a.hold("connections:t", 1, Duration::from_millis(300)).await else {
        panic!("a place");
    };
    // The server dies: nothing gives the place back.
    std::mem::forget(place);
    assert!(matches!(
        b.hold("connections:t", 1, Duration::from_secs(30)).await,
        Hold::Full
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(
        b.hold("connections:t", 1, Duration::from_secs(30)).await,
        Hold::Held(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_shared_and_a_success_clears_its_own_client_only() {
    let Some(url) = redis_url() else { return };
    let (a, b) = two_servers(&url).await;
    let window = Duration::from_secs(900);
    let max = (3, 100);
    for (n, server, client) in [
        (1, &a, "10.0.0.1"),
        (2, &b, "10.0.0.2"),
        (3, &a, "10.0.0.1"),
    ] {
        let r = server
            .record_failure_shared("acme/admin", client, max, window)
            .await;
        assert_eq!(r, Some(Ok(n)));
    }
    let locked = b
        .record_failure_shared("acme/admin", "10.0.0.3", max, window)
        .await;
    let retry = locked.unwrap().unwrap_err();
    assert!((890..=900).contains(&retry), "{retry}");
    // 10.0.0.1 logs in: its two failures go, 10.0.0.2's stays.
    assert!(a.clear_failures_shared("acme/admin", "10.0.0.1").await);
    let r = b
        .record_failure_shared("acme/admin", "10.0.0.3", max, window)
        .await;
    assert_eq!(r, Some(Ok(2)));
    // A client's own count locks it whatever name it tries.
    let max = (100, 2);
    for name in ["x", "y"] {
        let r = a.record_failure_shared(name, "10.9.9.9", max, window).await;
        assert!(matches!(r, Some(Ok(_))), "{r:?}");
    }
    let r = b.record_failure_shared("z", "10.9.9.9", max, window).await;
    assert!(matches!(r, Some(Err(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_leaves_the_limits_in_process() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let limiter = Limiter::with_prefix(Some(&url), &unique_prefix())
        .await
        .expect("a Redis that is down at start is not an error");
    assert!(!limiter.shared());
    let started = Instant::now();
    for _ in 0..5 {
        assert!(limiter.check("tenant:t", 5).await.allowed);
    }
    assert!(!limiter.check("tenant:t", 5).await.allowed);
    assert_eq!(limiter.hit("w", 1, Duration::from_secs(60)).await, Ok(()));
    assert!(limiter.hit("w", 1, Duration::from_secs(60)).await.is_err());
    assert!(matches!(
        limiter.hold("c", 1, Duration::from_secs(1)).await,
        Hold::Unshared
    ));
    assert_eq!(
        limiter.hit_shared("w", 1, Duration::from_secs(60)).await,
        None
    );
    assert!(!limiter.shared());
    // Requests do not wait on the Redis that is not there.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A `redis-server` of the test's own on `port`, stopped (by its PID)
/// when dropped.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(OwnRedis(child)),
            Err(e) => {
                eprintln!("skipped: redis-server cannot be started: {e}");
                None
            }
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Calls `check` until `shared()` is `want` (at most 20 s).
async fn until_shared(limiter: &Limiter, want: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let d = limiter.check("tenant:r", 1000).await;
        assert!(d.allowed, "the limits answer meanwhile");
        if limiter.shared() == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_move_to_redis_when_it_answers_and_back_when_it_stops() {
    // A Redis of its own, so that stopping it disturbs no other test.
    if redis_url().is_none() {
        return;
    }
    let port = closed_port();
    let url = format!("redis://127.0.0.1:{port}");
    let (a, b) = (
        Limiter::with_prefix(Some(&url), "recovery").await.unwrap(),
        Limiter::with_prefix(Some(&url), "recovery").await.unwrap(),
    );
    assert!(!a.shared());
    let Some(server) = OwnRedis::start(port) else {
        return;
    };
    assert!(until_shared(&a, true).await, "shared once Redis answers");
    assert!(until_shared(&b, true).await);
    let hour = Duration::from_secs(3600);
    assert!(a.hit("x", 1, hour).await.is_ok());
    assert!(b.hit("x", 1, hour).await.is_err(), "one window for both");

    drop(server);
    assert!(until_shared(&a, false).await, "in-process once Redis stops");
    assert!(a.hit("y", 1, hour).await.is_ok());
    assert!(a.hit("y", 1, hour).await.is_err());
    assert!(b.hit("y", 1, hour).await.is_ok(), "each server alone");
}
