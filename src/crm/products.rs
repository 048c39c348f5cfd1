//! The product catalogue, and deals' line items: a deal with items has the
//! sum of its items as its amount.

use super::listing::{self, ListRequest, Select};
use super::{check_reference, custom, Table};
use crate::auth::{RecordAccess, RecordType, SessionUser};
use crate::domain::Role;
use crate::domain::{Currency, DealId, ItemId, ProductId};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::{EventType, Subject};
use crate::pagination::Page;
use crate::store::{DbResult, FromRow, One, Row, Scoped};
use crate::tenancy::{clearable, nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most characters `description` takes (validation and description).
pub(crate) const DESCRIPTION_MAX: usize = 5000;
/// The most characters `name` takes (validation and description).
pub(crate) const NAME_MAX: usize = 255;
/// The most characters `sku` takes (validation and description).
pub(crate) const SKU_MAX: usize = 100;

macro_rules! product_columns {
    () => {
        "p.id, p.name, p.sku, p.description, p.price, p.currency, p.active, p.owner_id, p.created_by,
         p.created_at, p.updated_at, p.sort_name, p.custom_fields"
    };
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub name: String,
    /// Unique within the tenant.
    pub sku: Option<String>,
    pub description: Option<String>,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
    pub active: bool,
    pub owner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `{key: value}` of the tenant's custom fields for products.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    sort_name: String,
}

impl FromRow for ProductView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(ProductView {
            id: r.get("id")?,
            name: r.get("name")?,
            sku: r.get("sku")?,
            description: r.get("description")?,
            price: r.get("price")?,
            currency: r.get("currency")?,
            active: r.get("active")?,
            owner_id: r.get("owner_id")?,
            created_by: r.get("created_by")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            custom_fields: super::custom::from_column(r.get("custom_fields")?),
            sort_name: r.get("sort_name")?,
        })
    }
}

listing::keyed_custom!(ProductView);

/// `POST /api/products` and `PATCH /api/products/:id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ SKU_MAX }>)]
    pub sku: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::contract::clearable::<{ DESCRIPTION_MAX }>)]
    pub description: Option<Option<String>>,
    /// Minor units, 0 or more.
    #[schema(schema_with = crate::contract::amount_or_null)]
    pub price: Option<i64>,
    /// ISO 4217; default USD.
    #[schema(schema_with = crate::contract::currency_or_null)]
    pub currency: Option<String>,
    pub active: Option<bool>,
    pub owner_id: Option<Uuid>,
    /// Values of the tenant's custom fields: `{key: value}`; on a change,
    /// `null` clears one and keys left out stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

fn sku_taken() -> ApiError {
    ApiError::conflict("another product has that SKU")
        .with_details(serde_json::json!({ "fields": { "sku": "is already in use" } }))
}

