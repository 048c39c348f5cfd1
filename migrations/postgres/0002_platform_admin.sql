-- Platform administration and the tenant lifecycle: when a tenant was
-- cancelled (its data is purged a retention period later), and the audit log.

ALTER TABLE tenants ADD COLUMN cancelled_at TIMESTAMPTZ;
CREATE INDEX tenants_cancelled ON tenants (cancelled_at) WHERE status = 'cancelled';
CREATE INDEX tenants_created ON tenants (created_at, id);

-- Who did what to a tenant: append-only (no UPDATE or DELETE is granted to
-- the roles the application uses; rows leave only with their tenant).
CREATE TABLE audit_log (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'platform_admin', 'system')),
    actor_id    UUID,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    before      JSONB,
    after       JSONB,
    client_addr TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON audit_log TO trasealla_platform USING (true) WITH CHECK (true);

-- Events that outlive or precede any tenant: a tenant's purge, a licence issued.
CREATE TABLE platform_audit_log (
    id          UUID PRIMARY KEY,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('platform_admin', 'system')),
    actor_id    UUID,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    before      JSONB,
    after       JSONB,
    client_addr TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

GRANT SELECT, INSERT ON audit_log TO trasealla_tenant;
GRANT SELECT, INSERT ON audit_log, platform_audit_log TO trasealla_platform;
