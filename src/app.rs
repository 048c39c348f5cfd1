//! The application context: what every layer works with (store,
//! configuration, clock, token keys, licensing, per-tenant limits, the
//! limits shared across servers). HTTP
//! lives in `web`, which depends on this module and never the other way
//! round.

use crate::auth::token::TokenKeys;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::licensing::Licensing;
use crate::limits::TenantLimits;
use crate::store::Store;
use std::sync::Arc;

/// Everything a request or a background task needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub tokens: Arc<TokenKeys>,
    pub licensing: Arc<Licensing>,
    /// What one tenant may hold at once.
    pub limits: Arc<TenantLimits>,
    /// Rates and throttles, shared across servers through Redis when
    /// TRASEALLA_REDIS_URL is set.
    pub limiter: crate::limiter::Limiter,
    /// Seals the secrets the database keeps (and queued mail bodies).
    pub master: Arc<crate::secrets::MasterKey>,
    /// The SMTP server mail leaves through; `None` when none is configured
    /// (messages are kept as `not_sent`).
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Usage counted since the last flush.
    pub meter: Arc<crate::usage::Meter>,
    /// The one client for calls out (licence server, Stripe).
    pub http: crate::outbound::Outbound,
    /// Billing with Stripe; `None` when it is off.
    pub billing: Option<Arc<crate::billing::Billing>>,
    /// The same client for addresses tenants choose (webhook receivers):
    /// private addresses refused unless TRASEALLA_WEBHOOK_ALLOW_PRIVATE.
    pub hooks: crate::outbound::Outbound,
    /// The API keys this server has seen (their tenants; never whether
    /// they are still live).
    pub api_keys: Arc<crate::integrations::keys::Resolver>,
}

impl App {
    /// Connects, migrates and prepares the platform: what `serve` does before
    /// it listens. Tests call it with a manual clock.
    pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<App> {
        let store = Store::connect(&config.database_url)
            .await?
            .with_pool_size(config.pool_size())
            .with_tenant_limits(
                std::time::Duration::from_millis(config.statement_timeout_ms),
                std::time::Duration::from_millis(config.idle_in_transaction_timeout_ms),
            );
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        let master = Arc::new(master_key(&config)?);
        let secret =
            crate::platform::jwt_secret(&store, config.jwt_secret.as_deref(), &master, clock.now())
                .await?;
        if let (Some(user), Some(pass)) = (
            config.platform_admin_username.as_deref(),
            config.platform_admin_password.as_deref(),
        ) {
            match crate::platform::create_admin(&store, user, pass, clock.now()).await? {
                crate::platform::Created::New(_) => {
                    tracing::info!(username = user, "created platform admin")
                }
                crate::platform::Created::AlreadyExists => tracing::info!(
                    username = user,
                    "platform admin exists; its password was left unchanged"
                ),
            }
        }
        let tokens = Arc::new(TokenKeys::new(&secret, config.token_ttl_secs));
        let outbound_ca = config.outbound_ca.clone().or_else(|| {
            std::env::var_os("TRASEALLA_LICENSE_SERVER_CA").map(std::path::PathBuf::from)
        });
        let http = crate::outbound::Outbound::new(outbound_ca.as_deref())?;
        let hooks = crate::outbound::Outbound::for_tenants(
            outbound_ca.as_deref(),
            config.webhook_allow_private,
        )?;
        if config.webhook_allow_private {
            tracing::warn!("TRASEALLA_WEBHOOK_ALLOW_PRIVATE is set: webhooks may reach loopback, private and metadata addresses, and plain http://");
        }
        let licensing =
            Arc::new(licensing(&store, &config, master.clone(), &http, clock.now()).await?);
        crate::licensing::installation::check(&store, &licensing, false, clock.now())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let limiter =
            crate::limiter::Limiter::with_prefix(config.redis_url.as_deref(), &config.redis_prefix)
                .await?;
        if config.redis_url.is_none() {
            tracing::info!("no Redis is configured (TRASEALLA_REDIS_URL): request rates and connection caps are per server");
        }
        let limits = Arc::new(
            TenantLimits::new(
                config.tenant_connections(),
                std::time::Duration::from_millis(config.tenant_connection_wait_ms),
                config.tenant_max_heavy_operations,
                config.heavy_workers(),
            )?
            // A tenant transaction's place is taken back at the latest
            // after one statement's time, should its server die holding it.
            .shared_through(
                limiter.clone(),
                std::time::Duration::from_millis(config.statement_timeout_ms),
            ),
        );
        let mailer = match config.smtp_url.as_deref() {
            Some(url) => {
                let mailer = crate::mail::Mailer::new(url, &config.mail_from)?;
                tracing::info!(smtp = %mailer.describe, "mail is sent through this SMTP server");
                Some(Arc::new(mailer))
            }
            None => {
                tracing::warn!("no SMTP server is configured (TRASEALLA_SMTP_URL): messages are kept as not_sent, visible to platform admins");
                None
            }
        };
        let billing = crate::billing::Billing::from_config(&config, &http)?.map(Arc::new);
        match &billing {
            Some(_) => tracing::info!(api = %config.stripe_api_base, "billing with Stripe is on"),
            None => tracing::info!(
                "billing is off (no TRASEALLA_STRIPE_SECRET_KEY): platform admins change plans"
            ),
        }
        Ok(App {
            store,
            config: Arc::new(config),
            clock,
            tokens,
            licensing,
            limits,
            limiter,
            master,
            mailer,
            meter: Arc::new(crate::usage::Meter::default()),
            billing,
            http,
            hooks,
            api_keys: Arc::default(),
        })
    }
}

