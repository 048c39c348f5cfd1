//! The one client for calls out of the server: the vendor's licence server,
//! Stripe, and webhook receivers. reqwest over rustls with the ring
//! provider, Mozilla's roots built in plus any CA the operator adds
//! (TRASEALLA_OUTBOUND_CA, a PEM file: private CAs, and the test suite's
//! local ones). Every call has a time limit.
//!
//! Calls to addresses tenants choose (webhooks) go through
//! [`Outbound::for_tenants`]: its resolver refuses loopback, private,
//! link-local, shared and metadata addresses at connection time, so a name
//! that resolved to a public address when it was saved cannot be turned
//! against the internal network later (DNS rebinding); [`check_url`] does
//! the same for addresses written in the URL itself, which no resolver
//! sees. TRASEALLA_WEBHOOK_ALLOW_PRIVATE lifts both, for installations on
//! a private network and for tests.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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

    /// The client for addresses tenants choose (webhook receivers): no
    /// proxy from the environment (a proxy would resolve names itself),
    /// no redirects, and unless `allow_private`, a resolver that refuses
    /// every address [`is_public`] does not accept.
    pub fn for_tenants(extra_ca: Option<&Path>, allow_private: bool) -> anyhow::Result<Outbound> {
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(extra_ca)?)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("trasealla-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Outbound {
            client: builder.build()?,
        })
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
            .map_err(|e| explain(&e, timeout))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| explain(&e, timeout))?;
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
pub fn explain(e: &reqwest::Error, timeout: Duration) -> String {
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

/// Whether calls out may reach `ip`: false for loopback, private (RFC
/// 1918, unique local), shared (CGNAT, where some clouds keep their
/// metadata service), link-local (169.254.169.254, the usual metadata
/// address), unspecified, multicast, broadcast, documentation and reserved
/// ranges, and IPv6 forms of these (mapped, NAT64).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Why a tenant's URL is refused: what the caller is told.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "must be an absolute URL".to_owned())?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err(
                "must use https:// (plain http:// and private addresses only where TRASEALLA_WEBHOOK_ALLOW_PRIVATE allows them)"
                    .to_owned(),
            )
        }
        _ => return Err("must be an https:// URL".to_owned()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "must name a host".to_owned())?;
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let local = match literal {
        Some(ip) => !is_public(ip),
        None => is_local_name(host),
    };
    if local && !allow_private {
        return Err(
            "must not point at a loopback, private, link-local or metadata address".to_owned(),
        );
    }
    Ok(parsed)
}

/// Names that mean this machine or its network whatever DNS says.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// [`check_url`], then the addresses its host resolves to now (when it
/// resolves within a few seconds; one that does not is left to the check
/// at delivery time).
pub async fn check_url_resolved(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = check_url(url, allow_private)?;
    if allow_private {
        return Ok(parsed);
    }
    let name = parsed.host_str().unwrap_or_default();
    if name.parse::<IpAddr>().is_err() && !name.starts_with('[') {
        let lookup = tokio::net::lookup_host((name, 443));
        if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), lookup).await {
            if addrs.into_iter().any(|a| !is_public(a.ip())) {
                return Err(format!(
                    "{name} resolves to a loopback, private, link-local or metadata address"
                ));
            }
        }
    }
    Ok(parsed)
}

/// The resolver of [`Outbound::for_tenants`]: the system's, keeping only
/// public addresses, and an error when none is left.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address (loopback, private, link-local and metadata addresses are refused)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_to_a_public_host_unless_private_is_allowed() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]:8443/x",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://intranet/x",
            "https://user:pass@hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/x", true).is_err());
    }
}
