-- CRM core, fourth part: products and deal line items (see the PostgreSQL
-- migration of the same number).

CREATE TABLE products (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    sku         TEXT,
    description TEXT,
    price       INTEGER NOT NULL CHECK (price >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    owner_id    TEXT,
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    sort_name   TEXT GENERATED ALWAYS AS (lower(name)) STORED,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, sku),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
) STRICT;
CREATE INDEX products_created ON products (tenant_id, created_at, id);
CREATE INDEX products_updated ON products (tenant_id, updated_at, id);
CREATE INDEX products_name ON products (tenant_id, sort_name, id);
CREATE INDEX products_owner ON products (tenant_id, owner_id);
CREATE INDEX products_created_by ON products (tenant_id, created_by);

CREATE TABLE deal_items (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    deal_id          TEXT NOT NULL,
    product_id       TEXT,
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    unit_price       INTEGER NOT NULL CHECK (unit_price >= 0),
    discount_percent INTEGER NOT NULL DEFAULT 0 CHECK (discount_percent BETWEEN 0 AND 100),
    position         INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
) STRICT;
CREATE INDEX deal_items_deal ON deal_items (tenant_id, deal_id, position);
CREATE INDEX deal_items_product ON deal_items (tenant_id, product_id);

CREATE TRIGGER users_delete_unlinks_products BEFORE DELETE ON users
BEGIN
    UPDATE products SET owner_id = NULL WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.id;
    UPDATE products SET created_by = NULL WHERE tenant_id = OLD.tenant_id AND created_by = OLD.id;
END;
CREATE TRIGGER products_delete_unlinks_items BEFORE DELETE ON products
BEGIN
    UPDATE deal_items SET product_id = NULL WHERE tenant_id = OLD.tenant_id AND product_id = OLD.id;
END;
