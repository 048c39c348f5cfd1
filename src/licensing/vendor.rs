//! The vendor's side of licensing: issue keys with signed certificates,
//! list and revoke them, validate a key for anyone who holds it, let a
//! self-hosted installation claim a key, and activate a key as a tenant of
//! this (SaaS) deployment.
//!
//! Every certificate names the installation it is for: one issued with a
//! fingerprint (what `trasealla license request` printed on the customer's
//! server) activates that installation offline; a key issued without one is
//! bound when an installation claims it online, and the claim answers with a
//! certificate naming that installation. Either way the key then belongs to
//! that installation alone.

use super::cert::{self, Certificate};
use super::fingerprint::Fingerprint;
use super::key::{LicenseKey, LicenseType};
use crate::audit::{self, Actor, Event};
use crate::domain::{PlanCode, TenantStatus};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::pagination::{Page, PageRequest};
use crate::store::{Access, DbResult, FromRow, PlatformTx, Row, Store};
use crate::tenancy::register::{self, Registered, Registration, Setup};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every feature a plan or licence can carry.
pub const KNOWN_FEATURES: &[&str] = &[
    "core_crm",
    "basic_reports",
    "workflows",
    "advanced_reports",
    "integrations",
    "custom_fields",
    "email_templates",
    "custom_branding",
    "custom_domain",
    "sso",
    "priority_support",
];

/// `POST /api/tenants/licenses/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// `starter`, `professional` or `enterprise`.
    #[schema(example = "enterprise")]
    pub license_type: Option<String>,
    /// Default: the plan's limit; `null`: unlimited.
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(value_type = Option<i64>, example = 50)]
    pub max_users: Option<Option<i64>>,
    /// Default: perpetual.
    #[schema(example = 365)]
    pub expires_in_days: Option<i64>,
    /// Who the licence is for, as printed on the certificate.
    pub issued_to: Option<String>,
    /// Default: the plan's features.
    pub features: Option<Vec<String>>,
    /// For offline activation: the fingerprint of the customer's
    /// installation, as `trasealla license request` prints it there. The
    /// certificate is issued for that installation alone. Without it the
    /// key is for online activation, and the installation that claims it
    /// gets the certificate.
    #[schema(example = "ABCD-EFGH-IJKL-MNOP", schema_with = crate::contract::fingerprint_or_null)]
    pub fingerprint: Option<String>,
}

/// A freshly issued licence: the only time the full key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Issued {
    pub id: Uuid,
    pub license_key: String,
    /// The signed certificate for the installation named by `fingerprint`,
    /// for offline activation; `null` when issued without one (the
    /// installation claims the key online and gets its certificate then).
    pub certificate: Option<String>,
    /// The installation the licence is issued for.
    pub fingerprint: Option<String>,
    pub license_type: String,
    pub max_users: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub features: Vec<String>,
    pub issued_to: Option<String>,
}

fn parse_type(s: &str) -> Option<LicenseType> {
    let s = s.trim().to_lowercase();
    match s.as_str() {
        "sta" => Some(LicenseType::Starter),
        "pro" => Some(LicenseType::Professional),
        "ent" => Some(LicenseType::Enterprise),
        other => other.parse().ok().and_then(LicenseType::from_plan),
    }
}

/// The vendor's signing key, which issuing and claiming need.
pub fn signing_key(key: Option<&SigningKey>) -> ApiResult<&SigningKey> {
    key.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unavailable,
            "licence signing is not configured: set TRASEALLA_LICENSE_SIGNING_KEY to the license.key file made by `trasealla license keygen`",
        )
    })
}

