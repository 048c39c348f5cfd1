//! A local fake of the parts of Stripe's API the server calls, and signed
//! webhook events: no test reaches the Internet.
//!
//! It answers like Stripe (form-encoded requests, JSON answers, errors in
//! `{"error": {…}}`), checks the secret key, the pinned `Stripe-Version` and
//! that every write carries an `Idempotency-Key` (replaying the first answer
//! for a repeated key, as Stripe does), and records every request.
//!
//! ```ignore
//! let stripe = FakeStripe::start().await;
//! let app = TestApp::spawn_with(backend, |c| stripe.configure(c)).await;
//! app.stripe_event(&stripe, "customer.subscription.created", object).await;
//! ```

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SECRET_KEY: &str = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc";
pub const WEBHOOK_SECRET: &str = "whsec_test_fake_secret";
/// The prices the fake sells: (price id, plan, interval).
pub const PRICES: &[(&str, &str, &str)] = &[
    ("price_starter_m", "starter", "month"),
    ("price_starter_y", "starter", "year"),
    ("price_pro_m", "professional", "month"),
    ("price_pro_y", "professional", "year"),
    ("price_ent_m", "enterprise", "month"),
];

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
}

impl Recorded {
    /// The value of form parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    replies: HashMap<String, (u16, Value)>,
    subscriptions: HashMap<String, Value>,
    next: u64,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe {
            base,
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    /// Billing on, against this fake.
    pub fn configure(&self, c: &mut trasealla::Config) {
        c.stripe_secret_key = Some(SECRET_KEY.into());
        c.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        c.stripe_api_base = self.base.clone();
        c.stripe_prices = PRICES
            .iter()
            .map(|(id, plan, interval)| {
                let interval = if *interval == "month" {
                    "monthly"
                } else {
                    "yearly"
                };
                format!("{plan}_{interval}={id}")
            })
            .collect::<Vec<_>>()
            .join(",");
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The requests to `method path`.
    pub fn calls(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// A subscription as Stripe sends it (API version 2025-03-31: the
    /// period on its item), kept so that the API serves and updates it.
    pub fn subscription(
        &self,
        id: &str,
        customer: &str,
        tenant_id: &str,
        price: &str,
        status: &str,
        period_end: DateTime<Utc>,
    ) -> Value {
        let sub = subscription_object(id, customer, tenant_id, price, status, period_end);
        self.inner
            .lock()
            .unwrap()
            .subscriptions
            .insert(id.to_owned(), sub.clone());
        sub
    }
}

/// A subscription object.
pub fn subscription_object(
    id: &str,
    customer: &str,
    tenant_id: &str,
    price: &str,
    status: &str,
    period_end: DateTime<Utc>,
) -> Value {
    let interval = PRICES
        .iter()
        .find(|(p, _, _)| *p == price)
        .map_or("month", |(_, _, i)| *i);
    json!({
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": false,
        "metadata": {"tenant_id": tenant_id},
        "items": {"object": "list", "data": [{
            "id": format!("si_{id}"),
            "object": "subscription_item",
            "current_period_end": period_end.timestamp(),
            "price": {"id": price, "object": "price", "recurring": {"interval": interval}},
        }]},
    })
}

/// An invoice object of `subscription`.
pub fn invoice_object(
    id: &str,
    customer: &str,
    subscription: &str,
    amount: i64,
    status: &str,
) -> Value {
    json!({
        "id": id,
        "object": "invoice",
        "customer": customer,
        "number": format!("INV-{id}"),
        "amount_due": amount,
        "amount_paid": if status == "paid" { amount } else { 0 },
        "currency": "usd",
        "status": status,
        "attempt_count": 1,
        "hosted_invoice_url": format!("https://invoice.stripe.test/{id}"),
        "created": 1_772_000_000,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription, "metadata": {}}},
    })
}

/// An event around `object`.
pub fn event(id: &str, kind: &str, created: DateTime<Utc>, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": kind,
        "created": created.timestamp(),
        "livemode": false,
        "data": {"object": object},
    })
}

