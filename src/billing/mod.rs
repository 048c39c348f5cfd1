//! Billing with Stripe: a tenant picks a plan and pays through Stripe
//! Checkout, manages its card and invoices in Stripe's Billing Portal, and
//! from then on its plan, limits and status follow its Stripe subscription,
//! as Stripe's webhooks tell it (`webhook`).
//!
//! What a subscription's state means for the tenant:
//!
//! | Stripe status | tenant | writes |
//! |---|---|---|
//! | `active`, `trialing` | active on the subscribed plan | allowed |
//! | `past_due` | active, banner for every user, admins e-mailed | allowed for the grace days, then 402 `payment_required` |
//! | `unpaid` | active | 402 `payment_required` |
//! | `canceled`, `paused`, `incomplete_expired` | active, read-only | 402 `subscription_inactive` |
//!
//! Reads always go on; billing never deletes data; a platform admin's
//! suspension wins over all of it.

pub mod stripe;
pub mod webhook;

use crate::app::App;
use crate::audit::{self, Event};
use crate::auth::TenantSession;
use crate::config::Config;
use crate::domain::{PlanCode, TenantId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::plans::{Entitlements, Limit, Overrides};
use crate::store::{Access, DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stripe::{params, Stripe};
use utoipa::ToSchema;

crate::domain::text_enum!(
    /// How often a subscription is paid.
    Interval { Monthly = "monthly", Yearly = "yearly" }
);

impl Interval {
    /// Stripe's name of it (`recurring.interval`).
    fn of_stripe(s: &str) -> Option<Interval> {
        match s {
            "month" => Some(Interval::Monthly),
            "year" => Some(Interval::Yearly),
            _ => None,
        }
    }
}

/// Billing as configured: the Stripe account, the webhook secret and the
/// price of each plan and interval.
pub struct Billing {
    pub stripe: Stripe,
    webhook_secret: String,
    prices: Vec<(PlanCode, Interval, String)>,
}

impl Billing {
    /// Billing from the configuration: `None` without a secret key, or in
    /// self-hosted mode (the licence rules there).
    pub fn from_config(
        config: &Config,
        http: &crate::outbound::Outbound,
    ) -> anyhow::Result<Option<Billing>> {
        let Some(key) = config
            .stripe_secret_key
            .as_deref()
            .filter(|k| !k.is_empty())
        else {
            return Ok(None);
        };
        if config.mode == crate::licensing::Mode::SelfHosted {
            tracing::warn!("TRASEALLA_STRIPE_SECRET_KEY is ignored in self-hosted mode: the licence sets the plan");
            return Ok(None);
        }
        let webhook_secret = config
            .stripe_webhook_secret
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow::anyhow!("TRASEALLA_STRIPE_SECRET_KEY is set without TRASEALLA_STRIPE_WEBHOOK_SECRET: Stripe's webhooks could not be verified"))?;
        let prices = parse_prices(&config.stripe_prices)
            .map_err(|e| anyhow::anyhow!("TRASEALLA_STRIPE_PRICES: {e}"))?;
        if prices.is_empty() {
            tracing::warn!(
                "billing is on but TRASEALLA_STRIPE_PRICES names no price: no plan can be bought"
            );
        }
        Ok(Some(Billing {
            stripe: Stripe::new(http.clone(), &config.stripe_api_base, key),
            webhook_secret,
            prices,
        }))
    }

    /// The Stripe price of `plan` paid every `interval`, if it is sold so.
    pub fn price(&self, plan: PlanCode, interval: Interval) -> Option<&str> {
        self.prices
            .iter()
            .find(|(p, i, _)| *p == plan && *i == interval)
            .map(|(_, _, price)| price.as_str())
    }

    /// The plan and interval a Stripe price sells.
    pub fn plan_of(&self, price: &str) -> Option<(PlanCode, Interval)> {
        self.prices
            .iter()
            .find(|(_, _, p)| p == price)
            .map(|(plan, interval, _)| (*plan, *interval))
    }

    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }
}

