//! The test harness: a real server on a loopback port with a fresh database
//! per test (a temporary SQLite file, or a PostgreSQL database cloned from a
//! migrated template), a manual clock, and a small HTTP client.

use chrono::{Duration, TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::OnceCell;
use trasealla::clock::ManualClock;
use trasealla::{App, Config};

pub mod mail;
pub mod receiver;
pub mod stripe;
pub use mail::{mail_sink, Mail};
pub use receiver::webhook_receiver;
pub use stripe::FakeStripe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an `async fn(TestApp)` once per backend, as `name::sqlite` and
/// `name::postgres`. Without TEST_DATABASE_URL the PostgreSQL run is skipped
/// with a note; CI always sets it (and fails when the server is down).
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        $crate::both!($name, |_: &mut trasealla::Config| {});
    };
    ($name:ident, $configure:expr) => {
        $crate::both!($name as $name, $configure);
    };
    ($name:ident as $module:ident, $configure:expr) => {
        mod $module {
            use $crate::support::{Backend, TestApp};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(TestApp::spawn_with(Backend::Sqlite, $configure).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_url().is_none() {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                    return;
                }
                super::$name(TestApp::spawn_with(Backend::Postgres, $configure).await).await
            }
        }
    };
}

/// Only on PostgreSQL (optionally with a configuration, as for `both!`).
#[macro_export]
macro_rules! postgres_only {
    ($name:ident) => {
        $crate::postgres_only!($name, |_: &mut trasealla::Config| {});
    };
    ($name:ident, $configure:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_url().is_none() {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                    return;
                }
                let app = $crate::support::TestApp::spawn_with(
                    $crate::support::Backend::Postgres,
                    $configure,
                )
                .await;
                super::$name(app).await
            }
        }
    };
}

pub const PASSWORD: &str = "SecurePass123";
pub const ADMIN_USERNAME: &str = "vendor-admin";
pub const ADMIN_PASSWORD: &str = "VendorPass123";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: App,
    pub clock: ManualClock,
    db: TestDb,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.db.cleanup();
    }
}

