//! Webhook deliveries: one job per delivery, signed per the Standard
//! Webhooks specification, with a retry schedule of its own (about a day),
//! in order per record, logged attempt by attempt.
//!
//! A delivery is attempted only when it heads its lane (the deliveries of
//! one record to one endpoint that are still pending, oldest first): a
//! later event about a record waits until the earlier one succeeded or was
//! given up. Whoever finishes a delivery queues the next of its lane; a
//! periodic sweep requeues any head whose job was lost. Before an attempt
//! the delivery is claimed (`locked_until`), so two jobs for it never send
//! it twice at once.

use crate::app::App;
use crate::domain::TenantId;
use crate::jobs::{Job, JobCtx, JobError, Options};
use crate::store::{Access, DbResult, FromRow, One, Row, Scoped};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The wait before each retry after a failed attempt: 10 attempts over
/// about 23.6 hours (Standard Webhooks' schedule, shortened to a day).
pub const RETRY_SCHEDULE: &[i64] = &[5, 60, 300, 1_800, 7_200, 18_000, 28_800, 28_800];

/// How long one attempt may take, connection and answer together.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An endpoint whose attempts have all failed for this long is disabled.
pub fn disable_after() -> Duration {
    Duration::days(3)
}

/// The answer's bytes kept in the log.
const RESPONSE_KEPT: usize = 1024;

/// How long a claim holds a delivery: past the attempt's time limit.
fn claim_for() -> Duration {
    Duration::seconds(60)
}

/// Delivers one event to one endpoint (a tenant job).
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    pub delivery: Uuid,
}

/// A delivery as its job reads it.
struct Due {
    endpoint_id: Uuid,
    lane: String,
    state: String,
    retries_used: i64,
    attempts: i64,
    next_attempt_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    url: String,
    enabled: bool,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
    event_id: Uuid,
    payload: String,
}

impl FromRow for Due {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Due {
            endpoint_id: r.get("endpoint_id")?,
            lane: r.get("lane")?,
            state: r.get("state")?,
            retries_used: r.get("retries_used")?,
            attempts: r.get("attempts")?,
            next_attempt_at: r.get("next_attempt_at")?,
            locked_until: r.get("locked_until")?,
            url: r.get("url")?,
            enabled: r.get("enabled")?,
            secret: r.get("secret")?,
            previous_secret: r.get("previous_secret")?,
            previous_secret_until: r.get("previous_secret_until")?,
            event_id: r.get("event_id")?,
            payload: r.get("payload")?,
        })
    }
}

impl Job for Deliver {
    const KIND: &'static str = "webhook_delivery";

    async fn run(self, app: &App, ctx: &JobCtx) -> Result<(), JobError> {
        let tenant = ctx
            .tenant
            .ok_or_else(|| JobError("a webhook delivery without a tenant".into()))?;
        let Some(due) = claim(app, tenant, self.delivery).await? else {
            return Ok(());
        };
        let secrets = crate::integrations::webhooks::signing_secrets(
            app,
            due.endpoint_id,
            &due.secret,
            due.previous_secret.as_deref(),
            due.previous_secret_until,
            app.clock.now(),
        )
        .map_err(|e| JobError(e.message))?;
        let outcome = attempt(app, &due.url, due.event_id, &due.payload, &secrets).await;
        record(app, tenant, self.delivery, &due, outcome).await?;
        crate::jobs::committed();
        Ok(())
    }
}