pub async fn get(tx: &mut impl Scoped, id: ProductId) -> ApiResult<ProductView> {
    let mut p: ProductView = tx
        .query_opt(
            concat!(
                "SELECT ",
                product_columns!(),
                " FROM products p WHERE p.tenant_id = $1 AND p.id = $2"
            ),
            &[&id],
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    custom::visible(tx, custom::Entity::Products, std::slice::from_mut(&mut p)).await?;
    Ok(p)
}

pub async fn create(
    tx: &mut impl Scoped,
    user: &SessionUser,
    input: ProductInput,
    now: DateTime<Utc>,
) -> ApiResult<ProductView> {
    let mut e = FieldErrors::default();
    let name = e.required("name", input.name);
    let name = e.text("name", name, NAME_MAX);
    let sku = clearable(&mut e, "sku", input.sku, SKU_MAX);
    let description = clearable(&mut e, "description", input.description, DESCRIPTION_MAX);
    super::check_amount(&mut e, "price", input.price);
    let price = input.price.unwrap_or(0);
    let currency = Currency::field(&mut e, "currency", input.currency)
        .unwrap_or_else(|| Currency::DEFAULT.into());
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    let given = custom::check_one(
        tx,
        custom::Entity::Products,
        input.custom_fields,
        true,
        &mut e,
    )
    .await?;
    e.finish()?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO products (tenant_id, id, name, sku, description, price, currency, active,
                               owner_id, created_by, created_at, updated_at, custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        &[
            &id,
            &name,
            &sku.flatten(),
            &description.flatten(),
            &price,
            &currency,
            &input.active.unwrap_or(true),
            &input.owner_id.unwrap_or(user.id.0),
            &user.id.0,
            &now,
            &given.object(),
        ],
    )
    .await
    .map_err(|e| {
        if e.is_unique("products", "sku") {
            sku_taken()
        } else {
            e.into()
        }
    })?;
    let created = get(tx, ProductId(id)).await?;
    crate::events::created(tx, Subject::Product, std::slice::from_ref(&created), now).await?;
    Ok(created)
}

pub async fn update(
    tx: &mut impl Scoped,
    id: ProductId,
    input: ProductInput,
    now: DateTime<Utc>,
) -> ApiResult<ProductView> {
    let before = get(tx, id).await?;
    let mut e = FieldErrors::default();
    let name = e.text("name", input.name, NAME_MAX);
    let sku = clearable(&mut e, "sku", input.sku, SKU_MAX);
    let description = clearable(&mut e, "description", input.description, DESCRIPTION_MAX);
    super::check_amount(&mut e, "price", input.price);
    let currency = Currency::field(&mut e, "currency", input.currency);
    check_reference(tx, &mut e, "owner_id", Table::Users, input.owner_id).await?;
    let given = custom::check_one(
        tx,
        custom::Entity::Products,
        input.custom_fields,
        false,
        &mut e,
    )
    .await?;
    e.finish()?;
    let sql = format!(
        "UPDATE products SET name = COALESCE($3, name),
                sku = CASE WHEN $4 THEN $5 ELSE sku END,
                description = CASE WHEN $6 THEN $7 ELSE description END,
                price = COALESCE($8, price), currency = COALESCE($9, currency),
                active = COALESCE($10, active), owner_id = COALESCE($11, owner_id), updated_at = $12,
                custom_fields = {}
          WHERE tenant_id = $1 AND id = $2",
        custom::merge_sql(tx.dialect(), "custom_fields", "$13")
    );
    tx.execute(
        &sql,
        &[
            &id,
            &name,
            &sku.is_some(),
            &sku.flatten(),
            &description.is_some(),
            &description.flatten(),
            &input.price,
            &currency,
            &input.active,
            &input.owner_id,
            &now,
            &given.value().cloned(),
        ],
    )
    .await
    .map_err(|e| {
        if e.is_unique("products", "sku") {
            sku_taken()
        } else {
            e.into()
        }
    })?;
    let after = get(tx, id).await?;
    crate::events::updated(tx, Subject::Product, &[(&before, &after)], now).await?;
    Ok(after)
}

/// Deletes a product; line items that used it keep their name and price.
pub async fn delete(
    tx: &mut impl Scoped,
    user: &SessionUser,
    id: ProductId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let current = get(tx, id).await?;
    // The catalogue is shared: admins and managers delete any product,
    // users the ones they own.
    if user.role == Role::User && current.owner_id != Some(user.id.0) {
        return Err(crate::error::ApiError::forbidden(
            "users may delete only the products they own",
        ));
    }
    tx.execute(
        "DELETE FROM products WHERE tenant_id = $1 AND id = $2",
        &[&id],
    )
    .await?;
    crate::events::deleted(tx, Subject::Product, &[current], now).await
}

#[derive(Debug, Default)]
pub struct ProductFilter {
    pub q: Option<String>,
    pub active: Option<bool>,
    /// `?cf.<key>=…`
    pub custom: custom::Filters,
}

pub async fn list(
    tx: &mut impl Scoped,
    f: &ProductFilter,
    req: &ListRequest,
) -> ApiResult<Page<ProductView>> {
    let mut s = Select::new(
        concat!(
            "SELECT ",
            product_columns!(),
            " FROM products p WHERE p.tenant_id = $1"
        ),
        "p",
    );
    s.search(f.q.as_deref(), &["p.sort_name", "lower(p.sku)"]);
    if let Some(active) = f.active {
        s.and_sql(if active { "p.active" } else { "NOT p.active" });
    }
    custom::list(tx, custom::Entity::Products, &f.custom, s, "p", req).await
}

// ---------------------------------------------------------------------------
// Line items.

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub deal_id: Uuid,
    pub product_id: Option<Uuid>,
    pub name: String,
    pub quantity: i64,
    /// Minor units of the deal's currency.
    pub unit_price: i64,
    pub discount_percent: i64,
    /// quantity × unit_price less the discount, rounded to the minor unit.
    pub total: i64,
    pub position: i64,
}