/// `starter_monthly=price_1,professional_yearly=price_2`.
fn parse_prices(text: &str) -> Result<Vec<(PlanCode, Interval, String)>, String> {
    let mut prices: Vec<(PlanCode, Interval, String)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, price) = entry
            .split_once('=')
            .ok_or_else(|| format!("`{entry}` is not plan_interval=price_id"))?;
        let (plan, interval) = name
            .trim()
            .rsplit_once('_')
            .ok_or_else(|| format!("`{name}` is not plan_interval (starter_monthly…)"))?;
        let plan: PlanCode = plan
            .parse()
            .map_err(|_| format!("`{plan}` is not a plan"))?;
        if plan == PlanCode::Trial {
            return Err("the trial is not sold".into());
        }
        let interval: Interval = interval
            .parse()
            .map_err(|_| format!("`{interval}` is not monthly or yearly"))?;
        let price = price.trim();
        if price.is_empty() {
            return Err(format!("`{name}` has no price id"));
        }
        if prices.iter().any(|(_, _, p)| p == price) {
            return Err(format!("the price {price} is named twice"));
        }
        if prices.iter().any(|(p, i, _)| *p == plan && *i == interval) {
            return Err(format!("`{name}` is named twice"));
        }
        prices.push((plan, interval, price.to_owned()));
    }
    Ok(prices)
}

/// The billing of `app`, or 503 `billing_not_configured`.
pub fn configured(app: &App) -> ApiResult<&Billing> {
    app.billing.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::BillingNotConfigured,
            "online billing is not available on this server; contact sales to change plans",
        )
    })
}

/// Stripe statuses of a subscription that still runs.
pub fn is_live(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due" | "unpaid")
}

/// Why writes are refused for the subscription's state, if they are:
/// unpaid, or past due beyond the grace days → 402 `payment_required`;
/// ended or paused → 402 `subscription_inactive`.
pub fn write_block(
    status: Option<&str>,
    past_due_since: Option<DateTime<Utc>>,
    grace_days: u32,
    now: DateTime<Utc>,
) -> Option<ApiError> {
    let grace_over =
        || past_due_since.is_none_or(|since| since + Duration::days(grace_days.into()) <= now);
    match status? {
        "unpaid" => Some(payment_required()),
        "past_due" if grace_over() => Some(payment_required()),
        "canceled" | "paused" | "incomplete_expired" => Some(ApiError::new(
            ErrorCode::SubscriptionInactive,
            "the subscription has ended; subscribe again to keep making changes (your data is kept and readable)",
        )),
        _ => None,
    }
}

/// What every user of a tenant is told of its payments (the banner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A payment failed; writes go on until `writes_stop`.
    PastDue { writes_stop: DateTime<Utc> },
    /// Writes answer 402 `payment_required`.
    PaymentRequired,
    /// Writes answer 402 `subscription_inactive`.
    Inactive,
}

impl Standing {
    pub fn of(
        status: Option<&str>,
        past_due_since: Option<DateTime<Utc>>,
        grace_days: u32,
        now: DateTime<Utc>,
    ) -> Option<Standing> {
        match write_block(status, past_due_since, grace_days, now).map(|e| e.code) {
            Some(ErrorCode::PaymentRequired) => Some(Standing::PaymentRequired),
            Some(_) => Some(Standing::Inactive),
            None if status == Some("past_due") => Some(Standing::PastDue {
                writes_stop: past_due_since.unwrap_or(now) + Duration::days(grace_days.into()),
            }),
            None => None,
        }
    }
}

fn payment_required() -> ApiError {
    ApiError::new(
        ErrorCode::PaymentRequired,
        "a payment is overdue; update the card in billing to keep making changes (reads go on)",
    )
}

// ---------------------------------------------------------------------------
// What a tenant sees.

