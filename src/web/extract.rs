//! Extractors that answer bad input in the API's error envelope: JSON bodies,
//! query strings, path ids, the client address and the tenant hint.

use crate::app::App;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use uuid::Uuid;

/// A JSON body. Malformed JSON is 400 `invalid_json`; a well-formed body of
/// the wrong shape (wrong types, unknown fields) is 422 `validation_failed`
/// naming the field; too large is 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// How long a JSON body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The body, when its type is JSON (or unstated) and it fits the limit.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
    }
    read_bytes(req, state).await
}

/// The whole body, when it fits the limit and arrives in time.
pub async fn read_bytes<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    // A body that trickles in is cut off rather than waited for.
    let read = tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state))
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::RequestTimeout,
                "the request body took too long to arrive",
            )
        })?;
    let bytes = read.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {} bytes", super::JSON_BODY_LIMIT),
            )
        }
        other => ApiError::new(ErrorCode::BadRequest, other.body_text()),
    })?;
    Ok(bytes)
}

/// The body as sent, bytes untouched (a signed webhook is verified on
/// them before anything reads it).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        read_bytes(req, state).await.map(RawBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        let message = if bytes.iter().all(u8::is_ascii_whitespace) {
            "the body is empty; send a JSON object".to_owned()
        } else {
            format!("the body is not valid JSON: {e}")
        };
        ApiError::new(ErrorCode::InvalidJson, message)
    })?;
    // NUL is valid JSON but no database keeps it in text (PostgreSQL refuses
    // it, SQLite cuts strings at it): refuse it here, for every field.
    if let Some(path) = nul_path(&value, "") {
        let field = if path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        return Err(ApiError::field(&field, "must not contain NUL characters"));
    }
    // Every body is an object (the description says so); a struct inside
    // one is an object too ([`Strict`]), never a list of its fields.
    if !value.is_object() {
        return Err(ApiError::field("body", "must be an object"));
    }
    let mut value = value;
    whole_numbers(&mut value);
    let result: Result<T, _> = serde_path_to_error::deserialize(Strict(value));
    let err = match result {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let mut fields = FieldErrors::default();
    if let Some(name) = quoted(message).filter(|_| message.starts_with("missing field")) {
        fields.add(&join_path(&path, name), "is required");
    } else if let Some(name) = quoted(message).filter(|_| message.starts_with("unknown field")) {
        fields.add(&join_path(&path, name), "is not a known field");
    } else if path == "." {
        fields.add("body", message.to_owned());
    } else {
        fields.add(&path, message.to_owned());
    }
    Err(fields.into_error())
}

/// A JSON value as a deserializer that, unlike `serde_json::Value`, builds
/// a struct or a map only from an object: serde's derived structs also
/// take a list of their fields in order (`"address": [null, null]`), which
/// no client means and the description does not allow. Everything else is
/// `serde_json::Value`'s own behaviour, applied all the way down.
struct Strict(serde_json::Value);

type JsonError = serde_json::Error;

impl Strict {
    fn object<'de, V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        use serde::de::Error;
        match self.0 {
            serde_json::Value::Object(map) => visitor.visit_map(StrictMap {
                entries: map.into_iter(),
                value: None,
            }),
            _ => Err(JsonError::custom("must be an object")),
        }
    }
}

