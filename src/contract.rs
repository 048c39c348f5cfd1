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

pub fn job_filters() -> Object {
    query_one_of(&["problems", "failed", "dead", "queued", "running"])
}

pub fn message_statuses() -> Object {
    query_one_of(crate::mail::STATUSES)
}

/// The record types with custom fields.
pub fn custom_entities() -> Object {
    one_of(crate::crm::custom::Entity::NAMES)
}

/// The types of custom fields.
pub fn field_types() -> Object {
    one_of(crate::crm::custom::FieldType::NAMES)
}

/// A custom field's key.
pub fn field_key() -> Object {
    string().pattern(Some(r"^[a-z][a-z0-9_]{0,49}$")).build()
}

/// The plans that are sold (not the trial).
pub fn sold_plans() -> Object {
    one_of(&["starter", "professional", "enterprise"])
}

pub fn billing_intervals() -> Object {
    one_of(crate::billing::Interval::NAMES)
}

pub fn plan_codes() -> Object {
    query_one_of(crate::domain::PlanCode::NAMES)
}

/// Free text of a list filter, any length.
pub fn query_any() -> Object {
    string().pattern(Some(NO_NUL)).build()
}

/// Free text, any length, or `null`.
pub fn query_any_or_null() -> Object {
    string_or_null().pattern(Some(NO_NUL)).build()
}

/// An installation's fingerprint as [`crate::licensing::Fingerprint::parse`]
/// takes it (case, spaces and hyphens forgiven), or empty or `null`: none.
pub fn fingerprint_or_null() -> Object {
    string_or_null()
        .pattern(Some(r"^$|^[-\t ]*(?:[A-Za-z2-7][-\t ]*){16}$"))
        .build()
}

fn integer_or_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
}

/// A whole number from `MIN` to `MAX`, or `null` (not given).
pub fn int_or_null<const MIN: i64, const MAX: i64>() -> Object {
    integer_or_null()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(MIN as f64))
        .maximum(Some(MAX as f64))
        .build()
}

/// The largest amount of money a field takes, in minor units: 10^15
/// (ten trillion in a currency with cents). Deal amounts, product and line
/// item prices and a lead's estimated value are 0 to this
/// ([`crate::crm::check_amount`]), so sums of many stay far from overflow.
pub const AMOUNT_MAX: i64 = 1_000_000_000_000_000;

/// An amount of money in minor units (0 to [`AMOUNT_MAX`]), or `null`.
pub fn amount_or_null() -> Object {
    int_or_null::<0, AMOUNT_MAX>()
}

/// A percentage (0–100), or `null`.
pub fn percent_or_null() -> Object {
    int_or_null::<0, 100>()
}

/// What the currency checks accept: three ASCII letters (taken in upper
/// case) with white space around them trimmed.
pub fn currency_pattern() -> String {
    format!(r"^[{WHITE_SPACE}]*[A-Za-z]{{3}}[{WHITE_SPACE}]*$")
}

/// An ISO 4217 currency code such as `USD`, or `null` (the default).
pub fn currency_or_null() -> Object {
    string_or_null().pattern(Some(currency_pattern())).build()
}

/// A colour `#rrggbb` (either case, white space around it trimmed), or
/// `null`.
pub fn color_or_null() -> Object {
    string_or_null()
        .pattern(Some(format!(
            r"^[{WHITE_SPACE}]*#[0-9A-Fa-f]{{6}}[{WHITE_SPACE}]*$"
        )))
        .build()
}

/// An RFC 3339 time in the years the API accepts, or `null`.
pub fn time_or_null() -> Object {
    with_format(string_or_null(), KnownFormat::DateTime)
        .pattern(Some(TIME_PATTERN))
        .build()
}

/// A calendar date in the years the API accepts, or `null`.
pub fn date_or_null() -> Object {
    with_format(string_or_null(), KnownFormat::Date)
        .pattern(Some(DATE_PATTERN))
        .build()
}

/// A flag that only `true` sets (`false` is refused), or `null`.
pub fn true_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .enum_values(Some([
            serde_json::Value::Bool(true),
            serde_json::Value::Null,
        ]))
        .build()
}

/// A field that cannot be given here: only `null` (the same as leaving it
/// out) is taken.
pub fn null_only() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// A new password ([`crate::domain::Password::new_secret`]).
/// The token of a link a message carried.
pub fn link_token() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(200))
        .pattern(Some(NO_NUL))
        .build()
}

