//! Browser sessions: a row per signed-in browser, named by the `sid` of the
//! cookie's token. The token proves who the caller is; the row proves the
//! session has not been ended. Logging out deletes the row, so the cookie
//! (and any copy of it) stops working on every server at once.

use super::token::{Issued, PLATFORM_ADMIN_ROLE};
use crate::app::App;
use crate::domain::{AdminId, TenantId, UserId};
use crate::error::ApiResult;
use crate::store::{Access, One, Scoped, Store};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A session just started: its id and the token for its cookie.
pub struct Started {
    pub sid: Uuid,
    pub token: Issued,
}

/// Starts a tenant user's session.
pub async fn start_tenant(
    state: &App,
    tenant: TenantId,
    user: UserId,
    role: &str,
) -> ApiResult<Started> {
    let mut tx = state.store.platform(Access::Write).await?;
    let started = insert_tenant(state, &mut tx.for_tenant(tenant), tenant, user, role).await?;
    tx.commit().await?;
    Ok(started)
}

async fn insert_tenant(
    state: &App,
    scope: &mut impl Scoped,
    tenant: TenantId,
    user: UserId,
    role: &str,
) -> ApiResult<Started> {
    let now = state.clock.now();
    let sid = Uuid::now_v7();
    let expires = now + Duration::seconds(state.tokens.ttl_secs());
    let One(ver): One<i64> = scope
        .query_one(
            "SELECT token_version FROM users WHERE tenant_id = $1 AND id = $2",
            &[&user],
        )
        .await?;
    scope
        .execute(
            "INSERT INTO sessions (tenant_id, id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&sid, &user, &now, &expires],
        )
        .await?;
    let token = state
        .tokens
        .issue_session(user.0, Some(tenant.0), role, sid, ver, now)?;
    Ok(Started { sid, token })
}

/// Replaces the session `sid` by a new one, in one transaction, when it
/// still exists and the tenant's slug is `slug` (the host it is handed to):
/// a hand-off link works once, and only on its tenant's host.
pub async fn hand_over(
    state: &App,
    tenant: TenantId,
    sid: Uuid,
    user: UserId,
    role: &str,
    slug: Option<&str>,
) -> ApiResult<Option<Started>> {
    let mut tx = state.store.platform(Access::Write).await?;
    let mut scope = tx.for_tenant(tenant);
    let own: Option<One<String>> = scope
        .query_opt("SELECT slug FROM tenants WHERE id = $1", &[])
        .await?;
    if own.map(|o| o.0).as_deref() != slug {
        return Ok(None);
    }
    let gone = scope
        .execute(
            "DELETE FROM sessions WHERE tenant_id = $1 AND id = $2 AND user_id = $3",
            &[&sid, &user],
        )
        .await?;
    if gone == 0 {
        return Ok(None);
    }
    let started = insert_tenant(state, &mut scope, tenant, user, role).await?;
    tx.commit().await?;
    Ok(Some(started))
}

/// Starts a platform admin's session.
pub async fn start_admin(state: &App, admin: AdminId) -> ApiResult<Started> {
    let now = state.clock.now();
    let sid = Uuid::now_v7();
    let expires = now + Duration::seconds(state.tokens.ttl_secs());
    let mut tx = state.store.platform(Access::Write).await?;
    tx.execute(
        "INSERT INTO admin_sessions (id, admin_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[&sid, &admin, &now, &expires],
    )
    .await?;
    tx.commit().await?;
    let token = state
        .tokens
        .issue_session(admin.0, None, PLATFORM_ADMIN_ROLE, sid, 0, now)?;
    Ok(Started { sid, token })
}

/// Ends a tenant user's session.
pub async fn end_tenant(store: &Store, tenant: TenantId, sid: Uuid) -> ApiResult<()> {
    let mut tx = store.platform(Access::Write).await?;
    tx.for_tenant(tenant)
        .execute(
            "DELETE FROM sessions WHERE tenant_id = $1 AND id = $2",
            &[&sid],
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a platform admin's session.
pub async fn end_admin(store: &Store, sid: Uuid) -> ApiResult<()> {
    let mut tx = store.platform(Access::Write).await?;
    tx.execute("DELETE FROM admin_sessions WHERE id = $1", &[&sid])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes sessions that have expired (their tokens have too).
pub async fn prune(store: &Store, now: DateTime<Utc>) -> ApiResult<u64> {
    let mut tx = store.platform(Access::Write).await?;
    let a = tx
        .execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
        .await?;
    let b = tx
        .execute("DELETE FROM admin_sessions WHERE expires_at <= $1", &[&now])
        .await?;
    tx.commit().await?;
    Ok(a + b)
}

/// "Log out everywhere": moves the user's credential version on, so every
/// token issued before stops working, and ends their browser sessions.
/// Answers how many browser sessions ended.
pub async fn end_all(
    tx: &mut impl Scoped,
    user: &super::SessionUser,
    now: DateTime<Utc>,
) -> ApiResult<u64> {
    tx.execute(
        "UPDATE users SET token_version = token_version + 1 WHERE tenant_id = $1 AND id = $2",
        &[&user.id],
    )
    .await?;
    let ended = tx
        .execute(
            "DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
            &[&user.id],
        )
        .await?;
    crate::audit::record(
        tx,
        &user.actor(),
        crate::audit::Event::new("user.signed_out_everywhere").target("user", user.id),
        now,
    )
    .await?;
    Ok(ended)
}
