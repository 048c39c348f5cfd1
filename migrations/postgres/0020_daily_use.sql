-- Daily use of the web application (issue 19): a colour per pipeline
-- stage, and a user's own time zone and language (NULL: the company's
-- zone, English).

ALTER TABLE pipeline_stages ADD COLUMN color TEXT CHECK (color ~ '^#[0-9a-f]{6}$');
ALTER TABLE users ADD COLUMN timezone TEXT CHECK (length(timezone) BETWEEN 1 AND 64);
ALTER TABLE users ADD COLUMN locale TEXT CHECK (length(locale) BETWEEN 2 AND 10);
