//! The platform admin API and the tenant lifecycle.

use crate::both;
use crate::support::{Tenant, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};
use chrono::Duration;
use serde_json::{json, Value};

/// Every platform-admin route, with a body where it takes one.
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/tenants"),
    ("GET", "/api/tenants/{id}"),
    ("PATCH", "/api/tenants/{id}"),
    ("DELETE", "/api/tenants/{id}"),
    ("POST", "/api/tenants/{id}/suspend"),
    ("POST", "/api/tenants/{id}/activate"),
    ("GET", "/api/tenants/{id}/audit-log"),
    ("POST", "/api/tenants/licenses/generate"),
    ("GET", "/api/tenants/licenses"),
    ("POST", "/api/tenants/licenses/{id}/revoke"),
    ("GET", "/api/platform/jobs"),
    ("POST", "/api/platform/jobs/{id}/retry"),
    ("GET", "/api/platform/messages"),
    ("GET", "/api/platform/usage"),
    ("GET", "/api/platform/usage.csv"),
    ("GET", "/api/platform/billing"),
];

impl TestApp {
    async fn admin(&self) -> String {
        self.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await
    }

    async fn admin_call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> crate::support::Resp {
        let req = self.req(method.parse().unwrap(), path).bearer(token);
        match body {
            Some(b) => req.json(b).send().await,
            None => req.send().await,
        }
    }
}

async fn only_platform_admins_use_the_admin_api(app: TestApp) {
    let t = app.register("Tenant Co").await;
    for (method, path) in ADMIN_ROUTES {
        let path = path.replace("{id}", &t.id);
        let body = (*method == "PATCH").then(|| json!({"name": "X"}));
        let r = app.admin_call("", method, &path, body.clone()).await;
        assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.text);
        let r = app.admin_call(&t.token, method, &path, body).await;
        assert_eq!(
            r.status, 403,
            "{method} {path} as a tenant admin: {}",
            r.text
        );
        assert_eq!(r.code(), "forbidden");
    }
    let r = app
        .get(&format!("/api/tenants/{}", t.id))
        .bearer(&app.admin().await)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["data"]["tenant"]["status"], "trial",
        "nothing was changed"
    );
}
both!(only_platform_admins_use_the_admin_api);

async fn unknown_or_malformed_tenant_ids_are_404(app: TestApp) {
    let admin = app.admin().await;
    for id in [
        uuid::Uuid::now_v7().to_string(),
        "nope".to_owned(),
        "123".to_owned(),
    ] {
        for (method, path) in ADMIN_ROUTES.iter().filter(|(_, p)| p.contains("{id}")) {
            let path = path.replace("{id}", &id);
            let body = (*method == "PATCH").then(|| json!({"name": "X"}));
            let r = app.admin_call(&admin, method, &path, body).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        }
    }
}
both!(unknown_or_malformed_tenant_ids_are_404);