impl<'de> serde::Deserializer<'de> for Strict {
    type Error = JsonError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        match self.0 {
            serde_json::Value::Object(_) => self.object(visitor),
            serde_json::Value::Array(items) => visitor.visit_seq(StrictSeq(items.into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        match self.0 {
            serde_json::Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.object(visitor)
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.object(visitor)
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        match self.0 {
            serde_json::Value::Array(items) => visitor.visit_seq(StrictSeq(items.into_iter())),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: serde::de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct identifier ignored_any
    }
}

struct StrictSeq(std::vec::IntoIter<serde_json::Value>);

impl<'de> serde::de::SeqAccess<'de> for StrictSeq {
    type Error = JsonError;

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, JsonError> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct StrictMap {
    entries: serde_json::map::IntoIter,
    value: Option<serde_json::Value>,
}

impl<'de> serde::de::MapAccess<'de> for StrictMap {
    type Error = JsonError;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, JsonError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(serde_json::Value::String(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, JsonError> {
        use serde::de::Error;
        let value = self
            .value
            .take()
            .ok_or_else(|| JsonError::custom("a value without a key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// JSON has one number type: `3.0` is the integer 3 (JSON Schema says so
/// too), so a whole number written with a fraction is taken as an integer.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64() {
                // Exactly representable whole numbers only (|f| < 2^53).
                if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Where in `v` a string or key holds NUL, as a dotted path.
fn nul_path(v: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(item, &here)
            }
        }),
        _ => None,
    }
}

/// The first `backquoted` name in a serde message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn join_path(path: &str, name: &str) -> String {
    if path == name || path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else if path == "." {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// An optional JSON body: an empty body is `T::default()`.
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

/// A query string; a malformed one is 422.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let raw = parts.uri.query().unwrap_or_default();
        if raw.to_ascii_lowercase().contains("%00") {
            return Err(ApiError::field("query", "must not contain NUL characters"));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::field("query", e.body_text()))
    }
}

/// A record id from the path. Anything that is not a UUID cannot name a
/// record, so it is 404, like an id that exists in another tenant.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found())?;
        Uuid::parse_str(&raw)
            .map(PathId)
            .map_err(|_| ApiError::not_found())
    }
}

/// Two record ids from the path (`/parent/{id}/child/{child_id}`); anything
/// that is not a UUID is 404.
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found())?;
        match (Uuid::parse_str(&a), Uuid::parse_str(&b)) {
            (Ok(a), Ok(b)) => Ok(PathIds(a, b)),
            _ => Err(ApiError::not_found()),
        }
    }
}

/// The client's address, for throttling: the socket peer, or the first
/// X-Forwarded-For hop when the server is configured to trust its proxy.
pub struct ClientAddr(pub String);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> ApiResult<Self> {
        if state.config.trust_proxy {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                // The right-most entry is the one our proxy wrote; those
                // before it are whatever the client sent.
                .and_then(|v| v.rsplit(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            if let Some(addr) = forwarded {
                return Ok(ClientAddr(addr));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientAddr(peer))
    }
}

/// The tenant slug an unauthenticated request names: `X-Tenant`, or the host
/// `<slug>.<base domain>`.
pub struct TenantHint(pub Option<String>);

impl FromRequestParts<App> for TenantHint {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> ApiResult<Self> {
        let header = parts
            .headers
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_lowercase())
            .filter(|v| !v.is_empty());
        if header.is_some() {
            return Ok(TenantHint(header));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.host());
        Ok(TenantHint(host.and_then(|h| {
            slug_from_host(h, &state.config.base_domain)
        })))
    }
}

/// `abc.crm.example.com:4000` with base domain `crm.example.com` → `abc`.
pub fn slug_from_host(host: &str, base_domain: &str) -> Option<String> {
    let host = host.trim().to_lowercase();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
        _ => host,
    };
    let base = base_domain.trim().trim_start_matches('.').to_lowercase();
    let sub = host.strip_suffix(&base)?.strip_suffix('.')?;
    (!sub.is_empty() && !sub.contains('.')).then(|| sub.to_owned())
}

/// A CSV file, sent as the body (`text/csv`) or as the `file` part (or
/// the first part with a file name) of a `multipart/form-data` form. It is
/// spooled to an anonymous temporary file as it arrives, so memory stays
/// flat and no transaction waits on a slow client; the file is gone when
/// dropped. Over [`crate::crm::transfer::IMPORT_LIMIT`] is 413; a pause of
/// more than `TRASEALLA_UPLOAD_IDLE_TIMEOUT_MS` is 408. A form's other
/// (small) fields before the file are kept in `fields`.
pub struct CsvUpload {
    pub file: tokio::fs::File,
    pub fields: std::collections::HashMap<String, String>,
}

impl FromRequest<App> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> ApiResult<Self> {
        use futures_util::StreamExt;
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        const LIMIT: usize = crate::crm::transfer::IMPORT_LIMIT;
        let idle = std::time::Duration::from_millis(state.config.upload_idle_timeout_ms);
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let spool = tempfile::tempfile().map_err(ApiError::internal)?;
        let mut file = tokio::fs::File::from_std(spool);
        let mut written = 0usize;
        let mut fields = std::collections::HashMap::new();
        let mut write = async |file: &mut tokio::fs::File, chunk: &[u8]| -> ApiResult<()> {
            written += chunk.len();
            if written > LIMIT {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "an import may be at most 50 MiB",
                ));
            }
            file.write_all(chunk).await.map_err(ApiError::internal)
        };
        match essence.as_str() {
            "" | "text/csv" | "application/csv" | "text/plain" | "application/vnd.ms-excel" => {
                let mut body = req.into_body().into_data_stream();
                while let Some(chunk) = within(idle, body.next()).await? {
                    write(&mut file, &chunk.map_err(|_| interrupted())?).await?;
                }
            }
            "multipart/form-data" => {
                let boundary = multer::parse_boundary(&ct).map_err(|_| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        "a multipart body needs a boundary in its Content-Type",
                    )
                })?;
                let limits = multer::Constraints::new()
                    .size_limit(multer::SizeLimit::new().whole_stream((LIMIT + (1 << 20)) as u64));
                let mut form = multer::Multipart::with_constraints(
                    req.into_body().into_data_stream(),
                    boundary,
                    limits,
                );
                let mut parts_seen = 0usize;
                let mut part = loop {
                    let next = within(idle, form.next_field()).await?;
                    parts_seen += 1;
                    match next {
                        Ok(Some(part))
                            if part.name() == Some("file") || part.file_name().is_some() =>
                        {
                            break part
                        }
                        Ok(Some(mut part)) => {
                            // A small form field: kept up to 4 KiB, the rest read past.
                            let name = part.name().unwrap_or_default().to_owned();
                            let mut text = Vec::new();
                            while let Some(chunk) =
                                within(idle, part.chunk()).await?.map_err(multipart_error)?
                            {
                                if text.len() + chunk.len() <= 4096 {
                                    text.extend_from_slice(&chunk);
                                }
                            }
                            if fields.len() < 32 {
                                fields.insert(name, String::from_utf8_lossy(&text).into_owned());
                            }
                        }
                        Ok(None) => return Err(no_file_part()),
                        // A form of no parts at all (`--b\r\n--b--`, as some
                        // clients send an empty form) lacks the file, like
                        // one that ends properly without it.
                        Err(multer::Error::IncompleteStream) if parts_seen == 1 => {
                            return Err(no_file_part())
                        }
                        Err(e) => return Err(multipart_error(e)),
                    }
                };
                while let Some(chunk) =
                    within(idle, part.chunk()).await?.map_err(multipart_error)?
                {
                    write(&mut file, &chunk).await?;
                }
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the file as text/csv or as the file part of multipart/form-data",
                ))
            }
        }
        file.flush().await.map_err(ApiError::internal)?;
        file.rewind().await.map_err(ApiError::internal)?;
        Ok(CsvUpload { file, fields })
    }
}

