-- Licence hardening (see the PostgreSQL migration of the same number).
ALTER TABLE installation_license ADD COLUMN clock_high_water TEXT;
ALTER TABLE installation_license ADD COLUMN clock_last_seen TEXT;
ALTER TABLE installation_license ADD COLUMN clock_behind_since TEXT;
ALTER TABLE installation_license ADD COLUMN clock_behind_secs INTEGER;
