//! The outbox of record events: what happened to a tenant's records
//! (`contact.created`, `deal.won`…), written in the same transaction as the
//! change itself, so a change that rolls back leaves no event and a
//! committed one cannot be lost (the job that delivers it is queued in that
//! transaction too).
//!
//! An event is written only when something consumes it: today an enabled
//! webhook endpoint subscribed to its type (the workflows will be the
//! second consumer, reading the same rows). A tenant with no consumer pays
//! one indexed look-up per change, and nothing is serialised or written.
//!
//! Each event's body is fixed when it is written (`{"type", "timestamp",
//! "data"}`, `data` the record as the API returns it, with `changes` for
//! updates), so every delivery and retry sends and signs the same bytes.

use crate::error::{ApiError, ApiResult};
use crate::store::{Bind, DbResult, Dialect, FromRow, Row, Scoped};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

crate::domain::text_enum!(
    /// The kinds of record events are about.
    Subject { Contact = "contact", Company = "company", Lead = "lead", Deal = "deal", Product = "product", Activity = "activity", Note = "note" }
);

/// What happened to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Created(Subject),
    Updated(Subject),
    Deleted(Subject),
    DealStageChanged,
    DealWon,
    DealLost,
    LeadConverted,
}

/// Every event type and its name, in the order the API lists them.
pub const TYPES: &[(EventType, &str)] = &[
    (EventType::Created(Subject::Contact), "contact.created"),
    (EventType::Updated(Subject::Contact), "contact.updated"),
    (EventType::Deleted(Subject::Contact), "contact.deleted"),
    (EventType::Created(Subject::Company), "company.created"),
    (EventType::Updated(Subject::Company), "company.updated"),
    (EventType::Deleted(Subject::Company), "company.deleted"),
    (EventType::Created(Subject::Lead), "lead.created"),
    (EventType::Updated(Subject::Lead), "lead.updated"),
    (EventType::Deleted(Subject::Lead), "lead.deleted"),
    (EventType::LeadConverted, "lead.converted"),
    (EventType::Created(Subject::Deal), "deal.created"),
    (EventType::Updated(Subject::Deal), "deal.updated"),
    (EventType::Deleted(Subject::Deal), "deal.deleted"),
    (EventType::DealStageChanged, "deal.stage_changed"),
    (EventType::DealWon, "deal.won"),
    (EventType::DealLost, "deal.lost"),
    (EventType::Created(Subject::Product), "product.created"),
    (EventType::Updated(Subject::Product), "product.updated"),
    (EventType::Deleted(Subject::Product), "product.deleted"),
    (EventType::Created(Subject::Activity), "activity.created"),
    (EventType::Updated(Subject::Activity), "activity.updated"),
    (EventType::Deleted(Subject::Activity), "activity.deleted"),
    (EventType::Created(Subject::Note), "note.created"),
    (EventType::Updated(Subject::Note), "note.updated"),
    (EventType::Deleted(Subject::Note), "note.deleted"),
];

/// The type of the event `POST /api/webhooks/{id}/test` sends: to that
/// endpoint only, whatever it subscribed to.
pub const TEST_TYPE: &str = "webhook.test";

impl EventType {
    pub fn as_str(self) -> &'static str {
        TYPES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, name)| name)
    }

    pub fn parse(name: &str) -> Option<EventType> {
        TYPES.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }

    /// The kind of record the event carries.
    pub fn subject(self) -> Subject {
        match self {
            EventType::Created(s) | EventType::Updated(s) | EventType::Deleted(s) => s,
            EventType::DealStageChanged | EventType::DealWon | EventType::DealLost => Subject::Deal,
            EventType::LeadConverted => Subject::Lead,
        }
    }

    /// Whether the event's `data` carries `changes`.
    pub fn has_changes(self) -> bool {
        matches!(self, EventType::Updated(_) | EventType::DealStageChanged)
    }

    /// What it means, for the description and the settings page.
    pub fn describe(self) -> String {
        let s = self.subject().as_str();
        match self {
            EventType::Created(_) => format!("A {s} was created"),
            EventType::Updated(_) => format!("A {s} was changed (`changes` names each field, from and to)"),
            EventType::Deleted(_) => format!("A {s} was deleted (`data` is the record as it was)"),
            EventType::DealStageChanged => {
                "A deal moved to another stage (`changes` holds stage_id and what else changed with it)".to_owned()
            }
            EventType::DealWon => "A deal entered a won stage".to_owned(),
            EventType::DealLost => "A deal entered a lost stage".to_owned(),
            EventType::LeadConverted => {
                "A lead was converted (`data` holds the contact, company and deal ids it became)".to_owned()
            }
        }
    }
}

/// An event about to be written: its type and the record it carries.
pub struct NewEvent {
    pub kind: EventType,
    pub record_id: Uuid,
    pub data: Value,
}

