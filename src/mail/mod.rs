//! Outgoing e-mail. A message is queued inside the transaction of the
//! change it tells about (a registration, an invitation): a row of
//! `mail_messages` with its body sealed, and a [`SendMail`] job. The job
//! sends it over SMTP ([`smtp`]); without SMTP configured it is kept as
//! `not_sent` with the reason. Mail is never sent inside a request.

pub mod reminders;
pub mod smtp;
pub mod templates;

use crate::app::App;
use crate::domain::{TenantId, UserId};
use crate::error::ApiResult;
use crate::jobs::{self, Job, JobCtx, JobError, Options};
use crate::secrets::MasterKey;
use crate::store::{Access, DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use smtp::Mailer;
pub use templates::{Brand, Content};

/// `Name <address>` or a bare address, as `TRASEALLA_MAIL_FROM` takes it.
pub fn parse_mailbox_setting(text: &str) -> Result<String, String> {
    text.parse::<lettre::message::Mailbox>()
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a mailbox (`Name <address>` or an address): {e}"))
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What it is (`welcome`, `verify_email`, `invitation`, …).
    pub kind: &'static str,
    pub to: String,
    /// The user it goes to, when it goes to one.
    pub user: Option<UserId>,
    pub content: Content,
    /// One message with this key, ever (a reminder per tenant, threshold
    /// and admin): a second is not queued.
    pub dedupe_key: Option<String>,
}

/// The sealed body: both parts.
#[derive(Serialize, Deserialize)]
struct Body {
    text: String,
    html: String,
}

fn slot(id: Uuid) -> String {
    format!("mail_messages.{id}")
}

/// Queues `mail` for the transaction's tenant: the message row and the job
/// that sends it. `None` when a message with its dedupe key exists.
pub async fn queue(
    tx: &mut impl Scoped,
    master: &MasterKey,
    mail: Outgoing,
    now: DateTime<Utc>,
) -> ApiResult<Option<Uuid>> {
    let id = Uuid::now_v7();
    let body = serde_json::to_string(&Body {
        text: mail.content.text,
        html: mail.content.html,
    })
    .map_err(|e| crate::error::ApiError::internal(format!("mail body: {e}")))?;
    let sealed = master
        .seal(&slot(id), &body)
        .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
    let n = tx
        .execute(
            "INSERT INTO mail_messages (tenant_id, id, kind, recipient, user_id, subject, body,
                                        dedupe_key, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9)
             ON CONFLICT (tenant_id, dedupe_key) DO NOTHING",
            &[
                &id,
                &mail.kind,
                &mail.to,
                &mail.user.map(|u| u.0),
                &mail.content.subject,
                &sealed,
                &mail.dedupe_key,
                &now,
            ],
        )
        .await?;
    if n == 0 {
        return Ok(None);
    }
    let tenant = tx.tenant_id();
    jobs::enqueue(
        tx,
        &SendMail {
            tenant_id: tenant,
            message_id: id,
        },
        Options::default(),
        now,
    )
    .await?;
    Ok(Some(id))
}

/// The tenant's branding and address, for its messages.
pub async fn brand(tx: &mut impl Scoped, app: &App) -> ApiResult<Brand> {
    struct R {
        name: String,
        slug: String,
        logo_url: Option<String>,
        settings: serde_json::Value,
        features: serde_json::Value,
    }
    impl FromRow for R {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(R {
                name: r.get("name")?,
                slug: r.get("slug")?,
                logo_url: r.get("logo_url")?,
                settings: r.get("settings")?,
                features: r.get("features")?,
            })
        }
    }
    let r: R = tx
        .query_one(
            "SELECT t.name, t.slug, t.logo_url, t.settings, s.features
             FROM tenants t JOIN subscriptions s ON s.tenant_id = $1
             WHERE t.id = $1",
            &[],
        )
        .await?;
    let branded = r
        .features
        .as_array()
        .is_some_and(|f| f.iter().any(|v| v == "custom_branding"));
    let color = r
        .settings
        .get("brand_color")
        .and_then(|c| c.as_str())
        .filter(|c| templates::is_color(c))
        .map(str::to_owned);
    Ok(Brand {
        name: r.name,
        base_url: tenant_url(&app.config, &r.slug),
        logo_url: r.logo_url.filter(|_| branded),
        color: color.filter(|_| branded),
    })
}

