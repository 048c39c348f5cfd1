//! Webhook endpoints: where a tenant's events go, which ones, and the
//! secret deliveries are signed with (`whsec_` + base64 of 32 random bytes,
//! sealed with the master key at rest, shown at creation and rotation
//! only). After a rotation the previous secret signs too, for 24 hours.

use super::delivery;
use crate::app::App;
use crate::auth::TenantAdmin;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::events::{self, EventType};
use crate::pagination::{Page, PageRequest};
use crate::store::{DbResult, FromRow, Row, Scoped};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters a URL takes.
pub const URL_MAX: usize = 2000;
/// The most characters a description takes.
pub const DESCRIPTION_MAX: usize = 500;
/// How long the previous secret keeps signing after a rotation.
pub fn overlap() -> Duration {
    Duration::hours(24)
}

const SECRET_PREFIX: &str = "whsec_";

/// `POST /api/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are POSTed: `https://` (plain `http://` only with
    /// TRASEALLA_WEBHOOK_ALLOW_PRIVATE), not resolving to a loopback,
    /// private, link-local or metadata address.
    #[schema(schema_with = crate::contract::webhook_url)]
    pub url: String,
    /// The event types it receives (see the description's `webhooks`).
    #[schema(schema_with = crate::contract::event_types)]
    pub events: Vec<String>,
    #[schema(schema_with = crate::contract::clearable::<{ DESCRIPTION_MAX }>)]
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// `PATCH /api/webhooks/{id}`: what is given changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    #[schema(schema_with = crate::contract::webhook_url_or_null)]
    pub url: Option<String>,
    #[schema(schema_with = crate::contract::event_types_or_null)]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ DESCRIPTION_MAX }>)]
    pub description: Option<Option<String>>,
    /// `true` turns a disabled endpoint back on (its failures forgotten);
    /// `false` turns it off.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    /// When it was turned off, by an admin or after three days of failed
    /// deliveries, and why.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` when the last one
    /// succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `whsec_…`: only in the answers of the create and of a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl FromRow for WebhookView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let events: Value = r.get("events")?;
        let until: Option<DateTime<Utc>> = r.get("previous_secret_until")?;
        Ok(WebhookView {
            id: r.get("id")?,
            url: r.get("url")?,
            description: r.get("description")?,
            events: events
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect(),
            enabled: r.get("enabled")?,
            disabled_at: r.get("disabled_at")?,
            disabled_reason: r.get("disabled_reason")?,
            failing_since: r.get("failing_since")?,
            previous_secret_expires_at: until,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            secret: None,
        })
    }
}

const COLUMNS: &str = "id, url, description, events, enabled, disabled_at, disabled_reason,
                       failing_since, previous_secret_until, created_at, updated_at";

/// The tenant's endpoints, oldest first.
pub async fn list(tx: &mut impl Scoped) -> ApiResult<Vec<WebhookView>> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id");
    Ok(tx.query(&sql, &[]).await?)
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<WebhookView> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2");
    tx.query_opt(&sql, &[&id])
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The URL's rules ([`crate::outbound::check_url_resolved`]).
async fn check_url(app: &App, e: &mut FieldErrors, url: &str) -> Option<String> {
    let url = url.trim();
    if url.chars().count() > URL_MAX {
        e.add("url", format!("must have at most {URL_MAX} characters"));
        return None;
    }
    match crate::outbound::check_url_resolved(url, app.config.webhook_allow_private).await {
        Ok(parsed) => Some(parsed.to_string()),
        Err(why) => {
            e.add("url", why);
            None
        }
    }
}

/// The most names a list of event types may hold (duplicates included).
pub const EVENTS_MAX: usize = crate::events::TYPES.len() * 2;

/// Event type names: known, at least one, at most [`EVENTS_MAX`];
/// duplicates dropped.
fn check_events(e: &mut FieldErrors, events: Vec<String>) -> Option<Value> {
    if events.len() > EVENTS_MAX {
        e.add("events", format!("name at most {EVENTS_MAX} event types"));
        return None;
    }
    let mut out: Vec<&'static str> = Vec::new();
    for name in &events {
        match EventType::parse(name) {
            Some(t) => {
                if !out.contains(&t.as_str()) {
                    out.push(t.as_str());
                }
            }
            None => {
                e.add("events", format!("{name:?} is not an event type"));
                return None;
            }
        }
    }
    if out.is_empty() {
        e.add("events", "name at least one event type");
        return None;
    }
    Some(json!(out))
}

