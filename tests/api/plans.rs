//! Plans that mean something: gated features and limits answer 402 with
//! what the plan lacks, a downgrade keeps data readable, a platform
//! admin's overrides take effect (audited), and the usage endpoint's
//! counts are exact.

use crate::support::{mail_sink, Resp, Tenant, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME};
use crate::{both, postgres_only};
use serde_json::{json, Value};

fn details(r: &Resp) -> &Value {
    &r.body["error"]["details"]
}

#[track_caller]
fn refused_feature(r: &Resp, feature: &str, plan: &str) {
    assert_eq!(
        (r.status, r.code()),
        (402, "feature_not_in_plan"),
        "{}",
        r.text
    );
    assert_eq!(details(r)["feature"], feature);
    assert_eq!(details(r)["required_plan"], plan);
}

#[track_caller]
fn refused_limit(r: &Resp, limit: &str, used: i64, max: i64) {
    assert_eq!(
        (r.status, r.code()),
        (402, "plan_limit_reached"),
        "{}",
        r.text
    );
    assert_eq!(details(r)["limit"], limit, "{}", r.text);
    assert_eq!(details(r)["used"], used, "{}", r.text);
    assert_eq!(details(r)["max"], max, "{}", r.text);
}

async fn set_logo(app: &TestApp, t: &Tenant, logo: Value) -> Resp {
    app.patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({ "logo_url": logo }))
        .send()
        .await
}

async fn custom_branding_needs_a_plan_with_it_and_survives_a_downgrade(app: TestApp) {
    let t = app.register("Brand Co").await;
    let r = set_logo(&app, &t, json!("https://cdn.example.com/a.png")).await;
    refused_feature(&r, "custom_branding", "enterprise");
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({ "settings": { "brand_color": "#ff0000" } }))
        .send()
        .await;
    refused_feature(&r, "custom_branding", "enterprise");

    app.admin_patch_tenant(&t, json!({ "plan": "enterprise" }))
        .await;
    let r = set_logo(&app, &t, json!("https://cdn.example.com/a.png")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Down to starter: the logo is kept and readable, not changeable…
    app.admin_patch_tenant(&t, json!({ "plan": "starter" }))
        .await;
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await
        .ok("read");
    assert_eq!(r.body["data"]["logo_url"], "https://cdn.example.com/a.png");
    let r = set_logo(&app, &t, json!("https://cdn.example.com/b.png")).await;
    refused_feature(&r, "custom_branding", "enterprise");
    // …but may be removed.
    let r = set_logo(&app, &t, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
both!(custom_branding_needs_a_plan_with_it_and_survives_a_downgrade);

async fn an_override_takes_a_feature_away_or_gives_it_and_is_audited(app: TestApp) {
    let t = app.register("Report Co").await;
    let reports = [
        "/api/reports/pipeline",
        "/api/reports/sales",
        "/api/reports/activities",
        "/api/reports/leads",
    ];
    for path in reports {
        app.get(path).bearer(&t.token).send().await.ok(path);
    }
    let r = app
        .admin_patch_tenant(
            &t,
            json!({ "feature_overrides": { "basic_reports": false } }),
        )
        .await;
    assert!(!r.body["data"]["subscription"]["features"]
        .as_array()
        .unwrap()
        .contains(&json!("basic_reports")));
    for path in reports {
        let r = app.get(path).bearer(&t.token).send().await;
        refused_feature(&r, "basic_reports", "starter");
    }
    // A custom_branding override lets a trial set its logo.
    app.admin_patch_tenant(
        &t,
        json!({ "feature_overrides": { "basic_reports": null, "custom_branding": true } }),
    )
    .await;
    for path in reports {
        app.get(path).bearer(&t.token).send().await.ok(path);
    }
    let r = set_logo(&app, &t, json!("https://cdn.example.com/a.png")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .get(&format!("/api/tenants/{}/audit-log", t.id))
        .bearer(&admin)
        .send()
        .await
        .ok("audit");
    let changes: Vec<&Value> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "tenant.updated")
        .collect();
    assert_eq!(changes.len(), 2, "{}", r.text);
    assert_eq!(
        changes[0]["after"]["feature_overrides"],
        json!({ "custom_branding": true })
    );
    assert_eq!(
        changes[1]["after"]["feature_overrides"],
        json!({ "basic_reports": false })
    );

    // Names are checked.
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({
            "feature_overrides": { "teleportation": true },
            "limit_overrides": { "records": -1, "parsecs": 3 }
        }))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let fields = &r.body["error"]["details"]["fields"];
    for f in [
        "feature_overrides.teleportation",
        "limit_overrides.records",
        "limit_overrides.parsecs",
    ] {
        assert!(fields[f].is_string(), "{f}: {}", r.text);
    }
}
both!(an_override_takes_a_feature_away_or_gives_it_and_is_audited);

async fn records_are_limited_across_kinds_and_stay_readable(app: TestApp) {
    let t = app.register("Records Co").await;
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "records": 4 } }))
        .await;
    let create = |path: &'static str, body: Value| {
        let app = &app;
        let token = t.token.clone();
        async move { app.post(path).bearer(&token).json(body).send().await }
    };
    create("/api/contacts", json!({ "first_name": "Ann" }))
        .await
        .created("contact");
    create("/api/companies", json!({ "name": "Acme" }))
        .await
        .created("company");
    create("/api/leads", json!({ "first_name": "Lee" }))
        .await
        .created("lead");
    create("/api/deals", json!({ "title": "Deal" }))
        .await
        .created("deal");
    for (path, body) in [
        ("/api/contacts", json!({ "first_name": "Bo" })),
        ("/api/companies", json!({ "name": "Beta" })),
        ("/api/leads", json!({ "first_name": "Lu" })),
        ("/api/deals", json!({ "title": "Another" })),
    ] {
        refused_limit(&create(path, body).await, "records", 4, 4);
    }
    // An import that would pass the limit writes nothing.
    let r = app
        .post("/api/contacts/import")
        .bearer(&t.token)
        .raw("text/csv", b"first_name\nCy\nDi\n".to_vec())
        .send()
        .await;
    refused_limit(&r, "records", 4, 4);
    // Everything stays readable.
    let r = app
        .get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    // Lifting the override gives the plan's limit back.
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "records": null } }))
        .await;
    create("/api/contacts", json!({ "first_name": "Bo" }))
        .await
        .created("contact within the trial's 5,000");
}
both!(records_are_limited_across_kinds_and_stay_readable);

