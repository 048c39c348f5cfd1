//! Authentication: who is calling, turned into the handle they may use.
//!
//! [`TenantSession`] is the only way a request reaches tenant data: it
//! verifies the bearer token, then opens the tenant-scoped transaction for the
//! token's tenant and, in the same round trip, re-reads what a token cannot
//! vouch for (tenant status, the user still existing and active, their
//! current role). A suspended tenant's old tokens therefore stop at once.

pub mod access;
pub mod links;
pub mod login;
pub mod password;
pub mod recovery;
pub mod roles;
pub mod sessions;
pub mod throttle;
pub mod token;

pub use access::{Owned, Permissions, RecordAccess, RecordType, Scope};
pub use roles::{Manager, TenantAdmin};

use crate::app::App;
use crate::audit::{Actor, ActorKind};
use crate::domain::{AdminId, Role, TenantId, TenantStatus, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::limits::HeavyLease;
use crate::store::{Access, DbResult, FromRow, Held, Row, TxSlot};
use chrono::{DateTime, Utc};
use token::{Claims, PLATFORM_ADMIN_ROLE};

/// A tenant user's request: the tenant-scoped transaction and who they are.
pub struct TenantSession {
    /// The tenant transaction, owned by the request's [`TxSlot`]: committed
    /// when the handler succeeds, rolled back otherwise.
    pub tx: Held,
    pub user: SessionUser,
    /// The tenant, as read when the transaction began.
    pub tenant: Standing,
    /// The browser session, for requests made with a session cookie.
    pub sid: Option<uuid::Uuid>,
    /// For a heavy operation (import, export, report), its place among
    /// the tenant's: given back when the session is dropped, or by
    /// whatever the handler moves it into (an export's streamed body).
    pub heavy: Option<HeavyLease>,
}

impl TenantSession {
    /// The request's place among its tenant's heavy operations, for the
    /// handler to hold while the work lasts. Only the routes marked as
    /// heavy operations have one.
    pub fn take_heavy(&mut self) -> ApiResult<HeavyLease> {
        self.heavy
            .take()
            .ok_or_else(|| ApiError::internal("a heavy operation on a route not marked as one"))
    }
}

#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub username: String,
    pub role: Role,
    pub is_owner: bool,
    /// Their e-mail address, and whether they confirmed it.
    pub email: String,
    pub email_verified: bool,
    pub client_addr: String,
    /// What their role lets them do with records.
    pub access: RecordAccess,
    /// The tenant's plan limit on records (contacts, companies, leads and
    /// deals together); `None`: unlimited.
    pub records_limit: Option<i64>,
    /// The plan's storage in bytes; `None`: unlimited.
    pub storage_limit: Option<i64>,
    /// The plan's rows per CSV import; `None`: unlimited.
    pub import_rows_limit: Option<i64>,
    /// The API key the request came with (acting as its owner), with its
    /// name.
    pub api_key: Option<(uuid::Uuid, String)>,
}

impl SessionUser {
    /// This user as the actor of an audited change (through an API key,
    /// named with it).
    pub fn actor(&self) -> Actor {
        match &self.api_key {
            Some((_, name)) => {
                crate::integrations::keys::actor(self.id, &self.username, name, &self.client_addr)
            }
            None => Actor {
                kind: ActorKind::User,
                id: Some(self.id.0),
                name: Some(self.username.clone()),
                client_addr: Some(self.client_addr.clone()),
            },
        }
    }
}

/// The tenant of a session, as its first statement read it.
#[derive(Debug, Clone)]
pub struct Standing {
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Browser sessions only: the tenant's logo and colour, when its plan
    /// has custom branding.
    pub logo_url: Option<String>,
    pub brand_color: Option<String>,
    pub features: Vec<String>,
    /// Browser sessions only: the IANA zone the user reads times in (their
    /// own, else the tenant's).
    pub timezone: Option<String>,
    /// Browser sessions only: the user's language and region for dates and
    /// numbers (a BCP 47 tag), when they chose one.
    pub locale: Option<String>,
    /// What the plan and its overrides allow.
    pub entitlements: crate::plans::Entitlements,
    /// Stripe's status of the tenant's subscription (`past_due`…), `null`
    /// when it never subscribed.
    pub billing_status: Option<String>,
    pub past_due_since: Option<DateTime<Utc>>,
}

impl Standing {
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// 402 `feature_not_in_plan` unless the tenant's subscription has
    /// `feature` (the features it stores: the plan's with the overrides,
    /// within a self-hosted licence).
    pub fn require(&self, feature: crate::plans::Feature) -> ApiResult<()> {
        if self.has_feature(feature.as_str()) {
            Ok(())
        } else {
            Err(crate::plans::not_in_plan(feature))
        }
    }
}

