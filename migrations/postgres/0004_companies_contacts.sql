-- CRM core, first part: companies and contacts. Every table is tenant-owned:
-- tenant_id first in every key, composite foreign keys (which null only the
-- referencing column, never tenant_id), row-level security forced.

CREATE TABLE companies (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    domain     TEXT,
    industry   TEXT,
    phone      TEXT,
    website    TEXT,
    address    JSONB NOT NULL DEFAULT '{}',
    owner_id   UUID,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sort_name  TEXT GENERATED ALWAYS AS (lower(name)) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT companies_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT companies_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX companies_created ON companies (tenant_id, created_at, id);
CREATE INDEX companies_updated ON companies (tenant_id, updated_at, id);
CREATE INDEX companies_name ON companies (tenant_id, sort_name, id);
CREATE INDEX companies_owner ON companies (tenant_id, owner_id);

CREATE TABLE contacts (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    first_name TEXT NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name  TEXT,
    email      TEXT,
    phone      TEXT,
    title      TEXT,
    company_id UUID,
    tags       JSONB NOT NULL DEFAULT '[]',
    source     TEXT,
    owner_id   UUID,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sort_name  TEXT GENERATED ALWAYS AS (lower(first_name || ' ' || coalesce(last_name, ''))) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT contacts_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT contacts_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT contacts_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX contacts_created ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_name ON contacts (tenant_id, sort_name, id);
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);
CREATE INDEX contacts_owner ON contacts (tenant_id, owner_id);
CREATE INDEX contacts_email ON contacts (tenant_id, email);

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON companies TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON companies TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON contacts TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON companies, contacts TO trasealla_tenant, trasealla_platform;