/// `GET /api/billing`: the subscription as the webhooks stored it (the
/// page never waits on Stripe), and what can be bought.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingView {
    pub plan: PlanCode,
    pub plan_name: String,
    /// `null` until the tenant subscribes.
    pub interval: Option<Interval>,
    /// Stripe's status of the subscription (`active`, `past_due`,
    /// `unpaid`, `canceled`, `paused`…); `null` until the tenant subscribes.
    pub status: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// Since when a payment is overdue.
    pub past_due_since: Option<DateTime<Utc>>,
    /// When writes stop while the payment stays overdue.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// `payment_required` or `subscription_inactive` while writes are
    /// refused; `null` otherwise.
    pub writes_blocked: Option<String>,
    pub card: Option<Card>,
    /// The latest invoices, newest first.
    pub invoices: Vec<InvoiceView>,
    /// The plans for sale, with their prices.
    pub plans: Vec<PlanOffer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Card {
    /// `visa`, `mastercard`, `amex`…
    pub brand: String,
    pub last4: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: String,
    pub number: Option<String>,
    /// In minor units of `currency`.
    pub amount_due: i64,
    pub amount_paid: i64,
    /// Lower-case ISO code, as Stripe sends it (`usd`).
    pub currency: String,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Stripe's page for the invoice (view, download, pay).
    pub hosted_invoice_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FromRow for InvoiceView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(InvoiceView {
            id: r.get("id")?,
            number: r.get("number")?,
            amount_due: r.get("amount_due")?,
            amount_paid: r.get("amount_paid")?,
            currency: r.get("currency")?,
            status: r.get("status")?,
            hosted_invoice_url: r.get("hosted_invoice_url")?,
            created_at: r.get("created_at")?,
        })
    }
}

/// A plan for sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanOffer {
    pub plan: PlanCode,
    pub name: String,
    /// Per month, in cents of `currency`, paid monthly.
    pub monthly_cents: i64,
    /// Per year, paid yearly.
    pub yearly_cents: i64,
    pub currency: String,
    /// `null`: unlimited.
    pub max_users: Option<i64>,
    pub features: Vec<crate::plans::Feature>,
    /// The intervals it can be bought with here.
    pub intervals: Vec<Interval>,
    /// The tenant's current plan.
    pub current: bool,
}

/// The plans for sale through `billing` (all paid plans, without
/// intervals, when billing is off).
pub fn offers(billing: Option<&Billing>, current: PlanCode) -> Vec<PlanOffer> {
    crate::plans::CATALOGUE
        .iter()
        .filter(|p| p.code != PlanCode::Trial)
        .map(|p| PlanOffer {
            plan: p.code,
            name: p.name.to_owned(),
            monthly_cents: p.monthly_cents,
            yearly_cents: p.yearly_cents,
            currency: p.currency.to_owned(),
            max_users: p.limit(Limit::Users),
            features: p.features.to_vec(),
            intervals: Interval::ALL
                .iter()
                .copied()
                .filter(|i| billing.is_some_and(|b| b.price(p.code, *i).is_some()))
                .collect(),
            current: p.code == current,
        })
        .collect()
}

/// The subscription's billing columns.
struct Stored {
    plan: PlanCode,
    tenant_name: String,
    slug: String,
    customer: Option<String>,
    subscription: Option<String>,
    item: Option<String>,
    interval: Option<Interval>,
    status: Option<String>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    past_due_since: Option<DateTime<Utc>>,
    card_brand: Option<String>,
    card_last4: Option<String>,
    feature_overrides: serde_json::Value,
    limit_overrides: serde_json::Value,
}

impl FromRow for Stored {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Stored {
            plan: r.get("plan")?,
            tenant_name: r.get("name")?,
            slug: r.get("slug")?,
            customer: r.get("stripe_customer_id")?,
            subscription: r.get("stripe_subscription_id")?,
            item: r.get("stripe_item_id")?,
            interval: r.get("billing_interval")?,
            status: r.get("billing_status")?,
            current_period_end: r.get("current_period_end")?,
            cancel_at_period_end: r.get("cancel_at_period_end")?,
            past_due_since: r.get("past_due_since")?,
            card_brand: r.get("card_brand")?,
            card_last4: r.get("card_last4")?,
            feature_overrides: r.get("feature_overrides")?,
            limit_overrides: r.get("limit_overrides")?,
        })
    }
}

