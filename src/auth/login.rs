//! `POST /api/auth/login`: tenant users (by username or e-mail) and platform
//! admins, through one endpoint. Unknown users and wrong passwords give the
//! same answer after the same work (a dummy hash is verified), and attempts
//! are throttled per username and per client address.

use super::{password, throttle, token::PLATFORM_ADMIN_ROLE};
use crate::app::App;
use crate::audit::{self, Actor, Event};
use crate::domain::{AdminId, Password, TenantId, TenantStatus, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::staff::{user_columns, UserView};
use crate::store::{Access, DbResult, Dialect, FromRow, One, Row, Store};
use crate::tenancy::{tenant_columns, TenantView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters of the name given at login (an e-mail address at most).
pub const USERNAME_MAX: usize = 254;
/// The most characters of a password offered at login (keeps hashing cheap).
pub const PASSWORD_MAX: usize = 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or e-mail address (or a platform admin's username).
    #[schema(required = true, schema_with = crate::contract::login_name)]
    pub username: Option<String>,
    #[schema(required = true, schema_with = crate::contract::offered_password)]
    pub password: Option<Password>,
    /// Tenant slug, when the username exists in several tenants.
    pub tenant: Option<String>,
}

/// A platform admin as the login and `/api/auth/me` show them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminView {
    pub id: Uuid,
    pub username: String,
    /// Always `platform_admin`.
    pub role: String,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl FromRow for AdminView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(AdminView {
            id: r.get("id")?,
            username: r.get("username")?,
            role: PLATFORM_ADMIN_ROLE.to_owned(),
            last_login_at: r.get("last_login_at")?,
            created_at: r.get("created_at")?,
        })
    }
}

/// Who logged in.
pub enum LoggedIn {
    Tenant {
        user: Box<UserView>,
        tenant: Box<TenantView>,
        /// The user's credential version, for the token.
        token_version: i64,
    },
    Admin(AdminView),
}

struct Candidate {
    kind: CandidateKind,
    password_hash: String,
    is_active: bool,
    /// The user's credential version, for the token (0 for admins).
    token_version: i64,
}

enum CandidateKind {
    User {
        tenant: TenantId,
        id: UserId,
        tenant_status: TenantStatus,
    },
    Admin(AdminId),
}

impl FromRow for Candidate {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let tenant: Option<Uuid> = r.get("tenant_id")?;
        let kind = match tenant {
            Some(t) => CandidateKind::User {
                tenant: TenantId(t),
                id: r.get("id")?,
                tenant_status: r.get("tenant_status")?,
            },
            None => CandidateKind::Admin(r.get("id")?),
        };
        Ok(Candidate {
            kind,
            password_hash: r.get("password_hash")?,
            is_active: r.get("is_active")?,
            token_version: r.get("token_version")?,
        })
    }
}

const USERS_ANY_TENANT: &str =
    "SELECT u.tenant_id, u.id, u.password_hash, u.is_active, u.token_version, t.status AS tenant_status
      FROM users u JOIN tenants t ON t.id = u.tenant_id
     WHERE u.email = $1 OR u.username = $1
     LIMIT 5";
const USERS_OF_TENANT: &str =
    "SELECT u.tenant_id, u.id, u.password_hash, u.is_active, u.token_version, t.status AS tenant_status
      FROM users u JOIN tenants t ON t.id = u.tenant_id
     WHERE (u.email = $1 OR u.username = $1) AND t.slug = $2";
const ADMINS: &str = "SELECT CAST(NULL AS uuid) AS tenant_id, id, password_hash, is_active,
            CAST(0 AS BIGINT) AS token_version
      FROM platform_admins WHERE username = $1";

fn invalid_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "invalid username or password",
    )
}

