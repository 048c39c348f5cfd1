-- Access inside a tenant: teams of users, and roles that say, per record
-- type, which records a user reads and edits (their own, their teams', all)
-- and whether they may delete, import, export and change in bulk.
--
-- A role row exists for every custom role, and for a built-in role
-- (manager, user) once an admin has changed it; until then the built-in
-- defaults in code apply. The admin role is not stored: it always has full
-- access. A user's `role` still decides administrative rights; `role_id`,
-- when set, names the custom role whose record permissions they have.

CREATE TABLE teams (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX teams_name ON teams (tenant_id, lower(name));

CREATE TABLE team_members (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id   UUID NOT NULL,
    user_id   UUID NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    CONSTRAINT team_members_team_fk FOREIGN KEY (tenant_id, team_id)
        REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT team_members_user_fk FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_user ON team_members (tenant_id, user_id, team_id);

CREATE TABLE roles (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    builtin     TEXT CHECK (builtin IN ('manager', 'user')),
    permissions JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX roles_name ON roles (tenant_id, lower(name));
CREATE UNIQUE INDEX roles_builtin ON roles (tenant_id, builtin) WHERE builtin IS NOT NULL;

ALTER TABLE users ADD COLUMN role_id UUID;
ALTER TABLE users ADD CONSTRAINT users_role_fk FOREIGN KEY (tenant_id, role_id)
    REFERENCES roles (tenant_id, id);
CREATE INDEX users_role ON users (tenant_id, role_id);

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON teams TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_members TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON team_members TO trasealla_platform USING (true) WITH CHECK (true);

ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles TO trasealla_tenant
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_access ON roles TO trasealla_platform USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON teams, team_members, roles TO trasealla_tenant, trasealla_platform;
