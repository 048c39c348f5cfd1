-- Full-text search across contacts, companies, leads and deals: a generated
-- tsvector per row ('simple' configuration: names and e-mails, not prose)
-- with a GIN index. Queries keep their tenant_id predicate.

ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
                          coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(title, ''))
) STORED;
CREATE INDEX contacts_search ON contacts USING gin (search);

ALTER TABLE companies ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || coalesce(industry, ''))
) STORED;
CREATE INDEX companies_search ON companies USING gin (search);

ALTER TABLE leads ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
                          coalesce(email, '') || ' ' || coalesce(company_name, '') || ' ' || coalesce(phone, ''))
) STORED;
CREATE INDEX leads_search ON leads USING gin (search);

ALTER TABLE deals ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(title, ''))
) STORED;
CREATE INDEX deals_search ON deals USING gin (search);
