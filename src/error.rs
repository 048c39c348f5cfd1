//! The API's one error type: a stable machine-readable code, a status derived
//! from it in one table, a human message, optional details. Causes of 5xx
//! errors are logged, never sent.

use crate::store::DbError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

macro_rules! error_codes {
    ($($variant:ident = $code:literal => $status:ident),+ $(,)?) => {
        /// Every error code the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }
        }
    };
}

error_codes! {
    InvalidJson = "invalid_json" => BAD_REQUEST,
    BadRequest = "bad_request" => BAD_REQUEST,
    InvalidToken = "invalid_token" => BAD_REQUEST,
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    InvalidCredentials = "invalid_credentials" => UNAUTHORIZED,
    TrialExpired = "trial_expired" => PAYMENT_REQUIRED,
    PlanLimitReached = "plan_limit_reached" => PAYMENT_REQUIRED,
    LicenseExpired = "license_expired" => PAYMENT_REQUIRED,
    LicenseRevoked = "license_revoked" => PAYMENT_REQUIRED,
    FeatureNotInPlan = "feature_not_in_plan" => PAYMENT_REQUIRED,
    PaymentRequired = "payment_required" => PAYMENT_REQUIRED,
    SubscriptionInactive = "subscription_inactive" => PAYMENT_REQUIRED,
    Forbidden = "forbidden" => FORBIDDEN,
    TenantSuspended = "tenant_suspended" => FORBIDDEN,
    NotFound = "not_found" => NOT_FOUND,
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    Conflict = "conflict" => CONFLICT,
    SlugTaken = "slug_taken" => CONFLICT,
    EmailTaken = "email_taken" => CONFLICT,
    UsernameTaken = "username_taken" => CONFLICT,
    TenantRequired = "tenant_required" => CONFLICT,
    LicenseAlreadyActivated = "license_already_activated" => CONFLICT,
    RequestTimeout = "request_timeout" => REQUEST_TIMEOUT,
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,
    ValidationFailed = "validation_failed" => UNPROCESSABLE_ENTITY,
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS,
    QuotaExceeded = "quota_exceeded" => TOO_MANY_REQUESTS,
    Internal = "internal" => INTERNAL_SERVER_ERROR,
    Unavailable = "service_unavailable" => SERVICE_UNAVAILABLE,
    BillingNotConfigured = "billing_not_configured" => SERVICE_UNAVAILABLE,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What a 503 for an unavailable database suggests as Retry-After.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "not found")
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// A 500 whose cause is logged here and never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::rate_limited_because("too many attempts; try again later", retry_after_secs)
    }

    /// A 429 that says what is limited.
    pub fn rate_limited_because(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// One field's validation failure.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors.into_error()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                let mut e = ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; try again shortly",
                );
                e.retry_after = Some(UNAVAILABLE_RETRY_SECS);
                e
            }
            DbError::Serialization => ApiError::new(
                ErrorCode::Conflict,
                "the record was changed by another request at the same time; try again",
            ),
            // What validation checked first can still change under a
            // concurrent request (a record deleted, a name taken meanwhile):
            // the database refuses, and the caller may try again.
            DbError::Unique(what) | DbError::ForeignKey(what) => {
                tracing::info!(constraint = %what, "constraint refused a concurrent change");
                ApiError::new(
                    ErrorCode::Conflict,
                    "another request changed the records this one refers to; try again",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let body = json!({ "success": false, "error": error });
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Collects validation failures field by field, so one response names every
/// bad field (`details.fields`).
#[derive(Debug, Default)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| Value::String(message.into()));
    }

    /// Records the error of a parse, passing the value through.
    pub fn check<T, E: Into<String>>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    /// A required field: missing is an error.
    pub fn required<T>(&mut self, field: &str, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.add(field, "is required");
        }
        v
    }

    /// A text field of at most `max` characters as sent, kept trimmed;
    /// blank is an error. [`crate::contract::text`] describes it.
    pub fn text(&mut self, field: &str, v: Option<String>, max: usize) -> Option<String> {
        let v = v?;
        if v.chars().count() > max {
            self.add(field, format!("must be at most {max} characters long"));
            return None;
        }
        let v = v.trim();
        if v.is_empty() {
            self.add(field, "must not be empty");
            None
        } else {
            Some(v.to_owned())
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each bad field with its message.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(field, message)| (field.as_str(), message.as_str().unwrap_or_default()))
    }

    pub fn into_error(self) -> ApiError {
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        let message = format!("invalid input: {}", names.join(", "));
        ApiError::new(ErrorCode::ValidationFailed, message)
            .with_details(json!({ "fields": Value::Object(self.0) }))
    }

    /// `Ok(())` when nothing failed, else the 422.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_matches_the_api_conventions() {
        let expected = [
            ("validation_failed", 422),
            ("invalid_json", 400),
            ("unauthorized", 401),
            ("invalid_credentials", 401),
            ("forbidden", 403),
            ("tenant_suspended", 403),
            ("trial_expired", 402),
            ("plan_limit_reached", 402),
            ("feature_not_in_plan", 402),
            ("not_found", 404),
            ("conflict", 409),
            ("slug_taken", 409),
            ("email_taken", 409),
            ("tenant_required", 409),
            ("payload_too_large", 413),
            ("rate_limited", 429),
            ("internal", 500),
            ("service_unavailable", 503),
        ];
        for (code, status) in expected {
            let c = ErrorCode::ALL
                .iter()
                .find(|c| c.as_str() == code)
                .unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(c.status().as_u16(), status, "{code}");
        }
        // Codes are unique snake_case.
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
        }
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let r = ApiError::rate_limited(42).into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
    }
}
