-- Platform administration and the tenant lifecycle (see the PostgreSQL
-- migration of the same number).

ALTER TABLE tenants ADD COLUMN cancelled_at TEXT;
CREATE INDEX tenants_cancelled ON tenants (cancelled_at) WHERE status = 'cancelled';
CREATE INDEX tenants_created ON tenants (created_at, id);

CREATE TABLE audit_log (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'platform_admin', 'system')),
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    before      TEXT CHECK (before IS NULL OR json_valid(before)),
    after       TEXT CHECK (after IS NULL OR json_valid(after)),
    client_addr TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE platform_audit_log (
    id          TEXT PRIMARY KEY,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('platform_admin', 'system')),
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    before      TEXT CHECK (before IS NULL OR json_valid(before)),
    after       TEXT CHECK (after IS NULL OR json_valid(after)),
    client_addr TEXT,
    created_at  TEXT NOT NULL
) STRICT;

-- SQLite has no grants: append-only holds because no statement of the
-- application updates or deletes audit rows; triggers make it hold for
-- anything else that writes the file.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER platform_audit_log_no_update BEFORE UPDATE ON platform_audit_log
BEGIN SELECT RAISE(ABORT, 'platform_audit_log is append-only'); END;
CREATE TRIGGER platform_audit_log_no_delete BEFORE DELETE ON platform_audit_log
BEGIN SELECT RAISE(ABORT, 'platform_audit_log is append-only'); END;
