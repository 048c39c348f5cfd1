//! The record kinds with generic pages: what each shows and which service
//! function serves it.

use super::layout::Nav;
use super::records::{required, spec, Kind, Record, Spec, Timelined};
use super::{see_other, Ctx, PageResult, UserForm};
use crate::app::App;
use crate::auth::SessionUser;
use crate::crm::companies::{self, CompanyFilter, CompanyInput, CompanyView};
use crate::crm::contacts::{self, ContactFilter, ContactInput, ContactView};
use crate::crm::leads::{self, ConvertRequest, LeadFilter, LeadInput, LeadStatus, LeadView};
use crate::crm::listing::ListRequest;
use crate::crm::products::{self, ProductFilter, ProductInput, ProductView};
use crate::crm::timeline::RecordKind;
use crate::domain::{CompanyId, ContactId, LeadId, ProductId};
use crate::error::ApiResult;
use crate::pagination::Page;
use crate::store::TenantTx;
use crate::web::extract::PathId;
use axum::extract::State;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use std::collections::HashMap;
use uuid::Uuid;

fn person(first: &str, last: Option<&str>) -> String {
    match last {
        Some(l) if !l.is_empty() => format!("{first} {l}"),
        _ => first.to_owned(),
    }
}

/// The service calls every record kind makes the same way: reads and
/// changes within the caller's record access. Products, a shared
/// catalogue, are outside record access.
macro_rules! services {
    ($module:ident, $id:ident, $filter:ident, $view:ty, $input:ty) => {
        async fn list(
            tx: &mut TenantTx,
            user: &SessionUser,
            q: Option<String>,
            req: &ListRequest,
        ) -> ApiResult<Page<$view>> {
            let filter = $filter {
                q,
                ..Default::default()
            };
            $module::list(tx, &user.access, &filter, req).await
        }
        async fn get(tx: &mut TenantTx, user: &SessionUser, id: Uuid) -> ApiResult<$view> {
            $module::get(tx, &user.access, $id(id)).await
        }
        async fn update(
            tx: &mut TenantTx,
            user: &SessionUser,
            id: Uuid,
            input: $input,
            now: DateTime<Utc>,
        ) -> ApiResult<$view> {
            $module::update(tx, &user.access, $id(id), input, now).await
        }
        async fn delete(
            tx: &mut TenantTx,
            user: &SessionUser,
            id: Uuid,
            now: DateTime<Utc>,
        ) -> ApiResult<()> {
            $module::delete(tx, &user.access, $id(id), now).await
        }
        services!(@create $module, $view, $input);
    };
    ($module:ident, $id:ident, $filter:ident, $view:ty, $input:ty, catalogue) => {
        async fn list(
            tx: &mut TenantTx,
            _user: &SessionUser,
            q: Option<String>,
            req: &ListRequest,
        ) -> ApiResult<Page<$view>> {
            let filter = $filter {
                q,
                ..Default::default()
            };
            $module::list(tx, &filter, req).await
        }
        async fn get(tx: &mut TenantTx, _user: &SessionUser, id: Uuid) -> ApiResult<$view> {
            $module::get(tx, $id(id)).await
        }
        async fn update(
            tx: &mut TenantTx,
            _user: &SessionUser,
            id: Uuid,
            input: $input,
            now: DateTime<Utc>,
        ) -> ApiResult<$view> {
            $module::update(tx, $id(id), input, now).await
        }
        async fn delete(
            tx: &mut TenantTx,
            user: &SessionUser,
            id: Uuid,
            now: DateTime<Utc>,
        ) -> ApiResult<()> {
            $module::delete(tx, user, $id(id), now).await
        }
        services!(@create $module, $view, $input);
    };
    (@create $module:ident, $view:ty, $input:ty) => {
        async fn create(
            tx: &mut TenantTx,
            user: &SessionUser,
            input: $input,
            now: DateTime<Utc>,
        ) -> ApiResult<$view> {
            $module::create(tx, user, input, now).await
        }
    };
}

pub struct Contacts;

