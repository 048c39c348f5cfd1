//! The few calls a self-hosted server makes to the vendor's licence server:
//! JSON over HTTP/1.1, with a time limit.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// An answer from the licence server.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// POSTs `body` to `base` + `path` and reads the JSON answer.
pub async fn post_json(base: &str, path: &str, body: &Value) -> Result<Answer, String> {
    tokio::time::timeout(TIMEOUT, post(base, path, body))
        .await
        .map_err(|_| {
            format!(
                "the licence server {base} did not answer in {}s",
                TIMEOUT.as_secs()
            )
        })?
}

async fn post(base: &str, path: &str, body: &Value) -> Result<Answer, String> {
    let rest = base.trim_end_matches('/').strip_prefix("http://").ok_or_else(|| {
        format!("TRASEALLA_LICENSE_SERVER must be an http:// URL (got {base}); put a TLS-terminating proxy in front for https")
    })?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("cannot reach the licence server {base}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("licence server {base}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = hyper::Request::post(format!("{prefix}{path}"))
        .header("host", authority)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("trasealla/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
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
