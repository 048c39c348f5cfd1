//! Self-service registration (the seed's Flow 1, step 2): one transaction
//! creates the tenant in trial, its trial subscription and its owner, or
//! nothing at all.

use super::{tenant_columns, SubscriptionView, TenantView};
use crate::auth::password;
use crate::domain::{
    Email, Password, PlanCode, Role, Slug, SubscriptionStatus, TenantId, TenantStatus, UserId,
};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::staff::{user_columns, UserView};
use crate::store::{Access, DbError, One, PlatformTx, Store};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most characters `company_name` takes (validation and description).
pub(crate) const COMPANY_NAME_MAX: usize = 255;
/// The most characters `full_name` takes (validation and description).
pub(crate) const FULL_NAME_MAX: usize = 255;
/// The most characters `industry` takes (validation and description).
pub(crate) const INDUSTRY_MAX: usize = 100;

pub const TRIAL_DAYS: i64 = 14;

/// `POST /api/tenants/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(required = true, schema_with = crate::contract::text::<{ COMPANY_NAME_MAX }>)]
    pub company_name: Option<String>,
    #[schema(required = true, schema_with = crate::contract::email)]
    pub email: Option<String>,
    /// At least 8 characters.
    #[schema(required = true, schema_with = crate::contract::password)]
    pub password: Option<Password>,
    #[schema(required = true, schema_with = crate::contract::text::<{ FULL_NAME_MAX }>)]
    pub full_name: Option<String>,
    #[schema(schema_with = crate::contract::clearable::<{ INDUSTRY_MAX }>)]
    pub industry: Option<String>,
    /// The sub-domain to use; derived from the company name when absent.
    #[schema(schema_with = crate::contract::slug_or_null)]
    pub slug: Option<String>,
}

/// Registration input after validation.
pub struct Registration {
    pub company_name: String,
    pub email: Email,
    pub password: Password,
    pub full_name: String,
    pub industry: Option<String>,
    pub slug: Option<Slug>,
}

impl RegisterRequest {
    pub fn validate(self) -> ApiResult<Registration> {
        let mut e = FieldErrors::default();
        let company_name = e.required("company_name", self.company_name);
        let company_name = e.text("company_name", company_name, COMPANY_NAME_MAX);
        let email = e.required("email", self.email);
        let email = email.and_then(|v| e.check("email", Email::parse(&v)));
        let password = e.required("password", self.password);
        let password =
            password.and_then(|p| e.check("password", Password::new_secret(p.expose().to_owned())));
        let full_name = e.required("full_name", self.full_name);
        let full_name = e.text("full_name", full_name, FULL_NAME_MAX);
        let industry = match self.industry {
            Some(s) if s.trim().is_empty() => None,
            other => e.text("industry", other, INDUSTRY_MAX),
        };
        let slug = self
            .slug
            .and_then(|s| e.check("slug", Slug::parse(s.trim()).map_err(|err| err.message())));
        e.finish()?;
        match (company_name, email, password, full_name) {
            (Some(company_name), Some(email), Some(password), Some(full_name)) => {
                Ok(Registration {
                    company_name,
                    email,
                    password,
                    full_name,
                    industry,
                    slug,
                })
            }
            _ => Err(ApiError::internal("validation passed with a field missing")),
        }
    }
}

/// What registration (and licence activation) returns besides the token.
pub struct Registered {
    pub user: UserView,
    pub tenant: TenantView,
    pub subscription: SubscriptionView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// Present when `slug` was asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug_available: Option<bool>,
    /// Why the slug is not available: `invalid`, `reserved` or `taken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug_message: Option<String>,
    /// Present when `email` was asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_reason: Option<String>,
}

pub async fn check_availability(
    store: &Store,
    slug: Option<&str>,
    email: Option<&str>,
) -> ApiResult<Availability> {
    let mut out = Availability {
        slug_available: None,
        slug_reason: None,
        slug_message: None,
        email_available: None,
        email_reason: None,
    };
    let mut tx = store.platform(Access::Read).await?;
    if let Some(slug) = slug {
        match Slug::parse(slug.trim()) {
            Err(e) => {
                out.slug_available = Some(false);
                out.slug_reason = Some(e.code().to_owned());
                out.slug_message = Some(format!("the slug {}", e.message()));
            }
            Ok(slug) => {
                let taken = slug_taken(&mut tx, &slug).await?;
                out.slug_available = Some(!taken);
                if taken {
                    out.slug_reason = Some("taken".to_owned());
                    out.slug_message = Some("the slug is already in use".to_owned());
                }
            }
        }
    }
    if let Some(email) = email {
        match Email::parse(email) {
            Err(_) => {
                out.email_available = Some(false);
                out.email_reason = Some("invalid".to_owned());
            }
            Ok(email) => {
                let taken = email_taken(&mut tx, &email).await?;
                out.email_available = Some(!taken);
                if taken {
                    out.email_reason = Some("taken".to_owned());
                }
            }
        }
    }
    tx.commit().await?;
    Ok(out)
}

