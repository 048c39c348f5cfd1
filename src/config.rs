//! Configuration: environment variables, each also a `serve` flag
//! (ARCHITECTURE.md §7), with defaults that run with no set-up at all.

use std::fmt;
use std::net::SocketAddr;

#[derive(clap::Args, Clone)]
pub struct Config {
    /// Database to use: sqlite://PATH or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/trasealla.db"
    )]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "TRASEALLA_LISTEN", default_value = "0.0.0.0:4000")]
    pub listen: SocketAddr,

    /// Tenants are served at <slug>.<base domain>.
    #[arg(long, env = "TRASEALLA_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,

    /// Secret for signing tokens (at least 32 bytes). Unset: one is generated
    /// on first start and kept in the database, shared by every server.
    #[arg(long, env = "TRASEALLA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Creates this platform admin at start-up when no admin of that name exists.
    #[arg(
        long,
        env = "TRASEALLA_PLATFORM_ADMIN_USERNAME",
        requires = "platform_admin_password"
    )]
    pub platform_admin_username: Option<String>,

    /// The password for TRASEALLA_PLATFORM_ADMIN_USERNAME (never overwrites an existing admin's).
    #[arg(
        long,
        env = "TRASEALLA_PLATFORM_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "platform_admin_username"
    )]
    pub platform_admin_password: Option<String>,

    /// How long an access token stays valid, in seconds.
    #[arg(long, env = "TRASEALLA_TOKEN_TTL", default_value_t = 86_400)]
    pub token_ttl_secs: u64,

    /// `saas` (the vendor's multi-tenant service) or `self_hosted` (a
    /// customer's installation: no public registration, one licensed tenant).
    #[arg(long, env = "TRASEALLA_MODE", value_enum, default_value = "saas")]
    pub mode: crate::licensing::Mode,

    /// The vendor's licence signing key (the license.key file of
    /// `trasealla license keygen`); needed to issue licences.
    #[arg(long, env = "TRASEALLA_LICENSE_SIGNING_KEY")]
    pub license_signing_key: Option<std::path::PathBuf>,

    /// The vendor's base URL, for online activation and revocation checks.
    #[arg(long, env = "TRASEALLA_LICENSE_SERVER")]
    pub license_server: Option<String>,

    /// A PEM file of CA certificates to trust for calls out (the licence
    /// server, Stripe), besides the built-in roots: a private CA. The older
    /// name TRASEALLA_LICENSE_SERVER_CA is still read.
    #[arg(long, env = "TRASEALLA_OUTBOUND_CA")]
    pub outbound_ca: Option<std::path::PathBuf>,

    /// The key that seals the secrets the database keeps (the generated
    /// token secret, a licence key): base64 of 32 bytes. Every server of a
    /// deployment needs the same one.
    #[arg(
        long,
        env = "TRASEALLA_MASTER_KEY",
        hide_env_values = true,
        conflicts_with = "master_key_file"
    )]
    pub master_key: Option<String>,

    /// A file holding the master key (created, mode 0600, when missing).
    /// Default: $XDG_CONFIG_HOME/trasealla/master.key, or
    /// ~/.config/trasealla/master.key.
    #[arg(long, env = "TRASEALLA_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,

    /// Days a cancelled tenant's data is kept before it is purged.
    #[arg(long, env = "TRASEALLA_PURGE_AFTER_DAYS", default_value_t = 30)]
    pub purge_after_days: u32,

    /// Take the client address from X-Forwarded-For (only behind a proxy you run).
    #[arg(long, env = "TRASEALLA_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// The scheme, host and port people reach the service at
    /// (`https://crm.example.com`). With `https://`, cookies are always
    /// Secure and every response carries Strict-Transport-Security.
    #[arg(long, env = "TRASEALLA_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// How long one statement of a tenant's request may run, in
    /// milliseconds (PostgreSQL): past it the request answers 503.
    #[arg(long, env = "TRASEALLA_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub statement_timeout_ms: u64,

    /// How long a tenant's transaction may sit idle, in milliseconds
    /// (PostgreSQL): past it the database ends it and frees its connection.
    #[arg(
        long,
        env = "TRASEALLA_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub idle_in_transaction_timeout_ms: u64,

    /// PostgreSQL connections the server pools. Default: 4 per core, 8 to 64.
    #[arg(long, env = "TRASEALLA_DATABASE_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    pub database_pool_size: Option<u32>,

    /// Tenant transactions (each a pooled connection) one tenant may hold
    /// at once. Default: a quarter of the pool, and at least one more than
    /// the heavy operations it may run.
    #[arg(long, env = "TRASEALLA_TENANT_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub tenant_max_connections: Option<u32>,

    /// How long a request waits, in milliseconds, while its tenant holds
    /// all the connections it may; then it answers 429.
    #[arg(
        long,
        env = "TRASEALLA_TENANT_CONNECTION_WAIT_MS",
        default_value_t = 2_000
    )]
    pub tenant_connection_wait_ms: u64,

    /// Heavy operations (imports, exports, reports) one tenant may run at
    /// once; more answer 429.
    #[arg(
        long,
        env = "TRASEALLA_TENANT_MAX_HEAVY_OPERATIONS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub tenant_max_heavy_operations: u32,

    /// Threads that run the work of imports and exports, apart from those
    /// that answer requests. Default: half the cores, at least 1.
    #[arg(long, env = "TRASEALLA_HEAVY_WORKERS", value_parser = clap::value_parser!(u32).range(1..))]
    pub heavy_workers: Option<u32>,

    /// How long an upload may pause, in milliseconds, before it is cut off
    /// (408).
    #[arg(
        long,
        env = "TRASEALLA_UPLOAD_IDLE_TIMEOUT_MS",
        default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub upload_idle_timeout_ms: u64,

    /// How long an answer may wait, in milliseconds, on a client that
    /// reads none of it before the connection is closed.
    #[arg(
        long,
        env = "TRASEALLA_SEND_TIMEOUT_MS",
        default_value_t = 60_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub send_timeout_ms: u64,

    /// Registrations one client address may make per hour (public sign-up).
    #[arg(long, env = "TRASEALLA_SIGNUPS_PER_HOUR", default_value_t = 20)]
    pub signups_per_hour: i64,

    /// Availability checks (slug, e-mail) one client address may make per
    /// minute: enough for a sign-up form, too few to list who has an account.
    #[arg(long, env = "TRASEALLA_AVAILABILITY_PER_MINUTE", default_value_t = 60)]
    pub availability_per_minute: i64,

    /// Redis for the limits several servers enforce together (request
    /// rates, sign-up and login throttles, per-tenant connection caps):
    /// `redis://[:password@]host:6379[/db]`. Unset: each server keeps its
    /// own (the database keeps the throttles).
    #[arg(long, env = "TRASEALLA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// The prefix of every key written to Redis (deployments that share
    /// one Redis use different prefixes).
    #[arg(long, env = "TRASEALLA_REDIS_PREFIX", default_value = crate::limiter::DEFAULT_PREFIX)]
    pub redis_prefix: String,

    /// Log format: text or json.
    #[arg(long, env = "TRASEALLA_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// The SMTP server mail leaves through: `smtp://user:pass@host:587`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS), or
    /// `smtp://host:1025?tls=none` (a local relay, no TLS). Unset: messages
    /// are kept as `not_sent`.
    #[arg(long, env = "TRASEALLA_SMTP_URL", hide_env_values = true, value_parser = crate::mail::smtp::parse_url_setting)]
    pub smtp_url: Option<String>,

    /// The sender of every message: `Name <address>` or an address.
    #[arg(long, env = "TRASEALLA_MAIL_FROM", default_value = "Trasealla CRM <no-reply@localhost>", value_parser = crate::mail::parse_mailbox_setting)]
    pub mail_from: String,

    /// How often, in seconds, the scheduler looks for due periodic work.
    #[arg(long, env = "TRASEALLA_SCHEDULER_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub scheduler_interval_secs: u64,

    /// How long, in seconds, a worker holds a job it claimed; a job whose
    /// worker died runs again once its lease has passed.
    #[arg(long, env = "TRASEALLA_JOB_LEASE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_lease_secs: u64,

    /// Jobs one server runs at once (0: this server runs none, another does).
    #[arg(long, env = "TRASEALLA_JOB_WORKERS", default_value_t = 10)]
    pub job_workers: u32,

    /// Attempts a job gets before it is `dead`.
    #[arg(long, env = "TRASEALLA_JOB_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub job_max_attempts: u32,

    /// Meter API calls and hold tenants to their plan's requests per minute
    /// and API calls per month (`false`: neither; for an installation that
    /// bills nothing, and to measure what metering costs).
    #[arg(long, env = "TRASEALLA_METERING", default_value_t = true, action = clap::ArgAction::Set)]
    pub metering: bool,

    /// How often, in seconds, a server adds the usage it counted to the
    /// database (a crash loses at most this much of its counts).
    #[arg(long, env = "TRASEALLA_USAGE_FLUSH_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub usage_flush_secs: u64,

    /// How often, in milliseconds, an idle worker looks for jobs queued by
    /// other servers (its own it starts at once).
    #[arg(long, env = "TRASEALLA_JOB_POLL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub job_poll_ms: u64,

    /// Stripe's secret API key (`sk_live_…`, `sk_test_…` or a restricted
    /// `rk_…`). Unset: billing is off, and platform admins change plans.
    #[arg(long, env = "TRASEALLA_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// The signing secret of the Stripe webhook endpoint (`whsec_…`).
    #[arg(long, env = "TRASEALLA_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// The Stripe price of each paid plan and interval:
    /// `starter_monthly=price_…,starter_yearly=price_…,professional_monthly=price_…`.
    #[arg(long, env = "TRASEALLA_STRIPE_PRICES", default_value = "")]
    pub stripe_prices: String,

    /// Where Stripe's API is (tests point it at a local fake).
    #[arg(long, env = "TRASEALLA_STRIPE_API_BASE", default_value = crate::billing::stripe::API_BASE)]
    pub stripe_api_base: String,

    /// Days a subscription may stay past due before writes answer 402
    /// `payment_required`.
    #[arg(long, env = "TRASEALLA_BILLING_GRACE_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=365))]
    pub billing_grace_days: u32,
    /// Webhooks may go to loopback, private, link-local and metadata
    /// addresses, and over plain `http://` (self-hosted installations on a
    /// private network, and tests); by default they may not.
    #[arg(long, env = "TRASEALLA_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
}