async fn tenants_list_filters_and_pages(app: TestApp) {
    let a = app.register("Alpha Realty").await;
    let b = app.register("Beta Consulting").await;
    let c = app.register("Gamma Realty").await;
    app.add_user(&a, "agent@alpha.example", "user").await;
    let admin = app.admin().await;
    app.patch(&format!("/api/tenants/{}", b.id))
        .bearer(&admin)
        .json(json!({"plan": "professional"}))
        .send()
        .await
        .ok("move Beta to the professional plan");
    app.post(&format!("/api/tenants/{}/suspend", c.id))
        .bearer(&admin)
        .send()
        .await
        .ok("suspend Gamma");

    let ids = |r: &crate::support::Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get("/api/tenants").bearer(&admin).send().await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(
        ids(&all),
        vec![c.id.clone(), b.id.clone(), a.id.clone()],
        "newest first"
    );
    let alpha = &all.body["data"][2];
    assert_eq!(alpha["plan"], "trial");
    assert_eq!(alpha["status"], "trial");
    assert_eq!(alpha["current_users"], 2);
    assert!(alpha["created_at"].is_string() && alpha["trial_ends_at"].is_string());

    let r = app
        .get("/api/tenants?status=suspended")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(ids(&r), vec![c.id.clone()]);
    let r = app
        .get("/api/tenants?plan=professional")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(ids(&r), vec![b.id.clone()]);
    let r = app.get("/api/tenants?q=REALTY").bearer(&admin).send().await;
    assert_eq!(ids(&r), vec![c.id.clone(), a.id.clone()]);
    let r = app
        .get(&format!("/api/tenants?q={}", &a.email[..10]))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(ids(&r), vec![a.id.clone()]);
    let r = app.get("/api/tenants?q=%25").bearer(&admin).send().await;
    assert_eq!(
        ids(&r),
        Vec::<String>::new(),
        "% is a literal, not a wildcard"
    );

    let page1 = app.get("/api/tenants?limit=2").bearer(&admin).send().await;
    assert_eq!(ids(&page1), vec![c.id.clone(), b.id.clone()]);
    let cursor = page1.body["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("/api/tenants?limit=2&cursor={cursor}"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(ids(&page2), vec![a.id.clone()]);
    assert!(page2.body["next_cursor"].is_null());

    for bad in ["status=gone", "plan=gold", "limit=0"] {
        let r = app
            .get(&format!("/api/tenants?{bad}"))
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(r.status, 422, "{bad}");
    }
}
both!(tenants_list_filters_and_pages);

async fn tenant_detail_shows_subscription_owner_and_usage(app: TestApp) {
    let t = app.register("Detail Co").await;
    app.add_user(&t, "second@detail.example", "manager").await;
    let r = app
        .get(&format!("/api/tenants/{}", t.id))
        .bearer(&app.admin().await)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["tenant"]["slug"], t.slug.as_str());
    assert_eq!(d["subscription"]["plan"], "trial");
    assert_eq!(d["subscription"]["days_left_in_trial"], 14);
    assert_eq!(d["owner"]["id"], t.owner_id.as_str());
    assert_eq!(d["usage"]["users"], json!({"current": 2, "max": 3}));
}
both!(tenant_detail_shows_subscription_owner_and_usage);

async fn a_plan_change_rederives_limits_and_lifts_an_expired_trial(app: TestApp) {
    let t = app.register("Upgrade Co").await;
    app.advance(Duration::days(15));
    let admin = app.admin().await;
    let token = app.login_ok(&t.email, PASSWORD).await;
    let write = || {
        app.patch("/api/tenants/current")
            .bearer(&token)
            .json(json!({"industry": "Retail"}))
            .send()
    };
    assert_eq!(write().await.status, 402);

    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "professional"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["tenant"]["status"], "active");
    assert_eq!(d["subscription"]["plan"], "professional");
    assert_eq!(d["subscription"]["status"], "active");
    assert_eq!(d["subscription"]["max_users"], 25);
    assert!(d["subscription"]["features"]
        .as_array()
        .unwrap()
        .contains(&json!("workflows")));
    assert!(d["subscription"]["days_left_in_trial"].is_null());
    assert_eq!(
        write().await.status,
        200,
        "the upgrade lifts read-only at once"
    );

    // Explicit limits win over the catalogue; null is unlimited.
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "enterprise", "max_users": 50}))
        .send()
        .await;
    assert_eq!(r.body["data"]["subscription"]["max_users"], 50);
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"max_users": null}))
        .send()
        .await;
    assert!(r.body["data"]["subscription"]["max_users"].is_null());
    let r = app
        .get("/api/tenants/subscription")
        .bearer(&token)
        .send()
        .await;
    assert!(r.body["data"]["max_users"].is_null());
}
both!(a_plan_change_rederives_limits_and_lifts_an_expired_trial);