impl FromRow for ItemView {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        let quantity: i64 = r.get("quantity")?;
        let unit_price: i64 = r.get("unit_price")?;
        let discount_percent: i64 = r.get("discount_percent")?;
        Ok(ItemView {
            id: r.get("id")?,
            deal_id: r.get("deal_id")?,
            product_id: r.get("product_id")?,
            name: r.get("name")?,
            quantity,
            unit_price,
            discount_percent,
            total: item_total(quantity, unit_price, discount_percent),
            position: r.get("position")?,
        })
    }
}

/// Rounds half up; checked arithmetic saturates rather than wrapping.
/// The largest quantity of a line item.
pub const QUANTITY_MAX: i64 = 1_000_000;

pub fn item_total(quantity: i64, unit_price: i64, discount_percent: i64) -> i64 {
    let gross = i128::from(quantity) * i128::from(unit_price);
    let net = (gross * i128::from(100 - discount_percent) + 50) / 100;
    i64::try_from(net).unwrap_or(i64::MAX)
}

/// `POST /api/deals/:id/items` and `PATCH /api/deals/:id/items/:item_id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// A product of the same tenant, in the deal's currency; its name and
    /// price are the defaults.
    pub product_id: Option<Uuid>,
    #[schema(schema_with = crate::contract::text_or_null::<{ NAME_MAX }>)]
    pub name: Option<String>,
    /// 1 to 1,000,000; default 1.
    #[schema(schema_with = crate::contract::int_or_null::<1, { QUANTITY_MAX }>)]
    pub quantity: Option<i64>,
    /// Minor units; default the product's price.
    #[schema(schema_with = crate::contract::amount_or_null)]
    pub unit_price: Option<i64>,
    /// 0–100; default 0.
    #[schema(schema_with = crate::contract::percent_or_null)]
    pub discount_percent: Option<i64>,
}

/// The line items of a deal the caller may read.
pub async fn items(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    deal: DealId,
) -> ApiResult<Vec<ItemView>> {
    super::deals::get(tx, who, deal).await?;
    all_items(tx, deal).await
}

async fn all_items(tx: &mut impl Scoped, deal: DealId) -> ApiResult<Vec<ItemView>> {
    Ok(tx
        .query(
            "SELECT id, deal_id, product_id, name, quantity, unit_price, discount_percent, position
               FROM deal_items WHERE tenant_id = $1 AND deal_id = $2 ORDER BY position, id",
            &[&deal],
        )
        .await?)
}

/// Sets the deal's amount to the sum of its items, when it has any.
async fn follow_items(tx: &mut impl Scoped, deal: Uuid, now: DateTime<Utc>) -> ApiResult<()> {
    let all = all_items(tx, DealId(deal)).await?;
    if !all.is_empty() {
        // A changed amount is a change of the deal, for its consumers.
        let wanted = crate::events::wanted(tx, &[EventType::Updated(Subject::Deal)]).await?;
        let before = match wanted {
            true => Some(super::deals::fetch(tx, DealId(deal)).await?),
            false => None,
        };
        let sum = all.iter().fold(0i64, |acc, i| acc.saturating_add(i.total));
        tx.execute(
            "UPDATE deals SET amount = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
            &[&deal, &sum, &now],
        )
        .await?;
        if let Some(before) = before {
            let after = super::deals::fetch(tx, DealId(deal)).await?;
            crate::events::updated(tx, Subject::Deal, &[(&before, &after)], now).await?;
        }
    }
    Ok(())
}

fn check_item_numbers(
    e: &mut FieldErrors,
    quantity: Option<i64>,
    unit_price: Option<i64>,
    discount: Option<i64>,
) {
    if quantity.is_some_and(|q| !(1..=QUANTITY_MAX).contains(&q)) {
        e.add("quantity", "must be from 1 to 1000000");
    }
    super::check_amount(e, "unit_price", unit_price);
    if discount.is_some_and(|d| !(0..=100).contains(&d)) {
        e.add("discount_percent", "must be from 0 to 100");
    }
}

/// A deal the caller may change (its items follow its edit scope).
async fn editable_deal(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    deal: DealId,
) -> ApiResult<super::deals::DealView> {
    let d = super::deals::get(tx, who, deal).await?;
    who.ensure_edit(tx, RecordType::Deals, &d).await?;
    Ok(d)
}

