//! API keys: long-lived bearer secrets for other systems, `trs_` followed
//! by 32 random base62 characters and a 6-character checksum (CRC-32 of
//! the random part, in base62), so secret scanners recognise them and a
//! mistyped key is refused without a database look-up. Only a SHA-256 hash
//! is stored (the key holds 190 random bits: no salt or slow hash needed).
//!
//! A request with a key is resolved in two steps: the key's hash names its
//! tenant (a platform look-up, remembered by each server, since a key never
//! changes tenant), then the tenant transaction's first statement checks
//! that the key is still live (not revoked, not expired) and reads its
//! owner, role and scopes: a revoked key is refused on every server at its
//! next request.

use super::scopes::Scope;
use crate::app::App;
use crate::auth::TenantAdmin;
use crate::domain::{Role, TenantId, UserId};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{Access, DbResult, FromRow, One, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use utoipa::ToSchema;
use uuid::Uuid;

pub const PREFIX: &str = "trs_";
const RANDOM_LEN: usize = 32;
const CHECK_LEN: usize = 6;
/// Characters of a key shown in lists (`trs_` and 8 more).
const SHOWN: usize = PREFIX.len() + 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The most characters a key's name takes.
pub const NAME_MAX: usize = 100;

/// CRC-32 (IEEE), bit by bit: keys are short.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

fn checksum(random: &str) -> String {
    let mut n = crc32(random.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A new key.
pub fn generate() -> ApiResult<String> {
    let mut random = String::with_capacity(RANDOM_LEN);
    while random.len() < RANDOM_LEN {
        let mut bytes = [0u8; 64];
        getrandom::getrandom(&mut bytes).map_err(ApiError::internal)?;
        // 248 = 4 × 62: taking bytes below it keeps every character equally likely.
        for b in bytes.iter().filter(|b| **b < 248) {
            if random.len() < RANDOM_LEN {
                random.push(char::from(BASE62[usize::from(*b % 62)]));
            }
        }
    }
    let check = checksum(&random);
    Ok(format!("{PREFIX}{random}{check}"))
}

/// Whether `key` has a key's shape and checksum (a typo fails here).
pub fn well_formed(key: &str) -> bool {
    let Some(body) = key.strip_prefix(PREFIX) else {
        return false;
    };
    if body.len() != RANDOM_LEN + CHECK_LEN || !body.bytes().all(|b| BASE62.contains(&b)) {
        return false;
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    checksum(random) == check
}

/// The stored hash of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a key's hash names: its tenant, its id and owner, its own rate.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub tenant: TenantId,
    pub id: Uuid,
    pub owner: UserId,
    pub requests_per_minute: Option<i64>,
}

struct ResolvedRow(Resolved);

impl FromRow for ResolvedRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(ResolvedRow(Resolved {
            tenant: r.get("tenant_id")?,
            id: r.get("id")?,
            owner: r.get("owner_id")?,
            requests_per_minute: r.get("requests_per_minute")?,
        }))
    }
}

/// Each server's memory of keys it has seen: hash to tenant, and the
/// addresses each key was used from (what never changes once true).
/// Whether a key is still live is never remembered.
#[derive(Default)]
pub struct Resolver {
    known: Mutex<HashMap<String, Resolved>>,
    seen: Mutex<HashSet<(Uuid, String)>>,
}

/// Entries each memory holds before it starts again.
const REMEMBERED: usize = 100_000;

fn invalid() -> ApiError {
    ApiError::unauthorized("the API key is not valid")
}

impl Resolver {
    /// The key's tenant and id: 401 for a malformed key (no look-up) or
    /// one that does not exist.
    pub async fn resolve(&self, app: &App, key: &str) -> ApiResult<Resolved> {
        if !well_formed(key) {
            return Err(invalid());
        }
        let hashed = hash(key);
        if let Some(r) = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hashed)
        {
            return Ok(*r);
        }
        let mut tx = app.store.platform(Access::Read).await?;
        let found: Option<ResolvedRow> = tx
            .query_opt(
                "SELECT tenant_id, id, owner_id, requests_per_minute FROM api_keys WHERE secret_hash = $1",
                &[&hashed],
            )
            .await?;
        tx.commit().await?;
        let ResolvedRow(resolved) = found.ok_or_else(invalid)?;
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(hashed, resolved);
        Ok(resolved)
    }

    /// The first use of a live key from an address is audited (once, on
    /// whichever server sees it first); before the request's own
    /// transaction, which may fail.
    pub async fn note_address(&self, app: &App, key: &Resolved, addr: &str) -> ApiResult<()> {
        let id = (key.id, addr.to_owned());
        if self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
        {
            return Ok(());
        }
        let now = app.clock.now();
        let mut tx = app.store.platform(Access::Write).await?;
        let mut t = tx.for_tenant(key.tenant);
        let live: Option<KeyName> = t
            .query_opt(
                "SELECT k.name, u.username FROM api_keys k
                   JOIN users u ON u.tenant_id = $1 AND u.id = k.owner_id
                  WHERE k.tenant_id = $1 AND k.id = $2 AND k.revoked_at IS NULL
                    AND (k.expires_at IS NULL OR k.expires_at > $3)",
                &[&key.id, &now],
            )
            .await?;
        let Some(KeyName(name, owner)) = live else {
            return Ok(());
        };
        let added = t
            .execute(
                "INSERT INTO api_key_addresses (tenant_id, key_id, addr, first_seen_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&key.id, &addr, &now],
            )
            .await?;
        if added == 1 {
            crate::audit::record(
                &mut t,
                &actor(key.owner, &owner, &name, addr),
                crate::audit::Event::new("api_key.used_from_new_address")
                    .target("api_key", key.id)
                    .after(json!({ "client_addr": addr })),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(id);
        Ok(())
    }
}

struct KeyName(String, String);

impl FromRow for KeyName {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(KeyName(r.get("name")?, r.get("username")?))
    }
}

/// The actor of what a key does: its owner, through the key.
pub fn actor(owner: UserId, username: &str, key_name: &str, addr: &str) -> crate::audit::Actor {
    crate::audit::Actor {
        kind: crate::audit::ActorKind::User,
        id: Some(owner.0),
        name: Some(format!("{username} (API key {key_name:?})")),
        client_addr: Some(addr.to_owned()),
    }
}

/// `POST /api/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    #[schema(schema_with = crate::contract::text::<{ NAME_MAX }>)]
    pub name: String,
    /// `all`, or `<resource>:read` / `<resource>:write` (which includes
    /// reading) for contacts, companies, leads, deals, products,
    /// activities, notes, pipelines, reports, search, users, teams, roles,
    /// tenant and webhooks.
    #[schema(schema_with = crate::contract::api_key_scopes)]
    pub scopes: Vec<String>,
    /// When it stops working; `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The user whose record access it acts with (default: the creator).
    pub owner_id: Option<Uuid>,
    /// A role (an id of `GET /api/roles`) to act with instead of the
    /// owner's; never above the owner's own role.
    pub role_id: Option<Uuid>,
    /// Its own limit, below the plan's (the plan's applies as well).
    #[schema(minimum = 1, maximum = 1000000)]
    pub requests_per_minute: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters (`trs_` and 8 more), to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub owner_id: Uuid,
    /// The role it acts with, when not the owner's.
    pub role_id: Option<Uuid>,
    pub requests_per_minute: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Its last use and the client address of it (written every few
    /// seconds, not at each request).
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_addr: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// API calls made with it this month.
    pub api_calls_this_month: i64,
    /// The whole key: in the answer of the create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl FromRow for ApiKeyView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let scopes: Value = r.get("scopes")?;
        let role: Option<Role> = r.get("role")?;
        let role_id: Option<Uuid> = r.get("role_id")?;
        Ok(ApiKeyView {
            id: r.get("id")?,
            name: r.get("name")?,
            prefix: r.get("prefix")?,
            scopes: scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            owner_id: r.get("owner_id")?,
            role_id: role_id.or(role.map(crate::roles::builtin_id)),
            requests_per_minute: r.get("requests_per_minute")?,
            expires_at: r.get("expires_at")?,
            created_at: r.get("created_at")?,
            last_used_at: r.get("last_used_at")?,
            last_used_addr: r.get("last_used_addr")?,
            revoked_at: r.get("revoked_at")?,
            api_calls_this_month: 0,
            key: None,
        })
    }
}