fn check_description(e: &mut FieldErrors, d: Option<String>) -> Option<Option<String>> {
    crate::tenancy::clearable(e, "description", Some(d), DESCRIPTION_MAX)
}

/// A new secret: `whsec_` and base64 of 32 random bytes.
fn new_secret() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(ApiError::internal)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Where an endpoint's secrets are sealed (the AAD: a sealed secret moved
/// to another endpoint's row does not open).
fn slot(endpoint: Uuid) -> String {
    format!("webhook_endpoints.secret:{endpoint}")
}

fn seal(app: &App, endpoint: Uuid, secret: &str) -> ApiResult<String> {
    app.master
        .seal(&slot(endpoint), secret)
        .map_err(ApiError::internal)
}

/// The keys deliveries are signed with now: the current secret's bytes,
/// and the previous one's during the overlap after a rotation.
pub fn signing_secrets(
    app: &App,
    endpoint: Uuid,
    sealed: &str,
    previous: Option<&str>,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Vec<u8>>> {
    let open = |stored: &str| -> ApiResult<Vec<u8>> {
        let secret = app
            .master
            .open_or_seal(&slot(endpoint), stored)
            .map_err(ApiError::internal)?
            .value;
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(&secret);
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(ApiError::internal)
    };
    let mut keys = vec![open(sealed)?];
    if let (Some(previous), Some(until)) = (previous, previous_until) {
        if until > now {
            keys.push(open(previous)?);
        }
    }
    Ok(keys)
}

pub async fn create(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    app: &App,
    input: NewWebhook,
    now: DateTime<Utc>,
) -> ApiResult<WebhookView> {
    let mut e = FieldErrors::default();
    let url = check_url(app, &mut e, &input.url).await;
    let events = check_events(&mut e, input.events);
    let description = check_description(&mut e, input.description);
    e.finish()?;
    let (Some(url), Some(events)) = (url, events) else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    let id = Uuid::now_v7();
    let secret = new_secret()?;
    let enabled = input.enabled.unwrap_or(true);
    tx.execute(
        "INSERT INTO webhook_endpoints (tenant_id, id, url, description, events, enabled, secret,
                                        disabled_at, disabled_reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        &[
            &id,
            &url,
            &description.flatten(),
            &events,
            &enabled,
            &seal(app, id, &secret)?,
            &(!enabled).then_some(now),
            &(!enabled).then_some("turned off when it was created"),
            &now,
        ],
    )
    .await?;
    let mut view = get(tx, id).await?;
    crate::audit::record(
        tx,
        &admin.actor(),
        crate::audit::Event::new("webhook.created")
            .target("webhook", id)
            .after(json!({"url": view.url, "events": view.events, "enabled": view.enabled})),
        now,
    )
    .await?;
    view.secret = Some(secret);
    Ok(view)
}

pub async fn update(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    app: &App,
    id: Uuid,
    input: WebhookChange,
    now: DateTime<Utc>,
) -> ApiResult<WebhookView> {
    let before = get(tx, id).await?;
    let mut e = FieldErrors::default();
    let url = match &input.url {
        Some(u) => check_url(app, &mut e, u).await,
        None => None,
    };
    let events = input.events.and_then(|ev| check_events(&mut e, ev));
    let description = input
        .description
        .and_then(|d| crate::tenancy::clearable(&mut e, "description", Some(d), DESCRIPTION_MAX));
    e.finish()?;
    // Turned on: its failures are forgotten. Turned off: says so.
    let (turn_on, turn_off) = match input.enabled {
        Some(true) => (!before.enabled, false),
        Some(false) => (false, before.enabled),
        None => (false, false),
    };
    tx.execute(
        "UPDATE webhook_endpoints SET
            url = COALESCE($3, url),
            events = COALESCE($4, events),
            description = CASE WHEN $5 THEN $6 ELSE description END,
            enabled = CASE WHEN $7 THEN true WHEN $8 THEN false ELSE enabled END,
            disabled_at = CASE WHEN $7 THEN NULL WHEN $8 THEN $9 ELSE disabled_at END,
            disabled_reason = CASE WHEN $7 THEN NULL WHEN $8 THEN 'turned off by an admin' ELSE disabled_reason END,
            failing_since = CASE WHEN $7 THEN NULL ELSE failing_since END,
            updated_at = $9
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &url,
            &events,
            &description.is_some(),
            &description.flatten(),
            &turn_on,
            &turn_off,
            &now,
        ],
    )
    .await?;
    let after = get(tx, id).await?;
    crate::audit::record(
        tx,
        &admin.actor(),
        crate::audit::Event::new("webhook.updated")
            .target("webhook", id)
            .change(&before, &after),
        now,
    )
    .await?;
    Ok(after)
}

