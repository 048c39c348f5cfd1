//! Licence keys: `TRAS-<TYPE>-<8 hex>-<8 alphanumerics>`, uppercase, TYPE
//! one of STA, PRO, ENT. The last character is a check character (Luhn mod
//! 36 over everything before it), so a mistyped key is caught before any
//! look-up. About 68 bits come from the system's cryptographic random source.
//! Keys are secrets: the store keeps a SHA-256 digest and a masked hint.

use crate::domain::PlanCode;
use sha2::{Digest, Sha256};
use std::fmt;

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The plans a licence can be for (no trial licences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseType {
    Starter,
    Professional,
    Enterprise,
}

impl LicenseType {
    pub fn code(self) -> &'static str {
        match self {
            LicenseType::Starter => "STA",
            LicenseType::Professional => "PRO",
            LicenseType::Enterprise => "ENT",
        }
    }

    pub fn plan(self) -> PlanCode {
        match self {
            LicenseType::Starter => PlanCode::Starter,
            LicenseType::Professional => PlanCode::Professional,
            LicenseType::Enterprise => PlanCode::Enterprise,
        }
    }

    pub fn from_plan(plan: PlanCode) -> Option<LicenseType> {
        match plan {
            PlanCode::Starter => Some(LicenseType::Starter),
            PlanCode::Professional => Some(LicenseType::Professional),
            PlanCode::Enterprise => Some(LicenseType::Enterprise),
            PlanCode::Trial => None,
        }
    }

    fn from_code(code: &str) -> Option<LicenseType> {
        match code {
            "STA" => Some(LicenseType::Starter),
            "PRO" => Some(LicenseType::Professional),
            "ENT" => Some(LicenseType::Enterprise),
            _ => None,
        }
    }
}

/// A well-formed licence key (format and check character verified).
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey(String);

// Keys are secrets: Debug shows only the masked form.
impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseKey({})", self.masked())
    }
}

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Luhn mod 36 over the alphanumerics of `body` (hyphens skipped).
fn check_char(body: &str) -> u8 {
    let n = 36;
    let mut factor = 2;
    let mut sum = 0;
    for c in body.bytes().rev().filter(|b| *b != b'-') {
        let Some(v) = value(c) else { continue };
        let addend = factor * v;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / n + addend % n;
    }
    let remainder = sum % n;
    ALPHABET[((n - remainder) % n) as usize]
}

impl LicenseKey {
    /// A new random key of `kind`.
    pub fn generate(kind: LicenseType) -> Result<LicenseKey, getrandom::Error> {
        let mut bytes = [0u8; 11];
        getrandom::getrandom(&mut bytes)?;
        let hex = hex::encode_upper(&bytes[..4]);
        let tail: String = bytes[4..]
            .iter()
            .map(|b| ALPHABET[(*b as usize) % 36] as char)
            .collect();
        let body = format!("TRAS-{}-{hex}-{tail}", kind.code());
        let check = check_char(&body) as char;
        Ok(LicenseKey(format!("{body}{check}")))
    }

    /// Parses a key typed or pasted by a person: surrounding space and case
    /// are forgiven, anything else that is off is malformed.
    pub fn parse(text: &str) -> Result<LicenseKey, &'static str> {
        let key = text.trim().to_ascii_uppercase();
        let parts: Vec<&str> = key.split('-').collect();
        let [prefix, kind, hex, tail] = parts.as_slice() else {
            return Err("must look like TRAS-ENT-1A2B3C4D-EFGH5678");
        };
        if *prefix != "TRAS" || LicenseType::from_code(kind).is_none() {
            return Err("must start with TRAS-STA-, TRAS-PRO- or TRAS-ENT-");
        }
        if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the third block must be 8 hexadecimal characters");
        }
        if tail.len() != 8 || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("the last block must be 8 letters or digits");
        }
        let (body, check) = key.split_at(key.len() - 1);
        if check.as_bytes()[0] != check_char(body) {
            return Err("has a typo: its check character does not match");
        }
        Ok(LicenseKey(key))
    }

    pub fn kind(&self) -> LicenseType {
        LicenseType::from_code(&self.0[5..8]).unwrap_or(LicenseType::Starter)
    }

    /// The full key; show it once, at issue.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps instead of the key.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// `TRAS-ENT-****-****5678`: enough to tell keys apart in a list.
    pub fn masked(&self) -> String {
        format!(
            "TRAS-{}-********-****{}",
            self.kind().code(),
            &self.0[self.0.len() - 4..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_typos_do_not() {
        for kind in [
            LicenseType::Starter,
            LicenseType::Professional,
            LicenseType::Enterprise,
        ] {
            let key = LicenseKey::generate(kind).unwrap();
            let text = key.expose();
            assert_eq!(text.len(), "TRAS-ENT-1A2B3C4D-EFGH5678".len());
            assert_eq!(LicenseKey::parse(text), Ok(key.clone()));
            assert_eq!(
                LicenseKey::parse(&format!("  {}  ", text.to_lowercase())),
                Ok(key.clone())
            );
            assert_eq!(key.kind(), kind);
            // Every single-character substitution in the random part is caught.
            for i in 9..text.len() {
                if text.as_bytes()[i] == b'-' {
                    continue;
                }
                for c in ALPHABET.iter().filter(|c| **c != text.as_bytes()[i]) {
                    let mut typo = text.as_bytes().to_vec();
                    typo[i] = *c;
                    let typo = String::from_utf8(typo).unwrap();
                    if (9..17).contains(&i) && !c.is_ascii_hexdigit() {
                        continue; // caught by the format anyway
                    }
                    assert!(LicenseKey::parse(&typo).is_err(), "{typo} passed");
                }
            }
            assert!(!format!("{key:?}").contains(&text[10..17]));
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "TRAS-ENT-1A2B3C4D",
            "TRAS-XYZ-1A2B3C4D-EFGH5678",
            "TRAS-ENT-1A2B3C4G-EFGH5678",
            "TRAS-ENT-1A2B3C4D-EFGH567",
            "TRAS-ENT-1A2B3C4D-EFGH56!8",
            "TRAZ-ENT-1A2B3C4D-EFGH5678",
        ] {
            assert!(LicenseKey::parse(bad).is_err(), "{bad}");
        }
    }
}
