//! Trasealla CRM: one binary that serves a multi-tenant CRM on SQLite or
//! PostgreSQL, with tenant isolation enforced by types, keys and (on
//! PostgreSQL) row-level security.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod contract;
pub mod crm;
pub mod domain;
pub mod error;
pub mod licensing;
pub mod pagination;
pub mod platform;
pub mod ratelimit;
pub mod staff;
pub mod store;
pub mod tenancy;
pub mod web;

pub use config::Config;
pub use web::{router, AppState};
