//! Teams: groups of a tenant's users. A role whose scope is `team` reaches
//! the records owned by anyone who shares a team with the user. Every user
//! reads the teams; admins change them.

use crate::audit::{self, Event};
use crate::auth::TenantAdmin;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{DbError, DbResult, FromRow, IdList, One, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters a team's name takes.
pub const NAME_MAX: usize = 100;
/// The most characters a team's description takes.
pub const DESCRIPTION_MAX: usize = 1000;
/// The most members one change names.
pub const MEMBERS_MAX: usize = 1000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// Its users, in no particular order.
    pub member_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct TeamRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromRow for TeamRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(TeamRow {
            id: r.get("id")?,
            name: r.get("name")?,
            description: r.get("description")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

struct Member(Uuid, Uuid);

impl FromRow for Member {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(Member(r.get("team_id")?, r.get("user_id")?))
    }
}

/// The teams `sql` selects (by `params`), each with its members: those of
/// every team for a list, of one team for `one`.
async fn load(
    tx: &mut impl Scoped,
    sql: &str,
    params: &[&dyn crate::store::Bind],
    one: Option<Uuid>,
) -> ApiResult<Vec<TeamView>> {
    let rows: Vec<TeamRow> = tx.query(sql, params).await?;
    let members: Vec<Member> = match one {
        None => {
            tx.query(
                "SELECT team_id, user_id FROM team_members WHERE tenant_id = $1",
                &[],
            )
            .await?
        }
        Some(team) => {
            tx.query(
                "SELECT team_id, user_id FROM team_members WHERE tenant_id = $1 AND team_id = $2",
                &[&team],
            )
            .await?
        }
    };
    let mut by_team: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for Member(team, user) in members {
        by_team.entry(team).or_default().push(user);
    }
    Ok(rows
        .into_iter()
        .map(|r| TeamView {
            member_ids: by_team.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// Every team of the tenant, by name.
pub async fn list(tx: &mut impl Scoped) -> ApiResult<Vec<TeamView>> {
    load(
        tx,
        "SELECT id, name, description, created_at, updated_at FROM teams
          WHERE tenant_id = $1 ORDER BY lower(name), id",
        &[],
        None,
    )
    .await
}

pub async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<TeamView> {
    load(
        tx,
        "SELECT id, name, description, created_at, updated_at FROM teams
          WHERE tenant_id = $1 AND id = $2",
        &[&id],
        Some(id),
    )
    .await?
    .pop()
    .ok_or_else(ApiError::not_found)
}

/// `POST /api/teams` and `PATCH /api/teams/{id}` (there every field is
/// optional; `member_ids` replaces the members).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ DESCRIPTION_MAX }>)]
    pub description: Option<Option<String>>,
    /// Users of the same tenant; at most 1000.
    pub member_ids: Option<Vec<Uuid>>,
}

struct Checked {
    name: Option<String>,
    description: Option<Option<String>>,
    members: Option<Vec<Uuid>>,
}

async fn check(tx: &mut impl Scoped, input: TeamInput, creating: bool) -> ApiResult<Checked> {
    let mut e = FieldErrors::default();
    let name = if creating {
        e.required("name", input.name)
    } else {
        input.name
    };
    let name = e.text("name", name, NAME_MAX);
    let description =
        crate::tenancy::clearable(&mut e, "description", input.description, DESCRIPTION_MAX);
    let members = input.member_ids.map(|mut m| {
        m.sort_unstable();
        m.dedup();
        m
    });
    if let Some(m) = &members {
        if m.len() > MEMBERS_MAX {
            e.add("member_ids", format!("at most {MEMBERS_MAX} users"));
        } else if !m.is_empty() {
            let sql = format!(
                "SELECT count(*) FROM users WHERE tenant_id = $1 AND {}",
                crate::crm::id_in(tx.dialect(), "id")
            );
            let One(found): One<i64> = tx.query_one(&sql, &[&IdList(m.clone())]).await?;
            if found != m.len() as i64 {
                e.add("member_ids", "each must name a user of this company");
            }
        }
    }
    e.finish()?;
    Ok(Checked {
        name,
        description,
        members,
    })
}

fn name_taken() -> ApiError {
    ApiError::conflict("a team of that name exists")
}

/// Is `name` free in `table` (teams or roles, whose names are unique in a
/// tenant regardless of case) for the row `except`? A unique violation
/// that a concurrent request causes after the check becomes `taken` too.
pub(crate) async fn ensure_name_free(
    tx: &mut impl Scoped,
    table: &'static str,
    name: &str,
    except: Uuid,
    taken: fn() -> ApiError,
) -> ApiResult<()> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE tenant_id = $1 AND lower(name) = lower($2) AND id <> $3)"
    );
    let One(found): One<bool> = tx.query_one(&sql, &[&name, &except]).await?;
    if found {
        Err(taken())
    } else {
        Ok(())
    }
}

/// A unique violation of a name (see [`ensure_name_free`]) as `taken`.
pub(crate) fn unique_as(taken: fn() -> ApiError) -> impl Fn(DbError) -> ApiError {
    move |e| {
        if matches!(e, DbError::Unique(_)) {
            taken()
        } else {
            e.into()
        }
    }
}

async fn set_members(tx: &mut impl Scoped, team: Uuid, members: &[Uuid]) -> ApiResult<()> {
    tx.execute(
        "DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2",
        &[&team],
    )
    .await?;
    crate::crm::insert_rows(
        tx,
        "INSERT INTO team_members (tenant_id, team_id, user_id)",
        &[&team],
        members,
        |m, b| b.push(m),
        |p| format!("($1, $2, {})", p.join(", ")),
    )
    .await
}

pub async fn create(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    input: TeamInput,
    now: DateTime<Utc>,
) -> ApiResult<TeamView> {
    let c = check(tx, input, true).await?;
    let name = c
        .name
        .ok_or_else(|| ApiError::field("name", "is required"))?;
    let id = Uuid::now_v7();
    ensure_name_free(tx, "teams", &name, id, name_taken).await?;
    tx.execute(
        "INSERT INTO teams (tenant_id, id, name, description, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
        &[&id, &name, &c.description.flatten(), &now],
    )
    .await
    .map_err(unique_as(name_taken))?;
    set_members(tx, id, &c.members.unwrap_or_default()).await?;
    let team = get(tx, id).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("team.created").target("team", id).after(&team),
        now,
    )
    .await?;
    Ok(team)
}

pub async fn update(
    tx: &mut impl Scoped,
    admin: &TenantAdmin<'_>,
    id: Uuid,
    input: TeamInput,
    now: DateTime<Utc>,
) -> ApiResult<TeamView> {
    let before = get(tx, id).await?;
    let c = check(tx, input, false).await?;
    if let Some(name) = &c.name {
        ensure_name_free(tx, "teams", name, id, name_taken).await?;
    }
    tx.execute(
        "UPDATE teams SET name = COALESCE($3, name),
                description = CASE WHEN $4 THEN $5 ELSE description END, updated_at = $6
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &c.name,
            &c.description.is_some(),
            &c.description.flatten(),
            &now,
        ],
    )
    .await
    .map_err(unique_as(name_taken))?;
    if let Some(members) = &c.members {
        set_members(tx, id, members).await?;
    }
    let after = get(tx, id).await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("team.updated")
            .target("team", id)
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
    tx.execute("DELETE FROM teams WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    audit::record(
        tx,
        &admin.actor(),
        Event::new("team.deleted")
            .target("team", id)
            .change(&before, serde_json::Value::Null),
        now,
    )
    .await?;
    Ok(())
}
