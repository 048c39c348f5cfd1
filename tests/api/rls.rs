//! PostgreSQL row-level security, checked from the catalogue and by reading
//! as the tenant role with the wrong tenant, or none, set — while connected
//! as a superuser, which would skip RLS were it not for the role switch and
//! FORCE.

use crate::postgres_only;
use crate::support::TestApp;
use serde_json::json;

/// Begins a transaction as the tenant role, with `tenant` as app.tenant_id.
async fn begin_as_tenant(client: &tokio_postgres::Client, tenant: Option<&str>) {
    client
        .batch_execute("BEGIN; SET LOCAL ROLE trasealla_tenant")
        .await
        .unwrap();
    if let Some(t) = tenant {
        client
            .execute("SELECT set_config('app.tenant_id', $1, true)", &[&t])
            .await
            .unwrap();
    }
}

async fn the_catalogue_audit_finds_nothing(app: TestApp) {
    let trasealla::store::Store::Postgres(pg) = &app.state.store else {
        panic!("postgres")
    };
    let problems = pg.audit().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}
postgres_only!(the_catalogue_audit_finds_nothing);

async fn the_audit_notices_a_table_without_rls(app: TestApp) {
    let client = app.database_client().await;
    client
        .batch_execute(
            "CREATE TABLE leaky (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, PRIMARY KEY (id));
             CREATE UNIQUE INDEX leaky_global ON leaky (id);",
        )
        .await
        .unwrap();
    let problems = trasealla::store::postgres::audit(&client).await.unwrap();
    let text = problems.join("\n");
    assert!(
        text.contains("leaky: row-level security is not enabled"),
        "{text}"
    );
    assert!(
        text.contains("leaky: row-level security is not forced"),
        "{text}"
    );
    assert!(text.contains("does not include tenant_id"), "{text}");
}
postgres_only!(the_audit_notices_a_table_without_rls);

async fn tenant_role_sees_nothing_without_its_own_tenant(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    app.add_user(&a, "staff@alpha.example", "user").await;
    let client = app.database_client().await;
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        superuser,
        "the test must connect as a superuser to prove FORCE"
    );

    let tables: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
              WHERE n.nspname = 'public' AND c.relkind = 'r'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.contains(&"users".to_owned()) && tables.contains(&"subscriptions".to_owned()));

    let count = |table: String, setting: Option<String>| {
        let client = &client;
        async move {
            begin_as_tenant(client, setting.as_deref()).await;
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0);
            client.batch_execute("ROLLBACK").await.unwrap();
            n
        }
    };
    for table in tables.iter().chain(std::iter::once(&"tenants".to_owned())) {
        let unset = count(table.clone(), None).await;
        let empty = count(table.clone(), Some(String::new())).await;
        let stranger = count(table.clone(), Some(uuid::Uuid::now_v7().to_string())).await;
        assert_eq!((unset, empty, stranger), (0, 0, 0), "{table}");
    }
    assert_eq!(count("users".into(), Some(a.id.clone())).await, 2);
    assert_eq!(count("users".into(), Some(b.id.clone())).await, 1);
    assert_eq!(count("tenants".into(), Some(a.id.clone())).await, 1);
    assert_eq!(count("subscriptions".into(), Some(b.id.clone())).await, 1);
}
postgres_only!(tenant_role_sees_nothing_without_its_own_tenant);