impl Record for Contacts {
    const ENTITY: crate::crm::custom::Entity = crate::crm::custom::Entity::Contacts;
    const PATH: &'static str = "/contacts";
    const PLURAL: &'static str = "Contacts";
    const SINGULAR: &'static str = "contact";
    const NAV: Nav = Nav::Contacts;
    const TIMELINE: Option<RecordKind> = Some(RecordKind::Contact);
    const SEARCH_HINT: &'static str = "Search by name, e-mail or phone";
    const CSV: bool = true;
    type View = ContactView;
    type Input = ContactInput;

    fn fields() -> &'static [Spec] {
        const F: &[Spec] = &[
            required("first_name", "First name"),
            spec("last_name", "Last name", Kind::Text),
            spec("email", "E-mail", Kind::Email),
            spec("phone", "Phone", Kind::Tel),
            spec("title", "Job title", Kind::Text),
            spec("tags", "Tags", Kind::Tags),
            spec("source", "Source", Kind::Text),
        ];
        F
    }
    fn columns() -> &'static [(&'static str, &'static str)] {
        &[("E-mail", "email"), ("Phone", "phone"), ("Title", "title")]
    }
    fn id(v: &ContactView) -> Uuid {
        v.id
    }
    fn title(v: &ContactView) -> String {
        person(&v.first_name, v.last_name.as_deref())
    }
    services!(
        contacts,
        ContactId,
        ContactFilter,
        ContactView,
        ContactInput
    );
}

pub struct Companies;

impl Record for Companies {
    const ENTITY: crate::crm::custom::Entity = crate::crm::custom::Entity::Companies;
    const PATH: &'static str = "/companies";
    const PLURAL: &'static str = "Companies";
    const SINGULAR: &'static str = "company";
    const NAV: Nav = Nav::Companies;
    const TIMELINE: Option<RecordKind> = Some(RecordKind::Company);
    const SEARCH_HINT: &'static str = "Search by name or domain";
    type View = CompanyView;
    type Input = CompanyInput;

    fn fields() -> &'static [Spec] {
        const F: &[Spec] = &[
            required("name", "Name"),
            spec("domain", "Domain", Kind::Text),
            spec("industry", "Industry", Kind::Text),
            spec("phone", "Phone", Kind::Tel),
            spec("website", "Website", Kind::Url),
            spec("address.street", "Street", Kind::Text),
            spec("address.city", "City", Kind::Text),
            spec("address.region", "Region", Kind::Text),
            spec("address.postal_code", "Postal code", Kind::Text),
            spec("address.country", "Country", Kind::Text),
        ];
        F
    }
    fn columns() -> &'static [(&'static str, &'static str)] {
        &[
            ("Domain", "domain"),
            ("Industry", "industry"),
            ("City", "address.city"),
        ]
    }
    fn id(v: &CompanyView) -> Uuid {
        v.id
    }
    fn title(v: &CompanyView) -> String {
        v.name.clone()
    }
    services!(
        companies,
        CompanyId,
        CompanyFilter,
        CompanyView,
        CompanyInput
    );
}

pub struct Leads;

impl Record for Leads {
    const ENTITY: crate::crm::custom::Entity = crate::crm::custom::Entity::Leads;
    const PATH: &'static str = "/leads";
    const PLURAL: &'static str = "Leads";
    const SINGULAR: &'static str = "lead";
    const NAV: Nav = Nav::Leads;
    const TIMELINE: Option<RecordKind> = Some(RecordKind::Lead);
    const SEARCH_HINT: &'static str = "Search by name, e-mail or company";
    const CSV: bool = true;
    type View = LeadView;
    type Input = LeadInput;

