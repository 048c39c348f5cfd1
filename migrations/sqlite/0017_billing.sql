-- Billing with Stripe (see the PostgreSQL migration of the same number).

ALTER TABLE subscriptions ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_item_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_price_id TEXT;
ALTER TABLE subscriptions ADD COLUMN billing_interval TEXT CHECK (billing_interval IN ('monthly', 'yearly'));
ALTER TABLE subscriptions ADD COLUMN billing_status TEXT;
ALTER TABLE subscriptions ADD COLUMN billing_state_at TEXT;
ALTER TABLE subscriptions ADD COLUMN past_due_since TEXT;
ALTER TABLE subscriptions ADD COLUMN cancel_at_period_end INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1));
ALTER TABLE subscriptions ADD COLUMN card_brand TEXT;
ALTER TABLE subscriptions ADD COLUMN card_last4 TEXT;
CREATE INDEX subscriptions_stripe_customer ON subscriptions (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;

CREATE TABLE billing_invoices (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    number             TEXT,
    amount_due         INTEGER NOT NULL,
    amount_paid        INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,
    hosted_invoice_url TEXT,
    created_at         TEXT NOT NULL,
    state_at           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX billing_invoices_recent ON billing_invoices (tenant_id, created_at DESC);

CREATE TABLE billing_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    created     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    outcome     TEXT NOT NULL
) STRICT;
CREATE INDEX billing_events_received ON billing_events (received_at);