async fn extending_the_trial_lifts_read_only(app: TestApp) {
    let t = app.register("Extend Co").await;
    app.advance(Duration::days(14) + Duration::hours(1));
    let token = app.login_ok(&t.email, PASSWORD).await;
    let admin = app.admin().await;
    let write = || {
        app.patch("/api/tenants/current")
            .bearer(&token)
            .json(json!({"industry": "Retail"}))
            .send()
    };
    assert_eq!(write().await.status, 402);
    let until = (app.clock_now() + Duration::days(7)).to_rfc3339();
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"trial_ends_at": until}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["subscription"]["days_left_in_trial"], 7);
    assert_eq!(write().await.status, 200);
}
both!(extending_the_trial_lifts_read_only);

async fn a_downgrade_below_active_users_needs_force(app: TestApp) {
    let t = app.register("Big Team").await;
    let admin = app.admin().await;
    app.patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "professional"}))
        .send()
        .await
        .ok("move the tenant to the professional plan");
    for i in 0..5 {
        app.add_user(&t, &format!("member{i}@big.example"), "user")
            .await;
    }
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "starter"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "conflict");
    assert_eq!(
        r.body["error"]["details"],
        json!({"max_users": 5, "current_users": 6})
    );
    let r = app
        .get(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(
        r.body["data"]["subscription"]["plan"], "professional",
        "nothing changed"
    );

    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "starter", "force": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["subscription"]["max_users"], 5);
    // Over the limit now: no one can be added until users are deactivated.
    let r = app.create_user(&t.token, "one.more@big.example").await;
    assert_eq!(r.status, 402);
}
both!(a_downgrade_below_active_users_needs_force);

async fn suspension_blocks_old_tokens_and_activation_restores_them(app: TestApp) {
    let t = app.register("Paused Co").await;
    let (_, staff) = app.add_user(&t, "staff@paused.example", "user").await;
    let admin = app.admin().await;
    let r = app
        .post(&format!("/api/tenants/{}/suspend", t.id))
        .bearer(&admin)
        .json(json!({"reason": "unpaid invoice"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["tenant"]["status"], "suspended");
    for token in [&t.token, &staff] {
        let r = app.get("/api/tenants/current").bearer(token).send().await;
        assert_eq!(r.status, 403);
        assert_eq!(r.code(), "tenant_suspended");
    }
    let r = app
        .post(&format!("/api/tenants/{}/suspend", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 409, "suspending twice: {}", r.body);

    let r = app
        .post(&format!("/api/tenants/{}/activate", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["tenant"]["status"], "trial",
        "back to its plan's status"
    );
    for token in [&t.token, &staff] {
        assert_eq!(
            app.get("/api/tenants/current")
                .bearer(token)
                .send()
                .await
                .status,
            200
        );
    }
    let r = app
        .post(&format!("/api/tenants/{}/activate", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 409, "activating an active tenant");

    // PATCH can suspend too, and the same rules hold.
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"status": "suspended"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&t.token)
            .send()
            .await
            .status,
        403
    );
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"status": "cancelled"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "cancelling goes through DELETE");
}
both!(suspension_blocks_old_tokens_and_activation_restores_them);

async fn deleting_cancels_at_once_and_purges_after_retention(app: TestApp) {
    let t = app.register("Leaving Co").await;
    let admin = app.admin().await;
    let r = app
        .delete(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["status"], "cancelled");
    assert_eq!(r.body["data"]["purged"], false);
    assert_eq!(r.body["data"]["purge_after"], "2026-03-31T09:00:00Z");

    assert_eq!(
        app.get("/api/tenants/current")
            .bearer(&t.token)
            .send()
            .await
            .status,
        401
    );
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": t.email, "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 401);
    // The slug stays reserved while the data is kept.
    let r = app
        .get(&format!("/api/tenants/check-availability?slug={}", t.slug))
        .send()
        .await;
    assert_eq!(r.body["data"]["slug_available"], false);
    // A cancelled tenant cannot be suspended, activated or changed.
    for (method, path, body) in [
        ("POST", format!("/api/tenants/{}/suspend", t.id), None),
        ("POST", format!("/api/tenants/{}/activate", t.id), None),
        (
            "PATCH",
            format!("/api/tenants/{}", t.id),
            Some(json!({"plan": "starter"})),
        ),
        ("DELETE", format!("/api/tenants/{}", t.id), None),
    ] {
        let r = app.admin_call(&admin, method, &path, body).await;
        assert_eq!(r.status, 409, "{method} {path}: {}", r.body);
    }

    let retention = Duration::days(30);
    app.advance(Duration::days(29));
    assert_eq!(
        trasealla::platform::tenants::purge_due(&app.state.store, retention, app.clock_now())
            .await
            .unwrap(),
        0
    );
    app.advance(Duration::days(1));
    assert_eq!(
        trasealla::platform::tenants::purge_due(&app.state.store, retention, app.clock_now())
            .await
            .unwrap(),
        1
    );
    let admin = app.admin().await;
    assert_eq!(
        app.get(&format!("/api/tenants/{}", t.id))
            .bearer(&admin)
            .send()
            .await
            .status,
        404
    );
    let r = app
        .get(&format!("/api/tenants/check-availability?slug={}", t.slug))
        .send()
        .await;
    assert_eq!(
        r.body["data"]["slug_available"], true,
        "the slug is free again"
    );
}
both!(deleting_cancels_at_once_and_purges_after_retention);

/// Counts the tenant's rows in every table the schema says holds tenant rows.
async fn rows_of(app: &TestApp, tenant: &Tenant) -> Vec<(String, i64)> {
    let id = uuid::Uuid::parse_str(&tenant.id).unwrap();
    let mut tx = app
        .state
        .store
        .platform(trasealla::store::Access::Read)
        .await
        .unwrap();
    let tables = trasealla::platform::tenants::tenant_tables(&mut tx)
        .await
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        let n: trasealla::store::One<i64> = tx.query_one(&sql, &[&id]).await.unwrap();
        out.push((table, n.0));
    }
    let n: trasealla::store::One<i64> = tx
        .query_one("SELECT count(*) FROM tenants WHERE id = $1", &[&id])
        .await
        .unwrap();
    out.push(("tenants".into(), n.0));
    out
}

