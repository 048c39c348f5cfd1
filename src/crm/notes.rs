//! Notes: free text attached to exactly one contact, company, lead or deal,
//! and deleted with it.

use super::listing::{Keyed, ListRequest, Param, Select};
use super::{check_reference, Table, LINKS};
use crate::auth::{Owned, RecordAccess, RecordType, SessionUser};
use crate::domain::NoteId;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::Subject;
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

macro_rules! note_columns {
    () => {
        "n.id, n.body, n.contact_id, n.company_id, n.lead_id, n.deal_id, n.owner_id, n.created_by,
         n.created_at, n.updated_at"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    pub body: String,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for NoteView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(NoteView {
            id: r.get("id")?,
            body: r.get("body")?,
            contact_id: r.get("contact_id")?,
            company_id: r.get("company_id")?,
            lead_id: r.get("lead_id")?,
            deal_id: r.get("deal_id")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

impl Keyed for NoteView {
    fn id(&self) -> Uuid {
        self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    fn sort_name(&self) -> &str {
        &self.body
    }
}

/// The most characters of a note.
pub(crate) const BODY_MAX: usize = 20_000;

/// `POST /api/notes`: the body and exactly one record it belongs to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    #[schema(required = true, schema_with = crate::contract::text::<{ BODY_MAX }>)]
    pub body: Option<String>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    /// Default: the author.
    pub owner_id: Option<Uuid>,
}

fn body(e: &mut FieldErrors, text: Option<String>) -> Option<String> {
    let text = text?;
    if text.trim().is_empty() {
        e.add("body", "must not be empty");
        None
    } else if text.chars().count() > BODY_MAX {
        e.add("body", "must be at most 20000 characters long");
        None
    } else {
        Some(text)
    }
}

impl Owned for NoteView {
    fn owners(&self) -> [Option<Uuid>; 2] {
        [self.owner_id, None]
    }
}

const GET: &str = concat!(
    "SELECT ",
    note_columns!(),
    " FROM notes n WHERE n.tenant_id = $1 AND n.id = $2"
);

/// A note the caller may read, with its record (404 otherwise).
pub async fn get(tx: &mut impl Scoped, who: &RecordAccess, id: NoteId) -> ApiResult<NoteView> {
    super::get_linked(tx, who, RecordType::Notes, "n", GET, &id).await
}

/// A note of the tenant, whoever may read it.
async fn fetch(tx: &mut impl Scoped, id: NoteId) -> ApiResult<NoteView> {
    tx.query_opt(GET, &[&id])
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: NoteInput,
    now: DateTime<Utc>,
) -> ApiResult<NoteView> {
    let mut e = FieldErrors::default();
    let text = e.required("body", input.body);
    let text = body(&mut e, text);
    let links = [
        input.contact_id,
        input.company_id,
        input.lead_id,
        input.deal_id,
    ];
    if links.iter().flatten().count() != 1 {
        e.add(
            "record",
            "give exactly one of contact_id, company_id, lead_id and deal_id",
        );
    }
    check_reference(tx, &mut e, "contact_id", Table::Contacts, input.contact_id).await?;
    check_reference(tx, &mut e, "company_id", Table::Companies, input.company_id).await?;
    check_reference(tx, &mut e, "lead_id", Table::Leads, input.lead_id).await?;
    check_reference(tx, &mut e, "deal_id", Table::Deals, input.deal_id).await?;
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    e.finish()?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO notes (tenant_id, id, body, contact_id, company_id, lead_id, deal_id, owner_id,
                            created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        &[
            &id,
            &text,
            &input.contact_id,
            &input.company_id,
            &input.lead_id,
            &input.deal_id,
            &input.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
        ],
    )
    .await?;
    let created = fetch(tx, NoteId(id)).await?;
    crate::events::created(tx, Subject::Note, std::slice::from_ref(&created), now).await?;
    Ok(created)
}

/// `PATCH /api/notes/:id`: the text (a note stays with its record).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteChange {
    #[schema(schema_with = crate::contract::text_or_null::<{ BODY_MAX }>)]
    pub body: Option<String>,
    pub owner_id: Option<Uuid>,
}

pub async fn update(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: NoteId,
    input: NoteChange,
    now: DateTime<Utc>,
) -> ApiResult<NoteView> {
    let current = get(tx, who, id).await?;
    who.ensure_edit(tx, RecordType::Notes, &current).await?;
    let mut e = FieldErrors::default();
    let text = body(&mut e, input.body);
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    e.finish()?;
    tx.execute(
        "UPDATE notes SET body = COALESCE($3, body), owner_id = COALESCE($4, owner_id), updated_at = $5
          WHERE tenant_id = $1 AND id = $2",
        &[&id, &text, &input.owner_id, &now],
    )
    .await?;
    let after = fetch(tx, id).await?;
    crate::events::updated(tx, Subject::Note, &[(&current, &after)], now).await?;
    Ok(after)
}

pub async fn delete(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    id: NoteId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, who, id).await?;
    who.ensure_delete(tx, RecordType::Notes, &current).await?;
    tx.execute("DELETE FROM notes WHERE tenant_id = $1 AND id = $2", &[&id])
        .await?;
    crate::events::deleted(tx, Subject::Note, &[current], now).await
}

#[derive(Debug, Default)]
pub struct NoteFilter {
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
}

pub async fn list(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    f: &NoteFilter,
    req: &ListRequest,
) -> ApiResult<Page<NoteView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            note_columns!(),
            " FROM notes n WHERE n.tenant_id = $1"
        ),
        "n",
    );
    s.and_ids(&[
        ("n.contact_id", f.contact_id),
        ("n.company_id", f.company_id),
        ("n.lead_id", f.lead_id),
        ("n.deal_id", f.deal_id),
        ("n.owner_id", f.owner_id),
    ]);
    s.visible_linked(who, RecordType::Notes, LINKS);
    s.fetch(tx, req).await
}

/// The newest notes of one record, for its timeline.
pub(crate) async fn for_record(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    kind: super::timeline::RecordKind,
    id: Uuid,
    req: &ListRequest,
) -> ApiResult<Vec<NoteView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            note_columns!(),
            " FROM notes n WHERE n.tenant_id = $1"
        ),
        "n",
    );
    s.and(&format!("n.{} = {{}}", kind.link_column()), Param::Uuid(id));
    s.visible_linked(who, RecordType::Notes, LINKS);
    s.rows(tx, req).await
}
