//! Stripe's webhooks: verified on the raw bytes before anything is read,
//! each event processed once, and applied so that an older state never
//! overwrites a newer one (Stripe delivers at least once and in no
//! particular order).
//!
//! Applying an event is a few row updates, done in the request's own
//! transaction so that the answer means "applied"; what takes longer (mail
//! to the admins, fetching a card's details) is queued as jobs in the same
//! transaction.

use super::{is_live, Billing, Interval};
use crate::app::App;
use crate::audit::{self, Actor, Event};
use crate::domain::{PlanCode, SubscriptionStatus, TenantId, TenantStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::templates::Notice;
use crate::plans::{Entitlements, Overrides};
use crate::store::{Access, DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Checks `Stripe-Signature` (`t=…,v1=…[,v1=…]`) against the raw body: an
/// HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint's secret, any of
/// the `v1` values, compared in constant time, within the tolerance.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                if let Ok(bytes) = hex::decode(sig) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or("the Stripe-Signature header has no timestamp")?;
    if signatures.is_empty() {
        return Err("the Stripe-Signature header has no v1 signature");
    }
    if (now.timestamp() - t).abs() > TOLERANCE_SECS {
        return Err("the signature's timestamp is too far from now");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "bad secret")?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    if signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok())
    {
        Ok(())
    } else {
        Err("no signature matches")
    }
}

/// What the webhook answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub received: bool,
    /// The event had been received before and was not processed again.
    pub duplicate: bool,
    /// `applied`, `stale` (older than the state already applied),
    /// `ignored` (not ours, or a type we do not act on).
    pub outcome: String,
}

/// An event's identity and time.
pub struct Meta<'a> {
    pub id: &'a str,
    pub created: DateTime<Utc>,
}

fn bad(message: &str) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Verifies, records and applies one webhook delivery.
pub async fn receive(app: &App, signature: Option<&str>, body: &[u8]) -> ApiResult<Receipt> {
    let billing = super::configured(app)?;
    let now = app.clock.now();
    let signature = signature.ok_or_else(|| bad("the Stripe-Signature header is missing"))?;
    verify(billing.webhook_secret(), signature, body, now).map_err(|why| {
        tracing::warn!(
            why,
            "refused a Stripe webhook whose signature does not verify"
        );
        bad("the Stripe-Signature does not verify")
    })?;
    let event: Value = serde_json::from_slice(body).map_err(|_| bad("the event is not JSON"))?;
    let (Some(id), Some(kind), Some(created), true) = (
        event["id"].as_str(),
        event["type"].as_str(),
        event["created"]
            .as_i64()
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        event["data"]["object"].is_object(),
    ) else {
        return Err(bad("the event lacks its id, type, created or data.object"));
    };
    let object = &event["data"]["object"];
    let meta = Meta { id, created };

    let mut tx = app.store.platform(Access::Write).await?;
    let fresh = tx
        .execute(
            "INSERT INTO billing_events (id, type, created, received_at, outcome)
             VALUES ($1, $2, $3, $4, 'received') ON CONFLICT (id) DO NOTHING",
            &[&id, &kind, &created, &now],
        )
        .await?;
    if fresh == 0 {
        let One(outcome): One<String> = tx
            .query_one("SELECT outcome FROM billing_events WHERE id = $1", &[&id])
            .await?;
        tx.commit().await?;
        return Ok(Receipt {
            received: true,
            duplicate: true,
            outcome,
        });
    }
    let outcome = match tenant_of(&mut tx, object).await? {
        Some(tenant) => {
            let mut scope = tx.for_tenant(tenant);
            apply(app, billing, &mut scope, kind, object, &meta, now).await?
        }
        None => {
            tracing::info!(event = id, kind, "a Stripe event for no tenant of ours");
            Outcome::Ignored
        }
    };
    tx.execute(
        "UPDATE billing_events SET outcome = $2 WHERE id = $1",
        &[&id, &outcome.as_str()],
    )
    .await?;
    tx.commit().await?;
    Ok(Receipt {
        received: true,
        duplicate: false,
        outcome: outcome.as_str().to_owned(),
    })
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Stale,
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The tenant an object belongs to: the tenant id we put in its metadata
/// (or the Checkout Session's reference), else its customer's tenant.
async fn tenant_of(
    tx: &mut crate::store::PlatformTx,
    object: &Value,
) -> ApiResult<Option<TenantId>> {
    let named = [
        &object["metadata"]["tenant_id"],
        &object["client_reference_id"],
        &object["subscription_details"]["metadata"]["tenant_id"],
        &object["parent"]["subscription_details"]["metadata"]["tenant_id"],
    ];
    for candidate in named {
        let Some(id) = candidate
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let exists: Option<One<TenantId>> = tx
            .query_opt("SELECT id FROM tenants WHERE id = $1", &[&TenantId(id)])
            .await?;
        if let Some(One(t)) = exists {
            return Ok(Some(t));
        }
    }
    let customer = match object["object"].as_str() {
        Some("customer") => object["id"].as_str(),
        _ => super::stripe::id_of(&object["customer"]),
    };
    let Some(customer) = customer else {
        return Ok(None);
    };
    let found: Option<One<TenantId>> = tx
        .query_opt(
            "SELECT tenant_id FROM subscriptions WHERE stripe_customer_id = $1",
            &[&customer],
        )
        .await?;
    Ok(found.map(|One(t)| t))
}

/// The tenant's subscription as stored, locked for the change.
#[derive(Debug, Clone)]
struct Current {
    billed: Billed,
    state_at: Option<DateTime<Utc>>,
    feature_overrides: Value,
    limit_overrides: Value,
}

/// What billing changes of a tenant: the before and after of its audit
/// entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Billed {
    plan: PlanCode,
    tenant_status: TenantStatus,
    billing_status: Option<String>,
    interval: Option<Interval>,
    customer: Option<String>,
    subscription: Option<String>,
    #[serde(skip)]
    item: Option<String>,
    #[serde(skip)]
    price: Option<String>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    past_due_since: Option<DateTime<Utc>>,
    #[serde(skip)]
    card: Option<(String, String)>,
}