/// A tenant made by [`TestApp::register`], with its owner's token.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub owner_id: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres().await,
        };
        let mut config = Config::defaults_for(&db.url());
        config.platform_admin_username = Some(ADMIN_USERNAME.into());
        config.platform_admin_password = Some(ADMIN_PASSWORD.into());
        // Each test its own master key: nothing is written to the home directory.
        config.master_key = Some(random_master_key());
        configure(&mut config);
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
        let (state, addr, server) = serve(config, &clock).await.expect("app starts");
        TestApp {
            addr,
            state,
            clock,
            db,
            server,
        }
    }

    /// Stops the server and starts it again on the same database and clock,
    /// with the configuration changed by `configure` (what an upgrade or a
    /// restart with other settings looks like); the error when it does not
    /// start.
    pub async fn restart(&mut self, configure: impl FnOnce(&mut Config)) -> anyhow::Result<()> {
        self.server.abort();
        let mut config = (*self.state.config).clone();
        configure(&mut config);
        let (state, addr, server) = serve(config, &self.clock).await?;
        self.state = state;
        self.addr = addr;
        self.server = server;
        Ok(())
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use trasealla::clock::Clock;
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            TestDb::Sqlite { .. } => Backend::Sqlite,
            TestDb::Postgres { .. } => Backend::Postgres,
        }
    }

    /// True (with a note) when the test needs the test Redis and
    /// TEST_REDIS_URL is not set.
    pub fn redis_skipped(&self) -> bool {
        let skipped = self.state.config.redis_url.is_none();
        if skipped {
            eprintln!("skipped: TEST_REDIS_URL is not set");
        }
        skipped
    }

    /// Another server with its own listener and database but this one's
    /// configuration, Redis and prefix included: what two servers behind a
    /// load balancer share is then only what Redis keeps.
    pub async fn server_beside(&self) -> TestApp {
        let config = (*self.state.config).clone();
        TestApp::spawn_with(self.backend(), move |c| {
            c.redis_url = config.redis_url;
            c.redis_prefix = config.redis_prefix;
            c.signups_per_hour = config.signups_per_hour;
            c.availability_per_minute = config.availability_per_minute;
            c.trust_proxy = config.trust_proxy;
            c.tenant_max_connections = config.tenant_max_connections;
        })
        .await
    }

    /// A second server on the same database and clock (what a deployment
    /// of several servers looks like), without an HTTP listener.
    pub async fn second_server(&self) -> App {
        App::start((*self.state.config).clone(), Arc::new(self.clock.clone()))
            .await
            .expect("a second server starts")
    }

    /// A second server on the same database and clock, listening: its
    /// state, its address (send to it with [`Req::via`]) and its task.
    pub async fn second_listener(&self) -> (App, SocketAddr, tokio::task::JoinHandle<()>) {
        serve((*self.state.config).clone(), &self.clock)
            .await
            .expect("a second server starts")
    }

    /// Runs every due job (as a worker would) until none is due; how many
    /// ran.
    pub async fn run_jobs(&self) -> usize {
        trasealla::jobs::drain(&self.state).await.expect("jobs run")
    }

    /// One round of the scheduler, then every job that is due.
    pub async fn tick(&self) -> usize {
        trasealla::jobs::schedule::tick(&self.state)
            .await
            .expect("the scheduler's round");
        self.run_jobs().await
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            to: None,
        }
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }

    /// Registers a company; the e-mail is derived from the name.
    pub async fn register(&self, company: &str) -> Tenant {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let local: String = company
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let email = format!("owner{n}.{local}@example.com");
        let r = self
            .post("/api/tenants/register")
            .json(json!({
                "company_name": company,
                "email": email,
                "password": PASSWORD,
                "full_name": format!("Owner of {company}"),
            }))
            .send()
            .await;
        assert_eq!(r.status, 201, "register {company}: {}", r.body);
        Tenant {
            id: r.body["data"]["tenant"]["id"].as_str().unwrap().to_owned(),
            slug: r.body["data"]["tenant"]["slug"]
                .as_str()
                .unwrap()
                .to_owned(),
            owner_id: r.body["data"]["user"]["id"].as_str().unwrap().to_owned(),
            email,
            token: r.body["data"]["token"].as_str().unwrap().to_owned(),
        }
    }

    /// `POST /api/users` with `token`: a plain user with the test password.
    pub async fn create_user(&self, token: &str, email: &str) -> Resp {
        self.post("/api/users")
            .bearer(token)
            .json(json!({"email": email, "full_name": "Staff Member", "password": PASSWORD}))
            .send()
            .await
    }

    /// Creates a user in `tenant` (as its owner) and returns (id, token).
    pub async fn add_user(&self, tenant: &Tenant, email: &str, role: &str) -> (String, String) {
        let r = self
            .post("/api/users")
            .bearer(&tenant.token)
            .json(json!({"email": email, "full_name": "Staff Member", "password": PASSWORD, "role": role}))
            .send()
            .await;
        assert_eq!(r.status, 201, "add user: {}", r.body);
        let id = r.body["data"]["id"].as_str().unwrap().to_owned();
        let token = self.login_ok(email, PASSWORD).await;
        (id, token)
    }

    /// Logs in and returns the token, failing the test otherwise.
    pub async fn login_ok(&self, username: &str, password: &str) -> String {
        let r = self
            .post("/api/auth/login")
            .json(json!({"username": username, "password": password}))
            .send()
            .await;
        assert_eq!(r.status, 200, "login {username}: {}", r.body);
        r.body["data"]["token"].as_str().unwrap().to_owned()
    }

    /// A platform transaction on the test's database.
    pub async fn platform(&self, access: trasealla::store::Access) -> trasealla::store::PlatformTx {
        self.state.store.platform(access).await.unwrap()
    }

    /// Sets a tenant's status directly (the admin API arrives with the
    /// platform-admin issue).
    pub async fn set_tenant_status(&self, tenant: &Tenant, status: &str) {
        self.platform_update(
            tenant,
            "UPDATE tenants SET status = $2 WHERE id = $1",
            &[&status],
        )
        .await;
    }

    /// `PATCH /api/tenants/{id}` as the platform admin: a plan change, an
    /// override; fails the test unless it answers 200.
    pub async fn admin_patch_tenant(&self, tenant: &Tenant, body: Value) -> Resp {
        let admin = self.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        self.patch(&format!("/api/tenants/{}", tenant.id))
            .bearer(&admin)
            .json(body)
            .send()
            .await
            .ok("the platform admin changes the tenant")
    }

    /// Delivers a Stripe event to the webhook, signed now with the test
    /// secret.
    pub async fn stripe_event(&self, event: &Value) -> Resp {
        let body = event.to_string().into_bytes();
        let signature =
            stripe::signature(stripe::WEBHOOK_SECRET, self.clock_now().timestamp(), &body);
        self.post("/api/billing/webhook")
            .header("stripe-signature", &signature)
            .raw("application/json", body)
            .send()
            .await
    }

    /// Lifts a tenant's user limit (as a platform admin's plan change would).
    pub async fn unlimit_users(&self, tenant: &Tenant) {
        self.platform_update(
            tenant,
            "UPDATE subscriptions SET max_users = NULL WHERE tenant_id = $1",
            &[],
        )
        .await;
    }

    /// Runs `sql` (binding the tenant's id, then `params`) on the platform
    /// handle; it must change exactly one row.
    async fn platform_update(
        &self,
        tenant: &Tenant,
        sql: &str,
        params: &[&(dyn trasealla::store::Bind + Sync)],
    ) {
        let mut tx = self.platform(trasealla::store::Access::Write).await;
        let id = uuid::Uuid::parse_str(&tenant.id).unwrap();
        let mut all: Vec<&dyn trasealla::store::Bind> = vec![&id];
        all.extend(params.iter().map(|p| *p as &dyn trasealla::store::Bind));
        let n = tx.execute(sql, &all).await.unwrap();
        assert_eq!(n, 1, "{sql}");
        tx.commit().await.unwrap();
    }

    /// Counts rows of a table (platform view, across tenants).
    pub async fn count(&self, table: &str) -> i64 {
        let mut tx = self.platform(trasealla::store::Access::Read).await;
        let sql = format!("SELECT count(*) FROM {table}");
        let n: trasealla::store::One<i64> = tx.query_one(&sql, &[]).await.unwrap();
        tx.commit().await.unwrap();
        n.0
    }

    /// One text value read straight from the database, as a reader of a
    /// backup would see it (`None` for no row or NULL).
    pub async fn stored_text(&self, sql: &str) -> Option<String> {
        let mut tx = self.platform(trasealla::store::Access::Read).await;
        let row: Option<trasealla::store::One<Option<String>>> =
            tx.query_opt(sql, &[]).await.unwrap();
        tx.commit().await.unwrap();
        row.and_then(|r| r.0)
    }

    /// Changes the database directly, behind the server's back (what an
    /// older version left, or what someone with the database does).
    pub async fn exec(&self, sql: &str, params: &[&dyn trasealla::store::Bind]) -> u64 {
        let mut tx = self.platform(trasealla::store::Access::Write).await;
        let n = tx.execute(sql, params).await.unwrap();
        tx.commit().await.unwrap();
        n
    }

    /// A connection to the test's PostgreSQL database as the configured
    /// (super)user, for what the API cannot do: seeding in bulk, holding
    /// locks, reading the catalogue.
    pub async fn database_client(&self) -> tokio_postgres::Client {
        let (admin_url, db) = self.postgres_database().expect("a PostgreSQL test");
        let (client, conn) =
            tokio_postgres::connect(&with_database(admin_url, db), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client
    }

    pub fn postgres_database(&self) -> Option<(&str, &str)> {
        match &self.db {
            TestDb::Postgres { admin_url, name } => Some((admin_url.as_str(), name.as_str())),
            TestDb::Sqlite { .. } => None,
        }
    }
}