async fn an_import_may_not_pass_the_plans_rows(app: TestApp) {
    let t = app.register("Import Co").await;
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "import_rows": 2 } }))
        .await;
    let import = |csv: &'static str| {
        let app = &app;
        let token = t.token.clone();
        async move {
            app.post("/api/contacts/import")
                .bearer(&token)
                .raw("text/csv", csv.as_bytes().to_vec())
                .send()
                .await
        }
    };
    let r = import("first_name\nA\nB\nC\n").await;
    refused_limit(&r, "import_rows", 3, 2);
    let r = app
        .get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    assert_eq!(r.body["data"], json!([]), "nothing was written");
    let r = import("first_name\nA\nB\n").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["imported"], 2);
}
both!(an_import_may_not_pass_the_plans_rows);

async fn records_stop_once_storage_reaches_the_plans(app: TestApp) {
    let t = app.register("Storage Co").await;
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({ "first_name": "Ann" }))
        .send()
        .await
        .created("a contact");
    // The daily measurement, run now.
    let tenant = trasealla::domain::TenantId(uuid::Uuid::parse_str(&t.id).unwrap());
    let bytes = trasealla::usage::measure_storage(&app.state.store, tenant, app.clock_now())
        .await
        .unwrap();
    assert!(bytes > 0);
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "storage_bytes": bytes } }))
        .await;
    let r = app
        .post("/api/companies")
        .bearer(&t.token)
        .json(json!({ "name": "Acme" }))
        .send()
        .await;
    refused_limit(&r, "storage_bytes", bytes, bytes);
    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "storage_bytes")["used"], bytes);
    assert_eq!(metric(&r.body, "storage_bytes")["remaining"], 0);
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "storage_bytes": null } }))
        .await;
    app.post("/api/companies")
        .bearer(&t.token)
        .json(json!({ "name": "Acme" }))
        .send()
        .await
        .created("within the trial's gigabyte");
}
both!(records_stop_once_storage_reaches_the_plans);

fn metric<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("no {name} in {usage}"))
}

