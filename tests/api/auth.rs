use crate::both;
use crate::support::{TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};

use chrono::Duration;
use serde_json::json;

async fn login_by_username_or_email(app: TestApp) {
    let t = app.register("Login Co").await;
    let local = t.email.split('@').next().unwrap().to_owned();
    for username in [local.as_str(), t.email.as_str(), &t.email.to_uppercase()] {
        let r = app
            .post("/api/auth/login")
            .json(json!({"username": username, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(r.status, 200, "{username}: {}", r.body);
        assert_eq!(r.body["data"]["token_type"], "Bearer");
        assert_eq!(r.body["data"]["tenant"]["id"], t.id.as_str());
        assert_eq!(r.body["data"]["user"]["id"], t.owner_id.as_str());
        assert!(r.body["data"]["user"]["last_login_at"].is_string());
    }
}
both!(login_by_username_or_email);

async fn wrong_password_and_unknown_user_answer_alike(app: TestApp) {
    let t = app.register("Secret Co").await;
    let wrong = app
        .post("/api/auth/login")
        .json(json!({"username": t.email, "password": "not-the-password"}))
        .send()
        .await;
    let unknown = app
        .post("/api/auth/login")
        .json(json!({"username": "nobody@nowhere.example", "password": "whatever-it-is"}))
        .send()
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.code(), "invalid_credentials");
}
both!(wrong_password_and_unknown_user_answer_alike);

/// Two tenants each with a user named "sam": the username alone is
/// ambiguous, and any of the tenant hints resolves it.
async fn an_ambiguous_username_needs_the_tenant(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    app.add_user(&a, "sam@alpha.example", "user").await;
    let (sam_b, _) = app.add_user(&b, "sam@beta.example", "user").await;

    let r = app
        .post("/api/auth/login")
        .json(json!({"username": "sam", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "tenant_required");

    let by_field = app
        .post("/api/auth/login")
        .json(json!({"username": "sam", "password": PASSWORD, "tenant": b.slug}))
        .send()
        .await;
    let by_header = app
        .post("/api/auth/login")
        .header("x-tenant", &b.slug)
        .json(json!({"username": "sam", "password": PASSWORD}))
        .send()
        .await;
    let by_host = app
        .post("/api/auth/login")
        .header("host", &format!("{}.localhost:4000", b.slug))
        .json(json!({"username": "sam", "password": PASSWORD}))
        .send()
        .await;
    for r in [by_field, by_header, by_host] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["user"]["id"], sam_b.as_str());
    }
    // The e-mail is unique across the platform, so it never needs a hint.
    app.login_ok("sam@alpha.example", PASSWORD).await;
}
both!(an_ambiguous_username_needs_the_tenant);

async fn platform_admin_logs_in_through_the_same_endpoint(app: TestApp) {
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["role"], "platform_admin");
    assert!(r.body["data"]["tenant"].is_null());
    let token = r.body["data"]["token"].as_str().unwrap();
    let me = app.get("/api/auth/me").bearer(token).send().await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["data"]["user"]["username"], ADMIN_USERNAME);

    // ...but it cannot read a tenant's data through the tenant endpoints.
    app.register("Some Tenant").await;
    for path in [
        "/api/tenants/current",
        "/api/tenants/subscription",
        "/api/users",
    ] {
        let r = app.get(path).bearer(token).send().await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
}
both!(platform_admin_logs_in_through_the_same_endpoint);

async fn an_existing_platform_admin_password_is_not_overwritten(app: TestApp) {
    let outcome = trasealla::platform::create_admin(
        &app.state.store,
        ADMIN_USERNAME,
        "AnotherPassword1",
        app.clock_now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        outcome,
        trasealla::platform::Created::AlreadyExists
    ));
    app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
}
both!(an_existing_platform_admin_password_is_not_overwritten);