/// The tenant's own address: `scheme://<slug>.<base domain>[:port]`, the
/// scheme and port from `TRASEALLA_PUBLIC_URL` (else http and the port
/// the server listens on).
pub fn tenant_url(config: &crate::config::Config, slug: &str) -> String {
    let base = config.base_domain.trim().trim_start_matches('.');
    let (scheme, port) = match config.public_url.as_deref() {
        Some(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            let port = rest
                .rsplit_once(':')
                .map(|(_, p)| p)
                .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            (scheme.to_owned(), port)
        }
        None => match config.listen.port() {
            0 | 80 => ("http".to_owned(), String::new()),
            p => ("http".to_owned(), format!(":{p}")),
        },
    };
    format!("{scheme}://{slug}.{base}{port}")
}

/// The tenant's active admins: who its notices go to.
pub async fn admins(tx: &mut impl Scoped) -> ApiResult<Vec<(UserId, String, String)>> {
    struct A(UserId, String, String);
    impl FromRow for A {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(A(r.get("id")?, r.get("email")?, r.get("full_name")?))
        }
    }
    let rows: Vec<A> = tx
        .query(
            "SELECT id, email, full_name FROM users
             WHERE tenant_id = $1 AND role = 'admin' AND is_active
             ORDER BY is_owner DESC, created_at, id",
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|a| (a.0, a.1, a.2)).collect())
}

/// The notices billing and usage send ("payment failed", "plan changed",
/// "usage at 80 % / 100 %"): a message to each of the tenant's active
/// admins, in the transaction of the change. With `key`, once per tenant
/// and key, ever (a usage alert per limit, threshold and month). The number
/// of messages queued.
pub async fn notify_admins(
    tx: &mut impl Scoped,
    app: &App,
    notice: &templates::Notice,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    let brand = brand(tx, app).await?;
    let mut queued = 0;
    for (user, email, name) in admins(tx).await? {
        let mail = Outgoing {
            kind: notice.kind(),
            to: email,
            user: Some(user),
            content: templates::notice(&brand, &name, notice),
            dedupe_key: key.map(|k| format!("{}:{k}:{user}", notice.kind())),
        };
        if queue(tx, &app.master, mail, now).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Sends one queued message.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendMail {
    pub tenant_id: TenantId,
    pub message_id: Uuid,
}

struct Queued {
    status: String,
    recipient: String,
    subject: String,
    body: Option<String>,
}

impl FromRow for Queued {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Queued {
            status: r.get("status")?,
            recipient: r.get("recipient")?,
            subject: r.get("subject")?,
            body: r.get("body")?,
        })
    }
}

impl Job for SendMail {
    const KIND: &'static str = "send_mail";

    async fn run(self, app: &App, ctx: &JobCtx) -> Result<(), JobError> {
        let now = app.clock.now();
        let mut tx = app.store.platform(Access::Read).await?;
        let message: Option<Queued> = tx
            .for_tenant(self.tenant_id)
            .query_opt(
                "SELECT status, recipient, subject, body FROM mail_messages
                 WHERE tenant_id = $1 AND id = $2",
                &[&self.message_id],
            )
            .await?;
        tx.commit().await?;
        // Gone with its tenant, or already sent by an earlier attempt.
        let Some(message) = message else {
            return Ok(());
        };
        if message.status == "sent" {
            return Ok(());
        }
        let Some(mailer) = app.mailer.as_deref() else {
            self.record(
                app,
                "not_sent",
                Some("no SMTP server is configured (TRASEALLA_SMTP_URL)"),
                now,
            )
            .await?;
            return Ok(());
        };
        let Some(sealed) = message.body else {
            self.record(app, "dead", Some("the message's body was removed"), now)
                .await?;
            return Ok(());
        };
        let body: Body = app
            .master
            .open_or_seal(&slot(self.message_id), &sealed)
            .map_err(JobError::from)
            .and_then(|b| {
                serde_json::from_str(&b.value).map_err(|e| JobError(format!("mail body: {e}")))
            })?;
        match mailer
            .send(&message.recipient, &message.subject, body.text, body.html)
            .await
        {
            Ok(()) => {
                self.record(app, "sent", None, app.clock.now()).await?;
                app.meter
                    .count(self.tenant_id, crate::usage::Metric::EmailsSent, 1);
                Ok(())
            }
            Err(e) => {
                let status = if ctx.is_last_attempt() {
                    "dead"
                } else {
                    "retrying"
                };
                self.record(app, status, Some(&e), app.clock.now()).await?;
                Err(JobError(e))
            }
        }
    }
}

