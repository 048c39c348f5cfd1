-- Background work and e-mail: the durable job queue, the scheduler's
-- timetable, outgoing messages, one-time links (e-mail verification,
-- password reset) and invitations.

-- The job queue. A platform table that tenant transactions may add to (a
-- registration or an invitation queues its mail in its own transaction):
-- the tenant role inserts and sees only its own tenant's jobs, and only the
-- platform role claims and finishes them. Platform jobs (the scheduler's)
-- have no tenant, and ids and idempotency keys are platform-wide: the
-- catalogue audit knows this table as the queue. `idempotency_key` makes
-- one logical job exist once, ever (one reminder per tenant and threshold).
CREATE TABLE jobs (
    id              UUID PRIMARY KEY,
    tenant_id       UUID REFERENCES tenants (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    payload         JSONB NOT NULL,
    idempotency_key TEXT CONSTRAINT jobs_idempotency_key_key UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT CHECK (max_attempts > 0),  -- NULL: the server's setting
    run_at          TIMESTAMPTZ NOT NULL,
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (state, finished_at);
CREATE INDEX jobs_tenant ON jobs (tenant_id);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON jobs TO trasealla_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON jobs TO trasealla_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO trasealla_platform;

-- When each periodic task is next due; kept here so that a restart neither
-- skips nor repeats one.
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    next_run_at TIMESTAMPTZ NOT NULL,
    last_run_at TIMESTAMPTZ
);
GRANT SELECT, INSERT, UPDATE, DELETE ON schedules TO trasealla_platform;

-- Outgoing e-mail. The body (text and HTML, which may hold a one-time link)
-- is sealed with the master key and dropped once the message is sent.
CREATE TABLE mail_messages (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    user_id    UUID,
    subject    TEXT NOT NULL,
    body       TEXT,
    dedupe_key TEXT,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'not_sent', 'retrying', 'dead')),
    error      TEXT,
    attempts   BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_at    TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT mail_messages_dedupe_key_key UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX mail_messages_recent ON mail_messages (tenant_id, created_at DESC, id DESC);
CREATE INDEX mail_messages_status ON mail_messages (status, created_at DESC);

-- Single-use links: e-mail verification (24 h) and password reset (1 h).
-- Only a hash of the token is kept.
CREATE TABLE user_tokens (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    user_id    UUID NOT NULL,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    token_hash TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT user_tokens_token_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT user_tokens_user_fk FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_tokens_user ON user_tokens (tenant_id, user_id, purpose);
-- Links are redeemed before the tenant is known.
CREATE INDEX user_tokens_token ON user_tokens (token_hash);

-- Invitations: pending ones count against the plan's user limit.
CREATE TABLE invitations (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    token_hash  TEXT NOT NULL,
    invited_by  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ,
    user_id     UUID,
    revoked_at  TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_token_hash_key UNIQUE (tenant_id, token_hash)
);
CREATE INDEX invitations_token ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_open_email ON invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_recent ON invitations (tenant_id, created_at DESC, id DESC);

ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

ALTER TABLE mail_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_messages TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON mail_messages TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE user_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_tokens TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON user_tokens TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON invitations TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON mail_messages, user_tokens, invitations
    TO trasealla_tenant, trasealla_platform;