async fn ten_failures_lock_a_username_until_the_window_passes(app: TestApp) {
    let t = app.register("Locked Co").await;
    let fail = |client: &'static str| {
        app.post("/api/auth/login")
            .header("x-forwarded-for", client)
            .json(json!({"username": t.email, "password": "wrong-password"}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(fail("10.0.0.1").await.status, 401);
    }
    let r = fail("10.0.0.1").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.code(), "rate_limited");
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");

    // The right password is refused too while locked, from any client.
    let r = app
        .post("/api/auth/login")
        .header("x-forwarded-for", "10.0.0.2")
        .json(json!({"username": t.email, "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 429);

    app.advance(Duration::minutes(15) + Duration::seconds(1));
    app.login_ok(&t.email, PASSWORD).await;
}
both!(ten_failures_lock_a_username_until_the_window_passes, |c| {
    c.trust_proxy = true
});

async fn a_success_does_not_reset_another_clients_failures(app: TestApp) {
    let t = app.register("Shared Co").await;
    let attempt = |client: &'static str, password: &'static str| {
        app.post("/api/auth/login")
            .header("x-forwarded-for", client)
            .json(json!({"username": t.email, "password": password}))
            .send()
    };
    for _ in 0..9 {
        assert_eq!(attempt("10.0.0.66", "guess-guess").await.status, 401);
    }
    // The real user logs in from elsewhere...
    assert_eq!(attempt("10.0.0.7", PASSWORD).await.status, 200);
    // ...and the attacker's tenth failure still locks the username.
    assert_eq!(attempt("10.0.0.66", "guess-guess").await.status, 401);
    assert_eq!(attempt("10.0.0.66", "guess-guess").await.status, 429);
}
both!(a_success_does_not_reset_another_clients_failures, |c| c
    .trust_proxy =
    true);

async fn tokens_that_are_malformed_expired_or_foreign_are_refused(app: TestApp) {
    let t = app.register("Token Co").await;
    let foreign = trasealla::auth::token::TokenKeys::new(&[9; 32], 3600)
        .issue(
            uuid::Uuid::parse_str(&t.owner_id).unwrap(),
            Some(uuid::Uuid::parse_str(&t.id).unwrap()),
            "admin",
            0,
            app.clock_now(),
        )
        .unwrap()
        .token;
    for token in ["garbage", "a.b.c", foreign.as_str(), ""] {
        let r = app.get("/api/tenants/current").bearer(token).send().await;
        assert_eq!(r.status, 401, "{token}: {}", r.body);
        assert_eq!(r.code(), "unauthorized");
    }
    let r = app.get("/api/tenants/current").send().await;
    assert_eq!(r.status, 401);
    let r = app
        .get("/api/tenants/current")
        .header("authorization", &format!("Basic {}", t.token))
        .send()
        .await;
    assert_eq!(r.status, 401);

    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&t.token)
            .send()
            .await
            .status,
        200
    );
    app.advance(Duration::hours(24));
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 401, "expired: {}", r.body);
}
both!(tokens_that_are_malformed_expired_or_foreign_are_refused);

async fn a_suspended_tenants_old_token_is_refused_and_works_again_after_activation(app: TestApp) {
    let t = app.register("Paused Co").await;
    app.set_tenant_status(&t, "suspended").await;
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.code(), "tenant_suspended");
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": t.email, "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "tenant_suspended");

    app.set_tenant_status(&t, "trial").await;
    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&t.token)
            .send()
            .await
            .status,
        200
    );
}
both!(a_suspended_tenants_old_token_is_refused_and_works_again_after_activation);

async fn a_cancelled_tenants_users_are_unauthorized(app: TestApp) {
    let t = app.register("Gone Co").await;
    app.set_tenant_status(&t, "cancelled").await;
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": t.email, "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "invalid_credentials");
}
both!(a_cancelled_tenants_users_are_unauthorized);

async fn me_describes_the_caller(app: TestApp) {
    let t = app.register("Me Co").await;
    let r = app.get("/api/auth/me").bearer(&t.token).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], t.owner_id.as_str());
    assert_eq!(r.body["data"]["user"]["is_owner"], true);
    assert_eq!(r.body["data"]["tenant"]["id"], t.id.as_str());
}
both!(me_describes_the_caller);

