-- CRM core, fifth part: field changes for timelines (see the PostgreSQL
-- migration of the same number).

CREATE TABLE record_changes (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'company', 'lead', 'deal')),
    record_id   TEXT NOT NULL,
    changes     TEXT NOT NULL CHECK (json_valid(changes)),
    changed_by  TEXT,
    changed_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, changed_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX record_changes_record ON record_changes (tenant_id, record_type, record_id, changed_at, id);
CREATE INDEX record_changes_user ON record_changes (tenant_id, changed_by);

CREATE TRIGGER users_delete_unlinks_changes BEFORE DELETE ON users
BEGIN
    UPDATE record_changes SET changed_by = NULL WHERE tenant_id = OLD.tenant_id AND changed_by = OLD.id;
END;
