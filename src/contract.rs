//! The API's value rules in one place: the validation uses these constants
//! and patterns, and the OpenAPI description is generated from the same
//! ones (`#[schema(schema_with = …)]` / `#[param(schema_with = …)]` name the
//! functions below), so the two cannot drift apart.
//!
//! Every pattern is written in the common subset of ECMA-262, Python and
//! Rust regular expressions (the dialects clients, schemathesis and our own
//! tests use).

use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;

/// Unicode `White_Space`, exactly what `str::trim` removes, as the inside of
/// a character class.
const WHITE_SPACE: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Any text without NUL (which no database keeps; the JSON and query
/// extractors refuse it everywhere).
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// Text with something besides white space, and no NUL: what
/// [`crate::error::FieldErrors::text`] accepts.
pub fn not_blank() -> String {
    format!(r"^[^\u0000]*[^\u0000{WHITE_SPACE}][^\u0000]*$")
}

/// Page size of every list (`?limit=`).
pub const LIMIT_MIN: i64 = 1;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn string_or_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn with_format(b: ObjectBuilder, f: KnownFormat) -> ObjectBuilder {
    b.format(Some(SchemaFormat::KnownFormat(f)))
}

/// Text a field needs when it is given: 1 to `MAX` characters, not blank
/// ([`crate::error::FieldErrors::text`]).
pub fn text<const MAX: usize>() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(not_blank()))
        .build()
}

/// Like [`text`], where `null` means "leave it as it is" (an update).
pub fn text_or_null<const MAX: usize>() -> Object {
    string_or_null()
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(not_blank()))
        .build()
}

/// Optional text that `null` or a blank string clears
/// ([`crate::tenancy::clearable`]): at most `MAX` characters.
pub fn clearable<const MAX: usize>() -> Object {
    string_or_null()
        .max_length(Some(MAX))
        .pattern(Some(NO_NUL))
        .build()
}

/// A query parameter of free text, at most `MAX` characters.
pub fn query_text<const MAX: usize>() -> Object {
    string().max_length(Some(MAX)).pattern(Some(NO_NUL)).build()
}

/// An id given as a body reference.
pub fn uuid() -> Object {
    with_format(string(), KnownFormat::Uuid).build()
}

/// A query parameter that may also be sent empty (`?owner_id=`), which
/// means the same as leaving it out: HTML forms send empty fields.
fn or_empty(s: Object) -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(
        AnyOfBuilder::new()
            .item(s)
            .item(string().max_length(Some(0)))
            .build(),
    ))
}

/// An id given as a query filter (empty: no filter).
pub fn query_uuid() -> RefOr<Schema> {
    or_empty(uuid())
}

/// An RFC 3339 time given as a query parameter (empty: not given).
pub fn query_time() -> RefOr<Schema> {
    or_empty(
        with_format(string(), KnownFormat::DateTime)
            .pattern(Some(TIME_PATTERN))
            .build(),
    )
}

/// An id, or `null`.
pub fn uuid_or_null() -> Object {
    with_format(string_or_null(), KnownFormat::Uuid).build()
}

/// `?limit=`: a whole number from 1 to `MAX` (empty: the default).
pub fn limit<const MAX: i64>() -> RefOr<Schema> {
    or_empty(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(LIMIT_MIN as f64))
            .maximum(Some(MAX as f64))
            .build(),
    )
}

/// `?limit=` of the lists paged by [`crate::pagination`] (1–200).
pub fn page_limit() -> RefOr<Schema> {
    limit::<{ crate::pagination::MAX_LIMIT }>()
}

/// `?cursor=` of the lists paged by [`crate::pagination`].
pub fn page_cursor() -> Object {
    string()
        .pattern(Some(crate::pagination::CURSOR_PATTERN))
        .build()
}

/// `?cursor=` of the CRM lists ([`crate::crm::listing`]).
pub fn crm_cursor() -> Object {
    string()
        .pattern(Some(crate::crm::listing::CURSOR_PATTERN))
        .build()
}

/// `?sort=` of the CRM lists.
pub fn crm_sort() -> Object {
    string()
        .pattern(Some(crate::crm::listing::SORT_PATTERN))
        .build()
}

/// `?sort=` of activities (also by `due_at`).
pub fn activity_sort() -> Object {
    string()
        .pattern(Some(crate::crm::listing::SORT_WITH_DUE_PATTERN))
        .build()
}

/// `?sort=` of notes (no names to sort by).
pub fn note_sort() -> Object {
    string()
        .pattern(Some(crate::crm::listing::SORT_BY_TIME_PATTERN))
        .build()
}

/// A boolean query parameter: `true` or `false` (empty: not given).
pub fn query_bool() -> Object {
    query_one_of(&["true", "false"])
}

/// One value of a closed set, as a query parameter (empty: not given).
pub fn query_one_of(values: &[&str]) -> Object {
    string()
        .enum_values(Some(values.iter().copied().chain([""])))
        .build()
}

/// An RFC 3339 time in the years the API accepts ([`crate::domain::check_time`]).
pub fn time() -> Object {
    with_format(string(), KnownFormat::DateTime)
        .pattern(Some(TIME_PATTERN))
        .build()
}

/// Years 1970–9999, as [`crate::domain::check_time`] wants them; an offset
/// or `Z`.
pub const TIME_PATTERN: &str = r"^(19[7-9][0-9]|[2-9][0-9]{3})-";

/// A calendar date in the years the API accepts ([`crate::domain::check_date`]).
pub fn date() -> Object {
    with_format(string(), KnownFormat::Date)
        .pattern(Some(DATE_PATTERN))
        .build()
}

/// Years 1900–9999 ([`crate::domain::check_date`]).
pub const DATE_PATTERN: &str = r"^(19[0-9]{2}|[2-9][0-9]{3})-";

/// One value of a closed set.
pub fn one_of(values: &[&str]) -> Object {
    string().enum_values(Some(values.iter().copied())).build()
}

/// A list filter on a closed set of names.
pub fn deal_statuses() -> Object {
    query_one_of(crate::domain::StageKind::NAMES)
}

pub fn lead_statuses() -> Object {
    query_one_of(crate::crm::leads::LeadStatus::NAMES)
}

pub fn activity_types() -> Object {
    query_one_of(crate::crm::activities::ActivityType::NAMES)
}

pub fn roles() -> Object {
    query_one_of(crate::domain::Role::NAMES)
}

pub fn tenant_statuses() -> Object {
    query_one_of(crate::domain::TenantStatus::NAMES)
}

pub fn plan_codes() -> Object {
    query_one_of(crate::domain::PlanCode::NAMES)
}

/// Free text of a list filter, any length.
pub fn query_any() -> Object {
    string().pattern(Some(NO_NUL)).build()
}