async fn usage_counts_a_scripted_sequence_exactly(app: TestApp) {
    let t = app.register("Usage Co").await;
    let other = app.register("Other Co").await;
    // 10 calls of the tenant's (registration is not one of them: it is not
    // made by a tenant's user), some failing: each counts.
    for _ in 0..6 {
        app.get("/api/contacts")
            .bearer(&t.token)
            .send()
            .await
            .ok("list");
    }
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({ "first_name": "Ann" }))
        .send()
        .await
        .created("create");
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({}))
        .send()
        .await
        .expect(422, "a bad create is a call too");
    app.post("/api/contacts/import")
        .bearer(&t.token)
        .raw("text/csv", b"first_name\nBo\n".to_vec())
        .send()
        .await
        .ok("import");
    app.get("/api/auth/me")
        .bearer(&t.token)
        .send()
        .await
        .ok("me");
    // Another tenant's calls are its own.
    app.get("/api/contacts")
        .bearer(&other.token)
        .send()
        .await
        .ok("other");

    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(r.body["data"]["users"], json!({ "current": 1, "max": 3 }));
    let calls = metric(&r.body, "api_calls");
    assert_eq!(calls["used"], 10, "{}", r.text);
    assert_eq!(calls["limit"], 50_000);
    assert_eq!(calls["remaining"], 49_990);
    assert_eq!(calls["reset_at"], "2026-04-01T00:00:00Z");
    assert_eq!(r.body["data"]["period"]["start"], "2026-03-01T00:00:00Z");
    assert_eq!(r.body["data"]["period"]["end"], "2026-04-01T00:00:00Z");
    assert_eq!(metric(&r.body, "records")["used"], 2);
    assert_eq!(metric(&r.body, "records")["limit"], 5_000);
    assert_eq!(metric(&r.body, "imports")["used"], 1);
    assert_eq!(metric(&r.body, "users")["used"], 1);
    assert!(metric(&r.body, "storage_bytes")["used"].as_i64().unwrap() > 0);
    // The usage call itself counts once it has answered.
    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["used"], 11);
    let r = app
        .get("/api/tenants/usage")
        .bearer(&other.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["used"], 1);
    // A new month starts from nothing.
    app.advance(chrono::Duration::days(31));
    let fresh = app.login_ok(&t.email, crate::support::PASSWORD).await;
    let r = app
        .get("/api/tenants/usage")
        .bearer(&fresh)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["used"], 0);
    assert_eq!(r.body["data"]["period"]["start"], "2026-04-01T00:00:00Z");
}
both!(usage_counts_a_scripted_sequence_exactly);

/// Two servers on one database each count their own calls; the sum is
/// exact once both have flushed.
async fn two_servers_count_into_one_usage(app: TestApp) {
    let (second, addr, _server) = app.second_listener().await;
    let t = app.register("Shared Usage Co").await;
    for _ in 0..5 {
        app.get("/api/contacts")
            .bearer(&t.token)
            .send()
            .await
            .ok("on the first");
    }
    for _ in 0..7 {
        app.get("/api/contacts")
            .bearer(&t.token)
            .via(addr)
            .send()
            .await
            .ok("on the second");
    }
    second
        .meter
        .flush(&second.store, app.clock_now())
        .await
        .unwrap();
    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["used"], 12, "{}", r.text);
}
postgres_only!(
    two_servers_count_into_one_usage,
    crate::support::with_test_redis
);

fn header(r: &Resp, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn a_tenant_over_its_rate_gets_429_and_others_are_unaffected(app: TestApp) {
    let a = app.register("Busy Co").await;
    let b = app.register("Quiet Co").await;
    app.admin_patch_tenant(
        &a,
        json!({ "limit_overrides": { "requests_per_minute": 5 } }),
    )
    .await;
    // The first call reads the new limit; then the tenant has a minute's
    // worth, five, at once.
    app.get("/api/contacts")
        .bearer(&a.token)
        .send()
        .await
        .ok("read the limit");
    for left in (0..5).rev() {
        let r = app
            .get("/api/contacts")
            .bearer(&a.token)
            .send()
            .await
            .ok("within");
        assert_eq!(header(&r, "ratelimit-limit"), "5");
        assert_eq!(header(&r, "ratelimit-remaining"), left.to_string());
        assert!(header(&r, "ratelimit-reset").parse::<u64>().unwrap() <= 60);
    }
    let r = app.get("/api/contacts").bearer(&a.token).send().await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one call comes back every 12 s: {retry}"
    );
    assert_eq!(header(&r, "ratelimit-remaining"), "0");
    // Another tenant of the same server is not held back.
    let r = app
        .get("/api/contacts")
        .bearer(&b.token)
        .send()
        .await
        .ok("another tenant");
    assert_eq!(header(&r, "ratelimit-limit"), "120");
    assert_eq!(header(&r, "ratelimit-remaining"), "119");
    // Refused calls are not metered.
    let r = app.get("/api/tenants/usage").bearer(&a.token).send().await;
    if r.status == 200 {
        assert_eq!(metric(&r.body, "api_calls")["used"], 6);
    }
}
both!(a_tenant_over_its_rate_gets_429_and_others_are_unaffected);

