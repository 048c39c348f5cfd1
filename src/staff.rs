//! A tenant's staff (users): list, create within the plan's seat limit, change
//! roles, deactivate, delete. The owner can be neither demoted, deactivated
//! nor deleted, so a tenant always keeps an admin.

use crate::audit::{self, Event};
use crate::auth::TenantAdmin;
use crate::domain::{Email, Password, Role, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldErrors};
use crate::pagination::{Page, PageRequest};
use crate::store::{DbResult, Dialect, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `full_name` takes (validation and description).
pub(crate) const FULL_NAME_MAX: usize = 255;

macro_rules! user_columns {
    () => {
        "id, tenant_id, email, username, full_name, role, role_id, is_owner, is_active, email_verified_at, last_login_at, created_at, updated_at"
    };
}
pub(crate) use user_columns;

/// A tenant user. The password hash never leaves the store.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    /// The custom role whose record permissions the user has; `null`: those
    /// of `role`.
    pub role_id: Option<Uuid>,
    pub is_owner: bool,
    pub is_active: bool,
    /// When the user confirmed their e-mail address (a link sent to it);
    /// `null`: not yet.
    pub email_verified_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for UserView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(UserView {
            id: r.get("id")?,
            tenant_id: r.get("tenant_id")?,
            email: r.get("email")?,
            username: r.get("username")?,
            full_name: r.get("full_name")?,
            role: r.get("role")?,
            role_id: r.get("role_id")?,
            is_owner: r.get("is_owner")?,
            is_active: r.get("is_active")?,
            email_verified_at: r.get("email_verified_at")?,
            last_login_at: r.get("last_login_at")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

/// The longest username, in characters.
pub const USERNAME_MAX: usize = 64;

/// What a username may hold: ASCII letters and digits and the e-mail local
/// part's other characters (`!#$%&'*+/=?^_`{|}~.-`); it is kept lowercased.
/// ASCII only: a login name should not have look-alikes. The description
/// states it as [`crate::contract::username_pattern`].
pub const USERNAME_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";

/// Usernames share the e-mail local part's ASCII alphabet, lowercased;
/// white space around one is dropped.
pub fn parse_username(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > USERNAME_MAX {
        return Err("must be 1 to 64 characters long");
    }
    if s.contains('@') {
        return Err("may not contain @");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || USERNAME_SPECIALS.contains(c))
    {
        return Err(
            "may contain only letters a-z, digits and ! # $ % & ' * + / = ? ^ _ ` { | } ~ . -",
        );
    }
    Ok(s.to_ascii_lowercase())
}

pub async fn list(
    tx: &mut impl Scoped,
    page: PageRequest,
    role: Option<Role>,
) -> ApiResult<Page<UserView>> {
    let role = role.map(|r| r.as_str()).unwrap_or("");
    let rows: Vec<UserView> = tx
        .query(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE tenant_id = $1 AND id > $2 AND ($3 = '' OR role = $3)
                  ORDER BY id LIMIT $4"
            ),
            &[&page.after(), &role, &page.fetch()],
        )
        .await?;
    Ok(page.page(rows, |u| u.id))
}

/// Every user of the tenant as (id, full name), by name: for choosing
/// people (a team's members), where a page of them would not do.
pub async fn names(tx: &mut impl Scoped) -> ApiResult<Vec<(Uuid, String)>> {
    struct Name(Uuid, String);
    impl FromRow for Name {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            Ok(Name(r.get("id")?, r.get("full_name")?))
        }
    }
    let rows: Vec<Name> = tx
        .query(
            "SELECT id, full_name FROM users WHERE tenant_id = $1 ORDER BY lower(full_name), id",
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|Name(id, name)| (id, name)).collect())
}

/// The tenant's owner (`None` only while a tenant is half-made, which a
/// transaction never shows).
pub async fn owner(tx: &mut impl Scoped) -> ApiResult<Option<UserView>> {
    Ok(tx
        .query_opt(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE tenant_id = $1 AND is_owner"
            ),
            &[],
        )
        .await?)
}

pub async fn get(tx: &mut impl Scoped, id: UserId) -> ApiResult<UserView> {
    tx.query_opt(
        concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE tenant_id = $1 AND id = $2"
        ),
        &[&id],
    )
    .await?
    .ok_or_else(ApiError::not_found)
}