impl NewEvent {
    /// `record` as the API returns it, for `kind`; `changes` added for
    /// updates.
    pub fn of<T: Serialize>(
        kind: EventType,
        record: &T,
        changes: Option<&Value>,
    ) -> ApiResult<NewEvent> {
        let mut data = serde_json::to_value(record).map_err(ApiError::internal)?;
        let record_id = data
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| ApiError::internal("an event's record has no id"))?;
        if let (Some(changes), Value::Object(map)) = (changes, &mut data) {
            map.insert("changes".to_owned(), changes.clone());
        }
        Ok(NewEvent {
            kind,
            record_id,
            data,
        })
    }
}

/// What changed between two views of a record (as the API serialises
/// them): `{"field": {"from", "to"}}`, or `None`. Bookkeeping fields are
/// left out.
pub fn changes<T: Serialize>(before: &T, after: &T) -> Option<Map<String, Value>> {
    const UNTRACKED: &[&str] = &["updated_at", "created_at", "created_by", "id"];
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return None;
    };
    let mut changes = Map::new();
    for (field, new) in &a {
        if UNTRACKED.contains(&field.as_str()) {
            continue;
        }
        // Custom fields change one by one: `custom_fields.<key>`.
        if let ("custom_fields", Value::Object(after)) = (field.as_str(), new) {
            let before = b
                .get(field)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let keys: std::collections::BTreeSet<&String> =
                before.keys().chain(after.keys()).collect();
            for k in keys {
                let old = before.get(k).cloned().unwrap_or(Value::Null);
                let new = after.get(k).cloned().unwrap_or(Value::Null);
                if old != new {
                    changes.insert(
                        format!("custom_fields.{k}"),
                        json!({ "from": old, "to": new }),
                    );
                }
            }
            continue;
        }
        let old = b.get(field).cloned().unwrap_or(Value::Null);
        if &old != new {
            changes.insert(field.clone(), json!({ "from": old, "to": new }));
        }
    }
    (!changes.is_empty()).then_some(changes)
}

/// Who consumes the tenant's events: each enabled webhook endpoint with
/// the types it subscribed to. Read once per change.
pub struct Consumers {
    endpoints: Vec<(Uuid, Vec<EventType>)>,
}

struct EndpointRow(Uuid, Value);

impl FromRow for EndpointRow {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(EndpointRow(r.get("id")?, r.get("events")?))
    }
}

impl Consumers {
    /// The tenant's consumers. A plan without integrations has none: its
    /// endpoints stay, and receive nothing until the plan allows them again.
    pub async fn of(tx: &mut impl Scoped) -> ApiResult<Consumers> {
        let has_feature = match tx.dialect() {
            Dialect::Postgres => "s.features ? 'integrations'",
            Dialect::Sqlite => {
                "EXISTS (SELECT 1 FROM json_each(s.features) f WHERE f.value = 'integrations')"
            }
        };
        let sql = format!(
            "SELECT e.id, e.events FROM webhook_endpoints e
               JOIN subscriptions s ON s.tenant_id = $1
              WHERE e.tenant_id = $1 AND e.enabled AND {has_feature}"
        );
        let rows: Vec<EndpointRow> = tx.query(&sql, &[]).await?;
        Ok(Consumers {
            endpoints: rows
                .into_iter()
                .map(|EndpointRow(id, events)| {
                    let types = events
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e.as_str().and_then(EventType::parse))
                        .collect();
                    (id, types)
                })
                .collect(),
        })
    }

    pub fn wants(&self, kind: EventType) -> bool {
        self.endpoints
            .iter()
            .any(|(_, types)| types.contains(&kind))
    }

    pub fn wants_any(&self, kinds: &[EventType]) -> bool {
        kinds.iter().any(|k| self.wants(*k))
    }
}

/// Whether anything consumes events of `kind` (before building costly
/// events, such as an import's).
pub async fn wanted(tx: &mut impl Scoped, kinds: &[EventType]) -> ApiResult<bool> {
    Ok(Consumers::of(tx).await?.wants_any(kinds))
}

/// Writes `events` for their consumers, in the caller's transaction: each
/// one wanted by an endpoint becomes an outbox row, and a delivery (with
/// its job) per endpoint that wants it.
pub async fn publish(
    tx: &mut impl Scoped,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let consumers = Consumers::of(tx).await?;
    publish_to(tx, &consumers, events, now).await
}

/// [`publish`] to consumers already read.
pub async fn publish_to(
    tx: &mut impl Scoped,
    consumers: &Consumers,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let mut rows = Vec::new();
    let mut deliveries = Vec::new();
    for event in events {
        let endpoints: Vec<Uuid> = consumers
            .endpoints
            .iter()
            .filter(|(_, types)| types.contains(&event.kind))
            .map(|(id, _)| *id)
            .collect();
        if endpoints.is_empty() {
            continue;
        }
        let id = Uuid::now_v7();
        let subject = event.kind.subject();
        let lane = format!("{}:{}", subject.as_str(), event.record_id);
        rows.push(Outboxed {
            id,
            kind: event.kind.as_str(),
            record_type: Some(subject.as_str()),
            record_id: Some(event.record_id),
            payload: body(event.kind.as_str(), now, event.data),
        });
        for endpoint in endpoints {
            deliveries.push((endpoint, id, lane.clone()));
        }
    }
    write(tx, &rows, &deliveries, now).await
}

