-- Custom fields: each tenant defines its own fields per record type, and
-- records carry their values in a `custom_fields` object, inside the row
-- and so inside its tenant's isolation.

CREATE TABLE custom_fields (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            UUID NOT NULL,
    entity        TEXT NOT NULL CHECK (entity IN ('contacts', 'companies', 'leads', 'deals', 'products', 'activities')),
    key           TEXT NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,49}$'),
    label         TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    type          TEXT NOT NULL CHECK (type IN ('text', 'long_text', 'number', 'money', 'date', 'datetime', 'checkbox', 'select', 'multi_select', 'url', 'email', 'phone', 'user')),
    options       JSONB NOT NULL DEFAULT '[]',
    required      BOOLEAN NOT NULL DEFAULT false,
    default_value JSONB,
    help_text     TEXT,
    position      BIGINT NOT NULL DEFAULT 0,
    -- Shown as a column of the record type's list.
    in_list       BOOLEAN NOT NULL DEFAULT false,
    -- Deleting archives: the values stay, hidden, until it is restored.
    archived_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT custom_fields_key UNIQUE (tenant_id, entity, key)
);

ALTER TABLE custom_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_fields FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_fields TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON custom_fields TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON custom_fields TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON custom_fields TO trasealla_platform;

ALTER TABLE contacts ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE companies ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE leads ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE deals ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE products ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE activities ADD COLUMN custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');

-- Filtering on a value. Under row-level security a jsonb containment
-- (`@>`, not leakproof) cannot use an index ahead of the tenant policy;
-- text and number comparisons can. So each value is also kept here, as
-- text and (numbers, money amounts) as a number, where a filter is a range
-- of a btree within the tenant, as search words are (migration 0011).
-- Triggers keep it in step with every write.
CREATE TABLE custom_values (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value_text TEXT COLLATE "C" NOT NULL,
    value_num  DOUBLE PRECISION,
    record_id  UUID NOT NULL,
    PRIMARY KEY (tenant_id, entity, key, value_text, record_id)
);
CREATE INDEX custom_values_num ON custom_values (tenant_id, entity, key, value_num) WHERE value_num IS NOT NULL;

ALTER TABLE custom_values ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_values FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_values TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON custom_values TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON custom_values TO trasealla_tenant, trasealla_platform;

-- The rows of custom_values of a record's object: one per value, one per
-- element of a list (multi-select), money by its amount.
CREATE FUNCTION custom_value_rows(obj JSONB)
RETURNS TABLE (key TEXT, value_text TEXT, value_num DOUBLE PRECISION)
LANGUAGE sql IMMUTABLE AS $$
    SELECT f.key,
           CASE jsonb_typeof(v.value) WHEN 'string' THEN v.value #>> '{}'
                                      WHEN 'object' THEN coalesce(v.value ->> 'amount', '') || ' ' || coalesce(v.value ->> 'currency', '')
                                      ELSE v.value::text END,
           CASE jsonb_typeof(v.value) WHEN 'number' THEN (v.value #>> '{}')::double precision
                                      WHEN 'object' THEN (v.value ->> 'amount')::double precision
                                      ELSE NULL END
      FROM jsonb_each(obj) AS f,
           LATERAL (SELECT e.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(f.value) = 'array' THEN f.value ELSE '[]' END) AS e
                    UNION ALL
                    SELECT f.value WHERE jsonb_typeof(f.value) <> 'array') AS v
     WHERE jsonb_typeof(v.value) <> 'null' AND length(v.value::text) <= 2000
$$;

CREATE FUNCTION custom_values_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO custom_values (tenant_id, entity, key, value_text, value_num, record_id)
    SELECT DISTINCT n.tenant_id, TG_ARGV[0], r.key, r.value_text, r.value_num, n.id
      FROM new_rows n, custom_value_rows(n.custom_fields) AS r
     WHERE n.custom_fields <> '{}';
    RETURN NULL;
END
$$;

CREATE FUNCTION custom_values_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM custom_values s
     USING (SELECT o.tenant_id, o.id, r.key, r.value_text FROM old_rows o, custom_value_rows(o.custom_fields) AS r
             WHERE o.custom_fields <> '{}') x
     WHERE s.tenant_id = x.tenant_id AND s.entity = TG_ARGV[0] AND s.key = x.key
       AND s.value_text = x.value_text AND s.record_id = x.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION custom_values_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM custom_values s
     USING (SELECT o.tenant_id, o.id, r.key, r.value_text
              FROM old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id,
                   custom_value_rows(o.custom_fields) AS r
             WHERE n.custom_fields IS DISTINCT FROM o.custom_fields) x
     WHERE s.tenant_id = x.tenant_id AND s.entity = TG_ARGV[0] AND s.key = x.key
       AND s.value_text = x.value_text AND s.record_id = x.id;
    INSERT INTO custom_values (tenant_id, entity, key, value_text, value_num, record_id)
    SELECT DISTINCT n.tenant_id, TG_ARGV[0], r.key, r.value_text, r.value_num, n.id
      FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id,
           custom_value_rows(n.custom_fields) AS r
     WHERE n.custom_fields IS DISTINCT FROM o.custom_fields;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_custom_values_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('contacts');
CREATE TRIGGER contacts_custom_values_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('contacts');
CREATE TRIGGER contacts_custom_values_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('contacts');
CREATE TRIGGER companies_custom_values_insert AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('companies');
CREATE TRIGGER companies_custom_values_delete AFTER DELETE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('companies');
CREATE TRIGGER companies_custom_values_update AFTER UPDATE ON companies
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('companies');
CREATE TRIGGER leads_custom_values_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('leads');
CREATE TRIGGER leads_custom_values_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('leads');
CREATE TRIGGER leads_custom_values_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('leads');
CREATE TRIGGER deals_custom_values_insert AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('deals');
CREATE TRIGGER deals_custom_values_delete AFTER DELETE ON deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('deals');
CREATE TRIGGER deals_custom_values_update AFTER UPDATE ON deals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('deals');
CREATE TRIGGER products_custom_values_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('products');
CREATE TRIGGER products_custom_values_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('products');
CREATE TRIGGER products_custom_values_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('products');
CREATE TRIGGER activities_custom_values_insert AFTER INSERT ON activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_insert('activities');
CREATE TRIGGER activities_custom_values_delete AFTER DELETE ON activities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_delete('activities');
CREATE TRIGGER activities_custom_values_update AFTER UPDATE ON activities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION custom_values_update('activities');