impl FromRow for Current {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let brand: Option<String> = r.get("card_brand")?;
        let last4: Option<String> = r.get("card_last4")?;
        Ok(Current {
            billed: Billed {
                plan: r.get("plan")?,
                tenant_status: r.get("tenant_status")?,
                billing_status: r.get("billing_status")?,
                interval: r.get("billing_interval")?,
                customer: r.get("stripe_customer_id")?,
                subscription: r.get("stripe_subscription_id")?,
                item: r.get("stripe_item_id")?,
                price: r.get("stripe_price_id")?,
                current_period_end: r.get("current_period_end")?,
                cancel_at_period_end: r.get("cancel_at_period_end")?,
                past_due_since: r.get("past_due_since")?,
                card: brand.zip(last4),
            },
            state_at: r.get("billing_state_at")?,
            feature_overrides: r.get("feature_overrides")?,
            limit_overrides: r.get("limit_overrides")?,
        })
    }
}

async fn current(tx: &mut impl Scoped) -> ApiResult<Current> {
    let lock = match tx.dialect() {
        crate::store::Dialect::Postgres => " FOR UPDATE OF s",
        crate::store::Dialect::Sqlite => "",
    };
    tx.query_opt(
        &format!(
            "SELECT s.plan, t.status AS tenant_status, s.billing_status, s.billing_interval,
                    s.stripe_customer_id, s.stripe_subscription_id, s.stripe_item_id, s.stripe_price_id,
                    s.current_period_end, s.cancel_at_period_end, s.past_due_since, s.card_brand,
                    s.card_last4, s.billing_state_at, s.feature_overrides, s.limit_overrides
               FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id
              WHERE s.tenant_id = $1 AND t.id = $1{lock}"
        ),
        &[],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

/// Whether an event of `created` may change a state last set by one of
/// `state_at`: not when it is older.
fn newer(created: DateTime<Utc>, state_at: Option<DateTime<Utc>>) -> bool {
    state_at.is_none_or(|at| created >= at)
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64().and_then(|t| DateTime::from_timestamp(t, 0))
}

async fn apply(
    app: &App,
    billing: &Billing,
    tx: &mut impl Scoped,
    kind: &str,
    object: &Value,
    meta: &Meta<'_>,
    now: DateTime<Utc>,
) -> ApiResult<Outcome> {
    let actor = Actor::stripe(meta.id);
    match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout_completed(app, tx, object, meta, now, &actor).await
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => {
            let mut object = object.clone();
            if kind == "customer.subscription.deleted" {
                object["status"] = Value::from("canceled");
            }
            apply_subscription(app, billing, tx, &object, Some(meta), now, &actor).await
        }
        "customer.subscription.trial_will_end" => {
            let notice = Notice::TrialWillEnd {
                ends_on: time(&object["trial_end"]),
            };
            crate::mail::notify_admins(tx, app, &notice, Some(meta.id), now).await?;
            Ok(Outcome::Applied)
        }
        "invoice.paid" | "invoice.payment_succeeded" => {
            invoice(app, tx, object, meta, Payment::Paid, now, &actor).await
        }
        "invoice.payment_failed" => {
            invoice(app, tx, object, meta, Payment::Failed, now, &actor).await
        }
        "invoice.payment_action_required" => {
            invoice(app, tx, object, meta, Payment::ActionRequired, now, &actor).await
        }
        "invoice.created"
        | "invoice.finalized"
        | "invoice.updated"
        | "invoice.voided"
        | "invoice.marked_uncollectible" => {
            invoice(app, tx, object, meta, Payment::Record, now, &actor).await
        }
        "payment_method.attached" => {
            let Some(card) = card_of(object) else {
                return Ok(Outcome::Ignored);
            };
            tx.execute(
                "UPDATE subscriptions SET card_brand = $2, card_last4 = $3, updated_at = $4 WHERE tenant_id = $1",
                &[&card.0, &card.1, &now],
            )
            .await?;
            Ok(Outcome::Applied)
        }
        _ => Ok(Outcome::Ignored),
    }
}

/// A card's brand and last four digits, from a payment method.
fn card_of(pm: &Value) -> Option<(String, String)> {
    let card = &pm["card"];
    Some((
        card["brand"].as_str()?.to_owned(),
        card["last4"].as_str()?.to_owned(),
    ))
}

/// Checkout finished: the customer and subscription are the tenant's, and
/// a paid session provisions the plan at once (the subscription's own
/// events follow with the details).
async fn checkout_completed(
    app: &App,
    tx: &mut impl Scoped,
    session: &Value,
    meta: &Meta<'_>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Outcome> {
    if session["mode"]
        .as_str()
        .is_some_and(|m| m != "subscription")
    {
        return Ok(Outcome::Ignored);
    }
    let cur = current(tx).await?;
    let mut after = cur.billed.clone();
    let subscription = super::stripe::id_of(&session["subscription"]).map(str::to_owned);
    // Another subscription already runs: this session's is the customer's
    // business with Stripe, not a change of our state.
    if cur.billed.subscription.is_some()
        && cur.billed.subscription != subscription
        && cur.billed.billing_status.as_deref().is_some_and(is_live)
    {
        return Ok(Outcome::Ignored);
    }
    if let Some(c) = super::stripe::id_of(&session["customer"]) {
        after.customer = Some(c.to_owned());
    }
    after.subscription = subscription.or(after.subscription);
    let paid = matches!(
        session["payment_status"].as_str(),
        Some("paid" | "no_payment_required")
    );
    let plan = session["metadata"]["plan"]
        .as_str()
        .and_then(|p| p.parse::<PlanCode>().ok());
    let interval = session["metadata"]["interval"]
        .as_str()
        .and_then(|i| i.parse().ok());
    let provisioned = cur.billed.billing_status.as_deref().is_some_and(is_live);
    let mut state_at = None;
    if let (true, false, Some(plan), true) =
        (paid, provisioned, plan, newer(meta.created, cur.state_at))
    {
        if plan != PlanCode::Trial {
            after.plan = plan;
            after.interval = interval.or(after.interval);
            after.billing_status = Some("active".to_owned());
            after.past_due_since = None;
            state_at = Some(meta.created);
        }
    }
    write(app, tx, &cur, after, state_at, Some(meta.id), now, actor).await
}

/// Applies a subscription object (from an event, or from Stripe's answer
/// to a change when `meta` is `None`) unless a newer state was applied.
pub async fn apply_subscription(
    app: &App,
    billing: &Billing,
    tx: &mut impl Scoped,
    sub: &Value,
    meta: Option<&Meta<'_>>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Outcome> {
    let cur = current(tx).await?;
    let at = meta.map_or(now, |m| m.created);
    let (Some(id), Some(status)) = (sub["id"].as_str(), sub["status"].as_str()) else {
        return Ok(Outcome::Ignored);
    };
    if cur.billed.subscription.as_deref().is_some_and(|s| s != id) && !is_live(status) {
        // An old subscription ending is no news while another runs.
        if cur.billed.billing_status.as_deref().is_some_and(is_live) {
            return Ok(Outcome::Ignored);
        }
    }
    if !newer(at, cur.state_at) {
        return Ok(Outcome::Stale);
    }
    let item = &sub["items"]["data"][0];
    let price = item["price"]["id"].as_str();
    let by_price = price.and_then(|p| billing.plan_of(p));
    let plan = by_price.map(|(p, _)| p).or_else(|| {
        sub["metadata"]["plan"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != PlanCode::Trial)
    });
    let interval = by_price.map(|(_, i)| i).or_else(|| {
        item["price"]["recurring"]["interval"]
            .as_str()
            .and_then(Interval::of_stripe)
    });
    let mut after = cur.billed.clone();
    after.subscription = Some(id.to_owned());
    if let Some(c) = super::stripe::id_of(&sub["customer"]) {
        after.customer = Some(c.to_owned());
    }
    after.item = item["id"].as_str().map(str::to_owned).or(after.item);
    after.price = price.map(str::to_owned).or(after.price);
    after.billing_status = Some(status.to_owned());
    if is_live(status) {
        match plan {
            Some(plan) => after.plan = plan,
            None => tracing::warn!(
                subscription = id,
                price,
                "a Stripe subscription whose price is not in TRASEALLA_STRIPE_PRICES; the plan is left as it is"
            ),
        }
    }
    after.interval = interval.or(after.interval);
    after.current_period_end = time(&sub["current_period_end"])
        .or_else(|| time(&item["current_period_end"]))
        .or(after.current_period_end);
    after.cancel_at_period_end = sub["cancel_at_period_end"].as_bool().unwrap_or(false);
    after.past_due_since = match status {
        "past_due" | "unpaid" => cur.billed.past_due_since.or(Some(now)),
        _ => None,
    };
    match &sub["default_payment_method"] {
        Value::Object(_) => after.card = card_of(&sub["default_payment_method"]).or(after.card),
        Value::String(pm) => {
            let job = SyncCard {
                tenant_id: tx.tenant_id(),
                payment_method: pm.clone(),
            };
            let key = format!("sync_card:{}:{pm}", tx.tenant_id());
            crate::jobs::enqueue(tx, &job, crate::jobs::Options::keyed(key), now).await?;
        }
        _ => {}
    }
    write(
        app,
        tx,
        &cur,
        after,
        Some(at),
        meta.map(|m| m.id),
        now,
        actor,
    )
    .await
}

/// How an invoice event bears on the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payment {
    Paid,
    Failed,
    ActionRequired,
    /// Only the invoice itself changed.
    Record,
}

