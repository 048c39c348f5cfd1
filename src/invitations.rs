//! Invitations: an admin invites a colleague by e-mail with a role; the
//! invitee follows the link, chooses a name and password, and is signed in.
//! Invitations expire after 7 days, can be resent (a new link, the old one
//! stops working) and revoked, and count against the plan's user limit
//! while pending.

use crate::app::App;
use crate::audit::{self, Event};
use crate::auth::links;
use crate::auth::TenantAdmin;
use crate::domain::{Email, Password, Role, TenantId};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::mail::{self, templates, Outgoing};
use crate::staff::{self, UserView};
use crate::store::{Access, DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How long an invitation stays open.
pub fn lifetime() -> Duration {
    Duration::days(7)
}

/// `POST /api/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(required = true, schema_with = crate::contract::email)]
    pub email: Option<String>,
    /// Default `user`.
    pub role: Option<Role>,
}

impl InviteRequest {
    pub fn validate(self) -> ApiResult<(Email, Role)> {
        let mut e = FieldErrors::default();
        let email = e.required("email", self.email);
        let email = email.and_then(|v| e.check("email", Email::parse(&v)));
        e.finish()?;
        let email = email.ok_or_else(|| ApiError::internal("validated without an email"))?;
        Ok((email, self.role.unwrap_or(Role::User)))
    }
}

/// `POST /api/invitations/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token of the invitation's link.
    #[schema(required = true, schema_with = crate::contract::link_token)]
    pub token: Option<String>,
    #[schema(required = true, schema_with = crate::contract::text::<{ staff::FULL_NAME_MAX }>)]
    pub full_name: Option<String>,
    /// At least 8 characters.
    #[schema(required = true, schema_with = crate::contract::password)]
    pub password: Option<Password>,
}

pub struct Acceptance {
    pub token: String,
    pub full_name: String,
    pub password: Password,
}

impl AcceptRequest {
    pub fn validate(self) -> ApiResult<Acceptance> {
        let mut e = FieldErrors::default();
        let token = e.required("token", self.token.filter(|t| !t.is_empty()));
        let full_name = e.required("full_name", self.full_name);
        let full_name = e.text("full_name", full_name, staff::FULL_NAME_MAX);
        let password = e.required("password", self.password);
        let password =
            password.and_then(|p| e.check("password", Password::new_secret(p.expose().to_owned())));
        e.finish()?;
        match (token, full_name, password) {
            (Some(token), Some(full_name), Some(password)) => Ok(Acceptance {
                token,
                full_name,
                password,
            }),
            _ => Err(ApiError::internal("validation passed with a field missing")),
        }
    }
}

/// An invitation as admins see it (never its token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// `pending`, `accepted`, `expired` or `revoked`.
    pub status: &'static str,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// When the link was last sent.
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// The user it became.
    pub user_id: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
}

struct InvitationRow {
    id: Uuid,
    email: String,
    role: Role,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    user_id: Option<Uuid>,
    revoked_at: Option<DateTime<Utc>>,
}

impl FromRow for InvitationRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(InvitationRow {
            id: r.get("id")?,
            email: r.get("email")?,
            role: r.get("role")?,
            invited_by: r.get("invited_by")?,
            created_at: r.get("created_at")?,
            sent_at: r.get("sent_at")?,
            expires_at: r.get("expires_at")?,
            accepted_at: r.get("accepted_at")?,
            user_id: r.get("user_id")?,
            revoked_at: r.get("revoked_at")?,
        })
    }
}

impl InvitationRow {
    fn view(self, now: DateTime<Utc>) -> InvitationView {
        let status = if self.accepted_at.is_some() {
            "accepted"
        } else if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "pending"
        };
        InvitationView {
            id: self.id,
            email: self.email,
            role: self.role,
            status,
            invited_by: self.invited_by,
            created_at: self.created_at,
            sent_at: self.sent_at,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            user_id: self.user_id,
            revoked_at: self.revoked_at,
        }
    }
}

const COLUMNS: &str = "id, email, role, invited_by, created_at, sent_at, expires_at, accepted_at,
                       user_id, revoked_at";