pub async fn delete(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let before = get(tx, id).await?;
    tx.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    crate::audit::record(
        tx,
        &admin.actor(),
        crate::audit::Event::new("webhook.deleted")
            .target("webhook", id)
            .after(json!({"url": before.url})),
        now,
    )
    .await?;
    Ok(())
}

/// A new secret; the current one keeps signing for [`overlap`].
pub async fn rotate(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    app: &App,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<WebhookView> {
    get(tx, id).await?;
    let secret = new_secret()?;
    tx.execute(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3,
                secret = $4, updated_at = $5
          WHERE tenant_id = $1 AND id = $2",
        &[&id, &(now + overlap()), &seal(app, id, &secret)?, &now],
    )
    .await?;
    crate::audit::record(
        tx,
        &admin.actor(),
        crate::audit::Event::new("webhook.secret_rotated").target("webhook", id),
        now,
    )
    .await?;
    let mut view = get(tx, id).await?;
    view.secret = Some(secret);
    Ok(view)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// From 1.
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status; `null` when none came (refused, timed out).
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    /// The first KiB of the receiver's answer.
    pub response: Option<String>,
    /// Why the attempt failed, when no status says it.
    pub error: Option<String>,
}

impl FromRow for AttemptView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(AttemptView {
            attempt: r.get("attempt")?,
            attempted_at: r.get("attempted_at")?,
            status_code: r.get("status_code")?,
            duration_ms: r.get("duration_ms")?,
            response: r.get("response")?,
            error: r.get("error")?,
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// The event: `webhook-id` of every attempt.
    pub event_id: Uuid,
    pub event_type: String,
    pub record_type: Option<String>,
    pub record_id: Option<Uuid>,
    /// `pending`, `succeeded` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Each attempt, first to last.
    pub attempt_log: Vec<AttemptView>,
}

impl FromRow for DeliveryView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let payload: String = r.get("payload")?;
        Ok(DeliveryView {
            id: r.get("id")?,
            event_id: r.get("event_id")?,
            event_type: r.get("type")?,
            record_type: r.get("record_type")?,
            record_id: r.get("record_id")?,
            state: r.get("state")?,
            attempts: r.get("attempts")?,
            next_attempt_at: r.get("next_attempt_at")?,
            last_status: r.get("last_status")?,
            last_error: r.get("last_error")?,
            created_at: r.get("created_at")?,
            finished_at: r.get("finished_at")?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            attempt_log: Vec::new(),
        })
    }
}

const DELIVERY_SELECT: &str =
    "SELECT d.id, d.event_id, v.type, v.record_type, v.record_id, d.state, d.attempts,
            d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at, v.payload
       FROM webhook_deliveries d
       JOIN outbox_events v ON v.tenant_id = $1 AND v.id = d.event_id
      WHERE d.tenant_id = $1";

struct AttemptRow(Uuid, AttemptView);

impl FromRow for AttemptRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(AttemptRow(r.get("delivery_id")?, AttemptView::from_row(r)?))
    }
}

