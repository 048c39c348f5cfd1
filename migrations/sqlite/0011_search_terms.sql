-- PostgreSQL's migration of this number keeps search words in a table its
-- row-level security lets an index reach. SQLite has no row-level security
-- and its FTS5 tables carry the tenant id, so there is nothing to add; this
-- keeps the numbering aligned.
SELECT 1;
