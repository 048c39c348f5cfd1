//! The plan catalogue: what each plan costs, which features it has and
//! what it allows. Every check reads it through [`Entitlements`], which
//! adds a tenant's overrides (set by a platform admin) to its plan's
//! entry; a self-hosted licence holds them to its certificate.

use crate::domain::PlanCode;
use crate::error::{ApiError, ErrorCode};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A feature a plan may include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    CoreCrm,
    BasicReports,
    AdvancedReports,
    Workflows,
    CustomFields,
    EmailTemplates,
    /// API keys and webhooks.
    Integrations,
    CustomBranding,
    CustomDomain,
    Sso,
    PrioritySupport,
}

impl Feature {
    pub const ALL: [Feature; 11] = [
        Feature::CoreCrm,
        Feature::BasicReports,
        Feature::AdvancedReports,
        Feature::Workflows,
        Feature::CustomFields,
        Feature::EmailTemplates,
        Feature::Integrations,
        Feature::CustomBranding,
        Feature::CustomDomain,
        Feature::Sso,
        Feature::PrioritySupport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::CoreCrm => "core_crm",
            Feature::BasicReports => "basic_reports",
            Feature::AdvancedReports => "advanced_reports",
            Feature::Workflows => "workflows",
            Feature::CustomFields => "custom_fields",
            Feature::EmailTemplates => "email_templates",
            Feature::Integrations => "integrations",
            Feature::CustomBranding => "custom_branding",
            Feature::CustomDomain => "custom_domain",
            Feature::Sso => "sso",
            Feature::PrioritySupport => "priority_support",
        }
    }

    pub fn parse(s: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Its name in a list of what a plan includes.
    pub fn title(self) -> &'static str {
        match self {
            Feature::CoreCrm => "Core CRM",
            Feature::BasicReports => "Reports",
            Feature::AdvancedReports => "Advanced reports",
            Feature::Workflows => "Workflows",
            Feature::CustomFields => "Custom fields",
            Feature::EmailTemplates => "E-mail templates",
            Feature::Integrations => "Integrations (API keys, webhooks)",
            Feature::CustomBranding => "Your logo and colours",
            Feature::CustomDomain => "Your own domain",
            Feature::Sso => "Single sign-on",
            Feature::PrioritySupport => "Priority support",
        }
    }

    /// What people read on an upgrade prompt.
    pub fn label(self) -> &'static str {
        match self {
            Feature::CoreCrm => "the CRM",
            Feature::BasicReports => "reports",
            Feature::AdvancedReports => "advanced reports",
            Feature::Workflows => "workflows",
            Feature::CustomFields => "custom fields",
            Feature::EmailTemplates => "e-mail templates",
            Feature::Integrations => "integrations (API keys and webhooks)",
            Feature::CustomBranding => "custom branding",
            Feature::CustomDomain => "a custom domain",
            Feature::Sso => "single sign-on",
            Feature::PrioritySupport => "priority support",
        }
    }
}

/// A limit a plan sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Active users (pending invitations hold seats too).
    Users,
    /// Contacts, companies, leads and deals together.
    Records,
    StorageBytes,
    ApiCallsPerMonth,
    RequestsPerMinute,
    /// Rows of one CSV import.
    ImportRows,
    ActiveWorkflows,
}

impl Limit {
    pub const ALL: [Limit; 7] = [
        Limit::Users,
        Limit::Records,
        Limit::StorageBytes,
        Limit::ApiCallsPerMonth,
        Limit::RequestsPerMinute,
        Limit::ImportRows,
        Limit::ActiveWorkflows,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Users => "users",
            Limit::Records => "records",
            Limit::StorageBytes => "storage_bytes",
            Limit::ApiCallsPerMonth => "api_calls_per_month",
            Limit::RequestsPerMinute => "requests_per_minute",
            Limit::ImportRows => "import_rows",
            Limit::ActiveWorkflows => "active_workflows",
        }
    }

    pub fn parse(s: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.as_str() == s)
    }

    fn index(self) -> usize {
        Limit::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }
}

/// One plan of the catalogue.
#[derive(Debug)]
pub struct PlanSpec {
    pub code: PlanCode,
    pub name: &'static str,
    /// Per month, in cents of `currency`, paid monthly.
    pub monthly_cents: i64,
    /// Per year, paid yearly (two months free).
    pub yearly_cents: i64,
    pub currency: &'static str,
    pub features: &'static [Feature],
    /// By [`Limit::ALL`]'s order; `None`: unlimited.
    limits: [Option<i64>; 7],
}

impl PlanSpec {
    pub fn limit(&self, limit: Limit) -> Option<i64> {
        self.limits[limit.index()]
    }

    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}

const GIB: i64 = 1024 * 1024 * 1024;

const STARTER_FEATURES: &[Feature] = &[Feature::CoreCrm, Feature::BasicReports];
const PROFESSIONAL_FEATURES: &[Feature] = &[
    Feature::CoreCrm,
    Feature::BasicReports,
    Feature::AdvancedReports,
    Feature::Workflows,
    Feature::CustomFields,
    Feature::EmailTemplates,
    Feature::Integrations,
];

