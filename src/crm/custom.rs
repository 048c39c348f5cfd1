//! Custom fields: a tenant's own fields per record type (a real-estate
//! agency's "bedrooms" and "budget" on its leads). Admins define them
//! (`/api/custom-fields`); records carry their values in a `custom_fields`
//! object, validated against the definitions like built-in fields, kept in
//! the record's own row (so inside its tenant's isolation), filtered and
//! sorted by in lists.
//!
//! A key never changes. Deleting a field archives it: its values stay,
//! hidden from reads, and come back when it is restored. Only keys of
//! known fields ever reach SQL, and only as values or as checked
//! `[a-z][a-z0-9_]*` names.

use super::listing::{Param, Select};
use crate::domain::Email;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{DbResult, Dialect, FromRow, One, Row, Scoped};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

crate::domain::text_enum!(
    /// The record types that take custom fields.
    Entity { Contacts = "contacts", Companies = "companies", Leads = "leads", Deals = "deals", Products = "products", Activities = "activities" }
);

crate::domain::text_enum!(
    /// What a custom field holds.
    FieldType {
        Text = "text", LongText = "long_text", Number = "number", Money = "money", Date = "date",
        Datetime = "datetime", Checkbox = "checkbox", Select = "select", MultiSelect = "multi_select",
        Url = "url", Email = "email", Phone = "phone", User = "user",
    }
);

impl FieldType {
    /// Values compared as numbers (filters `gte`/`lte`, sorting).
    fn numeric(self) -> bool {
        matches!(
            self,
            FieldType::Number | FieldType::Money | FieldType::Checkbox
        )
    }

    /// Values with an order (`gte`/`lte` filters).
    fn ranged(self) -> bool {
        matches!(
            self,
            FieldType::Number | FieldType::Money | FieldType::Date | FieldType::Datetime
        )
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::LongText
                | FieldType::Url
                | FieldType::Email
                | FieldType::Phone
        )
    }
}

/// The most characters of a text value, and of a long text.
pub const TEXT_MAX: usize = 255;
pub const LONG_TEXT_MAX: usize = 10_000;
/// The most fields of one record type (archived ones included).
pub const FIELDS_MAX: i64 = 100;
/// The most options of a select.
pub const OPTIONS_MAX: usize = 200;

/// One choice of a select or multi-select: its stored `value` never
/// changes; its `label` may.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    #[schema(schema_with = crate::contract::text::<100>)]
    pub value: String,
    #[schema(schema_with = crate::contract::text::<100>)]
    pub label: String,
}

/// A custom field as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldDef {
    pub id: Uuid,
    pub entity: Entity,
    /// Stable: `[a-z][a-z0-9_]*`, unique per record type.
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Selects: the choices, in order.
    pub options: Vec<SelectOption>,
    pub required: bool,
    /// Given to new records that do not set the field.
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
    pub help_text: Option<String>,
    pub position: i64,
    /// Shown as a column of the record type's list in the pages.
    pub in_list: bool,
    /// Archived (deleted): values kept and hidden until restored.
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for FieldDef {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let options: Value = r.get("options")?;
        let archived: Option<DateTime<Utc>> = r.get("archived_at")?;
        Ok(FieldDef {
            id: r.get("id")?,
            entity: r.get("entity")?,
            key: r.get("key")?,
            label: r.get("label")?,
            field_type: r.get("type")?,
            options: serde_json::from_value(options).unwrap_or_default(),
            required: r.get("required")?,
            default: r.get("default_value")?,
            help_text: r.get("help_text")?,
            position: r.get("position")?,
            in_list: r.get("in_list")?,
            archived: archived.is_some(),
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, entity, key, label, type, options, required, default_value, help_text, position, in_list, archived_at, created_at, updated_at";

/// The fields of `entity` in order; archived ones only when asked.
pub async fn fields(
    tx: &mut impl Scoped,
    entity: Entity,
    archived_too: bool,
) -> ApiResult<Vec<FieldDef>> {
    definitions(tx, Some(entity), archived_too).await
}

/// Every field of the tenant (`entity`: of one record type), by record
/// type and position.
pub async fn definitions(
    tx: &mut impl Scoped,
    entity: Option<Entity>,
    archived_too: bool,
) -> ApiResult<Vec<FieldDef>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM custom_fields WHERE tenant_id = $1 {} {}
          ORDER BY entity, position, created_at, id",
        if entity.is_some() {
            "AND entity = $2"
        } else {
            ""
        },
        if archived_too {
            ""
        } else {
            "AND archived_at IS NULL"
        }
    );
    Ok(match entity {
        Some(e) => tx.query(&sql, &[&e]).await?,
        None => tx.query(&sql, &[]).await?,
    })
}

async fn get(tx: &mut impl Scoped, id: Uuid) -> ApiResult<FieldDef> {
    let sql = format!("SELECT {COLUMNS} FROM custom_fields WHERE tenant_id = $1 AND id = $2");
    tx.query_opt(&sql, &[&id])
        .await?
        .ok_or_else(ApiError::not_found)
}

// ---------------------------------------------------------------------------
// Definitions.

/// `POST /api/custom-fields` (`options` for selects only, `default` a
/// value of the type).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    /// `contacts`, `companies`, `leads`, `deals`, `products` or `activities`.
    #[schema(required = true, schema_with = crate::contract::custom_entities)]
    pub entity: Option<Entity>,
    /// `[a-z][a-z0-9_]*`, at most 50 characters; never changes.
    #[schema(required = true, schema_with = crate::contract::field_key)]
    pub key: Option<String>,
    #[schema(required = true, schema_with = crate::contract::text::<100>)]
    pub label: Option<String>,
    #[serde(rename = "type")]
    #[schema(required = true, schema_with = crate::contract::field_types)]
    pub field_type: Option<FieldType>,
    /// Selects: `[{"value", "label"}]`.
    pub options: Option<Vec<SelectOption>>,
    pub required: Option<bool>,
    /// A value of the field's type; `null` removes it.
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<Option<Value>>,
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(schema_with = crate::contract::clearable::<500>)]
    pub help_text: Option<Option<String>>,
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i64>,
    pub in_list: Option<bool>,
}

