//! Self-hosted licensing (the seed's Flow 2). The vendor issues licence keys
//! with signed certificates, validates them, and lets an installation claim
//! one; a self-hosted server activates from the key (online, through the
//! vendor) or from the certificate alone (offline), then keeps checking it.
//! Certificates verify only with the key built into the binary (`cert`),
//! name the installation they were issued for (`fingerprint`), and expire
//! against a clock that cannot be set back unnoticed (`clock_mark`).

pub mod cert;
pub mod client;
pub mod clock_mark;
pub mod fingerprint;
pub mod installation;
pub mod key;
pub mod vendor;

pub use fingerprint::Fingerprint;
pub use installation::{Ceiling, Licensing, Mode};
