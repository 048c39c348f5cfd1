-- Plans that mean something: per-tenant overrides of the catalogue's
-- features and limits (the catalogue itself is in the code, src/plans.rs),
-- and usage metering.

-- `{"workflows": true}`; `{"requests_per_minute": 600, "records": null}`
-- (null: unlimited). Set by platform admins, audited.
ALTER TABLE subscriptions ADD COLUMN feature_overrides JSONB NOT NULL DEFAULT '{}';
ALTER TABLE subscriptions ADD COLUMN limit_overrides JSONB NOT NULL DEFAULT '{}';

-- The trial has the professional plan's features, so people try what they
-- would buy (the trial banner says everything is unlocked).
UPDATE plans SET features = (SELECT features FROM plans WHERE code = 'professional')
 WHERE code = 'trial';
UPDATE subscriptions SET features = (SELECT features FROM plans WHERE code = 'trial')
 WHERE plan = 'trial';

-- Metered events per tenant and day (API calls, imports, e-mails sent…),
-- added to by each server's periodic flush.
CREATE TABLE usage_counters (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    day       DATE NOT NULL,
    count     BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, metric, day)
);

-- What a tenant's rows take, as last measured (a scheduled job, or a
-- platform admin asking).
CREATE TABLE usage_storage (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bytes       BIGINT NOT NULL CHECK (bytes >= 0),
    measured_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id)
);

ALTER TABLE usage_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_counters TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON usage_counters TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE usage_storage ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_storage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_storage TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON usage_storage TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT ON usage_counters, usage_storage TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_counters, usage_storage TO trasealla_platform;