fn check_key(errors: &mut FieldErrors, key: &str) {
    let ok = key.len() <= 50
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        errors.add(
            "key",
            "must start with a-z and hold only a-z, 0-9 and _ (at most 50)",
        );
    }
}

fn check_options(errors: &mut FieldErrors, t: FieldType, options: &[SelectOption]) {
    let select = matches!(t, FieldType::Select | FieldType::MultiSelect);
    if !select {
        if !options.is_empty() {
            errors.add(
                "options",
                "only select and multi_select fields have options",
            );
        }
        return;
    }
    if options.is_empty() || options.len() > OPTIONS_MAX {
        errors.add(
            "options",
            format!("a select needs 1 to {OPTIONS_MAX} options"),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for o in options {
        let v = o.value.trim();
        if v.is_empty()
            || v.chars().count() > 100
            || o.label.trim().is_empty()
            || o.label.chars().count() > 100
        {
            errors.add(
                "options",
                "each option needs a value and a label of 1 to 100 characters",
            );
            return;
        }
        if !seen.insert(v) {
            errors.add("options", format!("the value {v:?} is there twice"));
            return;
        }
    }
}

/// Creates a field (admins; the plan's `custom_fields` feature is checked
/// by the caller).
pub async fn create(
    tx: &mut impl Scoped,
    input: FieldInput,
    now: DateTime<Utc>,
) -> ApiResult<FieldDef> {
    let mut e = FieldErrors::default();
    let entity = e.required("entity", input.entity);
    let key = e.required("key", input.key);
    if let Some(k) = &key {
        check_key(&mut e, k);
    }
    let label = e.required("label", input.label);
    let label = e.text("label", label, 100);
    let field_type = e.required("type", input.field_type);
    let options = input.options.unwrap_or_default();
    if let Some(t) = field_type {
        check_options(&mut e, t, &options);
    }
    let help = crate::tenancy::clearable(&mut e, "help_text", input.help_text, 500).flatten();
    let position = input.position.unwrap_or(0);
    if !(0..=10_000).contains(&position) {
        e.add("position", "must be from 0 to 10000");
    }
    e.finish()?;
    let (Some(entity), Some(key), Some(label), Some(field_type)) = (entity, key, label, field_type)
    else {
        return Err(ApiError::internal("validated without its required fields"));
    };
    let mut def = FieldDef {
        id: Uuid::now_v7(),
        entity,
        key,
        label,
        field_type,
        options,
        required: input.required.unwrap_or(false),
        default: None,
        help_text: help,
        position,
        in_list: input.in_list.unwrap_or(false),
        archived: false,
        created_at: now,
        updated_at: now,
    };
    if let Some(Some(d)) = input.default {
        def.default = Some(check_default(tx, &def, d).await?);
    }
    let One(count): One<i64> = tx
        .query_one(
            "SELECT count(*) FROM custom_fields WHERE tenant_id = $1 AND entity = $2",
            &[&entity],
        )
        .await?;
    if count >= FIELDS_MAX {
        return Err(ApiError::conflict(format!(
            "{entity} have {FIELDS_MAX} custom fields already (archived ones count)"
        )));
    }
    let inserted = tx
        .execute(
            "INSERT INTO custom_fields (tenant_id, id, entity, key, label, type, options, required,
                                        default_value, help_text, position, in_list, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
             ON CONFLICT (tenant_id, entity, key) DO NOTHING",
            &[
                &def.id,
                &def.entity,
                &def.key,
                &def.label,
                &def.field_type,
                &serde_json::to_value(&def.options).unwrap_or_default(),
                &def.required,
                &def.default,
                &def.help_text,
                &def.position,
                &def.in_list,
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::field(
            "key",
            format!(
                "{entity} already have a field {:?} (perhaps archived: restore it)",
                def.key
            ),
        ));
    }
    Ok(def)
}

/// `PATCH /api/custom-fields/{id}`: what may change (the record type and
/// the key never do).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    #[schema(schema_with = crate::contract::text_or_null::<100>)]
    pub label: Option<String>,
    /// Only where every stored value converts (409 otherwise).
    #[serde(rename = "type")]
    pub field_type: Option<FieldType>,
    /// Selects: the whole list; a value in use cannot go.
    pub options: Option<Vec<SelectOption>>,
    pub required: Option<bool>,
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(value_type = Option<Object>)]
    pub default: Option<Option<Value>>,
    #[serde(default, deserialize_with = "crate::tenancy::nullable")]
    #[schema(schema_with = crate::contract::clearable::<500>)]
    pub help_text: Option<Option<String>>,
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i64>,
    pub in_list: Option<bool>,
}

impl From<FieldChange> for FieldInput {
    fn from(c: FieldChange) -> FieldInput {
        FieldInput {
            entity: None,
            key: None,
            label: c.label,
            field_type: c.field_type,
            options: c.options,
            required: c.required,
            default: c.default,
            help_text: c.help_text,
            position: c.position,
            in_list: c.in_list,
        }
    }
}

