//! The audit log: who did what to a tenant, from where, with the state
//! before and after. Entries are written in the same transaction as the
//! change they record, so a change and its entry exist together or not at
//! all. Nothing in the application updates or deletes an entry; a tenant's
//! entries leave only with the tenant (purge).

use crate::domain::{AdminId, TenantId};
use crate::error::ApiResult;
use crate::pagination::{Page, PageRequest};
use crate::store::{DbResult, FromRow, PlatformTx, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    User,
    PlatformAdmin,
    System,
}

impl ActorKind {
    fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::PlatformAdmin => "platform_admin",
            ActorKind::System => "system",
        }
    }
}

impl Actor {
    pub fn platform_admin(id: AdminId, name: &str, client_addr: &str) -> Actor {
        Actor {
            kind: ActorKind::PlatformAdmin,
            id: Some(id.0),
            name: Some(name.to_owned()),
            client_addr: Some(client_addr.to_owned()),
        }
    }

    /// Stripe, through the webhook event `event` (its id is the actor's
    /// name, so every billing change names the event that made it).
    pub fn stripe(event: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: Some(format!("stripe {event}")),
            client_addr: None,
        }
    }

    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: None,
            client_addr: None,
        }
    }
}

/// What happened, to what.
pub struct Event<'a> {
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str) -> Self {
        Event {
            action,
            target_type: None,
            target_id: None,
            before: None,
            after: None,
        }
    }

    pub fn target(mut self, kind: &'a str, id: impl ToString) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    pub fn change(mut self, before: impl Serialize, after: impl Serialize) -> Self {
        self.before = serde_json::to_value(before).ok();
        self.after = serde_json::to_value(after).ok();
        self
    }

    pub fn after(mut self, after: impl Serialize) -> Self {
        self.after = serde_json::to_value(after).ok();
        self
    }
}

/// Records an event of the tenant the handle is scoped to.
pub async fn record(
    tx: &mut impl Scoped,
    actor: &Actor,
    event: Event<'_>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO audit_log (tenant_id, id, actor_type, actor_id, actor_name, action,
                                target_type, target_id, before, after, client_addr, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &Uuid::now_v7(),
            &actor.kind.as_str(),
            &actor.id,
            &actor.name,
            &event.action,
            &event.target_type,
            &event.target_id,
            &event.before,
            &event.after,
            &actor.client_addr,
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// Records an event that belongs to no live tenant (a purge, a licence).
pub async fn record_platform(
    tx: &mut PlatformTx,
    actor: &Actor,
    event: Event<'_>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO platform_audit_log (id, actor_type, actor_id, actor_name, action,
                                         target_type, target_id, before, after, client_addr, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &Uuid::now_v7(),
            &actor.kind.as_str(),
            &actor.id,
            &actor.name,
            &event.action,
            &event.target_type,
            &event.target_id,
            &event.before,
            &event.after,
            &actor.client_addr,
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// Records an event of `tenant` from platform work.
pub async fn record_for(
    tx: &mut PlatformTx,
    tenant: TenantId,
    actor: &Actor,
    event: Event<'_>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    record(&mut tx.for_tenant(tenant), actor, event, now).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `user`, `platform_admin` or `system`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    /// For example `user.created`, `user.role_changed`, `tenant.suspended`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub client_addr: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FromRow for AuditEntry {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(AuditEntry {
            id: r.get("id")?,
            tenant_id: r.get("tenant_id")?,
            actor_type: r.get("actor_type")?,
            actor_id: r.get("actor_id")?,
            actor_name: r.get("actor_name")?,
            action: r.get("action")?,
            target_type: r.get("target_type")?,
            target_id: r.get("target_id")?,
            before: r.get("before")?,
            after: r.get("after")?,
            client_addr: r.get("client_addr")?,
            created_at: r.get("created_at")?,
        })
    }
}

/// The tenant's entries, newest first.
/// The caller's own tenant's log, for its admins.
pub async fn own_log(
    tx: &mut impl Scoped,
    _admin: &crate::auth::TenantAdmin<'_>,
    page: PageRequest,
) -> ApiResult<Page<AuditEntry>> {
    list(tx, page).await
}

pub async fn list(tx: &mut impl Scoped, page: PageRequest) -> ApiResult<Page<AuditEntry>> {
    let rows: Vec<AuditEntry> = tx
        .query(
            "SELECT id, tenant_id, actor_type, actor_id, actor_name, action, target_type,
                    target_id, before, after, client_addr, created_at
               FROM audit_log WHERE tenant_id = $1 AND id < $2
              ORDER BY id DESC LIMIT $3",
            &[&page.before(), &page.fetch()],
        )
        .await?;
    Ok(page.page(rows, |e| e.id))
}
