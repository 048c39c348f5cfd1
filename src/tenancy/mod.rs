//! Tenants: registration, the tenant's own view and settings, its
//! subscription and usage. Registration is platform work (it creates the
//! tenant); everything else runs on the tenant's own handle.

pub mod register;

use crate::audit::{self, Event};
use crate::auth::{trial_expired, TenantAdmin};
use crate::domain::{PlanCode, SubscriptionStatus, TenantStatus, Timezone};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `industry` takes (validation and description).
pub(crate) const INDUSTRY_MAX: usize = 100;
/// The most characters `logo_url` takes (validation and description).
pub(crate) const LOGO_URL_MAX: usize = 500;
/// The most characters `name` takes (validation and description).
pub(crate) const NAME_MAX: usize = 255;
/// The most characters `phone` takes (validation and description).
pub(crate) const PHONE_MAX: usize = 50;

/// The columns of [`TenantView`], in one place for every query that reads it.
macro_rules! tenant_columns {
    () => {
        "id, name, slug, subdomain, domain, email, phone, logo_url, industry, status, trial_ends_at, settings, timezone, created_at, updated_at"
    };
}
pub(crate) use tenant_columns;

/// A tenant (company) as its users and the platform see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub subdomain: String,
    pub domain: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub logo_url: Option<String>,
    pub industry: Option<String>,
    pub status: TenantStatus,
    pub trial_ends_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for TenantView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(TenantView {
            id: r.get("id")?,
            name: r.get("name")?,
            slug: r.get("slug")?,
            subdomain: r.get("subdomain")?,
            domain: r.get("domain")?,
            email: r.get("email")?,
            phone: r.get("phone")?,
            logo_url: r.get("logo_url")?,
            industry: r.get("industry")?,
            status: r.get("status")?,
            trial_ends_at: r.get("trial_ends_at")?,
            settings: r.get("settings")?,
            timezone: r.get("timezone")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

pub async fn current(tx: &mut impl Scoped) -> ApiResult<TenantView> {
    tx.query_opt(
        concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1"),
        &[],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

/// Distinguishes an absent field (leave it) from an explicit null (clear it).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The largest number `settings` holds. PostgreSQL writes numbers out in
/// full, and near the edge of a double (1.79e308) that text no longer
/// reads back as one.
pub const SETTINGS_NUMBER_MAX: f64 = 1e300;

/// Whether every number in `v` is within ±`max`.
fn numbers_within(v: &serde_json::Value, max: f64) -> bool {
    match v {
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() <= max),
        serde_json::Value::Array(a) => a.iter().all(|x| numbers_within(x, max)),
        serde_json::Value::Object(o) => o.values().all(|x| numbers_within(x, max)),
        _ => true,
    }
}

/// `PATCH /api/tenants/current`: the settings a tenant admin may change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// IANA time-zone name, e.g. `America/New_York`.
    #[schema(schema_with = crate::contract::timezone_or_null)]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ PHONE_MAX }>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ INDUSTRY_MAX }>)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable_url::<{ LOGO_URL_MAX }>)]
    pub logo_url: Option<Option<String>>,
    /// Replaces the settings object (at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
}

/// Validates an optional, clearable text field: `Some(None)` clears it.
pub(crate) fn clearable(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<Option<String>>,
    max: usize,
) -> Option<Option<String>> {
    match v {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) if s.trim().is_empty() => Some(None),
        Some(Some(s)) => errors.text(field, Some(s), max).map(Some),
    }
}

pub fn valid_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Changes the tenant's own settings. Setting a logo or a brand colour
/// needs `custom_branding` (402 otherwise); clearing them never does, so a
/// tenant that lost the feature can still tidy up.
pub async fn update_current(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    standing: &crate::auth::Standing,
    input: UpdateTenant,
    now: DateTime<Utc>,
) -> ApiResult<TenantView> {
    let sets_logo = matches!(&input.logo_url, Some(Some(u)) if !u.trim().is_empty());
    let sets_colour = input
        .settings
        .as_ref()
        .and_then(|s| s.get("brand_color"))
        .is_some_and(|c| !c.is_null() && c.as_str() != Some(""));
    let mut errors = FieldErrors::default();
    let name = errors.text("name", input.name, NAME_MAX);
    let timezone = input
        .timezone
        .and_then(|t| errors.check("timezone", Timezone::parse(t.trim())));
    let phone = clearable(&mut errors, "phone", input.phone, PHONE_MAX);
    let industry = clearable(&mut errors, "industry", input.industry, INDUSTRY_MAX);
    let logo_url = clearable(&mut errors, "logo_url", input.logo_url, LOGO_URL_MAX);
    if let Some(Some(url)) = &logo_url {
        if !valid_url(url) {
            errors.add("logo_url", "must be an http:// or https:// URL");
        }
    }
    if let Some(settings) = &input.settings {
        if !settings.is_object() {
            errors.add("settings", "must be a JSON object");
        } else if settings.to_string().len() > 16 * 1024 {
            errors.add("settings", "must be at most 16 KiB");
        } else if !numbers_within(settings, SETTINGS_NUMBER_MAX) {
            errors.add(
                "settings",
                "numbers must be from -1e300 to 1e300 (larger ones would not read back)",
            );
        }
    }
    errors.finish()?;
    if sets_logo || sets_colour {
        standing.require(crate::plans::Feature::CustomBranding)?;
    }

    let timezone = timezone.map(|t| t.as_str().to_owned());
    let before = current(tx).await?;
    let after: TenantView = tx
        .query_opt(
            concat!(
                "UPDATE tenants SET
                name = COALESCE($2, name),
                timezone = COALESCE($3, timezone),
                phone = CASE WHEN $4 THEN $5 ELSE phone END,
                industry = CASE WHEN $6 THEN $7 ELSE industry END,
                logo_url = CASE WHEN $8 THEN $9 ELSE logo_url END,
                settings = COALESCE($10, settings),
                updated_at = $11
             WHERE id = $1
             RETURNING ",
                tenant_columns!()
            ),
            &[
                &name,
                &timezone,
                &phone.is_some(),
                &phone.flatten(),
                &industry.is_some(),
                &industry.flatten(),
                &logo_url.is_some(),
                &logo_url.flatten(),
                &input.settings,
                &now,
            ],
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("tenant.settings_changed")
            .target("tenant", after.id)
            .change(settings_snapshot(&before), settings_snapshot(&after)),
        now,
    )
    .await?;
    Ok(after)
}

/// The self-service fields, for the audit's before/after.
fn settings_snapshot(t: &TenantView) -> serde_json::Value {
    serde_json::json!({
        "name": t.name,
        "timezone": t.timezone,
        "phone": t.phone,
        "industry": t.industry,
        "logo_url": t.logo_url,
        "settings": t.settings,
    })
}

/// The tenant's plan and how much of it is used.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub plan: PlanCode,
    pub plan_name: String,
    pub status: SubscriptionStatus,
    /// `null`: unlimited.
    pub max_users: Option<i64>,
    pub current_users: i64,
    pub features: Vec<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Whole days left, counting a started day; `null` when not in trial.
    pub days_left_in_trial: Option<i64>,
    /// True once the trial has ended without a paid plan: reads still work,
    /// writes answer 402 `trial_expired`.
    pub trial_expired: bool,
    pub current_period_end: Option<DateTime<Utc>>,
    /// Self-hosted servers: the installed licence and its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<crate::licensing::installation::LicenseInfo>,
}

