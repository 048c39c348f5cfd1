-- Licensing: the signed certificate of each issued key (served again when a
-- self-hosted installation claims the key), the installation's own licence
-- (self-hosted mode), and fixed-window rate-limit counters shared by every
-- server process.

ALTER TABLE license_keys ADD COLUMN certificate TEXT;
CREATE INDEX license_keys_created ON license_keys (created_at, id);

-- At most one row: the licence this (self-hosted) installation runs under.
CREATE TABLE installation_license (
    id                  TEXT PRIMARY KEY CHECK (id = 'current'),
    certificate         TEXT NOT NULL,
    key_id              UUID NOT NULL,
    -- The key itself, kept only when activation was online, so the periodic
    -- check can ask the licence server whether it was revoked.
    license_key         TEXT,
    activated_tenant_id UUID REFERENCES tenants (id) ON DELETE SET NULL,
    revoked_at          TIMESTAMPTZ,
    checked_at          TIMESTAMPTZ,
    activated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON installation_license, rate_limits TO trasealla_platform;