/// The catalogue, cheapest first. The trial has the professional plan's
/// features with 3 users: people try what they would buy.
pub const CATALOGUE: [PlanSpec; 4] = [
    PlanSpec {
        code: PlanCode::Trial,
        name: "Trial",
        monthly_cents: 0,
        yearly_cents: 0,
        currency: "USD",
        features: PROFESSIONAL_FEATURES,
        //      users    records        storage        api/month        rpm        import        workflows
        limits: [
            Some(3),
            Some(5_000),
            Some(GIB),
            Some(50_000),
            Some(120),
            Some(5_000),
            Some(5),
        ],
    },
    PlanSpec {
        code: PlanCode::Starter,
        name: "Starter",
        monthly_cents: 2_900,
        yearly_cents: 29_000,
        currency: "USD",
        features: STARTER_FEATURES,
        limits: [
            Some(5),
            Some(10_000),
            Some(2 * GIB),
            Some(100_000),
            Some(120),
            Some(10_000),
            Some(0),
        ],
    },
    PlanSpec {
        code: PlanCode::Professional,
        name: "Professional",
        monthly_cents: 7_900,
        yearly_cents: 79_000,
        currency: "USD",
        features: PROFESSIONAL_FEATURES,
        limits: [
            Some(25),
            Some(100_000),
            Some(20 * GIB),
            Some(1_000_000),
            Some(600),
            Some(50_000),
            Some(25),
        ],
    },
    PlanSpec {
        code: PlanCode::Enterprise,
        name: "Enterprise",
        monthly_cents: 19_900,
        yearly_cents: 199_000,
        currency: "USD",
        features: &Feature::ALL,
        limits: [None, None, None, None, Some(3_000), None, None],
    },
];

pub fn spec(code: PlanCode) -> &'static PlanSpec {
    CATALOGUE
        .iter()
        .find(|p| p.code == code)
        .unwrap_or(&CATALOGUE[0])
}

/// The cheapest plan on sale with `feature`, for an upgrade prompt.
pub fn cheapest_with(feature: Feature) -> PlanCode {
    CATALOGUE
        .iter()
        .filter(|p| p.code != PlanCode::Trial)
        .find(|p| p.has(feature))
        .map_or(PlanCode::Enterprise, |p| p.code)
}

/// The cheapest plan on sale that allows more than `used` of `limit`.
pub fn cheapest_above(limit: Limit, used: i64) -> PlanCode {
    CATALOGUE
        .iter()
        .filter(|p| p.code != PlanCode::Trial)
        .find(|p| p.limit(limit).is_none_or(|m| m > used))
        .map_or(PlanCode::Enterprise, |p| p.code)
}

/// What one tenant may do: its plan's entry with its overrides.
#[derive(Debug, Clone)]
pub struct Entitlements {
    pub plan: PlanCode,
    features: Vec<Feature>,
    limits: [Option<i64>; 7],
}

/// Per-tenant overrides, as stored: `{"workflows": true}` and
/// `{"requests_per_minute": 600}` (an absent key: the plan's).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub features: BTreeMap<Feature, bool>,
    pub limits: BTreeMap<Limit, i64>,
}

impl Overrides {
    /// Reads stored overrides, ignoring names this version does not know.
    pub fn from_json(features: &serde_json::Value, limits: &serde_json::Value) -> Overrides {
        let mut o = Overrides::default();
        for (k, v) in features.as_object().into_iter().flatten() {
            if let (Some(f), Some(on)) = (Feature::parse(k), v.as_bool()) {
                o.features.insert(f, on);
            }
        }
        for (k, v) in limits.as_object().into_iter().flatten() {
            if let (Some(l), Some(n)) = (Limit::parse(k), v.as_i64()) {
                o.limits.insert(l, n);
            }
        }
        o
    }

    pub fn features_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.features
                .iter()
                .map(|(f, on)| (f.as_str().to_owned(), serde_json::json!(on)))
                .collect(),
        )
    }

    pub fn limits_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.limits
                .iter()
                .map(|(l, v)| (l.as_str().to_owned(), serde_json::json!(v)))
                .collect(),
        )
    }
}

impl Entitlements {
    pub fn of(plan: PlanCode, overrides: &Overrides) -> Entitlements {
        let spec = spec(plan);
        let mut features: Vec<Feature> = Feature::ALL
            .into_iter()
            .filter(|f| overrides.features.get(f).copied().unwrap_or(spec.has(*f)))
            .collect();
        features.sort();
        let mut limits = spec.limits;
        for (l, v) in &overrides.limits {
            limits[l.index()] = Some(*v);
        }
        Entitlements {
            plan,
            features,
            limits,
        }
    }

    /// With the user limit the subscription stores (which a plan change,
    /// an override, a platform admin's `max_users` or a licence set).
    pub fn with_users(mut self, max_users: Option<i64>) -> Entitlements {
        self.limits[Limit::Users.index()] = max_users;
        self
    }

