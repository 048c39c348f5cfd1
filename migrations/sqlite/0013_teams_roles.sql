-- Access inside a tenant: teams and roles (see the PostgreSQL migration of
-- the same number). SQLite cannot add a composite foreign key to users, so
-- a role in use is refused deletion by the service, as PostgreSQL's key
-- would refuse it.

CREATE TABLE teams (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE UNIQUE INDEX teams_name ON teams (tenant_id, lower(name));

CREATE TABLE team_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id   TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX team_members_user ON team_members (tenant_id, user_id, team_id);

CREATE TABLE roles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    builtin     TEXT CHECK (builtin IN ('manager', 'user')),
    permissions TEXT NOT NULL CHECK (json_valid(permissions)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE UNIQUE INDEX roles_name ON roles (tenant_id, lower(name));
CREATE UNIQUE INDEX roles_builtin ON roles (tenant_id, builtin) WHERE builtin IS NOT NULL;

ALTER TABLE users ADD COLUMN role_id TEXT;
CREATE INDEX users_role ON users (tenant_id, role_id);