/// Takes the delivery for one attempt when it is pending, due, unclaimed,
/// heads its lane and its endpoint is enabled; `None` otherwise (another
/// job has it, or it is done, or it waits).
async fn claim(app: &App, tenant: TenantId, delivery: Uuid) -> Result<Option<Due>, JobError> {
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let mut t = tx.for_tenant(tenant);
    let due: Option<Due> = t
        .query_opt(
            "SELECT d.endpoint_id, d.lane, d.state, d.retries_used, d.attempts, d.next_attempt_at,
                    d.locked_until, e.url, e.enabled, e.secret, e.previous_secret,
                    e.previous_secret_until, v.id AS event_id, v.payload
               FROM webhook_deliveries d
               JOIN webhook_endpoints e ON e.tenant_id = $1 AND e.id = d.endpoint_id
               JOIN outbox_events v ON v.tenant_id = $1 AND v.id = d.event_id
              WHERE d.tenant_id = $1 AND d.id = $2",
            &[&delivery],
        )
        .await?;
    let Some(due) = due else { return Ok(None) };
    if due.state != "pending"
        || due.next_attempt_at.is_some_and(|at| at > now)
        || due.locked_until.is_some_and(|at| at > now)
    {
        return Ok(None);
    }
    if !due.enabled {
        give_up(&mut t, delivery, "the endpoint is disabled", now).await?;
        next_in_lane(&mut t, due.endpoint_id, &due.lane, delivery, now).await?;
        tx.commit().await?;
        return Ok(None);
    }
    let One(behind): One<bool> = t
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries w
                             WHERE w.tenant_id = $1 AND w.endpoint_id = $2 AND w.lane = $3
                               AND w.state = 'pending' AND w.id < $4)",
            &[&due.endpoint_id, &due.lane, &delivery],
        )
        .await?;
    if behind {
        return Ok(None);
    }
    let claimed = t
        .execute(
            "UPDATE webhook_deliveries SET locked_until = $3
              WHERE tenant_id = $1 AND id = $2 AND state = 'pending'
                AND (locked_until IS NULL OR locked_until <= $4)",
            &[&delivery, &(now + claim_for()), &now],
        )
        .await?;
    tx.commit().await?;
    Ok((claimed == 1).then_some(due))
}

