//! E-mail verification and password reset: the messages with their
//! single-use links ([`super::links`]), and what redeeming a link does.

use super::links::{self, Purpose};
use crate::app::App;
use crate::audit::{self, Actor, ActorKind, Event};
use crate::domain::{Email, Password, TenantId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::mail::{self, templates, Outgoing};
use crate::store::{Access, DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Duration};

/// Reset requests one address may cause per hour.
pub const RESETS_PER_ADDRESS_PER_HOUR: i64 = 5;
/// Reset requests one client may make per hour.
pub const RESETS_PER_CLIENT_PER_HOUR: i64 = 20;
/// Verification messages one user may ask for per hour.
pub const VERIFICATIONS_PER_HOUR: i64 = 5;

fn user_actor(user: UserId, client: Option<&str>) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(user.0),
        name: None,
        client_addr: client.map(str::to_owned),
    }
}

/// Queues the welcome message for a new owner.
pub async fn queue_welcome(
    tx: &mut impl Scoped,
    app: &App,
    user: UserId,
    email: &str,
    full_name: &str,
    now: DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let brand = mail::brand(tx, app).await?;
    mail::queue(
        tx,
        &app.master,
        Outgoing {
            kind: "welcome",
            to: email.to_owned(),
            user: Some(user),
            content: templates::welcome(&brand, full_name),
            dedupe_key: None,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Queues a message with a link that confirms `email` is `user`'s.
pub async fn queue_verification(
    tx: &mut impl Scoped,
    app: &App,
    user: UserId,
    email: &str,
    full_name: &str,
    now: DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let token = links::issue(tx, user, email, Purpose::VerifyEmail, now).await?;
    let brand = mail::brand(tx, app).await?;
    mail::queue(
        tx,
        &app.master,
        Outgoing {
            kind: "verify_email",
            to: email.to_owned(),
            user: Some(user),
            content: templates::verify_email(&brand, full_name, &token),
            dedupe_key: None,
        },
        now,
    )
    .await?;
    Ok(())
}

/// `POST /api/auth/verify-email`: confirms the address the link was sent
/// to, if it is still the user's.
pub async fn verify_email(app: &App, token: &str) -> ApiResult<TenantId> {
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let r = links::redeem(&mut tx, token, Purpose::VerifyEmail, now).await?;
    let n = tx
        .for_tenant(r.tenant)
        .execute(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3)
             WHERE tenant_id = $1 AND id = $2 AND email = $4",
            &[&r.user, &now, &r.email],
        )
        .await?;
    if n == 0 {
        return Err(links::invalid());
    }
    audit::record(
        &mut tx.for_tenant(r.tenant),
        &user_actor(r.user, None),
        Event::new("user.email_verified").target("user", r.user),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(r.tenant)
}

/// Counts a request for the verification message again: 429 past a few
/// an hour. Before the request's transaction: the count commits on its own.
pub async fn throttle_verification(app: &App, user: UserId) -> ApiResult<()> {
    crate::ratelimit::hit(
        app,
        &format!("verify:{user}"),
        VERIFICATIONS_PER_HOUR,
        Duration::hours(1),
    )
    .await
}

/// A signed-in user asks for the verification message again (throttled by
/// [`throttle_verification`]): 409 when the address is confirmed already.
pub async fn resend_verification(
    tx: &mut impl Scoped,
    app: &App,
    user: UserId,
) -> ApiResult<String> {
    struct U {
        email: String,
        full_name: String,
        verified: Option<DateTime<chrono::Utc>>,
    }
    impl FromRow for U {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(U {
                email: r.get("email")?,
                full_name: r.get("full_name")?,
                verified: r.get("email_verified_at")?,
            })
        }
    }
    let u: U = tx
        .query_opt(
            "SELECT email, full_name, email_verified_at FROM users
             WHERE tenant_id = $1 AND id = $2",
            &[&user],
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    if u.verified.is_some() {
        return Err(ApiError::conflict(
            "your e-mail address is confirmed already",
        ));
    }
    let now = app.clock.now();
    queue_verification(tx, app, user, &u.email, &u.full_name, now).await?;
    Ok(u.email)
}

/// `POST /api/auth/password-reset`: when an active user has this address,
/// queues a message with a link to choose a new password. The caller
/// answers the same either way; throttled per address and per client.
pub async fn request_reset(app: &App, email: &Email, client: &str) -> ApiResult<()> {
    let now = app.clock.now();
    crate::ratelimit::hit(
        app,
        &format!("reset_client:{client}"),
        RESETS_PER_CLIENT_PER_HOUR,
        Duration::hours(1),
    )
    .await?;
    crate::ratelimit::hit(
        app,
        &format!("reset_email:{}", email.as_str()),
        RESETS_PER_ADDRESS_PER_HOUR,
        Duration::hours(1),
    )
    .await?;
    struct U {
        tenant: TenantId,
        id: UserId,
        full_name: String,
    }
    impl FromRow for U {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(U {
                tenant: r.get("tenant_id")?,
                id: r.get("id")?,
                full_name: r.get("full_name")?,
            })
        }
    }
    let mut tx = app.store.platform(Access::Write).await?;
    let user: Option<U> = tx
        .query_opt(
            "SELECT u.tenant_id, u.id, u.full_name FROM users u
             JOIN tenants t ON t.id = u.tenant_id
             WHERE u.email = $1 AND u.is_active AND t.status <> 'cancelled'",
            &[&email.as_str()],
        )
        .await?;
    if let Some(u) = user {
        let mut scope = tx.for_tenant(u.tenant);
        let token = links::issue(
            &mut scope,
            u.id,
            email.as_str(),
            Purpose::PasswordReset,
            now,
        )
        .await?;
        let brand = mail::brand(&mut scope, app).await?;
        mail::queue(
            &mut scope,
            &app.master,
            Outgoing {
                kind: "password_reset",
                to: email.as_str().to_owned(),
                user: Some(u.id),
                content: templates::password_reset(&brand, &u.full_name, &token),
                dedupe_key: None,
            },
            now,
        )
        .await?;
        audit::record(
            &mut scope,
            &user_actor(u.id, Some(client)),
            Event::new("user.password_reset_requested").target("user", u.id),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    crate::jobs::committed();
    Ok(())
}

/// `POST /api/auth/password-reset/confirm`: sets the new password, ends
/// every session and token of the user, and confirms the address (the link
/// reached it).
pub async fn confirm_reset(
    app: &App,
    token: &str,
    password: &Password,
    client: &str,
) -> ApiResult<()> {
    let hash = super::password::hash(password).await?;
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let r = links::redeem(&mut tx, token, Purpose::PasswordReset, now).await?;
    let mut scope = tx.for_tenant(r.tenant);
    let n = scope
        .execute(
            "UPDATE users SET password_hash = $3, token_version = token_version + 1,
                    email_verified_at = COALESCE(email_verified_at, $4), updated_at = $4
             WHERE tenant_id = $1 AND id = $2 AND email = $5 AND is_active",
            &[&r.user, &hash, &now, &r.email],
        )
        .await?;
    if n == 0 {
        return Err(links::invalid());
    }
    scope
        .execute(
            "DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
            &[&r.user],
        )
        .await?;
    audit::record(
        &mut scope,
        &user_actor(r.user, Some(client)),
        Event::new("user.password_reset").target("user", r.user),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
