//! Self-hosted licensing (the seed's Flow 2). The vendor issues licence keys
//! with signed certificates, validates them, and lets an installation claim
//! one; a self-hosted server activates from the key (online, through the
//! vendor) or from the certificate alone (offline), then keeps checking it.

pub mod cert;
pub mod client;
pub mod installation;
pub mod key;
pub mod vendor;

pub use installation::{Licensing, Mode};
