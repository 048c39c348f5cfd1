//! A self-hosted installation's licence: activation (online through the
//! vendor's licence server, or offline from the certificate), and the gate
//! every write passes: after a licence expires there are 14 days of grace,
//! then writes answer 402 `license_expired`; a licence the vendor revoked
//! (seen by the periodic check) stops writes with `license_revoked`.
//!
//! A certificate activates only the installation it names (its
//! fingerprint), expiry is judged at the latest time the installation has
//! seen and a clock set back counts like an expiry (`clock_mark`), the
//! tenant's plan and user limit stay within the licence ([`Ceiling`]), and
//! the licence key kept for revocation checks is sealed with the master key.

use super::cert::{self, Certificate};
use super::client;
use super::clock_mark::{Behind, ClockMark};
use super::fingerprint::Fingerprint;
use super::key::LicenseKey;
use super::vendor::{self, ActivateRequest, ValidationCode};
use crate::domain::PlanCode;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::secrets::MasterKey;
use crate::store::{Access, DbResult, Dialect, FromRow, Row, Store};
use crate::tenancy::register::{self, Registered};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use std::sync::{Arc, RwLock};
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

/// The sealed licence key's place (the associated data of its sealing).
const KEY_SLOT: &str = "installation_license.license_key";

/// Licensing configuration and, in self-hosted mode, the installation's
/// licence as last checked.
pub struct Licensing {
    pub mode: Mode,
    /// The vendor's signing key; never loaded in self-hosted mode.
    pub signing: Option<SigningKey>,
    /// The key certificates are checked with: the one built into the binary.
    pub public: VerifyingKey,
    pub server: Option<String>,
    pub http: crate::outbound::Outbound,
    /// This installation: sent with an online claim, named by its certificate.
    pub fingerprint: Fingerprint,
    master: Arc<MasterKey>,
    gate: RwLock<Gate>,
}

#[derive(Debug, Clone, Default)]
struct Gate {
    cert: Option<Certificate>,
    revoked: bool,
    /// Why the stored certificate is not accepted any more: it does not
    /// verify with this binary's key, or it names another installation.
    invalid: Option<String>,
    clock: Option<ClockMark>,
}

/// The most a licensed installation's tenant may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceiling {
    pub plan: PlanCode,
    /// `None`: unlimited.
    pub max_users: Option<i64>,
    pub features: Vec<String>,
}

impl Ceiling {
    /// Whether `plan` is within the licence (a plan's rank: trial, starter,
    /// professional, enterprise).
    pub fn allows_plan(&self, plan: PlanCode) -> bool {
        let rank = |p: PlanCode| PlanCode::ALL.iter().position(|q| *q == p);
        rank(plan) <= rank(self.plan)
    }
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
    /// The fingerprint of the installation the certificate was issued for.
    pub installation: Option<String>,
    /// Present while the system clock reads more than a day before this,
    /// the latest time the installation has seen: the clock was set back,
    /// which counts like an expiry (grace, then read-only) until it is put
    /// right.
    pub clock_set_back_from: Option<DateTime<Utc>>,
    /// Writes stopped because of the clock rather than the licence's date.
    #[serde(skip)]
    stopped_by_clock: bool,
}

/// How far a state is from valid, for taking the worse of two.
fn severity(s: LicenseStatus) -> u8 {
    match s {
        LicenseStatus::Valid => 0,
        LicenseStatus::Grace => 1,
        _ => 2,
    }
}

impl Licensing {
    pub fn new(
        mode: Mode,
        signing: Option<SigningKey>,
        public: VerifyingKey,
        server: Option<String>,
        http: crate::outbound::Outbound,
        fingerprint: Fingerprint,
        master: Arc<MasterKey>,
    ) -> Licensing {
        Licensing {
            mode,
            signing,
            public,
            server,
            http,
            fingerprint,
            master,
            gate: RwLock::new(Gate::default()),
        }
    }