async fn stored(tx: &mut impl Scoped) -> ApiResult<Stored> {
    tx.query_opt(
        "SELECT s.plan, t.name, t.slug, s.stripe_customer_id, s.stripe_subscription_id,
                s.stripe_item_id, s.billing_interval, s.billing_status, s.current_period_end,
                s.cancel_at_period_end, s.past_due_since, s.card_brand, s.card_last4,
                s.feature_overrides, s.limit_overrides
           FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id
          WHERE s.tenant_id = $1 AND t.id = $1",
        &[],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

/// The billing view of the session's tenant.
pub async fn view(app: &App, tx: &mut impl Scoped) -> ApiResult<BillingView> {
    let billing = configured(app)?;
    let s = stored(tx).await?;
    let invoices = tx
        .query(
            "SELECT id, number, amount_due, amount_paid, currency, status, hosted_invoice_url, created_at
               FROM billing_invoices WHERE tenant_id = $1
              ORDER BY created_at DESC, id DESC LIMIT 12",
            &[],
        )
        .await?;
    let now = app.clock.now();
    let grace = Duration::days(app.config.billing_grace_days.into());
    let blocked = write_block(
        s.status.as_deref(),
        s.past_due_since,
        app.config.billing_grace_days,
        now,
    );
    Ok(BillingView {
        plan: s.plan,
        plan_name: crate::plans::spec(s.plan).name.to_owned(),
        interval: s.interval,
        grace_ends_at: s
            .past_due_since
            .filter(|_| s.status.as_deref() == Some("past_due"))
            .map(|since| since + grace),
        writes_blocked: blocked.map(|e| e.code.as_str().to_owned()),
        status: s.status,
        current_period_end: s.current_period_end,
        cancel_at_period_end: s.cancel_at_period_end,
        past_due_since: s.past_due_since,
        card: match (s.card_brand, s.card_last4) {
            (Some(brand), Some(last4)) => Some(Card { brand, last4 }),
            _ => None,
        },
        invoices,
        plans: offers(Some(billing), s.plan),
    })
}

// ---------------------------------------------------------------------------
// What a tenant admin does.

/// `POST /api/billing/checkout` and `/change`: a plan and how often it is
/// paid.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChoice {
    /// `starter`, `professional` or `enterprise`.
    #[schema(required = true, schema_with = crate::contract::sold_plans)]
    pub plan: Option<PlanCode>,
    /// `monthly` or `yearly` (a plan may not be sold with both: see
    /// `GET /api/billing`'s `plans`).
    #[schema(required = true, schema_with = crate::contract::billing_intervals)]
    pub interval: Option<Interval>,
}

/// A page of Stripe's to send the customer to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redirect {
    pub url: String,
    /// The Checkout Session's id (Checkout only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The plan, interval and price a choice names, or 422.
fn priced(billing: &Billing, choice: &PlanChoice) -> ApiResult<(PlanCode, Interval, String)> {
    let mut errors = crate::error::FieldErrors::default();
    let plan = errors.required("plan", choice.plan);
    let interval = errors.required("interval", choice.interval);
    if plan == Some(PlanCode::Trial) {
        errors.add(
            "plan",
            "the trial is not sold; choose starter, professional or enterprise",
        );
    }
    errors.finish()?;
    let (Some(plan), Some(interval)) = (plan, interval) else {
        return Err(ApiError::internal("validated without a plan"));
    };
    let price = billing.price(plan, interval).ok_or_else(|| {
        ApiError::field(
            "interval",
            format!(
                "the {} plan is not sold {} here; contact sales",
                crate::plans::spec(plan).name,
                interval
            ),
        )
    })?;
    Ok((plan, interval, price.to_owned()))
}

/// Ends the request's tenant transaction now (its reads are done), so
/// that no connection or lock is held while Stripe answers.
async fn end_reads(s: TenantSession) -> ApiResult<()> {
    s.tx.take().commit().await?;
    Ok(())
}

/// Starts Stripe Checkout for `choice`: creates the tenant's Stripe
/// customer once, then a Checkout Session for the plan's price, whose
/// success and cancel pages are on the tenant's own address.
pub async fn checkout(app: &App, mut s: TenantSession, choice: PlanChoice) -> ApiResult<Redirect> {
    let billing = configured(app)?;
    s.user.admin()?;
    let actor = s.user.actor();
    let (plan, interval, price) = priced(billing, &choice)?;
    let st = stored(&mut s.tx).await?;
    if st.status.as_deref().is_some_and(is_live) {
        return Err(ApiError::conflict(
            "the tenant already has a subscription; change its plan with POST /api/billing/change or in the billing portal",
        ));
    }
    let tenant = s.user.tenant_id;
    let email = s.user.email.clone();
    end_reads(s).await?;
    let customer = match st.customer {
        Some(c) => c,
        None => create_customer(app, billing, tenant, &st.tenant_name, &email).await?,
    };
    let base = crate::mail::tenant_url(&app.config, &st.slug);
    let tenant_id = tenant.to_string();
    let mut p = params([
        ("mode", "subscription"),
        ("customer", &customer),
        ("client_reference_id", &tenant_id),
        ("line_items[0][price]", &price),
        ("line_items[0][quantity]", "1"),
        ("metadata[tenant_id]", &tenant_id),
        ("metadata[plan]", plan.as_str()),
        ("metadata[interval]", interval.as_str()),
        ("subscription_data[metadata][tenant_id]", &tenant_id),
        ("subscription_data[metadata][plan]", plan.as_str()),
        ("subscription_data[metadata][interval]", interval.as_str()),
        ("allow_promotion_codes", "true"),
    ]);
    p.push((
        "success_url".into(),
        format!("{base}/settings/subscription?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"),
    ));
    p.push((
        "cancel_url".into(),
        format!("{base}/upgrade?checkout=cancelled"),
    ));
    let session = billing
        .stripe
        .post(
            "/v1/checkout/sessions",
            &p,
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
    let (Some(url), Some(id)) = (session["url"].as_str(), session["id"].as_str()) else {
        return Err(unexpected("a Checkout Session without a url"));
    };
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(tenant);
    audit::record(
        &mut scope,
        &actor,
        Event::new("billing.checkout_started")
            .target("tenant", tenant)
            .after(serde_json::json!({ "plan": plan, "interval": interval, "session": id })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect {
        url: url.to_owned(),
        session_id: Some(id.to_owned()),
    })
}

fn unexpected(what: &str) -> ApiError {
    tracing::warn!("Stripe answered {what}");
    ApiError::new(
        ErrorCode::Unavailable,
        "the payment provider answered unexpectedly; try again in a moment",
    )
}

/// The tenant's Stripe customer, created once: the idempotency key is the
/// tenant's, so two checkouts at once make one customer, and the first
/// stored wins.
async fn create_customer(
    app: &App,
    billing: &Billing,
    tenant: TenantId,
    name: &str,
    email: &str,
) -> ApiResult<String> {
    let tenant_id = tenant.to_string();
    let customer = billing
        .stripe
        .post(
            "/v1/customers",
            &params([
                ("name", name),
                ("email", email),
                ("metadata[tenant_id]", &tenant_id),
            ]),
            &format!("customer-{tenant_id}"),
        )
        .await?;
    let id = customer["id"]
        .as_str()
        .ok_or_else(|| unexpected("a customer without an id"))?;
    let mut tx = app.store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(tenant);
    scope
        .execute(
            "UPDATE subscriptions SET stripe_customer_id = COALESCE(stripe_customer_id, $2)
              WHERE tenant_id = $1",
            &[&id],
        )
        .await?;
    let crate::store::One(stored): crate::store::One<Option<String>> = scope
        .query_one(
            "SELECT stripe_customer_id FROM subscriptions WHERE tenant_id = $1",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(stored.unwrap_or_else(|| id.to_owned()))
}

/// A Billing Portal session for the tenant's customer (card, invoices,
/// cancellation), returning to the subscription settings.
pub async fn portal(app: &App, mut s: TenantSession) -> ApiResult<Redirect> {
    let billing = configured(app)?;
    s.user.admin()?;
    let st = stored(&mut s.tx).await?;
    end_reads(s).await?;
    let customer = st.customer.ok_or_else(|| {
        ApiError::conflict("the tenant has no billing account yet; choose a plan first")
    })?;
    let base = crate::mail::tenant_url(&app.config, &st.slug);
    let return_url = format!("{base}/settings/subscription");
    let session = billing
        .stripe
        .post(
            "/v1/billing_portal/sessions",
            &params([("customer", &customer), ("return_url", &return_url)]),
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
    let url = session["url"]
        .as_str()
        .ok_or_else(|| unexpected("a portal session without a url"))?;
    Ok(Redirect {
        url: url.to_owned(),
        session_id: None,
    })
}

/// Moves the running subscription to another plan or interval, prorated.
/// A plan that allows fewer users than are active is refused (409) before
/// Stripe is asked anything.
pub async fn change(app: &App, mut s: TenantSession, choice: PlanChoice) -> ApiResult<BillingView> {
    let billing = configured(app)?;
    s.user.admin()?;
    let actor = s.user.actor();
    let (plan, interval, price) = priced(billing, &choice)?;
    let st = stored(&mut s.tx).await?;
    let (Some(subscription), true) = (
        st.subscription.clone(),
        st.status
            .as_deref()
            .is_some_and(|s| matches!(s, "active" | "trialing" | "past_due")),
    ) else {
        return Err(ApiError::conflict(
            "the tenant has no running subscription; choose a plan with POST /api/billing/checkout",
        ));
    };
    if st.plan == plan && st.interval == Some(interval) {
        return Err(ApiError::conflict(format!(
            "the tenant is already on the {} plan, paid {}",
            crate::plans::spec(plan).name,
            interval
        )));
    }
    let overrides = Overrides::from_json(&st.feature_overrides, &st.limit_overrides);
    let max = Entitlements::of(plan, &overrides).limit(Limit::Users);
    let seats = crate::tenancy::seats(&mut s.tx).await?;
    if let Some(max) = max.filter(|m| seats.current > *m) {
        return Err(ApiError::conflict(format!(
            "the {} plan allows {max} users and {} are active; deactivate users first",
            crate::plans::spec(plan).name,
            seats.current
        ))
        .with_details(serde_json::json!({
            "limit": Limit::Users.as_str(),
            "used": seats.current,
            "max": max,
        })));
    }
    let tenant = s.user.tenant_id;
    end_reads(s).await?;
    let item = match st.item {
        Some(item) => item,
        None => {
            let sub = billing
                .stripe
                .get(&format!("/v1/subscriptions/{subscription}"))
                .await?;
            sub["items"]["data"][0]["id"]
                .as_str()
                .ok_or_else(|| unexpected("a subscription without items"))?
                .to_owned()
        }
    };
    let updated = billing
        .stripe
        .post(
            &format!("/v1/subscriptions/{subscription}"),
            &params([
                ("items[0][id]", &item),
                ("items[0][price]", &price),
                ("proration_behavior", "create_prorations"),
                ("metadata[plan]", plan.as_str()),
                ("metadata[interval]", interval.as_str()),
            ]),
            &uuid::Uuid::now_v7().to_string(),
        )
        .await?;
    // Stripe's answer is the subscription as it now is: apply it at once,
    // as its webhook would (which, arriving later, changes nothing more).
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(tenant);
    webhook::apply_subscription(app, billing, &mut scope, &updated, None, now, &actor).await?;
    let view = view(app, &mut scope).await?;
    tx.commit().await?;
    Ok(view)
}

// ---------------------------------------------------------------------------
// What the vendor's staff see.

/// A tenant's Stripe records, for platform admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct StripeRecords {
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
    pub interval: Option<Interval>,
    pub past_due_since: Option<DateTime<Utc>>,
}

impl FromRow for StripeRecords {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(StripeRecords {
            customer_id: r.get("stripe_customer_id")?,
            subscription_id: r.get("stripe_subscription_id")?,
            status: r.get("billing_status")?,
            interval: r.get("billing_interval")?,
            past_due_since: r.get("past_due_since")?,
        })
    }
}

/// The tenant's Stripe records, when it has any.
pub async fn records(tx: &mut impl Scoped) -> ApiResult<Option<StripeRecords>> {
    Ok(tx
        .query_opt(
            "SELECT stripe_customer_id, stripe_subscription_id, billing_status, billing_interval, past_due_since
               FROM subscriptions WHERE tenant_id = $1 AND stripe_customer_id IS NOT NULL",
            &[],
        )
        .await?)
}

/// `GET /api/platform/billing`: the business at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// Monthly recurring revenue of running subscriptions (a yearly one
    /// counts a twelfth), in cents of `currency`.
    pub mrr_cents: i64,
    pub currency: String,
    /// Running subscriptions per plan.
    pub subscriptions: Vec<PlanCount>,
    /// Tenants whose payment is overdue, longest first.
    pub past_due: Vec<PastDue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanCount {
    pub plan: PlanCode,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PastDue {
    #[schema(value_type = uuid::Uuid)]
    pub tenant_id: TenantId,
    pub name: String,
    pub slug: String,
    pub plan: PlanCode,
    /// `past_due` or `unpaid`.
    pub status: String,
    pub since: Option<DateTime<Utc>>,
}

struct Running {
    plan: PlanCode,
    interval: Option<Interval>,
    status: String,
    tenant_id: TenantId,
    name: String,
    slug: String,
    since: Option<DateTime<Utc>>,
}

impl FromRow for Running {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Running {
            plan: r.get("plan")?,
            interval: r.get("billing_interval")?,
            status: r.get("billing_status")?,
            tenant_id: r.get("tenant_id")?,
            name: r.get("name")?,
            slug: r.get("slug")?,
            since: r.get("past_due_since")?,
        })
    }
}

pub async fn overview(store: &crate::store::Store) -> ApiResult<Overview> {
    let mut tx = store.platform(Access::Read).await?;
    let running: Vec<Running> = tx
        .query(
            "SELECT s.plan, s.billing_interval, s.billing_status, s.tenant_id, t.name, t.slug, s.past_due_since
               FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id
              WHERE s.billing_status IN ('active', 'trialing', 'past_due', 'unpaid')
                AND t.status <> 'cancelled'
              ORDER BY s.past_due_since, t.name",
            &[],
        )
        .await?;
    tx.commit().await?;
    let mut mrr = 0;
    let mut per_plan: BTreeMap<&str, (PlanCode, i64)> = BTreeMap::new();
    let mut past_due = Vec::new();
    for r in running {
        let spec = crate::plans::spec(r.plan);
        mrr += match r.interval {
            Some(Interval::Yearly) => spec.yearly_cents / 12,
            _ => spec.monthly_cents,
        };
        per_plan.entry(r.plan.as_str()).or_insert((r.plan, 0)).1 += 1;
        if matches!(r.status.as_str(), "past_due" | "unpaid") {
            past_due.push(PastDue {
                tenant_id: r.tenant_id,
                name: r.name,
                slug: r.slug,
                plan: r.plan,
                status: r.status,
                since: r.since,
            });
        }
    }
    let mut subscriptions: Vec<PlanCount> = per_plan
        .into_values()
        .map(|(plan, count)| PlanCount { plan, count })
        .collect();
    let rank = |p: PlanCode| crate::plans::CATALOGUE.iter().position(|s| s.code == p);
    subscriptions.sort_by_key(|c| rank(c.plan));
    Ok(Overview {
        mrr_cents: mrr,
        currency: crate::plans::CATALOGUE[1].currency.to_owned(),
        subscriptions,
        past_due,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_per_plan_and_interval() {
        let p = parse_prices("starter_monthly=price_a, professional_yearly=price_b,").unwrap();
        assert_eq!(
            p,
            vec![
                (PlanCode::Starter, Interval::Monthly, "price_a".to_owned()),
                (
                    PlanCode::Professional,
                    Interval::Yearly,
                    "price_b".to_owned()
                ),
            ]
        );
        assert!(parse_prices("").unwrap().is_empty());
        for bad in [
            "starter=price_a",
            "gold_monthly=price_a",
            "trial_monthly=price_a",
            "starter_weekly=price_a",
            "starter_monthly=",
            "starter_monthly=p,starter_yearly=p",
            "starter_monthly=p,starter_monthly=q",
            "starter_monthly",
        ] {
            assert!(parse_prices(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_stop_after_the_grace_days_and_when_the_subscription_ends() {
        let now = Utc::now();
        let code = |status, since| write_block(status, since, 7, now).map(|e| e.code);
        assert_eq!(code(None, None), None);
        assert_eq!(code(Some("active"), None), None);
        assert_eq!(code(Some("past_due"), Some(now - Duration::days(6))), None);
        assert_eq!(
            code(Some("past_due"), Some(now - Duration::days(7))),
            Some(ErrorCode::PaymentRequired)
        );
        assert_eq!(code(Some("unpaid"), None), Some(ErrorCode::PaymentRequired));
        for ended in ["canceled", "paused", "incomplete_expired"] {
            assert_eq!(
                code(Some(ended), None),
                Some(ErrorCode::SubscriptionInactive)
            );
        }
        assert_eq!(code(Some("incomplete"), None), None);
    }
}
