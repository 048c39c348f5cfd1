-- PostgreSQL's migration of this number adds covering indexes for search
-- under row-level security. SQLite has neither: its FTS5 tables carry the
-- tenant id, so there is nothing to add; this keeps the numbering aligned.
SELECT 1;
