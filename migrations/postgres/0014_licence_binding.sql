-- Licence hardening: the high-water mark of the clock a self-hosted
-- installation has seen, so a clock set back is noticed (and expiry is
-- judged at the latest time seen). NULL on a row from before: the server
-- starts the mark from the row's activation and check times.
ALTER TABLE installation_license ADD COLUMN clock_high_water TIMESTAMPTZ;
-- The clock's last reading, to count time passing while it is behind.
ALTER TABLE installation_license ADD COLUMN clock_last_seen TIMESTAMPTZ;
-- While the clock is more than a day behind the mark: since when (the mark
-- then), and how much of the grace period has been used, in seconds.
ALTER TABLE installation_license ADD COLUMN clock_behind_since TIMESTAMPTZ;
ALTER TABLE installation_license ADD COLUMN clock_behind_secs BIGINT;