/// One outbox row.
pub(crate) struct Outboxed {
    pub id: Uuid,
    pub kind: &'static str,
    pub record_type: Option<&'static str>,
    pub record_id: Option<Uuid>,
    pub payload: String,
}

/// The body every delivery of an event sends: `{"type", "timestamp",
/// "data"}`.
pub(crate) fn body(kind: &str, at: DateTime<Utc>, data: Value) -> String {
    json!({
        "type": kind,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// Writes outbox rows and their deliveries `(endpoint, event, lane)`,
/// with a delivery job each, in batches.
pub(crate) async fn write(
    tx: &mut impl Scoped,
    rows: &[Outboxed],
    deliveries: &[(Uuid, Uuid, String)],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    for chunk in rows.chunks(500) {
        crate::crm::insert_rows(
            tx,
            "INSERT INTO outbox_events (tenant_id, created_at, id, type, record_type, record_id, payload)",
            &[&now],
            chunk,
            |r, b| {
                b.extend_from_slice(&[
                    &r.id as &dyn Bind,
                    &r.kind,
                    &r.record_type,
                    &r.record_id,
                    &r.payload,
                ])
            },
            |p| format!("($1, $2, {})", p.join(", ")),
        )
        .await?;
    }
    let ids: Vec<(Uuid, &(Uuid, Uuid, String))> =
        deliveries.iter().map(|d| (Uuid::now_v7(), d)).collect();
    for chunk in ids.chunks(500) {
        crate::crm::insert_rows(
            tx,
            "INSERT INTO webhook_deliveries (tenant_id, state, next_attempt_at, created_at, id,
                                             endpoint_id, event_id, lane)",
            &[&now],
            chunk,
            |(id, (endpoint, event, lane)), b| {
                b.extend_from_slice(&[id as &dyn Bind, endpoint, event, lane])
            },
            |p| format!("($1, 'pending', $2, $2, {})", p.join(", ")),
        )
        .await?;
        let jobs: Vec<crate::integrations::delivery::Deliver> = chunk
            .iter()
            .map(|(id, _)| crate::integrations::delivery::Deliver { delivery: *id })
            .collect();
        crate::jobs::enqueue_many(tx, &jobs, now).await?;
    }
    Ok(())
}

/// Events of records created: `records` as the API returns them.
pub async fn created<T: Serialize>(
    tx: &mut impl Scoped,
    subject: Subject,
    records: &[T],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let kind = EventType::Created(subject);
    let consumers = Consumers::of(tx).await?;
    if !consumers.wants(kind) {
        return Ok(());
    }
    let events = records
        .iter()
        .map(|r| NewEvent::of(kind, r, None))
        .collect::<ApiResult<Vec<_>>>()?;
    publish_to(tx, &consumers, events, now).await
}

/// Events of records changed: each `(before, after)` where something
/// changed, with what did.
pub async fn updated<T: Serialize>(
    tx: &mut impl Scoped,
    subject: Subject,
    records: &[(&T, &T)],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let kind = EventType::Updated(subject);
    let consumers = Consumers::of(tx).await?;
    if !consumers.wants(kind) {
        return Ok(());
    }
    let mut events = Vec::new();
    for (before, after) in records {
        if let Some(c) = changes(*before, *after) {
            events.push(NewEvent::of(kind, *after, Some(&Value::Object(c)))?);
        }
    }
    publish_to(tx, &consumers, events, now).await
}

/// Events of records deleted: `records` as they were.
pub async fn deleted<T: Serialize>(
    tx: &mut impl Scoped,
    subject: Subject,
    records: &[T],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let kind = EventType::Deleted(subject);
    let consumers = Consumers::of(tx).await?;
    if !consumers.wants(kind) {
        return Ok(());
    }
    let events = records
        .iter()
        .map(|r| NewEvent::of(kind, r, None))
        .collect::<ApiResult<Vec<_>>>()?;
    publish_to(tx, &consumers, events, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_one_name_that_parses_back() {
        let mut names = std::collections::HashSet::new();
        for (t, name) in TYPES {
            assert!(names.insert(*name), "{name} twice");
            assert_eq!(EventType::parse(name), Some(*t));
            assert_eq!(t.as_str(), *name);
            assert!(name.starts_with(t.subject().as_str()));
        }
        assert_eq!(TYPES.len(), 25);
        for s in Subject::ALL {
            for t in [
                EventType::Created(*s),
                EventType::Updated(*s),
                EventType::Deleted(*s),
            ] {
                assert!(!t.as_str().is_empty());
            }
        }
    }

    #[test]
    fn changes_name_each_field_from_and_to() {
        let a = json!({"id": "x", "name": "A", "tags": [], "updated_at": "1"});
        let b = json!({"id": "x", "name": "B", "tags": [], "updated_at": "2"});
        let c = changes(&a, &b).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c["name"], json!({"from": "A", "to": "B"}));
        assert!(changes(&a, &a).is_none());
    }
}
