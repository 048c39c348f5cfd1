-- Per-tenant overrides of the plan catalogue, and usage metering (see the
-- PostgreSQL migration of the same number).

ALTER TABLE subscriptions ADD COLUMN feature_overrides TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(feature_overrides));
ALTER TABLE subscriptions ADD COLUMN limit_overrides TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(limit_overrides));

UPDATE plans SET features = (SELECT features FROM plans WHERE code = 'professional')
 WHERE code = 'trial';
UPDATE subscriptions SET features = (SELECT features FROM plans WHERE code = 'trial')
 WHERE plan = 'trial';

CREATE TABLE usage_counters (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    day       TEXT NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, metric, day)
) STRICT;

CREATE TABLE usage_storage (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    measured_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id)
) STRICT;
