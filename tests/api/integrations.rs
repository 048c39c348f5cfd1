//! Integrations over HTTP: API keys within their scopes, and webhooks that
//! reach a receiver whose signature check is the public Standard Webhooks
//! library (tests/webhooks/receiver.py), not our code.

use crate::both;
use crate::support::{webhook_receiver, Tenant, TestApp};
use chrono::Duration;
use serde_json::{json, Value};

/// Deliveries to the suite's receiver on loopback.
fn allow_private(c: &mut trasealla::Config) {
    c.webhook_allow_private = true;
}

/// A key of `t` with `scopes`; the whole key.
async fn key(app: &TestApp, t: &Tenant, scopes: &[&str], extra: Value) -> (String, String) {
    let mut body = json!({"name": "Integration", "scopes": scopes});
    if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
        b.extend(x);
    }
    let r = app
        .post("/api/api-keys")
        .bearer(&t.token)
        .json(body)
        .send()
        .await
        .created("create an API key");
    (
        r.body["data"]["key"].as_str().unwrap().to_owned(),
        r.body["data"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn an_api_key_works_within_its_scopes_and_not_after_revocation(app: TestApp) {
    let t = app.register("Keyed Co").await;
    let (k, id) = key(&app, &t, &["contacts:write", "deals:read"], json!({})).await;
    assert!(k.starts_with("trs_") && k.len() >= 4 + 32, "{k}");

    let r = app.get("/api/contacts").bearer(&k).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post("/api/contacts")
        .bearer(&k)
        .json(json!({"first_name": "Ada"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The key acts as its owner.
    assert_eq!(r.body["data"]["created_by"], t.owner_id.as_str());
    assert_eq!(app.get("/api/deals").bearer(&k).send().await.status, 200);
    let me = app.get("/api/auth/me").bearer(&k).send().await;
    assert_eq!(me.status, 200, "{}", me.body);

    for (method, path, scope) in [
        ("POST", "/api/deals", "deals:write"),
        ("GET", "/api/companies", "companies:read"),
        ("GET", "/api/users", "users:read"),
    ] {
        let req = match method {
            "POST" => app.post(path).json(json!({"title": "X"})),
            _ => app.get(path),
        };
        let r = req.bearer(&k).send().await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.body["error"]["details"]["missing_scope"], scope);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(scope));
    }
    // Keys do not manage keys.
    let r = app.get("/api/api-keys").bearer(&k).send().await;
    assert_eq!(r.status, 403, "{}", r.body);

    // A typo is caught by the checksum, an unknown key by its absence.
    let mut typo = k.clone().into_bytes();
    typo[12] = if typo[12] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(
        app.get("/api/contacts").bearer(&typo).send().await.status,
        401
    );

    // Lists show a prefix and the last use, never the key.
    let list = app
        .get("/api/api-keys")
        .bearer(&t.token)
        .send()
        .await
        .ok("list keys");
    let listed = &list.body["data"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(listed.get("key").is_none());
    assert!(!list.text.contains(&k));
    assert!(k.starts_with(listed["prefix"].as_str().unwrap()));
    assert_eq!(listed["last_used_addr"], "127.0.0.1");
    assert!(listed["last_used_at"].is_string());
    assert!(listed["api_calls_this_month"].as_i64().unwrap() >= 3);

    // Revoked: refused at once, here and on another server of the deployment.
    let (_, second, server) = app.second_listener().await;
    assert_eq!(
        app.get("/api/contacts")
            .bearer(&k)
            .via(second)
            .send()
            .await
            .status,
        200
    );
    app.delete(&format!("/api/api-keys/{id}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("revoke the key");
    for addr in [app.addr, second] {
        let r = app.get("/api/contacts").bearer(&k).via(addr).send().await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.text.contains("revoked"), "{}", r.body);
    }
    server.abort();

    let audit = app
        .get("/api/audit-log")
        .bearer(&t.token)
        .send()
        .await
        .ok("audit log");
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "api_key.created",
        "api_key.used_from_new_address",
        "api_key.revoked",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "api_key.used_from_new_address")
            .count(),
        1
    );
}
both!(an_api_key_works_within_its_scopes_and_not_after_revocation);

async fn an_expired_key_and_a_plan_without_integrations_are_refused(app: TestApp) {
    let t = app.register("Expiring Co").await;
    let soon = app.clock_now() + Duration::hours(1);
    let (k, _) = key(&app, &t, &["all"], json!({"expires_at": soon})).await;
    assert_eq!(app.get("/api/contacts").bearer(&k).send().await.status, 200);
    app.advance(Duration::hours(2));
    let r = app.get("/api/contacts").bearer(&k).send().await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.text.contains("expired"));

    let (k, _) = key(&app, &t, &["all"], json!({})).await;
    app.admin_patch_tenant(&t, json!({"plan": "starter"})).await;
    let r = app.get("/api/contacts").bearer(&k).send().await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "feature_not_in_plan");
    let r = app
        .post("/api/api-keys")
        .bearer(&t.token)
        .json(json!({"name": "x", "scopes": ["all"]}))
        .send()
        .await;
    assert_eq!(r.status, 402);
    // Reading and removing stay allowed.
    app.get("/api/api-keys")
        .bearer(&t.token)
        .send()
        .await
        .ok("list after the downgrade");
}
both!(an_expired_key_and_a_plan_without_integrations_are_refused);

/// A webhook of `t` to the receiver's `name` for `events`; its view (with
/// the secret), the receiver told the secret.
async fn hook(app: &TestApp, t: &Tenant, name: &str, events: &[&str], status: u16) -> Value {
    let r = webhook_receiver();
    let created = app
        .post("/api/webhooks")
        .bearer(&t.token)
        .json(json!({"url": r.url(name), "events": events}))
        .send()
        .await
        .created("create a webhook");
    let secret = created.body["data"]["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    r.configure(name, Some(secret), status).await;
    created.body["data"].clone()
}

/// POSTs `body` to `path`; the new record's id.
async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app
        .post(path)
        .bearer(token)
        .json(body)
        .send()
        .await
        .created(path);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// The newest delivery of a webhook, with its attempts.
async fn first_delivery(app: &TestApp, token: &str, hook_id: &str) -> Value {
    app.get(&format!("/api/webhooks/{hook_id}/deliveries"))
        .bearer(token)
        .send()
        .await
        .ok("deliveries")
        .body["data"][0]
        .clone()
}

fn all_types() -> Vec<&'static str> {
    trasealla::events::TYPES.iter().map(|(_, n)| *n).collect()
}

async fn every_event_type_reaches_a_receiver_that_verifies_it(app: TestApp) {
    let t = app.register("Hooked Co").await;
    let name = webhook_receiver().endpoint("all");
    hook(&app, &t, &name, &all_types(), 200).await;
    let tok = &t.token;
    let company = created(&app, tok, "/api/companies", json!({"name": "Harbour"})).await;
    let contact = created(&app, tok, "/api/contacts", json!({"first_name": "Ada"})).await;
    let lead = created(&app, tok, "/api/leads", json!({"first_name": "Grace"})).await;
    let product = created(
        &app,
        tok,
        "/api/products",
        json!({"name": "Widget", "price": 100}),
    )
    .await;
    let deal = created(&app, tok, "/api/deals", json!({"title": "Villa"})).await;
    let activity = created(&app, tok, "/api/activities", json!({"subject": "Call"})).await;
    let note = created(
        &app,
        tok,
        "/api/notes",
        json!({"body": "Hi", "contact_id": contact}),
    )
    .await;
    for (path, body) in [
        (
            format!("/api/companies/{company}"),
            json!({"name": "Harbour View"}),
        ),
        (
            format!("/api/contacts/{contact}"),
            json!({"last_name": "Lovelace"}),
        ),
        (format!("/api/leads/{lead}"), json!({"last_name": "Hopper"})),
        (format!("/api/products/{product}"), json!({"price": 200})),
        (
            format!("/api/deals/{deal}"),
            json!({"title": "Seaside villa"}),
        ),
        (format!("/api/activities/{activity}"), json!({"done": true})),
        (format!("/api/notes/{note}"), json!({"body": "Hello"})),
    ] {
        app.patch(&path)
            .bearer(tok)
            .json(body)
            .send()
            .await
            .ok(&path);
    }
    let pipelines = app.get("/api/pipelines").bearer(tok).send().await;
    let stage = |kind: &str| {
        pipelines.body["data"][0]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == kind)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for kind in ["won", "lost"] {
        app.patch(&format!("/api/deals/{deal}"))
            .bearer(tok)
            .json(json!({"stage_id": stage(kind)}))
            .send()
            .await
            .ok("move the deal");
    }
    app.post(&format!("/api/leads/{lead}/convert"))
        .bearer(tok)
        .json(json!({}))
        .send()
        .await
        .ok("convert the lead");
    for path in [
        format!("/api/notes/{note}"),
        format!("/api/activities/{activity}"),
        format!("/api/deals/{deal}"),
        format!("/api/products/{product}"),
        format!("/api/leads/{lead}"),
        format!("/api/contacts/{contact}"),
        format!("/api/companies/{company}"),
    ] {
        app.delete(&path).bearer(tok).send().await.ok(&path);
    }
    app.run_jobs().await;
    let got = webhook_receiver().received(&name).await;
    for d in &got {
        assert!(d.verified, "not verified by standardwebhooks: {d:?}");
        assert!(d.headers["webhook-id"].as_str().is_some());
        assert!(d.body["timestamp"].is_string() && d.body["data"].is_object());
    }
    let types: Vec<&str> = got
        .iter()
        .map(|d| d.body["type"].as_str().unwrap())
        .collect();
    for t in all_types() {
        assert!(types.contains(&t), "{t} did not arrive; got {types:?}");
    }
    let of = |ty: &str| got.iter().find(|d| d.body["type"] == ty).unwrap();
    assert_eq!(of("contact.created").body["data"]["id"], contact.as_str());
    assert_eq!(of("contact.created").body["data"]["first_name"], "Ada");
    assert_eq!(
        of("contact.updated").body["data"]["changes"]["last_name"],
        json!({"from": null, "to": "Lovelace"})
    );
    assert_eq!(of("deal.won").body["data"]["status"], "won");
    assert_eq!(
        of("deal.stage_changed").body["data"]["changes"]["stage_id"]["to"],
        stage("won").as_str()
    );
    assert_eq!(of("lead.converted").body["data"]["status"], "converted");
    assert_eq!(of("contact.deleted").body["data"]["id"], contact.as_str());
    // In order per record: the contact's events came created, updated, deleted.
    let contact_types: Vec<&str> = got
        .iter()
        .filter(|d| d.body["data"]["id"] == contact.as_str())
        .map(|d| d.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        contact_types,
        ["contact.created", "contact.updated", "contact.deleted"]
    );

    // The delivery log.
    let hooks = app.get("/api/webhooks").bearer(tok).send().await;
    let hook_id = hooks.body["data"][0]["id"].as_str().unwrap();
    assert!(hooks.body["data"][0].get("secret").is_none());
    let log = app
        .get(&format!("/api/webhooks/{hook_id}/deliveries?limit=200"))
        .bearer(tok)
        .send()
        .await
        .ok("deliveries");
    let deliveries = log.body["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), got.len());
    for d in deliveries {
        assert_eq!(d["state"], "succeeded", "{d}");
        assert_eq!(d["attempt_log"][0]["status_code"], 200);
        assert!(d["attempt_log"][0]["duration_ms"].is_i64());
        assert!(d["attempt_log"][0]["response"]
            .as_str()
            .unwrap()
            .contains("received"));
    }
    // The test event, through the same queue, verified the same way.
    app.post(&format!("/api/webhooks/{hook_id}/test"))
        .bearer(tok)
        .send()
        .await
        .expect(202, "send a test event");
    app.run_jobs().await;
    let all = webhook_receiver().wait_for(&name, got.len() + 1).await;
    let last = all.last().unwrap();
    assert_eq!(last.body["type"], "webhook.test");
    assert!(last.verified, "{last:?}");
}
both!(
    every_event_type_reaches_a_receiver_that_verifies_it,
    super::allow_private
);

async fn a_rolled_back_change_sends_nothing(app: TestApp) {
    let t = app.register("Rollback Co").await;
    let name = webhook_receiver().endpoint("rollback");
    hook(
        &app,
        &t,
        &name,
        &["company.created", "contact.created"],
        200,
    )
    .await;
    let lead = app
        .post("/api/leads")
        .bearer(&t.token)
        .json(json!({"first_name": "Grace", "company_name": "Navy Labs"}))
        .send()
        .await
        .created("a lead");
    let lead = lead.body["data"]["id"].as_str().unwrap();
    // The conversion makes a company and a contact (their events written),
    // then fails on the deal's pipeline: the whole change rolls back.
    let r = app
        .post(&format!("/api/leads/{lead}/convert"))
        .bearer(&t.token)
        .json(json!({"create_deal": true, "pipeline_id": uuid::Uuid::now_v7()}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.count("outbox_events").await, 0);
    assert_eq!(app.count("webhook_deliveries").await, 0);
    app.run_jobs().await;
    assert!(webhook_receiver().received(&name).await.is_empty());
    // The same conversion committed is delivered.
    app.post(&format!("/api/leads/{lead}/convert"))
        .bearer(&t.token)
        .json(json!({}))
        .send()
        .await
        .ok("convert");
    app.run_jobs().await;
    let got = webhook_receiver().wait_for(&name, 2).await;
    // Two records: in order each, in any order between them.
    let mut types: Vec<&str> = got
        .iter()
        .map(|d| d.body["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["company.created", "contact.created"]);
}
both!(a_rolled_back_change_sends_nothing, super::allow_private);

async fn a_failing_receiver_is_retried_on_schedule_then_disabled(app: TestApp) {
    let t = app.register("Failing Co").await;
    let name = webhook_receiver().endpoint("failing");
    let created = hook(&app, &t, &name, &["contact.created"], 500).await;
    let hook_id = created["id"].as_str().unwrap();
    let start = app.clock_now();
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "Ada"}))
        .send()
        .await
        .created("a contact");
    app.run_jobs().await;
    assert_eq!(first_delivery(&app, &t.token, hook_id).await["attempts"], 1);
    let schedule = trasealla::integrations::delivery::RETRY_SCHEDULE;
    let mut elapsed = 0;
    for (i, wait) in schedule.iter().enumerate() {
        // Not a second early…
        app.advance(Duration::seconds(wait - 1));
        app.run_jobs().await;
        assert_eq!(
            first_delivery(&app, &t.token, hook_id).await["attempts"],
            i as i64 + 1
        );
        // …and on time.
        app.advance(Duration::seconds(1));
        app.run_jobs().await;
        elapsed += wait;
        let d = first_delivery(&app, &t.token, hook_id).await;
        assert_eq!(d["attempts"], i as i64 + 2, "{d}");
        let at: chrono::DateTime<chrono::Utc> = d["attempt_log"][i + 1]["attempted_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(at, start + Duration::seconds(elapsed));
    }
    let d = first_delivery(&app, &t.token, hook_id).await;
    assert_eq!(d["state"], "failed");
    assert_eq!(d["last_status"], 500);
    let got = webhook_receiver().received(&name).await;
    assert_eq!(got.len(), schedule.len() + 1);
    assert!(got.iter().all(|d| d.verified), "{got:?}");
    // About a day of retries; the endpoint stays on until three days of
    // nothing but failures.
    assert!(elapsed > 20 * 3600 && elapsed < 28 * 3600);
    let h = app
        .get(&format!("/api/webhooks/{hook_id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(h.body["data"]["enabled"], true);
    assert!(h.body["data"]["failing_since"].is_string());

    app.advance(Duration::days(3));
    // Sessions last a day: sign in again.
    let t = Tenant {
        token: app.login_ok(&t.email, crate::support::PASSWORD).await,
        ..t
    };
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "Grace"}))
        .send()
        .await
        .created("another contact");
    app.run_jobs().await;
    let h = app
        .get(&format!("/api/webhooks/{hook_id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(h.body["data"]["enabled"], false, "{}", h.body);
    assert!(h.body["data"]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("3 days"));
    // The admins are told by e-mail, and the log says so.
    let messages = app.get("/api/messages").bearer(&t.token).send().await;
    assert!(
        messages.text.contains("webhook") && messages.text.contains("turned off"),
        "{}",
        messages.body
    );
    let audit = app.get("/api/audit-log").bearer(&t.token).send().await;
    assert!(audit.text.contains("webhook.disabled"));
    // Nothing more goes to a disabled endpoint; turned on again, it gets
    // the manual retry of a failed delivery.
    let before = webhook_receiver().received(&name).await.len();
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "Edsger"}))
        .send()
        .await
        .created("a third contact");
    app.run_jobs().await;
    assert_eq!(webhook_receiver().received(&name).await.len(), before);
    webhook_receiver().configure(&name, None, 200).await;
    app.patch(&format!("/api/webhooks/{hook_id}"))
        .bearer(&t.token)
        .json(json!({"enabled": true}))
        .send()
        .await
        .ok("turn it on");
    let failed = first_delivery(&app, &t.token, hook_id).await;
    let r = app
        .post(&format!(
            "/api/webhooks/{hook_id}/deliveries/{}/retry",
            failed["id"].as_str().unwrap()
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    app.run_jobs().await;
    let d = first_delivery(&app, &t.token, hook_id).await;
    assert_eq!(d["state"], "succeeded", "{d}");
    assert_eq!(webhook_receiver().received(&name).await.len(), before + 1);
}
both!(
    a_failing_receiver_is_retried_on_schedule_then_disabled,
    super::allow_private
);

async fn a_rotated_secret_signs_alongside_the_old_one_for_a_day(app: TestApp) {
    let t = app.register("Rotating Co").await;
    let name = webhook_receiver().endpoint("rotating");
    let created = hook(&app, &t, &name, &["contact.created"], 200).await;
    let hook_id = created["id"].as_str().unwrap();
    let rotated = app
        .post(&format!("/api/webhooks/{hook_id}/rotate-secret"))
        .bearer(&t.token)
        .send()
        .await
        .ok("rotate");
    let new_secret = rotated.body["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, created["secret"].as_str().unwrap());
    // The receiver still holds the old secret: it verifies all the same.
    let contact = json!({"first_name": "Ada"});
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(contact.clone())
        .send()
        .await
        .created("c");
    app.run_jobs().await;
    let got = webhook_receiver().wait_for(&name, 1).await;
    assert!(got[0].verified, "{:?}", got[0]);
    assert_eq!(
        got[0].headers["webhook-signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    // A day later only the new one signs.
    app.advance(Duration::hours(25));
    let t = Tenant {
        token: app.login_ok(&t.email, crate::support::PASSWORD).await,
        ..t
    };
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(contact.clone())
        .send()
        .await
        .created("c");
    app.run_jobs().await;
    let got = webhook_receiver().wait_for(&name, 2).await;
    assert!(!got[1].verified, "the old secret no longer verifies");
    assert!(got[1]
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("signature"));
    webhook_receiver()
        .configure(&name, Some(&new_secret), 200)
        .await;
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(contact)
        .send()
        .await
        .created("c");
    app.run_jobs().await;
    let got = webhook_receiver().wait_for(&name, 3).await;
    assert!(got[2].verified, "{:?}", got[2]);
    assert_eq!(
        got[2].headers["webhook-signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
}
both!(
    a_rotated_secret_signs_alongside_the_old_one_for_a_day,
    super::allow_private
);

async fn a_private_address_is_refused_unless_allowed(app: TestApp) {
    let t = app.register("Careful Co").await;
    let r = webhook_receiver();
    let name = r.endpoint("private");
    for url in [
        r.url(&name),
        "https://127.0.0.1/hook".to_owned(),
        "https://localhost/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://10.1.2.3/hook".to_owned(),
        "https://[::1]/hook".to_owned(),
        "ftp://hooks.example.com/x".to_owned(),
    ] {
        let resp = app
            .post("/api/webhooks")
            .bearer(&t.token)
            .json(json!({"url": url, "events": ["contact.created"]}))
            .send()
            .await;
        assert_eq!(resp.status, 422, "{url}: {}", resp.body);
        assert!(resp.body["error"]["details"]["fields"]["url"].is_string());
    }
    // An endpoint that points at a private address anyway (saved by a
    // server that allowed it, or a name that resolves differently now) is
    // refused when a delivery is attempted.
    let id = uuid::Uuid::now_v7();
    let tenant = uuid::Uuid::parse_str(&t.id).unwrap();
    let sealed = app
        .state
        .master
        .seal(
            &format!("webhook_endpoints.secret:{id}"),
            "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        )
        .unwrap();
    r.configure(&name, Some("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"), 200)
        .await;
    let now = app.clock_now();
    app.exec(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, events, enabled, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, true, $5, $6, $6)",
        &[&tenant, &id, &r.url(&name), &json!(["contact.created"]), &sealed, &now],
    )
    .await;
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "Ada"}))
        .send()
        .await
        .created("a contact");
    app.run_jobs().await;
    let log = app
        .get(&format!("/api/webhooks/{id}/deliveries"))
        .bearer(&t.token)
        .send()
        .await
        .ok("deliveries");
    let attempt = &log.body["data"][0]["attempt_log"][0];
    assert!(attempt["status_code"].is_null(), "{attempt}");
    assert!(
        attempt["error"].as_str().unwrap().contains("private"),
        "{attempt}"
    );
    assert!(r.received(&name).await.is_empty());
}
both!(a_private_address_is_refused_unless_allowed);

async fn integrations_stay_in_their_tenant(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    let name = webhook_receiver().endpoint("iso");
    let h = hook(&app, &a, &name, &["contact.created"], 200).await;
    let hook_id = h["id"].as_str().unwrap();
    let (a_key, a_key_id) = key(&app, &a, &["all"], json!({})).await;
    app.post("/api/contacts")
        .bearer(&a.token)
        .json(json!({"first_name": "Ada"}))
        .send()
        .await
        .created("a contact");
    app.run_jobs().await;
    let delivery = app
        .get(&format!("/api/webhooks/{hook_id}/deliveries"))
        .bearer(&a.token)
        .send()
        .await
        .ok("A's deliveries");
    let delivery_id = delivery.body["data"][0]["id"].as_str().unwrap().to_owned();
    let before = (
        app.get(&format!("/api/webhooks/{hook_id}"))
            .bearer(&a.token)
            .send()
            .await
            .body,
        app.get("/api/api-keys").bearer(&a.token).send().await.body["data"][0]["revoked_at"]
            .clone(),
    );

    for (method, path) in [
        ("GET", format!("/api/webhooks/{hook_id}")),
        ("PATCH", format!("/api/webhooks/{hook_id}")),
        ("DELETE", format!("/api/webhooks/{hook_id}")),
        ("POST", format!("/api/webhooks/{hook_id}/test")),
        ("POST", format!("/api/webhooks/{hook_id}/rotate-secret")),
        ("GET", format!("/api/webhooks/{hook_id}/deliveries")),
        (
            "POST",
            format!("/api/webhooks/{hook_id}/deliveries/{delivery_id}/retry"),
        ),
        ("DELETE", format!("/api/api-keys/{a_key_id}")),
    ] {
        let req = match method {
            "GET" => app.get(&path),
            "POST" => app.post(&path),
            "PATCH" => app.patch(&path).json(json!({"enabled": false})),
            _ => app.delete(&path),
        };
        let r = req.bearer(&b.token).send().await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let lists = [
        app.get("/api/webhooks").bearer(&b.token).send().await,
        app.get("/api/api-keys").bearer(&b.token).send().await,
    ];
    for l in lists {
        assert_eq!(l.body["data"], json!([]), "{}", l.body);
    }
    // B's own webhook and key see B's records only.
    let r = app
        .post("/api/webhooks")
        .bearer(&b.token)
        .json(json!({"url": webhook_receiver().url("b"), "events": ["contact.created"]}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let (b_key, _) = key(&app, &b, &["all"], json!({})).await;
    let contacts = app.get("/api/contacts").bearer(&b_key).send().await;
    assert_eq!(contacts.body["data"], json!([]));
    let contacts = app.get("/api/contacts").bearer(&a_key).send().await;
    assert_eq!(contacts.body["data"].as_array().unwrap().len(), 1);
    let after = (
        app.get(&format!("/api/webhooks/{hook_id}"))
            .bearer(&a.token)
            .send()
            .await
            .body,
        app.get("/api/api-keys").bearer(&a.token).send().await.body["data"][0]["revoked_at"]
            .clone(),
    );
    assert_eq!(before, after);
}
both!(integrations_stay_in_their_tenant, super::allow_private);
