//! HTTP: the application state, the router, request logging and the server
//! loop with graceful shutdown.

pub mod api;
pub mod extract;
pub mod listener;
pub mod pages;
pub mod session;

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{redact_url, Config};
use crate::domain::TenantId;
use crate::error::{ApiError, ErrorCode};
use crate::licensing::Mode;
use crate::store::TxSlot;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// JSON bodies larger than this are refused with 413.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// The tenant a request acted for, filled in by authentication and read by
/// the request log.
/// The tenant concerned, the tenant whose user called, and the API key
/// they called with (and from where).
type Callers = (
    OnceLock<TenantId>,
    OnceLock<TenantId>,
    OnceLock<(uuid::Uuid, String)>,
);

#[derive(Clone, Default)]
pub struct RequestTenant(Arc<Callers>);

impl RequestTenant {
    /// The tenant the request concerned (a login, a registration).
    pub fn set(&self, tenant: TenantId) {
        let _ = self.0 .0.set(tenant);
    }
    /// The tenant whose user made the request (a verified token): its
    /// API calls are metered.
    pub fn set_caller(&self, tenant: TenantId) {
        self.set(tenant);
        let _ = self.0 .1.set(tenant);
    }
    /// The API key the request came with, and from which address.
    pub fn set_key(&self, key: uuid::Uuid, addr: &str) {
        let _ = self.0 .2.set((key, addr.to_owned()));
    }
    pub fn get(&self) -> Option<TenantId> {
        self.0 .0.get().copied()
    }
    pub fn caller(&self) -> Option<TenantId> {
        self.0 .1.get().copied()
    }
}

/// One log line per request: method, path (never the query string, which
/// may hold e-mail addresses), status, latency and tenant.
async fn log_request(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let tenant = RequestTenant::default();
    req.extensions_mut().insert(tenant.clone());
    let response = next.run(req).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let tenant_id = tenant.get().map(|t| t.to_string()).unwrap_or_default();
    tracing::info!(
        target: "trasealla::http",
        %method, %path, status, latency_ms = format_args!("{latency_ms:.2}"), tenant_id,
        "request"
    );
    response
}

/// The rate decision of a tenant's API call, for the `RateLimit-*`
/// headers of its answer.
#[derive(Clone, Default)]
pub struct RequestRate(Arc<OnceLock<crate::limiter::RateDecision>>);

impl RequestRate {
    pub fn set(&self, d: crate::limiter::RateDecision) {
        let _ = self.0.set(d);
    }
}

/// Counts each API call of a tenant when it completes (in memory; see
/// [`crate::usage::Meter`]), and puts the tenant's rate limit in the
/// answer's headers. Calls refused by a rate limit or quota (429) are not
/// counted.
async fn meter(
    axum::extract::State(state): axum::extract::State<App>,
    req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/") && state.config.metering;
    let tenant = req.extensions().get::<RequestTenant>().cloned();
    let rate = RequestRate::default();
    let mut req = req;
    req.extensions_mut().insert(rate.clone());
    let mut response = next.run(req).await;
    let limited = response.status() == axum::http::StatusCode::TOO_MANY_REQUESTS;
    if let Some(t) = tenant.as_ref().and_then(|t| t.caller()) {
        if api && !limited {
            state.meter.count(t, crate::usage::Metric::ApiCalls, 1);
        }
        // A key's last use is kept whether or not calls are metered.
        if let Some((key, addr)) = tenant.as_ref().and_then(|t| t.0 .2.get()) {
            state
                .meter
                .count_key(t, *key, addr, state.clock.now(), api && !limited);
        }
    }
    // The IETF RateLimit header fields (draft): the tenant's limit, what is
    // left of it and the seconds until it is whole again.
    if let Some(d) = rate.0.get() {
        let h = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", u64::from(d.limit)),
            ("ratelimit-remaining", u64::from(d.remaining)),
            ("ratelimit-reset", d.reset_secs),
        ] {
            h.insert(name, axum::http::HeaderValue::from(value));
        }
    }
    response
}

