use crate::both;
use crate::support::TestApp;
use chrono::Duration;
use serde_json::json;

async fn current_tenant_is_the_callers_own(app: TestApp) {
    let a = app.register("Alpha Co").await;
    app.register("Beta Co").await;
    let r = app
        .get("/api/tenants/current")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["id"], a.id.as_str());
    assert_eq!(r.body["data"]["name"], "Alpha Co");
    assert_eq!(r.body["data"]["timezone"], "UTC");
}
both!(current_tenant_is_the_callers_own);

async fn an_admin_updates_the_tenant_settings(app: TestApp) {
    let t = app.register("Settings Co").await;
    // A logo is custom branding, which no trial has.
    app.admin_patch_tenant(&t, json!({"feature_overrides": {"custom_branding": true}}))
        .await;
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({
            "name": "Settings Company",
            "timezone": "America/New_York",
            "phone": "+1 555 0100",
            "industry": "Real estate",
            "logo_url": "https://cdn.example.com/logo.png",
            "settings": {"currency": "USD", "week_starts_on": "monday"}
        }))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["name"], "Settings Company");
    assert_eq!(d["timezone"], "America/New_York");
    assert_eq!(d["phone"], "+1 555 0100");
    assert_eq!(d["settings"]["currency"], "USD");
    // The slug does not follow the name: links and logins keep working.
    assert_eq!(d["slug"], t.slug.as_str());

    // Absent fields stay; null clears.
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({"phone": null}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["phone"].is_null());
    assert_eq!(r.body["data"]["industry"], "Real estate");
    let again = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(again.body["data"], r.body["data"]);
}
both!(an_admin_updates_the_tenant_settings);

async fn bad_settings_are_refused_whole(app: TestApp) {
    let t = app.register("Strict Co").await;
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({"name": "Renamed", "timezone": "Mars/Olympus", "logo_url": "ftp://x", "settings": [1]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let fields = &r.body["error"]["details"]["fields"];
    for f in ["timezone", "logo_url", "settings"] {
        assert!(fields[f].is_string(), "{f}: {fields}");
    }
    let after = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(after.body["data"]["name"], "Strict Co");
}
both!(bad_settings_are_refused_whole);

async fn only_admins_change_tenant_settings(app: TestApp) {
    let t = app.register("Roles Co").await;
    let (_, manager) = app.add_user(&t, "manager@roles.example", "manager").await;
    let r = app
        .patch("/api/tenants/current")
        .bearer(&manager)
        .json(json!({"name": "Hijacked"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.code(), "forbidden");
    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&manager)
            .send()
            .await
            .status,
        200
    );
}
both!(only_admins_change_tenant_settings);

async fn subscription_and_usage_count_down_the_trial(app: TestApp) {
    let t = app.register("Trial Co").await;
    app.add_user(&t, "second@trial.example", "user").await;
    let r = app
        .get("/api/tenants/subscription")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["plan"], "trial");
    assert_eq!(d["status"], "trialing");
    assert_eq!(d["max_users"], 3);
    assert_eq!(d["current_users"], 2);
    assert_eq!(d["days_left_in_trial"], 14);
    assert_eq!(d["trial_expired"], false);
    assert_eq!(
        d["features"],
        json!([
            "core_crm",
            "basic_reports",
            "advanced_reports",
            "workflows",
            "custom_fields",
            "email_templates",
            "integrations"
        ]),
        "the trial has the professional plan's features"
    );

    app.advance(Duration::days(10) + Duration::hours(1));
    let token = app.login_ok(&t.email, crate::support::PASSWORD).await;
    let r = app
        .get("/api/tenants/subscription")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(r.body["data"]["days_left_in_trial"], 4);

    let r = app.get("/api/tenants/usage").bearer(&token).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["users"], json!({"current": 2, "max": 3}));
}
both!(subscription_and_usage_count_down_the_trial);

async fn an_expired_trial_reads_but_does_not_write(app: TestApp) {
    let t = app.register("Expired Co").await;
    app.advance(Duration::days(14) + Duration::minutes(1));
    let token = app.login_ok(&t.email, crate::support::PASSWORD).await;
    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&token)
            .send()
            .await
            .status,
        200
    );
    let r = app
        .get("/api/tenants/subscription")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(r.body["data"]["trial_expired"], true);
    assert_eq!(r.body["data"]["days_left_in_trial"], 0);
    let r = app
        .patch("/api/tenants/current")
        .bearer(&token)
        .json(json!({"name": "Still Here"}))
        .send()
        .await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "trial_expired");
    let r = app
        .post("/api/users")
        .bearer(&token)
        .json(json!({"email": "late@expired.example", "full_name": "Late", "password": "Password123"}))
        .send()
        .await;
    assert_eq!(r.status, 402);
    assert_eq!(app.count("users").await, 1);
}
both!(an_expired_trial_reads_but_does_not_write);