impl Config {
    /// The defaults, as `serve` would have them with no flags and no environment.
    pub fn defaults_for(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            base_domain: "localhost".to_owned(),
            jwt_secret: None,
            platform_admin_username: None,
            platform_admin_password: None,
            token_ttl_secs: 86_400,
            purge_after_days: 30,
            public_url: None,
            statement_timeout_ms: 30_000,
            idle_in_transaction_timeout_ms: 60_000,
            database_pool_size: None,
            tenant_max_connections: None,
            tenant_connection_wait_ms: 2_000,
            tenant_max_heavy_operations: 2,
            heavy_workers: None,
            upload_idle_timeout_ms: 30_000,
            send_timeout_ms: 60_000,
            signups_per_hour: 20,
            availability_per_minute: 60,
            redis_url: None,
            redis_prefix: crate::limiter::DEFAULT_PREFIX.to_owned(),
            mode: crate::licensing::Mode::Saas,
            license_signing_key: None,
            master_key: None,
            master_key_file: None,
            license_server: None,
            outbound_ca: None,
            trust_proxy: false,
            log_format: "text".to_owned(),
            smtp_url: None,
            mail_from: "Trasealla CRM <no-reply@localhost>".to_owned(),
            scheduler_interval_secs: 60,
            job_lease_secs: 60,
            job_workers: 10,
            job_max_attempts: 8,
            job_poll_ms: 1_000,
            usage_flush_secs: 10,
            metering: true,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_prices: String::new(),
            stripe_api_base: crate::billing::stripe::API_BASE.to_owned(),
            billing_grace_days: 7,
            webhook_allow_private: false,
        }
    }
}