/// What the per-request check reads, in the transaction's first statement.
struct SessionRow {
    timezone: Option<String>,
    locale: Option<String>,
    logo_url: Option<String>,
    brand_color: Option<String>,
    features: Option<String>,
    plan: crate::domain::PlanCode,
    max_users: Option<i64>,
    limit_overrides: Option<String>,
    tenant_name: String,
    slug: String,
    username: String,
    email: String,
    email_verified_at: Option<DateTime<Utc>>,
    tenant_status: TenantStatus,
    trial_ends_at: Option<DateTime<Utc>>,
    role: Role,
    is_owner: bool,
    is_active: bool,
    token_version: i64,
    /// The stored permissions of the user's custom role, or of their
    /// built-in role once an admin changed it.
    permissions: Option<String>,
    billing_status: Option<String>,
    past_due_since: Option<DateTime<Utc>>,
}

impl FromRow for SessionRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(SessionRow {
            timezone: r.get("timezone")?,
            locale: r.get("locale")?,
            logo_url: r.get("logo_url")?,
            brand_color: r.get("brand_color")?,
            features: r.get("features")?,
            plan: r.get("plan")?,
            max_users: r.get("max_users")?,
            limit_overrides: r.get("limit_overrides")?,
            tenant_name: r.get("name")?,
            slug: r.get("slug")?,
            username: r.get("username")?,
            email: r.get("email")?,
            email_verified_at: r.get("email_verified_at")?,
            tenant_status: r.get("status")?,
            trial_ends_at: r.get("trial_ends_at")?,
            role: r.get("role")?,
            is_owner: r.get("is_owner")?,
            is_active: r.get("is_active")?,
            token_version: r.get("token_version")?,
            permissions: r.get("permissions")?,
            billing_status: r.get("billing_status")?,
            past_due_since: r.get("past_due_since")?,
        })
    }
}

const SESSION_SQL: &str =
    "SELECT t.name, t.slug, t.status, t.trial_ends_at, u.username, u.email, u.email_verified_at,
            u.role, u.is_owner, u.is_active, u.token_version, NULL AS logo_url, NULL AS brand_color,
            CAST(sub.features AS TEXT) AS features, sub.plan, sub.max_users,
            CAST(sub.limit_overrides AS TEXT) AS limit_overrides, NULL AS timezone, NULL AS locale,
            CAST(r.permissions AS TEXT) AS permissions, sub.billing_status, sub.past_due_since
    FROM tenants t JOIN users u ON u.tenant_id = t.id
    LEFT JOIN roles r ON r.tenant_id = $1 AND (r.id = u.role_id OR (u.role_id IS NULL AND r.builtin = u.role))
    JOIN subscriptions sub ON sub.tenant_id = $1
    WHERE t.id = $1 AND u.tenant_id = $1 AND u.id = $2";

/// The same for an API key: the key (`$2`) must still be live, and acts
/// as its owner with its own role when it has one.
const KEY_SESSION_SQL: &str =
    "SELECT t.name, t.slug, t.status, t.trial_ends_at, u.username, u.email, u.email_verified_at,
            u.role, u.is_owner, u.is_active, u.token_version, NULL AS logo_url, NULL AS brand_color,
            CAST(sub.features AS TEXT) AS features, sub.plan, sub.max_users,
            CAST(sub.limit_overrides AS TEXT) AS limit_overrides, NULL AS timezone, NULL AS locale,
            CAST(r.permissions AS TEXT) AS permissions, sub.billing_status, sub.past_due_since,
            k.name AS key_name, CAST(k.scopes AS TEXT) AS key_scopes, k.revoked_at, k.expires_at,
            k.role AS key_role, k.role_id AS key_role_id
    FROM tenants t JOIN api_keys k ON k.tenant_id = $1
    JOIN users u ON u.tenant_id = $1 AND u.id = k.owner_id
    LEFT JOIN roles r ON r.tenant_id = $1 AND (
           (k.role_id IS NOT NULL AND r.id = k.role_id)
        OR (k.role_id IS NULL AND k.role IS NOT NULL AND r.builtin = k.role)
        OR (k.role_id IS NULL AND k.role IS NULL
            AND (r.id = u.role_id OR (u.role_id IS NULL AND r.builtin = u.role))))
    JOIN subscriptions sub ON sub.tenant_id = $1
    WHERE t.id = $1 AND k.id = $2";