pub async fn generate(
    store: &Store,
    signing: &SigningKey,
    req: GenerateRequest,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Issued> {
    let mut e = FieldErrors::default();
    let kind = e.required("license_type", req.license_type).and_then(|t| {
        e.check(
            "license_type",
            parse_type(&t).ok_or("must be starter, professional or enterprise"),
        )
    });
    if let Some(Some(n)) = req.max_users {
        if n < 1 {
            e.add("max_users", "must be at least 1, or null for unlimited");
        }
    }
    let expires_at = match req.expires_in_days {
        Some(d) if !(1..=36_500).contains(&d) => {
            e.add("expires_in_days", "must be from 1 to 36500");
            None
        }
        Some(d) => Some(now + Duration::days(d)),
        None => None,
    };
    let issued_to = match req.issued_to {
        Some(s) if s.trim().is_empty() => None,
        other => e.text("issued_to", other, 255),
    };
    if let Some(features) = &req.features {
        if let Some(bad) = features
            .iter()
            .find(|f| !KNOWN_FEATURES.contains(&f.as_str()))
        {
            e.add("features", format!("{bad:?} is not a known feature"));
        }
    }
    let fingerprint = req
        .fingerprint
        .as_deref()
        .filter(|f| !f.is_empty())
        .and_then(|f| e.check("fingerprint", Fingerprint::parse(f)));
    e.finish()?;
    let Some(kind) = kind else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };

    let mut tx = store.platform(Access::Write).await?;
    let plan = crate::plans::Entitlements::of(kind.plan(), &Default::default());
    let max_users = req
        .max_users
        .unwrap_or(plan.limit(crate::plans::Limit::Users));
    let mut features = req.features.unwrap_or_else(|| {
        plan.features()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect()
    });
    features.sort();
    features.dedup();
    let id = Uuid::now_v7();
    let key = LicenseKey::generate(kind).map_err(ApiError::internal)?;
    let fingerprint = fingerprint.map(|f| f.as_str().to_owned());
    let certificate = fingerprint.as_ref().map(|installation| {
        cert::sign(
            &Certificate {
                v: 2,
                key_id: id,
                license_type: kind.plan().as_str().to_owned(),
                max_users,
                features: features.clone(),
                issued_at: now,
                expires_at,
                issued_to: issued_to.clone(),
                installation: Some(installation.clone()),
            },
            signing,
        )
    });
    tx.execute(
        "INSERT INTO license_keys (id, key_hash, key_hint, license_type, max_users, features,
                                   issued_to, expires_at, is_active, certificate, instance_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, $10, $11)",
        &[
            &id,
            &key.digest(),
            &key.masked(),
            &kind.plan(),
            &max_users,
            &serde_json::json!(features),
            &issued_to,
            &expires_at,
            &certificate,
            &fingerprint,
            &now,
        ],
    )
    .await?;
    audit::record_platform(
        &mut tx,
        actor,
        Event::new("license.issued")
            .target("license", id)
            .after(serde_json::json!({
                "license_type": kind.plan(),
                "max_users": max_users,
                "expires_at": expires_at,
                "issued_to": issued_to,
                "fingerprint": fingerprint,
                "key": key.masked(),
            })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Issued {
        id,
        license_key: key.expose().to_owned(),
        certificate,
        fingerprint,
        license_type: kind.plan().as_str().to_owned(),
        max_users,
        expires_at,
        features,
        issued_to,
    })
}

/// A licence as listed: the key masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenseSummary {
    pub id: Uuid,
    /// The key, masked: `TRAS-ENT-********-****5678`.
    pub license_key: String,
    pub license_type: String,
    pub max_users: Option<i64>,
    pub features: Vec<String>,
    pub issued_to: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `available`, `activated` (claimed by an installation, issued for one,
    /// or activated as a tenant here), `expired` or `revoked`.
    pub status: String,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_tenant_id: Option<Uuid>,
    /// The installation the key belongs to: the one that claimed it, or the
    /// fingerprint it was issued for.
    pub instance_id: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl FromRow for LicenseSummary {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let features: serde_json::Value = r.get("features")?;
        Ok(LicenseSummary {
            id: r.get("id")?,
            license_key: r.get("key_hint")?,
            license_type: r.get("license_type")?,
            max_users: r.get("max_users")?,
            features: crate::tenancy::features_list(&features),
            issued_to: r.get("issued_to")?,
            expires_at: r.get("expires_at")?,
            status: r.get("status")?,
            activated_at: r.get("activated_at")?,
            activated_tenant_id: r.get("activated_tenant_id")?,
            instance_id: r.get("instance_id")?,
            revoked_at: r.get("revoked_at")?,
            created_at: r.get("created_at")?,
        })
    }
}

/// The status of a licence row, as SQL over its columns; `$1` is now.
macro_rules! license_status {
    () => {
        "CASE WHEN revoked_at IS NOT NULL OR NOT is_active THEN 'revoked'
              WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 'expired'
              WHEN activated_at IS NOT NULL OR instance_id IS NOT NULL THEN 'activated'
              ELSE 'available' END"
    };
}

macro_rules! license_columns {
    () => {
        concat!(
            "id, key_hint, license_type, max_users, features, issued_to, expires_at,
             activated_at, activated_tenant_id, instance_id, revoked_at, created_at, ",
            license_status!(),
            " AS status"
        )
    };
}