impl SendMail {
    async fn record(
        &self,
        app: &App,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let sent = status == "sent";
        let mut tx = app.store.platform(Access::Write).await?;
        tx.for_tenant(self.tenant_id)
            .execute(
                "UPDATE mail_messages
                 SET status = $3, error = $4, attempts = attempts + 1, updated_at = $5,
                     sent_at = CASE WHEN $6 THEN $5 ELSE sent_at END,
                     body = CASE WHEN $6 THEN NULL ELSE body END
                 WHERE tenant_id = $1 AND id = $2",
                &[&self.message_id, &status, &error, &now, &sent],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The states of a message.
pub const STATUSES: &[&str] = &["queued", "sent", "not_sent", "retrying", "dead"];

/// A message as tenant admins and platform admins see it: never its body.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `welcome`, `verify_email`, `invitation`, `password_reset`,
    /// `trial_reminder`, `trial_ended`, `payment_failed`, `plan_changed`,
    /// `usage_alert`.
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// `queued`, `sent`, `not_sent` (no SMTP server configured),
    /// `retrying` (the last attempt failed) or `dead` (gave up).
    pub status: String,
    /// Why it was not sent, or the mail server's answer to the last attempt.
    pub error: Option<String>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl FromRow for MessageView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(MessageView {
            id: r.get("id")?,
            kind: r.get("kind")?,
            recipient: r.get("recipient")?,
            subject: r.get("subject")?,
            status: r.get("status")?,
            error: r.get("error")?,
            attempts: r.get("attempts")?,
            created_at: r.get("created_at")?,
            sent_at: r.get("sent_at")?,
        })
    }
}

const MESSAGE_COLUMNS: &str =
    "id, kind, recipient, subject, status, error, attempts, created_at, sent_at";

/// The tenant's latest messages, newest first.
pub async fn messages(tx: &mut impl Scoped, limit: i64) -> ApiResult<Vec<MessageView>> {
    Ok(tx
        .query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM mail_messages WHERE tenant_id = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            &[&limit],
        )
        .await?)
}

/// A message as the platform admin sees it: with its tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformMessageView {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub message: MessageView,
}

impl FromRow for PlatformMessageView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(PlatformMessageView {
            tenant_id: r.get("tenant_id")?,
            message: MessageView::from_row(r)?,
        })
    }
}

/// Every tenant's latest messages, optionally of one status, newest first.
pub async fn all_messages(
    store: &crate::store::Store,
    status: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<PlatformMessageView>> {
    let mut tx = store.platform(Access::Read).await?;
    let rows = match status {
        Some(status) => {
            tx.query(
                &format!(
                    "SELECT tenant_id, {MESSAGE_COLUMNS} FROM mail_messages WHERE status = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ),
                &[&status, &limit],
            )
            .await?
        }
        None => {
            tx.query(
                &format!(
                    "SELECT tenant_id, {MESSAGE_COLUMNS} FROM mail_messages
                     ORDER BY created_at DESC, id DESC LIMIT $1"
                ),
                &[&limit],
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(rows)
}
