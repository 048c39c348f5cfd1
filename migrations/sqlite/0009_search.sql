-- Full-text search (see the PostgreSQL migration of the same number): an
-- FTS5 index per searchable table, with the table as its external content
-- (the index holds no second copy of the text), kept by triggers. The index
-- rows are keyed by the tables' rowids, which only a manual VACUUM renumbers;
-- after one, rebuild each index: INSERT INTO contacts_fts(contacts_fts)
-- VALUES ('rebuild'), and likewise for companies, leads and deals.

CREATE VIRTUAL TABLE contacts_fts USING fts5 (
    tenant_id UNINDEXED,
    first_name,
    last_name,
    email,
    phone,
    title,
    content = 'contacts',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO contacts_fts (contacts_fts) VALUES ('rebuild');

CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, tenant_id, first_name, last_name, email, phone, title) VALUES (NEW.rowid, NEW.tenant_id, NEW.first_name, NEW.last_name, NEW.email, NEW.phone, NEW.title);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, tenant_id, first_name, last_name, email, phone, title) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.first_name, OLD.last_name, OLD.email, OLD.phone, OLD.title);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, tenant_id, first_name, last_name, email, phone, title) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.first_name, OLD.last_name, OLD.email, OLD.phone, OLD.title);
    INSERT INTO contacts_fts (rowid, tenant_id, first_name, last_name, email, phone, title) VALUES (NEW.rowid, NEW.tenant_id, NEW.first_name, NEW.last_name, NEW.email, NEW.phone, NEW.title);
END;

CREATE VIRTUAL TABLE companies_fts USING fts5 (
    tenant_id UNINDEXED,
    name,
    domain,
    industry,
    content = 'companies',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO companies_fts (companies_fts) VALUES ('rebuild');

CREATE TRIGGER companies_fts_insert AFTER INSERT ON companies BEGIN
    INSERT INTO companies_fts (rowid, tenant_id, name, domain, industry) VALUES (NEW.rowid, NEW.tenant_id, NEW.name, NEW.domain, NEW.industry);
END;
CREATE TRIGGER companies_fts_delete AFTER DELETE ON companies BEGIN
    INSERT INTO companies_fts (companies_fts, rowid, tenant_id, name, domain, industry) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.name, OLD.domain, OLD.industry);
END;
CREATE TRIGGER companies_fts_update AFTER UPDATE ON companies BEGIN
    INSERT INTO companies_fts (companies_fts, rowid, tenant_id, name, domain, industry) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.name, OLD.domain, OLD.industry);
    INSERT INTO companies_fts (rowid, tenant_id, name, domain, industry) VALUES (NEW.rowid, NEW.tenant_id, NEW.name, NEW.domain, NEW.industry);
END;

CREATE VIRTUAL TABLE leads_fts USING fts5 (
    tenant_id UNINDEXED,
    first_name,
    last_name,
    email,
    company_name,
    phone,
    content = 'leads',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO leads_fts (leads_fts) VALUES ('rebuild');

CREATE TRIGGER leads_fts_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_fts (rowid, tenant_id, first_name, last_name, email, company_name, phone) VALUES (NEW.rowid, NEW.tenant_id, NEW.first_name, NEW.last_name, NEW.email, NEW.company_name, NEW.phone);
END;
CREATE TRIGGER leads_fts_delete AFTER DELETE ON leads BEGIN
    INSERT INTO leads_fts (leads_fts, rowid, tenant_id, first_name, last_name, email, company_name, phone) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.first_name, OLD.last_name, OLD.email, OLD.company_name, OLD.phone);
END;
CREATE TRIGGER leads_fts_update AFTER UPDATE ON leads BEGIN
    INSERT INTO leads_fts (leads_fts, rowid, tenant_id, first_name, last_name, email, company_name, phone) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.first_name, OLD.last_name, OLD.email, OLD.company_name, OLD.phone);
    INSERT INTO leads_fts (rowid, tenant_id, first_name, last_name, email, company_name, phone) VALUES (NEW.rowid, NEW.tenant_id, NEW.first_name, NEW.last_name, NEW.email, NEW.company_name, NEW.phone);
END;

CREATE VIRTUAL TABLE deals_fts USING fts5 (
    tenant_id UNINDEXED,
    title,
    content = 'deals',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO deals_fts (deals_fts) VALUES ('rebuild');

CREATE TRIGGER deals_fts_insert AFTER INSERT ON deals BEGIN
    INSERT INTO deals_fts (rowid, tenant_id, title) VALUES (NEW.rowid, NEW.tenant_id, NEW.title);
END;
CREATE TRIGGER deals_fts_delete AFTER DELETE ON deals BEGIN
    INSERT INTO deals_fts (deals_fts, rowid, tenant_id, title) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.title);
END;
CREATE TRIGGER deals_fts_update AFTER UPDATE ON deals BEGIN
    INSERT INTO deals_fts (deals_fts, rowid, tenant_id, title) VALUES ('delete', OLD.rowid, OLD.tenant_id, OLD.title);
    INSERT INTO deals_fts (rowid, tenant_id, title) VALUES (NEW.rowid, NEW.tenant_id, NEW.title);
END;
