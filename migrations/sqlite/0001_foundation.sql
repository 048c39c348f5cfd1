-- Foundation: the same tables as the PostgreSQL migration. SQLite has no
-- row-level security: isolation rests on the tenant-scoped handle and the
-- composite keys (with foreign_keys = ON on every connection).
-- UUIDs are text, times fixed-width RFC 3339 text (so text order is time
-- order), JSON is text, booleans are 0/1. STRICT tables refuse mistyped values.

CREATE TABLE plans (
    code        TEXT PRIMARY KEY CHECK (code IN ('trial', 'starter', 'professional', 'enterprise')),
    name        TEXT NOT NULL,
    max_users   INTEGER CHECK (max_users > 0),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    features    TEXT NOT NULL CHECK (json_valid(features)),
    position    INTEGER NOT NULL
) STRICT;

INSERT INTO plans (code, name, max_users, price_cents, currency, features, position) VALUES
('trial', 'Trial', 3, 0, 'USD', '["core_crm", "basic_reports"]', 0),
('starter', 'Starter', 5, 2900, 'USD', '["core_crm", "basic_reports"]', 1),
('professional', 'Professional', 25, 7900, 'USD',
 '["core_crm", "basic_reports", "workflows", "advanced_reports", "integrations", "custom_fields", "email_templates"]', 2),
('enterprise', 'Enterprise', NULL, 19900, 'USD',
 '["core_crm", "basic_reports", "workflows", "advanced_reports", "integrations", "custom_fields", "email_templates", "custom_branding", "custom_domain", "sso", "priority_support"]', 3);

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    slug          TEXT NOT NULL UNIQUE,
    subdomain     TEXT NOT NULL UNIQUE,
    domain        TEXT UNIQUE,
    email         TEXT NOT NULL,
    phone         TEXT,
    logo_url      TEXT,
    industry      TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'trial', 'suspended', 'cancelled')),
    status_reason TEXT,
    trial_ends_at TEXT,
    settings      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE subscriptions (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    plan               TEXT NOT NULL REFERENCES plans (code),
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'cancelled')),
    max_users          INTEGER CHECK (max_users > 0),
    features           TEXT NOT NULL CHECK (json_valid(features)),
    current_period_end TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id)
) STRICT;

CREATE TABLE users (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    is_owner      INTEGER NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_login_at TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, username)
) STRICT;
CREATE UNIQUE INDEX users_one_owner ON users (tenant_id) WHERE is_owner;
CREATE INDEX users_username ON users (username);

CREATE TABLE license_keys (
    id                  TEXT PRIMARY KEY,
    key_hash            TEXT NOT NULL UNIQUE,
    key_hint            TEXT NOT NULL,
    license_type        TEXT NOT NULL CHECK (license_type IN ('starter', 'professional', 'enterprise')),
    max_users           INTEGER CHECK (max_users > 0),
    features            TEXT NOT NULL CHECK (json_valid(features)),
    issued_to           TEXT,
    expires_at          TEXT,
    is_active           INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    revoked_at          TEXT,
    activated_tenant_id TEXT REFERENCES tenants (id) ON DELETE SET NULL,
    activated_at        TEXT,
    instance_id         TEXT,
    created_at          TEXT NOT NULL
) STRICT;

CREATE TABLE platform_admins (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_login_at TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE platform_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE login_failures (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_client ON login_failures (client_addr, at);
