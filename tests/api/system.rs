//! Health, the OpenAPI description, and the binary itself: migrate, serve,
//! logs without secrets, and a clean stop on SIGTERM.

use crate::both;
use crate::postgres_only;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

async fn health_answers_ok(app: TestApp) {
    let r = app.get("/healthz").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
}
both!(health_answers_ok);

async fn health_is_503_when_the_database_is_gone(app: TestApp) {
    let (admin_url, db) = app.postgres_database().unwrap();
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
    let r = app.get("/healthz").send().await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["status"], "unavailable");
    // Requests that need the database answer 503 in the envelope, not 500.
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": "a", "password": "b"}))
        .send()
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.code(), "service_unavailable");
}
postgres_only!(health_is_503_when_the_database_is_gone);

async fn the_openapi_description_and_docs_are_served(app: TestApp) {
    let r = app.get("/api/openapi.json").send().await;
    assert_eq!(r.status, 200);
    for route in trasealla::web::api::routes() {
        let method = route.method.as_str().to_lowercase();
        assert!(
            r.body["paths"][route.path][&method].is_object(),
            "{method} {} undocumented",
            route.path
        );
    }
    let r = app.get("/api/docs/").send().await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("swagger"),
        "{}",
        &r.text[..r.text.len().min(200)]
    );
}
both!(the_openapi_description_and_docs_are_served);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trasealla"))
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/crm.db").display());
    for expected in ["applied: foundation", "the database is up to date"] {
        let out = binary()
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(expected));
    }
    let out = binary()
        .arg("migrate")
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL must start with"));
}

/// Runs the real binary: one log line per request with the tenant id,
/// passwords and tokens never logged, SIGTERM ends it with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_requests_without_secrets_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = binary()
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TRASEALLA_LISTEN", format!("127.0.0.1:{port}"))
        .env("TRASEALLA_LOG_FORMAT", "json")
        .env("TRASEALLA_PLATFORM_ADMIN_USERNAME", "root-admin")
        .env("TRASEALLA_PLATFORM_ADMIN_PASSWORD", "AdminSecret999")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("server starts");
        let listening = line.contains("listening");
        lines.push(line);
        if listening {
            break;
        }
    }
    let client = Client::new(port);
    let reg = client
        .post(
            "/api/tenants/register",
            json!({"company_name": "Log Co", "email": "log@log.example", "password": PASSWORD, "full_name": "Log"}),
            None,
        )
        .await;
    let token = reg["data"]["token"].as_str().unwrap().to_owned();
    let tenant_id = reg["data"]["tenant"]["id"].as_str().unwrap().to_owned();
    client
        .post(
            "/api/auth/login",
            json!({"username": "log", "password": PASSWORD}),
            None,
        )
        .await;
    client
        .post(
            "/api/auth/login",
            json!({"username": "root-admin", "password": "AdminSecret999"}),
            None,
        )
        .await;
    client.get("/api/tenants/current", Some(&token)).await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        lines.push(line);
    }
    let all = lines.join("\n");
    for secret in [PASSWORD, "AdminSecret999", token.as_str()] {
        assert!(!all.contains(secret), "a secret reached the logs:\n{all}");
    }
    let request_line = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["path"] == "/api/tenants/current")
        .unwrap_or_else(|| panic!("no request line:\n{all}"));
    assert_eq!(request_line["method"], "GET");
    assert_eq!(request_line["status"], 200);
    assert_eq!(request_line["tenant_id"], tenant_id.as_str());
    assert!(request_line["latency_ms"].is_string() || request_line["latency_ms"].is_number());
}

/// A minimal client for the spawned binary.
struct Client {
    port: u16,
}

impl Client {
    fn new(port: u16) -> Self {
        Client { port }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
    ) -> serde_json::Value {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
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
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        token: Option<&str>,
    ) -> serde_json::Value {
        self.send("POST", path, Some(body), token).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> serde_json::Value {
        self.send("GET", path, None, token).await
    }
}
