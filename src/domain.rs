//! Domain types parsed at the edge: a value of one of these types is valid by
//! construction, so services never see raw, unchecked strings.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        $crate::store_newtype!($name, Uuid);
    };
}

id_type!(
    /// A tenant (a company using the CRM).
    TenantId
);
id_type!(
    /// A tenant user (the seed's "staff").
    UserId
);
id_type!(
    /// One of the vendor's platform administrators.
    AdminId
);
id_type!(
    /// A company record of a tenant's CRM.
    CompanyId
);
id_type!(
    /// A contact.
    ContactId
);
id_type!(
    /// A lead.
    LeadId
);
id_type!(
    /// A sales pipeline.
    PipelineId
);
id_type!(
    /// A stage of a pipeline.
    StageId
);
id_type!(
    /// A deal.
    DealId
);
id_type!(
    /// A line item of a deal.
    ItemId
);
id_type!(
    /// A product of the catalogue.
    ProductId
);
id_type!(
    /// An activity (call, meeting, task…).
    ActivityId
);
id_type!(
    /// A note.
    NoteId
);

/// Declares a closed set of names stored and sent as text.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The texts of [`Self::ALL`], as the API sends and takes them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::store_text_enum!($name);
    };
}
pub(crate) use text_enum;

text_enum!(
    /// A tenant user's role.
    Role { Admin = "admin", Manager = "manager", User = "user" }
);

impl Role {
    /// How much the role may do: admin 2, manager 1, user 0.
    pub fn rank(self) -> u8 {
        match self {
            Role::Admin => 2,
            Role::Manager => 1,
            Role::User => 0,
        }
    }
}

text_enum!(
    /// Where a tenant stands. Suspended tenants are refused (403), cancelled
    /// ones are gone for their users (401).
    TenantStatus { Active = "active", Trial = "trial", Suspended = "suspended", Cancelled = "cancelled" }
);

text_enum!(
    /// A plan of the catalogue (ARCHITECTURE.md §6).
    PlanCode { Trial = "trial", Starter = "starter", Professional = "professional", Enterprise = "enterprise" }
);

text_enum!(
    /// The state of a tenant's subscription.
    SubscriptionStatus { Trialing = "trialing", Active = "active", PastDue = "past_due", Cancelled = "cancelled" }
);

text_enum!(
    /// What a pipeline stage means for its deals: still open, won or lost.
    /// A deal's status is its stage's kind.
    StageKind { Open = "open", Won = "won", Lost = "lost" }
);

/// Names that can never be a tenant's slug: they are, or may become, our own
/// host names and paths.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "console",
    "crm",
    "dashboard",
    "demo",
    "dev",
    "docs",
    "email",
    "ftp",
    "healthz",
    "help",
    "imap",
    "login",
    "logout",
    "mail",
    "mx",
    "ns1",
    "ns2",
    "platform",
    "pop",
    "pop3",
    "portal",
    "register",
    "root",
    "signup",
    "smtp",
    "stage",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "test",
    "trasealla",
    "webmail",
    "www",
];

/// A tenant's slug: a valid DNS label of 3–63 characters, lowercase a-z, 0-9
/// and inner hyphens, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

/// Why a text is not a usable slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugError {
    Length,
    Characters,
    Hyphens,
    Reserved,
}

impl SlugError {
    /// The machine-readable reason (check-availability's `slug_reason`).
    pub fn code(self) -> &'static str {
        match self {
            SlugError::Reserved => "reserved",
            _ => "invalid",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            SlugError::Length => "must be 3 to 63 characters long",
            SlugError::Characters => "may contain only lowercase letters a-z, digits and hyphens",
            SlugError::Hyphens => "may not start or end with a hyphen",
            SlugError::Reserved => "is reserved",
        }
    }
}

impl Slug {
    pub const MIN: usize = 3;
    pub const MAX: usize = 63;

