-- Billing with Stripe: each tenant's Stripe customer and subscription as
-- the webhooks last told it, its invoices, and the events already
-- processed (Stripe delivers at least once).

-- `billing_status` is Stripe's status of the subscription (`active`,
-- `past_due`, `unpaid`, `canceled`, `paused`, `incomplete`…); NULL for a
-- tenant that never subscribed. `billing_state_at` is the `created` time of
-- the newest event applied, so an older one arriving late changes nothing.
ALTER TABLE subscriptions ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_item_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_price_id TEXT;
ALTER TABLE subscriptions ADD COLUMN billing_interval TEXT CHECK (billing_interval IN ('monthly', 'yearly'));
ALTER TABLE subscriptions ADD COLUMN billing_status TEXT;
ALTER TABLE subscriptions ADD COLUMN billing_state_at TIMESTAMPTZ;
ALTER TABLE subscriptions ADD COLUMN past_due_since TIMESTAMPTZ;
ALTER TABLE subscriptions ADD COLUMN cancel_at_period_end BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE subscriptions ADD COLUMN card_brand TEXT;
ALTER TABLE subscriptions ADD COLUMN card_last4 TEXT;
-- Webhooks find their tenant by customer when an object carries no
-- tenant id (an invoice, a payment method).
CREATE INDEX subscriptions_stripe_customer ON subscriptions (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;

CREATE TABLE billing_invoices (
    tenant_id          UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,              -- Stripe's invoice id
    number             TEXT,
    amount_due         BIGINT NOT NULL,            -- minor units
    amount_paid        BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,              -- draft, open, paid, uncollectible, void
    hosted_invoice_url TEXT,
    created_at         TIMESTAMPTZ NOT NULL,       -- Stripe's `created`
    state_at           TIMESTAMPTZ NOT NULL,       -- the newest event applied
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX billing_invoices_recent ON billing_invoices (tenant_id, created_at DESC);

ALTER TABLE billing_invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing_invoices TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON billing_invoices TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT ON billing_invoices TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_invoices TO trasealla_platform;

-- Stripe events received, each processed once. A platform table: an
-- event names its tenant only once it is read.
CREATE TABLE billing_events (
    id          TEXT PRIMARY KEY,                  -- Stripe's event id
    type        TEXT NOT NULL,
    created     TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL                      -- applied, stale, ignored
);
CREATE INDEX billing_events_received ON billing_events (received_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_events TO trasealla_platform;