    fn fields() -> &'static [Spec] {
        const F: &[Spec] = &[
            required("first_name", "First name"),
            spec("last_name", "Last name", Kind::Text),
            spec("email", "E-mail", Kind::Email),
            spec("phone", "Phone", Kind::Tel),
            spec("company_name", "Company", Kind::Text),
            spec("source", "Source", Kind::Text),
            spec(
                "status",
                "Status",
                Kind::Choice(&["new", "contacted", "qualified", "unqualified"]),
            ),
            spec("estimated_value", "Estimated value", Kind::Money),
            spec("currency", "Currency", Kind::Text),
        ];
        F
    }
    fn columns() -> &'static [(&'static str, &'static str)] {
        &[
            ("Company", "company_name"),
            ("Status", "status"),
            ("Source", "source"),
        ]
    }
    fn id(v: &LeadView) -> Uuid {
        v.id
    }
    fn title(v: &LeadView) -> String {
        person(&v.first_name, v.last_name.as_deref())
    }
    fn actions(ctx: &Ctx, v: &LeadView) -> Markup {
        html! {
            @if v.status == LeadStatus::Converted {
                @if let Some(c) = v.converted_contact_id { a.button.secondary href=(format!("/contacts/{c}")) { "Converted: open the contact" } }
            } @else {
                form.inline method="post" action=(format!("/leads/{}/convert", v.id)) {
                    (ctx.csrf_field())
                    label.small { input type="checkbox" name="create_deal" value="true" checked; " with a deal" }
                    button type="submit" { "Convert" }
                }
            }
        }
    }
    services!(leads, LeadId, LeadFilter, LeadView, LeadInput);
}

/// Converts a lead (into a contact, its company, and a deal when asked) and
/// opens the new contact.
pub async fn convert_lead(
    State(state): State<App>,
    PathId(id): PathId,
    f: UserForm<HashMap<String, String>>,
) -> PageResult {
    let UserForm { mut s, form, .. } = f;
    let request = ConvertRequest {
        create_deal: Some(form.get("create_deal").map(String::as_str) == Some("true")),
        ..Default::default()
    };
    let done = leads::convert(&mut s.tx, &s.user, LeadId(id), request, state.clock.now()).await?;
    Ok(see_other(&format!("/contacts/{}", done.contact.id)))
}

pub struct Products;

impl Record for Products {
    const ENTITY: crate::crm::custom::Entity = crate::crm::custom::Entity::Products;
    const PATH: &'static str = "/products";
    const PLURAL: &'static str = "Products";
    const SINGULAR: &'static str = "product";
    const NAV: Nav = Nav::Products;
    const TIMELINE: Option<RecordKind> = None;
    const SEARCH_HINT: &'static str = "Search by name or SKU";
    type View = ProductView;
    type Input = ProductInput;

    fn fields() -> &'static [Spec] {
        const F: &[Spec] = &[
            required("name", "Name"),
            spec("sku", "SKU", Kind::Text),
            spec("description", "Description", Kind::Text),
            Spec {
                name: "price",
                label: "Price",
                kind: Kind::Money,
                required: true,
                hint: None,
            },
            spec("currency", "Currency", Kind::Text),
            spec("active", "Active (offered on deals)", Kind::Bool),
        ];
        F
    }
    fn columns() -> &'static [(&'static str, &'static str)] {
        &[
            ("SKU", "sku"),
            ("Price", "price"),
            ("Currency", "currency"),
            ("Active", "active"),
        ]
    }
    fn id(v: &ProductView) -> Uuid {
        v.id
    }
    fn title(v: &ProductView) -> String {
        v.name.clone()
    }
    services!(
        products,
        ProductId,
        ProductFilter,
        ProductView,
        ProductInput,
        catalogue
    );
}

macro_rules! timelined {
    ($($kind:ty => $path:literal, $record:ident;)+) => {
        $(impl Timelined for $kind {
            const PATH: &'static str = $path;
            const KIND: RecordKind = RecordKind::$record;
        })+
    };
}

/// The deal pages (the board, a deal's detail) as a timeline's owner.
pub struct Deals;

timelined! {
    Contacts => "/contacts", Contact;
    Companies => "/companies", Company;
    Leads => "/leads", Lead;
    Deals => "/deals", Deal;
}

/// The pages of every record kind.
pub fn routes() -> Vec<super::Route> {
    use super::{record_routes, timeline_routes};
    [
        record_routes::<Contacts>(),
        timeline_routes::<Contacts>(),
        record_routes::<Companies>(),
        timeline_routes::<Companies>(),
        record_routes::<Leads>(),
        timeline_routes::<Leads>(),
        timeline_routes::<Deals>(),
        record_routes::<Products>(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