    fn gate(&self) -> Gate {
        self.gate.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_gate(&self, gate: Gate) {
        *self.gate.write().unwrap_or_else(|e| e.into_inner()) = gate;
    }

    /// Takes a reading of the clock and returns the gate as it then stands.
    fn observe(&self, now: DateTime<Utc>) -> Gate {
        let mut gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        if let Some(clock) = &mut gate.clock {
            clock.observe(now);
        }
        gate.clone()
    }

    /// Folds a clock mark worked out from the database into the one kept here.
    fn fold_clock(&self, mark: ClockMark) {
        let mut gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        match &mut gate.clock {
            Some(mine) => mine.merge(&mark),
            None => gate.clock = Some(mark),
        }
    }

    /// The licence state now; `None` in SaaS mode or before activation.
    pub fn info(&self, now: DateTime<Utc>) -> Option<LicenseInfo> {
        if self.mode != Mode::SelfHosted {
            return None;
        }
        let gate = self.observe(now);
        let cert = gate.cert?;
        // Expiry is judged at the latest time seen, so setting the clock
        // back cannot bring an expired licence back.
        let at = gate.clock.map_or(now, |c| c.high_water.max(now));
        let expiry_grace = cert.expires_at.map(|e| e + Duration::days(GRACE_DAYS));
        let by_expiry = match (cert.expires_at, expiry_grace) {
            (Some(exp), Some(grace)) if at >= grace && at >= exp => LicenseStatus::Expired,
            (Some(exp), _) if at >= exp => LicenseStatus::Grace,
            _ => LicenseStatus::Valid,
        };
        let clock_grace = gate.clock.and_then(|c| c.grace_ends_at(now));
        let by_clock = match clock_grace {
            Some(end) if now >= end => LicenseStatus::Expired,
            Some(_) => LicenseStatus::Grace,
            None => LicenseStatus::Valid,
        };
        let status = if gate.invalid.is_some() {
            LicenseStatus::Invalid
        } else if gate.revoked {
            LicenseStatus::Revoked
        } else if severity(by_clock) > severity(by_expiry) {
            by_clock
        } else {
            by_expiry
        };
        Some(LicenseInfo {
            status,
            license_type: cert.license_type,
            max_users: cert.max_users,
            expires_at: cert.expires_at,
            grace_ends_at: clock_grace.or(expiry_grace),
            issued_to: cert.issued_to,
            installation: cert.installation,
            clock_set_back_from: clock_grace.and(gate.clock.map(|c| c.high_water)),
            stopped_by_clock: status == LicenseStatus::Expired
                && by_clock == LicenseStatus::Expired
                && by_expiry != LicenseStatus::Expired,
        })
    }

    /// Refuses a write once the licence no longer allows them.
    pub fn check_write(&self, now: DateTime<Utc>) -> ApiResult<()> {
        let Some(info) = self.info(now) else {
            return Ok(());
        };
        match info.status {
            LicenseStatus::Expired if info.stopped_by_clock => Err(ApiError::new(
                ErrorCode::LicenseExpired,
                format!(
                    "the system clock was set back: it reads {}, but this installation has already seen {}; put the clock right to keep making changes",
                    now.to_rfc3339(),
                    info.clock_set_back_from.unwrap_or(now).to_rfc3339()
                ),
            )),
            LicenseStatus::Expired => Err(ApiError::new(
                ErrorCode::LicenseExpired,
                "the licence expired and its grace period is over; renew it to keep making changes",
            )),
            LicenseStatus::Invalid => Err(ApiError::new(
                ErrorCode::LicenseExpired,
                format!(
                    "the installed licence certificate is not accepted: {}",
                    self.gate().invalid.unwrap_or_default()
                ),
            )),
            LicenseStatus::Revoked => Err(ApiError::new(
                ErrorCode::LicenseRevoked,
                "the licence was revoked by the vendor",
            )),
            LicenseStatus::Valid | LicenseStatus::Grace => Ok(()),
        }
    }

    /// What the licence allows at most, once one is installed.
    pub fn ceiling(&self) -> Option<Ceiling> {
        if self.mode != Mode::SelfHosted {
            return None;
        }
        let cert = self.gate().cert?;
        Some(Ceiling {
            plan: cert.license_type()?.plan(),
            max_users: cert.max_users,
            features: cert.features,
        })
    }

    /// Why `cert` cannot activate this installation, if it cannot.
    fn misfit(&self, cert: &Certificate) -> Option<String> {
        let mine = &self.fingerprint;
        match cert.installation.as_deref() {
            Some(f) if f == mine.as_str() => None,
            Some(f) => Some(format!(
                "the certificate was issued for installation {f}, and this installation is {mine}; ask the vendor for a certificate for {mine} (`trasealla license request` prints it)"
            )),
            None => Some(format!(
                "the certificate names no installation; ask the vendor for one issued for this installation, {mine} (`trasealla license request` prints it)"
            )),
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

/// The stored licence key, unsealed; one an earlier version kept in the
/// clear is sealed in place.
async fn unseal_key(store: &Store, licensing: &Licensing, stored: &str) -> ApiResult<String> {
    let key = licensing
        .master
        .open_or_seal(KEY_SLOT, stored)
        .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    if let Some(sealed) = key.resealed {
        let mut tx = store.platform(Access::Write).await?;
        tx.execute(
            "UPDATE installation_license SET license_key = $2 WHERE id = 'current' AND license_key = $1",
            &[&stored, &sealed],
        )
        .await?;
        tx.commit().await?;
        tracing::info!("sealed the stored licence key with the master key");
    }
    Ok(key.value)
}

/// The clock mark as stored.
struct StoredClock(ClockMark);

impl FromRow for StoredClock {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let activated_at: DateTime<Utc> = r.get("activated_at")?;
        let checked_at: Option<DateTime<Utc>> = r.get("checked_at")?;
        // A row from before the mark: what it knew of time.
        let known = checked_at.map_or(activated_at, |c| c.max(activated_at));
        let high_water: Option<DateTime<Utc>> = r.get("clock_high_water")?;
        let last_seen: Option<DateTime<Utc>> = r.get("clock_last_seen")?;
        let since: Option<DateTime<Utc>> = r.get("clock_behind_since")?;
        let elapsed: Option<i64> = r.get("clock_behind_secs")?;
        Ok(StoredClock(ClockMark {
            high_water: high_water.unwrap_or(known),
            last_seen: last_seen.unwrap_or(known),
            behind: since.map(|since| Behind {
                since,
                elapsed_secs: elapsed.unwrap_or(0),
            }),
        }))
    }
}

/// Brings the clock mark up to date: the stored one and this process's,
/// merged, with a reading of the clock, stored again (at start-up, hourly,
/// and at every check). `None` before activation.
pub async fn record_clock(
    store: &Store,
    licensing: &Licensing,
    now: DateTime<Utc>,
) -> ApiResult<Option<ClockMark>> {
    if licensing.mode != Mode::SelfHosted {
        return Ok(None);
    }
    let mut tx = store.platform(Access::Write).await?;
    let sql = match tx.dialect() {
        Dialect::Postgres => {
            "SELECT activated_at, checked_at, clock_high_water, clock_last_seen, clock_behind_since, clock_behind_secs
               FROM installation_license WHERE id = 'current' FOR UPDATE"
        }
        Dialect::Sqlite => {
            "SELECT activated_at, checked_at, clock_high_water, clock_last_seen, clock_behind_since, clock_behind_secs
               FROM installation_license WHERE id = 'current'"
        }
    };
    let Some(StoredClock(stored)) = tx.query_opt(sql, &[]).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    let mut mark = licensing.gate().clock.unwrap_or(stored);
    mark.merge(&stored);
    mark.observe(now);
    tx.execute(
        "UPDATE installation_license SET clock_high_water = $1, clock_last_seen = $2,
                clock_behind_since = $3, clock_behind_secs = $4
          WHERE id = 'current'",
        &[
            &mark.high_water,
            &mark.last_seen,
            &mark.behind.map(|b| b.since),
            &mark.behind.map(|b| b.elapsed_secs),
        ],
    )
    .await?;
    tx.commit().await?;
    licensing.fold_clock(mark);
    if let Some(b) = mark.behind {
        tracing::warn!(
            clock = %now,
            latest_seen = %mark.high_water,
            since = %b.since,
            "the system clock reads more than a day before the latest time this installation has seen; it counts as set back"
        );
    }
    Ok(Some(mark))
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
    let key = match &row.license_key {
        Some(stored) => Some(unseal_key(store, licensing, stored).await?),
        None => None,
    };
    let mut revoked = row.revoked;
    let server = licensing.server.as_ref().filter(|_| online);
    if let (Some(server), Some(key), false) = (server, &key, revoked) {
        match client::post_json(
            &licensing.http,
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
    let (cert, invalid) = match cert::verify(&row.certificate, &licensing.public) {
        // A version 1 certificate, activated before certificates named
        // their installation, stays valid here.
        Ok(cert) if cert.installation.is_none() => {
            tracing::warn!("the installed licence certificate names no installation (issued before installations were named); it stays valid here");
            (Some(cert), None)
        }
        Ok(cert) => {
            let invalid = licensing.misfit(&cert);
            (Some(cert), invalid)
        }
        Err(e) => (
            cert::decode_unverified(&row.certificate),
            Some(e.to_string()),
        ),
    };
    if let Some(why) = &invalid {
        tracing::error!(reason = %why, "the installed licence certificate is not accepted");
    }
    let clock = record_clock(store, licensing, now).await?;
    licensing.set_gate(Gate {
        cert,
        revoked,
        invalid,
        clock,
    });
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
    if let Some(why) = licensing.misfit(&cert) {
        return Err(
            ApiError::new(ErrorCode::ValidationFailed, why.clone()).with_details(
                serde_json::json!({
                    "code": "wrong_installation",
                    "installation": licensing.fingerprint.as_str(),
                    "fields": { "certificate": why },
                }),
            ),
        );
    }
    if cert.expires_at.is_some_and(|e| e <= now) {
        return Err(ValidationCode::Expired.into_error());
    }
    let plan = cert
        .license_type()
        .map(|t| t.plan())
        .ok_or_else(|| ValidationCode::Malformed.into_error())?;
    let hash = crate::auth::password::hash(&input.password).await?;
    let setup = vendor::setup_for(plan, cert.max_users, cert.features.clone(), cert.expires_at);
    let sealed_key = key
        .as_ref()
        .map(|k| licensing.master.seal(KEY_SLOT, k.expose()))
        .transpose()
        .map_err(ApiError::internal)?;
    // The clock starts at least at the certificate's issue: a clock behind
    // the vendor's by more than a day counts as set back from the start.
    let clock = ClockMark::new(cert.issued_at.max(now), now);
    let registered = register::with_slug_retries(&input, || async {
        let mut tx = store.platform(Access::Write).await?;
        let registered = register::create_in(&mut tx, &input, &hash, &setup, now).await?;
        tx.execute(
            "INSERT INTO installation_license (id, certificate, key_id, license_key, activated_tenant_id, activated_at,
                                               clock_high_water, clock_last_seen, clock_behind_since, clock_behind_secs)
             VALUES ('current', $1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &certificate,
                &cert.key_id,
                &sealed_key,
                &registered.tenant.id,
                &now,
                &clock.high_water,
                &clock.last_seen,
                &clock.behind.map(|b| b.since),
                &clock.behind.map(|b| b.elapsed_secs),
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
        &licensing.http,
        server,
        "/api/tenants/licenses/claim",
        &serde_json::json!({ "license_key": key.expose(), "instance_id": licensing.fingerprint.as_str() }),
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
