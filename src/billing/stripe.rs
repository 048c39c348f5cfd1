//! The calls we make to Stripe's API: form-encoded requests with the
//! secret key, the pinned API version, and an idempotency key on every
//! write, through the shared outbound client.

use crate::error::{ApiError, ErrorCode};
use crate::outbound::Outbound;
use serde_json::Value;
use std::time::Duration;

/// Stripe's API.
pub const API_BASE: &str = "https://api.stripe.com";

/// The API version our requests and parsing are written for; webhook
/// endpoints should be created with the same one.
pub const API_VERSION: &str = "2025-03-31.basil";

const TIMEOUT: Duration = Duration::from_secs(30);

/// A Stripe account we call.
pub struct Stripe {
    http: Outbound,
    base: String,
    secret_key: String,
}

/// Form parameters in Stripe's bracket notation: `("line_items[0][price]", "price_1")`.
pub type Params = Vec<(String, String)>;

/// Builds [`Params`] from pairs.
pub fn params<const N: usize>(pairs: [(&str, &str); N]) -> Params {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl Stripe {
    pub fn new(http: Outbound, base: &str, secret_key: &str) -> Stripe {
        Stripe {
            http,
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// POSTs `params` to `path` (`/v1/customers`) with `idempotency_key`,
    /// so that a retried call does its work once.
    pub async fn post(
        &self,
        path: &str,
        params: &Params,
        idempotency_key: &str,
    ) -> Result<Value, ApiError> {
        let body = serde_urlencoded::to_string(params)
            .map_err(|e| ApiError::internal(format!("encoding a Stripe request: {e}")))?;
        let request = self
            .http
            .client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(path, request).await
    }

    /// GETs `path` (`/v1/payment_methods/pm_1`).
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        let request = self
            .http
            .client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION);
        self.send(path, request).await
    }

    async fn send(&self, path: &str, request: reqwest::RequestBuilder) -> Result<Value, ApiError> {
        let answer = self.http.json(request, TIMEOUT).await.map_err(|e| {
            tracing::warn!(path, error = %e, "Stripe did not answer");
            ApiError::new(
                ErrorCode::Unavailable,
                "the payment provider cannot be reached; try again in a moment",
            )
        })?;
        if answer.is_success() {
            return Ok(answer.body);
        }
        // Stripe's own message is for us, not for the customer: log it
        // (it names no secret), answer in general terms.
        let error = &answer.body["error"];
        tracing::warn!(
            path,
            status = answer.status,
            kind = error["type"].as_str().unwrap_or(""),
            code = error["code"].as_str().unwrap_or(""),
            message = error["message"].as_str().unwrap_or(""),
            "Stripe refused a request"
        );
        Err(match answer.status {
            429 | 500.. => ApiError::new(
                ErrorCode::Unavailable,
                "the payment provider is busy; try again in a moment",
            ),
            _ => ApiError::new(
                ErrorCode::Unavailable,
                "the payment provider refused the request; contact support if it persists",
            ),
        })
    }
}

/// The id of a field that Stripe sends either as an id or as the expanded
/// object.
pub fn id_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["id"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_strings_and_expanded_objects() {
        assert_eq!(id_of(&serde_json::json!("cus_1")), Some("cus_1"));
        assert_eq!(id_of(&serde_json::json!({"id": "cus_2"})), Some("cus_2"));
        assert_eq!(id_of(&Value::Null), None);
    }

    #[test]
    fn params_encode_in_bracket_notation() {
        let p = params([
            ("line_items[0][price]", "price_1"),
            ("mode", "subscription"),
        ]);
        assert_eq!(
            serde_urlencoded::to_string(&p).unwrap(),
            "line_items%5B0%5D%5Bprice%5D=price_1&mode=subscription"
        );
    }
}