async fn purge_now_leaves_no_row_of_the_tenant_in_any_table(app: TestApp) {
    let doomed = app.register("Doomed Co").await;
    let kept = app.register("Kept Co").await;
    app.add_user(&doomed, "staff@doomed.example", "user").await;
    app.patch("/api/tenants/current")
        .bearer(&doomed.token)
        .json(json!({"name": "Doomed Inc"}))
        .send()
        .await
        .ok("rename the doomed tenant");
    let before = rows_of(&app, &doomed).await;
    assert!(
        before.iter().filter(|(_, n)| *n > 0).count() >= 4,
        "{before:?}"
    );
    let kept_before = rows_of(&app, &kept).await;

    let admin = app.admin().await;
    let r = app
        .delete(&format!("/api/tenants/{}?purge=true", doomed.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["purged"], true);
    let after = rows_of(&app, &doomed).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "rows left: {after:?}");
    assert_eq!(
        rows_of(&app, &kept).await,
        kept_before,
        "the other tenant is untouched"
    );
    // The staff e-mail is free again.
    let r = app.create_user(&kept.token, "staff@doomed.example").await;
    assert_eq!(r.status, 201, "{}", r.body);
}
both!(purge_now_leaves_no_row_of_the_tenant_in_any_table);

async fn the_audit_log_records_who_did_what(app: TestApp) {
    let t = app.register("Audited Co").await;
    let (staff_id, _) = app.add_user(&t, "staff@audited.example", "user").await;
    app.patch(&format!("/api/users/{staff_id}"))
        .bearer(&t.token)
        .json(json!({"role": "manager"}))
        .send()
        .await
        .ok("make the staff member a manager");
    app.patch(&format!("/api/users/{staff_id}"))
        .bearer(&t.token)
        .json(json!({"is_active": false}))
        .send()
        .await
        .ok("deactivate the staff member");
    app.patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({"timezone": "Europe/Paris"}))
        .send()
        .await
        .ok("change the tenant's time zone");
    let admin = app.admin().await;
    app.post(&format!("/api/tenants/{}/suspend", t.id))
        .bearer(&admin)
        .json(json!({"reason": "audit test"}))
        .send()
        .await
        .ok("suspend the tenant");
    app.post(&format!("/api/tenants/{}/activate", t.id))
        .bearer(&admin)
        .send()
        .await
        .ok("reactivate the tenant");

    let r = app.get("/api/audit-log").bearer(&t.token).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.body["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "tenant.activated",
            "tenant.suspended",
            "tenant.settings_changed",
            "user.deactivated",
            "user.role_changed",
            "user.created"
        ],
        "newest first"
    );
    let role = &entries[4];
    assert_eq!(role["actor_type"], "user");
    assert_eq!(role["actor_id"], t.owner_id.as_str());
    assert_eq!(role["target_id"], staff_id.as_str());
    assert_eq!(role["before"], json!({"role": "user"}));
    assert_eq!(role["after"], json!({"role": "manager"}));
    assert_eq!(role["client_addr"], "127.0.0.1");
    assert_eq!(entries[2]["before"]["timezone"], "UTC");
    assert_eq!(entries[2]["after"]["timezone"], "Europe/Paris");
    assert_eq!(entries[1]["actor_type"], "platform_admin");
    assert_eq!(entries[1]["actor_name"], ADMIN_USERNAME);
    assert_eq!(entries[1]["after"]["reason"], "audit test");

    // The platform sees the same log; the API offers no way to change it.
    let r = app
        .get(&format!("/api/tenants/{}/audit-log", t.id))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), entries.len());
    for method in ["POST", "PATCH", "DELETE", "PUT"] {
        let r = app
            .req(method.parse().unwrap(), "/api/audit-log")
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.status, 405, "{method}");
    }
}
both!(the_audit_log_records_who_did_what);