/// How one attempt went.
pub struct Outcome {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub duration_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The headers of a signed delivery: `webhook-id`, `webhook-timestamp`
/// and `webhook-signature` (`v1,<base64>` per secret, space-separated).
pub fn sign(id: Uuid, timestamp: i64, body: &str, secrets: &[Vec<u8>]) -> [(String, String); 3] {
    use hmac::{Hmac, Mac};
    let signed = format!("{id}.{timestamp}.{body}");
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|key| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
            mac.update(signed.as_bytes());
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect();
    [
        ("webhook-id".to_owned(), id.to_string()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signatures.join(" ")),
    ]
}

/// One attempt: the URL checked again (an address in it, or a name that
/// now resolves to a private address, is refused), the body posted,
/// signed, within [`ATTEMPT_TIMEOUT`].
async fn attempt(app: &App, url: &str, event: Uuid, body: &str, secrets: &[Vec<u8>]) -> Outcome {
    let at = app.clock.now();
    let started = std::time::Instant::now();
    let done = |status: Option<u16>, response: Option<String>, error: Option<String>| Outcome {
        at,
        status,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        response,
        error,
    };
    let url = match crate::outbound::check_url(url, app.config.webhook_allow_private) {
        Ok(u) => u,
        Err(why) => return done(None, None, Some(format!("the URL {why}"))),
    };
    // The receiver checks the timestamp against its own clock: it is the
    // wall clock's, not the application's (which tests move).
    let timestamp = Utc::now().timestamp();
    let mut request = app
        .hooks
        .client()
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .header("content-type", "application/json");
    for (name, value) in sign(event, timestamp, body, secrets) {
        request = request.header(name, value);
    }
    let response = match request.body(body.to_owned()).send().await {
        Ok(r) => r,
        Err(e) => {
            return done(
                None,
                None,
                Some(crate::outbound::explain(&e, ATTEMPT_TIMEOUT)),
            )
        }
    };
    let status = response.status().as_u16();
    match read_start(response).await {
        Ok(text) => done(Some(status), Some(text), None),
        Err(e) => done(
            Some(status),
            None,
            Some(crate::outbound::explain(&e, ATTEMPT_TIMEOUT)),
        ),
    }
}

/// The first KiB of an answer (cut at a character), reading no further.
async fn read_start(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < RESPONSE_KEPT {
        match response.chunk().await? {
            Some(chunk) => kept.extend_from_slice(&chunk),
            None => break,
        }
    }
    kept.truncate(RESPONSE_KEPT);
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if text.len() > RESPONSE_KEPT {
        let mut cut = RESPONSE_KEPT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(text)
}

/// Records an attempt and what follows from it: the delivery done, or
/// retried on the schedule, or given up; the endpoint's failures counted,
/// and the endpoint disabled after [`disable_after`] of nothing but them.
async fn record(
    app: &App,
    tenant: TenantId,
    delivery: Uuid,
    due: &Due,
    outcome: Outcome,
) -> Result<(), JobError> {
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let mut t = tx.for_tenant(tenant);
    let attempt = due.attempts + 1;
    let status = outcome.status.map(i64::from);
    t.execute(
        "INSERT INTO webhook_attempts (tenant_id, id, delivery_id, attempt, attempted_at,
                                       status_code, duration_ms, response, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &Uuid::now_v7(),
            &delivery,
            &attempt,
            &outcome.at,
            &status,
            &outcome.duration_ms,
            &outcome.response,
            &outcome.error,
        ],
    )
    .await?;
    let error = outcome.error.clone().or_else(|| {
        outcome
            .status
            .filter(|_| !outcome.succeeded())
            .map(|s| format!("the receiver answered {s}"))
    });
    if outcome.succeeded() {
        t.execute(
            "UPDATE webhook_deliveries SET state = 'succeeded', attempts = $3, last_status = $4,
                    last_error = NULL, finished_at = $5, next_attempt_at = NULL, locked_until = NULL
              WHERE tenant_id = $1 AND id = $2",
            &[&delivery, &attempt, &status, &now],
        )
        .await?;
        t.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL
              WHERE tenant_id = $1 AND id = $2 AND failing_since IS NOT NULL",
            &[&due.endpoint_id],
        )
        .await?;
        next_in_lane(&mut t, due.endpoint_id, &due.lane, delivery, now).await?;
    } else {
        let retry = usize::try_from(due.retries_used)
            .ok()
            .and_then(|i| RETRY_SCHEDULE.get(i))
            .map(|secs| now + Duration::seconds(*secs));
        match retry {
            Some(at) => {
                t.execute(
                    "UPDATE webhook_deliveries SET attempts = $3, retries_used = retries_used + 1,
                            last_status = $4, last_error = $5, next_attempt_at = $6,
                            locked_until = NULL
                      WHERE tenant_id = $1 AND id = $2",
                    &[&delivery, &attempt, &status, &error, &at],
                )
                .await?;
                let opts = Options {
                    run_at: Some(at),
                    key: Some(format!("webhook:{delivery}:{attempt}")),
                    max_attempts: None,
                };
                crate::jobs::enqueue(&mut t, &Deliver { delivery }, opts, now).await?;
            }
            None => {
                t.execute(
                    "UPDATE webhook_deliveries SET state = 'failed', attempts = $3, last_status = $4,
                            last_error = $5, finished_at = $6, next_attempt_at = NULL,
                            locked_until = NULL
                      WHERE tenant_id = $1 AND id = $2",
                    &[&delivery, &attempt, &status, &error, &now],
                )
                .await?;
                next_in_lane(&mut t, due.endpoint_id, &due.lane, delivery, now).await?;
            }
        }
        failing(app, &mut t, due.endpoint_id, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends a pending delivery without another attempt.
async fn give_up(
    t: &mut impl Scoped,
    delivery: Uuid,
    why: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    t.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = $3, finished_at = $4,
                next_attempt_at = NULL, locked_until = NULL
          WHERE tenant_id = $1 AND id = $2 AND state = 'pending'",
        &[&delivery, &why, &now],
    )
    .await?;
    Ok(())
}

/// Queues the job of the delivery that now heads the lane `done` left.
async fn next_in_lane(
    t: &mut impl Scoped,
    endpoint: Uuid,
    lane: &str,
    done: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let next: Option<NextRow> = t
        .query_opt(
            "SELECT id, next_attempt_at FROM webhook_deliveries
              WHERE tenant_id = $1 AND endpoint_id = $2 AND lane = $3 AND state = 'pending'
                AND id > $4
              ORDER BY id LIMIT 1",
            &[&endpoint, &lane, &done],
        )
        .await?;
    if let Some(NextRow(id, at)) = next {
        let opts = Options {
            run_at: Some(at.map_or(now, |at| at.max(now))),
            ..Options::default()
        };
        crate::jobs::enqueue(t, &Deliver { delivery: id }, opts, now).await?;
    }
    Ok(())
}

struct NextRow(Uuid, Option<DateTime<Utc>>);

impl FromRow for NextRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(NextRow(r.get("id")?, r.get("next_attempt_at")?))
    }
}