/// `POST /api/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(required = true, schema_with = crate::contract::email)]
    pub email: Option<String>,
    #[schema(required = true, schema_with = crate::contract::text::<{ FULL_NAME_MAX }>)]
    pub full_name: Option<String>,
    /// At least 8 characters.
    #[schema(required = true, schema_with = crate::contract::password)]
    pub password: Option<Password>,
    /// Default `user`.
    pub role: Option<Role>,
    /// Default: the e-mail's local part (with a number added if taken).
    #[schema(schema_with = crate::contract::username_or_null)]
    pub username: Option<String>,
}

pub struct NewUser {
    pub email: Email,
    pub full_name: String,
    pub password: Password,
    pub role: Role,
    pub username: Option<String>,
}

impl CreateUserRequest {
    pub fn validate(self) -> ApiResult<NewUser> {
        let mut e = FieldErrors::default();
        let email = e.required("email", self.email);
        let email = email.and_then(|v| e.check("email", Email::parse(&v)));
        let full_name = e.required("full_name", self.full_name);
        let full_name = e.text("full_name", full_name, FULL_NAME_MAX);
        let password = e.required("password", self.password);
        let password =
            password.and_then(|p| e.check("password", Password::new_secret(p.expose().to_owned())));
        let username = self
            .username
            .and_then(|u| e.check("username", parse_username(&u)));
        e.finish()?;
        match (email, full_name, password) {
            (Some(email), Some(full_name), Some(password)) => Ok(NewUser {
                email,
                full_name,
                password,
                role: self.role.unwrap_or(Role::User),
                username,
            }),
            _ => Err(ApiError::internal("validation passed with a field missing")),
        }
    }
}

/// Serialises seat-limit checks of one tenant: on PostgreSQL by locking the
/// tenant's row; on SQLite the write transaction already holds the lock.
pub(crate) async fn lock_tenant(tx: &mut impl Scoped) -> ApiResult<()> {
    if tx.dialect() == Dialect::Postgres {
        let _: Option<One<Uuid>> = tx
            .query_opt("SELECT id FROM tenants WHERE id = $1 FOR UPDATE", &[])
            .await?;
    }
    Ok(())
}

/// 402 when one more active user would pass the plan's limit, pending
/// invitations counted (each holds a seat).
pub(crate) async fn ensure_seat(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<()> {
    lock_tenant(tx).await?;
    let pending = crate::invitations::pending(tx, now).await?;
    seat_left(tx, pending).await
}

/// 402 unless one more active user fits beside `held` seats.
pub(crate) async fn seat_left(tx: &mut impl Scoped, held: i64) -> ApiResult<()> {
    let seats = crate::tenancy::seats(tx).await?;
    if let Some(max) = seats.max {
        if seats.current + held >= max {
            return Err(ApiError::new(
                ErrorCode::PlanLimitReached,
                format!("your plan allows {max} active users; upgrade to add more"),
            )
            .with_details(serde_json::json!({
                "max_users": max,
                "current_users": seats.current,
                "pending_invitations": held,
            })));
        }
    }
    Ok(())
}

/// Picks `base`, or `base2`, `base3`… when it is taken in this tenant.
async fn free_username(tx: &mut impl Scoped, base: &str) -> ApiResult<String> {
    let pattern = format!("{base}%");
    let taken: Vec<One<String>> = tx
        .query(
            "SELECT username FROM users WHERE tenant_id = $1 AND username LIKE $2",
            &[&pattern],
        )
        .await?;
    let taken: std::collections::HashSet<String> = taken.into_iter().map(|o| o.0).collect();
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_owned()
            } else {
                format!("{base}{n}")
            }
        })
        .find(|u| !taken.contains(u))
        .ok_or_else(|| ApiError::internal("no free username"))
}

fn username_taken() -> ApiError {
    ApiError::new(
        ErrorCode::UsernameTaken,
        "that username is already in use in this company",
    )
    .with_details(serde_json::json!({ "fields": { "username": "is already in use" } }))
}

pub(crate) fn email_taken() -> ApiError {
    ApiError::new(
        ErrorCode::EmailTaken,
        "that e-mail address is already registered",
    )
    .with_details(serde_json::json!({ "fields": { "email": "is already registered" } }))
}