    pub fn parse(s: &str) -> Result<Slug, SlugError> {
        if !(Self::MIN..=Self::MAX).contains(&s.len()) {
            return Err(SlugError::Length);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SlugError::Characters);
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(SlugError::Hyphens);
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(SlugError::Reserved);
        }
        Ok(Slug(s.to_owned()))
    }

    /// Derives a slug from a company name: letters folded to ASCII where a
    /// plain equivalent exists, everything else a hyphen, runs collapsed.
    /// Too short or reserved results are lengthened so registration never
    /// fails for want of a slug.
    pub fn derive(company_name: &str) -> Slug {
        let mut out = String::new();
        for c in company_name.chars().flat_map(char::to_lowercase) {
            match fold_ascii(c) {
                Some(s) => out.push_str(s),
                None if c.is_ascii_alphanumeric() => out.push(c),
                None => {
                    if !out.ends_with('-') && !out.is_empty() {
                        out.push('-');
                    }
                }
            }
        }
        while out.contains("--") {
            out = out.replace("--", "-");
        }
        // Leave room for a "-NN" suffix when the slug is taken.
        out.truncate(Self::MAX - 4);
        let trimmed = out.trim_matches('-');
        let mut slug = if trimmed.is_empty() {
            "company".to_owned()
        } else {
            trimmed.to_owned()
        };
        if slug.len() < Self::MIN || RESERVED_SLUGS.contains(&slug.as_str()) {
            slug.push_str("-team");
        }
        Slug(slug)
    }

    /// This slug with a numeric suffix, for the n-th company of that name.
    pub fn with_suffix(&self, n: u32) -> Slug {
        let suffix = format!("-{n}");
        let mut base = self.0.clone();
        base.truncate(Self::MAX - suffix.len());
        Slug(format!("{}{suffix}", base.trim_end_matches('-')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fold_ascii(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' | 'ß' => "s",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        '&' => "-and-",
        _ => return None,
    })
}

/// An e-mail address, trimmed and lowercased (it is also the login, unique
/// across the platform, so `A@x.com` and `a@x.com` are one address).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(s: &str) -> Result<Email, &'static str> {
        let s = s.trim().to_lowercase();
        if s.is_empty() {
            return Err("is required");
        }
        if s.len() > Self::MAX {
            return Err("is too long");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("is not an e-mail address");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Email(s))
        } else {
            Err("is not an e-mail address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// A password in transit. `Debug` never prints it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// A password the caller wants to set: length-checked.
    pub fn new_secret(s: String) -> Result<Password, &'static str> {
        let n = s.chars().count();
        if n < Self::MIN {
            Err("must be at least 8 characters long")
        } else if n > Self::MAX {
            Err("must be at most 128 characters long")
        } else if s.trim().is_empty() {
            Err("must not be blank")
        } else {
            Ok(Password(s))
        }
    }

    /// A password offered at login: not checked beyond what keeps hashing cheap.
    pub fn offered(s: String) -> Password {
        Password(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// An IANA time-zone name, such as `America/New_York`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timezone(String);

impl Timezone {
    pub fn parse(s: &str) -> Result<Timezone, &'static str> {
        s.parse::<chrono_tz::Tz>()
            .map(|tz| Timezone(tz.name().to_owned()))
            .map_err(|_| "is not an IANA time-zone name such as Europe/Berlin")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A time the API accepts: years 1970 to 9999, which both databases store
/// the same way.
pub fn check_time(t: &chrono::DateTime<chrono::Utc>) -> Result<(), &'static str> {
    use chrono::Datelike;
    if (1970..=9999).contains(&t.year()) {
        Ok(())
    } else {
        Err("must be a time between the years 1970 and 9999")
    }
}

/// An ISO 4217 currency code: three letters, kept in upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// What a bad code is told.
    pub const RULE: &'static str = "must be a three-letter ISO 4217 code such as USD";
    /// The currency of money given without one.
    pub const DEFAULT: &'static str = "USD";

    /// `usd`, ` USD ` and `USD` are all USD.
    pub fn parse(text: &str) -> Result<Currency, &'static str> {
        let code = text.trim().to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(Self::RULE)
        }
    }

    /// An optional currency field, read into `errors` under `field`.
    pub fn field(
        errors: &mut crate::error::FieldErrors,
        field: &str,
        text: Option<String>,
    ) -> Option<String> {
        errors.check(field, Currency::parse(&text?)).map(|c| c.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar date the API accepts: years 1900 to 9999.
pub fn check_date(d: &chrono::NaiveDate) -> Result<(), &'static str> {
    use chrono::Datelike;
    if (1900..=9999).contains(&d.year()) {
        Ok(())
    } else {
        Err("must be a date between the years 1900 and 9999")
    }
}

/// Money in minor units, as people read it.
pub fn money(amount: i64, currency: &str) -> String {
    let major = amount / 100;
    let minor = (amount % 100).abs();
    let mut digits = major.abs().to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}{digits}{grouped}.{minor:02} {currency}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert!(Slug::parse("abc-corporation").is_ok());
        assert_eq!(Slug::parse("ab"), Err(SlugError::Length));
        assert_eq!(Slug::parse(&"a".repeat(64)), Err(SlugError::Length));
        assert_eq!(Slug::parse("ABC"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("abc_d"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("-abc"), Err(SlugError::Hyphens));
        assert_eq!(Slug::parse("www"), Err(SlugError::Reserved));
        assert_eq!(Slug::parse("admin"), Err(SlugError::Reserved));
    }

    #[test]
    fn slugs_derive_from_company_names() {
        assert_eq!(Slug::derive("ABC Corporation").as_str(), "abc-corporation");
        assert_eq!(
            Slug::derive("  Café Ünïcode & Co.  ").as_str(),
            "cafe-unicode-and-co"
        );
        assert_eq!(Slug::derive("AB").as_str(), "ab-team");
        assert_eq!(Slug::derive("Admin").as_str(), "admin-team");
        assert_eq!(Slug::derive("株式会社").as_str(), "company");
        let long = Slug::derive(&"x".repeat(300));
        assert!(Slug::parse(long.with_suffix(99).as_str()).is_ok());
        for name in ["ABC Corporation", "!!!", "a-", "Ünïcode", &"é".repeat(200)] {
            let s = Slug::derive(name);
            assert!(Slug::parse(s.as_str()).is_ok(), "{name} -> {s}");
            assert!(Slug::parse(s.with_suffix(12).as_str()).is_ok());
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse(" Test@Example.COM ").unwrap().as_str(),
            "test@example.com"
        );
        assert_eq!(Email::parse("a.b+c@x.io").unwrap().local_part(), "a.b+c");
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@x",
            "a b@x.com",
            "a..b@x.com",
            "a@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_do_not_print() {
        let p = Password::new_secret("SecurePass123".into()).unwrap();
        assert!(!format!("{p:?}").contains("Secure"));
        assert!(Password::new_secret("short".into()).is_err());
    }

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            Timezone::parse("America/New_York").unwrap().as_str(),
            "America/New_York"
        );
        assert!(Timezone::parse("Mars/Olympus").is_err());
        assert!(Timezone::parse("").is_err());
    }
}