const COLUMNS: &str = "id, name, prefix, scopes, owner_id, role, role_id, requests_per_minute,
                       expires_at, created_at, last_used_at, last_used_addr, revoked_at";

/// The per-key metric of `usage_counters`.
pub fn metric(key: Uuid) -> String {
    format!("api_calls:key:{key}")
}

struct Calls(String, i64);

impl FromRow for Calls {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Calls(r.get("metric")?, r.get("total")?))
    }
}

/// The tenant's keys, newest first (revoked ones too), with this month's
/// calls.
pub async fn list(tx: &mut impl Scoped, now: DateTime<Utc>) -> ApiResult<Vec<ApiKeyView>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC");
    let mut keys: Vec<ApiKeyView> = tx.query(&sql, &[]).await?;
    let month = crate::usage::period(now).0.date_naive();
    let calls: Vec<Calls> = tx
        .query(
            "SELECT metric, CAST(SUM(count) AS BIGINT) AS total FROM usage_counters
              WHERE tenant_id = $1 AND metric LIKE 'api_calls:key:%' AND day >= $2
              GROUP BY metric",
            &[&month],
        )
        .await?;
    for k in &mut keys {
        let name = metric(k.id);
        k.api_calls_this_month = calls.iter().find(|c| c.0 == name).map_or(0, |c| c.1);
    }
    Ok(keys)
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<ApiKeyView> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
    tx.query_opt(&sql, &[&id])
        .await?
        .ok_or_else(ApiError::not_found)
}

struct Owner(Role, bool);

impl FromRow for Owner {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Owner(r.get("role")?, r.get("is_active")?))
    }
}

