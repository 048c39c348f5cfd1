-- Placeholder: version 18 belongs to the integrations branch (API keys and
-- webhooks), whose file of this name replaces this one when both are merged.
SELECT 1;
