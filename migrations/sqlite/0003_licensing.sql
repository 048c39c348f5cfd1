-- Licensing (see the PostgreSQL migration of the same number).

ALTER TABLE license_keys ADD COLUMN certificate TEXT;
CREATE INDEX license_keys_created ON license_keys (created_at, id);

CREATE TABLE installation_license (
    id                  TEXT PRIMARY KEY CHECK (id = 'current'),
    certificate         TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    license_key         TEXT,
    activated_tenant_id TEXT REFERENCES tenants (id) ON DELETE SET NULL,
    revoked_at          TEXT,
    checked_at          TEXT,
    activated_at        TEXT NOT NULL
) STRICT;

CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
) STRICT;