async fn the_monthly_quota_answers_quota_exceeded_and_warns_the_admins(app: TestApp) {
    let t = app.register("Quota Co").await;
    app.admin_patch_tenant(
        &t,
        json!({ "limit_overrides": { "api_calls_per_month": 10 } }),
    )
    .await;
    for _ in 0..7 {
        app.get("/api/contacts")
            .bearer(&t.token)
            .send()
            .await
            .ok("call");
    }
    // The usage call flushes the counts: 7 of 10 (the usage call is the 8th).
    app.get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    app.get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("the 9th");
    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["used"], 9, "{}", r.text);
    let r = app.get("/api/contacts").bearer(&t.token).send().await;
    assert_eq!((r.status, r.code()), (429, "quota_exceeded"), "{}", r.text);
    assert_eq!(
        r.body["error"]["details"]["reset_at"],
        "2026-04-01T00:00:00Z"
    );
    let retry: i64 = header(&r, "retry-after").parse().unwrap();
    assert_eq!(
        retry,
        (chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 4, 1, 0, 0, 0).unwrap()
            - app.clock_now())
        .num_seconds()
    );
    // The tenant can still see why.
    let r = app
        .get("/api/tenants/usage")
        .bearer(&t.token)
        .send()
        .await
        .ok("usage");
    assert_eq!(metric(&r.body, "api_calls")["remaining"], 0);
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 4).await;
    let mut alerts: Vec<&str> = mails
        .iter()
        .map(|m| m.subject.as_str())
        .filter(|s| s.contains("API calls"))
        .collect();
    alerts.sort();
    assert_eq!(
        alerts,
        [
            "Quota Co has used 100% of its API calls this month",
            "Quota Co has used 80% of its API calls this month"
        ],
        "each once"
    );
    // Next month the calls start again.
    app.advance(chrono::Duration::days(31));
    let fresh = app.login_ok(&t.email, crate::support::PASSWORD).await;
    app.get("/api/contacts")
        .bearer(&fresh)
        .send()
        .await
        .ok("a new month");
}
both!(
    the_monthly_quota_answers_quota_exceeded_and_warns_the_admins,
    crate::mail::smtp
);

/// Two servers sharing one Redis hold a tenant to one limit together.
async fn two_servers_share_one_rate_limit_through_redis(app: TestApp) {
    if app.redis_skipped() {
        return;
    }
    let (_second, addr, _server) = app.second_listener().await;
    let t = app.register("Spread Co").await;
    app.admin_patch_tenant(
        &t,
        json!({ "limit_overrides": { "requests_per_minute": 40 } }),
    )
    .await;
    // Each server learns the tenant's limit from a first call.
    app.get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("first");
    app.get("/api/contacts")
        .bearer(&t.token)
        .via(addr)
        .send()
        .await
        .ok("second");
    let mut allowed = 0;
    for i in 0..120 {
        let req = app.get("/api/contacts").bearer(&t.token);
        let req = if i % 2 == 0 { req } else { req.via(addr) };
        let r = req.send().await;
        match r.status {
            200 => allowed += 1,
            429 => {}
            other => panic!("{other}: {}", r.text),
        }
    }
    // 40 a minute, 38 left after the two first calls, plus what refills
    // while the calls run: within 5% of one limit, not two.
    assert!((38..=42).contains(&allowed), "allowed {allowed}");
}
both!(
    two_servers_share_one_rate_limit_through_redis,
    crate::support::with_test_redis
);