/// The master key secrets at rest are sealed with; its path is logged,
/// never the key.
fn master_key(config: &Config) -> anyhow::Result<crate::secrets::MasterKey> {
    use crate::secrets::{KeySource, MasterKey};
    let (key, source) = MasterKey::load(
        config.master_key.as_deref(),
        config.master_key_file.as_deref(),
    )?;
    match source {
        KeySource::Setting => tracing::info!("master key from TRASEALLA_MASTER_KEY"),
        KeySource::File(path) => tracing::info!(path = %path.display(), "master key file"),
        KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated a master key file: it seals the secrets the database keeps; keep it, back it up apart from the database, and give every server of this deployment the same key"
        ),
    }
    Ok(key)
}

/// Licensing set-up from the configuration: the vendor's signing key (not
/// in self-hosted mode), the key certificates are checked with (only ever
/// the one built into the binary: see `licensing::cert`), the licence
/// server, and this installation's fingerprint.
async fn licensing(
    store: &Store,
    config: &Config,
    master: Arc<crate::secrets::MasterKey>,
    http: &crate::outbound::Outbound,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Licensing> {
    use crate::licensing::cert::{self, TrustRoot};
    use crate::licensing::{Fingerprint, Mode};
    let self_hosted = config.mode == Mode::SelfHosted;
    if std::env::var_os("TRASEALLA_LICENSE_PUBLIC_KEY").is_some() {
        tracing::warn!("TRASEALLA_LICENSE_PUBLIC_KEY is not read: certificates are checked with the vendor key built into this binary");
    }
    let signing = match &config.license_signing_key {
        Some(_) if self_hosted => {
            tracing::warn!("TRASEALLA_LICENSE_SIGNING_KEY is ignored in self-hosted mode: a self-hosted server issues no licences and trusts only the vendor key built into it");
            None
        }
        Some(path) => Some(cert::load_signing_key(path)?),
        None => None,
    };
    let (embedded, root) = cert::embedded_public_key();
    let public = cert::load_public_key(embedded)?;
    if self_hosted {
        match root {
            TrustRoot::Vendor => {}
            TrustRoot::TestKey => tracing::warn!("this debug build trusts the test suite's licence key, whose private half is public: never run it for a customer"),
            TrustRoot::Placeholder => tracing::warn!("this build carries the placeholder licence key: no certificate will verify; the vendor builds with TRASEALLA_VENDOR_PUBLIC_KEY"),
        }
    }
    let fingerprint = Fingerprint::of_instance(&crate::platform::instance_id(store, now).await?);
    Ok(Licensing::new(
        config.mode,
        signing,
        public,
        config.license_server.clone(),
        http.clone(),
        fingerprint,
        master,
    ))
}
