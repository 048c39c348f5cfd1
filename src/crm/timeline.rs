//! Record timelines: the notes, activities and field changes of a contact,
//! company, lead or deal, newest first, in keyset pages.

use super::activities::{self, ActivityView};
use super::notes::{self, NoteView};
use crate::auth::RecordAccess;
use crate::domain::{CompanyId, ContactId, DealId, LeadId};
use crate::error::{ApiResult, FieldErrors};
use crate::pagination::Page;
use crate::store::{Bind, DbResult, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The records that have timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Contact,
    Company,
    Lead,
    Deal,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Contact => "contact",
            RecordKind::Company => "company",
            RecordKind::Lead => "lead",
            RecordKind::Deal => "deal",
        }
    }

    /// The column of notes and activities that links to this kind.
    /// The subject of this kind's record events.
    pub fn subject(self) -> crate::events::Subject {
        use crate::events::Subject;
        match self {
            RecordKind::Contact => Subject::Contact,
            RecordKind::Company => Subject::Company,
            RecordKind::Lead => Subject::Lead,
            RecordKind::Deal => Subject::Deal,
        }
    }

    pub(crate) fn link_column(self) -> &'static str {
        match self {
            RecordKind::Contact => "contact_id",
            RecordKind::Company => "company_id",
            RecordKind::Lead => "lead_id",
            RecordKind::Deal => "deal_id",
        }
    }
}

/// Records what changed between two views of a record (as serialised for
/// the API), if anything did: on its timeline, and as a `<kind>.updated`
/// event.
pub async fn record_change<T: Serialize>(
    tx: &mut impl Scoped,
    kind: RecordKind,
    id: Uuid,
    before: &T,
    after: &T,
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    record_changes(tx, kind, &[(id, before, after)], by, now).await
}

/// [`record_change`] for many records (`(id, before, after)`), in one
/// statement (and one for their events).
pub async fn record_changes<T: Serialize>(
    tx: &mut impl Scoped,
    kind: RecordKind,
    records: &[(Uuid, &T, &T)],
    by: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let rows: Vec<(Uuid, Uuid, Value)> = records
        .iter()
        .filter_map(|(id, before, after)| {
            crate::events::changes(before, after).map(|c| (Uuid::now_v7(), *id, Value::Object(c)))
        })
        .collect();
    super::insert_rows(
        tx,
        "INSERT INTO record_changes (tenant_id, record_type, changed_by, changed_at, id, record_id, changes)",
        &[&kind.as_str(), &by, &now],
        &rows,
        |(change, id, c), b| b.extend_from_slice(&[change as &dyn Bind, id, c]),
        |p| format!("($1, $2, $3, $4, {})", p.join(", ")),
    )
    .await?;
    let pairs: Vec<(&T, &T)> = records.iter().map(|(_, b, a)| (*b, *a)).collect();
    crate::events::updated(tx, kind.subject(), &pairs, now).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeView {
    pub id: Uuid,
    /// `{"field": {"from": …, "to": …}}` for each field that changed.
    #[schema(value_type = Object)]
    pub changes: Value,
    pub changed_by: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
}

impl FromRow for ChangeView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(ChangeView {
            id: r.get("id")?,
            changes: r.get("changes")?,
            changed_by: r.get("changed_by")?,
            changed_at: r.get("changed_at")?,
        })
    }
}

/// One entry of a timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", content = "item", rename_all = "snake_case")]
pub enum TimelineEntry {
    Note(NoteView),
    Activity(ActivityView),
    Change(ChangeView),
}

impl TimelineEntry {
    fn key(&self) -> (DateTime<Utc>, Uuid) {
        match self {
            TimelineEntry::Note(n) => (n.created_at, n.id),
            TimelineEntry::Activity(a) => (a.created_at, a.id),
            TimelineEntry::Change(c) => (c.changed_at, c.id),
        }
    }
}

/// What `?cursor=` of a timeline accepts: the last entry's time in
/// microseconds since 1970 (clamped to the years the API keeps) and its id
/// as 32 hex digits (empty: the newest entries). Any such text is a place.
pub const CURSOR_PATTERN: &str = r"^([0-9]{1,18}\.[0-9a-f]{32})?$";