/// A default must be a valid value of the field.
async fn check_default(tx: &mut impl Scoped, def: &FieldDef, value: Value) -> ApiResult<Value> {
    let mut e = FieldErrors::default();
    let v = check_value(&mut e, def, "default", value);
    if let (Some(Value::String(user)), FieldType::User) = (&v, def.field_type) {
        let id = Uuid::parse_str(user).ok();
        super::check_reference(tx, &mut e, "default", super::Table::Users, id).await?;
    }
    e.finish()?;
    v.ok_or_else(|| ApiError::field("default", "must be a value of the field"))
}

/// Changes a field: label, options (a value in use cannot be removed),
/// required, default, help text, position, list column, and the type where
/// every stored value converts.
pub async fn update(
    tx: &mut impl Scoped,
    id: Uuid,
    input: FieldInput,
    now: DateTime<Utc>,
) -> ApiResult<FieldDef> {
    let before = get(tx, id).await?;
    let mut e = FieldErrors::default();
    if input.entity.is_some_and(|x| x != before.entity) {
        e.add("entity", "cannot change; make a new field");
    }
    if input.key.as_ref().is_some_and(|k| *k != before.key) {
        e.add("key", "never changes");
    }
    let mut after = before.clone();
    if let Some(l) = e.text("label", input.label, 100) {
        after.label = l;
    }
    if let Some(t) = input.field_type {
        after.field_type = t;
    }
    if let Some(o) = input.options {
        after.options = o;
    }
    check_options(&mut e, after.field_type, &after.options);
    if let Some(h) = crate::tenancy::clearable(&mut e, "help_text", input.help_text, 500) {
        after.help_text = h;
    }
    if let Some(p) = input.position {
        if (0..=10_000).contains(&p) {
            after.position = p;
        } else {
            e.add("position", "must be from 0 to 10000");
        }
    }
    after.required = input.required.unwrap_or(after.required);
    after.in_list = input.in_list.unwrap_or(after.in_list);
    e.finish()?;
    match input.default {
        Some(Some(d)) => after.default = Some(check_default(tx, &after, d).await?),
        Some(None) => after.default = None,
        None => {
            if let Some(d) = after.default.clone() {
                // The kept default must still fit a changed type or options.
                after.default = Some(check_default(tx, &after, d).await?);
            }
        }
    }
    let table = entity_table(after.entity);
    let stored = stored_values(tx, table, &after.key).await?;
    // Values of options that are gone, or of a type they do not fit.
    let mut misfits = 0;
    let mut converted: Vec<(Uuid, Value)> = Vec::new();
    for (record, value) in stored {
        let mut scratch = FieldErrors::default();
        match convert(&before, &after, &mut scratch, value.clone()) {
            Some(v) if scratch.is_empty() => {
                if v != value {
                    converted.push((record, v));
                }
            }
            _ => misfits += 1,
        }
    }
    if misfits > 0 {
        return Err(ApiError::conflict(format!(
            "{misfits} stored value(s) would not fit the change (type or options); change or clear them first"
        ))
        .with_details(serde_json::json!({ "records": misfits })));
    }
    for (record, v) in converted {
        let patch = serde_json::json!({ after.key.clone(): v });
        let sql = format!(
            "UPDATE {table} SET custom_fields = {} WHERE tenant_id = $1 AND id = $2",
            merge_sql(tx.dialect(), "custom_fields", "$3")
        );
        tx.execute(&sql, &[&record, &patch]).await?;
    }
    tx.execute(
        "UPDATE custom_fields SET label = $3, type = $4, options = $5, required = $6, default_value = $7,
                help_text = $8, position = $9, in_list = $10, updated_at = $11
          WHERE tenant_id = $1 AND id = $2",
        &[
            &id,
            &after.label,
            &after.field_type,
            &serde_json::to_value(&after.options).unwrap_or_default(),
            &after.required,
            &after.default,
            &after.help_text,
            &after.position,
            &after.in_list,
            &now,
        ],
    )
    .await?;
    get(tx, id).await
}

/// A stored value of `before`, as a value of `after` (same value when the
/// type did not change: then only options are checked).
fn convert(
    before: &FieldDef,
    after: &FieldDef,
    e: &mut FieldErrors,
    value: Value,
) -> Option<Value> {
    use FieldType::*;
    let value = match (before.field_type, after.field_type, value) {
        (Select, MultiSelect, v @ Value::String(_)) => Value::Array(vec![v]),
        (MultiSelect, Select, Value::Array(mut a)) if a.len() == 1 => a.remove(0),
        (Number, Text | LongText, Value::Number(n)) => Value::String(n.to_string()),
        (Text | LongText | Phone, Number, Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) => serde_json::Number::from_f64(n).map(Value::Number)?,
            Err(_) => return None,
        },
        (Checkbox, Text | LongText, Value::Bool(b)) => Value::String(b.to_string()),
        (Date, Datetime, Value::String(s)) => Value::String(format!("{s}T00:00:00Z")),
        (Select | MultiSelect, Text | LongText, Value::String(s)) => Value::String(s),
        (a, b, v) if a == b || (a.is_text() && b.is_text()) => v,
        (Select, Text | LongText, v) => v,
        _ => return None,
    };
    check_value(e, after, "value", value)
}