/// Creates a key; the answer holds the whole key, which is not kept.
pub async fn create(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    input: NewApiKey,
    now: DateTime<Utc>,
) -> ApiResult<ApiKeyView> {
    let mut e = FieldErrors::default();
    let name = e.text("name", Some(input.name), NAME_MAX);
    let mut scopes: Vec<String> = Vec::new();
    for s in &input.scopes {
        match Scope::parse(s) {
            Some(scope) => {
                if !scopes.contains(&scope.name()) {
                    scopes.push(scope.name());
                }
            }
            None => e.add("scopes", format!("{s:?} is not a scope")),
        }
    }
    if input.scopes.is_empty() {
        e.add("scopes", "name at least one scope (or `all`)");
    }
    if input.expires_at.is_some_and(|at| at <= now) {
        e.add("expires_at", "must be in the future");
    }
    if input
        .requests_per_minute
        .is_some_and(|n| !(1..=1_000_000).contains(&n))
    {
        e.add("requests_per_minute", "must be from 1 to 1000000");
    }
    let owner_id = input.owner_id.unwrap_or(admin.user().id.0);
    let owner: Option<Owner> = tx
        .query_opt(
            "SELECT role, is_active FROM users WHERE tenant_id = $1 AND id = $2",
            &[&owner_id],
        )
        .await?;
    let owner_role = match owner {
        Some(Owner(role, true)) => Some(role),
        Some(Owner(_, false)) => {
            e.add("owner_id", "names a deactivated user");
            None
        }
        None => {
            e.add("owner_id", "does not name a user of this company");
            None
        }
    };
    // A built-in role is kept by name (its permissions are the role's
    // current ones); a custom one by id.
    let (role, role_id) = match input.role_id {
        None => (None, None),
        Some(id) => match crate::roles::builtin_of(id) {
            Some(r) => (Some(r), None),
            None => {
                if crate::roles::ensure_custom(tx, id).await.is_err() {
                    e.add("role_id", "does not name a role of this company");
                }
                (None, Some(id))
            }
        },
    };
    if let (Some(r), Some(o)) = (role, owner_role) {
        if r.rank() > o.rank() {
            e.add("role_id", "is above the owner's own role");
        }
    }
    e.finish()?;
    let name = name.ok_or_else(|| ApiError::internal("validation passed without a name"))?;
    let key = generate()?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, secret_hash, scopes, owner_id, role,
                               role_id, requests_per_minute, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &id,
            &name,
            &key[..SHOWN].to_owned(),
            &hash(&key),
            &json!(scopes),
            &owner_id,
            &role,
            &role_id,
            &input.requests_per_minute,
            &input.expires_at,
            &now,
        ],
    )
    .await?;
    let mut view = get(tx, id).await?;
    crate::audit::record(
        tx,
        &admin.actor(),
        crate::audit::Event::new("api_key.created")
            .target("api_key", id)
            .after(json!({
                "name": view.name, "prefix": view.prefix, "scopes": view.scopes,
                "owner_id": view.owner_id, "role_id": view.role_id, "expires_at": view.expires_at,
            })),
        now,
    )
    .await?;
    view.key = Some(key);
    Ok(view)
}

/// Revokes a key: its next request, on any server, is refused (401).
pub async fn revoke(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<ApiKeyView> {
    let before = get(tx, id).await?;
    if before.revoked_at.is_none() {
        tx.execute(
            "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
            &[&id, &now],
        )
        .await?;
        crate::audit::record(
            tx,
            &admin.actor(),
            crate::audit::Event::new("api_key.revoked")
                .target("api_key", id)
                .after(json!({"name": before.name, "prefix": before.prefix})),
            now,
        )
        .await?;
    }
    get(tx, id).await
}

/// Notes that a key was used (its last use, and a call for its count),
/// for the meter's next flush.
pub async fn record_use(
    tx: &mut crate::store::PlatformTx,
    tenant: TenantId,
    key: Uuid,
    at: DateTime<Utc>,
    addr: &str,
) -> DbResult<()> {
    let mut t = tx.for_tenant(tenant);
    t.execute(
        "UPDATE api_keys SET last_used_at = $3, last_used_addr = $4
          WHERE tenant_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        &[&key, &at, &addr],
    )
    .await?;
    Ok(())
}

/// Whether the tenant has a key (for the page's empty state).
pub async fn count(tx: &mut impl Scoped) -> ApiResult<i64> {
    let One(n): One<i64> = tx
        .query_one("SELECT count(*) FROM api_keys WHERE tenant_id = $1", &[])
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_a_checksum_that_catches_typos() {
        let key = generate().unwrap();
        assert!(key.starts_with("trs_"));
        assert_eq!(key.len(), 4 + 32 + 6);
        assert!(well_formed(&key));
        // One character changed anywhere in the random part is caught.
        let mut typo = key.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert!(!well_formed(&String::from_utf8(typo).unwrap()));
        assert!(!well_formed("trs_short"));
        assert!(!well_formed(&key.replace("trs_", "trx_")));
        assert_ne!(generate().unwrap(), key);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