async fn tenant_role_cannot_write_into_another_tenant(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    let client = app.database_client().await;
    begin_as_tenant(&client, Some(&a.id)).await;
    let b_id = uuid::Uuid::parse_str(&b.id).unwrap();
    let err = client
        .execute(
            "INSERT INTO users (tenant_id, id, email, username, full_name, password_hash, role, created_at, updated_at)
             VALUES ($1, $2, 'spy@example.com', 'spy', 'Spy', 'x', 'admin', now(), now())",
            &[&b_id, &uuid::Uuid::now_v7()],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("row-level security")
            || format!("{err:?}").contains("row-level security"),
        "{err:?}"
    );
    client.batch_execute("ROLLBACK").await.unwrap();

    // Updates of B's rows from A's transaction touch nothing.
    begin_as_tenant(&client, Some(&a.id)).await;
    let n = client
        .execute(
            "UPDATE users SET full_name = 'Pwned' WHERE tenant_id = $1",
            &[&b_id],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    // And the tenant role may not change its own tenant's status.
    let a_id = uuid::Uuid::parse_str(&a.id).unwrap();
    let err = client
        .execute(
            "UPDATE tenants SET status = 'active' WHERE id = $1",
            &[&a_id],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("permission denied"), "{err:?}");
    client.batch_execute("ROLLBACK").await.unwrap();
}
postgres_only!(tenant_role_cannot_write_into_another_tenant);

/// Every tenant transaction carries the configured statement and idle
/// timeouts (transaction-local), so no request holds a connection long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_transactions_carry_their_timeouts() {
    if crate::support::postgres_url().is_none() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let app = TestApp::spawn_with(crate::support::Backend::Postgres, |c| {
        c.statement_timeout_ms = 1234;
        c.idle_in_transaction_timeout_ms = 4321;
    })
    .await;
    let t = app.register("Timeout Co").await;
    let tenant = trasealla::domain::TenantId(uuid::Uuid::parse_str(&t.id).unwrap());
    let lease = app.state.limits.connection(tenant).await.unwrap();
    let (tx, row) = app
        .state
        .store
        .tenant::<trasealla::store::One<String>>(
            lease,
            trasealla::store::Access::Read,
            "SELECT current_setting('statement_timeout') || ' ' ||
                    current_setting('idle_in_transaction_session_timeout')
               FROM tenants WHERE id = $1",
            &[],
        )
        .await
        .unwrap();
    drop(tx);
    assert_eq!(row.unwrap().0, "1234ms 4321ms");
}

/// The database ends every connection of the server (as a restart or an
/// operator's `pg_terminate_backend` does, SQLSTATE 57P01): requests on
/// the dead connections answer 503 `service_unavailable` with Retry-After,
/// never 500, and the pool drops them, so the service recovers at once.
async fn a_terminated_connection_answers_503_and_the_pool_recovers(app: TestApp) {
    let t = app.register("Restart Co").await;
    let client = app.database_client().await;
    // Warm several pooled connections, so dead ones are in the pool.
    let warm: Vec<_> = (0..6)
        .map(|_| app.get("/api/contacts").bearer(&t.token).send())
        .collect();
    for r in futures_util::future::join_all(warm).await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let ended: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()) ended",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended > 0, "the server had connections to end");
    // At once, so several requests take connections whose end the pool has
    // not noticed yet; then one by one.
    let burst: Vec<_> = (0..6)
        .map(|_| app.get("/api/contacts").bearer(&t.token).send())
        .collect();
    let mut answers = futures_util::future::join_all(burst).await;
    for _ in 0..6 {
        answers.push(app.get("/api/contacts").bearer(&t.token).send().await);
    }
    let mut statuses = Vec::new();
    for r in answers {
        match r.status {
            200 => {}
            503 => {
                assert_eq!(r.code(), "service_unavailable", "{}", r.body);
                assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
            }
            other => panic!("a dead connection answered {other}: {}", r.body),
        }
        statuses.push(r.status);
    }
    assert_eq!(
        statuses.last(),
        Some(&200),
        "the pool recovers: {statuses:?}"
    );
}
postgres_only!(a_terminated_connection_answers_503_and_the_pool_recovers);

/// A statement in flight when its connection is ended gets SQLSTATE 57P01
/// from the server itself: that request answers 503 with Retry-After, not
/// 500. (The request waits on a row lock this test holds, so its
/// connection is certainly mid-statement when it is ended.)
async fn a_statement_cut_off_by_the_server_answers_503(app: TestApp) {
    let t = app.register("Cut Off Co").await;
    let tenant = uuid::Uuid::parse_str(&t.id).unwrap();
    let mut locker = app.database_client().await;
    let lock = locker.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", &[&tenant])
        .await
        .unwrap();
    let request = {
        let token = t.token.clone();
        let app = &app;
        async move {
            app.patch("/api/tenants/current")
                .bearer(&token)
                .json(json!({"phone": "+1 555 0199"}))
                .send()
                .await
        }
    };
    let terminate = async {
        let watcher = app.database_client().await;
        // The request's backend shows up waiting on the lock; bounded.
        for _ in 0..500 {
            let ended: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = current_database() AND wait_event_type = 'Lock') ended",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if ended > 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the request never waited on the lock");
    };
    let (r, ()) = tokio::join!(request, terminate);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "service_unavailable");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    lock.rollback().await.unwrap();
    // Nothing was written, and the next request goes through.
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await
        .ok("after the cut");
    assert_ne!(r.body["data"]["phone"], "+1 555 0199");
}
postgres_only!(a_statement_cut_off_by_the_server_answers_503);
