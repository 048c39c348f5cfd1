//! What an API key may reach: scopes such as `contacts:read` and
//! `deals:write` (which includes reading), or `all`, and the scope each
//! route of the tenant API needs.

use serde::Serialize;

crate::domain::text_enum!(
    /// The parts of the tenant API a scope names.
    Resource {
        Contacts = "contacts", Companies = "companies", Leads = "leads", Deals = "deals",
        Products = "products", Activities = "activities", Notes = "notes",
        Pipelines = "pipelines", Reports = "reports", Search = "search", Users = "users",
        Teams = "teams", Roles = "roles", Tenant = "tenant", Webhooks = "webhooks"
    }
);

/// One scope a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scope {
    All,
    Read(Resource),
    Write(Resource),
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        if s == "all" {
            return Some(Scope::All);
        }
        let (resource, access) = s.split_once(':')?;
        let resource: Resource = resource.parse().ok()?;
        match access {
            "read" => Some(Scope::Read(resource)),
            "write" => Some(Scope::Write(resource)),
            _ => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Scope::All => "all".to_owned(),
            Scope::Read(r) => format!("{}:read", r.as_str()),
            Scope::Write(r) => format!("{}:write", r.as_str()),
        }
    }

    /// Every scope's name, `all` first.
    pub fn names() -> Vec<String> {
        let mut out = vec!["all".to_owned()];
        for r in Resource::ALL {
            out.push(Scope::Read(*r).name());
            out.push(Scope::Write(*r).name());
        }
        out
    }

    /// Whether holding `self` grants `needed` (writing includes reading).
    pub fn grants(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::All, _) => true,
            (Scope::Write(a), Scope::Read(b) | Scope::Write(b)) => a == b,
            (Scope::Read(a), Scope::Read(b)) => a == b,
            _ => false,
        }
    }
}

/// What a route asks of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    Scope(Scope),
    /// Any valid key (who am I).
    AnyKey,
    /// Keys cannot use it: managing keys, signing in and out, passwords.
    NotForKeys,
}

/// The scope `path` of the tenant API needs, for a request that writes or
/// only reads.
pub fn needed(path: &str, writes: bool) -> Needed {
    let Some(rest) = path.strip_prefix("/api/") else {
        return Needed::NotForKeys;
    };
    let mut parts = rest.split('/');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    let resource = match (first, second) {
        ("auth", Some("me")) if !writes => return Needed::AnyKey,
        ("contacts", _) => Resource::Contacts,
        ("companies", _) => Resource::Companies,
        ("leads", _) => Resource::Leads,
        ("deals", _) => Resource::Deals,
        ("products", _) => Resource::Products,
        ("activities", _) => Resource::Activities,
        ("notes", _) => Resource::Notes,
        ("pipelines", _) => Resource::Pipelines,
        ("reports", _) => Resource::Reports,
        ("search", _) => Resource::Search,
        ("users" | "invitations", _) => Resource::Users,
        ("teams", _) => Resource::Teams,
        ("roles", _) => Resource::Roles,
        ("tenants", Some("current" | "subscription" | "usage")) => Resource::Tenant,
        ("audit-log" | "messages", _) => Resource::Tenant,
        ("webhooks", _) => Resource::Webhooks,
        _ => return Needed::NotForKeys,
    };
    Needed::Scope(if writes {
        Scope::Write(resource)
    } else {
        Scope::Read(resource)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_grant() {
        for name in Scope::names() {
            assert_eq!(Scope::parse(&name).unwrap().name(), name);
        }
        assert_eq!(Scope::parse("contacts:admin"), None);
        assert_eq!(Scope::parse("nothing:read"), None);
        let w = Scope::parse("deals:write").unwrap();
        assert!(w.grants(Scope::Read(Resource::Deals)));
        assert!(!w.grants(Scope::Read(Resource::Contacts)));
        assert!(!Scope::Read(Resource::Deals).grants(w));
        assert!(Scope::All.grants(w));
    }

    #[test]
    fn routes_need_their_resources_scope() {
        assert_eq!(
            needed("/api/contacts/abc/timeline", false),
            Needed::Scope(Scope::Read(Resource::Contacts))
        );
        assert_eq!(
            needed("/api/deals/x/items", true),
            Needed::Scope(Scope::Write(Resource::Deals))
        );
        assert_eq!(needed("/api/api-keys", false), Needed::NotForKeys);
        assert_eq!(needed("/api/auth/logout-all", true), Needed::NotForKeys);
        assert_eq!(needed("/api/auth/me", false), Needed::AnyKey);
        assert_eq!(needed("/api/tenants/x", false), Needed::NotForKeys);
        assert_eq!(
            needed("/api/tenants/current", true),
            Needed::Scope(Scope::Write(Resource::Tenant))
        );
    }
}