pub fn password() -> Object {
    string()
        .min_length(Some(crate::domain::Password::MIN))
        .max_length(Some(crate::domain::Password::MAX))
        .pattern(Some(not_blank()))
        .build()
}

/// A new password, or `null` (unchanged).
pub fn password_or_null() -> Object {
    string_or_null()
        .min_length(Some(crate::domain::Password::MIN))
        .max_length(Some(crate::domain::Password::MAX))
        .pattern(Some(not_blank()))
        .build()
}

/// A username as [`crate::staff::parse_username`] takes it: 1 to 64 of
/// its characters, with white space around them.
pub fn username_pattern() -> String {
    let specials: String = crate::staff::USERNAME_SPECIALS
        .chars()
        .map(|c| match c {
            '-' | '^' | '/' | '{' | '}' | '|' | '.' | '*' | '+' | '?' | '$' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect();
    format!(
        "^[{WHITE_SPACE}]*[A-Za-z0-9{specials}]{{1,{}}}[{WHITE_SPACE}]*$",
        crate::staff::USERNAME_MAX
    )
}

/// A username ([`username_pattern`]), or `null` (unchanged, or the default).
pub fn username_or_null() -> Object {
    string_or_null().pattern(Some(username_pattern())).build()
}

/// The name given at login ([`crate::auth::login`]).
pub fn login_name() -> Object {
    text::<{ crate::auth::login::USERNAME_MAX }>()
}

/// A password offered at login: any text up to the limit.
pub fn offered_password() -> Object {
    string()
        .max_length(Some(crate::auth::login::PASSWORD_MAX))
        .pattern(Some(NO_NUL))
        .build()
}

/// A lead's status as a create or update sets it: not `converted`, which
/// only the conversion sets.
pub fn settable_lead_status() -> Object {
    use crate::crm::leads::LeadStatus;
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            LeadStatus::NAMES
                .iter()
                .filter(|n| **n != LeadStatus::Converted.as_str())
                .map(|n| serde_json::Value::from(*n))
                .chain([serde_json::Value::Null]),
        ))
        .build()
}

/// An e-mail address ([`crate::domain::Email::parse`]).
pub fn email() -> Object {
    with_format(string(), KnownFormat::Email)
        .max_length(Some(crate::domain::Email::MAX))
        .build()
}

/// An e-mail address, or `null`.
pub fn email_or_null() -> Object {
    with_format(string_or_null(), KnownFormat::Email)
        .max_length(Some(crate::domain::Email::MAX))
        .build()
}

/// An e-mail address; `null` or a blank string clears it.
pub fn clearable_email() -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(
        AnyOfBuilder::new()
            .item(email_or_null())
            .item(string().pattern(Some(format!("^[{WHITE_SPACE}]*$"))))
            .build(),
    ))
}

/// Lower-case letters, digits and inner hyphens ([`crate::domain::Slug::parse`]).
pub const SLUG_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// A tenant's slug, or `null` (derived from the company name): 3–63
/// characters, not one of the reserved names.
pub fn slug_or_null() -> Object {
    let mut s = string_or_null()
        .min_length(Some(crate::domain::Slug::MIN))
        .max_length(Some(crate::domain::Slug::MAX))
        .pattern(Some(SLUG_PATTERN))
        .build();
    let mut ext = utoipa::openapi::extensions::Extensions::default();
    ext.insert(
        "not".to_owned(),
        serde_json::json!({ "enum": crate::domain::RESERVED_SLUGS }),
    );
    s.extensions = Some(ext);
    s
}

/// An IANA time-zone name ([`crate::domain::Timezone::parse`]), or `null`.
pub fn timezone_or_null() -> Object {
    string_or_null()
        .enum_values(Some(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| serde_json::Value::from(tz.name()))
                .chain([serde_json::Value::Null]),
        ))
        .build()
}

/// The most characters of one tag, and the most tags of a record
/// ([`crate::crm::parse_tags`]).
pub const TAG_MAX: usize = 50;
pub const TAGS_MAX: usize = 50;

/// Tags: each 1–50 characters, not blank; or `null` (unchanged).
pub fn tags_or_null() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(text::<TAG_MAX>())
        .max_items(Some(TAGS_MAX))
        .build()
}

/// One label of a domain name: ASCII letters, digits and inner hyphens.
const LABEL: &str = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// A domain name such as `example.com` (final dots are dropped), with
/// white space around it; blank clears it.
pub fn domain_pattern() -> String {
    format!(r"^[{WHITE_SPACE}]*({LABEL}(\.{LABEL})+\.*[{WHITE_SPACE}]*)?$")
}