/// Invitations that hold a seat: neither accepted, revoked nor expired.
pub async fn pending(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<i64> {
    let One(n): One<i64> = tx
        .query_one(
            "SELECT count(*) FROM invitations
             WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
               AND expires_at > $2",
            &[&now],
        )
        .await?;
    Ok(n)
}

/// The tenant's invitations, newest first (the latest 200).
pub async fn list(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<Vec<InvitationView>> {
    let rows: Vec<InvitationRow> = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM invitations WHERE tenant_id = $1
                 ORDER BY created_at DESC, id DESC LIMIT 200"
            ),
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.view(now)).collect())
}

async fn fetch(tx: &mut impl Scoped, id: Uuid) -> ApiResult<InvitationRow> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM invitations WHERE tenant_id = $1 AND id = $2"),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

async fn send(
    tx: &mut impl Scoped,
    app: &App,
    admin: &TenantAdmin<'_>,
    email: &str,
    role: Role,
    token: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let inviter: One<String> = tx
        .query_one(
            "SELECT full_name FROM users WHERE tenant_id = $1 AND id = $2",
            &[&admin.user().id],
        )
        .await?;
    let brand = mail::brand(tx, app).await?;
    mail::queue(
        tx,
        &app.master,
        Outgoing {
            kind: "invitation",
            to: email.to_owned(),
            user: None,
            content: templates::invitation(&brand, &inviter.0, role.as_str(), token),
            dedupe_key: None,
        },
        now,
    )
    .await?;
    Ok(())
}

fn already_invited() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "that address has an open invitation already; resend it instead",
    )
    .with_details(serde_json::json!({ "fields": { "email": "has an open invitation" } }))
}

/// Invites `email` as `role`: 409 when the address already has an account
/// or an open invitation here, 402 when no seat is left.
pub async fn invite(
    tx: &mut impl Scoped,
    app: &App,
    admin: &TenantAdmin<'_>,
    email: Email,
    role: Role,
    now: DateTime<Utc>,
) -> ApiResult<InvitationView> {
    let open: Option<One<Uuid>> = tx
        .query_opt(
            "SELECT id FROM invitations
             WHERE tenant_id = $1 AND lower(email) = $2 AND accepted_at IS NULL
               AND revoked_at IS NULL AND expires_at > $3",
            &[&email.as_str(), &now],
        )
        .await?;
    if open.is_some() {
        return Err(already_invited());
    }
    // Platform-wide, an address is one login: an invitation to an address
    // with an account could never be accepted.
    if staff::email_registered(app, email.as_str()).await? {
        return Err(staff::email_taken());
    }
    staff::ensure_seat(tx, now).await?;
    // An expired invitation to the same address gives way to the new one.
    tx.execute(
        "UPDATE invitations SET revoked_at = $3
         WHERE tenant_id = $1 AND lower(email) = $2 AND accepted_at IS NULL
           AND revoked_at IS NULL AND expires_at <= $3",
        &[&email.as_str(), &now],
    )
    .await?;
    let (token, hash) = links::new_token()?;
    let id = Uuid::now_v7();
    let row: InvitationRow = tx
        .query_one(
            &format!(
                "INSERT INTO invitations (tenant_id, id, email, role, token_hash, invited_by,
                                          created_at, sent_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
                 RETURNING {COLUMNS}"
            ),
            &[
                &id,
                &email.as_str(),
                &role,
                &hash,
                &admin.user().id,
                &now,
                &(now + lifetime()),
            ],
        )
        .await
        .map_err(|e| match e {
            crate::store::DbError::Unique(_) => already_invited(),
            e => e.into(),
        })?;
    send(tx, app, admin, email.as_str(), role, &token, now).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("invitation.created")
            .target("invitation", id)
            .after(serde_json::json!({ "email": email.as_str(), "role": role.as_str() })),
        now,
    )
    .await?;
    Ok(row.view(now))
}

/// Sends a new link (the old one stops working) and gives the invitation
/// another 7 days. 409 once accepted or revoked.
pub async fn resend(
    tx: &mut impl Scoped,
    app: &App,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<InvitationView> {
    let current = fetch(tx, id).await?;
    if current.accepted_at.is_some() || current.revoked_at.is_some() {
        return Err(ApiError::conflict(
            "this invitation was accepted or revoked; invite the address again",
        ));
    }
    if current.expires_at <= now {
        // It holds a seat again.
        staff::ensure_seat(tx, now).await?;
    }
    let (token, hash) = links::new_token()?;
    let row: InvitationRow = tx
        .query_one(
            &format!(
                "UPDATE invitations SET token_hash = $3, sent_at = $4, expires_at = $5
                 WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
            ),
            &[&id, &hash, &now, &(now + lifetime())],
        )
        .await?;
    send(tx, app, admin, &row.email, row.role, &token, now).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("invitation.resent").target("invitation", id),
        now,
    )
    .await?;
    Ok(row.view(now))
}