async fn invoice(
    app: &App,
    tx: &mut impl Scoped,
    inv: &Value,
    meta: &Meta<'_>,
    payment: Payment,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Outcome> {
    let Some(id) = inv["id"].as_str() else {
        return Ok(Outcome::Ignored);
    };
    let cur = current(tx).await?;
    let recorded: Option<One<DateTime<Utc>>> = tx
        .query_opt(
            "SELECT state_at FROM billing_invoices WHERE tenant_id = $1 AND id = $2",
            &[&id],
        )
        .await?;
    let amount_due = inv["amount_due"].as_i64().unwrap_or(0);
    let currency = inv["currency"].as_str().unwrap_or("usd").to_owned();
    let status = match payment {
        Payment::Paid => "paid",
        _ => inv["status"].as_str().unwrap_or("open"),
    };
    let created = time(&inv["created"]).unwrap_or(meta.created);
    let row: [&dyn crate::store::Bind; 9] = [
        &id,
        &inv["number"].as_str(),
        &amount_due,
        &inv["amount_paid"].as_i64().unwrap_or(0),
        &currency,
        &status,
        &inv["hosted_invoice_url"].as_str(),
        &created,
        &meta.created,
    ];
    match recorded {
        None => {
            tx.execute(
                "INSERT INTO billing_invoices (tenant_id, id, number, amount_due, amount_paid, currency,
                                               status, hosted_invoice_url, created_at, state_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &row,
            )
            .await?;
        }
        Some(One(at)) if meta.created >= at => {
            tx.execute(
                "UPDATE billing_invoices SET number = $3, amount_due = $4, amount_paid = $5, currency = $6,
                        status = $7, hosted_invoice_url = $8, created_at = $9, state_at = $10
                  WHERE tenant_id = $1 AND id = $2",
                &row,
            )
            .await?;
        }
        Some(_) => {}
    }

    // The subscription's state follows the invoices of its own
    // subscription, unless a newer state is already applied.
    let subscription = super::stripe::id_of(&inv["subscription"])
        .or_else(|| super::stripe::id_of(&inv["parent"]["subscription_details"]["subscription"]));
    let ours = subscription.is_some() && subscription == cur.billed.subscription.as_deref();
    let mut after = cur.billed.clone();
    let status_now = cur.billed.billing_status.as_deref();
    let applies = ours && newer(meta.created, cur.state_at);
    match payment {
        Payment::Paid if applies && matches!(status_now, Some("past_due" | "unpaid")) => {
            after.billing_status = Some("active".to_owned());
            after.past_due_since = None;
        }
        Payment::Failed if ours => {
            if applies && matches!(status_now, Some("active" | "trialing")) {
                after.billing_status = Some("past_due".to_owned());
                after.past_due_since = Some(now);
            }
            let notice = Notice::PaymentFailed {
                amount: crate::domain::money(amount_due, &currency.to_uppercase()),
                retry_on: time(&inv["next_payment_attempt"]),
            };
            let key = format!("{id}:{}", inv["attempt_count"].as_i64().unwrap_or(0));
            crate::mail::notify_admins(tx, app, &notice, Some(&key), now).await?;
        }
        Payment::ActionRequired if ours => {
            let notice = Notice::PaymentActionRequired {
                amount: crate::domain::money(amount_due, &currency.to_uppercase()),
                url: inv["hosted_invoice_url"].as_str().map(str::to_owned),
            };
            crate::mail::notify_admins(tx, app, &notice, Some(id), now).await?;
        }
        _ => {}
    }
    let state_at = (after != cur.billed).then_some(meta.created);
    write(app, tx, &cur, after, state_at, Some(meta.id), now, actor).await?;
    Ok(Outcome::Applied)
}

/// Writes `after` over `cur`: the subscription, the tenant's status (a
/// trial becomes active; a suspension or cancellation by the platform is
/// left alone), the plan's limits and features when the plan changed; then
/// the audit entry and the admins' notices.
#[allow(clippy::too_many_arguments)]
async fn write(
    app: &App,
    tx: &mut impl Scoped,
    cur: &Current,
    mut after: Billed,
    state_at: Option<DateTime<Utc>>,
    event: Option<&str>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<Outcome> {
    let before = &cur.billed;
    let running = after.billing_status.as_deref().is_some_and(is_live);
    if running && after.tenant_status == TenantStatus::Trial && after.plan != PlanCode::Trial {
        after.tenant_status = TenantStatus::Active;
    }
    if after == *before && state_at.is_none_or(|at| cur.state_at == Some(at)) {
        return Ok(Outcome::Applied);
    }
    let sub_status = match after.billing_status.as_deref() {
        None if after.plan == PlanCode::Trial => SubscriptionStatus::Trialing,
        None | Some("active" | "trialing" | "incomplete") => SubscriptionStatus::Active,
        Some("past_due" | "unpaid") => SubscriptionStatus::PastDue,
        Some(_) => SubscriptionStatus::Cancelled,
    };
    if after.plan != before.plan {
        let overrides = Overrides::from_json(&cur.feature_overrides, &cur.limit_overrides);
        let entitled = Entitlements::of(after.plan, &overrides);
        tx.execute(
            "UPDATE subscriptions SET plan = $2, max_users = $3, features = $4 WHERE tenant_id = $1",
            &[
                &after.plan,
                &entitled.limit(crate::plans::Limit::Users),
                &entitled.feature_names(),
            ],
        )
        .await?;
    }
    let (brand, last4) = after.card.clone().unzip();
    tx.execute(
        "UPDATE subscriptions SET status = $2, stripe_customer_id = $3, stripe_subscription_id = $4,
                stripe_item_id = $5, stripe_price_id = $6, billing_interval = $7, billing_status = $8,
                billing_state_at = COALESCE($9, billing_state_at), past_due_since = $10,
                cancel_at_period_end = $11, current_period_end = $12, card_brand = $13, card_last4 = $14,
                updated_at = $15
          WHERE tenant_id = $1",
        &[
            &sub_status,
            &after.customer,
            &after.subscription,
            &after.item,
            &after.price,
            &after.interval,
            &after.billing_status,
            &state_at,
            &after.past_due_since,
            &after.cancel_at_period_end,
            &after.current_period_end,
            &brand,
            &last4,
            &now,
        ],
    )
    .await?;
    if after.tenant_status != before.tenant_status {
        tx.execute(
            "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1",
            &[&after.tenant_status, &now],
        )
        .await?;
    }
    if after != *before {
        let mut recorded = serde_json::to_value(&after).unwrap_or_default();
        if let Some(event) = event {
            recorded["stripe_event"] = Value::from(event);
        }
        audit::record(
            tx,
            actor,
            Event::new("billing.subscription_changed")
                .target("tenant", tx.tenant_id())
                .change(before, recorded),
            now,
        )
        .await?;
    }
    let key = event.map(str::to_owned);
    if after.plan != before.plan {
        let notice = Notice::PlanChanged {
            from: crate::plans::spec(before.plan).name.to_owned(),
            to: crate::plans::spec(after.plan).name.to_owned(),
        };
        crate::mail::notify_admins(tx, app, &notice, key.as_deref(), now).await?;
    }
    let ended = |s: Option<&str>| matches!(s, Some("canceled" | "incomplete_expired"));
    if ended(after.billing_status.as_deref()) && !ended(before.billing_status.as_deref()) {
        crate::mail::notify_admins(tx, app, &Notice::SubscriptionEnded, key.as_deref(), now)
            .await?;
    }
    Ok(Outcome::Applied)
}

/// Fetches a payment method's card details (a subscription names its
/// default payment method by id).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct SyncCard {
    pub tenant_id: TenantId,
    pub payment_method: String,
}

impl crate::jobs::Job for SyncCard {
    const KIND: &'static str = "billing_sync_card";

    async fn run(self, app: &App, _ctx: &crate::jobs::JobCtx) -> Result<(), crate::jobs::JobError> {
        let Some(billing) = app.billing.as_deref() else {
            return Ok(());
        };
        let pm = billing
            .stripe
            .get(&format!("/v1/payment_methods/{}", self.payment_method))
            .await?;
        let Some((brand, last4)) = card_of(&pm) else {
            return Ok(());
        };
        let mut tx = app.store.platform(Access::Write).await?;
        let mut scope = tx.for_tenant(self.tenant_id);
        scope
            .execute(
                "UPDATE subscriptions SET card_brand = $2, card_last4 = $3 WHERE tenant_id = $1",
                &[&brand, &last4],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_verify_on_the_raw_body_within_the_tolerance() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1"}"#;
        let good = sign("whsec_test", t, body);
        assert!(verify("whsec_test", &format!("t={t},v1={good}"), body, now).is_ok());
        // Any of several v1 values (a secret being rolled), v0 ignored.
        assert!(verify(
            "whsec_test",
            &format!("t={t},v1=00ff,v0=abc,v1={good}"),
            body,
            now
        )
        .is_ok());
        // Another secret, another body, a stale or future time, no time.
        let other = sign("whsec_other", t, body);
        assert!(verify("whsec_test", &format!("t={t},v1={other}"), body, now).is_err());
        assert!(verify(
            "whsec_test",
            &format!("t={t},v1={good}"),
            br#"{"id":"evt_2"}"#,
            now
        )
        .is_err());
        let old = t - TOLERANCE_SECS - 1;
        let stale = sign("whsec_test", old, body);
        assert!(verify("whsec_test", &format!("t={old},v1={stale}"), body, now).is_err());
        let ahead = t + TOLERANCE_SECS + 1;
        let future = sign("whsec_test", ahead, body);
        assert!(verify("whsec_test", &format!("t={ahead},v1={future}"), body, now).is_err());
        assert!(verify("whsec_test", &format!("v1={good}"), body, now).is_err());
        assert!(verify("whsec_test", "", body, now).is_err());
    }

    #[test]
    fn an_older_event_never_overwrites_a_newer_state() {
        let now = Utc::now();
        assert!(newer(now, None));
        assert!(newer(now, Some(now)));
        assert!(!newer(now - chrono::Duration::seconds(1), Some(now)));
    }
}
