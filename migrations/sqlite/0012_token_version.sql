-- A user's credential version: a password change, a role downgrade or
-- "log out everywhere" bumps it, and every token carries the version it was
-- issued at, so tokens and browser sessions from before stop working at once.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