pub async fn add_item(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    deal: DealId,
    input: ItemInput,
    now: DateTime<Utc>,
) -> ApiResult<Vec<ItemView>> {
    let d = editable_deal(tx, who, deal).await?;
    let mut e = FieldErrors::default();
    let name = e.text("name", input.name, NAME_MAX);
    check_item_numbers(
        &mut e,
        input.quantity,
        input.unit_price,
        input.discount_percent,
    );
    let product = match input.product_id {
        Some(pid) => match get(tx, ProductId(pid)).await {
            Ok(p) if p.currency != d.currency => {
                e.add(
                    "product_id",
                    format!("is priced in {}, the deal in {}", p.currency, d.currency),
                );
                None
            }
            Ok(p) => Some(p),
            Err(_) => {
                e.add("product_id", "does not name a record of this company");
                None
            }
        },
        None => None,
    };
    let name = name.or_else(|| product.as_ref().map(|p| p.name.clone()));
    if name.is_none() {
        e.add("name", "is required without a product");
    }
    let unit_price = input.unit_price.or(product.as_ref().map(|p| p.price));
    if unit_price.is_none() {
        e.add("unit_price", "is required without a product");
    }
    e.finish()?;
    let One(position): One<i64> = tx
        .query_one(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM deal_items WHERE tenant_id = $1 AND deal_id = $2",
            &[&deal],
        )
        .await?;
    tx.execute(
        "INSERT INTO deal_items (tenant_id, id, deal_id, product_id, name, quantity, unit_price,
                                 discount_percent, position, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        &[
            &Uuid::now_v7(),
            &deal,
            &product.as_ref().map(|p| p.id),
            &name,
            &input.quantity.unwrap_or(1),
            &unit_price,
            &input.discount_percent.unwrap_or(0),
            &position,
            &now,
        ],
    )
    .await?;
    follow_items(tx, deal.0, now).await?;
    all_items(tx, deal).await
}

pub async fn update_item(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    deal: DealId,
    item: ItemId,
    input: ItemInput,
    now: DateTime<Utc>,
) -> ApiResult<Vec<ItemView>> {
    editable_deal(tx, who, deal).await?;
    let current = all_items(tx, deal).await?;
    if !current.iter().any(|i| i.id == item.0) {
        return Err(ApiError::not_found());
    }
    let mut e = FieldErrors::default();
    let name = e.text("name", input.name, NAME_MAX);
    check_item_numbers(
        &mut e,
        input.quantity,
        input.unit_price,
        input.discount_percent,
    );
    if input.product_id.is_some() {
        e.add("product_id", "add a new item for another product");
    }
    e.finish()?;
    tx.execute(
        "UPDATE deal_items SET name = COALESCE($4, name), quantity = COALESCE($5, quantity),
                unit_price = COALESCE($6, unit_price), discount_percent = COALESCE($7, discount_percent),
                updated_at = $8
          WHERE tenant_id = $1 AND deal_id = $2 AND id = $3",
        &[&deal, &item, &name, &input.quantity, &input.unit_price, &input.discount_percent, &now],
    )
    .await?;
    follow_items(tx, deal.0, now).await?;
    all_items(tx, deal).await
}

pub async fn delete_item(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    deal: DealId,
    item: ItemId,
    now: DateTime<Utc>,
) -> ApiResult<Vec<ItemView>> {
    editable_deal(tx, who, deal).await?;
    let n = tx
        .execute(
            "DELETE FROM deal_items WHERE tenant_id = $1 AND deal_id = $2 AND id = $3",
            &[&deal, &item],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::not_found());
    }
    follow_items(tx, deal.0, now).await?;
    all_items(tx, deal).await
}

/// Whether the deal's amount is set by its items.
pub async fn has_items(tx: &mut impl Scoped, deal: DealId) -> ApiResult<bool> {
    let One(found): One<bool> = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM deal_items WHERE tenant_id = $1 AND deal_id = $2)",
            &[&deal],
        )
        .await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::item_total;

    #[test]
    fn item_totals_round_half_up_and_do_not_overflow() {
        assert_eq!(item_total(3, 1999, 0), 5997);
        assert_eq!(item_total(1, 999, 10), 899);
        assert_eq!(item_total(1, 5, 50), 3);
        assert_eq!(item_total(1_000_000, i64::MAX, 0), i64::MAX);
    }
}
