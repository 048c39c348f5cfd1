//! Embeds the migrations: every `migrations/<backend>/NNNN_name.sql`, in
//! version order, so adding a migration is adding its two files. And embeds
//! the licence trust root: the public key in the file named by the
//! build-time variable `TRASEALLA_VENDOR_PUBLIC_KEY` (a vendor's release
//! build), handed to the compiler as `TRASEALLA_BUILT_VENDOR_KEY`; empty when
//! unset, and `licensing::cert` then falls back (see its module doc).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    vendor_key();
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
        // Versions are unique and increasing. A gap is allowed: a branch may
        // take the number after one being written on another branch, and the
        // migrator applies whatever is missing, in version order.
        for (i, (version, _, path)) in files.iter().enumerate() {
            let previous = if i == 0 { 0 } else { files[i - 1].0 };
            assert!(
                *version > previous,
                "{path}: versions must be unique and increasing from 1"
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

/// Reads and checks `TRASEALLA_VENDOR_PUBLIC_KEY`: a build that names a key
/// must embed exactly that key, so anything else fails the build.
fn vendor_key() {
    println!("cargo:rerun-if-env-changed=TRASEALLA_VENDOR_PUBLIC_KEY");
    let key = match std::env::var_os("TRASEALLA_VENDOR_PUBLIC_KEY") {
        Some(path) if !path.is_empty() => {
            let path = Path::new(&path);
            println!("cargo:rerun-if-changed={}", path.display());
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
                panic!(
                    "TRASEALLA_VENDOR_PUBLIC_KEY={}: cannot read it: {e}",
                    path.display()
                )
            });
            let key = text.trim().to_owned();
            // An Ed25519 public key is 32 bytes: 44 characters of base64, one `=`.
            let base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
            assert!(
                key.len() == 44 && key.ends_with('=') && key[..43].chars().all(base64),
                "TRASEALLA_VENDOR_PUBLIC_KEY={}: not a license.pub (one line, the base64 of a 32-byte Ed25519 public key, as `trasealla license keygen` writes it)",
                path.display()
            );
            if std::env::var("PROFILE").as_deref() == Ok("release") {
                println!(
                    "cargo:warning=embedding the licence public key of {}",
                    path.display()
                );
            }
            key
        }
        _ => {
            if std::env::var("PROFILE").as_deref() == Ok("release") {
                println!(
                    "cargo:warning=TRASEALLA_VENDOR_PUBLIC_KEY is not set: this release build embeds the placeholder licence key, which no certificate verifies against"
                );
            }
            String::new()
        }
    };
    // Always set, so a variable of that name in the caller's environment
    // never reaches the compiler unchecked.
    println!("cargo:rustc-env=TRASEALLA_BUILT_VENDOR_KEY={key}");
}