/// Adds each delivery's attempts, in one query.
async fn with_attempts(
    tx: &mut impl Scoped,
    mut list: Vec<DeliveryView>,
) -> ApiResult<Vec<DeliveryView>> {
    if list.is_empty() {
        return Ok(list);
    }
    let ids: Vec<Uuid> = list.iter().map(|d| d.id).collect();
    let sql = format!(
        "SELECT a.delivery_id, a.attempt, a.attempted_at, a.status_code, a.duration_ms, a.response, a.error
           FROM webhook_attempts a WHERE a.tenant_id = $1 AND {} ORDER BY a.attempt",
        crate::crm::id_in(tx.dialect(), "a.delivery_id")
    );
    let rows: Vec<AttemptRow> = tx.query(&sql, &[&crate::store::IdList(ids)]).await?;
    for AttemptRow(delivery, attempt) in rows {
        if let Some(d) = list.iter_mut().find(|d| d.id == delivery) {
            d.attempt_log.push(attempt);
        }
    }
    Ok(list)
}

/// An endpoint's deliveries, newest first, with their attempts.
pub async fn deliveries(
    tx: &mut impl Scoped,
    endpoint: Uuid,
    page: PageRequest,
) -> ApiResult<Page<DeliveryView>> {
    get(tx, endpoint).await?;
    let sql = format!(
        "{DELIVERY_SELECT} AND d.endpoint_id = $2 AND d.id < $3 ORDER BY d.id DESC LIMIT $4"
    );
    let rows: Vec<DeliveryView> = tx
        .query(&sql, &[&endpoint, &page.before(), &page.fetch()])
        .await?;
    let page = page.page(rows, |d| d.id);
    Ok(Page {
        items: with_attempts(tx, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

async fn delivery(tx: &mut impl Scoped, endpoint: Uuid, id: Uuid) -> ApiResult<DeliveryView> {
    let sql = format!("{DELIVERY_SELECT} AND d.endpoint_id = $2 AND d.id = $3");
    let found: DeliveryView = tx
        .query_opt(&sql, &[&endpoint, &id])
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(with_attempts(tx, vec![found]).await?.remove(0))
}

fn refuse_disabled(view: &WebhookView) -> ApiResult<()> {
    if view.enabled {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Conflict,
            "the endpoint is disabled; turn it on first",
        ))
    }
}

/// Sends a `webhook.test` event to this endpoint alone, through the queue
/// like any other.
pub async fn send_test(
    tx: &mut impl Scoped,
    _admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<DeliveryView> {
    let view = get(tx, id).await?;
    refuse_disabled(&view)?;
    let event = Uuid::now_v7();
    let data = json!({
        "webhook_id": id,
        "message": "A test event from Trasealla CRM: the signature verifies with this endpoint's secret.",
    });
    let row = events::Outboxed {
        id: event,
        kind: events::TEST_TYPE,
        record_type: None,
        record_id: None,
        payload: events::body(events::TEST_TYPE, now, data),
    };
    events::write(tx, &[row], &[(id, event, format!("test:{event}"))], now).await?;
    let sql = format!("{DELIVERY_SELECT} AND d.endpoint_id = $2 AND d.event_id = $3");
    let found: DeliveryView = tx
        .query_opt(&sql, &[&id, &event])
        .await?
        .ok_or_else(|| ApiError::internal("the test delivery was not written"))?;
    Ok(found)
}

/// Attempts a delivery again now: a finished one once more (no retries
/// follow), a pending one without waiting for its next attempt.
pub async fn retry(
    tx: &mut impl Scoped,
    _admin: &TenantAdmin<'_>,
    endpoint: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<DeliveryView> {
    let view = get(tx, endpoint).await?;
    delivery(tx, endpoint, id).await?;
    refuse_disabled(&view)?;
    let no_more = i64::try_from(delivery::RETRY_SCHEDULE.len()).unwrap_or(i64::MAX);
    tx.execute(
        "UPDATE webhook_deliveries SET
            retries_used = CASE WHEN state = 'pending' THEN retries_used ELSE $3 END,
            state = 'pending', next_attempt_at = $4, finished_at = NULL
          WHERE tenant_id = $1 AND id = $2",
        &[&id, &no_more, &now],
    )
    .await?;
    crate::jobs::enqueue(
        tx,
        &delivery::Deliver { delivery: id },
        crate::jobs::Options::default(),
        now,
    )
    .await?;
    delivery(tx, endpoint, id).await
}