/// Revokes an invitation: its link stops working and its seat is free.
/// 409 once accepted.
pub async fn revoke(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<InvitationView> {
    let current = fetch(tx, id).await?;
    if current.accepted_at.is_some() {
        return Err(ApiError::conflict(
            "this invitation was accepted; deactivate the user instead",
        ));
    }
    if current.revoked_at.is_none() {
        tx.execute(
            "UPDATE invitations SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
            &[&id, &now],
        )
        .await?;
        audit::record(
            tx,
            &admin.actor(),
            Event::new("invitation.revoked").target("invitation", id),
            now,
        )
        .await?;
    }
    Ok(fetch(tx, id).await?.view(now))
}

/// What accepting made: the new user, in their tenant.
pub struct Accepted {
    pub tenant: crate::tenancy::TenantView,
    pub user: UserView,
}

struct Open {
    tenant_id: TenantId,
    id: Uuid,
    email: String,
    role: Role,
    status: String,
}

impl FromRow for Open {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Open {
            tenant_id: r.get("tenant_id")?,
            id: r.get("id")?,
            email: r.get("email")?,
            role: r.get("role")?,
            status: r.get("status")?,
        })
    }
}

/// `POST /api/invitations/accept`: creates the user with the invitation's
/// address (confirmed: the link reached it) and role. 400 `invalid_token`
/// for an unknown, used, revoked or expired link; 403 when the tenant is
/// suspended or cancelled; 402 when the plan has no seat left; 409 when
/// the address got an account meanwhile.
pub async fn accept(app: &App, input: Acceptance) -> ApiResult<Accepted> {
    let hash = crate::auth::password::hash(&input.password).await?;
    let now = app.clock.now();
    let mut tx = app.store.platform(Access::Write).await?;
    let open: Option<Open> = tx
        .query_opt(
            "SELECT i.tenant_id, i.id, i.email, i.role, t.status FROM invitations i
             JOIN tenants t ON t.id = i.tenant_id
             WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
               AND i.expires_at > $2",
            &[&links::hash(&input.token), &now],
        )
        .await?;
    let open = open.ok_or_else(links::invalid)?;
    if open.status == "suspended" || open.status == "cancelled" {
        return Err(ApiError::new(
            ErrorCode::TenantSuspended,
            "this company's account is not active",
        ));
    }
    let email = Email::parse(&open.email).map_err(|_| links::invalid())?;
    let mut scope = tx.for_tenant(open.tenant_id);
    // The invitation held a seat; it becomes a user's, unless the plan
    // shrank meanwhile.
    staff::lock_tenant(&mut scope).await?;
    staff::seat_left(&mut scope, 0).await?;
    let n = scope
        .execute(
            "UPDATE invitations SET accepted_at = $3 WHERE tenant_id = $1 AND id = $2
               AND accepted_at IS NULL",
            &[&open.id, &now],
        )
        .await?;
    if n == 0 {
        return Err(links::invalid());
    }
    let user = staff::insert(
        &mut scope,
        staff::NewUser {
            email,
            full_name: input.full_name,
            password: input.password,
            role: open.role,
            username: None,
        },
        &hash,
        Some(now),
        now,
    )
    .await?;
    scope
        .execute(
            "UPDATE invitations SET user_id = $3 WHERE tenant_id = $1 AND id = $2",
            &[&open.id, &user.id],
        )
        .await?;
    let actor = audit::Actor {
        kind: audit::ActorKind::User,
        id: Some(user.id),
        name: Some(user.username.clone()),
        client_addr: None,
    };
    audit::record(
        &mut scope,
        &actor,
        Event::new("invitation.accepted")
            .target("user", user.id)
            .after(serde_json::json!({ "invitation_id": open.id })),
        now,
    )
    .await?;
    let tenant = crate::tenancy::current(&mut scope).await?;
    tx.commit().await?;
    Ok(Accepted { tenant, user })
}