pub const STATUSES: &[&str] = &["available", "activated", "expired", "revoked"];

/// Licences, newest first, optionally of one status.
pub async fn list(
    store: &Store,
    status: Option<&str>,
    page: PageRequest,
    now: DateTime<Utc>,
) -> ApiResult<Page<LicenseSummary>> {
    let status = status.unwrap_or("");
    let mut tx = store.platform(Access::Read).await?;
    let rows: Vec<LicenseSummary> = tx
        .query(
            concat!(
                "SELECT ",
                license_columns!(),
                " FROM license_keys WHERE id < $2 AND ($3 = '' OR ",
                license_status!(),
                " = $3) ORDER BY id DESC LIMIT $4"
            ),
            &[&now, &page.before(), &status, &page.fetch()],
        )
        .await?;
    tx.commit().await?;
    Ok(page.page(rows, |l| l.id))
}

async fn summary(tx: &mut PlatformTx, id: Uuid, now: DateTime<Utc>) -> ApiResult<LicenseSummary> {
    tx.query_opt(
        concat!(
            "SELECT ",
            license_columns!(),
            " FROM license_keys WHERE id = $2"
        ),
        &[&now, &id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

pub async fn revoke(
    store: &Store,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<LicenseSummary> {
    let mut tx = store.platform(Access::Write).await?;
    let before = summary(&mut tx, id, now).await?;
    if before.status == "revoked" {
        return Err(ApiError::conflict("the licence is already revoked"));
    }
    tx.execute(
        "UPDATE license_keys SET is_active = false, revoked_at = $2 WHERE id = $1",
        &[&id, &now],
    )
    .await?;
    audit::record_platform(
        &mut tx,
        actor,
        Event::new("license.revoked").target("license", id).change(
            serde_json::json!({ "status": before.status }),
            serde_json::json!({ "status": "revoked" }),
        ),
        now,
    )
    .await?;
    let after = summary(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(after)
}

/// What validation concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationCode {
    Valid,
    NotFound,
    Expired,
    Revoked,
    UserLimitExceeded,
    Malformed,
}

impl ValidationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "valid",
            ValidationCode::NotFound => "not_found",
            ValidationCode::Expired => "expired",
            ValidationCode::Revoked => "revoked",
            ValidationCode::UserLimitExceeded => "user_limit_exceeded",
            ValidationCode::Malformed => "malformed",
        }
    }

    fn message(self) -> &'static str {
        match self {
            ValidationCode::Valid => "the licence is valid",
            ValidationCode::NotFound => "no such licence key",
            ValidationCode::Expired => "the licence has expired",
            ValidationCode::Revoked => "the licence has been revoked",
            ValidationCode::UserLimitExceeded => "more users than the licence allows",
            ValidationCode::Malformed => "this is not a licence key",
        }
    }

    /// The 422 an activation answers for a licence that cannot be used.
    pub fn into_error(self) -> ApiError {
        ApiError::new(ErrorCode::ValidationFailed, self.message()).with_details(
            serde_json::json!({ "code": self.as_str(), "fields": { "license_key": self.message() } }),
        )
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub code: ValidationCode,
    pub license_type: Option<String>,
    pub max_users: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub features: Option<Vec<String>>,
}

struct KeyRow {
    id: Uuid,
    license_type: String,
    max_users: Option<i64>,
    features: serde_json::Value,
    issued_to: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    activated_tenant_id: Option<Uuid>,
    instance_id: Option<String>,
    certificate: Option<String>,
}

impl FromRow for KeyRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let is_active: bool = r.get("is_active")?;
        let revoked_at: Option<DateTime<Utc>> = r.get("revoked_at")?;
        Ok(KeyRow {
            id: r.get("id")?,
            license_type: r.get("license_type")?,
            max_users: r.get("max_users")?,
            features: r.get("features")?,
            issued_to: r.get("issued_to")?,
            expires_at: r.get("expires_at")?,
            revoked: !is_active || revoked_at.is_some(),
            activated_tenant_id: r.get("activated_tenant_id")?,
            instance_id: r.get("instance_id")?,
            certificate: r.get("certificate")?,
        })
    }
}

impl KeyRow {
    fn code(&self, current_users: Option<i64>, now: DateTime<Utc>) -> ValidationCode {
        if self.revoked {
            ValidationCode::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            ValidationCode::Expired
        } else if matches!((current_users, self.max_users), (Some(c), Some(m)) if c > m) {
            ValidationCode::UserLimitExceeded
        } else {
            ValidationCode::Valid
        }
    }

