-- CRM core, fourth part: the product catalogue and deals' line items. A
-- deal with items has the sum of its items as its amount.

CREATE TABLE products (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    sku         TEXT,
    description TEXT,
    price       BIGINT NOT NULL CHECK (price >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    active      BOOLEAN NOT NULL DEFAULT true,
    owner_id    UUID,
    created_by  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    sort_name   TEXT GENERATED ALWAYS AS (lower(name)) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT products_sku_key UNIQUE (tenant_id, sku),
    CONSTRAINT products_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT products_created_by_fk FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX products_created ON products (tenant_id, created_at, id);
CREATE INDEX products_updated ON products (tenant_id, updated_at, id);
CREATE INDEX products_name ON products (tenant_id, sort_name, id);

CREATE TABLE deal_items (
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               UUID NOT NULL,
    deal_id          UUID NOT NULL,
    product_id       UUID,
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    quantity         BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    unit_price       BIGINT NOT NULL CHECK (unit_price >= 0),
    discount_percent BIGINT NOT NULL DEFAULT 0 CHECK (discount_percent BETWEEN 0 AND 100),
    position         BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT deal_items_deal_fk FOREIGN KEY (tenant_id, deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deal_items_product_fk FOREIGN KEY (tenant_id, product_id)
        REFERENCES products (tenant_id, id) ON DELETE SET NULL (product_id)
);
CREATE INDEX deal_items_deal ON deal_items (tenant_id, deal_id, position);
CREATE INDEX deal_items_product ON deal_items (tenant_id, product_id);

ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON products TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON products TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE deal_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_items TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON deal_items TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON products, deal_items TO trasealla_tenant, trasealla_platform;
