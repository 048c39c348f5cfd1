-- CRM core, first part: companies and contacts (see the PostgreSQL
-- migration of the same number). SQLite's ON DELETE SET NULL would null
-- tenant_id too, so the references to users and companies are plain
-- foreign keys and triggers null just the referencing column.

CREATE TABLE companies (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    domain     TEXT,
    industry   TEXT,
    phone      TEXT,
    website    TEXT,
    address    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(address)),
    owner_id   TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sort_name  TEXT GENERATED ALWAYS AS (lower(name)) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX companies_created ON companies (tenant_id, created_at, id);
CREATE INDEX companies_updated ON companies (tenant_id, updated_at, id);
CREATE INDEX companies_name ON companies (tenant_id, sort_name, id);
CREATE INDEX companies_owner ON companies (tenant_id, owner_id);
CREATE INDEX companies_created_by ON companies (tenant_id, created_by);

CREATE TABLE contacts (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    first_name TEXT NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name  TEXT,
    email      TEXT,
    phone      TEXT,
    title      TEXT,
    company_id TEXT,
    tags       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    source     TEXT,
    owner_id   TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sort_name  TEXT GENERATED ALWAYS AS (lower(first_name || ' ' || coalesce(last_name, ''))) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX contacts_created ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_name ON contacts (tenant_id, sort_name, id);
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);
CREATE INDEX contacts_owner ON contacts (tenant_id, owner_id);
CREATE INDEX contacts_created_by ON contacts (tenant_id, created_by);
CREATE INDEX contacts_email ON contacts (tenant_id, email);

CREATE TRIGGER users_delete_unlinks_companies BEFORE DELETE ON users
BEGIN
    UPDATE companies SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE companies SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
    UPDATE contacts SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE contacts SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
END;

CREATE TRIGGER companies_delete_unlinks_contacts BEFORE DELETE ON companies
BEGIN
    UPDATE contacts SET company_id = NULL WHERE tenant_id = OLD.tenant_id AND company_id = OLD.id;
END;
