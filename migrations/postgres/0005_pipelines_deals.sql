-- CRM core, second part: pipelines with ordered stages, and deals moving
-- through them. A deal's stage must belong to its pipeline: the foreign key
-- (tenant_id, pipeline_id, stage_id) says so to the database.

CREATE TABLE pipelines (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position   BIGINT NOT NULL DEFAULT 0,
    is_default BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT pipelines_name_key UNIQUE (tenant_id, name)
);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (tenant_id) WHERE is_default;

CREATE TABLE pipeline_stages (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    pipeline_id UUID NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position    BIGINT NOT NULL,
    probability BIGINT NOT NULL CHECK (probability BETWEEN 0 AND 100),
    kind        TEXT NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT pipeline_stages_pipeline_key UNIQUE (tenant_id, pipeline_id, id),
    CONSTRAINT pipeline_stages_pipeline_fk FOREIGN KEY (tenant_id, pipeline_id)
        REFERENCES pipelines (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX pipeline_stages_order ON pipeline_stages (tenant_id, pipeline_id, position);

CREATE TABLE deals (
    tenant_id           UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  UUID NOT NULL,
    title               TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    pipeline_id         UUID NOT NULL,
    stage_id            UUID NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount              BIGINT NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    expected_close_date DATE,
    contact_id          UUID,
    company_id          UUID,
    lost_reason         TEXT,
    closed_at           TIMESTAMPTZ,
    owner_id            UUID,
    created_by          UUID,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    sort_name           TEXT GENERATED ALWAYS AS (lower(title)) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT deals_stage_fk FOREIGN KEY (tenant_id, pipeline_id, stage_id)
        REFERENCES pipeline_stages (tenant_id, pipeline_id, id),
    CONSTRAINT deals_contact_fk FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT deals_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT deals_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT deals_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX deals_created ON deals (tenant_id, created_at, id);
CREATE INDEX deals_updated ON deals (tenant_id, updated_at, id);
CREATE INDEX deals_name ON deals (tenant_id, sort_name, id);
CREATE INDEX deals_stage ON deals (tenant_id, pipeline_id, stage_id);
CREATE INDEX deals_contact ON deals (tenant_id, contact_id);
CREATE INDEX deals_company ON deals (tenant_id, company_id);
CREATE INDEX deals_owner ON deals (tenant_id, owner_id);

ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipelines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipelines TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON pipelines TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE pipeline_stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_stages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_stages TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON pipeline_stages TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE deals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deals TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON deals TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON pipelines, pipeline_stages, deals TO trasealla_tenant, trasealla_platform;