/// What [`KEY_SESSION_SQL`] reads beyond a session's row.
struct KeyRow {
    session: SessionRow,
    name: String,
    scopes: String,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    role: Option<Role>,
    role_id: Option<uuid::Uuid>,
}

impl FromRow for KeyRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(KeyRow {
            session: SessionRow::from_row(r)?,
            name: r.get("key_name")?,
            scopes: r.get("key_scopes")?,
            revoked_at: r.get("revoked_at")?,
            expires_at: r.get("expires_at")?,
            role: r.get("key_role")?,
            role_id: r.get("key_role_id")?,
        })
    }
}

/// An API key's request, as its hash resolved: which key, and what the
/// route asks of it.
#[derive(Debug, Clone, Copy)]
pub struct KeyAuth {
    pub id: uuid::Uuid,
    pub needed: crate::integrations::scopes::Needed,
}

impl KeyRow {
    /// Refuses a key that is no longer live, lacks the route's scope, or
    /// whose plan no longer has integrations; otherwise the role it acts
    /// with.
    fn admit(
        &self,
        needed: crate::integrations::scopes::Needed,
        now: DateTime<Utc>,
    ) -> ApiResult<Role> {
        use crate::integrations::scopes::{Needed, Scope};
        if self.revoked_at.is_some() {
            return Err(ApiError::unauthorized("this API key has been revoked"));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::unauthorized("this API key has expired"));
        }
        let features: Vec<String> = self
            .session
            .features
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        if !features
            .iter()
            .any(|f| f == crate::plans::Feature::Integrations.as_str())
        {
            return Err(crate::plans::not_in_plan(
                crate::plans::Feature::Integrations,
            ));
        }
        match needed {
            Needed::AnyKey => {}
            Needed::NotForKeys => {
                return Err(ApiError::forbidden(
                    "API keys cannot use this endpoint; sign in as a user",
                ))
            }
            Needed::Scope(scope) => {
                let held: Vec<Scope> = serde_json::from_str::<Vec<String>>(&self.scopes)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|s| Scope::parse(s))
                    .collect();
                if !held.iter().any(|h| h.grants(scope)) {
                    let name = scope.name();
                    return Err(ApiError::forbidden(format!(
                        "this API key lacks the scope {name}"
                    ))
                    .with_details(serde_json::json!({ "missing_scope": name })));
                }
            }
        }
        let owner = self.session.role;
        match (self.role, self.role_id) {
            (Some(role), _) if role.rank() > owner.rank() => Err(ApiError::forbidden(
                "this API key's role is above its owner's current role",
            )),
            (Some(role), _) => Ok(role),
            // A custom role decides records, never administration.
            (None, Some(_)) => Ok(Role::User),
            (None, None) => Ok(owner),
        }
    }
}

/// The same for a browser session's token: its row must still exist. It
/// also reads what the page frame shows (the branding, and the plan's
/// features that allow it).
const BROWSER_SESSION_SQL: &str =
    "SELECT t.name, t.slug, t.status, t.trial_ends_at, u.username, u.email, u.email_verified_at,
            u.role, u.is_owner, u.is_active, u.token_version, t.logo_url, t.settings ->> 'brand_color' AS brand_color, CAST(sub.features AS TEXT) AS features,
            sub.plan, sub.max_users, CAST(sub.limit_overrides AS TEXT) AS limit_overrides,
            COALESCE(u.timezone, t.timezone) AS timezone, u.locale,
            CAST(r.permissions AS TEXT) AS permissions, sub.billing_status, sub.past_due_since
    FROM tenants t JOIN users u ON u.tenant_id = t.id
    LEFT JOIN roles r ON r.tenant_id = $1 AND (r.id = u.role_id OR (u.role_id IS NULL AND r.builtin = u.role))
    JOIN sessions s ON s.tenant_id = $1 AND s.user_id = u.id
    JOIN subscriptions sub ON sub.tenant_id = $1
    WHERE t.id = $1 AND u.tenant_id = $1 AND u.id = $2 AND s.id = $3 AND s.expires_at > $4";

/// A user's record permissions: an admin's are always full; otherwise the
/// stored role's, or the built-in default of their role.
fn permissions_of(role: Role, stored: Option<&str>) -> Permissions {
    match (role, stored.and_then(|s| serde_json::from_str(s).ok())) {
        (Role::Admin, _) => Permissions::full(),
        (_, Some(p)) => p,
        (Role::Manager, None) => Permissions::full(),
        (Role::User, None) => Permissions::user(),
    }
}