/// Creates a user; `password_hash` is computed by the caller before the
/// transaction began, so no lock is held while hashing.
pub async fn create(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    input: NewUser,
    password_hash: &str,
    app: &crate::app::App,
) -> ApiResult<UserView> {
    let now = app.clock.now();
    ensure_seat(tx, now).await?;
    let user = insert(tx, input, password_hash, None, now).await?;
    // The admin typed the address: a link confirms it reaches the user.
    crate::auth::recovery::queue_verification(
        tx,
        app,
        UserId(user.id),
        &user.email,
        &user.full_name,
        now,
    )
    .await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("user.created")
            .target("user", user.id)
            .after(serde_json::json!({
                "email": user.email,
                "username": user.username,
                "role": user.role,
            })),
        now,
    )
    .await?;
    Ok(user)
}

/// True when some tenant has a user with this address (the one
/// platform-wide uniqueness): asked before inviting it.
pub(crate) async fn email_registered(app: &crate::app::App, email: &str) -> ApiResult<bool> {
    let mut tx = app.store.platform(crate::store::Access::Read).await?;
    let found: Option<One<Uuid>> = tx
        .query_opt("SELECT id FROM users WHERE email = $1", &[&email])
        .await?;
    tx.commit().await?;
    Ok(found.is_some())
}

/// Adds the user row (the seat was checked by the caller); `verified_at`
/// when the address is known to be theirs.
pub(crate) async fn insert(
    tx: &mut impl Scoped,
    input: NewUser,
    password_hash: &str,
    verified_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<UserView> {
    let username = match input.username {
        Some(u) => u,
        None => {
            let base =
                parse_username(input.email.local_part()).unwrap_or_else(|_| "user".to_owned());
            free_username(tx, &base).await?
        }
    };
    let user: UserView = tx
        .query_one(
            concat!(
                "INSERT INTO users (tenant_id, id, email, username, full_name, password_hash,
                                role, is_owner, is_active, email_verified_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, false, true, $9, $8, $8)
             RETURNING ",
                user_columns!()
            ),
            &[
                &UserId::new(),
                &input.email.as_str(),
                &username,
                &input.full_name,
                &password_hash,
                &input.role,
                &now,
                &verified_at,
            ],
        )
        .await
        .map_err(|e| {
            if e.is_unique("users", "email") {
                email_taken()
            } else if e.is_unique("users", "username") {
                username_taken()
            } else {
                e.into()
            }
        })?;
    Ok(user)
}

/// `PATCH /api/users/:id`: any subset of the fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(schema_with = crate::contract::text_or_null::<{ FULL_NAME_MAX }>)]
    pub full_name: Option<String>,
    pub role: Option<Role>,
    /// A custom role (see `/api/roles`) for the user's record permissions;
    /// `null` goes back to those of `role`.
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub role_id: Option<Option<Uuid>>,
    pub is_active: Option<bool>,
    #[schema(schema_with = crate::contract::username_or_null)]
    pub username: Option<String>,
    /// A new password (at least 8 characters).
    #[schema(schema_with = crate::contract::password_or_null)]
    pub password: Option<Password>,
}

pub struct UserChanges {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub role_id: Option<Option<Uuid>>,
    pub is_active: Option<bool>,
    pub username: Option<String>,
    pub password: Option<Password>,
}

impl UpdateUserRequest {
    pub fn validate(self) -> ApiResult<UserChanges> {
        let mut e = FieldErrors::default();
        let full_name = e.text("full_name", self.full_name, FULL_NAME_MAX);
        let username = self
            .username
            .and_then(|u| e.check("username", parse_username(&u)));
        let password = self
            .password
            .and_then(|p| e.check("password", Password::new_secret(p.expose().to_owned())));
        e.finish()?;
        Ok(UserChanges {
            full_name,
            role: self.role,
            role_id: self.role_id,
            is_active: self.is_active,
            username,
            password,
        })
    }
}