    fn activated(&self) -> bool {
        self.activated_tenant_id.is_some() || self.instance_id.is_some()
    }

    /// The stored certificate, when it names `installation`.
    fn certificate_for(&self, installation: &str) -> Option<&str> {
        self.certificate.as_deref().filter(|c| {
            cert::decode_unverified(c)
                .and_then(|c| c.installation)
                .as_deref()
                == Some(installation)
        })
    }
}

/// Looks a key up (locking its row when `for_update`, on PostgreSQL).
async fn find(
    tx: &mut PlatformTx,
    key: &LicenseKey,
    for_update: bool,
) -> ApiResult<Option<KeyRow>> {
    let sql = if for_update && tx.dialect() == crate::store::Dialect::Postgres {
        "SELECT id, license_type, max_users, features, issued_to, expires_at, is_active, revoked_at,
                activated_tenant_id, instance_id, certificate
           FROM license_keys WHERE key_hash = $1 FOR UPDATE"
    } else {
        "SELECT id, license_type, max_users, features, issued_to, expires_at, is_active, revoked_at,
                activated_tenant_id, instance_id, certificate
           FROM license_keys WHERE key_hash = $1"
    };
    Ok(tx.query_opt(sql, &[&key.digest()]).await?)
}

/// `POST /api/tenants/licenses/validate`. A malformed key is answered
/// without touching the database.
pub async fn validate(
    store: &Store,
    key_text: &str,
    current_users: Option<i64>,
    now: DateTime<Utc>,
) -> ApiResult<Validation> {
    let none = |code| Validation {
        valid: false,
        code,
        license_type: None,
        max_users: None,
        expires_at: None,
        features: None,
    };
    let Ok(key) = LicenseKey::parse(key_text) else {
        return Ok(none(ValidationCode::Malformed));
    };
    let mut tx = store.platform(Access::Read).await?;
    let row = find(&mut tx, &key, false).await?;
    tx.commit().await?;
    let Some(row) = row else {
        return Ok(none(ValidationCode::NotFound));
    };
    let code = row.code(current_users, now);
    Ok(Validation {
        valid: code == ValidationCode::Valid,
        code,
        license_type: Some(row.license_type.clone()),
        max_users: row.max_users,
        expires_at: row.expires_at,
        features: Some(crate::tenancy::features_list(&row.features)),
    })
}

fn already_activated() -> ApiError {
    ApiError::new(
        ErrorCode::LicenseAlreadyActivated,
        "this licence key has already been activated",
    )
}

