-- Browser sessions. A session cookie carries a signed token naming one of
-- these rows; logging out deletes the row, which ends the session on every
-- server at once (the row is checked in the tenant transaction's first
-- statement, or with the admin's look-up).

CREATE TABLE sessions (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    user_id    UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_user_fk FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON sessions TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON sessions TO trasealla_tenant, trasealla_platform;

CREATE TABLE admin_sessions (
    id         UUID PRIMARY KEY,
    admin_id   UUID NOT NULL REFERENCES platform_admins (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
GRANT SELECT, INSERT, DELETE ON admin_sessions TO trasealla_platform;