/// A session's limits: its plan's, with the stored overrides and user
/// limit. (Features are checked against the subscription's stored list.)
fn entitlements(
    plan: crate::domain::PlanCode,
    max_users: Option<i64>,
    limit_overrides: Option<&str>,
) -> crate::plans::Entitlements {
    let limits = limit_overrides
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    let overrides = crate::plans::Overrides::from_json(&serde_json::Value::Null, &limits);
    crate::plans::Entitlements::of(plan, &overrides).with_users(max_users)
}

/// Is `now` past the end of a trial that no paid plan has replaced?
pub fn trial_expired(
    status: TenantStatus,
    ends: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    status == TenantStatus::Trial && ends.is_some_and(|end| end <= now)
}

/// A verified tenant token whose transaction has not begun yet: for handlers
/// that do slow work (password hashing) before touching the database, so no
/// transaction or lock is held meanwhile.
pub struct TenantAuth {
    tenant: TenantId,
    user: UserId,
    role_claim: String,
    access: Access,
    client_addr: String,
    sid: Option<uuid::Uuid>,
    ver: i64,
    slot: TxSlot,
    heavy: Option<HeavyLease>,
    /// Billing's own routes: writes go on while the trial has ended or a
    /// payment is due (paying is how the tenant gets out of it).
    payment_exempt: bool,
    key: Option<KeyAuth>,
}

impl TenantAuth {
    /// The caller of an API key whose hash named `key` (its liveness and
    /// scopes are checked when the transaction begins).
    pub fn for_key(
        key: &crate::integrations::keys::Resolved,
        needed: crate::integrations::scopes::Needed,
        access: Access,
        client_addr: String,
        slot: TxSlot,
    ) -> Self {
        TenantAuth {
            tenant: key.tenant,
            user: key.owner,
            role_claim: String::new(),
            access,
            client_addr,
            sid: None,
            ver: 0,
            slot,
            heavy: None,
            payment_exempt: false,
            key: Some(KeyAuth { id: key.id, needed }),
        }
    }

    /// The API key of the request, if it came with one.
    pub fn key(&self) -> Option<KeyAuth> {
        self.key
    }

    /// The tenant caller of verified `claims` (from a bearer token or a
    /// session cookie), for a request that reads or writes; its transaction
    /// will live in `slot`, whose owner ends it.
    pub fn new(
        claims: Claims,
        access: Access,
        client_addr: String,
        slot: TxSlot,
    ) -> ApiResult<Self> {
        let Some(tid) = claims.tid else {
            return Err(ApiError::forbidden(
                "platform administrators cannot use tenant endpoints",
            ));
        };
        Ok(TenantAuth {
            tenant: TenantId(tid),
            user: UserId(claims.sub),
            role_claim: claims.role,
            access,
            client_addr,
            sid: claims.sid,
            ver: claims.ver,
            slot,
            heavy: None,
            payment_exempt: false,
            key: None,
        })
    }

    /// Lets this request write whatever the subscription's state (billing's
    /// own routes).
    pub fn exempt_from_payment(&mut self) {
        self.payment_exempt = true;
    }

    /// Counts this request as one of its tenant's heavy operations from
    /// now on (before an upload is read, so uploads are bounded too): 429
    /// while the tenant runs as many as it may.
    pub fn heavy(&mut self, state: &App) -> ApiResult<()> {
        self.heavy = Some(state.limits.heavy(self.tenant)?);
        Ok(())
    }