async fn each_tenant_admin_sees_only_their_own_audit_entries(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    app.add_user(&a, "one@alpha.example", "user").await;
    app.add_user(&b, "one@beta.example", "user").await;
    app.add_user(&b, "two@beta.example", "user").await;
    for (t, n) in [(&a, 1), (&b, 2)] {
        let r = app.get("/api/audit-log").bearer(&t.token).send().await;
        let entries = r.body["data"].as_array().unwrap();
        assert_eq!(entries.len(), n);
        assert!(entries.iter().all(|e| e["tenant_id"] == t.id.as_str()));
    }
    // Non-admins do not read it.
    let (_, user) = app.add_user(&a, "two@alpha.example", "user").await;
    assert_eq!(
        app.get("/api/audit-log").bearer(&user).send().await.status,
        403
    );
}
both!(each_tenant_admin_sees_only_their_own_audit_entries);

async fn a_login_lockout_is_audited(app: TestApp) {
    let t = app.register("Guarded Co").await;
    for _ in 0..10 {
        app.post("/api/auth/login")
            .json(json!({"username": t.email, "password": "wrong-guess"}))
            .send()
            .await
            .expect(401, "a failed login towards the lockout");
    }
    let r = app.get("/api/audit-log").bearer(&t.token).send().await;
    let locked: Vec<&Value> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login.locked")
        .collect();
    assert_eq!(locked.len(), 1, "{}", r.body);
    assert_eq!(locked[0]["target_id"], t.owner_id.as_str());
    assert_eq!(locked[0]["actor_type"], "system");
    assert_eq!(locked[0]["client_addr"], "127.0.0.1");
}
both!(a_login_lockout_is_audited);

#[test]
fn admin_create_makes_a_platform_admin_from_stdin() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let run = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trasealla"))
            .args([
                "admin",
                "create",
                "--username",
                "Ops.Lead",
                "--password-stdin",
            ])
            .env("DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"OpsLeadPass123\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("created platform admin ops.lead"));
    let again = run();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("OpsLeadPass123"));
}
