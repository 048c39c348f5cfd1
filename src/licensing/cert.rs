//! Licence certificates: what a licence allows, signed by the vendor with
//! Ed25519 so a self-hosted server can check it with no route to the vendor.
//!
//! The text form is `TRASLIC1.<payload>.<signature>`, both base64url without
//! padding. The payload is canonical JSON (fixed field order, no spaces) and
//! the signature covers a domain-separation prefix followed by exactly those
//! bytes; verification checks the signature over the bytes received before
//! reading them, so any changed byte fails.
//!
//! A certificate names the installation it was issued for (`installation`,
//! version 2): the fingerprint an installation sends when it claims a key
//! online, or prints with `trasealla license request` for the vendor to
//! issue it an offline certificate. Version 1 certificates named none; an
//! installation activated with one before binding existed keeps it, but no
//! installation activates with one any more.
//!
//! ## The trust root
//!
//! A self-hosted server checks certificates with one key only: the one
//! compiled into the binary. No run-time setting can name another, because
//! whoever runs the server could then sign their own certificates: the
//! customer controls its environment, its files and its database, but not
//! the vendor's binary. Which key is compiled in:
//!
//! * `TRASEALLA_VENDOR_PUBLIC_KEY` set at build time (a path to the vendor's
//!   `license.pub`, checked by `build.rs`): that key. This is how the vendor
//!   builds its releases.
//! * Unset, in a release build: the placeholder `vendor.pub`, whose private
//!   key nobody holds; such a binary activates no licence, and the build
//!   warns.
//! * Unset, in a debug build (`debug_assertions`: every `cargo test`): the
//!   test suite's key, `tests/keys/license.pub`, whose private key is
//!   committed beside it so the tests can sign. Debug builds are development
//!   tools, never shipped; someone who builds from source can embed any key
//!   they like anyway, so this gives away nothing a release binary protects.
//!   The test key is not compiled into release builds at all.
//!
//! The licence protects the vendor's binaries, not the source (which anyone
//! may rebuild with their own key): a release binary built with the
//! vendor's key honours nothing but that key in `self_hosted` mode.

use super::key::LicenseType;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use uuid::Uuid;

const PREFIX: &str = "TRASLIC1";
const DOMAIN: &[u8] = b"trasealla-license-certificate-v1\n";

/// The key named by `TRASEALLA_VENDOR_PUBLIC_KEY` at build time (empty when
/// it was unset); `build.rs` checked its form.
const BUILT_VENDOR_KEY: &str = env!("TRASEALLA_BUILT_VENDOR_KEY");

/// Without a vendor key: debug builds trust the test suite's key…
#[cfg(debug_assertions)]
const FALLBACK: (&str, TrustRoot) = (
    include_str!("../../tests/keys/license.pub"),
    TrustRoot::TestKey,
);
/// …and release builds the placeholder, which nobody can sign for.
#[cfg(not(debug_assertions))]
const FALLBACK: (&str, TrustRoot) = (include_str!("vendor.pub"), TrustRoot::Placeholder);

/// Where the key compiled into this binary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoot {
    /// `TRASEALLA_VENDOR_PUBLIC_KEY` at build time.
    Vendor,
    /// A debug build's fallback: the test suite's public key.
    TestKey,
    /// A release build's fallback: no licence verifies.
    Placeholder,
}

/// The public key compiled into this binary (base64), and its origin: the
/// only key a self-hosted server checks certificates with.
pub fn embedded_public_key() -> (&'static str, TrustRoot) {
    if BUILT_VENDOR_KEY.is_empty() {
        FALLBACK
    } else {
        (BUILT_VENDOR_KEY, TrustRoot::Vendor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub v: u32,
    pub key_id: Uuid,
    /// `starter`, `professional` or `enterprise`.
    pub license_type: String,
    /// `None`: unlimited.
    pub max_users: Option<i64>,
    pub features: Vec<String>,
    pub issued_at: DateTime<Utc>,
    /// `None`: perpetual.
    pub expires_at: Option<DateTime<Utc>>,
    pub issued_to: Option<String>,
    /// The fingerprint of the installation it was issued for (version 2);
    /// `None` only in version 1 certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<String>,
}

impl Certificate {
    pub fn license_type(&self) -> Option<LicenseType> {
        self.license_type
            .parse()
            .ok()
            .and_then(LicenseType::from_plan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate is not in the TRASLIC1.<payload>.<signature> form")]
    Format,
    #[error(
        "the certificate's signature does not verify: it was altered or signed by another key"
    )]
    Signature,
}

pub fn sign(cert: &Certificate, key: &SigningKey) -> String {
    // Serialising a struct of these field types cannot fail.
    let payload = serde_json::to_vec(cert).unwrap_or_default();
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&payload);
    let signature = key.sign(&message);
    format!(
        "{PREFIX}.{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

pub fn verify(text: &str, key: &VerifyingKey) -> Result<Certificate, CertError> {
    let text: String = text.split_whitespace().collect();
    let mut parts = text.split('.');
    let (Some(PREFIX), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CertError::Format);
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CertError::Format)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| CertError::Format)?;
    let signature = Signature::from_slice(&signature).map_err(|_| CertError::Format)?;
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&payload);
    key.verify(&message, &signature)
        .map_err(|_| CertError::Signature)?;
    let cert: Certificate = serde_json::from_slice(&payload).map_err(|_| CertError::Format)?;
    let versioned = match cert.v {
        1 => cert.installation.is_none(),
        2 => cert.installation.is_some(),
        _ => false,
    };
    if !versioned || cert.license_type().is_none() {
        return Err(CertError::Format);
    }
    Ok(cert)
}

