//! The one client for calls out of the server: the vendor's licence server,
//! Stripe, and (with the integrations) webhook receivers. reqwest over
//! rustls with the ring provider, Mozilla's roots built in plus any CA the
//! operator adds (TRASEALLA_OUTBOUND_CA, a PEM file: private CAs, and the
//! test suite's local ones). Every call has a time limit.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a call may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON answer: its status and body (`null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The shared client; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
}

impl Outbound {
    /// A client that trusts the built-in roots and the certificates of
    /// `extra_ca`.
    pub fn new(extra_ca: Option<&Path>) -> anyhow::Result<Outbound> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(extra_ca)?)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("trasealla/", env!("CARGO_PKG_VERSION")))
            // Redirects are not followed: an answer is from the address
            // that was called, or it is not an answer.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Outbound { client })
    }

    /// The underlying client, for callers that build their own requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` within `timeout` and reads a JSON answer; the error
    /// names what failed, never the request's credentials.
    pub async fn json(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&e, timeout))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| describe(&e, timeout))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// POSTs `body` as JSON to `url`.
    pub async fn post_json(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.json(request, timeout).await
    }
}

/// What went wrong with a call, without its URL's query or credentials.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let place = e
        .url()
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
        .unwrap_or_default();
    if e.is_timeout() {
        format!("{place} did not answer in {}s", timeout.as_secs())
    } else if e.is_connect() {
        format!("cannot reach {place}: {}", source_chain(e))
    } else {
        format!("{place}: {}", source_chain(e))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// TLS settings: the built-in roots, and the certificates in `extra_ca`.
fn tls_config(extra_ca: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            added += 1;
        }
        anyhow::ensure!(added > 0, "{} holds no PEM certificate", path.display());
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
