//! Embeds the migrations: every `migrations/<backend>/NNNN_name.sql`, in
//! version order, so adding a migration is adding its two files.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    let mut versions = Vec::new();
    for (backend, constant) in [("postgres", "POSTGRES"), ("sqlite", "SQLITE")] {
        let dir = root.join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                let (number, name) = stem
                    .split_once('_')
                    .unwrap_or_else(|| panic!("{}: name it NNNN_name.sql", p.display()));
                let version = number
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: name it NNNN_name.sql", p.display()));
                (version, name.to_owned(), p.display().to_string())
            })
            .collect();
        files.sort();
        for (i, (version, _, path)) in files.iter().enumerate() {
            assert_eq!(
                *version,
                i as i64 + 1,
                "{path}: versions must run 1, 2, 3… without gaps"
            );
        }
        versions.push(files.iter().map(|f| (f.0, f.1.clone())).collect::<Vec<_>>());
        writeln!(out, "pub const {constant}: &[Migration] = &[").unwrap();
        for (version, name, path) in &files {
            writeln!(
                out,
                "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({path:?}) }},"
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    assert_eq!(
        versions[0], versions[1],
        "migrations/postgres and migrations/sqlite must hold the same versions and names"
    );
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).expect("write migrations.rs");
}