/// Reads a certificate's payload without checking its signature: only for
/// describing one that failed verification.
pub fn decode_unverified(text: &str) -> Option<Certificate> {
    let payload = text.trim().split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// A fresh signing key from the system's random source.
pub fn generate_signing_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `trasealla license keygen --out DIR`: DIR/license.key (private, mode
/// 0600) and DIR/license.pub, each one line of base64.
pub fn write_keypair(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let key = generate_signing_key()?;
    let private = dir.join("license.key");
    let public = dir.join("license.pub");
    anyhow::ensure!(
        !private.exists(),
        "{} exists already; refusing to overwrite a signing key",
        private.display()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&private)?;
    writeln!(f, "{}", STANDARD.encode(key.to_bytes()))?;
    std::fs::write(
        &public,
        format!("{}\n", STANDARD.encode(key.verifying_key().to_bytes())),
    )?;
    Ok((private, public))
}

fn decode_32(text: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| anyhow::anyhow!("{what} is not base64"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is not 32 bytes long"))
}

/// Reads the private key file written by `write_keypair`.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the licence signing key {}: {e}",
            path.display()
        )
    })?;
    Ok(SigningKey::from_bytes(&decode_32(
        &text,
        "the licence signing key",
    )?))
}

/// A public key given as a path to a file written by `write_keypair`, or as
/// the base64 text itself.
pub fn load_public_key(path_or_base64: &str) -> anyhow::Result<VerifyingKey> {
    let text = if Path::new(path_or_base64).is_file() {
        std::fs::read_to_string(path_or_base64)?
    } else {
        path_or_base64.to_owned()
    };
    let bytes = decode_32(&text, "the licence public key")?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| anyhow::anyhow!("the licence public key is not a valid Ed25519 key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Certificate {
        Certificate {
            v: 1,
            key_id: Uuid::now_v7(),
            license_type: "enterprise".into(),
            max_users: Some(50),
            features: vec!["core_crm".into(), "sso".into()],
            issued_at: Utc::now(),
            expires_at: None,
            issued_to: Some("Customer Corp".into()),
            installation: None,
        }
    }

    #[test]
    fn certificates_verify_and_every_altered_byte_fails() {
        let key = generate_signing_key().unwrap();
        let cert = sample();
        let text = sign(&cert, &key);
        assert_eq!(verify(&text, &key.verifying_key()), Ok(cert));
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != text {
                assert!(
                    verify(&altered, &key.verifying_key()).is_err(),
                    "byte {i} altered"
                );
            }
        }
        let other = generate_signing_key().unwrap();
        assert_eq!(
            verify(&text, &other.verifying_key()),
            Err(CertError::Signature)
        );
    }

    #[test]
    fn the_embedded_public_key_loads() {
        let (key, root) = embedded_public_key();
        load_public_key(key).unwrap();
        load_public_key(include_str!("vendor.pub")).unwrap();
        // The tests run as a debug build without a vendor key.
        if BUILT_VENDOR_KEY.is_empty() {
            assert_eq!(root, TrustRoot::TestKey);
            assert_eq!(key, include_str!("../../tests/keys/license.pub"));
        }
    }

    #[test]
    fn the_test_key_pair_matches() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
        let key = load_signing_key(&dir.join("license.key")).unwrap();
        let public = load_public_key(dir.join("license.pub").to_str().unwrap()).unwrap();
        assert_eq!(key.verifying_key(), public);
        assert_ne!(
            public,
            load_public_key(include_str!("vendor.pub")).unwrap(),
            "the placeholder is not the test key"
        );
    }

    #[test]
    fn the_version_says_whether_an_installation_is_named() {
        let key = generate_signing_key().unwrap();
        let bound = Certificate {
            v: 2,
            installation: Some("ABCD-EFGH-IJKL-MNOP".into()),
            ..sample()
        };
        assert_eq!(
            verify(&sign(&bound, &key), &key.verifying_key()),
            Ok(bound.clone())
        );
        for bad in [
            Certificate {
                v: 1,
                ..bound.clone()
            },
            Certificate {
                v: 2,
                installation: None,
                ..bound.clone()
            },
            Certificate { v: 3, ..bound },
        ] {
            assert_eq!(
                verify(&sign(&bad, &key), &key.verifying_key()),
                Err(CertError::Format)
            );
        }
    }

    #[test]
    fn keypairs_are_written_private() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = write_keypair(dir.path()).unwrap();
        let key = load_signing_key(&private).unwrap();
        let pubkey = load_public_key(public.to_str().unwrap()).unwrap();
        assert_eq!(key.verifying_key(), pubkey);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_keypair(dir.path()).is_err(), "no overwrite");
    }
}