/// Every stored value of `key` in `table`, with its record.
async fn stored_values(
    tx: &mut impl Scoped,
    table: &str,
    key: &str,
) -> ApiResult<Vec<(Uuid, Value)>> {
    struct Stored(Uuid, Map<String, Value>);
    impl FromRow for Stored {
        fn from_row(r: &Row<'_>) -> DbResult<Self> {
            let v: Value = r.get("custom_fields")?;
            Ok(Stored(
                r.get("id")?,
                match v {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
            ))
        }
    }
    let has = match tx.dialect() {
        Dialect::Postgres => "custom_fields ? $2",
        Dialect::Sqlite => "json_type(custom_fields, '$.' || json_quote($2)) IS NOT NULL",
    };
    let sql = format!("SELECT id, custom_fields FROM {table} WHERE tenant_id = $1 AND {has}");
    let rows: Vec<Stored> = tx.query(&sql, &[&key]).await?;
    Ok(rows
        .into_iter()
        .filter_map(|Stored(id, mut m)| m.remove(key).map(|v| (id, v)))
        .collect())
}

/// Archives (`archive`) or restores a field.
pub async fn set_archived(
    tx: &mut impl Scoped,
    id: Uuid,
    archive: bool,
    now: DateTime<Utc>,
) -> ApiResult<FieldDef> {
    let before = get(tx, id).await?;
    if before.archived == archive {
        return Err(ApiError::conflict(if archive {
            "the field is archived already"
        } else {
            "the field is not archived"
        }));
    }
    let at = archive.then_some(now);
    tx.execute(
        "UPDATE custom_fields SET archived_at = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
        &[&id, &at, &now],
    )
    .await?;
    get(tx, id).await
}

/// The table of an entity (a fixed name, never input).
pub fn entity_table(entity: Entity) -> &'static str {
    entity.as_str()
}

// ---------------------------------------------------------------------------
// Values.

/// A value checked against its field: the value to store, or an error
/// under `field`. `null` is handled by the caller.
fn check_value(e: &mut FieldErrors, def: &FieldDef, field: &str, value: Value) -> Option<Value> {
    let bad = |e: &mut FieldErrors, why: &str| {
        e.add(field, why);
        None
    };
    match (def.field_type, value) {
        (FieldType::Text, Value::String(s)) | (FieldType::LongText, Value::String(s)) => {
            let max = if def.field_type == FieldType::Text {
                TEXT_MAX
            } else {
                LONG_TEXT_MAX
            };
            let s = s.trim().to_owned();
            if s.is_empty() {
                bad(e, "must not be empty (send null to clear it)")
            } else if s.chars().count() > max || s.contains('\0') {
                bad(e, &format!("must be at most {max} characters"))
            } else {
                Some(Value::String(s))
            }
        }
        (FieldType::Number, Value::Number(n)) => match n.as_f64() {
            // Whole numbers are kept as integers: `3`, never `3.0`.
            Some(f) if f.is_finite() && f.abs() <= 1e15 && f.fract() == 0.0 => {
                Some(Value::from(f as i64))
            }
            Some(f) if f.is_finite() && f.abs() <= 1e15 => Some(Value::Number(n)),
            _ => bad(e, "must be a number from -1e15 to 1e15"),
        },
        (FieldType::Money, Value::Object(m)) => {
            let amount = m.get("amount").and_then(Value::as_i64);
            let currency = m.get("currency").and_then(Value::as_str);
            match (amount, currency, m.len()) {
                (Some(a), Some(c), 2)
                    if (0..=crate::contract::AMOUNT_MAX).contains(&a)
                        && c.len() == 3
                        && c.bytes().all(|b| b.is_ascii_uppercase()) =>
                {
                    Some(serde_json::json!({ "amount": a, "currency": c }))
                }
                _ => bad(
                    e,
                    "must be {\"amount\": minor units from 0, \"currency\": \"EUR\"}",
                ),
            }
        }
        (FieldType::Date, Value::String(s)) => match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) if s.len() == 10 => Some(Value::String(d.format("%Y-%m-%d").to_string())),
            _ => bad(e, "must be a date as YYYY-MM-DD"),
        },
        (FieldType::Datetime, Value::String(s)) => match DateTime::parse_from_rfc3339(&s) {
            Ok(t) if crate::domain::check_time(&t.with_timezone(&Utc)).is_ok() => {
                Some(Value::String(
                    t.with_timezone(&Utc)
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                ))
            }
            _ => bad(e, "must be an RFC 3339 time, e.g. 2026-05-01T09:30:00Z"),
        },
        (FieldType::Checkbox, Value::Bool(b)) => Some(Value::Bool(b)),
        (FieldType::Select, Value::String(s)) => {
            if def.options.iter().any(|o| o.value == s) {
                Some(Value::String(s))
            } else {
                bad(e, &format!("must be one of: {}", option_values(def)))
            }
        }
        (FieldType::MultiSelect, Value::Array(items)) => {
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if def.options.iter().any(|o| o.value == s) => {
                        if !out.iter().any(|v| v.as_str() == Some(&s)) {
                            out.push(Value::String(s));
                        }
                    }
                    _ => return bad(e, &format!("must be a list of: {}", option_values(def))),
                }
            }
            Some(Value::Array(out))
        }
        (FieldType::Url, Value::String(s)) => {
            let s = s.trim().to_owned();
            let rest = s
                .strip_prefix("https://")
                .or_else(|| s.strip_prefix("http://"));
            match rest {
                Some(r)
                    if !r.is_empty()
                        && s.len() <= 2048
                        && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    Some(Value::String(s))
                }
                _ => bad(e, "must be an http:// or https:// address"),
            }
        }
        (FieldType::Email, Value::String(s)) => match Email::parse(&s) {
            Ok(m) => Some(Value::String(m.as_str().to_owned())),
            Err(why) => bad(e, why),
        },
        (FieldType::Phone, Value::String(s)) => {
            let s = s.trim().to_owned();
            let ok = !s.is_empty()
                && s.chars().count() <= 50
                && s.chars().any(|c| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_digit() || " +-().x/".contains(c));
            if ok {
                Some(Value::String(s))
            } else {
                bad(e, "must be a phone number (digits, spaces, + - ( ) . x /)")
            }
        }
        (FieldType::User, Value::String(s)) => match Uuid::try_parse(&s) {
            Ok(id) if s.len() == 36 => Some(Value::String(id.to_string())),
            _ => bad(e, "must be the id of a user of this company"),
        },
        (t, _) => bad(
            e,
            &format!("must be a {} value", t.as_str().replace('_', " ")),
        ),
    }
}

