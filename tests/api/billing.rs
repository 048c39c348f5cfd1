//! Billing with Stripe, against a local fake of Stripe's API and with
//! webhook events signed by the test secret.

use crate::support::stripe::{self, event, invoice_object, FakeStripe};
use crate::support::{Resp, Tenant, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// Runs `async fn(TestApp, FakeStripe)` on both backends, billing on
/// against a fresh fake.
macro_rules! billing_test {
    ($name:ident) => {
        mod $name {
            use $crate::support::{Backend, FakeStripe, TestApp};
            async fn run(backend: Backend) {
                let stripe = FakeStripe::start().await;
                let app = TestApp::spawn_with(backend, |c| stripe.configure(c)).await;
                super::$name(app, stripe).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_url().is_none() {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                    return;
                }
                run(Backend::Postgres).await
            }
        }
    };
}

async fn billing(app: &TestApp, t: &Tenant) -> Value {
    app.get("/api/billing")
        .bearer(&t.token)
        .send()
        .await
        .ok("read the billing view")
        .body["data"]
        .clone()
}

async fn subscription(app: &TestApp, t: &Tenant) -> Value {
    app.get("/api/tenants/subscription")
        .bearer(&t.token)
        .send()
        .await
        .ok("read the subscription")
        .body["data"]
        .clone()
}

/// Delivers a signed event of `kind` around `object`, created `at`; it
/// must be acknowledged (200).
async fn deliver(
    app: &TestApp,
    id: &str,
    kind: &str,
    at: DateTime<Utc>,
    object: Value,
    step: &str,
) -> Resp {
    app.stripe_event(&event(id, kind, at, object))
        .await
        .ok(step)
}

/// Moves the clock on by `days`, signing the owner in again (a token
/// lives a day).
async fn days_pass(app: &TestApp, t: &mut Tenant, days: i64) {
    app.advance(Duration::days(days));
    t.token = app.login_ok(&t.email, PASSWORD).await;
}

/// A write of the tenant's: creating a contact.
async fn write(app: &TestApp, t: &Tenant) -> Resp {
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "Ada", "last_name": "Lovelace"}))
        .send()
        .await
}

