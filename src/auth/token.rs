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
    /// A browser session's row (`sessions` or `admin_sessions`): the token
    /// is good only while that row exists, so logging out ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// A one-minute token that only carries a new session from the bare
    /// domain to the tenant's sub-domain; never a session itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handoff: bool,
    /// The user's credential version when the token was issued: a password
    /// change, a role downgrade or "log out everywhere" moves it on, and
    /// tokens of an older version stop working.
    #[serde(default)]
    pub ver: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
    csrf_key: [u8; 32],
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
            csrf_key: {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                h.update(b"trasealla csrf key\0");
                h.update(secret);
                h.finalize().into()
            },
        }
    }

    /// The seconds a session lives.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// The anti-forgery token of the browser session `sid`: forms carry it,
    /// and a request changing state must send it back.
    pub fn csrf_token(&self, sid: Uuid) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.csrf_key);
        h.update(sid.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    pub fn issue(
        &self,
        sub: Uuid,
        tid: Option<Uuid>,
        role: &str,
        ver: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<Issued> {
        self.sign(sub, tid, role, None, false, ver, now)
    }

    /// A browser session's token, good while its row `sid` exists.
    pub fn issue_session(
        &self,
        sub: Uuid,
        tid: Option<Uuid>,
        role: &str,
        sid: Uuid,
        ver: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<Issued> {
        self.sign(sub, tid, role, Some(sid), false, ver, now)
    }

    /// A one-minute hand-off of the session `sid` to another host.
    pub fn issue_handoff(
        &self,
        sub: Uuid,
        tid: Uuid,
        role: &str,
        sid: Uuid,
        now: DateTime<Utc>,
    ) -> ApiResult<Issued> {
        self.sign(sub, Some(tid), role, Some(sid), true, 0, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        sub: Uuid,
        tid: Option<Uuid>,
        role: &str,
        sid: Option<Uuid>,
        handoff: bool,
        ver: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<Issued> {
        let iat = now.timestamp();
        let ttl = if handoff { 60 } else { self.ttl_secs };
        let claims = Claims {
            sub,
            tid,
            role: role.to_owned(),
            iat,
            exp: iat.saturating_add(ttl),
            sid,
            handoff,
            ver,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(Issued {
            token,
            expires_in: ttl,
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
        let t = keys.issue(sub, None, "admin", 0, now).unwrap();
        assert_eq!(keys.verify(&t.token, now).unwrap().sub, sub);
        assert!(keys
            .verify(&t.token, now + Duration::seconds(3600))
            .is_err());
        let other = TokenKeys::new(&[8; 32], 3600);
        assert!(other.verify(&t.token, now).is_err());
        assert!(keys.verify("not.a.token", now).is_err());
    }
}