fn option_values(def: &FieldDef) -> String {
    def.options
        .iter()
        .map(|o| o.value.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The custom-field values a write gives: on a create, the record's object
/// (with the defaults of fields it leaves out); on an update, a merge patch
/// (a `null` clears a field). Checked in [`check_many`].
#[derive(Debug, Default)]
pub struct Given {
    raw: Option<Map<String, Value>>,
    creating: bool,
    /// After [`check_many`]: what to write.
    checked: Option<Value>,
}

impl Given {
    pub fn new(raw: Option<Map<String, Value>>, creating: bool) -> Given {
        Given {
            raw,
            creating,
            checked: None,
        }
    }

    /// What the write stores (create: the whole object) or merges (update);
    /// `None`: nothing to change.
    pub fn value(&self) -> Option<&Value> {
        self.checked.as_ref()
    }

    /// The object a new record starts with.
    pub fn object(&self) -> Value {
        self.checked
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// Whether values are given at all (they need the plan's feature).
    pub fn any(&self) -> bool {
        self.raw.as_ref().is_some_and(|m| !m.is_empty())
    }
}

/// Checks the custom-field values of many records of `entity` against the
/// definitions (read once): each record's errors go to its entry of
/// `errors`, named `custom_fields.<key>`.
pub async fn check_many(
    tx: &mut impl Scoped,
    entity: Entity,
    items: &mut [&mut Given],
    errors: &mut [FieldErrors],
) -> ApiResult<()> {
    let creating = items.iter().any(|g| g.creating);
    if !creating && items.iter().all(|g| g.raw.is_none()) {
        return Ok(());
    }
    let defs = fields(tx, entity, false).await?;
    if defs.is_empty() && items.iter().all(|g| !g.any()) {
        for g in items.iter_mut() {
            g.checked = g.creating.then(|| Value::Object(Map::new()));
        }
        return Ok(());
    }
    let mut users: Vec<Option<Uuid>> = Vec::new();
    let mut user_at: Vec<(usize, String)> = Vec::new();
    for (i, (g, e)) in items.iter_mut().zip(errors.iter_mut()).enumerate() {
        let raw = g.raw.take().unwrap_or_default();
        let mut out = Map::new();
        for (key, value) in raw {
            let field = format!("custom_fields.{key}");
            let Some(def) = defs.iter().find(|d| d.key == key) else {
                e.add(&field, format!("is not a custom field of {entity}"));
                continue;
            };
            if value.is_null() {
                if def.required {
                    e.add(&field, "is required");
                } else if !g.creating {
                    out.insert(key, Value::Null);
                }
                continue;
            }
            if let Some(v) = check_value(e, def, &field, value) {
                if def.field_type == FieldType::User {
                    users.push(v.as_str().and_then(|s| Uuid::parse_str(s).ok()));
                    user_at.push((i, field));
                }
                out.insert(key, v);
            }
        }
        if g.creating {
            for def in &defs {
                if out.contains_key(&def.key) {
                    continue;
                }
                match &def.default {
                    Some(d) => {
                        out.insert(def.key.clone(), d.clone());
                    }
                    None if def.required => {
                        e.add(&format!("custom_fields.{}", def.key), "is required")
                    }
                    None => {}
                }
            }
        }
        g.checked = (g.creating || !out.is_empty()).then_some(Value::Object(out));
    }
    // Users named by user fields: one query for the batch.
    if !users.is_empty() {
        let mut found: Vec<FieldErrors> = users.iter().map(|_| FieldErrors::default()).collect();
        super::check_references(tx, &mut found, "user", super::Table::Users, &users).await?;
        for ((i, field), f) in user_at.into_iter().zip(found) {
            if !f.is_empty() {
                errors[i].add(&field, "does not name a user of this company");
            }
        }
    }
    Ok(())
}

/// [`check_many`] for one record's `values` (errors into `e`).
pub async fn check_one(
    tx: &mut impl Scoped,
    entity: Entity,
    values: Option<Map<String, Value>>,
    creating: bool,
    e: &mut FieldErrors,
) -> ApiResult<Given> {
    let mut given = Given::new(values, creating);
    check_many(tx, entity, &mut [&mut given], std::slice::from_mut(e)).await?;
    Ok(given)
}

/// The SQL that merges the patch bound at `param` into `column`: a key
/// set to `null` is removed (RFC 7396).
pub fn merge_sql(dialect: Dialect, column: &str, param: &str) -> String {
    match dialect {
        Dialect::Postgres => {
            format!("COALESCE(jsonb_strip_nulls({column} || CAST({param} AS jsonb)), {column})")
        }
        Dialect::Sqlite => format!("COALESCE(json_patch({column}, {param}), {column})"),
    }
}

/// Records with custom-field values.
pub trait Custom {
    fn custom_fields_mut(&mut self) -> &mut Map<String, Value>;
}

/// Hides the values of archived fields (and of keys no field has) from
/// `records`. Reads the definitions only when some record has values.
pub async fn visible<T: Custom>(
    tx: &mut impl Scoped,
    entity: Entity,
    records: &mut [T],
) -> ApiResult<()> {
    if records.iter_mut().all(|r| r.custom_fields_mut().is_empty()) {
        return Ok(());
    }
    let defs = fields(tx, entity, false).await?;
    for r in records {
        r.custom_fields_mut()
            .retain(|k, _| defs.iter().any(|d| d.key == *k));
    }
    Ok(())
}

/// The object a row's `custom_fields` column holds.
pub fn from_column(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::String(s) => serde_json::from_str(&s).unwrap_or_default(),
        _ => Map::new(),
    }
}

// ---------------------------------------------------------------------------
// Filters and sorting.

/// `?cf.<key>=…` parameters of a list, as given.
#[derive(Debug, Default, Clone)]
pub struct Filters(pub Vec<(String, String)>);

impl Filters {
    /// The `cf.` parameters of a query string.
    pub fn of_query(query: &str) -> Filters {
        Filters(
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k.starts_with("cf."))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gte,
    Lte,
}

/// A value of a filter, parsed for its field.
fn filter_value(def: &FieldDef, text: &str) -> Result<Param, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Param::Float)
            .ok_or_else(|| "must be a number".to_owned())
    };
    match def.field_type {
        FieldType::Number | FieldType::Money => num(text),
        FieldType::Checkbox => match text {
            "true" => Ok(Param::Int(1)),
            "false" => Ok(Param::Int(0)),
            _ => Err("must be true or false".into()),
        },
        FieldType::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| Param::Text(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| "must be a date as YYYY-MM-DD".into()),
        FieldType::Datetime => DateTime::parse_from_rfc3339(text)
            .map(|t| {
                Param::Text(
                    t.with_timezone(&Utc)
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                )
            })
            .or_else(|_| {
                // A date alone: from its midnight (UTC).
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| Param::Text(format!("{}T00:00:00Z", d.format("%Y-%m-%d"))))
            })
            .map_err(|_| "must be an RFC 3339 time or a date".into()),
        FieldType::Email => Ok(Param::Text(text.trim().to_lowercase())),
        _ => Ok(Param::Text(text.to_owned())),
    }
}

