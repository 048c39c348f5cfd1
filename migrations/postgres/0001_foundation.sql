-- Foundation: the platform tables (plans, tenants, platform admins, settings,
-- licence keys, login throttling) and the first tenant-owned tables
-- (subscriptions, users), with the roles and row-level security that keep
-- tenants apart. See ARCHITECTURE.md §3.

-- Roles are cluster-wide; create them once. NOLOGIN, no BYPASSRLS, owners of
-- nothing: the connecting user switches to them per transaction.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trasealla_tenant') THEN
        CREATE ROLE trasealla_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trasealla_platform') THEN
        CREATE ROLE trasealla_platform NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT trasealla_tenant TO CURRENT_USER;
GRANT trasealla_platform TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO trasealla_tenant, trasealla_platform;

-- The plan catalogue (ARCHITECTURE.md §6). A global reference table: tenant
-- tables may reference it, it references nothing tenant-owned.
CREATE TABLE plans (
    code        TEXT PRIMARY KEY CHECK (code IN ('trial', 'starter', 'professional', 'enterprise')),
    name        TEXT NOT NULL,
    max_users   BIGINT CHECK (max_users > 0),          -- NULL: unlimited
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    features    JSONB NOT NULL,
    position    BIGINT NOT NULL
);

INSERT INTO plans (code, name, max_users, price_cents, currency, features, position) VALUES
('trial', 'Trial', 3, 0, 'USD', '["core_crm", "basic_reports"]', 0),
('starter', 'Starter', 5, 2900, 'USD', '["core_crm", "basic_reports"]', 1),
('professional', 'Professional', 25, 7900, 'USD',
 '["core_crm", "basic_reports", "workflows", "advanced_reports", "integrations", "custom_fields", "email_templates"]', 2),
('enterprise', 'Enterprise', NULL, 19900, 'USD',
 '["core_crm", "basic_reports", "workflows", "advanced_reports", "integrations", "custom_fields", "email_templates", "custom_branding", "custom_domain", "sso", "priority_support"]', 3);

CREATE TABLE tenants (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    slug          TEXT NOT NULL CONSTRAINT tenants_slug_key UNIQUE,
    subdomain     TEXT NOT NULL CONSTRAINT tenants_subdomain_key UNIQUE,
    domain        TEXT CONSTRAINT tenants_domain_key UNIQUE,
    email         TEXT NOT NULL,
    phone         TEXT,
    logo_url      TEXT,
    industry      TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'trial', 'suspended', 'cancelled')),
    status_reason TEXT,
    trial_ends_at TIMESTAMPTZ,
    settings      JSONB NOT NULL DEFAULT '{}',
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE subscriptions (
    tenant_id          UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 UUID NOT NULL,
    plan               TEXT NOT NULL REFERENCES plans (code),
    status             TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'cancelled')),
    max_users          BIGINT CHECK (max_users > 0),   -- NULL: unlimited
    features           JSONB NOT NULL,
    current_period_end TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT subscriptions_tenant_key UNIQUE (tenant_id)
);

CREATE TABLE users (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            UUID NOT NULL,
    -- The one deliberate platform-wide uniqueness: the e-mail is the login.
    email         TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    username      TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    is_owner      BOOLEAN NOT NULL DEFAULT false,
    is_active     BOOLEAN NOT NULL DEFAULT true,
    last_login_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_username_key UNIQUE (tenant_id, username)
);
CREATE UNIQUE INDEX users_one_owner ON users (tenant_id) WHERE is_owner;
CREATE INDEX users_username ON users (username);

-- Vendor-side licence keys (filled by the licensing issue). A platform table:
-- a key belongs to no tenant until it is activated.
CREATE TABLE license_keys (
    id                  UUID PRIMARY KEY,
    key_hash            TEXT NOT NULL CONSTRAINT license_keys_key_hash_key UNIQUE,
    key_hint            TEXT NOT NULL,
    license_type        TEXT NOT NULL CHECK (license_type IN ('starter', 'professional', 'enterprise')),
    max_users           BIGINT CHECK (max_users > 0),
    features            JSONB NOT NULL,
    issued_to           TEXT,
    expires_at          TIMESTAMPTZ,
    is_active           BOOLEAN NOT NULL DEFAULT true,
    revoked_at          TIMESTAMPTZ,
    activated_tenant_id UUID REFERENCES tenants (id) ON DELETE SET NULL,
    activated_at        TIMESTAMPTZ,
    instance_id         TEXT,
    created_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE platform_admins (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL CONSTRAINT platform_admins_username_key UNIQUE,
    password_hash TEXT NOT NULL,
    is_active     BOOLEAN NOT NULL DEFAULT true,
    last_login_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Settings every server process must agree on (the generated JWT secret).
CREATE TABLE platform_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Failed logins, shared by every server process behind the load balancer.
CREATE TABLE login_failures (
    id          UUID PRIMARY KEY,
    username    TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_client ON login_failures (client_addr, at);

-- Row-level security. The tenant policy is the backstop behind the explicit
-- tenant_id predicate every query carries; NULLIF makes an unset setting
-- match nothing instead of failing the cast.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO trasealla_tenant
    USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON tenants TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscriptions TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON subscriptions TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON users TO trasealla_platform USING (true) WITH CHECK (true);

-- Privileges: the tenant role reads the catalogue and its own tenant row,
-- may change only the tenant's self-service columns, reads its subscription,
-- and manages its staff. The platform role does platform work.
GRANT SELECT ON plans TO trasealla_tenant;
GRANT SELECT, UPDATE (name, phone, industry, logo_url, timezone, settings, updated_at) ON tenants TO trasealla_tenant;
GRANT SELECT ON subscriptions TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON plans, tenants, subscriptions, users, license_keys, platform_admins, platform_settings, login_failures
    TO trasealla_platform;