/// 9999-12-31T23:59:59.999999Z, the last time the API keeps.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// A timeline's query (the handler reads it as [`crate::pagination::PageParams`]).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

fn cursor_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(CURSOR_PATTERN))
        .build()
}

/// Decodes a timeline cursor: (time, id) of the last entry seen.
pub fn parse_cursor(
    errors: &mut FieldErrors,
    cursor: Option<&str>,
) -> Option<(DateTime<Utc>, Uuid)> {
    let c = cursor.filter(|c| !c.is_empty())?;
    let decoded = c.split_once('.').and_then(|(micros, id)| {
        let digits = (1..=18).contains(&micros.len()) && micros.bytes().all(|b| b.is_ascii_digit());
        let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !digits || !hex {
            return None;
        }
        let at = DateTime::from_timestamp_micros(micros.parse::<i64>().ok()?.clamp(0, MAX_MICROS))?;
        Some((at, Uuid::try_parse(id).ok()?))
    });
    if decoded.is_none() {
        errors.add("cursor", "is not a cursor this server issued");
    }
    decoded
}

fn encode_cursor(key: (DateTime<Utc>, Uuid)) -> String {
    format!(
        "{}.{}",
        key.0.timestamp_micros().clamp(0, MAX_MICROS),
        key.1.simple()
    )
}

/// The timeline of one record the caller may read: its changes, and the
/// notes and activities on it they may read.
pub async fn timeline(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    kind: RecordKind,
    id: Uuid,
    limit: i64,
    before: Option<(DateTime<Utc>, Uuid)>,
) -> ApiResult<Page<TimelineEntry>> {
    let exists = match kind {
        RecordKind::Contact => super::contacts::get(tx, who, ContactId(id))
            .await
            .map(|_| ()),
        RecordKind::Company => super::companies::get(tx, who, CompanyId(id))
            .await
            .map(|_| ()),
        RecordKind::Lead => super::leads::get(tx, who, LeadId(id)).await.map(|_| ()),
        RecordKind::Deal => super::deals::get(tx, who, DealId(id)).await.map(|_| ()),
    };
    exists?;
    let req = super::listing::ListRequest::newest_first(limit, before);
    let mut entries: Vec<TimelineEntry> = Vec::new();
    // A record made by converting a lead carries the lead's notes and
    // activities: the history does not stay behind on the lead.
    let mut sources = vec![(kind, id)];
    for lead in super::leads::converted_ids(tx, kind, id).await? {
        sources.push((RecordKind::Lead, lead));
    }
    let mut seen = std::collections::HashSet::new();
    for (kind, id) in sources {
        for n in notes::for_record(tx, who, kind, id, &req).await? {
            if seen.insert(n.id) {
                entries.push(TimelineEntry::Note(n));
            }
        }
        for a in activities::for_record(tx, who, kind, id, &req).await? {
            if seen.insert(a.id) {
                entries.push(TimelineEntry::Activity(a));
            }
        }
    }
    // Past every real time, and written the same way by both databases.
    let end = chrono::TimeZone::with_ymd_and_hms(&Utc, 9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let (t, i) = before.unwrap_or((end, Uuid::max()));
    let changes: Vec<ChangeView> = tx
        .query(
            "SELECT id, changes, changed_by, changed_at FROM record_changes
              WHERE tenant_id = $1 AND record_type = $2 AND record_id = $3
                AND (changed_at, id) < ($4, $5)
              ORDER BY changed_at DESC, id DESC LIMIT $6",
            &[&kind.as_str(), &id, &t, &i, &(limit + 1)],
        )
        .await?;
    entries.extend(changes.into_iter().map(TimelineEntry::Change));
    entries.sort_by_key(|e| std::cmp::Reverse(e.key()));
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_cursor = entries
        .last()
        .filter(|_| more)
        .map(|e| encode_cursor(e.key()));
    Ok(Page {
        items: entries,
        next_cursor,
    })
}