async fn slug_taken(tx: &mut PlatformTx, slug: &Slug) -> ApiResult<bool> {
    let One(taken) = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1 OR subdomain = $1)",
            &[&slug.as_str()],
        )
        .await?;
    Ok(taken)
}

async fn email_taken(tx: &mut PlatformTx, email: &Email) -> ApiResult<bool> {
    let One(taken) = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)",
            &[&email.as_str()],
        )
        .await?;
    Ok(taken)
}

/// The first free slug among `base`, `base-2`, `base-3`…
async fn free_slug(tx: &mut PlatformTx, base: &Slug) -> ApiResult<Slug> {
    let pattern = format!("{}-%", base.as_str());
    let taken: Vec<One<String>> = tx
        .query(
            "SELECT slug FROM tenants WHERE slug = $1 OR slug LIKE $2",
            &[&base.as_str(), &pattern],
        )
        .await?;
    let taken: std::collections::HashSet<String> = taken.into_iter().map(|o| o.0).collect();
    if !taken.contains(base.as_str()) {
        return Ok(base.clone());
    }
    (2..)
        .map(|n| base.with_suffix(n))
        .find(|s| !taken.contains(s.as_str()))
        .ok_or_else(|| ApiError::internal("no free slug"))
}

/// How a new tenant starts: the trial by registration, or a licence's plan
/// by activation.
pub struct Setup {
    pub plan: PlanCode,
    pub status: TenantStatus,
    /// Overrides the catalogue's limit (`Some(None)`: unlimited).
    pub max_users: Option<Option<i64>>,
    /// Overrides the catalogue's features.
    pub features: Option<Vec<String>>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
}

impl Setup {
    pub fn trial(now: DateTime<Utc>) -> Setup {
        let ends = now + Duration::days(TRIAL_DAYS);
        Setup {
            plan: PlanCode::Trial,
            status: TenantStatus::Trial,
            max_users: None,
            features: None,
            trial_ends_at: Some(ends),
            current_period_end: Some(ends),
        }
    }
}

/// Creates the tenant, its trial subscription and its owner, and queues
/// the owner's welcome and address-verification messages, in one
/// transaction.
pub async fn register(app: &crate::app::App, input: Registration) -> ApiResult<Registered> {
    let now = app.clock.now();
    let password_hash = password::hash(&input.password).await?;
    let registered = with_slug_retries(&input, || async {
        let mut tx = app.store.platform(Access::Write).await?;
        let r = create_in(&mut tx, &input, &password_hash, &Setup::trial(now), now).await?;
        let mut scope = tx.for_tenant(TenantId(r.tenant.id));
        let (user, email, name) = (UserId(r.user.id), &r.user.email, &r.user.full_name);
        crate::auth::recovery::queue_welcome(&mut scope, app, user, email, name, now).await?;
        crate::auth::recovery::queue_verification(&mut scope, app, user, email, name, now).await?;
        tx.commit().await?;
        Ok(r)
    })
    .await?;
    crate::jobs::committed();
    Ok(registered)
}

/// Runs `attempt` again when a derived slug was taken by a registration at
/// the same moment; a slug the caller chose answers 409 instead.
pub(crate) async fn with_slug_retries<F, Fut>(
    input: &Registration,
    mut attempt: F,
) -> ApiResult<Registered>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Registered, RegisterError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(RegisterError::SlugRace) if input.slug.is_none() && tries < 5 => continue,
            Err(RegisterError::SlugRace) => {
                return Err(
                    ApiError::new(ErrorCode::SlugTaken, "that slug is already in use")
                        .with_details(
                            serde_json::json!({ "fields": { "slug": "is already in use" } }),
                        ),
                )
            }
            Err(RegisterError::Api(e)) => return Err(e),
            Ok(r) => return Ok(r),
        }
    }
}

pub(crate) enum RegisterError {
    SlugRace,
    Api(ApiError),
}

impl From<ApiError> for RegisterError {
    fn from(e: ApiError) -> Self {
        RegisterError::Api(e)
    }
}

impl From<DbError> for RegisterError {
    fn from(e: DbError) -> Self {
        RegisterError::Api(e.into())
    }
}

