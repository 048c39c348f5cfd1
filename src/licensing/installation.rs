//! A self-hosted installation's licence: activation (online through the
//! vendor's licence server, or offline from the certificate), and the gate
//! every write passes: after a licence expires there are 14 days of grace,
//! then writes answer 402 `license_expired`; a licence the vendor revoked
//! (seen by the periodic check) stops writes with `license_revoked`.

use super::cert::{self, Certificate};
use super::client;
use super::key::LicenseKey;
use super::vendor::{self, ActivateRequest, ValidationCode};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{Access, DbResult, FromRow, Row, Store};
use crate::tenancy::register::{self, Registered};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use std::sync::RwLock;
use utoipa::ToSchema;

pub const GRACE_DAYS: i64 = 14;

/// Whether this server is the vendor's multi-tenant service or a customer's
/// own installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    #[value(name = "saas")]
    Saas,
    #[value(name = "self_hosted")]
    SelfHosted,
}

/// Licensing configuration and, in self-hosted mode, the installation's
/// licence as last checked.
pub struct Licensing {
    pub mode: Mode,
    pub signing: Option<SigningKey>,
    pub public: VerifyingKey,
    pub server: Option<String>,
    pub tls: std::sync::Arc<rustls::ClientConfig>,
    pub instance_id: String,
    gate: RwLock<Gate>,
}

#[derive(Debug, Clone, Default)]
struct Gate {
    cert: Option<Certificate>,
    revoked: bool,
    /// The stored certificate no longer verifies (another public key).
    invalid: bool,
}

/// The installation's licence as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    Valid,
    /// Expired, still writable until `grace_ends_at`.
    Grace,
    Expired,
    Revoked,
    Invalid,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenseInfo {
    pub status: LicenseStatus,
    pub license_type: String,
    pub max_users: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_ends_at: Option<DateTime<Utc>>,
    pub issued_to: Option<String>,
}

impl Licensing {
    pub fn new(
        mode: Mode,
        signing: Option<SigningKey>,
        public: VerifyingKey,
        server: Option<String>,
        tls: std::sync::Arc<rustls::ClientConfig>,
        instance_id: String,
    ) -> Licensing {
        Licensing {
            mode,
            signing,
            public,
            server,
            tls,
            instance_id,
            gate: RwLock::new(Gate::default()),
        }
    }

    fn gate(&self) -> Gate {
        self.gate.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_gate(&self, gate: Gate) {
        *self.gate.write().unwrap_or_else(|e| e.into_inner()) = gate;
    }

    /// The licence state now; `None` in SaaS mode or before activation.
    pub fn info(&self, now: DateTime<Utc>) -> Option<LicenseInfo> {
        if self.mode != Mode::SelfHosted {
            return None;
        }
        let gate = self.gate();
        let cert = gate.cert?;
        let grace_ends_at = cert.expires_at.map(|e| e + Duration::days(GRACE_DAYS));
        let status = if gate.invalid {
            LicenseStatus::Invalid
        } else if gate.revoked {
            LicenseStatus::Revoked
        } else {
            match (cert.expires_at, grace_ends_at) {
                (Some(exp), Some(grace)) if now >= grace && now >= exp => LicenseStatus::Expired,
                (Some(exp), _) if now >= exp => LicenseStatus::Grace,
                _ => LicenseStatus::Valid,
            }
        };
        Some(LicenseInfo {
            status,
            license_type: cert.license_type,
            max_users: cert.max_users,
            expires_at: cert.expires_at,
            grace_ends_at,
            issued_to: cert.issued_to,
        })
    }

    /// Refuses a write once the licence no longer allows them.
    pub fn check_write(&self, now: DateTime<Utc>) -> ApiResult<()> {
        match self.info(now).map(|i| i.status) {
            Some(LicenseStatus::Expired) => Err(ApiError::new(
                ErrorCode::LicenseExpired,
                "the licence expired and its grace period is over; renew it to keep making changes",
            )),
            Some(LicenseStatus::Invalid) => Err(ApiError::new(
                ErrorCode::LicenseExpired,
                "the installed licence certificate does not verify with the configured public key",
            )),
            Some(LicenseStatus::Revoked) => Err(ApiError::new(
                ErrorCode::LicenseRevoked,
                "the licence was revoked by the vendor",
            )),
            _ => Ok(()),
        }
    }
}

struct Installed {
    certificate: String,
    license_key: Option<String>,
    revoked: bool,
}

impl FromRow for Installed {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let revoked_at: Option<DateTime<Utc>> = r.get("revoked_at")?;
        Ok(Installed {
            certificate: r.get("certificate")?,
            license_key: r.get("license_key")?,
            revoked: revoked_at.is_some(),
        })
    }
}

