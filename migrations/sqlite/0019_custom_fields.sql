-- Custom fields (see the PostgreSQL migration of the same number). SQLite
-- has no row-level security in the way: filters read the JSON directly.

CREATE TABLE custom_fields (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    entity        TEXT NOT NULL CHECK (entity IN ('contacts', 'companies', 'leads', 'deals', 'products', 'activities')),
    key           TEXT NOT NULL,
    label         TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    type          TEXT NOT NULL CHECK (type IN ('text', 'long_text', 'number', 'money', 'date', 'datetime', 'checkbox', 'select', 'multi_select', 'url', 'email', 'phone', 'user')),
    options       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(options)),
    required      INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1)),
    default_value TEXT CHECK (default_value IS NULL OR json_valid(default_value)),
    help_text     TEXT,
    position      INTEGER NOT NULL DEFAULT 0,
    in_list       INTEGER NOT NULL DEFAULT 0 CHECK (in_list IN (0, 1)),
    archived_at   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, entity, key)
) STRICT;

ALTER TABLE contacts ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
ALTER TABLE companies ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
ALTER TABLE leads ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
ALTER TABLE deals ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
ALTER TABLE products ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
ALTER TABLE activities ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object');
