-- CRM core, second part: pipelines, stages and deals (see the PostgreSQL
-- migration of the same number). Dates are 'YYYY-MM-DD' text.

CREATE TABLE pipelines (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position   INTEGER NOT NULL DEFAULT 0,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
) STRICT;
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (tenant_id) WHERE is_default;

CREATE TABLE pipeline_stages (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position    INTEGER NOT NULL,
    probability INTEGER NOT NULL CHECK (probability BETWEEN 0 AND 100),
    kind        TEXT NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, pipeline_id, id),
    FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX pipeline_stages_order ON pipeline_stages (tenant_id, pipeline_id, position);

CREATE TABLE deals (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    title               TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    pipeline_id         TEXT NOT NULL,
    stage_id            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount              INTEGER NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    expected_close_date TEXT,
    contact_id          TEXT,
    company_id          TEXT,
    lost_reason         TEXT,
    closed_at           TEXT,
    owner_id            TEXT,
    created_by          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    sort_name           TEXT GENERATED ALWAYS AS (lower(title)) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, pipeline_id, stage_id) REFERENCES pipeline_stages (tenant_id, pipeline_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX deals_created ON deals (tenant_id, created_at, id);
CREATE INDEX deals_updated ON deals (tenant_id, updated_at, id);
CREATE INDEX deals_name ON deals (tenant_id, sort_name, id);
CREATE INDEX deals_stage ON deals (tenant_id, pipeline_id, stage_id);
CREATE INDEX deals_contact ON deals (tenant_id, contact_id);
CREATE INDEX deals_company ON deals (tenant_id, company_id);
CREATE INDEX deals_owner ON deals (tenant_id, owner_id);
CREATE INDEX deals_created_by ON deals (tenant_id, created_by);

CREATE TRIGGER users_delete_unlinks_deals BEFORE DELETE ON users
BEGIN
    UPDATE deals SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE deals SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
END;
CREATE TRIGGER contacts_delete_unlinks_deals BEFORE DELETE ON contacts
BEGIN
    UPDATE deals SET contact_id = NULL WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id;
END;
CREATE TRIGGER companies_delete_unlinks_deals BEFORE DELETE ON companies
BEGIN
    UPDATE deals SET company_id = NULL WHERE tenant_id = OLD.tenant_id AND company_id = OLD.id;
END;
