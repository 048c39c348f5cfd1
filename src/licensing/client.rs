//! The few calls a self-hosted server makes to the vendor's licence server:
//! JSON over HTTP/1.1, over TLS for `https://` (Mozilla's roots built in,
//! plus any CA the operator adds), with a time limit.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// An answer from the licence server.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// TLS settings for the licence server: the built-in roots, and the
/// certificates in `extra_ca` (a PEM file) for private CAs.
pub fn tls_config(extra_ca: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
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
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Where a base URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    /// `host:port`, for connecting and for the Host header.
    authority: String,
    /// Path prefix of the base URL, without a trailing slash.
    prefix: String,
}

fn target(base: &str) -> Result<Target, String> {
    let base = base.trim().trim_end_matches('/');
    let (tls, rest) = if let Some(r) = base.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = base.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "TRASEALLA_LICENSE_SERVER must be an http:// or https:// URL (got {base})"
        ));
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("TRASEALLA_LICENSE_SERVER has no host: {base}"));
    }
    let (host, authority) = match authority.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => (h.to_owned(), authority.to_owned()),
        _ => (
            authority.to_owned(),
            format!("{authority}:{}", if tls { 443 } else { 80 }),
        ),
    };
    Ok(Target {
        tls,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        authority,
        prefix: prefix.to_owned(),
    })
}

/// POSTs `body` to `base` + `path` and reads the JSON answer.
pub async fn post_json(
    tls: &Arc<rustls::ClientConfig>,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<Answer, String> {
    tokio::time::timeout(TIMEOUT, post(tls, base, path, body))
        .await
        .map_err(|_| {
            format!(
                "the licence server {base} did not answer in {}s",
                TIMEOUT.as_secs()
            )
        })?
}

async fn post(
    tls: &Arc<rustls::ClientConfig>,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<Answer, String> {
    let t = target(base)?;
    let stream = tokio::net::TcpStream::connect(&t.authority)
        .await
        .map_err(|e| format!("cannot reach the licence server {base}: {e}"))?;
    let request = hyper::Request::post(format!("{}{path}", t.prefix))
        .header("host", &t.authority)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("trasealla/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    if t.tls {
        let name = ServerName::try_from(t.host.clone())
            .map_err(|e| format!("licence server {base}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| format!("licence server {base}: TLS: {e}"))?;
        send(stream, request, base).await
    } else {
        send(stream, request, base).await
    }
}

async fn send<IO>(
    io: IO,
    request: hyper::Request<Full<Bytes>>,
    base: &str,
) -> Result<Answer, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| format!("licence server {base}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("licence server {base}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("licence server {base}: {e}"))?
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_understood() {
        let t = target("https://licensing.example.com/").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "licensing.example.com".into(),
                authority: "licensing.example.com:443".into(),
                prefix: "".into()
            }
        );
        let t = target("http://127.0.0.1:4000/vendor").unwrap();
        assert!(!t.tls);
        assert_eq!(t.authority, "127.0.0.1:4000");
        assert_eq!(t.prefix, "/vendor");
        assert!(target("ftp://x").is_err());
        assert!(target("https://").is_err());
    }
}