/// The admin's usage view: every tenant not cancelled with its counts,
/// sorted as asked, and the same rows as CSV.
async fn the_platform_usage_view_lists_each_tenants_counts(app: TestApp) {
    let a = app.register("Alpha Usage").await;
    let b = app.register("Beta Usage").await;
    let gone = app.register("Gone Usage").await;
    // A: 3 records in 5 calls; B: 2 records in 2 calls.
    for name in ["Ann", "Bo", "Cy"] {
        app.post("/api/contacts")
            .bearer(&a.token)
            .json(json!({ "first_name": name }))
            .send()
            .await
            .created("A's contact");
    }
    for _ in 0..2 {
        app.get("/api/contacts")
            .bearer(&a.token)
            .send()
            .await
            .ok("A lists");
    }
    app.post("/api/contacts")
        .bearer(&b.token)
        .json(json!({ "first_name": "Di" }))
        .send()
        .await
        .created("B's contact");
    app.post("/api/companies")
        .bearer(&b.token)
        .json(json!({ "name": "Beta Client" }))
        .send()
        .await
        .created("B's company");
    app.state
        .meter
        .flush(&app.state.store, app.clock_now())
        .await
        .unwrap();
    let measured = trasealla::usage::measure_storage(
        &app.state.store,
        trasealla::domain::TenantId(b.id.parse().unwrap()),
        app.clock_now(),
    )
    .await
    .unwrap();
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    app.delete(&format!("/api/tenants/{}", gone.id))
        .bearer(&admin)
        .send()
        .await
        .ok("cancel a tenant");

    let usage = |query: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.get(&format!("/api/platform/usage{query}"))
                .bearer(&admin)
                .send()
                .await
                .ok(query)
        }
    };
    let slugs = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = usage("?sort=api_calls&order=desc").await;
    assert_eq!(slugs(&r), [a.slug.as_str(), b.slug.as_str()], "{}", r.text);
    let row_a = &r.body["data"][0];
    assert_eq!(row_a["id"], a.id.as_str());
    assert_eq!(row_a["name"], "Alpha Usage");
    assert_eq!(row_a["plan"], "trial");
    assert_eq!(row_a["users"], 1);
    assert_eq!(row_a["records"], 3);
    assert_eq!(row_a["api_calls"], 5);
    assert_eq!(row_a["storage_bytes"], Value::Null, "never measured");
    let row_b = &r.body["data"][1];
    assert_eq!(row_b["records"], 2);
    assert_eq!(row_b["api_calls"], 2);
    assert_eq!(row_b["storage_bytes"], measured);
    assert_eq!(
        slugs(&usage("?sort=api_calls&order=asc").await),
        [b.slug.as_str(), a.slug.as_str()]
    );
    assert_eq!(
        slugs(&usage("?sort=records&order=asc").await),
        [b.slug.as_str(), a.slug.as_str()]
    );
    assert_eq!(
        slugs(&usage("?sort=storage_bytes&order=desc").await),
        [b.slug.as_str(), a.slug.as_str()]
    );
    assert_eq!(
        slugs(&usage("?sort=name").await),
        [a.slug.as_str(), b.slug.as_str()]
    );
    assert_eq!(
        slugs(&usage("?sort=name&order=desc").await),
        [b.slug.as_str(), a.slug.as_str()]
    );
    assert_eq!(slugs(&usage("").await), [a.slug.as_str(), b.slug.as_str()]);
    for bad in ["?sort=bogus", "?order=up"] {
        let r = app
            .get(&format!("/api/platform/usage{bad}"))
            .bearer(&admin)
            .send()
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{bad}");
    }

    let r = app
        .get("/api/platform/usage.csv?sort=records&order=desc")
        .bearer(&admin)
        .send()
        .await
        .ok("the CSV");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and one line per tenant: {}",
        r.text
    );
    assert_eq!(
        lines[0],
        "id,name,slug,plan,users,records,storage_bytes,api_calls"
    );
    assert_eq!(
        lines[1],
        format!("{},Alpha Usage,{},trial,1,3,,5", a.id, a.slug)
    );
    assert_eq!(
        lines[2],
        format!("{},Beta Usage,{},trial,1,2,{measured},2", b.id, b.slug)
    );
}
both!(the_platform_usage_view_lists_each_tenants_counts);
