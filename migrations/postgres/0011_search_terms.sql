-- Search under row-level security. `@@` is not leakproof, so the planner
-- cannot use the GIN indexes of 0009 ahead of the tenant policy: a search
-- read every row of the tenant (about 180 ms at 1,000 contacts a tenant
-- under load). Text comparisons are leakproof, so each record's search
-- words (the lexemes of its `search` column) are kept in `search_terms`,
-- where a word prefix is a range of a btree within the tenant; `@@` then
-- checks all the words on the few candidate rows only (src/crm/search.rs).
-- Triggers keep the words in step with every write; the GIN indexes served
-- no query any more and cost every insert, so they go.

CREATE TABLE search_terms (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'company', 'lead', 'deal')),
    term        TEXT COLLATE "C" NOT NULL,
    record_id   UUID NOT NULL,
    PRIMARY KEY (tenant_id, record_type, term, record_id)
);
CREATE INDEX search_terms_record ON search_terms (tenant_id, record_type, record_id);

ALTER TABLE search_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_terms TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON search_terms TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON search_terms TO trasealla_tenant, trasealla_platform;

-- Runs as the writer's role, so the tenant policy applies to it too.
CREATE FUNCTION search_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM search_terms
         WHERE tenant_id = OLD.tenant_id AND record_type = TG_ARGV[0] AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO search_terms (tenant_id, record_type, term, record_id)
        SELECT NEW.tenant_id, TG_ARGV[0], t, NEW.id
          FROM unnest(tsvector_to_array(NEW.search)) AS t
         WHERE length(t) <= 200;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_search_terms AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION search_terms_sync('contact');
CREATE TRIGGER contacts_search_terms_update AFTER UPDATE ON contacts
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_terms_sync('contact');
CREATE TRIGGER companies_search_terms AFTER INSERT OR DELETE ON companies
    FOR EACH ROW EXECUTE FUNCTION search_terms_sync('company');
CREATE TRIGGER companies_search_terms_update AFTER UPDATE ON companies
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_terms_sync('company');
CREATE TRIGGER leads_search_terms AFTER INSERT OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION search_terms_sync('lead');
CREATE TRIGGER leads_search_terms_update AFTER UPDATE ON leads
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_terms_sync('lead');
CREATE TRIGGER deals_search_terms AFTER INSERT OR DELETE ON deals
    FOR EACH ROW EXECUTE FUNCTION search_terms_sync('deal');
CREATE TRIGGER deals_search_terms_update AFTER UPDATE ON deals
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_terms_sync('deal');

-- The records that exist already.
INSERT INTO search_terms (tenant_id, record_type, term, record_id)
SELECT tenant_id, 'contact', t, id FROM contacts, unnest(tsvector_to_array(search)) AS t WHERE length(t) <= 200
UNION ALL
SELECT tenant_id, 'company', t, id FROM companies, unnest(tsvector_to_array(search)) AS t WHERE length(t) <= 200
UNION ALL
SELECT tenant_id, 'lead', t, id FROM leads, unnest(tsvector_to_array(search)) AS t WHERE length(t) <= 200
UNION ALL
SELECT tenant_id, 'deal', t, id FROM deals, unnest(tsvector_to_array(search)) AS t WHERE length(t) <= 200;

DROP INDEX contacts_search;
DROP INDEX companies_search;
DROP INDEX leads_search;
DROP INDEX deals_search;