/// A domain name ([`domain_pattern`]); `null` or a blank string clears it.
pub fn clearable_domain<const MAX: usize>() -> Object {
    string_or_null()
        .max_length(Some(MAX))
        .pattern(Some(domain_pattern()))
        .build()
}

/// An `http://` or `https://` URL without white space or control
/// characters ([`crate::tenancy::valid_url`]), with white space around it;
/// blank clears it.
pub fn url_pattern() -> String {
    let url_char = format!(r"[^{WHITE_SPACE}\u0000-\u001F\u007F-\u009F]");
    format!(r"^[{WHITE_SPACE}]*((https://{url_char}+|http://{url_char}{{2,}})[{WHITE_SPACE}]*)?$")
}

/// A URL ([`url_pattern`]); `null` or a blank string clears it.
pub fn clearable_url<const MAX: usize>() -> Object {
    string_or_null()
        .max_length(Some(MAX))
        .pattern(Some(url_pattern()))
        .build()
}

/// A new pipeline's stages: 1 to [`crate::crm::pipelines::MAX_STAGES`]
/// `StageInput`s, or `null` (the default stages).
pub fn stages_or_null() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(utoipa::openapi::Ref::from_schema_name("StageInput"))
        .min_items(Some(1))
        .max_items(Some(crate::crm::pipelines::MAX_STAGES))
        .build()
}

/// A CSV file sent as the body of an import: not empty.
pub fn csv_text() -> Object {
    string().min_length(Some(1)).build()
}

/// A form's part names a multipart reader can take: no control
/// characters, quotes or backslashes (they cannot be written in a
/// `Content-Disposition` header).
pub const PART_NAME_PATTERN: &str = r#"^[^\u0000-\u001F\u007F"\\]*$"#;

/// An import sent as a `multipart/form-data` form: a non-empty `file` part
/// (the CSV), and any other small fields, which are ignored.
pub fn import_form() -> Object {
    let mut form = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "file",
            with_format(string(), KnownFormat::Binary)
                .min_length(Some(1))
                .description(Some("The CSV file.")),
        )
        .required("file")
        .build();
    form.extensions.get_or_insert_with(Default::default).insert(
        "propertyNames".to_owned(),
        serde_json::json!({ "pattern": PART_NAME_PATTERN }),
    );
    form
}

/// A webhook's URL: `http(s)://` and no white space or control characters,
/// at most [`crate::integrations::webhooks::URL_MAX`] characters (whether
/// its address is allowed is the server's check, not a shape).
pub fn webhook_url() -> Object {
    webhook_url_builder(string()).build()
}

/// [`webhook_url`], or `null` to leave it (an update).
pub fn webhook_url_or_null() -> Object {
    webhook_url_builder(string_or_null()).build()
}

fn webhook_url_builder(b: ObjectBuilder) -> ObjectBuilder {
    let url_char = format!(r"[^{WHITE_SPACE}\u0000-\u001F\u007F-\u009F]");
    b.max_length(Some(crate::integrations::webhooks::URL_MAX))
        .pattern(Some(format!(r"^https?://{url_char}+$")))
}

fn event_type_names() -> utoipa::openapi::schema::ArrayBuilder {
    let names: Vec<serde_json::Value> = crate::events::TYPES
        .iter()
        .map(|(_, n)| serde_json::Value::from(*n))
        .collect();
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string().enum_values(Some(names)))
        .min_items(Some(1))
        .max_items(Some(crate::integrations::webhooks::EVENTS_MAX))
}

/// The event types a webhook receives: at least one.
pub fn event_types() -> utoipa::openapi::schema::Array {
    event_type_names().schema_type(Type::Array).build()
}

/// [`event_types`], or `null` to leave them.
pub fn event_types_or_null() -> utoipa::openapi::schema::Array {
    event_type_names()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .build()
}

/// An API key's scopes: at least one of `all`, `<resource>:read`,
/// `<resource>:write`.
pub fn api_key_scopes() -> utoipa::openapi::schema::Array {
    let names: Vec<serde_json::Value> = crate::integrations::scopes::Scope::names()
        .into_iter()
        .map(serde_json::Value::from)
        .collect();
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(Type::Array)
        .items(string().enum_values(Some(names)))
        .min_items(Some(1))
        .max_items(Some(64))
        .build()
}
