//! The application context: what every layer works with (store,
//! configuration, clock, token keys, licensing). HTTP lives in `web`, which
//! depends on this module and never the other way round.

use crate::auth::token::TokenKeys;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::licensing::Licensing;
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
}

impl App {
    /// Connects, migrates and prepares the platform: what `serve` does before
    /// it listens. Tests call it with a manual clock.
    pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<App> {
        let store = Store::connect(&config.database_url)
            .await?
            .with_tenant_limits(
                std::time::Duration::from_millis(config.statement_timeout_ms),
                std::time::Duration::from_millis(config.idle_in_transaction_timeout_ms),
            );
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        let secret =
            crate::platform::jwt_secret(&store, config.jwt_secret.as_deref(), clock.now()).await?;
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
        let licensing = Arc::new(licensing(&store, &config, clock.now()).await?);
        crate::licensing::installation::check(&store, &licensing, false, clock.now())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(App {
            store,
            config: Arc::new(config),
            clock,
            tokens,
            licensing,
        })
    }
}

/// Licensing set-up from the configuration: the signing key (vendor), the
/// public key certificates are checked with (configured, else the signing
/// key's own, else the one built in), the licence server, the instance id.
async fn licensing(
    store: &Store,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Licensing> {
    use crate::licensing::cert;
    let signing = config
        .license_signing_key
        .as_deref()
        .map(cert::load_signing_key)
        .transpose()?;
    let public = match (&config.license_public_key, &signing) {
        (Some(p), _) => cert::load_public_key(p)?,
        (None, Some(s)) => s.verifying_key(),
        (None, None) => cert::load_public_key(cert::EMBEDDED_PUBLIC_KEY)?,
    };
    let instance_id = crate::platform::instance_id(store, now).await?;
    let tls = crate::licensing::client::tls_config(config.license_server_ca.as_deref())?;
    Ok(Licensing::new(
        config.mode,
        signing,
        public,
        config.license_server.clone(),
        tls,
        instance_id,
    ))
}
