-- CRM core, fifth part: field changes of contacts, companies, leads and
-- deals, for their timelines.

CREATE TABLE record_changes (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'company', 'lead', 'deal')),
    record_id   UUID NOT NULL,
    changes     JSONB NOT NULL,
    changed_by  UUID,
    changed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT record_changes_user_fk FOREIGN KEY (tenant_id, changed_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (changed_by)
);
CREATE INDEX record_changes_record ON record_changes (tenant_id, record_type, record_id, changed_at, id);

ALTER TABLE record_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_changes TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON record_changes TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, DELETE ON record_changes TO trasealla_tenant, trasealla_platform;