// Secrets stay out of Debug output, and so out of logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "[redacted]");
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("base_domain", &self.base_domain)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("platform_admin_username", &self.platform_admin_username)
            .field(
                "platform_admin_password",
                &redacted(&self.platform_admin_password),
            )
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("purge_after_days", &self.purge_after_days)
            .field("mode", &self.mode)
            .field("license_signing_key", &self.license_signing_key)
            .field("master_key", &redacted(&self.master_key))
            .field("master_key_file", &self.master_key_file)
            .field("license_server", &self.license_server)
            .field("outbound_ca", &self.outbound_ca)
            .field("trust_proxy", &self.trust_proxy)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("mail_from", &self.mail_from)
            .field("scheduler_interval_secs", &self.scheduler_interval_secs)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("job_workers", &self.job_workers)
            .field("stripe_secret_key", &redacted(&self.stripe_secret_key))
            .field(
                "stripe_webhook_secret",
                &redacted(&self.stripe_webhook_secret),
            )
            .field("stripe_prices", &self.stripe_prices)
            .field("stripe_api_base", &self.stripe_api_base)
            .field("billing_grace_days", &self.billing_grace_days)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .finish()
    }
}

/// The pool size when none is configured: 4 connections per core, 8 to 64.
pub fn default_pool_size() -> usize {
    (cores() * 4).clamp(8, 64)
}

