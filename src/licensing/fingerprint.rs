//! An installation's fingerprint: the short name a certificate is issued
//! for. It is derived from the installation's instance id, which the
//! database keeps (made once, at the first start), so every server process
//! of one installation — several behind a load balancer, or a new machine
//! restored from a backup — has the same fingerprint, and a fresh
//! installation has another. Nothing of the host goes in: a host-bound
//! fingerprint would refuse the second server of a scaled-out installation
//! and a restore onto new hardware.
//!
//! The text form is 16 characters of RFC 4648 base32 (80 bits of a SHA-256)
//! in groups of four, `ABCD-EFGH-IJKL-MNOP`; people read it out and type
//! it, so parsing forgives case, spaces and missing hyphens.

use sha2::{Digest, Sha256};
use std::fmt;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DOMAIN: &[u8] = b"trasealla-installation-fingerprint-v1\n";
const CHARS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of the installation whose instance id this is.
    pub fn of_instance(instance_id: &str) -> Fingerprint {
        let digest = Sha256::new()
            .chain_update(DOMAIN)
            .chain_update(instance_id.as_bytes())
            .finalize();
        // 80 bits, five at a time.
        let bits = digest[..10]
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        let chars: Vec<u8> = (0..CHARS)
            .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize])
            .collect();
        Fingerprint(group(&chars))
    }

    /// A fingerprint as someone typed or pasted it.
    pub fn parse(text: &str) -> Result<Fingerprint, &'static str> {
        let chars: Vec<u8> = text
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        if chars.len() != CHARS || !chars.iter().all(|c| ALPHABET.contains(c)) {
            return Err("must be an installation fingerprint like ABCD-EFGH-IJKL-MNOP (16 letters A-Z and digits 2-7), as `trasealla license request` prints it");
        }
        Ok(Fingerprint(group(&chars)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn group(chars: &[u8]) -> String {
    chars
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_short_and_distinct() {
        let a = Fingerprint::of_instance("0123456789abcdef0123456789abcdef");
        assert_eq!(
            a,
            Fingerprint::of_instance("0123456789abcdef0123456789abcdef")
        );
        assert_ne!(
            a,
            Fingerprint::of_instance("0123456789abcdef0123456789abcdee")
        );
        assert_eq!(a.as_str().len(), 19);
        assert_eq!(a.as_str().matches('-').count(), 3);
        assert_eq!(Fingerprint::parse(a.as_str()), Ok(a.clone()));
        let sloppy = format!(" {} ", a.as_str().replace('-', "").to_lowercase());
        assert_eq!(Fingerprint::parse(&sloppy), Ok(a));
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        for bad in [
            "",
            "ABCD-EFGH-IJKL",
            "ABCD-EFGH-IJKL-MNOPQ",
            "ABCD-EFGH-IJKL-MNO1",
            "ABCD-EFGH-IJKL-MNO!",
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
    }
}