pub async fn update(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: UserId,
    changes: UserChanges,
    password_hash: Option<String>,
    now: DateTime<Utc>,
) -> ApiResult<UserView> {
    let current = get(tx, id).await?;
    if current.is_owner {
        if password_hash.is_some() && admin.user().id != id {
            return Err(ApiError::forbidden(
                "only the owner changes the owner's password",
            ));
        }
        if changes.role.is_some_and(|r| r != Role::Admin) {
            return Err(ApiError::conflict("the owner must stay an admin"));
        }
        if changes.is_active == Some(false) {
            return Err(ApiError::conflict("the owner cannot be deactivated"));
        }
    }
    if changes.is_active == Some(true) && !current.is_active {
        ensure_seat(tx, now).await?;
    }
    if let Some(Some(role)) = changes.role_id {
        crate::roles::ensure_custom(tx, role).await?;
    }
    let password_changed = password_hash.is_some();
    // A new password or a lesser role ends every token and browser session
    // the user holds (their credential version moves on).
    let downgraded = changes.role.is_some_and(|r| r.rank() < current.role.rank());
    let revoke: i64 = (password_changed || downgraded).into();
    let user: UserView = tx
        .query_opt(
            concat!(
                "UPDATE users SET
                full_name = COALESCE($3, full_name),
                role = COALESCE($4, role),
                is_active = COALESCE($5, is_active),
                username = COALESCE($6, username),
                password_hash = COALESCE($7, password_hash),
                updated_at = $8,
                token_version = token_version + $9,
                role_id = CASE WHEN $10 THEN $11 ELSE role_id END
             WHERE tenant_id = $1 AND id = $2
             RETURNING ",
                user_columns!()
            ),
            &[
                &id,
                &changes.full_name,
                &changes.role,
                &changes.is_active,
                &changes.username,
                &password_hash,
                &now,
                &revoke,
                &changes.role_id.is_some(),
                &changes.role_id.flatten(),
            ],
        )
        .await
        .map_err(|e| {
            if e.is_unique("users", "username") {
                username_taken()
            } else {
                e.into()
            }
        })?
        .ok_or_else(ApiError::not_found)?;
    for event in user_events(&current, &user, password_changed) {
        audit::record(tx, &admin.actor(), event, now).await?;
    }
    Ok(user)
}

/// The audit events of one change to a user: the security-relevant ones
/// named on their own, anything else as `user.updated`.
fn user_events<'a>(before: &UserView, after: &UserView, password_changed: bool) -> Vec<Event<'a>> {
    let mut events = Vec::new();
    let target = |e: Event<'a>| e.target("user", after.id);
    if before.role != after.role || before.role_id != after.role_id {
        // The custom role is named only when it changed.
        let side = |u: &UserView| {
            let mut v = serde_json::json!({ "role": u.role });
            if before.role_id != after.role_id {
                v["role_id"] = serde_json::json!(u.role_id);
            }
            v
        };
        events.push(target(Event::new("user.role_changed")).change(side(before), side(after)));
    }
    if before.is_active != after.is_active {
        let action = if after.is_active {
            "user.reactivated"
        } else {
            "user.deactivated"
        };
        events.push(target(Event::new(action)));
    }
    if password_changed {
        events.push(target(Event::new("user.password_changed")));
    }
    if before.username != after.username || before.full_name != after.full_name {
        events.push(target(Event::new("user.updated")).change(
            serde_json::json!({ "username": before.username, "full_name": before.full_name }),
            serde_json::json!({ "username": after.username, "full_name": after.full_name }),
        ));
    }
    events
}

pub async fn delete(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: UserId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, id).await?;
    if current.is_owner {
        return Err(ApiError::conflict("the owner cannot be deleted"));
    }
    let n = tx
        .execute("DELETE FROM users WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    if n == 0 {
        return Err(ApiError::not_found());
    }
    audit::record(
        tx,
        &admin.actor(),
        Event::new("user.deleted").target("user", id).change(
            serde_json::json!({ "email": current.email, "role": current.role }),
            (),
        ),
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_username;

    #[test]
    fn usernames_are_local_parts() {
        assert_eq!(parse_username(" John.Doe ").unwrap(), "john.doe");
        assert!(parse_username("a@b").is_err());
        assert!(parse_username("").is_err());
        assert!(parse_username("has space").is_err());
        assert!(parse_username("josé").is_err());
        assert!(
            parse_username("\u{212a}elvin").is_err(),
            "the Kelvin sign is no k"
        );
        assert_eq!(parse_username("o'neil+crm").unwrap(), "o'neil+crm");
        let pattern = regex::Regex::new(&crate::contract::username_pattern()).unwrap();
        for name in [
            " John.Doe ",
            "a@b",
            "",
            "has space",
            "josé",
            "o'neil+crm",
            "x[y",
        ] {
            assert_eq!(
                pattern.is_match(name),
                parse_username(name).is_ok(),
                "{name:?}"
            );
        }
    }
}
