use crate::both;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;

async fn registration_creates_tenant_trial_subscription_and_owner(app: TestApp) {
    let r = app
        .post("/api/tenants/register")
        .json(json!({
            "company_name": "ABC Corporation",
            "email": "Admin@ABC.example",
            "password": PASSWORD,
            "full_name": "John Doe",
            "industry": "Technology"
        }))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(r.body["success"], true);
    assert_eq!(d["token_type"], "Bearer");
    assert_eq!(d["expires_in"], 86400);
    assert_eq!(d["tenant"]["slug"], "abc-corporation");
    assert_eq!(d["tenant"]["subdomain"], "abc-corporation");
    assert_eq!(d["tenant"]["status"], "trial");
    assert_eq!(d["tenant"]["industry"], "Technology");
    assert_eq!(d["tenant"]["trial_ends_at"], "2026-03-15T09:00:00Z");
    assert_eq!(d["user"]["email"], "admin@abc.example");
    assert_eq!(d["user"]["username"], "admin");
    assert_eq!(d["user"]["role"], "admin");
    assert_eq!(d["user"]["is_owner"], true);
    assert!(d["user"].get("password_hash").is_none());
    assert_eq!(d["subscription"]["plan"], "trial");
    assert_eq!(d["subscription"]["max_users"], 3);
    assert_eq!(d["subscription"]["days_left_in_trial"], 14);

    // The token logs straight in (the seed's auto-login).
    let token = d["token"].as_str().unwrap();
    let me = app.get("/api/auth/me").bearer(token).send().await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["data"]["tenant"]["slug"], "abc-corporation");
    assert_eq!(app.count("tenants").await, 1);
    assert_eq!(app.count("subscriptions").await, 1);
    assert_eq!(app.count("users").await, 1);
}
both!(registration_creates_tenant_trial_subscription_and_owner);

async fn a_taken_slug_gets_a_number(app: TestApp) {
    let a = app.register("Acme Inc").await;
    let b = app.register("Acme, Inc.").await;
    let c = app.register("ACME INC").await;
    assert_eq!(a.slug, "acme-inc");
    assert_eq!(b.slug, "acme-inc-2");
    assert_eq!(c.slug, "acme-inc-3");
}
both!(a_taken_slug_gets_a_number);

async fn a_chosen_slug_that_is_taken_is_a_conflict(app: TestApp) {
    app.register("Acme Inc").await;
    let r = app
        .post("/api/tenants/register")
        .json(
            json!({"company_name": "Other", "email": "o@other.example", "password": PASSWORD,
                     "full_name": "O", "slug": "acme-inc"}),
        )
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "slug_taken");
    assert_eq!(app.count("tenants").await, 1);
    assert_eq!(app.count("users").await, 1);
}
both!(a_chosen_slug_that_is_taken_is_a_conflict);

async fn reserved_and_invalid_slugs_are_refused(app: TestApp) {
    for slug in [
        "www", "api", "admin", "app", "mail", "ab", "Has_Caps", "-edge",
    ] {
        let r = app
            .post("/api/tenants/register")
            .json(
                json!({"company_name": "X Co", "email": "x@x.example", "password": PASSWORD,
                         "full_name": "X", "slug": slug}),
            )
            .send()
            .await;
        assert_eq!(r.status, 422, "{slug}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"]["slug"].is_string(),
            "{slug}"
        );
    }
    // A company called "Admin" still registers, under a derived slug.
    let t = app.register("Admin").await;
    assert_eq!(t.slug, "admin-team");
}
both!(reserved_and_invalid_slugs_are_refused);