/// Counts a failed attempt against its endpoint: the first failure since
/// the last success starts the clock; after [`disable_after`] the
/// endpoint is disabled, its pending deliveries given up, and the tenant's
/// admins told by e-mail.
async fn failing(
    app: &App,
    t: &mut impl Scoped,
    endpoint: Uuid,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    t.execute(
        "UPDATE webhook_endpoints SET failing_since = $3
          WHERE tenant_id = $1 AND id = $2 AND failing_since IS NULL",
        &[&endpoint, &now],
    )
    .await?;
    let reason = format!(
        "every delivery failed for {} days",
        disable_after().num_days()
    );
    let disabled = t
        .execute(
            "UPDATE webhook_endpoints SET enabled = false, disabled_at = $3, disabled_reason = $4,
                    updated_at = $3
              WHERE tenant_id = $1 AND id = $2 AND enabled AND failing_since <= $5",
            &[&endpoint, &now, &reason, &(now - disable_after())],
        )
        .await?;
    if disabled == 0 {
        return Ok(());
    }
    t.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'the endpoint was disabled',
                finished_at = $3, next_attempt_at = NULL, locked_until = NULL
          WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'pending'",
        &[&endpoint, &now],
    )
    .await?;
    let One(url): One<String> = t
        .query_one(
            "SELECT url FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
            &[&endpoint],
        )
        .await?;
    crate::audit::record(
        t,
        &crate::audit::Actor::system(),
        crate::audit::Event::new("webhook.disabled")
            .target("webhook", endpoint)
            .after(serde_json::json!({ "url": url, "reason": reason })),
        now,
    )
    .await?;
    let notice = crate::mail::templates::Notice::WebhookDisabled { url, reason };
    crate::mail::notify_admins(
        t,
        app,
        &notice,
        Some(&format!("{endpoint}:{}", now.timestamp())),
        now,
    )
    .await?;
    tracing::info!(tenant = %t.tenant_id(), endpoint = %endpoint, "webhook endpoint disabled after days of failed deliveries");
    Ok(())
}

/// Queues the job of every pending delivery that heads its lane, is due
/// since `grace` and is unclaimed: what a lost job (a database error while
/// it was being recorded) or a missed hand-over in a lane left behind.
/// Periodic platform work.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SweepWebhooks {}

struct Stranded(TenantId, Uuid);

impl FromRow for Stranded {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Stranded(r.get("tenant_id")?, r.get("id")?))
    }
}

/// Finished deliveries (and events none waits for) are kept this long.
pub fn kept_for() -> Duration {
    Duration::days(30)
}

impl Job for SweepWebhooks {
    const KIND: &'static str = "sweep_webhooks";

    async fn run(self, app: &App, _ctx: &JobCtx) -> Result<(), JobError> {
        let now = app.clock.now();
        let grace = Duration::minutes(2);
        let mut tx = app.store.platform(Access::Write).await?;
        let stranded: Vec<Stranded> = tx
            .query(
                "SELECT d.tenant_id, d.id FROM webhook_deliveries d
                  WHERE d.state = 'pending' AND d.next_attempt_at <= $1
                    AND (d.locked_until IS NULL OR d.locked_until <= $2)
                    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w
                                     WHERE w.tenant_id = d.tenant_id AND w.endpoint_id = d.endpoint_id
                                       AND w.lane = d.lane AND w.state = 'pending' AND w.id < d.id)
                  LIMIT 1000",
                &[&(now - grace), &now],
            )
            .await?;
        for Stranded(tenant, id) in stranded {
            crate::jobs::enqueue(
                &mut tx.for_tenant(tenant),
                &Deliver { delivery: id },
                Options::default(),
                now,
            )
            .await?;
        }
        // The log is kept for a while, then goes with its events.
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1",
            &[&(now - kept_for())],
        )
        .await?;
        tx.execute(
            "DELETE FROM outbox_events WHERE created_at < $1
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                 WHERE d.tenant_id = outbox_events.tenant_id
                                   AND d.event_id = outbox_events.id)",
            &[&(now - kept_for())],
        )
        .await?;
        tx.commit().await?;
        crate::jobs::committed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_spans_about_a_day() {
        let total: i64 = RETRY_SCHEDULE.iter().sum();
        assert!((20 * 3600..=28 * 3600).contains(&total), "{total}");
        assert!(RETRY_SCHEDULE.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The Standard Webhooks specification's own example: secret, id,
    /// timestamp, body and the signature its reference libraries compute.
    #[test]
    fn signatures_match_the_specifications_example() {
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.1614265330.{body}").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let headers = sign(Uuid::nil(), 1, "{}", &[key.clone(), key]);
        assert_eq!(headers[2].1.split(' ').count(), 2);
        assert!(headers[2].1.starts_with("v1,"));
    }
}
