-- Integrations: API keys, and signed webhooks fed by an outbox of record
-- events written in the same transaction as the change they describe.

-- API keys: `trs_…` secrets of which only a SHA-256 hash is kept. A key acts
-- with its owner's record access, or with a chosen built-in (`role`) or
-- custom (`role_id`) role, never above the owner's. Revoked keys stay, for
-- the list and the audit log.
CREATE TABLE api_keys (
    tenant_id           UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  UUID NOT NULL,
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix              TEXT NOT NULL,
    secret_hash         TEXT NOT NULL,
    scopes              JSONB NOT NULL,
    owner_id            UUID NOT NULL,
    role                TEXT CHECK (role IN ('admin', 'manager', 'user')),
    role_id             UUID,
    requests_per_minute BIGINT CHECK (requests_per_minute > 0),
    expires_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    last_used_at        TIMESTAMPTZ,
    last_used_addr      TEXT,
    revoked_at          TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_secret_hash_key UNIQUE (tenant_id, secret_hash),
    CONSTRAINT api_keys_owner_fk FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT api_keys_role_fk FOREIGN KEY (tenant_id, role_id)
        REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);
-- A key is looked up by its hash before its tenant is known.
CREATE INDEX api_keys_secret ON api_keys (secret_hash);
CREATE INDEX api_keys_owner ON api_keys (tenant_id, owner_id);
CREATE INDEX api_keys_role ON api_keys (tenant_id, role_id);

-- The client addresses each key has been used from (a new one is audited).
CREATE TABLE api_key_addresses (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_id        UUID NOT NULL,
    addr          TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key_id, addr),
    CONSTRAINT api_key_addresses_key_fk FOREIGN KEY (tenant_id, key_id)
        REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);

-- Webhook endpoints. `secret` (and, for 24 hours after a rotation,
-- `previous_secret`) is sealed with the master key: deliveries are signed
-- with it, so it cannot be a hash.
CREATE TABLE webhook_endpoints (
    tenant_id             UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    UUID NOT NULL,
    url                   TEXT NOT NULL,
    description           TEXT,
    events                JSONB NOT NULL,
    enabled               BOOLEAN NOT NULL,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TIMESTAMPTZ,
    failing_since         TIMESTAMPTZ,
    disabled_at           TIMESTAMPTZ,
    disabled_reason       TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- The outbox: one row per event someone wants (today: an enabled webhook
-- endpoint subscribed to its type), written in the transaction of the
-- change. `payload` is the exact body every delivery sends and signs.
CREATE TABLE outbox_events (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    type        TEXT NOT NULL,
    record_type TEXT,
    record_id   UUID,
    payload     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_events_created ON outbox_events (tenant_id, created_at);

-- One event to one endpoint. Deliveries of one record to one endpoint
-- share a lane and go out in order.
CREATE TABLE webhook_deliveries (
    tenant_id       UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              UUID NOT NULL,
    endpoint_id     UUID NOT NULL,
    event_id        UUID NOT NULL,
    lane            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    retries_used    BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    locked_until    TIMESTAMPTZ,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_deliveries_endpoint_fk FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_event_fk FOREIGN KEY (tenant_id, event_id)
        REFERENCES outbox_events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id);
CREATE INDEX webhook_deliveries_lane ON webhook_deliveries (tenant_id, endpoint_id, lane, id)
    WHERE state = 'pending';
-- The sweep that requeues deliveries whose job was lost.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE state <> 'pending';

-- The delivery log: each attempt, with the first KiB of the answer.
CREATE TABLE webhook_attempts (
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           UUID NOT NULL,
    delivery_id  UUID NOT NULL,
    attempt      BIGINT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  BIGINT,
    duration_ms  BIGINT NOT NULL,
    response     TEXT,
    error        TEXT,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_attempts_delivery_fk FOREIGN KEY (tenant_id, delivery_id)
        REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, delivery_id, attempt);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON api_keys TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE api_key_addresses ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_addresses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_addresses TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON api_key_addresses TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON webhook_endpoints TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE outbox_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_events TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON outbox_events TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON webhook_deliveries TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON webhook_attempts TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE
    ON api_keys, api_key_addresses, webhook_endpoints, outbox_events, webhook_deliveries, webhook_attempts
    TO trasealla_tenant, trasealla_platform;
