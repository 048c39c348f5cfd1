//! Single-use links sent by e-mail: address verification (valid 24 hours)
//! and password reset (one hour). The link carries 256 random bits; only
//! their SHA-256 is stored, so a copy of the database opens no account.
//! Redeeming marks the token used in the same statement that finds it, so
//! two clicks race to one success. Unknown, used and expired tokens all
//! answer 400 `invalid_token`, without saying which.

use crate::domain::{TenantId, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{DbResult, FromRow, PlatformTx, Row, Scoped};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
        }
    }

    /// How long a link stays good.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::hours(24),
            Purpose::PasswordReset => Duration::hours(1),
        }
    }
}

/// A fresh token and the hash that is stored for it.
pub fn new_token() -> ApiResult<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|_| ApiError::internal("no system random source"))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The answer to every token that does not work.
pub fn invalid() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "this link is not valid: it may have expired or been used already",
    )
}

/// Issues a link for `user` at `email`; earlier unused links of the same
/// purpose stop working (the latest message is the one that counts).
pub async fn issue(
    tx: &mut impl Scoped,
    user: UserId,
    email: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> ApiResult<String> {
    tx.execute(
        "UPDATE user_tokens SET used_at = $4
         WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3 AND used_at IS NULL",
        &[&user, &purpose.as_str(), &now],
    )
    .await?;
    let (token, hash) = new_token()?;
    tx.execute(
        "INSERT INTO user_tokens (tenant_id, id, user_id, purpose, token_hash, email,
                                  created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &Uuid::now_v7(),
            &user,
            &purpose.as_str(),
            &hash,
            &email,
            &now,
            &(now + purpose.lifetime()),
        ],
    )
    .await?;
    Ok(token)
}

/// Whose link was redeemed.
#[derive(Debug)]
pub struct Redeemed {
    pub tenant: TenantId,
    pub user: UserId,
    /// The address the link was sent to.
    pub email: String,
}

impl FromRow for Redeemed {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Redeemed {
            tenant: r.get("tenant_id")?,
            user: r.get("user_id")?,
            email: r.get("email")?,
        })
    }
}

/// Uses up a token: the user it was for, or 400 `invalid_token`.
pub async fn redeem(
    tx: &mut PlatformTx,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> ApiResult<Redeemed> {
    if token.is_empty() || token.len() > 200 {
        return Err(invalid());
    }
    let found: Option<Redeemed> = tx
        .query_opt(
            "UPDATE user_tokens SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING tenant_id, user_id, email",
            &[&hash(token), &purpose.as_str(), &now],
        )
        .await?;
    found.ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha, hash(&a));
        assert_eq!(ha.len(), 64);
        assert!(!ha.contains(&a));
    }
}
