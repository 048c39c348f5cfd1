//! Two servers configured with the same Redis (TRASEALLA_REDIS_URL)
//! enforce one limit together, though each has a database of its own
//! here: what they share is only what Redis keeps.

use crate::both;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;

async fn register(app: &TestApp, n: u32) -> crate::support::Resp {
    app.post("/api/tenants/register")
        .json(json!({
            "company_name": format!("Shared Throttle {n} Co"),
            "email": format!("owner{n}@shared-throttle.example"),
            "password": PASSWORD,
            "full_name": "Owner",
        }))
        .send()
        .await
}

async fn two_servers_share_the_signup_throttle(a: TestApp) {
    if a.redis_skipped() {
        return;
    }
    let b = a.server_beside().await;
    assert!(a.state.limiter.shared() && b.state.limiter.shared());
    for (n, server) in [(1, &a), (2, &b), (3, &a)] {
        let r = register(server, n).await;
        assert_eq!(r.status, 201, "sign-up {n}: {}", r.body);
    }
    let r = register(&b, 4).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&retry), "{retry}");
    // Past the first server too.
    assert_eq!(register(&a, 5).await.status, 429);
}
both!(two_servers_share_the_signup_throttle, |c| {
    crate::support::with_test_redis(c);
    c.signups_per_hour = 3;
});

async fn login(server: &TestApp, username: &str, password: &str) -> crate::support::Resp {
    server
        .post("/api/auth/login")
        .json(json!({"username": username, "password": password}))
        .send()
        .await
}

async fn a_lockout_on_one_server_holds_on_the_other(a: TestApp) {
    if a.redis_skipped() {
        return;
    }
    let b = a.server_beside().await;
    let t = a.register("Locked Out Co").await;
    for i in 0..trasealla::auth::throttle::MAX_PER_USERNAME {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = login(server, &t.email, "WrongPass123").await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    for server in [&a, &b] {
        let r = login(server, &t.email, PASSWORD).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"));
    }
}
both!(
    a_lockout_on_one_server_holds_on_the_other,
    crate::support::with_test_redis
);