async fn many_failures_from_one_client_lock_that_client(app: TestApp) {
    // Three hundred failures across many usernames, recorded as the throttle
    // records them, from one address.
    let mut tx = app
        .state
        .store
        .platform(trasealla::store::Access::Write)
        .await
        .unwrap();
    for i in 0..trasealla::auth::throttle::MAX_PER_CLIENT {
        trasealla::auth::throttle::attempt(
            &app.state,
            &mut tx,
            &format!("user{i}"),
            "10.9.9.9",
            app.clock_now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let t = app.register("Crowded Co").await;
    let attempt = |client: &'static str| {
        app.post("/api/auth/login")
            .header("x-forwarded-for", client)
            .json(json!({"username": t.email, "password": PASSWORD}))
            .send()
    };
    let r = attempt("10.9.9.9").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(attempt("10.9.9.10").await.status, 200);
    app.advance(Duration::minutes(15) + Duration::seconds(1));
    assert_eq!(attempt("10.9.9.9").await.status, 200);
}
both!(many_failures_from_one_client_lock_that_client, |c| c
    .trust_proxy =
    true);

/// A tenant user whose username equals a platform admin's does not lock
/// the admin out: the password tells the accounts apart.
async fn a_tenant_user_named_like_the_platform_admin_does_not_shadow_it(app: TestApp) {
    let r = app
        .post("/api/tenants/register")
        .json(
            json!({"company_name": "Evil Co", "email": format!("{ADMIN_USERNAME}@evil.example"),
                     "password": "EvilPass123", "full_name": "Evil"}),
        )
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["role"], "platform_admin");
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": ADMIN_USERNAME, "password": "EvilPass123"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["tenant"]["slug"], "evil-co");
    // A wrong password reveals nothing about how many accounts share the name.
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": ADMIN_USERNAME, "password": "wrong-password"}))
        .send()
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "invalid_credentials");
}
both!(a_tenant_user_named_like_the_platform_admin_does_not_shadow_it);

/// Guesses sent all at once are counted like guesses sent one by one.
async fn concurrent_guesses_do_not_slip_past_the_limit(app: TestApp) {
    let t = app.register("Raced Co").await;
    let guess = || {
        app.post("/api/auth/login")
            .json(json!({"username": t.email, "password": "wrong-guess"}))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (a, b, c, d, e, f, g, h) = tokio::join!(
            guess(),
            guess(),
            guess(),
            guess(),
            guess(),
            guess(),
            guess(),
            guess()
        );
        statuses.extend([a, b, c, d, e, f, g, h].map(|r| r.status));
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((unauthorized, limited), (10, 14), "{statuses:?}");
}
both!(concurrent_guesses_do_not_slip_past_the_limit);

/// Failures count per company and name: guessing at `sales` on one
/// company's address locks that company's `sales`, not every company's.
async fn a_lockout_stays_in_its_company(app: TestApp) {
    let a = app.register("Lock A Co").await;
    let b = app.register("Lock B Co").await;
    for (t, email) in [(&a, "sales@locka.example"), (&b, "sales@lockb.example")] {
        app.post("/api/users")
            .bearer(&t.token)
            .json(
                json!({"email": email, "full_name": "Sales", "password": PASSWORD,
                         "username": "sales"}),
            )
            .send()
            .await
            .created("add a user named sales");
    }
    let attempt = |slug: &str, password: &'static str| {
        app.post("/api/auth/login")
            .header("x-tenant", slug)
            .json(json!({"username": "sales", "password": password}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(attempt(&a.slug, "guess-guess").await.status, 401);
    }
    assert_eq!(
        attempt(&a.slug, PASSWORD).await.status,
        429,
        "A's sales is locked"
    );
    let r = attempt(&b.slug, PASSWORD).await;
    assert_eq!(r.status, 200, "B's sales is not: {}", r.body);
}
both!(a_lockout_stays_in_its_company);

/// Behind a trusted proxy the client is the right-most X-Forwarded-For
/// entry, the one the proxy wrote: what a client puts before it is ignored.
async fn the_client_address_is_what_the_proxy_saw(app: TestApp) {
    let t = app.register("Proxy Co").await;
    app.post("/api/users")
        .bearer(&t.token)
        .header("x-forwarded-for", "203.0.113.66, 10.9.9.9")
        .json(json!({"email": "seen@proxy.example", "full_name": "Seen", "password": PASSWORD}))
        .send()
        .await
        .created("add a user through the proxy");
    let log = app
        .get("/api/audit-log")
        .bearer(&t.token)
        .send()
        .await
        .ok("read the audit log");
    let entry = log.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.created")
        .expect("the user.created entry")
        .clone();
    assert_eq!(entry["client_addr"], "10.9.9.9", "{entry}");
}
both!(the_client_address_is_what_the_proxy_saw, |c| c
    .trust_proxy =
    true);
