-- CRM core, third part: leads, activities and notes (see the PostgreSQL
-- migration of the same number; references that null one column are
-- triggers here).

CREATE TABLE leads (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT NOT NULL,
    first_name           TEXT NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name            TEXT,
    email                TEXT,
    phone                TEXT,
    company_name         TEXT,
    source               TEXT,
    status               TEXT NOT NULL CHECK (status IN ('new', 'contacted', 'qualified', 'unqualified', 'converted')),
    estimated_value      INTEGER CHECK (estimated_value >= 0),
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    converted_at         TEXT,
    converted_contact_id TEXT,
    converted_company_id TEXT,
    converted_deal_id    TEXT,
    owner_id             TEXT,
    created_by           TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    sort_name            TEXT GENERATED ALWAYS AS (lower(first_name || ' ' || coalesce(last_name, ''))) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, converted_contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, converted_company_id) REFERENCES companies (tenant_id, id),
    FOREIGN KEY (tenant_id, converted_deal_id) REFERENCES deals (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX leads_created ON leads (tenant_id, created_at, id);
CREATE INDEX leads_updated ON leads (tenant_id, updated_at, id);
CREATE INDEX leads_name ON leads (tenant_id, sort_name, id);
CREATE INDEX leads_status ON leads (tenant_id, status);
CREATE INDEX leads_owner ON leads (tenant_id, owner_id);
CREATE INDEX leads_created_by ON leads (tenant_id, created_by);
CREATE INDEX leads_email ON leads (tenant_id, email);
CREATE INDEX leads_converted_contact ON leads (tenant_id, converted_contact_id);
CREATE INDEX leads_converted_company ON leads (tenant_id, converted_company_id);
CREATE INDEX leads_converted_deal ON leads (tenant_id, converted_deal_id);

CREATE TABLE activities (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    type             TEXT NOT NULL CHECK (type IN ('call', 'meeting', 'task', 'email', 'deadline')),
    subject          TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    notes            TEXT,
    due_at           TEXT,
    duration_minutes INTEGER CHECK (duration_minutes BETWEEN 0 AND 10080),
    done             INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    done_at          TEXT,
    assigned_to      TEXT,
    contact_id       TEXT,
    company_id       TEXT,
    lead_id          TEXT,
    deal_id          TEXT,
    owner_id         TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sort_name        TEXT GENERATED ALWAYS AS (lower(subject)) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX activities_created ON activities (tenant_id, created_at, id);
CREATE INDEX activities_updated ON activities (tenant_id, updated_at, id);
CREATE INDEX activities_name ON activities (tenant_id, sort_name, id);
CREATE INDEX activities_due ON activities (tenant_id, due_at, id);
CREATE INDEX activities_assigned ON activities (tenant_id, assigned_to, done, due_at);
CREATE INDEX activities_contact ON activities (tenant_id, contact_id);
CREATE INDEX activities_company ON activities (tenant_id, company_id);
CREATE INDEX activities_lead ON activities (tenant_id, lead_id);
CREATE INDEX activities_deal ON activities (tenant_id, deal_id);
CREATE INDEX activities_owner ON activities (tenant_id, owner_id);
CREATE INDEX activities_created_by ON activities (tenant_id, created_by);

CREATE TABLE notes (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    contact_id TEXT,
    company_id TEXT,
    lead_id    TEXT,
    deal_id    TEXT,
    owner_id   TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK ((contact_id IS NOT NULL) + (company_id IS NOT NULL) + (lead_id IS NOT NULL) + (deal_id IS NOT NULL) = 1),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX notes_contact ON notes (tenant_id, contact_id, created_at);
CREATE INDEX notes_company ON notes (tenant_id, company_id, created_at);
CREATE INDEX notes_lead ON notes (tenant_id, lead_id, created_at);
CREATE INDEX notes_deal ON notes (tenant_id, deal_id, created_at);
CREATE INDEX notes_owner ON notes (tenant_id, owner_id);
CREATE INDEX notes_created_by ON notes (tenant_id, created_by);

CREATE TRIGGER users_delete_unlinks_crm BEFORE DELETE ON users
BEGIN
    UPDATE leads SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE leads SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
    UPDATE activities SET assigned_to = NULL WHERE tenant_id = OLD.tenant_id AND assigned_to = OLD.id;
    UPDATE activities SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE activities SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
    UPDATE notes SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE notes SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
END;
CREATE TRIGGER contacts_delete_unlinks_crm BEFORE DELETE ON contacts
BEGIN
    UPDATE leads SET converted_contact_id = NULL WHERE tenant_id = OLD.tenant_id AND converted_contact_id = OLD.id;
    UPDATE activities SET contact_id = NULL WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id;
END;
CREATE TRIGGER companies_delete_unlinks_crm BEFORE DELETE ON companies
BEGIN
    UPDATE leads SET converted_company_id = NULL WHERE tenant_id = OLD.tenant_id AND converted_company_id = OLD.id;
    UPDATE activities SET company_id = NULL WHERE tenant_id = OLD.tenant_id AND company_id = OLD.id;
END;
CREATE TRIGGER deals_delete_unlinks_crm BEFORE DELETE ON deals
BEGIN
    UPDATE leads SET converted_deal_id = NULL WHERE tenant_id = OLD.tenant_id AND converted_deal_id = OLD.id;
    UPDATE activities SET deal_id = NULL WHERE tenant_id = OLD.tenant_id AND deal_id = OLD.id;
END;
CREATE TRIGGER leads_delete_unlinks_crm BEFORE DELETE ON leads
BEGIN
    UPDATE activities SET lead_id = NULL WHERE tenant_id = OLD.tenant_id AND lead_id = OLD.id;
END;