async fn a_registered_email_is_a_conflict_and_nothing_is_written(app: TestApp) {
    let a = app.register("First Co").await;
    let r = app
        .post("/api/tenants/register")
        .json(json!({"company_name": "Second Co", "email": a.email.to_uppercase(), "password": PASSWORD,
                     "full_name": "Someone"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "email_taken");
    assert_eq!(app.count("tenants").await, 1);
    assert_eq!(app.count("subscriptions").await, 1);
    assert_eq!(app.count("users").await, 1);
}
both!(a_registered_email_is_a_conflict_and_nothing_is_written);

async fn concurrent_registrations_with_one_email_leave_one_complete_tenant(app: TestApp) {
    let attempt = |n: usize| {
        app.post("/api/tenants/register")
            .json(
                json!({"company_name": format!("Racer {n}"), "email": "race@example.com",
                         "password": PASSWORD, "full_name": "Racer"}),
            )
            .send()
    };
    let (a, b, c, d) = tokio::join!(attempt(1), attempt(2), attempt(3), attempt(4));
    let results = [a, b, c, d];
    let created = results.iter().filter(|r| r.status == 201).count();
    let conflicts = results
        .iter()
        .filter(|r| r.status == 409 && r.code() == "email_taken")
        .count();
    assert_eq!((created, conflicts), (1, 3), "{results:?}");
    assert_eq!(app.count("tenants").await, 1);
    assert_eq!(app.count("subscriptions").await, 1);
    assert_eq!(app.count("users").await, 1);
}
both!(concurrent_registrations_with_one_email_leave_one_complete_tenant);

async fn registration_names_every_bad_field(app: TestApp) {
    let r = app
        .post("/api/tenants/register")
        .json(json!({"company_name": "", "email": "not-an-email", "password": "short"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.code(), "validation_failed");
    let fields = &r.body["error"]["details"]["fields"];
    for f in ["company_name", "email", "password", "full_name"] {
        assert!(fields[f].is_string(), "{f} in {fields}");
    }
    assert_eq!(app.count("tenants").await, 0);
}
both!(registration_names_every_bad_field);

async fn availability_reports_slug_and_email(app: TestApp) {
    let t = app.register("Taken Co").await;
    let r = app
        .get(&format!(
            "/api/tenants/check-availability?slug={}&email={}",
            t.slug, t.email
        ))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["slug_available"], false);
    assert_eq!(r.body["data"]["slug_reason"], "taken");
    assert_eq!(r.body["data"]["email_available"], false);

    let r = app
        .get("/api/tenants/check-availability?slug=free-name&email=new@example.com")
        .send()
        .await;
    assert_eq!(r.body["data"]["slug_available"], true);
    assert_eq!(r.body["data"]["email_available"], true);

    let r = app
        .get("/api/tenants/check-availability?slug=www")
        .send()
        .await;
    assert_eq!(r.body["data"]["slug_available"], false);
    assert_eq!(r.body["data"]["slug_reason"], "reserved");
    assert!(r.body["data"].get("email_available").is_none());

    let r = app
        .get("/api/tenants/check-availability?slug=Bad_Slug")
        .send()
        .await;
    assert_eq!(r.body["data"]["slug_reason"], "invalid");
}
both!(availability_reports_slug_and_email);

/// Sign-ups and availability checks are counted per client address; past
/// the configured numbers they answer 429 with Retry-After (the availability
/// check must not list who has an account, nor sign-ups be scripted).
async fn sign_ups_and_availability_checks_are_throttled_per_address(app: TestApp) {
    app.register("First Throttle Co").await;
    app.register("Second Throttle Co").await;
    let r = app
        .post("/api/tenants/register")
        .json(
            json!({"company_name": "Third Throttle Co", "email": "third@throttle.example",
                     "password": PASSWORD, "full_name": "Third"}),
        )
        .send()
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    for n in 0..3 {
        let r = app
            .get(&format!(
                "/api/tenants/check-availability?email=probe{n}@throttle.example"
            ))
            .send()
            .await;
        assert_eq!(r.status, 200, "check {n}: {}", r.body);
    }
    let r = app
        .get("/api/tenants/check-availability?email=probe9@throttle.example")
        .send()
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // A new window lets the address in again.
    app.advance(chrono::Duration::hours(1));
    let r = app
        .get("/api/tenants/check-availability?email=probe10@throttle.example")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
both!(
    sign_ups_and_availability_checks_are_throttled_per_address,
    |c: &mut trasealla::Config| {
        c.signups_per_hour = 2;
        c.availability_per_minute = 3;
    }
);