struct SubscriptionRow {
    plan: PlanCode,
    plan_name: String,
    status: SubscriptionStatus,
    max_users: Option<i64>,
    features: serde_json::Value,
    current_period_end: Option<DateTime<Utc>>,
    tenant_status: TenantStatus,
    trial_ends_at: Option<DateTime<Utc>>,
    current_users: i64,
}

impl FromRow for SubscriptionRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(SubscriptionRow {
            plan: r.get("plan")?,
            plan_name: r.get("plan_name")?,
            status: r.get("status")?,
            max_users: r.get("max_users")?,
            features: r.get("features")?,
            current_period_end: r.get("current_period_end")?,
            tenant_status: r.get("tenant_status")?,
            trial_ends_at: r.get("trial_ends_at")?,
            current_users: r.get("current_users")?,
        })
    }
}

impl SubscriptionRow {
    fn view(self, now: DateTime<Utc>) -> SubscriptionView {
        let in_trial = self.tenant_status == TenantStatus::Trial;
        let days_left = self
            .trial_ends_at
            .filter(|_| in_trial)
            .map(|end| days_left(end, now));
        SubscriptionView {
            plan: self.plan,
            plan_name: self.plan_name,
            status: self.status,
            max_users: self.max_users,
            current_users: self.current_users,
            features: features_list(&self.features),
            trial_ends_at: self.trial_ends_at,
            days_left_in_trial: days_left,
            trial_expired: trial_expired(self.tenant_status, self.trial_ends_at, now),
            current_period_end: self.current_period_end,
            license: None,
        }
    }
}

/// Days until `end`, a started day counting as one; never negative.
pub fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (end - now).num_seconds();
    if secs <= 0 {
        0
    } else {
        (secs + 86_399) / 86_400
    }
}

pub(crate) fn features_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn subscription(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<SubscriptionView> {
    let row: SubscriptionRow = tx
        .query_opt(
            "SELECT s.plan, p.name AS plan_name, s.status, s.max_users, s.features,
                    s.current_period_end, t.status AS tenant_status, t.trial_ends_at,
                    (SELECT count(*) FROM users u WHERE u.tenant_id = $1 AND u.is_active) AS current_users
               FROM subscriptions s
               JOIN plans p ON p.code = s.plan
               JOIN tenants t ON t.id = s.tenant_id
              WHERE s.tenant_id = $1 AND t.id = $1",
            &[],
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(row.view(now))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub users: UsageCount,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageCount {
    pub current: i64,
    /// `null`: unlimited.
    pub max: Option<i64>,
}

/// Active users against the plan's limit.
pub struct Seats {
    pub current: i64,
    pub max: Option<i64>,
}

impl FromRow for Seats {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Seats {
            current: r.get("current_users")?,
            max: r.get("max_users")?,
        })
    }
}

pub async fn seats(tx: &mut impl Scoped) -> ApiResult<Seats> {
    tx.query_opt(
        "SELECT s.max_users,
                (SELECT count(*) FROM users u WHERE u.tenant_id = $1 AND u.is_active) AS current_users
           FROM subscriptions s WHERE s.tenant_id = $1",
        &[],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

pub async fn usage(tx: &mut impl Scoped) -> ApiResult<UsageView> {
    let seats = seats(tx).await?;
    Ok(UsageView {
        users: UsageCount {
            current: seats.current,
            max: seats.max,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn days_left_counts_started_days() {
        let now = Utc::now();
        assert_eq!(days_left(now + Duration::days(14), now), 14);
        assert_eq!(days_left(now + Duration::hours(1), now), 1);
        assert_eq!(days_left(now, now), 0);
        assert_eq!(days_left(now - Duration::days(3), now), 0);
    }
}