    /// Held to a self-hosted licence: only its features, at most its users.
    pub fn within_licence(mut self, features: &[String], max_users: Option<i64>) -> Entitlements {
        self.features
            .retain(|f| features.iter().any(|l| l == f.as_str()));
        if let Some(cap) = max_users {
            let i = Limit::Users.index();
            self.limits[i] = Some(self.limits[i].map_or(cap, |m| m.min(cap)));
        }
        self
    }

    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// The features' names, as a subscription stores them.
    pub fn feature_names(&self) -> serde_json::Value {
        self.features().iter().map(|f| f.as_str()).collect()
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// `None`: unlimited.
    pub fn limit(&self, limit: Limit) -> Option<i64> {
        self.limits[limit.index()]
    }

    /// 402 `feature_not_in_plan` unless the tenant has `feature`.
    pub fn require(&self, feature: Feature) -> Result<(), ApiError> {
        if self.has(feature) {
            return Ok(());
        }
        Err(not_in_plan(feature))
    }

    /// 402 `plan_limit_reached` when `adding` more would pass `limit`.
    pub fn allow(&self, limit: Limit, used: i64, adding: i64) -> Result<(), ApiError> {
        match self.limit(limit) {
            Some(max) if used + adding > max => Err(limit_reached(limit, used, max)),
            _ => Ok(()),
        }
    }
}

/// 402 `feature_not_in_plan`, naming the cheapest plan that has it.
pub fn not_in_plan(feature: Feature) -> ApiError {
    let plan = cheapest_with(feature);
    ApiError::new(
        ErrorCode::FeatureNotInPlan,
        format!(
            "{} is not in your plan; the {} plan has it",
            capitalised(feature.label()),
            spec(plan).name
        ),
    )
    .with_details(serde_json::json!({
        "feature": feature.as_str(),
        "required_plan": plan.as_str(),
    }))
}

/// 402 `plan_limit_reached`, with what is used and allowed.
pub fn limit_reached(limit: Limit, used: i64, max: i64) -> ApiError {
    let plan = cheapest_above(limit, max);
    ApiError::new(
        ErrorCode::PlanLimitReached,
        format!(
            "your plan allows {max} {}; the {} plan allows more",
            limit.as_str().replace('_', " "),
            spec(plan).name
        ),
    )
    .with_details(serde_json::json!({
        "limit": limit.as_str(),
        "used": used,
        "max": max,
        "required_plan": plan.as_str(),
    }))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trial_has_the_professional_features_with_three_users() {
        let trial = Entitlements::of(PlanCode::Trial, &Overrides::default());
        let pro = Entitlements::of(PlanCode::Professional, &Overrides::default());
        assert_eq!(trial.features(), pro.features());
        assert_eq!(trial.limit(Limit::Users), Some(3));
        let starter = Entitlements::of(PlanCode::Starter, &Overrides::default());
        assert_eq!(
            starter.features(),
            [Feature::CoreCrm, Feature::BasicReports]
        );
        let ent = Entitlements::of(PlanCode::Enterprise, &Overrides::default());
        assert_eq!(ent.features().len(), Feature::ALL.len());
        assert_eq!(ent.limit(Limit::Users), None);
    }

    #[test]
    fn overrides_add_remove_and_lift() {
        let o = Overrides::from_json(
            &serde_json::json!({"workflows": true, "basic_reports": false, "unknown": true}),
            &serde_json::json!({"requests_per_minute": 600, "records": 20, "users": "x"}),
        );
        let e = Entitlements::of(PlanCode::Starter, &o);
        assert!(e.has(Feature::Workflows) && !e.has(Feature::BasicReports));
        assert_eq!(e.limit(Limit::RequestsPerMinute), Some(600));
        assert_eq!(e.limit(Limit::Records), Some(20));
        assert_eq!(e.limit(Limit::Users), Some(5));
        assert_eq!(
            o.limits_json(),
            serde_json::json!({"records": 20, "requests_per_minute": 600})
        );
    }

    #[test]
    fn refusals_name_the_plan_that_allows_it() {
        let e = Entitlements::of(PlanCode::Starter, &Overrides::default());
        let err = e.require(Feature::Workflows).unwrap_err();
        assert_eq!(
            err.details.unwrap(),
            serde_json::json!({"feature": "workflows", "required_plan": "professional"})
        );
        let err = e.allow(Limit::Records, 10_000, 1).unwrap_err();
        let d = err.details.unwrap();
        assert_eq!(
            (d["limit"].as_str(), d["used"].as_i64(), d["max"].as_i64()),
            (Some("records"), Some(10_000), Some(10_000))
        );
        assert_eq!(d["required_plan"], "professional");
        assert!(e.allow(Limit::Records, 9_999, 1).is_ok());
        assert_eq!(cheapest_with(Feature::CustomBranding), PlanCode::Enterprise);
    }
}
