-- Daily use of the web application (see the PostgreSQL migration of the
-- same number).

ALTER TABLE pipeline_stages ADD COLUMN color TEXT CHECK (color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]');
ALTER TABLE users ADD COLUMN timezone TEXT CHECK (length(timezone) BETWEEN 1 AND 64);
ALTER TABLE users ADD COLUMN locale TEXT CHECK (length(locale) BETWEEN 2 AND 10);
