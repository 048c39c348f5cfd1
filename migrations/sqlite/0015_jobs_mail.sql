-- Background work and e-mail (see the PostgreSQL migration of the same
-- number): the job queue, the scheduler's timetable, outgoing messages,
-- one-time links and invitations.

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    idempotency_key TEXT UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER CHECK (max_attempts > 0),
    run_at          TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    finished_at     TEXT
) STRICT;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (state, finished_at);
CREATE INDEX jobs_tenant ON jobs (tenant_id);

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    next_run_at TEXT NOT NULL,
    last_run_at TEXT
) STRICT;

CREATE TABLE mail_messages (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    user_id    TEXT,
    subject    TEXT NOT NULL,
    body       TEXT,
    dedupe_key TEXT,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'not_sent', 'retrying', 'dead')),
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at    TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, dedupe_key)
) STRICT;
CREATE INDEX mail_messages_recent ON mail_messages (tenant_id, created_at DESC, id DESC);
CREATE INDEX mail_messages_status ON mail_messages (status, created_at DESC);

CREATE TABLE user_tokens (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    token_hash TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX user_tokens_user ON user_tokens (tenant_id, user_id, purpose);
CREATE INDEX user_tokens_token ON user_tokens (token_hash);

CREATE TABLE invitations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    token_hash  TEXT NOT NULL,
    invited_by  TEXT,
    created_at  TEXT NOT NULL,
    sent_at     TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    accepted_at TEXT,
    user_id     TEXT,
    revoked_at  TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash)
) STRICT;
CREATE INDEX invitations_token ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_open_email ON invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_recent ON invitations (tenant_id, created_at DESC, id DESC);

ALTER TABLE users ADD COLUMN email_verified_at TEXT;