/// One field's filters: its definition, the values it may equal (any of
/// them), and its bounds.
type FieldFilter<'a> = (&'a FieldDef, Vec<Param>, Vec<(Op, Param)>);

/// Adds the filters to `s` (a list of `entity` aliased as in `s`). Unknown
/// fields, operators and values are 422 naming `cf.<key>`.
pub async fn apply_filters(
    tx: &mut impl Scoped,
    entity: Entity,
    filters: &Filters,
    s: &mut Select,
    alias: &str,
) -> ApiResult<()> {
    if filters.is_empty() {
        return Ok(());
    }
    let defs = fields(tx, entity, false).await?;
    let mut e = FieldErrors::default();
    // Per field: the equal-to values (any of them) and the bounds.
    let mut by_key: Vec<FieldFilter> = Vec::new();
    for (name, text) in &filters.0 {
        let rest = &name[3..];
        let (key, op) = match rest.rsplit_once('.') {
            Some((k, "gte")) => (k, Op::Gte),
            Some((k, "lte")) => (k, Op::Lte),
            Some((k, "eq")) => (k, Op::Eq),
            _ => (rest, Op::Eq),
        };
        let Some(def) = defs.iter().find(|d| d.key == key) else {
            e.add(name, format!("is not a custom field of {entity}"));
            continue;
        };
        if op != Op::Eq && !def.field_type.ranged() {
            e.add(
                name,
                "gte and lte are for number, money, date and datetime fields",
            );
            continue;
        }
        let value = match filter_value(def, text) {
            Ok(v) => v,
            Err(why) => {
                e.add(name, why);
                continue;
            }
        };
        let at = match by_key.iter().position(|(d, _, _)| d.key == def.key) {
            Some(i) => i,
            None => {
                by_key.push((def, Vec::new(), Vec::new()));
                by_key.len() - 1
            }
        };
        match op {
            Op::Eq => by_key[at].1.push(value),
            _ => by_key[at].2.push((op, value)),
        }
    }
    e.finish()?;
    for (def, equals, bounds) in by_key {
        let clause = match tx.dialect() {
            Dialect::Postgres => postgres_filter(s, entity, alias, def, equals, bounds),
            Dialect::Sqlite => sqlite_filter(s, alias, def, equals, bounds),
        };
        s.and_sql(&clause);
    }
    Ok(())
}

/// PostgreSQL: through `custom_values`, a btree range within the tenant.
fn postgres_filter(
    s: &mut Select,
    entity: Entity,
    alias: &str,
    def: &FieldDef,
    equals: Vec<Param>,
    bounds: Vec<(Op, Param)>,
) -> String {
    let key = s.bind(Param::Text(def.key.clone()));
    let numeric = def.field_type.numeric() && def.field_type != FieldType::Checkbox;
    let column = if numeric {
        "v.value_num"
    } else {
        "v.value_text"
    };
    let mut conds = Vec::new();
    if !equals.is_empty() {
        let ors: Vec<String> = equals
            .into_iter()
            .map(|p| {
                let p = match p {
                    Param::Int(b) => Param::Text((b == 1).to_string()),
                    other => other,
                };
                format!("{column} = {}", s.bind(p))
            })
            .collect();
        conds.push(format!("({})", ors.join(" OR ")));
    }
    for (op, p) in bounds {
        let sign = if op == Op::Gte { ">=" } else { "<=" };
        conds.push(format!("{column} {sign} {}", s.bind(p)));
    }
    format!(
        "{alias}.id IN (SELECT v.record_id FROM custom_values v WHERE v.tenant_id = $1 AND v.entity = '{}' AND v.key = {key} AND {})",
        entity.as_str(),
        conds.join(" AND ")
    )
}

