//! The record kinds with generic pages: what each shows and which service
//! function serves it.

use super::layout::{self, page, Errors, Field, Nav};
use super::records::{required, spec, Kind, Record, Reference, Spec, Timelined};
use super::{refs, see_other, Ctx, PageResult, UserForm, UserPage};
use crate::app::App;
use crate::auth::SessionUser;
use crate::crm::companies::{self, CompanyFilter, CompanyInput, CompanyView};
use crate::crm::contacts::{self, ContactFilter, ContactInput, ContactView};
use crate::crm::deals::{self, DealFilter, DealView};
use crate::crm::leads::{self, ConvertRequest, LeadFilter, LeadInput, LeadStatus, LeadView};
use crate::crm::listing::ListRequest;
use crate::crm::names::{Named, Names};
use crate::crm::products::{self, ProductFilter, ProductInput, ProductView};
use crate::crm::timeline::RecordKind;
use crate::domain::{CompanyId, ContactId, LeadId, ProductId};
use crate::error::{ApiError, ApiResult};
use crate::pagination::Page;
use crate::store::TenantTx;
use crate::web::extract::PathId;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
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
    fn references() -> &'static [Reference] {
        &[Reference {
            name: "company_id",
            label: "Company",
            kind: Named::Company,
        }]
    }
    fn columns() -> &'static [(&'static str, &'static str)] {
        &[
            ("Company", "company_id"),
            ("E-mail", "email"),
            ("Phone", "phone"),
            ("Title", "title"),
        ]
    }
    fn id(v: &ContactView) -> Uuid {
        v.id
    }
    fn title(v: &ContactView) -> String {
        person(&v.first_name, v.last_name.as_deref())
    }
    async fn related(
        tx: &mut TenantTx,
        user: &SessionUser,
        ctx: &Ctx,
        v: &ContactView,
    ) -> ApiResult<Markup> {
        let deals = deals_of(tx, user, Some(v.id), None).await?;
        let origin = leads::converted_into(tx, &user.access, RecordKind::Contact, v.id).await?;
        Ok(html! {
            section.card.related {
                h2 { "Deals" }
                (deal_table(ctx, &deals))
                p { a.button.secondary href=(format!("/deals/new?contact_id={}{}", v.id,
                    v.company_id.map(|c| format!("&company_id={c}")).unwrap_or_default())) { "New deal for this contact" } }
                @if let Some(lead) = origin {
                    p.muted { "Converted from the lead " a href=(format!("/leads/{}", lead.id)) { (lead.name) } "; its notes and activities are on the timeline below." }
                }
            }
        })
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
    async fn related(
        tx: &mut TenantTx,
        user: &SessionUser,
        ctx: &Ctx,
        v: &CompanyView,
    ) -> ApiResult<Markup> {
        let mut e = crate::error::FieldErrors::default();
        let req = ListRequest::parse(Some(RELATED), Some("name"), None, &mut e);
        e.finish()?;
        let filter = ContactFilter {
            company_id: Some(v.id),
            ..Default::default()
        };
        let people = contacts::list(tx, &user.access, &filter, &req).await?;
        let deals = deals_of(tx, user, None, Some(v.id)).await?;
        Ok(html! {
            div.columns.related {
                section.card {
                    h2 { "Contacts" }
                    @if people.items.is_empty() { p.muted { "Nobody at this company yet." } }
                    ul.plain {
                        @for c in &people.items {
                            li {
                                a href=(format!("/contacts/{}", c.id)) { (person(&c.first_name, c.last_name.as_deref())) }
                                @if let Some(t) = &c.title { span.muted { " · " (t) } }
                                @if let Some(p) = &c.phone { " · " (super::records::tel(p)) }
                            }
                        }
                    }
                    @if people.next_cursor.is_some() { p.muted.small { "The first " (RELATED) " by name." } }
                    p { a.button.secondary href=(format!("/contacts/new?company_id={}", v.id)) { "New contact at this company" } }
                }
                section.card {
                    h2 { "Deals" }
                    (deal_table(ctx, &deals))
                    p { a.button.secondary href=(format!("/deals/new?company_id={}", v.id)) { "New deal with this company" } }
                }
            }
        })
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
    fn actions(_ctx: &Ctx, v: &LeadView) -> Markup {
        html! {
            @if v.status != LeadStatus::Converted {
                a.button href=(format!("/leads/{}/convert", v.id)) { "Convert…" }
            }
        }
    }
    async fn related(
        tx: &mut TenantTx,
        user: &SessionUser,
        _ctx: &Ctx,
        v: &LeadView,
    ) -> ApiResult<Markup> {
        if v.status != LeadStatus::Converted {
            return Ok(html! {});
        }
        let names = Names::load(
            tx,
            &user.access,
            [
                v.converted_contact_id.map(|c| (Named::Contact, c)),
                v.converted_company_id.map(|c| (Named::Company, c)),
                v.converted_deal_id.map(|c| (Named::Deal, c)),
            ]
            .into_iter()
            .flatten(),
        )
        .await?;
        Ok(html! {
            section.card.converted role="status" {
                h2 { "Converted" }
                p { "This lead became:" }
                dl.details {
                    dt { "Contact" } dd { (refs::named(&names, Named::Contact, v.converted_contact_id)) }
                    @if v.converted_company_id.is_some() { dt { "Company" } dd { (refs::named(&names, Named::Company, v.converted_company_id)) } }
                    @if v.converted_deal_id.is_some() { dt { "Deal" } dd { (refs::named(&names, Named::Deal, v.converted_deal_id)) } }
                }
                p.muted.small { "Its notes and activities show on the contact and the deal too." }
            }
        })
    }
    services!(leads, LeadId, LeadFilter, LeadView, LeadInput);
}

/// The confirmation before a lead is converted: what will be made (the
/// contact, the company from its company name, a deal if asked, with its
/// title and pipeline).
fn convert_page(
    ctx: &Ctx,
    lead: &LeadView,
    pipelines: &[crate::crm::pipelines::PipelineView],
    form: &HashMap<String, String>,
    errors: &Errors,
) -> Markup {
    let name = person(&lead.first_name, lead.last_name.as_deref());
    let title = form
        .get("deal_title")
        .cloned()
        .unwrap_or_else(|| leads::default_deal_title(lead));
    let with_deal = form.get("create_deal").is_none_or(|v| v == "true");
    let options: Vec<(String, String)> = pipelines
        .iter()
        .map(|p| (p.id.to_string(), p.name.clone()))
        .collect();
    let default = pipelines
        .iter()
        .find(|p| p.is_default)
        .map(|p| p.id.to_string())
        .unwrap_or_default();
    page(
        &format!("Convert {name}"),
        ctx,
        Nav::Leads,
        html! {
            section.card.narrow {
                h1 { "Convert " (name) "?" }
                p { "This makes:" }
                ul {
                    li { "a contact, " strong { (name) } }
                    @if let Some(c) = lead.company_name.as_deref().filter(|c| !c.trim().is_empty()) { li { "a company, " strong { (c) } } }
                    li { "and, if you choose, a deal" }
                }
                p.muted { "The lead's notes, calls and other activities then show on the new contact and deal as well." }
                (layout::form_alert(errors, &["deal_title", "pipeline_id"]))
                form method="post" action=(format!("/leads/{}/convert", lead.id)) novalidate {
                    (ctx.csrf_field())
                    input type="hidden" name="create_deal" value="false";
                    div.field { label { input type="checkbox" name="create_deal" value="true" checked[with_deal]; " Open a deal for the new contact" } }
                    (Field::new("deal_title", "Deal title", &title).auto("off").render(errors))
                    @if options.len() > 1 {
                        (layout::select("pipeline_id", "Pipeline", &options, form.get("pipeline_id").map(String::as_str).unwrap_or(&default), errors))
                    }
                    div.actions {
                        button type="submit" { "Convert" }
                        a.button.secondary href=(format!("/leads/{}", lead.id)) { "Cancel" }
                    }
                }
            }
        },
    )
}

pub async fn convert_form(p: UserPage, PathId(id): PathId) -> PageResult {
    let UserPage { mut s, ctx } = p;
    let lead = leads::get(&mut s.tx, &s.user.access, LeadId(id)).await?;
    if lead.status == LeadStatus::Converted {
        return Ok(see_other(&format!("/leads/{id}")));
    }
    let all = crate::crm::pipelines::list(&mut s.tx).await?;
    Ok(layout::respond(
        StatusCode::OK,
        convert_page(&ctx, &lead, &all, &HashMap::new(), &Errors::new()),
    ))
}

/// Converts a lead (into a contact, its company, and a deal when asked) and
/// opens the new contact, which links to what else was made.
pub async fn convert_lead(
    State(state): State<App>,
    headers: HeaderMap,
    PathId(id): PathId,
    f: UserForm<HashMap<String, String>>,
) -> PageResult {
    let UserForm { mut s, form, ctx } = f;
    // The checkbox follows its hidden "false": the last value wins.
    let create_deal = form.get("create_deal").map(String::as_str) == Some("true");
    let pipeline_id = match form.get("pipeline_id").filter(|p| !p.is_empty()) {
        Some(p) => Some(
            Uuid::parse_str(p).map_err(|_| ApiError::field("pipeline_id", "is not a pipeline"))?,
        ),
        None => None,
    };
    let request = ConvertRequest {
        create_deal: Some(create_deal),
        deal_title: layout::given(&form.get("deal_title").cloned()).filter(|_| create_deal),
        pipeline_id,
    };
    match leads::convert(&mut s.tx, &s.user, LeadId(id), request, state.clock.now()).await {
        Ok(done) => Ok(super::see_other_with(
            &state,
            &headers,
            &format!("/contacts/{}", done.contact.id),
            super::Flash::LeadConverted,
        )),
        Err(e) if layout::is_form_error(&e) && e.code != crate::error::ErrorCode::Conflict => {
            let lead = leads::get(&mut s.tx, &s.user.access, LeadId(id)).await?;
            let all = crate::crm::pipelines::list(&mut s.tx).await?;
            Ok(layout::respond(
                e.code.status(),
                convert_page(&ctx, &lead, &all, &form, &layout::field_errors(&e)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// How many related records a detail page lists.
const RELATED: &str = "50";

/// The deals of a contact or company the user may read, newest first.
async fn deals_of(
    tx: &mut TenantTx,
    user: &SessionUser,
    contact: Option<Uuid>,
    company: Option<Uuid>,
) -> ApiResult<Vec<DealView>> {
    let mut e = crate::error::FieldErrors::default();
    let req = ListRequest::parse(Some(RELATED), Some("-created_at"), None, &mut e);
    e.finish()?;
    let filter = DealFilter {
        contact_id: contact,
        company_id: company,
        ..Default::default()
    };
    Ok(deals::list(tx, &user.access, &filter, &req).await?.items)
}

fn deal_table(ctx: &Ctx, deals: &[DealView]) -> Markup {
    html! {
        @if deals.is_empty() { p.muted { "No deals yet." } }
        @else {
            div.table-wrap {
                table.list {
                    thead { tr { th { "Deal" } th { "Amount" } th { "Status" } th { "Expected close" } } }
                    tbody {
                        @for d in deals {
                            tr {
                                td { a href=(format!("/deals/{}", d.id)) { (d.title) } }
                                td { (ctx.money(d.amount, &d.currency)) }
                                td { span class=(format!("badge kind-{}", d.status.as_str())) { (d.status.as_str()) } }
                                td { (d.expected_close_date.map(|d| ctx.date(d)).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
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