/// The cores this process may use (4 when that cannot be told).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get())
}

/// `https://host[:port]` or `http://host[:port]`, without a path.
fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err("must be a scheme and host (and port), without a path".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

impl Config {
    /// PostgreSQL connections to pool: as configured, else 4 per core (8
    /// to 64).
    pub fn pool_size(&self) -> usize {
        match self.database_pool_size {
            Some(n) => n as usize,
            None => default_pool_size(),
        }
    }

    /// Tenant transactions one tenant may hold at once: as configured,
    /// else a quarter of the pool, so that no tenant can hold all of it,
    /// and at least one more than its heavy operations, so that its users
    /// can still work while it runs them.
    pub fn tenant_connections(&self) -> u32 {
        self.tenant_max_connections.unwrap_or_else(|| {
            let quarter = u32::try_from(self.pool_size() / 4).unwrap_or(u32::MAX);
            quarter.max(self.tenant_max_heavy_operations.saturating_add(1))
        })
    }

    /// Threads for heavy work: as configured, else half the cores (at
    /// least 1).
    pub fn heavy_workers(&self) -> usize {
        match self.heavy_workers {
            Some(n) => n as usize,
            None => (cores() / 2).max(1),
        }
    }

    /// Served only over HTTPS (the public address says so).
    pub fn https_only(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// The URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    let redacted = redact_userinfo(url);
    // A password may also travel as a query parameter (`?password=…`).
    match redacted.split_once('?') {
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                        format!("{k}=[redacted]")
                    }
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
        None => redacted,
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db/crm"),
            "postgres://app:[redacted]@db/crm"
        );
        assert_eq!(
            redact_url("postgres://db/crm?user=app&password=hunter2&sslmode=require"),
            "postgres://db/crm?user=app&password=[redacted]&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/crm?sslpassword=hunter2"),
            "postgres://db/crm?sslpassword=[redacted]"
        );
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }

    #[test]
    fn a_tenant_may_hold_a_quarter_of_the_pool_unless_told_otherwise() {
        let mut c = Config::defaults_for("sqlite://./x.db");
        c.database_pool_size = Some(40);
        assert_eq!((c.pool_size(), c.tenant_connections()), (40, 10));
        // Room for its users beside its heavy operations.
        c.database_pool_size = Some(8);
        assert_eq!(c.tenant_connections(), 3);
        c.tenant_max_heavy_operations = 1;
        assert_eq!(c.tenant_connections(), 2);
        c.tenant_max_connections = Some(7);
        assert_eq!(c.tenant_connections(), 7);
        assert!((8..=64).contains(&Config::defaults_for("sqlite://./x.db").pool_size()));
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let mut c = Config::defaults_for("postgres://app:hunter2@db/crm");
        c.jwt_secret = Some("s3cret-s3cret-s3cret-s3cret-s3cret".into());
        c.platform_admin_password = Some("AdminPass123".into());
        c.master_key = Some("bWFzdGVyLWtleS1tYXN0ZXIta2V5LW1hc3Rlci1rZXk=".into());
        c.smtp_url = Some("smtp://mailer:sm7p-pa55@mail.example.com:587".into());
        c.redis_url = Some("redis://:r3d1s-pa55@cache:6379/0".into());
        let printed = format!("{c:?}");
        for secret in [
            "hunter2",
            "s3cret",
            "AdminPass123",
            "bWFzdGVy",
            "sm7p-pa55",
            "r3d1s-pa55",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("postgres://app:[redacted]@db/crm"));
    }
}