/// Parses and checks a key for use: the 422 codes of validation.
async fn usable(
    tx: &mut PlatformTx,
    key_text: &str,
    now: DateTime<Utc>,
) -> ApiResult<(LicenseKey, KeyRow)> {
    let key = LicenseKey::parse(key_text).map_err(|_| ValidationCode::Malformed.into_error())?;
    let row = find(tx, &key, true)
        .await?
        .ok_or_else(|| ValidationCode::NotFound.into_error())?;
    match row.code(None, now) {
        ValidationCode::Valid => Ok((key, row)),
        code => Err(code.into_error()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Claimed {
    /// The signed certificate the installation keeps and re-checks.
    pub certificate: String,
}

/// `POST /api/tenants/licenses/claim`: an installation takes the key and
/// gets a certificate naming it. One installation per key; the same
/// installation may claim again (a reinstall), and no tenant is created here.
pub async fn claim(
    store: &Store,
    signing: Option<&SigningKey>,
    key_text: &str,
    instance_id: &str,
    now: DateTime<Utc>,
) -> ApiResult<Claimed> {
    let mut tx = store.platform(Access::Write).await?;
    let (_, row) = usable(&mut tx, key_text, now).await?;
    let same_instance = row.instance_id.as_deref() == Some(instance_id);
    if row.activated() && !same_instance {
        return Err(already_activated());
    }
    let certificate = match row.certificate_for(instance_id) {
        Some(c) => c.to_owned(),
        None => {
            let plan: PlanCode = row
                .license_type
                .parse()
                .map_err(|_| ApiError::internal("bad licence type in database"))?;
            let certificate = cert::sign(
                &Certificate {
                    v: 2,
                    key_id: row.id,
                    license_type: plan.as_str().to_owned(),
                    max_users: row.max_users,
                    features: crate::tenancy::features_list(&row.features),
                    issued_at: now,
                    expires_at: row.expires_at,
                    issued_to: row.issued_to.clone(),
                    installation: Some(instance_id.to_owned()),
                },
                signing_key(signing)?,
            );
            tx.execute(
                "UPDATE license_keys SET instance_id = $2, activated_at = COALESCE(activated_at, $3),
                        certificate = $4
                  WHERE id = $1",
                &[&row.id, &instance_id, &now, &certificate],
            )
            .await?;
            certificate
        }
    };
    tx.commit().await?;
    Ok(Claimed { certificate })
}

/// `POST /api/tenants/licenses/activate`, and the body of the claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The licence key (on a SaaS server, required).
    #[schema(example = "TRAS-ENT-1A2B3C4D-EFGH5678", schema_with = crate::contract::query_any_or_null)]
    pub license_key: Option<String>,
    /// Instead of the key, on a self-hosted server: the signed certificate
    /// (offline activation).
    #[schema(schema_with = crate::contract::query_any_or_null)]
    pub certificate: Option<String>,
    /// The company and its owner, as in a registration.
    #[schema(required = true, schema_with = crate::contract::text::<{ register::COMPANY_NAME_MAX }>)]
    pub company_name: Option<String>,
    #[schema(required = true, schema_with = crate::contract::email)]
    pub email: Option<String>,
    /// At least 8 characters.
    #[schema(required = true, schema_with = crate::contract::password)]
    pub password: Option<crate::domain::Password>,
    /// Default: the e-mail's local part.
    #[schema(schema_with = crate::contract::text_or_null::<{ register::FULL_NAME_MAX }>)]
    pub full_name: Option<String>,
    #[schema(schema_with = crate::contract::clearable::<{ register::INDUSTRY_MAX }>)]
    pub industry: Option<String>,
    /// The sub-domain to use; derived from the company name when absent.
    #[schema(schema_with = crate::contract::slug_or_null)]
    pub slug: Option<String>,
}

impl ActivateRequest {
    /// The owner-and-company part, validated like a registration; the full
    /// name defaults to the e-mail's local part.
    pub fn registration(&mut self) -> ApiResult<Registration> {
        let full_name = self.full_name.take().or_else(|| {
            self.email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .filter(|n| !n.trim().is_empty())
                .map(str::to_owned)
        });
        crate::tenancy::register::RegisterRequest {
            company_name: self.company_name.take(),
            email: self.email.take(),
            password: self.password.take(),
            full_name,
            industry: self.industry.take(),
            slug: self.slug.take(),
        }
        .validate()
    }
}

/// How a tenant made from a licence starts: active, on the licence's plan,
/// with its limits.
pub fn setup_for(
    plan: PlanCode,
    max_users: Option<i64>,
    features: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
) -> Setup {
    Setup {
        plan,
        status: TenantStatus::Active,
        max_users: Some(max_users),
        features: Some(features),
        trial_ends_at: None,
        current_period_end: expires_at,
    }
}

/// Activation on the vendor's own (SaaS) deployment: the key becomes a
/// tenant here, in one transaction with the activation record.
pub async fn activate(
    store: &Store,
    mut req: ActivateRequest,
    now: DateTime<Utc>,
) -> ApiResult<Registered> {
    let Some(key_text) = req.license_key.take() else {
        return Err(ApiError::field("license_key", "is required"));
    };
    if req.certificate.is_some() {
        return Err(ApiError::field(
            "certificate",
            "certificates activate self-hosted servers; activate here with the licence key",
        ));
    }
    let input = req.registration()?;
    let hash = crate::auth::password::hash(&input.password).await?;
    register::with_slug_retries(&input, || async {
        let mut tx = store.platform(Access::Write).await?;
        let (_, row) = usable(&mut tx, &key_text, now).await?;
        if row.activated() {
            return Err(already_activated().into());
        }
        let plan: PlanCode = row
            .license_type
            .parse()
            .map_err(|_| ApiError::internal("bad licence type in database"))?;
        let setup = setup_for(
            plan,
            row.max_users,
            crate::tenancy::features_list(&row.features),
            row.expires_at,
        );
        let registered = register::create_in(&mut tx, &input, &hash, &setup, now).await?;
        tx.execute(
            "UPDATE license_keys SET activated_tenant_id = $2, activated_at = $3 WHERE id = $1",
            &[&row.id, &registered.tenant.id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(registered)
    })
    .await
}
