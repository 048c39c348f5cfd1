//! Tenant B, holding tenant A's ids, can neither read, change nor delete any
//! of A's rows on any route that exists; A's rows are unchanged afterwards.
//! Each route of the API must appear here (the last test checks it).

use crate::both;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;

/// Routes that act on no tenant's data (public, or the platform's own).
/// Platform-admin routes are listed in `platform::ADMIN_ROUTES`, where a test
/// checks that no tenant token gets through any of them.
const NOT_TENANT_SCOPED: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("POST", "/api/tenants/register"),
    ("GET", "/api/tenants/check-availability"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/tenants/licenses/validate"),
    ("POST", "/api/tenants/licenses/claim"),
    ("POST", "/api/tenants/licenses/activate"),
    // A link's token names its tenant and user (mail::*).
    ("POST", "/api/auth/verify-email"),
    ("POST", "/api/auth/password-reset"),
    ("POST", "/api/auth/password-reset/confirm"),
    ("POST", "/api/invitations/accept"),
    // Public, signed by Stripe; which tenant an event changes:
    // billing::an_event_changes_only_its_own_tenant.
    ("POST", "/api/billing/webhook"),
];

/// Routes whose isolation the tests below exercise.
const COVERED: &[(&str, &str)] = &[
    ("GET", "/api/auth/me"),
    // users::logging_out_everywhere_ends_every_session: a colleague's
    // session is untouched.
    ("POST", "/api/auth/logout-all"),
    ("GET", "/api/tenants/current"),
    ("PATCH", "/api/tenants/current"),
    ("GET", "/api/tenants/subscription"),
    ("GET", "/api/tenants/usage"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/{id}"),
    ("PATCH", "/api/users/{id}"),
    ("DELETE", "/api/users/{id}"),
    ("GET", "/api/audit-log"),
    // mail::invitations_and_messages_stay_in_their_tenant
    ("POST", "/api/auth/verify-email/resend"),
    ("GET", "/api/invitations"),
    ("POST", "/api/invitations"),
    ("POST", "/api/invitations/{id}/resend"),
    ("DELETE", "/api/invitations/{id}"),
    ("GET", "/api/messages"),
    // access::teams_and_roles_stay_in_their_tenant
    ("GET", "/api/teams"),
    ("POST", "/api/teams"),
    ("GET", "/api/teams/{id}"),
    ("PATCH", "/api/teams/{id}"),
    ("DELETE", "/api/teams/{id}"),
    ("GET", "/api/roles"),
    ("POST", "/api/roles"),
    ("GET", "/api/roles/{id}"),
    ("PATCH", "/api/roles/{id}"),
    ("DELETE", "/api/roles/{id}"),
    // crm::contacts_and_companies_stay_in_their_tenant
    ("GET", "/api/companies"),
    ("POST", "/api/companies"),
    ("GET", "/api/companies/{id}"),
    ("PATCH", "/api/companies/{id}"),
    ("DELETE", "/api/companies/{id}"),
    ("GET", "/api/contacts"),
    ("POST", "/api/contacts"),
    ("GET", "/api/contacts/{id}"),
    ("PATCH", "/api/contacts/{id}"),
    ("DELETE", "/api/contacts/{id}"),
    // crm::pipelines_and_deals_stay_in_their_tenant
    ("GET", "/api/pipelines"),
    ("POST", "/api/pipelines"),
    ("GET", "/api/pipelines/{id}"),
    ("PATCH", "/api/pipelines/{id}"),
    ("DELETE", "/api/pipelines/{id}"),
    ("GET", "/api/pipelines/{id}/stages"),
    ("POST", "/api/pipelines/{id}/stages"),
    ("PATCH", "/api/pipelines/{id}/stages/{stage_id}"),
    ("DELETE", "/api/pipelines/{id}/stages/{stage_id}"),
    ("POST", "/api/pipelines/{id}/stages/reorder"),
    ("GET", "/api/deals"),
    ("POST", "/api/deals"),
    ("GET", "/api/deals/{id}"),
    ("PATCH", "/api/deals/{id}"),
    ("DELETE", "/api/deals/{id}"),
    // crm::leads_activities_and_notes_stay_in_their_tenant
    ("GET", "/api/leads"),
    ("POST", "/api/leads"),
    ("GET", "/api/leads/{id}"),
    ("PATCH", "/api/leads/{id}"),
    ("DELETE", "/api/leads/{id}"),
    ("POST", "/api/leads/{id}/convert"),
    ("GET", "/api/activities"),
    ("POST", "/api/activities"),
    ("GET", "/api/activities/{id}"),
    ("PATCH", "/api/activities/{id}"),
    ("DELETE", "/api/activities/{id}"),
    ("GET", "/api/notes"),
    ("POST", "/api/notes"),
    ("GET", "/api/notes/{id}"),
    ("PATCH", "/api/notes/{id}"),
    ("DELETE", "/api/notes/{id}"),
    // crm::products_and_line_items_stay_in_their_tenant
    ("GET", "/api/products"),
    ("POST", "/api/products"),
    ("GET", "/api/products/{id}"),
    ("PATCH", "/api/products/{id}"),
    ("DELETE", "/api/products/{id}"),
    ("GET", "/api/deals/{id}/items"),
    ("POST", "/api/deals/{id}/items"),
    ("PATCH", "/api/deals/{id}/items/{item_id}"),
    ("DELETE", "/api/deals/{id}/items/{item_id}"),
    // crm::a_record_timeline_shows_notes_activities_and_changes_newest_first
    ("GET", "/api/contacts/{id}/timeline"),
    ("GET", "/api/companies/{id}/timeline"),
    ("GET", "/api/leads/{id}/timeline"),
    ("GET", "/api/deals/{id}/timeline"),
    // crm::basic_reports_add_up
    ("GET", "/api/reports/pipeline"),
    ("GET", "/api/reports/sales"),
    ("GET", "/api/reports/activities"),
    ("GET", "/api/reports/leads"),
    // crm::search_finds_records_of_the_callers_tenant_only
    ("GET", "/api/search"),
    // crm::contacts_import_from_csv_and_export_back_unchanged
    ("POST", "/api/contacts/import"),
    ("GET", "/api/contacts/export"),
    // crm::leads_import_from_csv_or_a_form_and_export_back_unchanged
    ("POST", "/api/leads/import"),
    ("GET", "/api/leads/export"),
    // custom_fields::custom_fields_stay_in_their_tenant_and_their_plan
    ("GET", "/api/custom-fields"),
    ("POST", "/api/custom-fields"),
    ("PATCH", "/api/custom-fields/{id}"),
    ("DELETE", "/api/custom-fields/{id}"),
    ("POST", "/api/custom-fields/{id}/restore"),
    // billing::an_event_changes_only_its_own_tenant
    ("GET", "/api/billing"),
    ("POST", "/api/billing/checkout"),
    ("POST", "/api/billing/portal"),
    ("POST", "/api/billing/change"),
    // integrations::integrations_stay_in_their_tenant
    ("GET", "/api/api-keys"),
    ("POST", "/api/api-keys"),
    ("DELETE", "/api/api-keys/{id}"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/webhooks"),
    ("GET", "/api/webhooks/{id}"),
    ("PATCH", "/api/webhooks/{id}"),
    ("DELETE", "/api/webhooks/{id}"),
    ("POST", "/api/webhooks/{id}/test"),
    ("POST", "/api/webhooks/{id}/rotate-secret"),
    ("GET", "/api/webhooks/{id}/deliveries"),
    ("POST", "/api/webhooks/{id}/deliveries/{delivery_id}/retry"),
];

#[test]
fn every_route_has_an_isolation_case() {
    for r in trasealla::web::api::routes() {
        let key = (r.method.as_str(), r.path.as_str());
        assert!(
            COVERED.contains(&key)
                || NOT_TENANT_SCOPED.contains(&key)
                || crate::platform::ADMIN_ROUTES.contains(&key),
            "{} {} has no tenant-isolation test",
            key.0,
            key.1
        );
    }
}

async fn another_tenants_user_ids_answer_not_found(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    let (a_staff, _) = app.add_user(&a, "staff@alpha.example", "manager").await;
    let before = app
        .get(&format!("/api/users/{a_staff}"))
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's staff member before B's attempts");

    for id in [&a_staff, &a.owner_id] {
        let path = format!("/api/users/{id}");
        let r = app.get(&path).bearer(&b.token).send().await;
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
        assert_eq!(r.code(), "not_found");
        let r = app
            .patch(&path)
            .bearer(&b.token)
            .json(json!({"role": "user", "full_name": "Pwned", "is_active": false, "password": "Changed123"}))
            .send()
            .await;
        assert_eq!(r.status, 404, "PATCH {path}: {}", r.body);
        let r = app.delete(&path).bearer(&b.token).send().await;
        assert_eq!(r.status, 404, "DELETE {path}: {}", r.body);
    }
    // A missing id answers exactly like another tenant's.
    let missing = app
        .get(&format!("/api/users/{}", uuid::Uuid::now_v7()))
        .bearer(&b.token)
        .send()
        .await;
    let foreign = app
        .get(&format!("/api/users/{a_staff}"))
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(
        (missing.status, &missing.body),
        (foreign.status, &foreign.body)
    );

    let after = app
        .get(&format!("/api/users/{a_staff}"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(before.body, after.body);
    app.login_ok("staff@alpha.example", PASSWORD).await;
    app.login_ok(&a.email, PASSWORD).await;
}
both!(another_tenants_user_ids_answer_not_found);

async fn lists_and_tenant_views_show_only_the_callers_tenant(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    app.add_user(&a, "one@alpha.example", "user").await;
    app.add_user(&a, "two@alpha.example", "user").await;

    let users = app
        .get("/api/users?limit=200")
        .bearer(&b.token)
        .send()
        .await;
    let ids: Vec<&str> = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.owner_id.as_str()]);

    let me = app.get("/api/auth/me").bearer(&b.token).send().await;
    assert_eq!(me.body["data"]["tenant"]["id"], b.id.as_str());
    let current = app
        .get("/api/tenants/current")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(current.body["data"]["id"], b.id.as_str());
    let sub = app
        .get("/api/tenants/subscription")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(sub.body["data"]["current_users"], 1);
    let usage = app.get("/api/tenants/usage").bearer(&b.token).send().await;
    assert_eq!(usage.body["data"]["users"]["current"], 1);

    // Naming A in headers changes nothing for an authenticated request:
    // the tenant comes from the verified token only.
    let r = app
        .get("/api/tenants/current")
        .bearer(&b.token)
        .header("x-tenant", &a.slug)
        .header("host", &format!("{}.localhost", a.slug))
        .send()
        .await;
    assert_eq!(r.body["data"]["id"], b.id.as_str());
}
both!(lists_and_tenant_views_show_only_the_callers_tenant);

async fn writes_land_in_the_callers_tenant_only(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    let a_before = app
        .get("/api/tenants/current")
        .bearer(&a.token)
        .send()
        .await
        .ok("read tenant A before B's writes");

    let r = app
        .patch("/api/tenants/current")
        .bearer(&b.token)
        .json(json!({"name": "Beta Renamed", "timezone": "Europe/Berlin"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["id"], b.id.as_str());
    let r = app.create_user(&b.token, "new@beta.example").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"]["tenant_id"], b.id.as_str());

    let a_after = app
        .get("/api/tenants/current")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(a_before.body, a_after.body);
    let a_users = app.get("/api/users").bearer(&a.token).send().await;
    assert_eq!(a_users.body["data"].as_array().unwrap().len(), 1);
}
both!(writes_land_in_the_callers_tenant_only);

/// A validly signed token that names tenant A but a user of tenant B (a
/// bug elsewhere could mint one) finds no session.
async fn a_token_mixing_tenants_finds_no_session(app: TestApp) {
    let a = app.register("Alpha Co").await;
    let b = app.register("Beta Co").await;
    let mixed = app
        .state
        .tokens
        .issue(
            uuid::Uuid::parse_str(&b.owner_id).unwrap(),
            Some(uuid::Uuid::parse_str(&a.id).unwrap()),
            "admin",
            0,
            app.clock_now(),
        )
        .unwrap()
        .token;
    for path in ["/api/tenants/current", "/api/users", "/api/auth/me"] {
        let r = app.get(path).bearer(&mixed).send().await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
    }
}
both!(a_token_mixing_tenants_finds_no_session);

/// The keys refuse a row that points at a tenant that does not exist,
/// on both backends (SQLite with foreign_keys on for every connection).
async fn the_database_refuses_rows_of_a_missing_tenant(app: TestApp) {
    let mut tx = app
        .state
        .store
        .platform(trasealla::store::Access::Write)
        .await
        .unwrap();
    let err = tx
        .execute(
            "INSERT INTO users (tenant_id, id, email, username, full_name, password_hash, role, is_owner, is_active, created_at, updated_at)
             VALUES ($1, $2, 'ghost@example.com', 'ghost', 'Ghost', 'x', 'user', false, true, $3, $3)",
            &[&uuid::Uuid::now_v7(), &uuid::Uuid::now_v7(), &app.clock_now()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, trasealla::store::DbError::ForeignKey(_)),
        "{err:?}"
    );
}
both!(the_database_refuses_rows_of_a_missing_tenant);

/// The tenant handle itself refuses (in debug builds, so in every test run)
/// a statement that does not constrain its table to the handle's tenant.
#[tokio::test]
#[should_panic(expected = "tenant statement without tenant scope")]
async fn the_tenant_handle_refuses_an_unscoped_statement() {
    use trasealla::store::{Access, One, Scoped};
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let t = app.register("Careless Co").await;
    let tenant = trasealla::domain::TenantId(uuid::Uuid::parse_str(&t.id).unwrap());
    let lease = app.state.limits.connection(tenant).await.unwrap();
    let (mut tx, _) = app
        .state
        .store
        .tenant::<One<i64>>(
            lease,
            Access::Read,
            "SELECT count(*) FROM users WHERE tenant_id = $1",
            &[],
        )
        .await
        .unwrap();
    let _: Vec<One<String>> = tx.query("SELECT email FROM users", &[]).await.unwrap();
}
