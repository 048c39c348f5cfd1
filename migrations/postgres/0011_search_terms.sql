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

ALTER TABLE search_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_terms TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON search_terms TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON search_terms TO trasealla_tenant, trasealla_platform;

-- Statement-level triggers with transition tables: a batch INSERT of 500
-- imported contacts writes their words in one statement, not 500 calls.
-- They run as the writer's role, so the tenant policy applies to them too.
CREATE FUNCTION search_terms_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_terms (tenant_id, record_type, term, record_id)
    SELECT n.tenant_id, TG_ARGV[0], t, n.id
      FROM new_rows n, unnest(tsvector_to_array(n.search)) AS t
     WHERE length(t) <= 200;
    RETURN NULL;
END
$$;

-- A record's words are found again from its old `search` value, through
-- the primary key: no second index to keep up on every insert.
CREATE FUNCTION search_terms_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_terms s
     USING (SELECT o.tenant_id, o.id, t FROM old_rows o, unnest(tsvector_to_array(o.search)) AS t) x
     WHERE s.tenant_id = x.tenant_id AND s.record_type = TG_ARGV[0] AND s.term = x.t AND s.record_id = x.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION search_terms_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_terms s
     USING (SELECT o.tenant_id, o.id, t
              FROM old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id,
                   unnest(tsvector_to_array(o.search)) AS t
             WHERE n.search IS DISTINCT FROM o.search) x
     WHERE s.tenant_id = x.tenant_id AND s.record_type = TG_ARGV[0] AND s.term = x.t AND s.record_id = x.id;
    INSERT INTO search_terms (tenant_id, record_type, term, record_id)
    SELECT n.tenant_id, TG_ARGV[0], t, n.id
      FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id,
           unnest(tsvector_to_array(n.search)) AS t
     WHERE n.search IS DISTINCT FROM o.search AND length(t) <= 200;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_search_terms_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_insert('contact');
CREATE TRIGGER contacts_search_terms_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_delete('contact');
CREATE TRIGGER contacts_search_terms_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_update('contact');
CREATE TRIGGER companies_search_terms_insert AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_insert('company');
CREATE TRIGGER companies_search_terms_delete AFTER DELETE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_delete('company');
CREATE TRIGGER companies_search_terms_update AFTER UPDATE ON companies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_update('company');
CREATE TRIGGER leads_search_terms_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_insert('lead');
CREATE TRIGGER leads_search_terms_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_delete('lead');
CREATE TRIGGER leads_search_terms_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_update('lead');
CREATE TRIGGER deals_search_terms_insert AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_insert('deal');
CREATE TRIGGER deals_search_terms_delete AFTER DELETE ON deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_delete('deal');
CREATE TRIGGER deals_search_terms_update AFTER UPDATE ON deals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_update('deal');

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