/// The tenant's audit entries of `action`.
async fn audited(app: &TestApp, t: &Tenant, action: &str) -> Vec<Value> {
    let r = app
        .get("/api/audit-log?limit=100")
        .bearer(&t.token)
        .send()
        .await
        .ok("read the audit log");
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// Checkout through the API, then the events Stripe sends when the
/// customer has paid: the tenant is active on `price`'s plan. Returns the
/// customer and subscription ids.
async fn subscribe(
    app: &TestApp,
    stripe: &FakeStripe,
    t: &Tenant,
    plan: &str,
    price: &str,
) -> (String, String) {
    let r = app
        .post("/api/billing/checkout")
        .bearer(&t.token)
        .json(json!({"plan": plan, "interval": "monthly"}))
        .send()
        .await
        .ok("start checkout");
    let session = r.body["data"]["session_id"].as_str().unwrap().to_owned();
    let customer = stripe
        .calls("POST", "/v1/checkout/sessions")
        .last()
        .unwrap()
        .param("customer")
        .unwrap()
        .to_owned();
    let sub_id = format!("sub_{}", &t.id[..8]);
    let now = app.clock_now();
    let completed = json!({
        "id": session, "object": "checkout.session", "mode": "subscription",
        "customer": customer, "subscription": sub_id, "client_reference_id": t.id,
        "payment_status": "paid", "status": "complete",
        "metadata": {"tenant_id": t.id, "plan": plan, "interval": "monthly"},
    });
    deliver(
        app,
        &format!("evt_cs_{session}"),
        "checkout.session.completed",
        now,
        completed,
        "checkout.session.completed",
    )
    .await;
    let sub = stripe.subscription(
        &sub_id,
        &customer,
        &t.id,
        price,
        "active",
        now + Duration::days(30),
    );
    deliver(
        app,
        &format!("evt_created_{sub_id}"),
        "customer.subscription.created",
        now,
        sub,
        "customer.subscription.created",
    )
    .await;
    (customer, sub_id)
}

async fn without_a_secret_key_billing_is_off(app: TestApp) {
    let t = app.register("Offline Billing").await;
    for (method, path, body) in [
        ("GET", "/api/billing", None),
        (
            "POST",
            "/api/billing/checkout",
            Some(json!({"plan": "starter", "interval": "monthly"})),
        ),
        ("POST", "/api/billing/portal", None),
        (
            "POST",
            "/api/billing/change",
            Some(json!({"plan": "starter", "interval": "monthly"})),
        ),
    ] {
        let mut req = app.req(method.parse().unwrap(), path).bearer(&t.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await;
        assert_eq!(r.status, 503, "{method} {path}: {}", r.body);
        assert_eq!(r.code(), "billing_not_configured");
    }
    let r = app
        .stripe_event(&event(
            "evt_1",
            "invoice.paid",
            app.clock_now(),
            json!({"id": "in_1"}),
        ))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "billing_not_configured");
    // Plans still change by hand.
    app.admin_patch_tenant(&t, json!({"plan": "starter"})).await;
    assert_eq!(subscription(&app, &t).await["plan"], "starter");
}
crate::both!(without_a_secret_key_billing_is_off);

async fn checkout_creates_the_customer_once_and_a_subscription_session(
    app: TestApp,
    stripe: FakeStripe,
) {
    let t = app.register("Checkout Co").await;
    let r = app
        .post("/api/billing/checkout")
        .bearer(&t.token)
        .json(json!({"plan": "professional", "interval": "monthly"}))
        .send()
        .await
        .ok("start checkout");
    let url = r.body["data"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/pay/cs_test_", stripe.base)),
        "{url}"
    );
    assert!(r.body["data"]["session_id"]
        .as_str()
        .unwrap()
        .starts_with("cs_test_"));

    let customers = stripe.calls("POST", "/v1/customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].param("email"), Some(t.email.as_str()));
    assert_eq!(
        customers[0].param("metadata[tenant_id]"),
        Some(t.id.as_str())
    );
    let sessions = stripe.calls("POST", "/v1/checkout/sessions");
    let s = &sessions[0];
    assert_eq!(s.param("mode"), Some("subscription"));
    assert_eq!(s.param("client_reference_id"), Some(t.id.as_str()));
    assert_eq!(s.param("metadata[tenant_id]"), Some(t.id.as_str()));
    assert_eq!(
        s.param("subscription_data[metadata][tenant_id]"),
        Some(t.id.as_str())
    );
    assert_eq!(s.param("line_items[0][price]"), Some("price_pro_m"));
    assert_eq!(s.param("line_items[0][quantity]"), Some("1"));
    assert_eq!(s.param("customer"), Some("cus_fake1"));
    let own = format!("http://{}.localhost", t.slug);
    assert!(
        s.param("success_url").unwrap().starts_with(&own),
        "{:?}",
        s.param("success_url")
    );
    assert!(s.param("cancel_url").unwrap().starts_with(&own));
    for r in stripe.requests() {
        assert!(
            r.idempotency_key.is_some(),
            "{} {} without an Idempotency-Key",
            r.method,
            r.path
        );
        assert_eq!(r.stripe_version.as_deref(), Some("2025-03-31.basil"));
    }

    // A second checkout (the first was abandoned) reuses the customer.
    app.post("/api/billing/checkout")
        .bearer(&t.token)
        .json(json!({"plan": "starter", "interval": "yearly"}))
        .send()
        .await
        .ok("checkout again");
    assert_eq!(stripe.calls("POST", "/v1/customers").len(), 1);
    let again = stripe.calls("POST", "/v1/checkout/sessions");
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].param("customer"), Some("cus_fake1"));
    assert_eq!(
        again[1].param("line_items[0][price]"),
        Some("price_starter_y")
    );
    assert_ne!(again[0].idempotency_key, again[1].idempotency_key);

    // Bad choices are refused before Stripe is asked anything.
    let before = stripe.requests().len();
    for (body, field) in [
        (json!({"plan": "gold", "interval": "monthly"}), None),
        (
            json!({"plan": "trial", "interval": "monthly"}),
            Some("plan"),
        ),
        (
            json!({"plan": "enterprise", "interval": "yearly"}),
            Some("interval"),
        ),
        (json!({"plan": "starter"}), Some("interval")),
        (json!({"plan": "starter", "interval": "weekly"}), None),
    ] {
        let r = app
            .post("/api/billing/checkout")
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        if let Some(f) = field {
            assert!(
                r.body["error"]["details"]["fields"][f].is_string(),
                "{}",
                r.body
            );
        }
    }
    // Only admins buy.
    let (_, user) = app.add_user(&t, "plain.checkout@example.com", "user").await;
    let r = app
        .post("/api/billing/checkout")
        .bearer(&user)
        .json(json!({"plan": "starter", "interval": "monthly"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(stripe.requests().len(), before);
    assert_eq!(audited(&app, &t, "billing.checkout_started").await.len(), 2);
}
billing_test!(checkout_creates_the_customer_once_and_a_subscription_session);

async fn forged_stale_and_altered_events_change_nothing(app: TestApp, _stripe: FakeStripe) {
    let t = app.register("Forgery Target").await;
    let now = app.clock_now();
    let sub = stripe::subscription_object(
        "sub_forged",
        "cus_x",
        &t.id,
        "price_ent_m",
        "active",
        now + Duration::days(30),
    );
    let body = event("evt_forged", "customer.subscription.created", now, sub)
        .to_string()
        .into_bytes();
    let send = |signature: String, body: Vec<u8>| {
        let app = &app;
        async move {
            app.post("/api/billing/webhook")
                .header("stripe-signature", &signature)
                .raw("application/json", body)
                .send()
                .await
        }
    };
    let t0 = now.timestamp();
    // Signed with another secret.
    let r = send(stripe::signature("whsec_not_ours", t0, &body), body.clone()).await;
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{}", r.body);
    // Signed right, but ten minutes ago (a replay).
    let r = send(
        stripe::signature(stripe::WEBHOOK_SECRET, t0 - 600, &body),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Signed right, then the body changed.
    let good = stripe::signature(stripe::WEBHOOK_SECRET, t0, &body);
    let altered = String::from_utf8(body.clone())
        .unwrap()
        .replace("price_ent_m", "price_pro_m")
        .into_bytes();
    let r = send(good.clone(), altered).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // No signature, a mangled one, a signed body that is not an event.
    let r = app
        .post("/api/billing/webhook")
        .raw("application/json", body.clone())
        .send()
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = send("t=abc,v1=zz".into(), body.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let junk = b"{\"hello\": 1}".to_vec();
    let r = send(stripe::signature(stripe::WEBHOOK_SECRET, t0, &junk), junk).await;
    assert_eq!(r.status, 400, "{}", r.body);

    assert_eq!(app.count("billing_events").await, 0);
    assert_eq!(subscription(&app, &t).await["plan"], "trial");
    assert!(audited(&app, &t, "billing.subscription_changed")
        .await
        .is_empty());

    // The same bytes, rightly signed, are applied.
    let r = send(good, body).await.ok("the genuine event");
    assert_eq!(r.body["data"]["outcome"], "applied");
    assert_eq!(subscription(&app, &t).await["plan"], "enterprise");
}
billing_test!(forged_stale_and_altered_events_change_nothing);

async fn a_duplicate_event_is_processed_once(app: TestApp, stripe: FakeStripe) {
    let t = app.register("Duplicate Events").await;
    let (customer, sub) = subscribe(&app, &stripe, &t, "starter", "price_starter_m").await;
    let failed = event(
        "evt_failed_once",
        "invoice.payment_failed",
        app.clock_now() + Duration::seconds(5),
        invoice_object("in_dup", &customer, &sub, 2_900, "open"),
    );
    let first = app.stripe_event(&failed).await.ok("first delivery");
    assert_eq!(first.body["data"]["duplicate"], false);
    let again = app.stripe_event(&failed).await.ok("second delivery");
    assert_eq!(again.body["data"]["duplicate"], true);
    assert_eq!(again.body["data"]["outcome"], "applied");
    // One state change, one e-mail per admin, one audit entry.
    let changes = audited(&app, &t, "billing.subscription_changed").await;
    let by_this: Vec<_> = changes
        .iter()
        .filter(|e| e["after"]["stripe_event"] == "evt_failed_once")
        .collect();
    assert_eq!(by_this.len(), 1, "{changes:?}");
    let messages = app
        .get("/api/messages")
        .bearer(&t.token)
        .send()
        .await
        .ok("messages");
    let failed_mails = messages.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "payment_failed")
        .count();
    assert_eq!(failed_mails, 1, "{}", messages.body);
}
billing_test!(a_duplicate_event_is_processed_once);

async fn an_older_subscription_event_never_overwrites_a_newer_one(
    app: TestApp,
    stripe: FakeStripe,
) {
    let t = app.register("Out Of Order").await;
    let (customer, sub_id) = subscribe(&app, &stripe, &t, "starter", "price_starter_m").await;
    let t0 = app.clock_now();
    let end = t0 + Duration::days(30);
    let newer =
        stripe::subscription_object(&sub_id, &customer, &t.id, "price_pro_m", "active", end);
    let older = stripe::subscription_object(
        &sub_id,
        &customer,
        &t.id,
        "price_starter_m",
        "past_due",
        end,
    );
    // The newer update arrives first…
    let r = deliver(
        &app,
        "evt_upd_2",
        "customer.subscription.updated",
        t0 + Duration::seconds(20),
        newer,
        "the newer update",
    )
    .await;
    assert_eq!(r.body["data"]["outcome"], "applied");
    // …then the older one, late: recorded, not applied.
    let r = deliver(
        &app,
        "evt_upd_1",
        "customer.subscription.updated",
        t0 + Duration::seconds(10),
        older,
        "the older update",
    )
    .await;
    assert_eq!(r.body["data"]["outcome"], "stale");
    let b = billing(&app, &t).await;
    assert_eq!(b["plan"], "professional");
    assert_eq!(b["status"], "active");
    assert_eq!(b["past_due_since"], Value::Null);
    assert_eq!(subscription(&app, &t).await["plan"], "professional");
}
billing_test!(an_older_subscription_event_never_overwrites_a_newer_one);

/// The whole life of a paying customer: trial → checkout → active
/// professional → payment failed → past due → grace passes → 402
/// `payment_required` → invoice paid → active → subscription deleted →
/// 402 `subscription_inactive`.
async fn a_trial_becomes_a_paying_customer_and_follows_its_subscription(
    app: TestApp,
    stripe: FakeStripe,
) {
    let mut t = app.register("Lifecycle Realty").await;
    let s = subscription(&app, &t).await;
    assert_eq!(
        (s["plan"].as_str(), s["status"].as_str()),
        (Some("trial"), Some("trialing"))
    );
    let b = billing(&app, &t).await;
    assert_eq!(b["status"], Value::Null);
    assert!(b["plans"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["plan"] == "professional" && p["intervals"] == json!(["monthly", "yearly"])));

    let (customer, sub_id) = subscribe(&app, &stripe, &t, "professional", "price_pro_m").await;
    let s = subscription(&app, &t).await;
    assert_eq!(s["plan"], "professional");
    assert_eq!(s["status"], "active");
    assert_eq!(s["max_users"], 25);
    let me = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await
        .ok("tenant");
    assert_eq!(me.body["data"]["status"], "active");
    let b = billing(&app, &t).await;
    assert_eq!(b["interval"], "monthly");
    assert_eq!(b["status"], "active");
    assert!(b["current_period_end"].is_string());
    write(&app, &t).await.created("write while active");

    // The renewal fails: past due, the admins are told, writes go on.
    days_pass(&app, &mut t, 30).await;
    let failed = invoice_object("in_renew", &customer, &sub_id, 7_900, "open");
    deliver(
        &app,
        "evt_fail",
        "invoice.payment_failed",
        app.clock_now(),
        failed,
        "invoice.payment_failed",
    )
    .await;
    let b = billing(&app, &t).await;
    assert_eq!(b["status"], "past_due");
    assert_eq!(b["writes_blocked"], Value::Null);
    assert!(b["grace_ends_at"].is_string());
    write(&app, &t).await.created("write in the grace days");
    let messages = app
        .get("/api/messages")
        .bearer(&t.token)
        .send()
        .await
        .ok("messages");
    assert!(messages.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "payment_failed"));

    // The grace days pass: writes answer 402, reads go on.
    days_pass(&app, &mut t, 7).await;
    let r = write(&app, &t).await;
    assert_eq!(
        (r.status, r.code()),
        (402, "payment_required"),
        "{}",
        r.body
    );
    app.get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("reads go on");
    assert_eq!(
        billing(&app, &t).await["writes_blocked"],
        "payment_required"
    );
    // Paying is still possible: billing's own routes are not blocked.
    app.post("/api/billing/portal")
        .bearer(&t.token)
        .send()
        .await
        .ok("open the portal");

    // The invoice is paid: active again.
    let paid = invoice_object("in_renew", &customer, &sub_id, 7_900, "paid");
    deliver(
        &app,
        "evt_paid",
        "invoice.paid",
        app.clock_now(),
        paid,
        "invoice.paid",
    )
    .await;
    let b = billing(&app, &t).await;
    assert_eq!(b["status"], "active");
    assert_eq!(b["writes_blocked"], Value::Null);
    write(&app, &t).await.created("write once paid");
    let invoices = b["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["status"], "paid");
    assert_eq!(invoices[0]["amount_paid"], 7_900);
    assert_eq!(
        invoices[0]["hosted_invoice_url"],
        "https://invoice.stripe.test/in_renew"
    );

    // The subscription is deleted: read-only, data kept.
    days_pass(&app, &mut t, 3).await;
    let sub = stripe::subscription_object(
        &sub_id,
        &customer,
        &t.id,
        "price_pro_m",
        "canceled",
        app.clock_now(),
    );
    deliver(
        &app,
        "evt_deleted",
        "customer.subscription.deleted",
        app.clock_now(),
        sub,
        "customer.subscription.deleted",
    )
    .await;
    let r = write(&app, &t).await;
    assert_eq!(
        (r.status, r.code()),
        (402, "subscription_inactive"),
        "{}",
        r.body
    );
    let contacts = app
        .get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("data is kept");
    assert_eq!(contacts.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(subscription(&app, &t).await["status"], "cancelled");

    // Every change names its Stripe event.
    let changes = audited(&app, &t, "billing.subscription_changed").await;
    for id in ["evt_fail", "evt_paid", "evt_deleted"] {
        assert!(
            changes.iter().any(|e| e["after"]["stripe_event"] == id),
            "{id}: {changes:?}"
        );
    }
    assert!(changes.iter().all(|e| e["actor_type"] == "system"));

    // Subscribing again makes it writable again.
    let r = app
        .post("/api/billing/checkout")
        .bearer(&t.token)
        .json(json!({"plan": "starter", "interval": "monthly"}))
        .send()
        .await
        .ok("checkout after cancellation");
    assert!(r.body["data"]["url"].is_string());
}
billing_test!(a_trial_becomes_a_paying_customer_and_follows_its_subscription);

async fn an_expired_trial_can_still_pay(app: TestApp, stripe: FakeStripe) {
    let mut t = app.register("Late Payer").await;
    days_pass(&app, &mut t, 15).await;
    let r = write(&app, &t).await;
    assert_eq!(r.code(), "trial_expired", "{}", r.body);
    subscribe(&app, &stripe, &t, "starter", "price_starter_m").await;
    write(&app, &t).await.created("write once subscribed");
    let s = subscription(&app, &t).await;
    assert_eq!(s["trial_expired"], false);
    assert_eq!(s["plan"], "starter");
}
billing_test!(an_expired_trial_can_still_pay);

async fn a_downgrade_below_current_usage_is_refused_before_stripe_hears_of_it(
    app: TestApp,
    stripe: FakeStripe,
) {
    let t = app.register("Busy Team").await;
    let (_, sub_id) = subscribe(&app, &stripe, &t, "professional", "price_pro_m").await;
    for n in 0..5 {
        app.create_user(&t.token, &format!("member{n}.busy@example.com"))
            .await
            .created("add a user");
    }
    // Six active users; the starter plan allows five.
    let r = app
        .post("/api/billing/change")
        .bearer(&t.token)
        .json(json!({"plan": "starter", "interval": "monthly"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"],
        json!({"limit": "users", "used": 6, "max": 5})
    );
    let path = format!("/v1/subscriptions/{sub_id}");
    assert!(stripe.calls("POST", &path).is_empty());
    // The same plan and interval: nothing to change.
    let r = app
        .post("/api/billing/change")
        .bearer(&t.token)
        .json(json!({"plan": "professional", "interval": "monthly"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Up to enterprise, prorated: applied from Stripe's answer at once.
    let r = app
        .post("/api/billing/change")
        .bearer(&t.token)
        .json(json!({"plan": "enterprise", "interval": "monthly"}))
        .send()
        .await
        .ok("upgrade");
    assert_eq!(r.body["data"]["plan"], "enterprise");
    let calls = stripe.calls("POST", &path);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].param("items[0][id]"),
        Some(format!("si_{sub_id}").as_str())
    );
    assert_eq!(calls[0].param("items[0][price]"), Some("price_ent_m"));
    assert_eq!(
        calls[0].param("proration_behavior"),
        Some("create_prorations")
    );
    assert!(calls[0].idempotency_key.is_some());
    assert_eq!(subscription(&app, &t).await["max_users"], Value::Null);
}
billing_test!(a_downgrade_below_current_usage_is_refused_before_stripe_hears_of_it);

async fn the_billing_view_shows_the_card_and_invoices_the_webhooks_stored(
    app: TestApp,
    stripe: FakeStripe,
) {
    let t = app.register("Card Holder").await;
    let r = app
        .post("/api/billing/portal")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "no customer yet: {}", r.body);
    let (customer, sub_id) = subscribe(&app, &stripe, &t, "starter", "price_starter_m").await;

    // The subscription names its card by id: a job fetches its details.
    let mut sub = stripe::subscription_object(
        &sub_id,
        &customer,
        &t.id,
        "price_starter_m",
        "active",
        app.clock_now() + Duration::days(30),
    );
    sub["default_payment_method"] = json!("pm_card_1");
    deliver(
        &app,
        "evt_pm",
        "customer.subscription.updated",
        app.clock_now() + Duration::seconds(1),
        sub,
        "subscription with a card",
    )
    .await;
    app.run_jobs().await;
    let b = billing(&app, &t).await;
    assert_eq!(b["card"], json!({"brand": "mastercard", "last4": "4444"}));
    assert!(stripe.calls("GET", "/v1/payment_methods/pm_card_1").len() == 1);

    // A card attached later.
    let pm = json!({"id": "pm_2", "object": "payment_method", "customer": customer, "card": {"brand": "visa", "last4": "4242"}});
    deliver(
        &app,
        "evt_attach",
        "payment_method.attached",
        app.clock_now() + Duration::seconds(2),
        pm,
        "payment_method.attached",
    )
    .await;
    assert_eq!(
        billing(&app, &t).await["card"],
        json!({"brand": "visa", "last4": "4242"})
    );

    for (n, id) in ["in_a", "in_b"].iter().enumerate() {
        let inv = invoice_object(id, &customer, &sub_id, 2_900, "paid");
        deliver(
            &app,
            &format!("evt_inv_{n}"),
            "invoice.paid",
            app.clock_now() + Duration::seconds(3 + n as i64),
            inv,
            "invoice.paid",
        )
        .await;
    }
    let b = billing(&app, &t).await;
    assert_eq!(b["invoices"].as_array().unwrap().len(), 2);
    assert_eq!(b["invoices"][0]["currency"], "usd");
    assert_eq!(b["cancel_at_period_end"], false);

    // Cancellation at the period's end is shown; the tenant stays active.
    let mut sub = stripe::subscription_object(
        &sub_id,
        &customer,
        &t.id,
        "price_starter_m",
        "active",
        app.clock_now() + Duration::days(30),
    );
    sub["cancel_at_period_end"] = json!(true);
    deliver(
        &app,
        "evt_cancel_later",
        "customer.subscription.updated",
        app.clock_now() + Duration::seconds(9),
        sub,
        "cancel at period end",
    )
    .await;
    assert_eq!(billing(&app, &t).await["cancel_at_period_end"], true);
    write(&app, &t).await.created("still writable");

    let r = app
        .post("/api/billing/portal")
        .bearer(&t.token)
        .send()
        .await
        .ok("portal");
    assert!(r.body["data"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/portal/", stripe.base)));
    let portal = stripe.calls("POST", "/v1/billing_portal/sessions");
    assert_eq!(portal[0].param("customer"), Some(customer.as_str()));
    assert!(portal[0]
        .param("return_url")
        .unwrap()
        .ends_with("/settings/subscription"));
}
billing_test!(the_billing_view_shows_the_card_and_invoices_the_webhooks_stored);

async fn a_platform_suspension_wins_over_billing(app: TestApp, stripe: FakeStripe) {
    let t = app.register("Suspended Payer").await;
    let (customer, sub_id) = subscribe(&app, &stripe, &t, "starter", "price_starter_m").await;
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    app.post(&format!("/api/tenants/{}/suspend", t.id))
        .bearer(&admin)
        .json(json!({"reason": "abuse"}))
        .send()
        .await
        .ok("suspend");
    let sub = stripe::subscription_object(
        &sub_id,
        &customer,
        &t.id,
        "price_pro_m",
        "active",
        app.clock_now() + Duration::days(30),
    );
    deliver(
        &app,
        "evt_after_suspend",
        "customer.subscription.updated",
        app.clock_now() + Duration::seconds(30),
        sub,
        "an update while suspended",
    )
    .await;
    let r = app.get("/api/contacts").bearer(&t.token).send().await;
    assert_eq!(
        (r.status, r.code()),
        (403, "tenant_suspended"),
        "{}",
        r.body
    );
    let detail = app
        .get(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .send()
        .await
        .ok("detail");
    assert_eq!(detail.body["data"]["tenant"]["status"], "suspended");
    assert_eq!(detail.body["data"]["billing"]["customer_id"], customer);
    assert_eq!(detail.body["data"]["billing"]["subscription_id"], sub_id);
}
billing_test!(a_platform_suspension_wins_over_billing);

async fn the_platform_sees_revenue_and_who_is_past_due(app: TestApp, stripe: FakeStripe) {
    let a = app.register("Revenue One").await;
    let b = app.register("Revenue Two").await;
    let _trial = app.register("Still Trying").await;
    subscribe(&app, &stripe, &a, "professional", "price_pro_m").await;
    let (customer, sub) = subscribe(&app, &stripe, &b, "starter", "price_starter_m").await;
    deliver(
        &app,
        "evt_b_fail",
        "invoice.payment_failed",
        app.clock_now() + Duration::seconds(1),
        invoice_object("in_b", &customer, &sub, 2_900, "open"),
        "b fails to pay",
    )
    .await;
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .get("/api/platform/billing")
        .bearer(&admin)
        .send()
        .await
        .ok("overview");
    let o = &r.body["data"];
    assert_eq!(o["mrr_cents"], 7_900 + 2_900, "{o}");
    assert_eq!(
        o["subscriptions"],
        json!([{"plan": "starter", "count": 1}, {"plan": "professional", "count": 1}])
    );
    let past_due = o["past_due"].as_array().unwrap();
    assert_eq!(past_due.len(), 1);
    assert_eq!(past_due[0]["slug"], b.slug.as_str());
    // Tenants do not see it.
    let r = app
        .get("/api/platform/billing")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
billing_test!(the_platform_sees_revenue_and_who_is_past_due);

async fn an_event_changes_only_its_own_tenant(app: TestApp, stripe: FakeStripe) {
    let a = app.register("Payer Alpha").await;
    let b = app.register("Bystander Beta").await;
    let (customer, sub) = subscribe(&app, &stripe, &a, "starter", "price_starter_m").await;
    deliver(
        &app,
        "evt_inv_alpha",
        "invoice.paid",
        app.clock_now() + Duration::seconds(1),
        invoice_object("in_alpha", &customer, &sub, 2_900, "paid"),
        "a's invoice",
    )
    .await;
    let bv = billing(&app, &b).await;
    assert_eq!(bv["status"], Value::Null);
    assert!(bv["invoices"].as_array().unwrap().is_empty());
    assert_eq!(subscription(&app, &b).await["plan"], "trial");
    // B's billing calls use B's records, never A's customer or subscription.
    let r = app
        .post("/api/billing/portal")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "b has no customer: {}", r.body);
    let r = app
        .post("/api/billing/change")
        .bearer(&b.token)
        .json(json!({"plan": "professional", "interval": "monthly"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "b has no subscription: {}", r.body);
    app.post("/api/billing/checkout")
        .bearer(&b.token)
        .json(json!({"plan": "starter", "interval": "monthly"}))
        .send()
        .await
        .ok("b's checkout");
    let sessions = stripe.calls("POST", "/v1/checkout/sessions");
    let last = sessions.last().unwrap();
    assert_eq!(last.param("client_reference_id"), Some(b.id.as_str()));
    assert_ne!(last.param("customer"), Some(customer.as_str()));
    assert!(stripe
        .calls("POST", &format!("/v1/subscriptions/{sub}"))
        .is_empty());
    // An event for a customer that is not ours is acknowledged, not applied.
    let stranger = stripe::subscription_object(
        "sub_other",
        "cus_unknown",
        "not-a-tenant",
        "price_pro_m",
        "active",
        app.clock_now(),
    );
    let r = deliver(
        &app,
        "evt_stranger",
        "customer.subscription.updated",
        app.clock_now(),
        stranger,
        "someone else's event",
    )
    .await;
    assert_eq!(r.body["data"]["outcome"], "ignored");
    // Other event types are acknowledged too.
    let r = deliver(
        &app,
        "evt_other",
        "customer.created",
        app.clock_now(),
        json!({"id": customer, "object": "customer"}),
        "an event we do not act on",
    )
    .await;
    assert_eq!(r.body["data"]["outcome"], "ignored");
}
billing_test!(an_event_changes_only_its_own_tenant);

/// The pages: the trial banner's "Upgrade", the plan chooser, Checkout
/// (the fake's page), back to the subscription settings showing the new
/// plan once the webhook came, the portal, a plan change, the past-due
/// banner every user sees, and the platform's revenue. Another tenant's
/// forms act on their own tenant only.
async fn the_pages_lead_from_the_plan_chooser_to_checkout_and_back(
    app: TestApp,
    stripe: FakeStripe,
) {
    use crate::pages::{location, signed_in, Browser};
    let t = app.register("Page Payer").await;
    let mut b = signed_in(&app, &t).await;
    let dash = b.get("/dashboard").await;
    assert!(
        dash.text.contains("href=\"/upgrade\""),
        "the trial banner leads to the plans"
    );
    let plans = b.get("/upgrade").await;
    assert!(
        plans.text.contains("Choose Professional, monthly")
            && plans.text.contains("Choose Professional, yearly")
    );
    assert!(
        plans.text.contains("Core CRM"),
        "features are named for people"
    );

    let r = b
        .submit(
            "/upgrade",
            "/billing/checkout",
            &[("plan", "professional"), ("interval", "monthly")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refresh = r
        .headers
        .get("refresh")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        refresh.starts_with(&format!("0; url={}/pay/cs_test_", stripe.base)),
        "{refresh}"
    );
    let session = refresh.rsplit('/').next().unwrap().to_owned();
    let customer = stripe.calls("POST", "/v1/customers")[0].clone();
    assert_eq!(customer.param("metadata[tenant_id]"), Some(t.id.as_str()));
    let customer = "cus_fake1";

    // Paid at Stripe; its events arrive; the customer is sent back.
    let now = app.clock_now();
    let completed = json!({"id": session, "object": "checkout.session", "mode": "subscription",
        "customer": customer, "subscription": "sub_pages", "client_reference_id": t.id,
        "payment_status": "paid", "metadata": {"tenant_id": t.id, "plan": "professional", "interval": "monthly"}});
    deliver(
        &app,
        "evt_pages_cs",
        "checkout.session.completed",
        now,
        completed,
        "completed",
    )
    .await;
    let page = b.get("/settings/subscription?checkout=success").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Thank you") && page.text.contains("data-plan=\"professional\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("Manage billing"));
    assert!(
        !b.get("/dashboard").await.text.contains("left in trial"),
        "the trial banner is gone"
    );

    let sub = stripe.subscription(
        "sub_pages",
        customer,
        &t.id,
        "price_pro_m",
        "active",
        now + Duration::days(30),
    );
    deliver(
        &app,
        "evt_pages_sub",
        "customer.subscription.created",
        now,
        sub,
        "created",
    )
    .await;
    let r = b
        .submit("/settings/subscription", "/billing/portal", &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r
        .headers
        .get("refresh")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("/portal/bps_"));

    let r = b
        .submit(
            "/settings/subscription",
            "/billing/change",
            &[("plan", "enterprise"), ("interval", "monthly")],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/settings/subscription"),
        "{}",
        r.text
    );
    let page = b.get("/settings/subscription").await;
    assert!(
        page.text.contains("data-plan=\"enterprise\"") && page.text.contains("prorated"),
        "{}",
        page.text
    );

    // A failed renewal: every user sees it, admins get the way to pay.
    let failed = invoice_object("in_pages", customer, "sub_pages", 19_900, "open");
    deliver(
        &app,
        "evt_pages_fail",
        "invoice.payment_failed",
        now + Duration::seconds(5),
        failed,
        "failed",
    )
    .await;
    app.add_user(&t, "plain.pages@example.com", "user").await;
    let mut plain = Browser::new(&app);
    plain
        .login("plain.pages@example.com", crate::support::PASSWORD)
        .await;
    let dash = plain.get("/dashboard").await;
    assert!(
        dash.text.contains("A payment failed.") && dash.text.contains("Your admins have been told"),
        "{}",
        dash.text
    );
    assert!(b.get("/dashboard").await.text.contains("Update billing"));
    let page = b.get("/settings/subscription").await;
    assert!(
        page.text.contains("INV-in_pages") && page.text.contains("199.00 USD"),
        "{}",
        page.text
    );

    // Another tenant's forms act on itself only.
    let other = app.register("Page Bystander").await;
    let mut ob = signed_in(&app, &other).await;
    let r = ob.submit("/upgrade", "/billing/portal", &[]).await;
    assert_eq!(r.status, 409, "no customer of its own: {}", r.text);
    let r = ob
        .submit(
            "/upgrade",
            "/billing/change",
            &[("plan", "starter"), ("interval", "monthly")],
        )
        .await;
    assert_eq!(r.status, 409, "no subscription of its own");
    assert_eq!(stripe.calls("POST", "/v1/subscriptions/sub_pages").len(), 1);

    // The vendor's dashboard shows the revenue and who is past due.
    let mut ops = Browser::new(&app);
    ops.submit(
        "/admin/login",
        "/admin/login",
        &[("username", ADMIN_USERNAME), ("password", ADMIN_PASSWORD)],
    )
    .await;
    let admin = ops.get("/admin").await;
    assert!(
        admin.text.contains("Monthly recurring revenue") && admin.text.contains("199.00 USD"),
        "{}",
        admin.text
    );
    assert!(admin.text.contains("Page Payer"));
    let detail = ops.get(&format!("/admin/tenants/{}", t.id)).await;
    assert!(detail.text.contains("sub_pages") && detail.text.contains(customer));
}
billing_test!(the_pages_lead_from_the_plan_chooser_to_checkout_and_back);
