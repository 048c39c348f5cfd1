//! HTTP integration tests: every behaviour on SQLite and, when
//! TEST_DATABASE_URL names a PostgreSQL server, on PostgreSQL. One test
//! binary for the whole suite.

mod support;

mod access;
mod auth;
mod bad_input;
mod billing;
mod crm;
mod custom_fields;
mod daily;
mod integrations;
mod isolation;
mod jobs;
mod licensing;
mod licensing_hardening;
mod limiter;
mod limits;
mod mail;
mod mailsink;
mod pages;
mod plans;
mod platform;
mod registration;
mod rls;
mod system;
mod tenants;
mod users;
