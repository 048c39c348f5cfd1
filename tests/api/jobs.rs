//! The job queue and the scheduler: leases, retries, dead jobs and their
//! errors as the platform admin sees them, mail when the SMTP server is
//! down or missing, the scheduler's timetable across restarts and servers,
//! and a real server killed mid-job.

use crate::mail::unique;
use crate::support::{mail_sink, Process, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};
use crate::{both, postgres_only};
use chrono::Duration;
use serde_json::{json, Value};

/// A job row as a killed worker leaves it: running, leased until `until`.
async fn insert_orphan(
    app: &TestApp,
    attempts: i64,
    until: chrono::DateTime<chrono::Utc>,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let now = app.clock_now();
    app.exec(
        "INSERT INTO jobs (id, kind, payload, state, attempts, run_at, locked_by, locked_until,
                           created_at)
         VALUES ($1, 'noop', '{}', 'running', $2, $3, 'a-worker-that-was-killed', $4, $3)",
        &[&id, &attempts, &now, &until],
    )
    .await;
    id
}

async fn job_state(app: &TestApp, id: uuid::Uuid) -> (String, i64) {
    let state = app
        .stored_text(&format!("SELECT state FROM jobs WHERE id = '{id}'"))
        .await
        .unwrap();
    let attempts = app
        .stored_text(&format!(
            "SELECT CAST(attempts AS TEXT) FROM jobs WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    (state, attempts.parse().unwrap())
}

async fn a_job_whose_worker_died_runs_again_after_its_lease(app: TestApp) {
    let lease = Duration::seconds(60);
    let orphan = insert_orphan(&app, 1, app.clock_now() + lease).await;
    assert_eq!(app.run_jobs().await, 0, "its lease holds");
    assert_eq!(job_state(&app, orphan).await, ("running".into(), 1));
    app.advance(lease + Duration::seconds(1));
    assert_eq!(
        app.run_jobs().await,
        1,
        "the lease passed: another worker takes it"
    );
    assert_eq!(job_state(&app, orphan).await, ("done".into(), 2));
    // A job whose worker died during its last attempt is dead, not run
    // again (a job that kills its server must not loop).
    let last = insert_orphan(&app, 3, app.clock_now()).await;
    assert_eq!(app.run_jobs().await, 0);
    let (state, _) = job_state(&app, last).await;
    assert_eq!(state, "dead");
    let error = app
        .stored_text(&format!("SELECT last_error FROM jobs WHERE id = '{last}'"))
        .await
        .unwrap();
    assert!(error.contains("lease"), "{error}");
}
both!(
    a_job_whose_worker_died_runs_again_after_its_lease,
    |c: &mut trasealla::Config| {
        c.job_max_attempts = 3;
    }
);

async fn admin(app: &TestApp) -> String {
    app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await
}

async fn register_as(app: &TestApp, email: &str) -> Value {
    app.post("/api/tenants/register")
        .json(json!({
            "company_name": "Bounce Co",
            "email": email,
            "password": PASSWORD,
            "full_name": "Bo Bounce",
        }))
        .send()
        .await
        .created("register")
        .body
}

async fn a_refused_delivery_is_retried_then_dead_with_the_servers_answer(app: TestApp) {
    let email = unique("owner", "refused.test");
    register_as(&app, &email).await;
    let admin = admin(&app).await;
    for attempt in 1..=3 {
        let ran = app.run_jobs().await;
        assert_eq!(
            ran, 2,
            "attempt {attempt}: the welcome and the verification"
        );
        let r = app
            .get("/api/platform/messages")
            .bearer(&admin)
            .send()
            .await
            .ok("messages");
        for m in r.body["data"].as_array().unwrap() {
            assert_eq!(m["recipient"], email.as_str());
            assert_eq!(m["status"], if attempt < 3 { "retrying" } else { "dead" });
            assert_eq!(m["attempts"], attempt);
            let error = m["error"].as_str().unwrap();
            assert!(
                error.contains("550") || error.contains("mailbox unavailable"),
                "{error}"
            );
        }
        // Nothing is due until the back-off has passed.
        assert_eq!(app.run_jobs().await, 0);
        app.advance(Duration::hours(3));
    }
    let r = app
        .get("/api/platform/jobs")
        .bearer(&admin)
        .send()
        .await
        .ok("jobs");
    let data = &r.body["data"];
    assert_eq!(data["stats"]["dead"], 2, "{}", r.text);
    let jobs = data["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    for j in jobs {
        assert_eq!(j["kind"], "send_mail");
        assert_eq!(j["state"], "dead");
        assert_eq!(j["attempts"], 3);
        assert!(j["last_error"].as_str().unwrap().contains("550"), "{j}");
    }
    let r = app
        .get("/api/platform/messages?status=dead")
        .bearer(&admin)
        .send()
        .await
        .ok("dead messages");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);

    // Retried by the platform admin: fresh attempts.
    let id = jobs[0]["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/platform/jobs/{id}/retry"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["state"], "queued");
    assert_eq!(r.body["data"]["attempts"], 0);
    let r = app
        .post(&format!("/api/platform/jobs/{id}/retry"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!((r.status, r.code()), (409, "conflict"));
    let r = app
        .post(&format!(
            "/api/platform/jobs/{}/retry",
            uuid::Uuid::now_v7()
        ))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(app.run_jobs().await, 1, "the retried job runs");
    let r = app
        .get("/api/platform/jobs?state=failed")
        .bearer(&admin)
        .send()
        .await
        .ok("failed jobs");
    assert_eq!(r.body["data"]["stats"]["dead"], 1);
    let failed = &r.body["data"]["jobs"][0];
    assert_eq!(
        failed["id"], id,
        "it failed again and waits for its next attempt"
    );
    assert_eq!(failed["attempts"], 1);
    assert!(failed["last_error"].as_str().unwrap().contains("550"));
    for bad in [
        "/api/platform/jobs?state=zombie",
        "/api/platform/messages?status=lost",
    ] {
        let r = app.get(bad).bearer(&admin).send().await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{bad}");
    }
    let audited = app
        .stored_text("SELECT action FROM platform_audit_log WHERE action = 'job.retried'")
        .await;
    assert_eq!(audited.as_deref(), Some("job.retried"));
}
both!(
    a_refused_delivery_is_retried_then_dead_with_the_servers_answer,
    |c: &mut trasealla::Config| {
        crate::mail::smtp(c);
        c.job_max_attempts = 3;
    }
);

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn the_smtp_server_being_down_fails_no_request(app: TestApp) {
    let t = app.register("Offline Co").await;
    assert_eq!(app.run_jobs().await, 2);
    let r = app
        .get("/api/messages")
        .bearer(&t.token)
        .send()
        .await
        .ok("messages");
    for m in r.body["data"].as_array().unwrap() {
        assert_eq!(m["status"], "retrying");
        assert!(m["error"].as_str().is_some_and(|e| !e.is_empty()), "{m}");
    }
    let r = app
        .get("/api/platform/jobs?state=failed")
        .bearer(&admin(&app).await)
        .send()
        .await;
    assert_eq!(r.body["data"]["stats"]["retrying"], 2, "{}", r.text);
    assert_eq!(r.body["data"]["jobs"].as_array().unwrap().len(), 2);
}
both!(
    the_smtp_server_being_down_fails_no_request,
    |c: &mut trasealla::Config| {
        c.smtp_url = Some(format!(
            "smtp://127.0.0.1:{}?tls=none",
            crate::jobs::closed_port()
        ));
    }
);

async fn without_smtp_messages_are_kept_as_not_sent(app: TestApp) {
    let t = app.register("Quiet Co").await;
    assert_eq!(app.run_jobs().await, 2);
    let r = app
        .get("/api/messages")
        .bearer(&t.token)
        .send()
        .await
        .ok("messages");
    for m in r.body["data"].as_array().unwrap() {
        assert_eq!(m["status"], "not_sent");
        assert!(m["error"].as_str().unwrap().contains("TRASEALLA_SMTP_URL"));
    }
    let r = app
        .get("/api/platform/messages?status=not_sent")
        .bearer(&admin(&app).await)
        .send()
        .await
        .ok("platform messages");
    let list = r.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["tenant_id"], t.id.as_str());
    // The jobs are done: nothing is retried.
    app.advance(Duration::hours(3));
    assert_eq!(app.run_jobs().await, 0);
    // Bodies (they hold links) are sealed at rest, never in the clear.
    let body = app
        .stored_text("SELECT body FROM mail_messages WHERE kind = 'verify_email'")
        .await
        .unwrap();
    assert!(!body.contains("verify-email"), "{body}");
}
both!(without_smtp_messages_are_kept_as_not_sent);

async fn count_kind(app: &TestApp, kind: &str) -> i64 {
    app.stored_text(&format!(
        "SELECT CAST(count(*) AS TEXT) FROM jobs WHERE kind = '{kind}'"
    ))
    .await
    .unwrap()
    .parse()
    .unwrap()
}

async fn the_scheduler_keeps_its_timetable_across_restarts(mut app: TestApp) {
    app.tick().await;
    assert_eq!(count_kind(&app, "purge_tenants").await, 1);
    assert_eq!(count_kind(&app, "prune_jobs").await, 1);
    assert_eq!(count_kind(&app, "trial_reminders").await, 1);
    app.tick().await;
    assert_eq!(count_kind(&app, "purge_tenants").await, 1, "hourly");
    assert_eq!(count_kind(&app, "trial_reminders").await, 2, "every round");
    app.restart(|_| {}).await.unwrap();
    app.advance(Duration::minutes(59));
    app.tick().await;
    assert_eq!(
        count_kind(&app, "purge_tenants").await,
        1,
        "a restart does not repeat it"
    );
    app.advance(Duration::minutes(1));
    app.tick().await;
    assert_eq!(count_kind(&app, "purge_tenants").await, 2);
    assert_eq!(count_kind(&app, "prune_jobs").await, 1, "daily");
    assert_eq!(
        count_kind(&app, "licence_check").await,
        0,
        "self-hosted only"
    );
    // Every one of them ran.
    let dead_or_waiting = app
        .stored_text("SELECT CAST(count(*) AS TEXT) FROM jobs WHERE state <> 'done'")
        .await
        .unwrap();
    assert_eq!(dead_or_waiting, "0");
}
both!(the_scheduler_keeps_its_timetable_across_restarts);

/// One scheduler round on each of two servers at once; whether each led.
pub async fn tick_both(a: &trasealla::App, b: &trasealla::App) {
    let (a, b) = tokio::join!(
        trasealla::jobs::schedule::tick(a),
        trasealla::jobs::schedule::tick(b)
    );
    a.unwrap();
    b.unwrap();
}

/// Both servers' workers drain the queue at once; how many jobs ran.
pub async fn drain_both(a: &trasealla::App, b: &trasealla::App) -> usize {
    let (a, b) = tokio::join!(trasealla::jobs::drain(a), trasealla::jobs::drain(b));
    a.unwrap() + b.unwrap()
}

async fn one_scheduler_leads_at_a_time(app: TestApp) {
    let second = app.second_server().await;
    for _ in 0..5 {
        tick_both(&app.state, &second).await;
    }
    assert_eq!(count_kind(&app, "purge_tenants").await, 1);
    assert_eq!(count_kind(&app, "prune_jobs").await, 1);
    // Two servers' workers share the jobs: each runs once.
    let ran = drain_both(&app.state, &second).await;
    let total = app
        .stored_text("SELECT CAST(count(*) AS TEXT) FROM jobs")
        .await
        .unwrap();
    assert_eq!(ran.to_string(), total);
}
postgres_only!(one_scheduler_leads_at_a_time);

async fn background_workers_send_mail_without_being_asked(app: TestApp) {
    let _background = trasealla::jobs::spawn(app.state.clone());
    let t = app.register("Eager Co").await;
    // The workers were woken by the registration's commit.
    let mails = mail_sink().wait_for(&t.email, 2).await;
    assert_eq!(mails.len(), 2);
}
both!(
    background_workers_send_mail_without_being_asked,
    |c: &mut trasealla::Config| {
        crate::mail::smtp(c);
        // Far longer than the test: only the wake-up can start the jobs.
        c.job_poll_ms = 600_000;
    }
);

/// An SMTP server that accepts connections and never answers: a delivery
/// to it hangs until the client gives up.
fn silent_smtp() -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// `kill -9` of a real server in the middle of sending: a second server on
/// the same database sends the message once the first one's lease passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_job_leaves_it_to_the_next_after_its_lease() {
    let (port, connected) = silent_smtp();
    let master = crate::support::random_master_key();
    let common = [
        ("TRASEALLA_MASTER_KEY", master.clone()),
        ("TRASEALLA_JOB_LEASE", "2".to_owned()),
        ("TRASEALLA_JOB_POLL_MS", "50".to_owned()),
    ];
    let mut first_env = common.to_vec();
    first_env.push((
        "TRASEALLA_SMTP_URL",
        format!("smtp://127.0.0.1:{port}?tls=none"),
    ));
    let mut first = Process::start(&first_env);
    let email = unique("killed", "example.com");
    let r = first
        .send(
            "POST",
            "/api/tenants/register",
            Some(json!({
                "company_name": "Killed Co",
                "email": email,
                "password": PASSWORD,
                "full_name": "Kim Killed",
            })),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A worker is in the middle of a delivery: kill the server.
    connected
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first server starts sending");
    let database = format!("sqlite://{}", first.dir().join("process.db").display());
    first.kill();
    let mut second_env = common.to_vec();
    second_env.push(("TRASEALLA_SMTP_URL", mail_sink().smtp_url()));
    second_env.push(("DATABASE_URL", database));
    let second = Process::start(&second_env);
    let mails = mail_sink().wait_for(&email, 2).await;
    assert_eq!(
        mails.len(),
        2,
        "the welcome and the verification, once each"
    );
    let (status, _) = second.stop();
    assert!(status.success());
    drop(first);
}
