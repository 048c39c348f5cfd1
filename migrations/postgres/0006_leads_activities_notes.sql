-- CRM core, third part: leads (converted into contacts, companies and
-- deals), activities (calls, meetings, tasks… with a calendar), and notes
-- attached to exactly one record.

CREATE TABLE leads (
    tenant_id            UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   UUID NOT NULL,
    first_name           TEXT NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name            TEXT,
    email                TEXT,
    phone                TEXT,
    company_name         TEXT,
    source               TEXT,
    status               TEXT NOT NULL CHECK (status IN ('new', 'contacted', 'qualified', 'unqualified', 'converted')),
    estimated_value      BIGINT CHECK (estimated_value >= 0),
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    converted_at         TIMESTAMPTZ,
    converted_contact_id UUID,
    converted_company_id UUID,
    converted_deal_id    UUID,
    owner_id             UUID,
    created_by           UUID,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    sort_name            TEXT GENERATED ALWAYS AS (lower(first_name || ' ' || coalesce(last_name, ''))) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT leads_contact_fk FOREIGN KEY (tenant_id, converted_contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (converted_contact_id),
    CONSTRAINT leads_company_fk FOREIGN KEY (tenant_id, converted_company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (converted_company_id),
    CONSTRAINT leads_deal_fk FOREIGN KEY (tenant_id, converted_deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE SET NULL (converted_deal_id),
    CONSTRAINT leads_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT leads_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX leads_created ON leads (tenant_id, created_at, id);
CREATE INDEX leads_updated ON leads (tenant_id, updated_at, id);
CREATE INDEX leads_name ON leads (tenant_id, sort_name, id);
CREATE INDEX leads_status ON leads (tenant_id, status);
CREATE INDEX leads_owner ON leads (tenant_id, owner_id);
CREATE INDEX leads_email ON leads (tenant_id, email);

CREATE TABLE activities (
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               UUID NOT NULL,
    type             TEXT NOT NULL CHECK (type IN ('call', 'meeting', 'task', 'email', 'deadline')),
    subject          TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    notes            TEXT,
    due_at           TIMESTAMPTZ,
    duration_minutes BIGINT CHECK (duration_minutes BETWEEN 0 AND 10080),
    done             BOOLEAN NOT NULL DEFAULT false,
    done_at          TIMESTAMPTZ,
    assigned_to      UUID,
    contact_id       UUID,
    company_id       UUID,
    lead_id          UUID,
    deal_id          UUID,
    owner_id         UUID,
    created_by       UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    sort_name        TEXT GENERATED ALWAYS AS (lower(subject)) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT activities_assigned_fk FOREIGN KEY (tenant_id, assigned_to)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (assigned_to),
    CONSTRAINT activities_contact_fk FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT activities_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT activities_lead_fk FOREIGN KEY (tenant_id, lead_id)
        REFERENCES leads (tenant_id, id) ON DELETE SET NULL (lead_id),
    CONSTRAINT activities_deal_fk FOREIGN KEY (tenant_id, deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE SET NULL (deal_id),
    CONSTRAINT activities_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT activities_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX activities_created ON activities (tenant_id, created_at, id);
CREATE INDEX activities_updated ON activities (tenant_id, updated_at, id);
CREATE INDEX activities_name ON activities (tenant_id, sort_name, id);
CREATE INDEX activities_due ON activities (tenant_id, due_at, id);
CREATE INDEX activities_assigned ON activities (tenant_id, assigned_to, done, due_at);
CREATE INDEX activities_contact ON activities (tenant_id, contact_id);
CREATE INDEX activities_company ON activities (tenant_id, company_id);
CREATE INDEX activities_lead ON activities (tenant_id, lead_id);
CREATE INDEX activities_deal ON activities (tenant_id, deal_id);

-- A note belongs to exactly one record and goes with it.
CREATE TABLE notes (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    contact_id UUID,
    company_id UUID,
    lead_id    UUID,
    deal_id    UUID,
    owner_id   UUID,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT notes_one_record CHECK (num_nonnulls(contact_id, company_id, lead_id, deal_id) = 1),
    CONSTRAINT notes_contact_fk FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT notes_company_fk FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT notes_lead_fk FOREIGN KEY (tenant_id, lead_id)
        REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT notes_deal_fk FOREIGN KEY (tenant_id, deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT notes_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT notes_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX notes_contact ON notes (tenant_id, contact_id, created_at);
CREATE INDEX notes_company ON notes (tenant_id, company_id, created_at);
CREATE INDEX notes_lead ON notes (tenant_id, lead_id, created_at);
CREATE INDEX notes_deal ON notes (tenant_id, deal_id, created_at);

ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON leads TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON leads TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON activities TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON activities TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON notes TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON leads, activities, notes TO trasealla_tenant, trasealla_platform;