/// `fut`, unless the client goes quiet for `idle` (408).
async fn within<T>(
    idle: std::time::Duration,
    fut: impl std::future::Future<Output = T>,
) -> ApiResult<T> {
    tokio::time::timeout(idle, fut).await.map_err(|_| {
        ApiError::new(
            ErrorCode::RequestTimeout,
            "the upload stalled; send it again",
        )
    })
}

fn no_file_part() -> ApiError {
    ApiError::field("file", "is required: send the CSV as the form's file part")
}

fn interrupted() -> ApiError {
    ApiError::new(ErrorCode::BadRequest, "the upload was interrupted")
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "an import may be at most 50 MiB",
        ),
        multer::Error::StreamReadFailed(_) => interrupted(),
        other => ApiError::new(
            ErrorCode::BadRequest,
            format!("the multipart body is malformed: {other}"),
        ),
    }
}

/// Whether the browser reached us over HTTPS: the public address is
/// `https://`, or a trusted proxy says so.
pub fn is_https(state: &App, headers: &axum::http::HeaderMap) -> bool {
    state.config.https_only()
        || (state.config.trust_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_subdomains_of_the_base_domain() {
        assert_eq!(
            slug_from_host("abc.localhost:4000", "localhost").as_deref(),
            Some("abc")
        );
        assert_eq!(
            slug_from_host("ABC.crm.example.com", "crm.example.com").as_deref(),
            Some("abc")
        );
        assert_eq!(slug_from_host("localhost:4000", "localhost"), None);
        assert_eq!(slug_from_host("a.b.localhost", "localhost"), None);
        assert_eq!(slug_from_host("evil-localhost", "localhost"), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<i64>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Option<Body>,
        #[serde(default)]
        list: Vec<Body>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(b"{").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(e.details.unwrap()["fields"]["name"], "is required");
        let e = parse_json::<Body>(br#"{"name":"x","extra":1}"#).unwrap_err();
        assert_eq!(
            e.details.unwrap()["fields"]["extra"],
            "is not a known field"
        );
        for body in [&br#"["x", 1]"#[..], b"5", b"null", b"\"x\""] {
            let e = parse_json::<Body>(body).unwrap_err();
            assert_eq!(e.details.unwrap()["fields"]["body"], "must be an object");
        }
        let e = parse_json::<Outer>(br#"{"inner":["x", 1]}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["fields"]["inner"], "must be an object");
        let e = parse_json::<Outer>(br#"{"list":[{"name":"x"},["y"]]}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["fields"]["list[1]"], "must be an object");
        let ok = parse_json::<Outer>(br#"{"inner":{"name":"x","count":2},"list":[]}"#).unwrap();
        assert_eq!(ok.inner.unwrap().count, Some(2));
        let e = parse_json::<Body>(br#"{"name":"x","count":"many"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert!(e.details.unwrap()["fields"]["count"].is_string());
    }
}
