//! Health, the OpenAPI description, and the binary itself: migrate, serve,
//! logs without secrets, and a clean stop on SIGTERM.

use crate::both;
use crate::postgres_only;
use crate::support::{Process, TestApp, PASSWORD};
use serde_json::json;
use std::process::Command;

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
            r.body["paths"][route.path.as_str()][&method].is_object(),
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
    let server = Process::start(&[
        ("TRASEALLA_PLATFORM_ADMIN_USERNAME", "root-admin".into()),
        ("TRASEALLA_PLATFORM_ADMIN_PASSWORD", "AdminSecret999".into()),
    ]);
    let reg = server
        .send(
            "POST",
            "/api/tenants/register",
            Some(json!({"company_name": "Log Co", "email": "log@log.example", "password": PASSWORD, "full_name": "Log"})),
            None,
        )
        .await
        .created("register Log Co")
        .body;
    let token = reg["data"]["token"].as_str().unwrap().to_owned();
    let tenant_id = reg["data"]["tenant"]["id"].as_str().unwrap().to_owned();
    let login = json!({"username": "log", "password": PASSWORD});
    server
        .send("POST", "/api/auth/login", Some(login), None)
        .await
        .ok("log in as the tenant owner");
    let admin = json!({"username": "root-admin", "password": "AdminSecret999"});
    server
        .send("POST", "/api/auth/login", Some(admin), None)
        .await
        .ok("log in as the platform admin");
    server
        .send("GET", "/api/tenants/current", None, Some(&token))
        .await
        .ok("read the current tenant");

    let (exit, lines) = server.stop();
    assert!(exit.success(), "exit status {exit:?}");
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
