//! Secrets at rest: what the database must keep but a reader of one of its
//! backups must not be able to use — the generated token-signing secret (with
//! it, anyone forges a token for any user) and a self-hosted installation's
//! licence key. They are sealed with XChaCha20-Poly1305 under a master key
//! that never enters the database, each bound to its place (the associated
//! data names it), so a sealed value moved to another column does not open.
//!
//! The master key is `TRASEALLA_MASTER_KEY` (base64 of 32 bytes) or the file
//! `TRASEALLA_MASTER_KEY_FILE` names (created when missing). With neither, the
//! server keeps it in `$XDG_CONFIG_HOME/trasealla/master.key` (by default
//! `~/.config/trasealla/master.key`), made on first start with mode 0600 in a
//! 0700 directory: the account's own configuration, not the data directory.
//! Beside the SQLite file would be simpler, but whoever backs up or copies
//! `./data` (the usual thing to back up) would carry the key along with what
//! it locks, which is the very leak this prevents. Only the key's path is
//! ever logged.
//!
//! Values stored in the clear by an earlier version are sealed in place the
//! first time they are read ([`MasterKey::open_or_seal`]).

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use std::path::{Path, PathBuf};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// The key every secret at rest is sealed with. Its `Debug` shows nothing.
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Where the master key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `TRASEALLA_MASTER_KEY`.
    Setting,
    /// A key file that was there already.
    File(PathBuf),
    /// A key file made now.
    Generated(PathBuf),
}

/// A secret read back from the database.
pub struct Unsealed {
    pub value: String,
    /// The value was stored in the clear: this sealed form should replace it.
    pub resealed: Option<String>,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey {
            cipher: XChaCha20Poly1305::new(&(*bytes).into()),
        }
    }

    /// A key written as base64 of 32 bytes (the setting and the file's line).
    pub fn parse(text: &str, what: &str) -> anyhow::Result<MasterKey> {
        let bytes: [u8; KEY_LEN] = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{what} must be the base64 of 32 random bytes (for example the output of `head -c 32 /dev/urandom | base64`)"
                )
            })?;
        Ok(MasterKey::from_bytes(&bytes))
    }

    /// The configured key, the key file (made when missing), or the key file
    /// at the default place (made when missing).
    pub fn load(
        setting: Option<&str>,
        file: Option<&Path>,
    ) -> anyhow::Result<(MasterKey, KeySource)> {
        if let Some(text) = setting {
            return Ok((
                MasterKey::parse(text, "TRASEALLA_MASTER_KEY")?,
                KeySource::Setting,
            ));
        }
        let path = match file {
            Some(p) => p.to_path_buf(),
            None => default_key_path().ok_or_else(|| {
                anyhow::anyhow!(
                    "no place for the master key: neither HOME nor XDG_CONFIG_HOME is set; set TRASEALLA_MASTER_KEY_FILE (or TRASEALLA_MASTER_KEY)"
                )
            })?,
        };
        let created = if path.exists() {
            false
        } else {
            create_key_file(&path)?
        };
        let key = read_key_file(&path)?;
        let source = if created {
            KeySource::Generated(path)
        } else {
            KeySource::File(path)
        };
        Ok((key, source))
    }

    /// `value` sealed for `slot` (the place it is stored, e.g.
    /// `platform_settings.jwt_secret`).
    pub fn seal(&self, slot: &str, value: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).context("no system random source")?;
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: slot.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot seal {slot}"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(out)))
    }

    /// Reads a value stored for `slot`: sealed (opened here) or, from an
    /// earlier version, in the clear (returned with its sealed form, for the
    /// caller to store in its place).
    pub fn open_or_seal(&self, slot: &str, stored: &str) -> anyhow::Result<Unsealed> {
        let Some(body) = stored.strip_prefix(PREFIX) else {
            return Ok(Unsealed {
                value: stored.to_owned(),
                resealed: Some(self.seal(slot, stored)?),
            });
        };
        let wrong = || {
            anyhow::anyhow!(
                "the stored {slot} does not open with this master key: it was sealed with another one, or altered. Every server of a deployment needs the same master key (TRASEALLA_MASTER_KEY or TRASEALLA_MASTER_KEY_FILE)"
            )
        };
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| wrong())?;
        let value = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: slot.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        Ok(Unsealed {
            value: String::from_utf8(value).map_err(|_| wrong())?,
            resealed: None,
        })
    }
}

/// Whether a stored value is sealed (for tests and audits: never the value).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// `$XDG_CONFIG_HOME/trasealla/master.key`, else
/// `$HOME/.config/trasealla/master.key`.
pub fn default_key_path() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".config"))
        })?;
    Some(config.join("trasealla").join("master.key"))
}

fn read_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the master key file can be read by other users; make it private (chmod 600)"
            );
        }
    }
    MasterKey::parse(&text, &format!("the master key file {}", path.display()))
}

/// Writes a fresh key to `path` (mode 0600, its directory 0700) unless
/// another process got there first; says whether this call made it. The
/// key is written whole to a temporary file and linked into place, so a
/// reader never sees half a key.
fn create_key_file(path: &Path) -> anyhow::Result<bool> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {} for the master key", dir.display()))?;
    let mut key = [0u8; KEY_LEN];
    let mut tag = [0u8; 8];
    getrandom::getrandom(&mut key).context("no system random source")?;
    getrandom::getrandom(&mut tag).context("no system random source")?;
    let temp = dir.join(format!(".master.key.{}", hex::encode(tag)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&temp)
        .and_then(|mut f| {
            writeln!(f, "{}", STANDARD.encode(key))?;
            f.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow::anyhow!(
            "cannot write the master key file {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; KEY_LEN])
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_slot() {
        let k = key(1);
        let sealed = k.seal("a.secret", "hunter2-hunter2").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("hunter2"));
        assert_ne!(sealed, k.seal("a.secret", "hunter2-hunter2").unwrap());
        let opened = k.open_or_seal("a.secret", &sealed).unwrap();
        assert_eq!(opened.value, "hunter2-hunter2");
        assert!(opened.resealed.is_none());
        assert!(k.open_or_seal("b.secret", &sealed).is_err(), "another slot");
        assert!(key(2).open_or_seal("a.secret", &sealed).is_err());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(k.open_or_seal("a.secret", &altered).is_err());
        assert!(k.open_or_seal("a.secret", "sealed:v1:!!").is_err());
    }

    #[test]
    fn values_in_the_clear_come_back_with_their_sealed_form() {
        let k = key(3);
        let opened = k.open_or_seal("a.secret", "0badc0de").unwrap();
        assert_eq!(opened.value, "0badc0de");
        let resealed = opened.resealed.unwrap();
        assert_eq!(
            k.open_or_seal("a.secret", &resealed).unwrap().value,
            "0badc0de"
        );
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_only() {
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32]), "k").is_ok());
        for bad in ["", "not base64!", &STANDARD.encode([7u8; 31])] {
            let e = MasterKey::parse(bad, "TRASEALLA_MASTER_KEY").unwrap_err();
            assert!(e.to_string().contains("TRASEALLA_MASTER_KEY"), "{e}");
        }
        assert_eq!(format!("{:?}", key(9)), "MasterKey([redacted])");
    }

    #[test]
    fn a_key_file_is_made_private_once_and_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/trasealla/master.key");
        let (first, source) = MasterKey::load(None, Some(&path)).unwrap();
        assert_eq!(source, KeySource::Generated(path.clone()));
        let (again, source) = MasterKey::load(None, Some(&path)).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        let sealed = first.seal("s", "v").unwrap();
        assert_eq!(again.open_or_seal("s", &sealed).unwrap().value, "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