/// `Stripe-Signature` for `body` at unix time `t`, signed with `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": "invalid_request_error", "message": message}})),
    )
        .into_response()
}

async fn answer(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let path = uri.path().to_owned();
    let recorded = Recorded {
        method: method.to_string(),
        path: path.clone(),
        params: params.clone(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
    };
    let mut inner = fake.inner.lock().unwrap();
    inner.requests.push(recorded.clone());
    if header("authorization").as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    if recorded.stripe_version.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "the fake wants a pinned Stripe-Version",
        );
    }
    let key = match (&method, &recorded.idempotency_key) {
        (&Method::POST, None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "every write carries an Idempotency-Key",
            )
        }
        (&Method::POST, Some(k)) => Some(format!("{path} {k}")),
        _ => None,
    };
    if let Some((status, body)) = key.as_ref().and_then(|k| inner.replies.get(k)) {
        return (
            StatusCode::from_u16(*status).unwrap(),
            axum::Json(body.clone()),
        )
            .into_response();
    }
    inner.next += 1;
    let n = inner.next;
    let p = |name: &str| recorded.param(name).unwrap_or_default().to_owned();
    let base = fake.base.clone();
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("POST", "/v1/customers") => (
            200,
            json!({"id": format!("cus_fake{n}"), "object": "customer", "email": p("email"), "name": p("name"),
                   "metadata": {"tenant_id": p("metadata[tenant_id]")}}),
        ),
        ("POST", "/v1/checkout/sessions") => {
            let id = format!("cs_test_{n}");
            (
                200,
                json!({"id": id, "object": "checkout.session", "mode": p("mode"),
                       "url": format!("{base}/pay/{id}"), "customer": p("customer"),
                       "client_reference_id": p("client_reference_id"),
                       "success_url": p("success_url"), "cancel_url": p("cancel_url"),
                       "metadata": {"tenant_id": p("metadata[tenant_id]"), "plan": p("metadata[plan]"), "interval": p("metadata[interval]")}}),
            )
        }
        ("POST", "/v1/billing_portal/sessions") => (
            200,
            json!({"id": format!("bps_{n}"), "object": "billing_portal.session",
                   "url": format!("{base}/portal/bps_{n}"), "customer": p("customer"), "return_url": p("return_url")}),
        ),
        ("GET", path) if path.starts_with("/v1/payment_methods/") => (
            200,
            json!({"id": path.trim_start_matches("/v1/payment_methods/"), "object": "payment_method",
                   "card": {"brand": "mastercard", "last4": "4444"}}),
        ),
        (m, path) if path.starts_with("/v1/subscriptions/") => {
            let id = path.trim_start_matches("/v1/subscriptions/").to_owned();
            match inner.subscriptions.get_mut(&id) {
                None => (
                    404,
                    json!({"error": {"type": "invalid_request_error", "message": format!("No such subscription: '{id}'")}}),
                ),
                Some(sub) => {
                    if m == "POST" {
                        if let Some(price) = recorded.param("items[0][price]") {
                            let interval = PRICES
                                .iter()
                                .find(|(p, _, _)| *p == price)
                                .map_or("month", |(_, _, i)| *i);
                            sub["items"]["data"][0]["price"] = json!({"id": price, "object": "price", "recurring": {"interval": interval}});
                        }
                        for (k, v) in &recorded.params {
                            if let Some(name) = k
                                .strip_prefix("metadata[")
                                .and_then(|k| k.strip_suffix(']'))
                            {
                                sub["metadata"][name] = Value::from(v.clone());
                            }
                        }
                    }
                    (200, sub.clone())
                }
            }
        }
        _ => (
            404,
            json!({"error": {"type": "invalid_request_error", "message": format!("Unrecognized request URL ({method}: {path})")}}),
        ),
    };
    if let Some(k) = key {
        inner.replies.insert(k, (status, body.clone()));
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}