async fn installed(store: &Store) -> ApiResult<Option<Installed>> {
    let mut tx = store.platform(Access::Read).await?;
    let row = tx
        .query_opt(
            "SELECT certificate, license_key, revoked_at FROM installation_license WHERE id = 'current'",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Re-reads and re-verifies the installed licence (at start-up and daily)
/// and, when a licence server is configured and the key is known, asks it
/// whether the key was revoked.
pub async fn check(
    store: &Store,
    licensing: &Licensing,
    online: bool,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if licensing.mode != Mode::SelfHosted {
        return Ok(());
    }
    let Some(row) = installed(store).await? else {
        licensing.set_gate(Gate::default());
        return Ok(());
    };
    let mut revoked = row.revoked;
    let server = licensing.server.as_ref().filter(|_| online);
    if let (Some(server), Some(key), false) = (server, &row.license_key, revoked) {
        match client::post_json(
            &licensing.tls,
            server,
            "/api/tenants/licenses/validate",
            &serde_json::json!({ "license_key": key }),
        )
        .await
        {
            Ok(a) if a.body["data"]["code"] == ValidationCode::Revoked.as_str() => {
                tracing::warn!("the licence server reports this installation's licence as revoked");
                revoked = true;
                let mut tx = store.platform(Access::Write).await?;
                tx.execute(
                    "UPDATE installation_license SET revoked_at = $1, checked_at = $1 WHERE id = 'current'",
                    &[&now],
                )
                .await?;
                tx.commit().await?;
            }
            Ok(_) => {
                let mut tx = store.platform(Access::Write).await?;
                tx.execute(
                    "UPDATE installation_license SET checked_at = $1 WHERE id = 'current'",
                    &[&now],
                )
                .await?;
                tx.commit().await?;
            }
            // Offline is a normal state for a self-hosted server.
            Err(e) => {
                tracing::info!(error = %e, "licence server not reachable; relying on the certificate")
            }
        }
    }
    let gate = match cert::verify(&row.certificate, &licensing.public) {
        Ok(cert) => Gate {
            cert: Some(cert),
            revoked,
            invalid: false,
        },
        Err(e) => {
            tracing::error!(error = %e, "the installed licence certificate does not verify");
            Gate {
                cert: cert::decode_unverified(&row.certificate),
                revoked,
                invalid: true,
            }
        }
    };
    licensing.set_gate(gate);
    if let Some(info) = licensing.info(now) {
        if info.status != LicenseStatus::Valid {
            tracing::warn!(status = ?info.status, expires_at = ?info.expires_at, "licence is not valid");
        }
    }
    Ok(())
}

/// Activation on a self-hosted server: from the key (claimed online from
/// the licence server, which answers with the certificate) or from the
/// certificate itself (offline). Either way the tenant and its owner are
/// created here, with the licence, in one transaction.
pub async fn activate(
    store: &Store,
    licensing: &Licensing,
    mut req: ActivateRequest,
    now: DateTime<Utc>,
) -> ApiResult<Registered> {
    if installed(store).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::LicenseAlreadyActivated,
            "this installation is already activated",
        ));
    }
    let input = req.registration()?;
    let (certificate, key) = match (req.license_key.take(), req.certificate.take()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "certificate",
                "give either license_key or certificate, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::field(
                "license_key",
                "is required (or certificate)",
            ))
        }
        (None, Some(certificate)) => (certificate, None),
        (Some(key_text), None) => {
            let key =
                LicenseKey::parse(&key_text).map_err(|_| ValidationCode::Malformed.into_error())?;
            (claim_online(licensing, &key).await?, Some(key))
        }
    };
    let cert = cert::verify(&certificate, &licensing.public).map_err(|e| {
        ApiError::new(ErrorCode::ValidationFailed, e.to_string()).with_details(serde_json::json!({
            "code": "malformed",
            "fields": { "certificate": e.to_string() },
        }))
    })?;
    if cert.expires_at.is_some_and(|e| e <= now) {
        return Err(ValidationCode::Expired.into_error());
    }
    let plan = cert
        .license_type()
        .map(|t| t.plan())
        .ok_or_else(|| ValidationCode::Malformed.into_error())?;
    let hash = crate::auth::password::hash(&input.password).await?;
    let setup = vendor::setup_for(plan, cert.max_users, cert.features.clone(), cert.expires_at);
    let registered = register::with_slug_retries(&input, || async {
        let mut tx = store.platform(Access::Write).await?;
        let registered = register::create_in(&mut tx, &input, &hash, &setup, now).await?;
        tx.execute(
            "INSERT INTO installation_license (id, certificate, key_id, license_key, activated_tenant_id, activated_at)
             VALUES ('current', $1, $2, $3, $4, $5)",
            &[
                &certificate,
                &cert.key_id,
                &key.as_ref().map(|k| k.expose().to_owned()),
                &registered.tenant.id,
                &now,
            ],
        )
        .await
        .map_err(|e| {
            if matches!(e, crate::store::DbError::Unique(_)) {
                ApiError::new(ErrorCode::LicenseAlreadyActivated, "this installation is already activated")
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        Ok(registered)
    })
    .await?;
    check(store, licensing, false, now).await?;
    Ok(registered)
}

/// Claims the key from the licence server; its refusals come back as ours.
async fn claim_online(licensing: &Licensing, key: &LicenseKey) -> ApiResult<String> {
    let Some(server) = &licensing.server else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "activating with a key needs TRASEALLA_LICENSE_SERVER; without a route to the vendor, activate with the certificate",
        ));
    };
    let answer = client::post_json(
        &licensing.tls,
        server,
        "/api/tenants/licenses/claim",
        &serde_json::json!({ "license_key": key.expose(), "instance_id": licensing.instance_id }),
    )
    .await
    .map_err(|e| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("{e}; activate with the certificate instead"),
        )
    })?;
    match answer.status {
        200 => answer.body["data"]["certificate"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the licence server answered without a certificate",
                )
            }),
        409 => Err(ApiError::new(
            ErrorCode::LicenseAlreadyActivated,
            "this licence key has already been activated by another installation",
        )),
        422 => {
            let code = answer.body["error"]["details"]["code"]
                .as_str()
                .unwrap_or("malformed");
            Err(ApiError::new(
                ErrorCode::ValidationFailed,
                answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or("the licence cannot be used")
                    .to_owned(),
            )
            .with_details(serde_json::json!({ "code": code, "fields": { "license_key": code } })))
        }
        429 => Err(ApiError::rate_limited(60)),
        other => Err(ApiError::new(
            ErrorCode::Unavailable,
            format!(
                "the licence server answered {other}; try again or activate with the certificate"
            ),
        )),
    }
}
