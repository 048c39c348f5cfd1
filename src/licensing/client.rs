//! The few calls a self-hosted server makes to the vendor's licence server:
//! JSON over the shared outbound client (`crate::outbound`), with a time
//! limit.

use crate::outbound::{Answer, Outbound};
use serde_json::Value;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// The address of `path` on the licence server at `base`.
fn url(base: &str, path: &str) -> Result<String, String> {
    let base = base.trim().trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("TRASEALLA_LICENSE_SERVER must be an http:// or https:// URL (got {base})")
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("TRASEALLA_LICENSE_SERVER has no host: {base}"));
    }
    Ok(format!("{base}{path}"))
}

/// POSTs `body` to `base` + `path` and reads the JSON answer.
pub async fn post_json(
    http: &Outbound,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<Answer, String> {
    let url = url(base, path)?;
    http.post_json(&url, body, TIMEOUT)
        .await
        .map_err(|e| format!("the licence server: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_understood() {
        assert_eq!(
            url("https://licensing.example.com/", "/api/x").unwrap(),
            "https://licensing.example.com/api/x"
        );
        assert_eq!(
            url("http://127.0.0.1:4000/vendor", "/api/x").unwrap(),
            "http://127.0.0.1:4000/vendor/api/x"
        );
        assert!(url("ftp://x", "/").is_err());
        assert!(url("https://", "/").is_err());
    }
}