/// The request's transaction: handlers borrow it (see [`session`]); here,
/// once the handler has answered, it is committed when the answer is a
/// success (2xx or a redirect) and rolled back otherwise. This is the one
/// place that commits a request's work, so a handler cannot forget to, nor
/// commit half of a change it then refuses.
async fn transaction(mut req: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    let slot = TxSlot::default();
    req.extensions_mut().insert(slot.clone());
    let page = pages::is_page_path(req.uri().path());
    let (response, queued) = crate::jobs::tracked(next.run(req)).await;
    let status = response.status();
    let succeeded = status.is_success() || status.is_redirection();
    match slot.finish(succeeded).await {
        Ok(()) => {
            if succeeded && queued {
                crate::jobs::committed();
            }
            response
        }
        Err(e) => {
            let e = ApiError::from(e);
            if page {
                pages::error_page(&e)
            } else {
                e.into_response()
            }
        }
    }
}

/// Over HTTPS, every response tells browsers to come back only over HTTPS,
/// on the tenants' sub-domains too.
async fn strict_transport(
    axum::extract::State(state): axum::extract::State<App>,
    req: Request,
    next: Next,
) -> Response {
    let https = extract::is_https(&state, req.headers());
    let mut response = next.run(req).await;
    if https {
        response.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// In self-hosted mode, every response says when the licence is not
/// plainly valid (`X-License-Status: grace|expired|revoked|invalid`, with
/// `X-License-Grace-Ends` during the grace period).
async fn license_headers(
    axum::extract::State(state): axum::extract::State<App>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    if let Some(info) = state.licensing.info(state.clock.now()) {
        use crate::licensing::installation::LicenseStatus;
        let status = match info.status {
            LicenseStatus::Valid => None,
            LicenseStatus::Grace => Some("grace"),
            LicenseStatus::Expired => Some("expired"),
            LicenseStatus::Revoked => Some("revoked"),
            LicenseStatus::Invalid => Some("invalid"),
        };
        if let Some(status) = status {
            let headers = response.headers_mut();
            headers.insert(
                "x-license-status",
                axum::http::HeaderValue::from_static(status),
            );
            if let Some(ends) = info.grace_ends_at {
                if let Ok(v) = axum::http::HeaderValue::from_str(&ends.to_rfc3339()) {
                    headers.insert("x-license-grace-ends", v);
                }
            }
        }
    }
    response
}

/// An unknown path: a page for browsers, the envelope for the API.
async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if pages::is_page_path(uri.path()) {
        pages::error_page(&ApiError::not_found())
    } else {
        ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

/// The whole application.
pub fn router(state: App) -> Router {
    let mut app = api::router()
        .merge(pages::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    if state.licensing.mode == Mode::SelfHosted {
        app = app.layer(middleware::from_fn_with_state(
            state.clone(),
            license_headers,
        ));
    }
    app.layer(middleware::from_fn(transaction))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            strict_transport,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), meter))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Sets up logging: text for people, JSON for collectors; `RUST_LOG` filters.
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// `trasealla serve`: prepare, listen, and stop cleanly on SIGTERM or Ctrl-C
/// after in-flight requests finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    tracing::info!(database = %redact_url(&config.database_url), "starting");
    let state = App::start(config, Arc::new(SystemClock)).await?;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(address = %tcp.local_addr()?, "listening");
    let listener = listener::listener(
        tcp,
        std::time::Duration::from_millis(state.config.send_timeout_ms),
    );
    let background = crate::jobs::spawn(state.clone());
    axum::serve(
        listener,
        router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    drop(background);
    if let Err(e) = state.meter.flush(&state.store, state.clock.now()).await {
        tracing::warn!(error = %e, "could not write the last usage counts");
    }
    let now = state.clock.now();
    if let Err(e) =
        crate::licensing::installation::record_clock(&state.store, &state.licensing, now).await
    {
        tracing::warn!(error = %e.message, "could not keep the clock's high-water mark");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
