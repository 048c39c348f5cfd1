//! Trasealla CRM: one binary that serves a multi-tenant CRM on SQLite or
//! PostgreSQL, with tenant isolation enforced by types, keys and (on
//! PostgreSQL) row-level security.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod contract;
pub mod crm;
pub mod domain;
pub mod error;
pub mod events;
pub mod integrations;
pub mod invitations;
pub mod jobs;
pub mod licensing;
pub mod limiter;
pub mod limits;
pub mod mail;
pub mod outbound;
pub mod pagination;
pub mod plans;
pub mod platform;
pub mod ratelimit;
pub mod roles;
pub mod secrets;
pub mod staff;
pub mod store;
pub mod teams;
pub mod tenancy;
pub mod usage;
pub mod web;

pub use app::App;
pub use config::Config;
pub use web::router;

#[cfg(test)]
mod shape {
    //! The code's shape, checked: layers point one way, and requests commit
    //! in one place.

    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn files() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut paths = Vec::new();
        sources(&root, &mut paths);
        paths
            .into_iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (rel, std::fs::read_to_string(&p).unwrap())
            })
            .collect()
    }

    /// `web` (HTTP: extractors, routing, pages, the API) depends on the
    /// domain; no domain module may depend on `web`.
    #[test]
    fn nothing_outside_web_imports_web() {
        // Spelt apart so that this test does not find itself.
        let needles = [["crate", "web"].join("::"), ["super", "web"].join("::")];
        let mut offenders = Vec::new();
        for (path, text) in files() {
            if path.starts_with("web/") || path == "main.rs" {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if needles.iter().any(|n| code.contains(n.as_str())) {
                    offenders.push(format!("src/{path}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "modules outside src/web import from it:\n{}",
            offenders.join("\n")
        );
    }

    /// Request transactions are committed by `web::transaction` alone
    /// (through `TxSlot::finish`), never by a handler.
    #[test]
    fn no_handler_commits() {
        let mut offenders = Vec::new();
        for (path, text) in files() {
            if !path.starts_with("web/") {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                if line.contains(&[".commit", "()"].concat()) {
                    offenders.push(format!("src/{path}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "handlers commit by hand:\n{}",
            offenders.join("\n")
        );
    }
}
