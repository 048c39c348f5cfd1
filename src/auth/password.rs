//! Password hashing: argon2id with the crate's default (OWASP) parameters,
//! stored as standard PHC strings.
//!
//! Each hash needs about 19 MiB of working memory. Allocating and freeing
//! that per login let the allocator keep gigabytes under a login flood (one
//! arena's worth per blocking thread), so the work runs on the blocking pool
//! behind a semaphore of one permit per core — hashing is CPU-bound, more at
//! once only queues — and each thread reuses its own working memory.

use crate::domain::Password;
use crate::error::{ApiError, ApiResult};
use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::OnceLock;
use tokio::sync::Semaphore;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

thread_local! {
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's reusable working memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with(|m| {
        let mut blocks = m.borrow_mut();
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), Block::default());
        }
        argon2.hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut blocks[..params.block_count()],
        )
    })
}

/// Runs `f` on the blocking pool, at most one per core at a time.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _permit = permits().acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

pub async fn hash(password: &Password) -> ApiResult<String> {
    let password = password.clone();
    blocking(move || hash_blocking(password.expose())).await?
}

/// The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password`.
pub fn hash_blocking(password: &str) -> ApiResult<String> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(ApiError::internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, &params, password.as_bytes(), salt_raw, &mut out)
        .map_err(ApiError::internal)?;
    let output = Output::new(&out).map_err(ApiError::internal)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    ))
}

fn verify_blocking(stored: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    if argon2_into(&argon2, &params, password.as_bytes(), salt_raw, &mut out).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|o| o == expected)
}

/// Checks `password` against `stored`. With no stored hash (unknown user) it
/// checks against a dummy hash, so that both answers take about as long.
pub async fn verify(stored: Option<String>, password: Password) -> bool {
    blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        verify_blocking(hash, password.expose()) && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("not a real password; only here to spend time")
            .unwrap_or_else(|_| String::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_verify_and_are_standard_phc_strings() {
        let h = hash_blocking("SecurePass123").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "SecurePass123"));
        assert!(!verify_blocking(&h, "SecurePass124"));
        assert!(!verify_blocking("not a hash", "SecurePass123"));
        // The argon2 crate's own verifier agrees, so stored hashes stay
        // portable.
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"SecurePass123", &parsed)
            .is_ok());
        // And we verify hashes the crate made.
        use argon2::PasswordHasher;
        let theirs = Argon2::default()
            .hash_password(b"Other123456", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_blocking(&theirs, "Other123456"));
    }
}