/// Logs in; `hint` is the tenant slug from the body, `X-Tenant` or the host.
///
/// The attempt is counted as a failure before the password is checked (and
/// the count forgotten for this client once it proves right), under a
/// per-username lock (in Redis, one atomic script), so concurrent guesses
/// cannot slip past the limit.
/// Where the name matches several accounts, the password decides: exactly
/// one match logs in; several answer 409 `tenant_required`.
pub async fn login(
    state: &App,
    req: LoginRequest,
    hint: Option<String>,
    client: &str,
) -> ApiResult<LoggedIn> {
    let mut e = FieldErrors::default();
    let username = e.required("username", req.username);
    let username = e
        .text("username", username, USERNAME_MAX)
        .map(|u| u.to_lowercase());
    let password = e.required("password", req.password);
    if password
        .as_ref()
        .is_some_and(|p| p.expose().chars().count() > PASSWORD_MAX)
    {
        e.add("password", "is too long");
    }
    e.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::internal("validation passed with a field missing"));
    };
    let hint = req.tenant.filter(|t| !t.trim().is_empty()).or(hint);
    let now = state.clock.now();
    let store = &state.store;

    // Failures count per company and name: ten bad guesses at `admin` on one
    // company's address lock that company's `admin` only. Without a company,
    // the name alone (an e-mail is one account anyway).
    let bucket = match &hint {
        Some(slug) => format!("{}/{username}", slug.trim().to_lowercase()),
        None => username.clone(),
    };
    let mut tx = store.platform(Access::Write).await?;
    if tx.dialect() == Dialect::Postgres {
        // SQLite's write transaction is exclusive already.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7317))",
            &[&bucket],
        )
        .await?;
    }
    let failures = throttle::attempt(state, &mut tx, &bucket, client, now).await?;
    let candidates: Vec<Candidate> = match &hint {
        Some(slug) => {
            tx.query(USERS_OF_TENANT, &[&username, &slug.trim().to_lowercase()])
                .await?
        }
        None => {
            let mut c: Vec<Candidate> = tx.query(USERS_ANY_TENANT, &[&username]).await?;
            c.extend(tx.query::<Candidate>(ADMINS, &[&username]).await?);
            c
        }
    };
    tx.commit().await?;

    let mut matches = Vec::new();
    if candidates.is_empty() {
        password::verify(None, password.clone()).await;
    }
    let only_user = match candidates.as_slice() {
        [Candidate {
            kind: CandidateKind::User { tenant, id, .. },
            ..
        }] => Some((*tenant, *id)),
        _ => None,
    };
    for c in candidates {
        if password::verify(Some(c.password_hash.clone()), password.clone()).await {
            matches.push(c);
        }
    }

    let mut tx = store.platform(Access::Write).await?;
    if matches.is_empty() {
        if failures == throttle::MAX_PER_USERNAME {
            if let Some((tenant, id)) = only_user {
                let actor = Actor {
                    client_addr: Some(client.to_owned()),
                    ..Actor::system()
                };
                let event = Event::new("login.locked").target("user", id).after(
                    serde_json::json!({ "failures": failures, "window_minutes": throttle::WINDOW_MINUTES }),
                );
                audit::record_for(&mut tx, tenant, &actor, event, now).await?;
            }
        }
        tx.commit().await?;
        return Err(invalid_credentials());
    }
    throttle::clear(state, &mut tx, &bucket, client).await?;
    if matches.len() > 1 {
        tx.commit().await?;
        return Err(ApiError::new(
            ErrorCode::TenantRequired,
            "this username exists in several companies; give the company's slug as `tenant`",
        ));
    }
    let Some(candidate) = matches.pop() else {
        return Err(ApiError::internal("no match"));
    };
    if !candidate.is_active {
        tx.commit().await?;
        return Err(invalid_credentials());
    }
    let result = match candidate.kind {
        CandidateKind::User {
            tenant,
            id,
            tenant_status,
        } => {
            match tenant_status {
                TenantStatus::Cancelled => {
                    tx.commit().await?;
                    return Err(invalid_credentials());
                }
                TenantStatus::Suspended => {
                    tx.commit().await?;
                    return Err(ApiError::new(
                        ErrorCode::TenantSuspended,
                        "this account is suspended; contact support",
                    ));
                }
                TenantStatus::Active | TenantStatus::Trial => {}
            }
            let user: UserView = tx
                .query_one(
                    concat!(
                        "UPDATE users SET last_login_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING ",
                        user_columns!()
                    ),
                    &[&tenant, &id, &now],
                )
                .await?;
            let tenant: TenantView = tx
                .query_one(
                    concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1"),
                    &[&tenant],
                )
                .await?;
            LoggedIn::Tenant {
                user: Box::new(user),
                tenant: Box::new(tenant),
                token_version: candidate.token_version,
            }
        }
        CandidateKind::Admin(id) => {
            let admin: AdminView = tx
                .query_one(
                    "UPDATE platform_admins SET last_login_at = $2 WHERE id = $1
                     RETURNING id, username, last_login_at, created_at",
                    &[&id, &now],
                )
                .await?;
            LoggedIn::Admin(admin)
        }
    };
    tx.commit().await?;
    Ok(result)
}

/// The username of an active platform admin; `None` when the admin is gone
/// or deactivated.
pub async fn active_admin_name(
    store: &Store,
    id: AdminId,
    sid: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<Option<String>> {
    let mut tx = store.platform(Access::Read).await?;
    let found: Option<One<String>> = match sid {
        None => {
            tx.query_opt(
                "SELECT username FROM platform_admins WHERE id = $1 AND is_active",
                &[&id],
            )
            .await?
        }
        // A browser session: its row must still exist.
        Some(sid) => {
            tx.query_opt(
                "SELECT a.username FROM platform_admins a
                   JOIN admin_sessions s ON s.admin_id = a.id
                  WHERE a.id = $1 AND a.is_active AND s.id = $2 AND s.expires_at > $3",
                &[&id, &sid, &now],
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(found.map(|o| o.0))
}

pub async fn admin(store: &Store, id: AdminId) -> ApiResult<AdminView> {
    let mut tx = store.platform(Access::Read).await?;
    let found: Option<AdminView> = tx
        .query_opt(
            "SELECT id, username, last_login_at, created_at FROM platform_admins WHERE id = $1",
            &[&id],
        )
        .await?;
    tx.commit().await?;
    found.ok_or_else(ApiError::not_found)
}