/// The `trasealla` binary, for tests of its command line.
pub fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_trasealla"))
}

/// Runs `cmd` with `input` on its standard input.
pub fn run_with_input(cmd: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A command's standard output, once it succeeded (its errors otherwise).
#[track_caller]
pub fn succeeded(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Base64 of 32 random bytes: a master key.
pub fn random_master_key() -> String {
    use base64::Engine;
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(key)
}

async fn serve(
    config: Config,
    clock: &ManualClock,
) -> anyhow::Result<(App, SocketAddr, tokio::task::JoinHandle<()>)> {
    let state = App::start(config, Arc::new(clock.clone())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = trasealla::router(state.clone());
    let listener = trasealla::web::listener::listener(
        listener,
        std::time::Duration::from_millis(state.config.send_timeout_ms),
    );
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Ok((state, addr, server))
}

pub struct Req<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// Another server of the same deployment to send it to.
    to: Option<SocketAddr>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status of a set-up step, naming the step, and hands the
    /// response on, so a broken set-up fails where it happens:
    /// `app.delete(&path).bearer(&t).send().await.expect(200, "delete the deal");`
    #[track_caller]
    pub fn expect(self, status: u16, step: &str) -> Resp {
        assert_eq!(
            self.status, status,
            "set-up step failed: {step}: {}",
            self.text
        );
        self
    }

    /// [`Resp::expect`] 200: a read or a change.
    #[track_caller]
    pub fn ok(self, step: &str) -> Resp {
        self.expect(200, step)
    }

    /// [`Resp::expect`] 201: a create.
    #[track_caller]
    pub fn created(self, step: &str) -> Resp {
        self.expect(201, step)
    }
}

impl Req<'_> {
    /// Sends it to another server (see [`TestApp::second_listener`]).
    pub fn via(mut self, addr: SocketAddr) -> Self {
        self.to = Some(addr);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(self, v: Value) -> Self {
        self.raw("application/json", v.to_string().into_bytes())
    }

    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers
            .push(("content-type".to_owned(), content_type.to_owned()));
        self.body = Some(body);
        self
    }

    pub async fn send(self) -> Resp {
        let addr = self.to.unwrap_or(self.app.addr);
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = Request::builder().method(self.method).uri(&self.path);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            builder = builder.header("host", format!("127.0.0.1:{}", addr.port()));
        }
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let req = builder
            .body(Full::new(Bytes::from(self.body.unwrap_or_default())))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }
}

enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

/// The test Redis (TEST_REDIS_URL), or `None`; CI always sets it.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Shares limits through the test Redis, under a key prefix of the test's
/// own (tests running at once share no count); without TEST_REDIS_URL it
/// changes nothing (see [`TestApp::redis_skipped`]).
pub fn with_test_redis(config: &mut Config) {
    config.redis_url = redis_url();
    config.redis_prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Replaces the database name of a PostgreSQL URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The migrated template database, built once per migration set (its name
/// carries a digest of the migrations) under an advisory lock, so parallel
/// test processes build it once between them.
async fn template(admin_url: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let digest = {
                let mut h: u64 = 0xcbf29ce484222325;
                for m in trasealla::store::migrations_postgres() {
                    for b in m.sql.bytes() {
                        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
                    }
                }
                format!("{h:016x}")
            };
            let name = format!("trasealla_tpl_{digest}");
            let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
                });
            let conn = tokio::spawn(conn);
            client
                .execute("SELECT pg_advisory_lock(74100)", &[])
                .await
                .unwrap();
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .unwrap()
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .await
                    .unwrap();
                client
                    .batch_execute(&format!("CREATE DATABASE {building}"))
                    .await
                    .unwrap();
                {
                    let store = trasealla::store::Store::connect(&with_database(admin_url, &building))
                        .await
                        .unwrap();
                    store.migrate().await.expect("migrations apply");
                }
                client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&building],
                    )
                    .await
                    .unwrap();
                client
                    .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .await
                    .unwrap();
            }
            client
                .execute("SELECT pg_advisory_unlock(74100)", &[])
                .await
                .unwrap();
            drop(client);
            let _ = conn.await;
            name
        })
        .await
        .clone()
}

impl TestDb {
    fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn postgres() -> TestDb {
        let admin_url = postgres_url().expect("TEST_DATABASE_URL");
        let template = template(&admin_url).await;
        let name = format!("trasealla_test_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .unwrap();
        drop(client);
        let _ = conn.await;
        TestDb::Postgres { admin_url, name }
    }

    fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => format!("sqlite://{}", dir.path().join("test.db").display()),
            TestDb::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }

    fn cleanup(&self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs outside any runtime we may block on: use a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok((client, conn)) =
                        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                    {
                        let conn = tokio::spawn(conn);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                        drop(client);
                        let _ = conn.await;
                    }
                });
            })
            .join();
        }
    }
}

/// The real `trasealla` binary running as its own process, on a fresh
/// SQLite database, logging JSON to a pipe.
pub struct Process {
    child: std::process::Child,
    pub port: u16,
    lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
    dir: tempfile::TempDir,
}

impl Process {
    /// The process's own directory (its database, its configuration).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Starts the binary with `envs` (on top of a clean environment) and
    /// waits until it listens.
    pub fn start(envs: &[(&str, String)]) -> Process {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trasealla"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("process.db").display()),
            )
            .env("TRASEALLA_LISTEN", format!("127.0.0.1:{port}"))
            .env("TRASEALLA_LOG_FORMAT", "json")
            // The master key file's default place: inside the test's directory.
            .env("XDG_CONFIG_HOME", dir.path().join("config"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut log = Vec::new();
        loop {
            let line = lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the server starts");
            let listening = line.contains("listening");
            log.push(line);
            if listening {
                break;
            }
        }
        Process {
            child,
            port,
            lines,
            log,
            dir,
        }
    }

    /// SIGKILL (`kill -9`): the process ends at once, mid-work; its
    /// directory (and database) stays until the value is dropped.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits; returns the exit status with the whole log.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Resp {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let res = sender
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or_default(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