/// SQLite: the JSON of the row itself.
fn sqlite_filter(
    s: &mut Select,
    alias: &str,
    def: &FieldDef,
    equals: Vec<Param>,
    bounds: Vec<(Op, Param)>,
) -> String {
    let path = s.bind(Param::Text(json_path(def)));
    let value = match def.field_type {
        FieldType::Number | FieldType::Money => {
            format!("CAST(json_extract({alias}.custom_fields, {path}) AS REAL)")
        }
        _ => format!("json_extract({alias}.custom_fields, {path})"),
    };
    let mut conds = Vec::new();
    if !equals.is_empty() {
        let binds: Vec<String> = equals.into_iter().map(|p| s.bind(p)).collect();
        if def.field_type == FieldType::MultiSelect {
            conds.push(format!(
                "EXISTS (SELECT 1 FROM json_each({alias}.custom_fields, {path}) j WHERE j.value IN ({}))",
                binds.join(", ")
            ));
        } else {
            conds.push(format!("{value} IN ({})", binds.join(", ")));
        }
    }
    for (op, p) in bounds {
        let sign = if op == Op::Gte { ">=" } else { "<=" };
        conds.push(format!("{value} {sign} {}", s.bind(p)));
    }
    format!("({})", conds.join(" AND "))
}

/// The JSON path of a field's sortable value: money by its amount.
fn json_path(def: &FieldDef) -> String {
    if def.field_type == FieldType::Money {
        format!("$.\"{}\".amount", def.key)
    } else {
        format!("$.\"{}\"", def.key)
    }
}

/// One page of a list of `entity` (the query `s`, its rows aliased
/// `alias`): the custom-field filters added, a custom order resolved, and
/// archived fields' values hidden.
pub async fn list<T: FromRow + super::listing::Keyed + Custom + Send>(
    tx: &mut impl Scoped,
    entity: Entity,
    filters: &Filters,
    mut s: Select,
    alias: &str,
    req: &super::listing::ListRequest,
) -> ApiResult<crate::pagination::Page<T>> {
    apply_filters(tx, entity, filters, &mut s, alias).await?;
    let mut req = req.clone();
    req.resolve_custom(tx, entity).await?;
    let mut page = s.fetch(tx, &req).await?;
    visible(tx, entity, &mut page.items).await?;
    Ok(page)
}

/// What a list sorted by a custom field orders by.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub key: String,
    pub numeric: bool,
    pub money: bool,
}

/// The field of `?sort=cf.<key>`, checked: 422 for an unknown field or one
/// that has no order (multi-select, long text).
pub async fn sort_key(tx: &mut impl Scoped, entity: Entity, key: &str) -> ApiResult<SortKey> {
    let defs = fields(tx, entity, false).await?;
    let def = defs.iter().find(|d| d.key == key).ok_or_else(|| {
        ApiError::field(
            "sort",
            format!("cf.{key} is not a custom field of {entity}"),
        )
    })?;
    if matches!(def.field_type, FieldType::MultiSelect | FieldType::LongText) {
        return Err(ApiError::field(
            "sort",
            "multi-select and long text fields have no order",
        ));
    }
    Ok(SortKey {
        key: def.key.clone(),
        numeric: def.field_type.numeric(),
        money: def.field_type == FieldType::Money,
    })
}

/// The lowest value of a numeric sort: rows without a value sort first
/// ascending (so every row has a place in the keyset order).
pub const NUMERIC_NONE: f64 = -1e300;

impl SortKey {
    /// The SQL expression of the sort value of the row aliased `alias` (the
    /// key is a checked field key).
    pub fn sql(&self, dialect: Dialect, alias: &str) -> String {
        let k = &self.key;
        match (dialect, self.numeric, self.money) {
            (Dialect::Postgres, true, true) => format!(
                "COALESCE(CAST({alias}.custom_fields -> '{k}' ->> 'amount' AS double precision), {NUMERIC_NONE:e})"
            ),
            (Dialect::Postgres, true, false) => format!(
                "COALESCE(CASE jsonb_typeof({alias}.custom_fields -> '{k}') \
                 WHEN 'number' THEN CAST({alias}.custom_fields ->> '{k}' AS double precision) \
                 WHEN 'boolean' THEN CASE WHEN {alias}.custom_fields ->> '{k}' = 'true' THEN 1.0 ELSE 0.0 END END, {NUMERIC_NONE:e})"
            ),
            (Dialect::Postgres, false, _) => format!("COALESCE({alias}.custom_fields ->> '{k}', '')"),
            (Dialect::Sqlite, true, true) => format!(
                "COALESCE(CAST(json_extract({alias}.custom_fields, '$.\"{k}\".amount') AS REAL), {NUMERIC_NONE:e})"
            ),
            (Dialect::Sqlite, true, false) => format!(
                "COALESCE(CAST(json_extract({alias}.custom_fields, '$.\"{k}\"') AS REAL), {NUMERIC_NONE:e})"
            ),
            (Dialect::Sqlite, false, _) => format!(
                "COALESCE(CAST(json_extract({alias}.custom_fields, '$.\"{k}\"') AS TEXT), '')"
            ),
        }
    }