    /// The user the token names (not yet checked against the database).
    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// What the token says of the role: a cheap early refusal before slow
    /// work. The role read in [`TenantAuth::begin`] is the one that counts.
    pub fn token_says_admin(&self) -> ApiResult<()> {
        if self.key.is_some() || self.role_claim == Role::Admin.as_str() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the admin role"))
        }
    }

    /// Opens the tenant transaction in the request's slot, checking in the
    /// same round trip that the tenant and the user may still act.
    pub async fn begin(self, state: &App) -> ApiResult<TenantSession> {
        let now = state.clock.now();
        let lease = state.limits.connection(self.tenant).await?;
        let mut api_key = None;
        let mut key_role = None;
        let (tx, row) = match (self.key, self.sid) {
            (Some(key), _) => {
                let (tx, row) = state
                    .store
                    .tenant::<KeyRow>(lease, self.access, KEY_SESSION_SQL, &[&key.id])
                    .await?;
                let row = row.ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
                key_role = Some(row.admit(key.needed, now)?);
                api_key = Some((key.id, row.name.clone()));
                (tx, Some(row.session))
            }
            (None, None) => {
                state
                    .store
                    .tenant::<SessionRow>(lease, self.access, SESSION_SQL, &[&self.user])
                    .await?
            }
            (None, Some(sid)) => {
                state
                    .store
                    .tenant::<SessionRow>(
                        lease,
                        self.access,
                        BROWSER_SESSION_SQL,
                        &[&self.user, &sid, &now],
                    )
                    .await?
            }
        };
        let row = row.ok_or_else(|| ApiError::unauthorized("the session is no longer valid"))?;
        match row.tenant_status {
            TenantStatus::Cancelled => {
                return Err(ApiError::unauthorized("this account has been closed"))
            }
            TenantStatus::Suspended => {
                return Err(ApiError::new(
                    ErrorCode::TenantSuspended,
                    "this account is suspended; contact support",
                ))
            }
            TenantStatus::Active | TenantStatus::Trial => {}
        }
        if !row.is_active {
            return Err(ApiError::unauthorized("this user has been deactivated"));
        }
        if self.key.is_none() && row.token_version != self.ver {
            return Err(ApiError::unauthorized(
                "the session is no longer valid; sign in again",
            ));
        }
        if self.access == Access::Write {
            if !self.payment_exempt {
                if trial_expired(row.tenant_status, row.trial_ends_at, now) {
                    return Err(ApiError::new(
                        ErrorCode::TrialExpired,
                        "the trial has ended; choose a plan to keep making changes",
                    ));
                }
                if let Some(refused) = crate::billing::write_block(
                    row.billing_status.as_deref(),
                    row.past_due_since,
                    state.config.billing_grace_days,
                    now,
                ) {
                    return Err(refused);
                }
            }
            state.licensing.check_write(now)?;
        }
        let role = key_role.unwrap_or(row.role);
        let access = RecordAccess::new(self.user, permissions_of(role, row.permissions.as_deref()));
        let entitlements = entitlements(row.plan, row.max_users, row.limit_overrides.as_deref());
        state
            .meter
            .note_quota(self.tenant, crate::usage::Quota::of(&entitlements));
        Ok(TenantSession {
            tx: self.slot.hold(tx),
            user: SessionUser {
                id: self.user,
                tenant_id: self.tenant,
                username: row.username,
                role,
                is_owner: row.is_owner,
                email: row.email,
                email_verified: row.email_verified_at.is_some(),
                client_addr: self.client_addr,
                access,
                records_limit: entitlements.limit(crate::plans::Limit::Records),
                storage_limit: entitlements.limit(crate::plans::Limit::StorageBytes),
                import_rows_limit: entitlements.limit(crate::plans::Limit::ImportRows),
                api_key,
            },
            tenant: Standing {
                name: row.tenant_name,
                slug: row.slug,
                status: row.tenant_status,
                trial_ends_at: row.trial_ends_at,
                logo_url: row.logo_url,
                brand_color: row.brand_color,
                timezone: row.timezone,
                locale: row.locale,
                features: row
                    .features
                    .and_then(|f| serde_json::from_str(&f).ok())
                    .unwrap_or_default(),
                entitlements,
                billing_status: row.billing_status,
                past_due_since: row.past_due_since,
            },
            sid: self.sid,
            heavy: self.heavy,
        })
    }
}

/// A platform admin's request.
pub struct AdminSession {
    pub id: AdminId,
    pub username: String,
    pub client_addr: String,
}

impl AdminSession {
    /// This admin as the actor of an audited change.
    pub fn actor(&self) -> Actor {
        Actor::platform_admin(self.id, &self.username, &self.client_addr)
    }
}

impl AdminSession {
    /// The platform admin of verified `claims` (bearer token or cookie).
    pub async fn from_claims(claims: Claims, state: &App, client_addr: String) -> ApiResult<Self> {
        if claims.tid.is_some() || claims.role != PLATFORM_ADMIN_ROLE {
            return Err(ApiError::forbidden("this needs a platform administrator"));
        }
        let id = AdminId(claims.sub);
        let username = login::active_admin_name(&state.store, id, claims.sid, state.clock.now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("the session is no longer valid"))?;
        Ok(AdminSession {
            id,
            username,
            client_addr,
        })
    }
}

/// Either kind of caller, for endpoints both may use (`/api/auth/me`).
pub enum AnySession {
    Tenant(Box<TenantSession>),
    Admin(AdminSession),
}

/// The claims of a session token (bearer or cookie); a hand-off token is
/// not a session.
pub fn session_claims(state: &App, token: &str) -> ApiResult<Claims> {
    let claims = state.tokens.verify(token, state.clock.now())?;
    if claims.handoff {
        return Err(ApiError::unauthorized(
            "the token is invalid or has expired",
        ));
    }
    Ok(claims)
}