/// Creates tenant, subscription and owner inside `tx`.
pub(crate) async fn create_in(
    tx: &mut PlatformTx,
    input: &Registration,
    password_hash: &str,
    setup: &Setup,
    now: DateTime<Utc>,
) -> Result<Registered, RegisterError> {
    if email_taken(tx, &input.email).await? {
        return Err(email_conflict().into());
    }
    let slug = match &input.slug {
        Some(chosen) => {
            if slug_taken(tx, chosen).await? {
                return Err(RegisterError::SlugRace);
            }
            chosen.clone()
        }
        None => free_slug(tx, &Slug::derive(&input.company_name)).await?,
    };
    let catalogue = crate::plans::Entitlements::of(setup.plan, &Default::default());
    let plan_name = crate::plans::spec(setup.plan).name.to_owned();
    let max_users = setup
        .max_users
        .unwrap_or(catalogue.limit(crate::plans::Limit::Users));
    let features = match &setup.features {
        Some(f) => serde_json::json!(f),
        None => serde_json::json!(catalogue
            .features()
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()),
    };
    let tenant_id = TenantId::new();
    let tenant: TenantView = tx
        .query_one(
            concat!(
                "INSERT INTO tenants (id, name, slug, subdomain, email, industry, status,
                                      trial_ends_at, settings, timezone, created_at, updated_at)
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, 'UTC', $9, $9)
                 RETURNING ",
                tenant_columns!()
            ),
            &[
                &tenant_id,
                &input.company_name,
                &slug.as_str(),
                &input.email.as_str(),
                &input.industry,
                &setup.status,
                &setup.trial_ends_at,
                &serde_json::json!({}),
                &now,
            ],
        )
        .await
        .map_err(|e| match e {
            e if e.is_unique("tenants", "slug") || e.is_unique("tenants", "subdomain") => {
                RegisterError::SlugRace
            }
            e => e.into(),
        })?;
    let sub_status = if setup.plan == PlanCode::Trial {
        SubscriptionStatus::Trialing
    } else {
        SubscriptionStatus::Active
    };
    tx.execute(
        "INSERT INTO subscriptions (tenant_id, id, plan, status, max_users, features,
                                    current_period_end, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        &[
            &tenant_id,
            &uuid::Uuid::now_v7(),
            &setup.plan,
            &sub_status,
            &max_users,
            &features,
            &setup.current_period_end,
            &now,
        ],
    )
    .await?;
    let user: UserView = tx
        .query_one(
            concat!(
                "INSERT INTO users (tenant_id, id, email, username, full_name, password_hash,
                                    role, is_owner, is_active, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, true, true, $8, $8)
                 RETURNING ",
                user_columns!()
            ),
            &[
                &tenant_id,
                &UserId::new(),
                &input.email.as_str(),
                &input.email.local_part(),
                &input.full_name,
                &password_hash,
                &Role::Admin,
                &now,
            ],
        )
        .await
        .map_err(|e| match e {
            e if e.is_unique("users", "email") => email_conflict().into(),
            e => RegisterError::from(e),
        })?;
    crate::crm::pipelines::create_default(&mut tx.for_tenant(tenant_id), now).await?;
    let subscription = SubscriptionView {
        plan: setup.plan,
        plan_name,
        status: sub_status,
        max_users,
        current_users: 1,
        features: super::features_list(&features),
        trial_ends_at: setup.trial_ends_at,
        days_left_in_trial: setup
            .trial_ends_at
            .filter(|_| setup.status == TenantStatus::Trial)
            .map(|end| super::days_left(end, now)),
        trial_expired: false,
        current_period_end: setup.current_period_end,
        license: None,
    };
    Ok(Registered {
        user,
        tenant,
        subscription,
    })
}

fn email_conflict() -> ApiError {
    ApiError::new(
        ErrorCode::EmailTaken,
        "that e-mail address is already registered",
    )
    .with_details(serde_json::json!({ "fields": { "email": "is already registered" } }))
}
/// Counts a registration from `client`: 429 past the configured number per
/// hour (`TRASEALLA_SIGNUPS_PER_HOUR`).
pub async fn throttle_signups(app: &crate::app::App, client: &str) -> ApiResult<()> {
    crate::ratelimit::hit(
        app,
        &format!("signup:{client}"),
        app.config.signups_per_hour,
        chrono::Duration::hours(1),
    )
    .await
}

/// Counts an availability check from `client`: 429 past the configured
/// number per minute (`TRASEALLA_AVAILABILITY_PER_MINUTE`), so the check
/// cannot be used to list who has an account.
pub async fn throttle_availability(app: &crate::app::App, client: &str) -> ApiResult<()> {
    crate::ratelimit::hit(
        app,
        &format!("availability:{client}"),
        app.config.availability_per_minute,
        chrono::Duration::minutes(1),
    )
    .await
}
