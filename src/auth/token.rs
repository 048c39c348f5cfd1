//! Access tokens: HS256 JWTs with the claims of ARCHITECTURE.md §5 (`sub`,
//! `tid` — absent for platform admins —, `role`, `iat`, `exp`). Expiry is
//! checked against the application clock, not the system's, so tests can move
//! time.

use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PLATFORM_ADMIN_ROLE: &str = "platform_admin";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

/// A freshly issued token and how long it lives.
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked in `verify` against the application clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    pub fn issue(
        &self,
        sub: Uuid,
        tid: Option<Uuid>,
        role: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<Issued> {
        let iat = now.timestamp();
        let claims = Claims {
            sub,
            tid,
            role: role.to_owned(),
            iat,
            exp: iat.saturating_add(self.ttl_secs),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(Issued {
            token,
            expires_in: self.ttl_secs,
        })
    }

    /// Verifies signature and expiry. Every failure is the same 401: the
    /// caller learns nothing about which check failed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> ApiResult<Claims> {
        let invalid = || ApiError::unauthorized("the token is invalid or has expired");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid())?;
        let claims = data.claims;
        let now = now.timestamp();
        // A minute of leeway for clocks of several servers.
        if claims.exp <= now || claims.iat > now + 60 {
            return Err(invalid());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn tokens_verify_until_they_expire() {
        let keys = TokenKeys::new(&[7; 32], 3600);
        let now = Utc::now();
        let sub = Uuid::now_v7();
        let t = keys.issue(sub, None, "admin", now).unwrap();
        assert_eq!(keys.verify(&t.token, now).unwrap().sub, sub);
        assert!(keys
            .verify(&t.token, now + Duration::seconds(3600))
            .is_err());
        let other = TokenKeys::new(&[8; 32], 3600);
        assert!(other.verify(&t.token, now).is_err());
        assert!(keys.verify("not.a.token", now).is_err());
    }
}