    /// The sort value of a record, as the SQL computes it.
    pub fn value_of(&self, fields: &Map<String, Value>) -> Param {
        let v = fields.get(&self.key);
        if self.numeric {
            let n = match v {
                Some(Value::Number(n)) if !self.money => n.as_f64(),
                Some(Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
                Some(Value::Object(m)) if self.money => m.get("amount").and_then(Value::as_f64),
                _ => None,
            };
            Param::Float(n.unwrap_or(NUMERIC_NONE))
        } else {
            Param::Text(match v {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(t: FieldType) -> FieldDef {
        FieldDef {
            id: Uuid::nil(),
            entity: Entity::Contacts,
            key: "k".into(),
            label: "K".into(),
            field_type: t,
            options: vec![
                SelectOption {
                    value: "north".into(),
                    label: "North".into(),
                },
                SelectOption {
                    value: "south".into(),
                    label: "South".into(),
                },
            ],
            required: false,
            default: None,
            help_text: None,
            position: 0,
            in_list: false,
            archived: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn check(t: FieldType, v: Value) -> Result<Value, String> {
        let mut e = FieldErrors::default();
        let out = check_value(&mut e, &def(t), "f", v);
        match out {
            Some(v) if e.is_empty() => Ok(v),
            _ => Err(format!("{e:?}")),
        }
    }

    #[test]
    fn values_are_checked_and_normalised_per_type() {
        use serde_json::json;
        use FieldType::*;
        assert_eq!(check(Text, json!("  hi ")).unwrap(), json!("hi"));
        assert!(check(Text, json!("x".repeat(256))).is_err());
        assert!(check(Text, json!(5)).is_err());
        assert!(check(LongText, json!("x".repeat(5000))).is_ok());
        assert_eq!(check(Number, json!(2.5)).unwrap(), json!(2.5));
        assert!(check(Number, json!("2")).is_err());
        assert_eq!(
            check(Money, json!({"amount": 150000, "currency": "EUR"})).unwrap(),
            json!({"amount": 150000, "currency": "EUR"})
        );
        assert!(check(Money, json!({"amount": -1, "currency": "EUR"})).is_err());
        assert!(check(Money, json!({"amount": 1, "currency": "eur"})).is_err());
        assert!(check(Money, json!({"amount": 1, "currency": "EUR", "x": 1})).is_err());
        assert_eq!(
            check(Date, json!("2026-05-01")).unwrap(),
            json!("2026-05-01")
        );
        assert!(check(Date, json!("2026-5-1")).is_err());
        assert_eq!(
            check(Datetime, json!("2026-05-01T11:30:00+02:00")).unwrap(),
            json!("2026-05-01T09:30:00Z")
        );
        assert_eq!(check(Checkbox, json!(true)).unwrap(), json!(true));
        assert!(check(Checkbox, json!("yes")).is_err());
        assert_eq!(check(Select, json!("north")).unwrap(), json!("north"));
        assert!(check(Select, json!("east")).is_err());
        assert_eq!(
            check(MultiSelect, json!(["south", "north", "south"])).unwrap(),
            json!(["south", "north"])
        );
        assert!(check(MultiSelect, json!(["east"])).is_err());
        assert!(check(Url, json!("https://example.com/x")).is_ok());
        assert!(check(Url, json!("javascript:alert(1)")).is_err());
        assert_eq!(
            check(Email, json!("Ada@Example.com")).unwrap(),
            json!("ada@example.com")
        );
        assert!(check(Email, json!("nope")).is_err());
        assert!(check(Phone, json!("+34 600 123 456")).is_ok());
        assert!(check(Phone, json!("call me")).is_err());
        assert!(check(User, json!(Uuid::nil().to_string())).is_ok());
        assert!(check(User, json!("someone")).is_err());
    }

    #[test]
    fn types_change_only_where_values_convert() {
        use serde_json::json;
        use FieldType::*;
        let conv = |a, b, v: Value| {
            let mut e = FieldErrors::default();
            convert(&def(a), &def(b), &mut e, v).filter(|_| e.is_empty())
        };
        assert_eq!(
            conv(Select, MultiSelect, json!("north")),
            Some(json!(["north"]))
        );
        assert_eq!(conv(Text, Number, json!("42")), Some(json!(42)));
        assert_eq!(conv(Text, Number, json!("4.5")), Some(json!(4.5)));
        assert_eq!(conv(Text, Number, json!("forty")), None);
        assert_eq!(conv(Number, Text, json!(42)), Some(json!("42")));
        assert_eq!(conv(Text, Email, json!("A@B.co")), Some(json!("a@b.co")));
        assert_eq!(conv(Text, Select, json!("north")), None);
        assert_eq!(
            conv(Money, Number, json!({"amount": 1, "currency": "EUR"})),
            None
        );
    }

    #[test]
    fn sort_values_match_what_the_sql_orders_by() {
        use serde_json::json;
        let k = SortKey {
            key: "k".into(),
            numeric: true,
            money: true,
        };
        let m = json!({"k": {"amount": 500, "currency": "EUR"}});
        assert!(matches!(k.value_of(m.as_object().unwrap()), Param::Float(f) if f == 500.0));
        assert!(matches!(k.value_of(&Map::new()), Param::Float(f) if f == NUMERIC_NONE));
    }
}
