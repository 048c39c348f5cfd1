//! Companies and contacts.

use crate::both;
use crate::support::{Tenant, TestApp};
use serde_json::{json, Value};

impl TestApp {
    async fn new_record(&self, token: &str, kind: &str, body: Value) -> Value {
        let r = self
            .post(&format!("/api/{kind}"))
            .bearer(token)
            .json(body)
            .send()
            .await;
        assert_eq!(r.status, 201, "create {kind}: {}", r.body);
        r.body["data"].clone()
    }

    async fn names(&self, token: &str, path: &str) -> (Vec<String>, Option<String>) {
        let r = self.get(path).bearer(token).send().await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let names = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["first_name"]
                    .as_str()
                    .or(c["name"].as_str())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        (names, r.body["next_cursor"].as_str().map(str::to_owned))
    }
}

async fn contacts_are_created_read_changed_and_deleted(app: TestApp) {
    let t = app.register("Realty Co").await;
    let company = app.new_record(&t.token, "companies", json!({"name": "Harbour View Estates", "domain": "Harbour.example", "website": "https://harbour.example", "address": {"city": "Lisbon", "country": "PT"}})).await;
    assert_eq!(company["domain"], "harbour.example");
    assert_eq!(
        company["address"],
        json!({"city": "Lisbon", "country": "PT"})
    );
    let c = app
        .new_record(
            &t.token,
            "contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "phone": "+351 21 000 0000",
                   "title": "Buyer", "company_id": company["id"], "tags": ["vip", "buyer", "vip"], "source": "website"}),
        )
        .await;
    assert_eq!(c["email"], "ada@example.com");
    assert_eq!(c["tags"], json!(["vip", "buyer"]));
    assert_eq!(
        c["owner_id"],
        t.owner_id.as_str(),
        "the owner defaults to the creator"
    );
    assert_eq!(c["created_by"], t.owner_id.as_str());
    assert!(c.get("sort_name").is_none());
    let path = format!("/api/contacts/{}", c["id"].as_str().unwrap());

    let r = app.get(&path).bearer(&t.token).send().await;
    assert_eq!(r.body["data"], c);
    app.advance(chrono::Duration::minutes(5));
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"title": null, "last_name": "King", "tags": []}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["title"].is_null());
    assert_eq!(r.body["data"]["last_name"], "King");
    assert_eq!(
        r.body["data"]["email"], "ada@example.com",
        "absent fields stay"
    );
    assert_eq!(r.body["data"]["tags"], json!([]));
    assert_ne!(r.body["data"]["updated_at"], c["updated_at"]);

    // Deleting the company keeps the contact, without a company.
    let r = app
        .delete(&format!(
            "/api/companies/{}",
            company["id"].as_str().unwrap()
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200);
    let r = app.get(&path).bearer(&t.token).send().await;
    assert!(r.body["data"]["company_id"].is_null());

    let r = app.delete(&path).bearer(&t.token).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get(&path).bearer(&t.token).send().await.status, 404);
}
both!(contacts_are_created_read_changed_and_deleted);

async fn bad_contact_input_names_the_field(app: TestApp) {
    let t = app.register("Strict Realty").await;
    let cases = [
        (json!({}), "first_name"),
        (json!({"first_name": "  "}), "first_name"),
        (json!({"first_name": "A", "email": "not-mail"}), "email"),
        (json!({"first_name": "A", "tags": [""]}), "tags"),
        (
            json!({"first_name": "A", "company_id": uuid::Uuid::now_v7()}),
            "company_id",
        ),
        (
            json!({"first_name": "A", "owner_id": uuid::Uuid::now_v7()}),
            "owner_id",
        ),
        (
            json!({"first_name": "A", "company_id": "nope"}),
            "company_id",
        ),
        (
            json!({"first_name": "A", "tenant_id": uuid::Uuid::now_v7()}),
            "tenant_id",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .post("/api/contacts")
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    for (body, field) in [
        (json!({"name": "X", "website": "ftp://x"}), "website"),
        (json!({"name": "X", "domain": "not a domain"}), "domain"),
        (
            json!({"name": "X", "address": {"planet": "Mars"}}),
            "address.planet",
        ),
    ] {
        let r = app
            .post("/api/companies")
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    assert_eq!(app.count("contacts").await, 0);
    assert_eq!(app.count("companies").await, 0);
}
both!(bad_contact_input_names_the_field);

async fn contact_lists_filter_sort_and_page(app: TestApp) {
    let t = app.register("Pager Co").await;
    let (agent_id, agent) = app.add_user(&t, "agent@pager.example", "user").await;
    let acme = app
        .new_record(&t.token, "companies", json!({"name": "Acme"}))
        .await;
    let names = [
        "Grace", "ada", "Linus", "Barbara", "Edsger", "Alan", "Margaret",
    ];
    for (i, n) in names.iter().enumerate() {
        let token = if i % 2 == 0 { &t.token } else { &agent };
        let mut body =
            json!({"first_name": n, "email": format!("{}@pager.example", n.to_lowercase())});
        if i < 3 {
            body["company_id"] = acme["id"].clone();
        }
        app.new_record(token, "contacts", body).await;
        app.advance(chrono::Duration::seconds(1));
    }
    // Newest first by default.
    let (all, _) = app.names(&t.token, "/api/contacts?limit=200").await;
    assert_eq!(
        all,
        vec!["Margaret", "Alan", "Edsger", "Barbara", "Linus", "ada", "Grace"]
    );
    // By name, case-insensitively, through three pages.
    let mut seen = Vec::new();
    let mut path = "/api/contacts?sort=name&limit=3".to_owned();
    loop {
        let (page, next) = app.names(&t.token, &path).await;
        assert!(page.len() <= 3);
        seen.extend(page);
        match next {
            Some(c) => path = format!("/api/contacts?sort=name&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec!["ada", "Alan", "Barbara", "Edsger", "Grace", "Linus", "Margaret"]
    );
    let (desc, next) = app
        .names(&t.token, "/api/contacts?sort=-name&limit=2")
        .await;
    assert_eq!(desc, vec!["Margaret", "Linus"]);
    let (desc2, _) = app
        .names(
            &t.token,
            &format!("/api/contacts?sort=-name&limit=2&cursor={}", next.unwrap()),
        )
        .await;
    assert_eq!(desc2, vec!["Grace", "Edsger"]);

    let (mine, _) = app
        .names(
            &t.token,
            &format!("/api/contacts?owner_id={agent_id}&sort=name"),
        )
        .await;
    assert_eq!(mine, vec!["ada", "Alan", "Barbara"]);
    let (at_acme, _) = app
        .names(
            &t.token,
            &format!(
                "/api/contacts?company_id={}&sort=name",
                acme["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(at_acme, vec!["ada", "Grace", "Linus"]);
    let (found, _) = app.names(&t.token, "/api/contacts?q=AR").await;
    assert_eq!(found, vec!["Margaret", "Barbara"]);
    let (by_mail, _) = app.names(&t.token, "/api/contacts?q=edsger@").await;
    assert_eq!(by_mail, vec!["Edsger"]);
    let (none, _) = app.names(&t.token, "/api/contacts?q=%25").await;
    assert!(none.is_empty(), "% is a literal");

    // A cursor is a place in the list, valid for any sort (so every text
    // its pattern allows is a request the server accepts): the rows after
    // that place in the order asked for.
    let (_, next) = app.names(&t.token, "/api/contacts?sort=name&limit=2").await;
    let r = app
        .get(&format!(
            "/api/contacts?sort=created_at&cursor={}",
            next.unwrap()
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for bad in [
        "sort=email".to_owned(),
        "sort=%20name".to_owned(),
        "limit=0".to_owned(),
        "owner_id=x".to_owned(),
        "cursor=zz".to_owned(),
        "cursor=1.2.3.zz.0".to_owned(),
    ] {
        let r = app
            .get(&format!("/api/contacts?{bad}"))
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
}
both!(contact_lists_filter_sort_and_page);

async fn company_lists_sort_by_update_and_search_domains(app: TestApp) {
    let t = app.register("Broker Co").await;
    let a = app
        .new_record(
            &t.token,
            "companies",
            json!({"name": "Alpha", "domain": "alpha.example"}),
        )
        .await;
    app.advance(chrono::Duration::seconds(1));
    app.new_record(&t.token, "companies", json!({"name": "Beta"}))
        .await;
    app.advance(chrono::Duration::seconds(1));
    app.patch(&format!("/api/companies/{}", a["id"].as_str().unwrap()))
        .bearer(&t.token)
        .json(json!({"industry": "Retail"}))
        .send()
        .await
        .ok("update Alpha so it sorts first by update");
    let (by_update, _) = app.names(&t.token, "/api/companies?sort=-updated_at").await;
    assert_eq!(by_update, vec!["Alpha", "Beta"]);
    let (found, _) = app.names(&t.token, "/api/companies?q=ALPHA.EX").await;
    assert_eq!(found, vec!["Alpha"]);
}
both!(company_lists_sort_by_update_and_search_domains);

async fn users_delete_only_what_they_own(app: TestApp) {
    let t = app.register("Roles Realty").await;
    let (_, user) = app.add_user(&t, "user@roles.example", "user").await;
    let (_, manager) = app.add_user(&t, "manager@roles.example", "manager").await;
    let theirs = app
        .new_record(
            &t.token,
            "contacts",
            json!({"first_name": "Owned by admin"}),
        )
        .await;
    let own = app
        .new_record(&user, "contacts", json!({"first_name": "Owned by user"}))
        .await;
    let path = |c: &Value| format!("/api/contacts/{}", c["id"].as_str().unwrap());

    // By default a user reads every record but changes only their own…
    let r = app
        .patch(&path(&theirs))
        .bearer(&user)
        .json(json!({"title": "Edited"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app
        .patch(&path(&own))
        .bearer(&user)
        .json(json!({"title": "Edited"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get(&path(&theirs)).bearer(&user).send().await.status,
        200
    );
    // …and deletes only their own.
    let r = app.delete(&path(&theirs)).bearer(&user).send().await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        app.delete(&path(&own)).bearer(&user).send().await.status,
        200
    );
    // Managers and admins delete any.
    assert_eq!(
        app.delete(&path(&theirs))
            .bearer(&manager)
            .send()
            .await
            .status,
        200
    );
}
both!(users_delete_only_what_they_own);

async fn deleting_a_user_leaves_their_records_without_an_owner(app: TestApp) {
    let t = app.register("Leaver Realty").await;
    let (agent_id, agent) = app.add_user(&t, "leaver@realty.example", "user").await;
    let c = app
        .new_record(&agent, "contacts", json!({"first_name": "Client"}))
        .await;
    let co = app
        .new_record(&agent, "companies", json!({"name": "Client Co"}))
        .await;
    let r = app
        .delete(&format!("/api/users/{agent_id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = app
        .get(&format!("/api/contacts/{}", c["id"].as_str().unwrap()))
        .bearer(&t.token)
        .send()
        .await;
    assert!(
        c.body["data"]["owner_id"].is_null() && c.body["data"]["created_by"].is_null(),
        "{}",
        c.body
    );
    let co = app
        .get(&format!("/api/companies/{}", co["id"].as_str().unwrap()))
        .bearer(&t.token)
        .send()
        .await;
    assert!(co.body["data"]["owner_id"].is_null(), "{}", co.body);
    assert_eq!(co.body["data"]["name"], "Client Co");
}
both!(deleting_a_user_leaves_their_records_without_an_owner);

/// The seed's step 3: a tenant token lists only that tenant's contacts; B,
/// holding A's ids, reads, changes, deletes and references nothing of A's.
async fn contacts_and_companies_stay_in_their_tenant(app: TestApp) {
    let a: Tenant = app.register("Alpha Realty").await;
    let b: Tenant = app.register("Beta Realty").await;
    let a_company = app
        .new_record(&a.token, "companies", json!({"name": "A Holdings"}))
        .await;
    let a_contact = app
        .new_record(
            &a.token,
            "contacts",
            json!({"first_name": "Alice", "company_id": a_company["id"]}),
        )
        .await;
    app.new_record(&b.token, "contacts", json!({"first_name": "Bob"}))
        .await;
    let before = (
        app.get(&format!(
            "/api/contacts/{}",
            a_contact["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's contact before B's attempts")
        .body,
        app.get(&format!(
            "/api/companies/{}",
            a_company["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's company before B's attempts")
        .body,
    );

    let (b_list, _) = app.names(&b.token, "/api/contacts").await;
    assert_eq!(b_list, vec!["Bob"]);
    let (b_companies, _) = app.names(&b.token, "/api/companies").await;
    assert!(b_companies.is_empty());
    let (filtered, _) = app
        .names(
            &b.token,
            &format!(
                "/api/contacts?company_id={}",
                a_company["id"].as_str().unwrap()
            ),
        )
        .await;
    assert!(filtered.is_empty());

    for (kind, record) in [("contacts", &a_contact), ("companies", &a_company)] {
        let path = format!("/api/{kind}/{}", record["id"].as_str().unwrap());
        let r = app.get(&path).bearer(&b.token).send().await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "GET {path}");
        let r = app
            .patch(&path)
            .bearer(&b.token)
            .json(json!({"first_name": "Pwned", "name": "Pwned"}))
            .send()
            .await;
        assert!(
            r.status == 404 || r.status == 422,
            "PATCH {path}: {}",
            r.body
        );
        let r = app
            .patch(&path)
            .bearer(&b.token)
            .json(json!({}))
            .send()
            .await;
        assert_eq!(r.status, 404, "PATCH {path}: {}", r.body);
        let r = app.delete(&path).bearer(&b.token).send().await;
        assert_eq!(r.status, 404, "DELETE {path}");
    }
    // References into A are refused, naming the field.
    let r = app
        .post("/api/contacts")
        .bearer(&b.token)
        .json(json!({"first_name": "Spy", "company_id": a_company["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["details"]["fields"]["company_id"].is_string());
    let r = app
        .post("/api/contacts")
        .bearer(&b.token)
        .json(json!({"first_name": "Spy", "owner_id": a.owner_id}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["details"]["fields"]["owner_id"].is_string());
    let (bob, _) = app.names(&b.token, "/api/contacts").await;
    assert_eq!(bob.len(), 1);
    let b_contact = app
        .get("/api/contacts")
        .bearer(&b.token)
        .send()
        .await
        .ok("list B's contacts")
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(&format!("/api/contacts/{b_contact}"))
        .bearer(&b.token)
        .json(json!({"company_id": a_company["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .post("/api/companies")
        .bearer(&b.token)
        .json(json!({"name": "X", "owner_id": a.owner_id}))
        .send()
        .await;
    assert_eq!(r.status, 422);

    let after = (
        app.get(&format!(
            "/api/contacts/{}",
            a_contact["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .send()
        .await
        .body,
        app.get(&format!(
            "/api/companies/{}",
            a_company["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .send()
        .await
        .body,
    );
    assert_eq!(before, after, "A's rows are unchanged");
}
both!(contacts_and_companies_stay_in_their_tenant);

async fn registration_makes_a_default_sales_pipeline(app: TestApp) {
    let t = app.register("Pipeline Co").await;
    let r = app.get("/api/pipelines").bearer(&t.token).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &r.body["data"][0];
    assert_eq!(p["name"], "Sales");
    assert_eq!(p["is_default"], true);
    let stages: Vec<(&str, &str)> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        vec![
            ("New", "open"),
            ("Qualified", "open"),
            ("Proposal", "open"),
            ("Negotiation", "open"),
            ("Won", "won"),
            ("Lost", "lost")
        ]
    );
}
both!(registration_makes_a_default_sales_pipeline);

async fn deals_move_through_stages_and_take_their_status(app: TestApp) {
    let t = app.register("Deal Co").await;
    let contact = app
        .new_record(&t.token, "contacts", json!({"first_name": "Buyer"}))
        .await;
    let deal = app
        .new_record(&t.token, "deals", json!({"title": "Seaside villa", "amount": 45_000_000, "currency": "eur", "contact_id": contact["id"], "expected_close_date": "2026-06-30"}))
        .await;
    let sales = app
        .get("/api/pipelines")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the pipelines")
        .body["data"][0]
        .clone();
    let stage = |name: &str| -> String {
        sales["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(deal["pipeline_id"], sales["id"], "the default pipeline");
    assert_eq!(
        deal["stage_id"],
        stage("New").as_str(),
        "its first open stage"
    );
    assert_eq!(deal["status"], "open");
    assert_eq!(deal["currency"], "EUR");
    assert_eq!(deal["amount"], 45_000_000);
    assert_eq!(deal["expected_close_date"], "2026-06-30");
    let path = format!("/api/deals/{}", deal["id"].as_str().unwrap());

    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"stage_id": stage("Negotiation")}))
        .send()
        .await;
    assert_eq!(r.body["data"]["status"], "open");
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"stage_id": stage("Won")}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["status"], "won");
    assert_eq!(r.body["data"]["closed_at"], "2026-03-01T09:00:00Z");
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"stage_id": stage("Proposal")}))
        .send()
        .await;
    assert_eq!(r.body["data"]["status"], "open");
    assert!(r.body["data"]["closed_at"].is_null(), "reopened");

    // The board's columns: deals by stage.
    let r = app
        .get(&format!("/api/deals?stage_id={}", stage("Proposal")))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/deals?status=won")
        .bearer(&t.token)
        .send()
        .await;
    assert!(r.body["data"].as_array().unwrap().is_empty());

    // A stage of another pipeline is refused, naming the field.
    let support = app.new_record(&t.token, "pipelines", json!({"name": "Support", "stages": [{"name": "Open"}, {"name": "Solved", "kind": "won"}]})).await;
    let support_stage = support["stages"][0]["id"].clone();
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"stage_id": support_stage}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["stage_id"].is_string());
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"pipeline_id": sales["id"], "stage_id": support_stage}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    // Moving to another pipeline lands on its first open stage.
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"pipeline_id": support["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["stage_id"], support_stage);

    for (body, field) in [
        (json!({"title": "X", "amount": -1}), "amount"),
        (json!({"title": "X", "currency": "euro"}), "currency"),
        (
            json!({"title": "X", "contact_id": uuid::Uuid::now_v7()}),
            "contact_id",
        ),
        (
            json!({"title": "X", "pipeline_id": uuid::Uuid::now_v7()}),
            "pipeline_id",
        ),
        (json!({"amount": 5}), "title"),
        (
            json!({"title": "X", "expected_close_date": "30/06/2026"}),
            "expected_close_date",
        ),
    ] {
        let r = app
            .post("/api/deals")
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
}
both!(deals_move_through_stages_and_take_their_status);

async fn pipelines_and_stages_are_configured_by_managers(app: TestApp) {
    let t = app.register("Config Co").await;
    let (_, user) = app.add_user(&t, "user@config.example", "user").await;
    let r = app
        .post("/api/pipelines")
        .bearer(&user)
        .json(json!({"name": "Projects"}))
        .send()
        .await;
    assert_eq!(r.status, 403);
    let p = app
        .new_record(&t.token, "pipelines", json!({"name": "Projects"}))
        .await;
    assert_eq!(p["stages"].as_array().unwrap().len(), 6, "default stages");
    assert_eq!(p["is_default"], false);
    let r = app
        .post("/api/pipelines")
        .bearer(&t.token)
        .json(json!({"name": "Projects"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "names are unique in a tenant");
    let pid = p["id"].as_str().unwrap();

    let r = app
        .post(&format!("/api/pipelines/{pid}/stages"))
        .bearer(&t.token)
        .json(json!({"name": "On hold", "probability": 5}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let stages: Vec<String> = r.body["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stages.len(), 7);
    let mut reversed = stages.clone();
    reversed.reverse();
    let r = app
        .post(&format!("/api/pipelines/{pid}/stages/reorder"))
        .bearer(&t.token)
        .json(json!({"stage_ids": reversed}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["stages"][0]["name"], "On hold");
    let r = app
        .post(&format!("/api/pipelines/{pid}/stages/reorder"))
        .bearer(&t.token)
        .json(json!({"stage_ids": &stages[1..]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "every stage exactly once");

    // A stage with deals cannot go; changing its kind changes the deals.
    let deal = app
        .new_record(
            &t.token,
            "deals",
            json!({"title": "Fit-out", "pipeline_id": pid}),
        )
        .await;
    let deal_stage = deal["stage_id"].as_str().unwrap();
    let r = app
        .delete(&format!("/api/pipelines/{pid}/stages/{deal_stage}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = app
        .patch(&format!("/api/pipelines/{pid}/stages/{deal_stage}"))
        .bearer(&t.token)
        .json(json!({"kind": "lost"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = app
        .get(&format!("/api/deals/{}", deal["id"].as_str().unwrap()))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(d.body["data"]["status"], "lost");
    let r = app
        .delete(&format!("/api/pipelines/{pid}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "a pipeline with deals stays");
    app.delete(&format!("/api/deals/{}", deal["id"].as_str().unwrap()))
        .bearer(&t.token)
        .send()
        .await
        .ok("delete the pipeline's only deal");
    let r = app
        .patch(&format!("/api/pipelines/{pid}"))
        .bearer(&t.token)
        .json(json!({"is_default": true}))
        .send()
        .await;
    assert_eq!(r.body["data"]["is_default"], true);
    let all = app.get("/api/pipelines").bearer(&t.token).send().await;
    assert_eq!(
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["is_default"] == true)
            .count(),
        1
    );
    let r = app
        .delete(&format!("/api/pipelines/{pid}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "the default pipeline stays");
}
both!(pipelines_and_stages_are_configured_by_managers);

async fn pipelines_and_deals_stay_in_their_tenant(app: TestApp) {
    let a = app.register("Alpha Deals").await;
    let b = app.register("Beta Deals").await;
    let a_contact = app
        .new_record(&a.token, "contacts", json!({"first_name": "Alice"}))
        .await;
    let a_deal = app
        .new_record(
            &a.token,
            "deals",
            json!({"title": "A's deal", "contact_id": a_contact["id"]}),
        )
        .await;
    let a_pipeline = app
        .get("/api/pipelines")
        .bearer(&a.token)
        .send()
        .await
        .ok("list A's pipelines")
        .body["data"][0]
        .clone();
    let a_pid = a_pipeline["id"].as_str().unwrap();
    let a_stage = a_pipeline["stages"][1]["id"].as_str().unwrap();
    let before = app
        .get(&format!("/api/pipelines/{a_pid}"))
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's pipeline before B's attempts")
        .body;
    let deal_before = app
        .get(&format!("/api/deals/{}", a_deal["id"].as_str().unwrap()))
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's deal before B's attempts")
        .body;

    let r = app.get("/api/pipelines").bearer(&b.token).send().await;
    assert!(r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != a_pipeline["id"]));
    assert!(
        app.get("/api/deals").bearer(&b.token).send().await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let deal_path = format!("/api/deals/{}", a_deal["id"].as_str().unwrap());
    for (method, path, body) in [
        ("GET", format!("/api/pipelines/{a_pid}"), None),
        (
            "PATCH",
            format!("/api/pipelines/{a_pid}"),
            Some(json!({"name": "Pwned"})),
        ),
        ("DELETE", format!("/api/pipelines/{a_pid}"), None),
        ("GET", format!("/api/pipelines/{a_pid}/stages"), None),
        (
            "POST",
            format!("/api/pipelines/{a_pid}/stages"),
            Some(json!({"name": "Pwned"})),
        ),
        (
            "PATCH",
            format!("/api/pipelines/{a_pid}/stages/{a_stage}"),
            Some(json!({"name": "Pwned"})),
        ),
        (
            "DELETE",
            format!("/api/pipelines/{a_pid}/stages/{a_stage}"),
            None,
        ),
        (
            "POST",
            format!("/api/pipelines/{a_pid}/stages/reorder"),
            Some(json!({"stage_ids": [a_stage]})),
        ),
        ("GET", deal_path.clone(), None),
        ("PATCH", deal_path.clone(), Some(json!({"title": "Pwned"}))),
        ("DELETE", deal_path.clone(), None),
    ] {
        let req = app.req(method.parse().unwrap(), &path).bearer(&b.token);
        let r = match body {
            Some(b) => req.json(b).send().await,
            None => req.send().await,
        };
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    // References into A are refused, naming the field.
    for (body, field) in [
        (json!({"title": "Spy", "pipeline_id": a_pid}), "pipeline_id"),
        (json!({"title": "Spy", "stage_id": a_stage}), "stage_id"),
        (
            json!({"title": "Spy", "contact_id": a_contact["id"]}),
            "contact_id",
        ),
        (json!({"title": "Spy", "owner_id": a.owner_id}), "owner_id"),
    ] {
        let r = app
            .post("/api/deals")
            .bearer(&b.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    assert_eq!(
        app.get(&format!("/api/pipelines/{a_pid}"))
            .bearer(&a.token)
            .send()
            .await
            .body,
        before
    );
    assert_eq!(
        app.get(&deal_path).bearer(&a.token).send().await.body,
        deal_before
    );
}
both!(pipelines_and_deals_stay_in_their_tenant);

async fn a_lead_converts_once_into_contact_company_and_deal(app: TestApp) {
    let t = app.register("Lead Co").await;
    let lead = app
        .new_record(&t.token, "leads", json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
                                             "company_name": "Navy Labs", "source": "referral", "estimated_value": 250000, "currency": "usd"}))
        .await;
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["currency"], "USD");
    let path = format!("/api/leads/{}", lead["id"].as_str().unwrap());
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"status": "qualified"}))
        .send()
        .await;
    assert_eq!(r.body["data"]["status"], "qualified");
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"status": "converted"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "conversion has its own endpoint");

    let r = app
        .post(&format!("{path}/convert"))
        .bearer(&t.token)
        .json(json!({"create_deal": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.body["data"];
    assert_eq!(c["lead"]["status"], "converted");
    assert_eq!(c["contact"]["first_name"], "Grace");
    assert_eq!(c["contact"]["email"], "grace@navy.example");
    assert_eq!(c["company"]["name"], "Navy Labs");
    assert_eq!(c["contact"]["company_id"], c["company"]["id"]);
    assert_eq!(c["deal"]["title"], "Navy Labs deal");
    assert_eq!(c["deal"]["amount"], 250000);
    assert_eq!(c["deal"]["contact_id"], c["contact"]["id"]);
    assert_eq!(c["lead"]["converted_deal_id"], c["deal"]["id"]);

    let r = app
        .post(&format!("{path}/convert"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "converting twice: {}", r.body);
    assert_eq!(app.count("contacts").await, 1);

    // A conversion that fails half-way leaves nothing behind.
    let other = app
        .new_record(
            &t.token,
            "leads",
            json!({"first_name": "Alan", "company_name": "Bletchley"}),
        )
        .await;
    let r = app
        .post(&format!(
            "/api/leads/{}/convert",
            other["id"].as_str().unwrap()
        ))
        .bearer(&t.token)
        .json(json!({"create_deal": true, "pipeline_id": uuid::Uuid::now_v7()}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.count("contacts").await, 1);
    assert_eq!(app.count("companies").await, 1);
    let r = app
        .get(&format!("/api/leads/{}", other["id"].as_str().unwrap()))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["status"], "new");

    let r = app
        .get("/api/leads?status=converted")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app.get("/api/leads?q=bletch").bearer(&t.token).send().await;
    assert_eq!(r.body["data"][0]["first_name"], "Alan");
}
both!(a_lead_converts_once_into_contact_company_and_deal);

async fn activities_make_a_calendar_and_a_task_list(app: TestApp) {
    let t = app.register("Calendar Co").await;
    let (agent_id, agent) = app.add_user(&t, "agent@calendar.example", "user").await;
    let contact = app
        .new_record(&t.token, "contacts", json!({"first_name": "Client"}))
        .await;
    let call = app
        .new_record(&t.token, "activities", json!({"type": "call", "subject": "Intro call", "due_at": "2026-03-02T10:00:00Z",
                                                  "duration_minutes": 30, "contact_id": contact["id"], "assigned_to": agent_id}))
        .await;
    assert_eq!(call["type"], "call");
    assert_eq!(call["done"], false);
    app.new_record(
        &t.token,
        "activities",
        json!({"type": "meeting", "subject": "Viewing", "due_at": "2026-03-05T15:00:00Z"}),
    )
    .await;
    app.new_record(
        &agent,
        "activities",
        json!({"subject": "Send brochure", "due_at": "2026-04-01T09:00:00Z"}),
    )
    .await;
    app.new_record(&agent, "activities", json!({"subject": "Someday"}))
        .await;

    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let week = app
        .get("/api/activities?from=2026-03-01T00:00:00Z&to=2026-03-08T00:00:00Z&sort=due_at")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(week.status, 200, "{}", week.body);
    assert_eq!(names(&week), vec!["Intro call", "Viewing"]);
    let mine = app
        .get(&format!(
            "/api/activities?assigned_to={agent_id}&done=false&sort=due_at"
        ))
        .bearer(&agent)
        .send()
        .await;
    assert_eq!(
        names(&mine),
        vec!["Intro call", "Send brochure"],
        "undated tasks are not on a by-date list"
    );
    let of_contact = app
        .get(&format!(
            "/api/activities?contact_id={}",
            contact["id"].as_str().unwrap()
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(names(&of_contact), vec!["Intro call"]);

    let path = format!("/api/activities/{}", call["id"].as_str().unwrap());
    let r = app
        .patch(&path)
        .bearer(&agent)
        .json(json!({"done": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["done"], true);
    assert_eq!(r.body["data"]["done_at"], "2026-03-01T09:00:00Z");
    let open = app
        .get("/api/activities?done=false&type=call")
        .bearer(&t.token)
        .send()
        .await;
    assert!(names(&open).is_empty());
    let r = app
        .patch(&path)
        .bearer(&agent)
        .json(json!({"done": false}))
        .send()
        .await;
    assert!(r.body["data"]["done_at"].is_null());

    for bad in ["from=yesterday", "done=maybe", "type=party", "sort=due"] {
        let r = app
            .get(&format!("/api/activities?{bad}"))
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let r = app
        .post("/api/activities")
        .bearer(&t.token)
        .json(json!({"subject": "X", "duration_minutes": 20000}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .get("/api/contacts?sort=due_at")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 422, "only activities sort by due_at");
}
both!(activities_make_a_calendar_and_a_task_list);

async fn notes_belong_to_exactly_one_record_and_go_with_it(app: TestApp) {
    let t = app.register("Notes Co").await;
    let contact = app
        .new_record(&t.token, "contacts", json!({"first_name": "Noted"}))
        .await;
    let deal = app
        .new_record(&t.token, "deals", json!({"title": "Noted deal"}))
        .await;
    let note = app
        .new_record(
            &t.token,
            "notes",
            json!({"body": "Prefers e-mail.", "contact_id": contact["id"]}),
        )
        .await;
    app.new_record(
        &t.token,
        "notes",
        json!({"body": "Budget confirmed.", "deal_id": deal["id"]}),
    )
    .await;
    for body in [
        json!({"body": "Nowhere"}),
        json!({"body": "Two places", "contact_id": contact["id"], "deal_id": deal["id"]}),
        json!({"body": "", "contact_id": contact["id"]}),
        json!({"body": "Ghost", "lead_id": uuid::Uuid::now_v7()}),
    ] {
        let r = app
            .post("/api/notes")
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
    }
    let r = app
        .get(&format!(
            "/api/notes?contact_id={}",
            contact["id"].as_str().unwrap()
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let path = format!("/api/notes/{}", note["id"].as_str().unwrap());
    let r = app
        .patch(&path)
        .bearer(&t.token)
        .json(json!({"body": "Prefers phone."}))
        .send()
        .await;
    assert_eq!(r.body["data"]["body"], "Prefers phone.");
    app.delete(&format!(
        "/api/contacts/{}",
        contact["id"].as_str().unwrap()
    ))
    .bearer(&t.token)
    .send()
    .await
    .ok("delete the note's contact");
    assert_eq!(
        app.get(&path).bearer(&t.token).send().await.status,
        404,
        "the note went with its contact"
    );
    assert_eq!(app.count("notes").await, 1);
}
both!(notes_belong_to_exactly_one_record_and_go_with_it);

async fn leads_activities_and_notes_stay_in_their_tenant(app: TestApp) {
    let a = app.register("Alpha Leads").await;
    let b = app.register("Beta Leads").await;
    let lead = app
        .new_record(&a.token, "leads", json!({"first_name": "Ann"}))
        .await;
    let act = app
        .new_record(
            &a.token,
            "activities",
            json!({"subject": "A's call", "lead_id": lead["id"]}),
        )
        .await;
    let note = app
        .new_record(
            &a.token,
            "notes",
            json!({"body": "A's note", "lead_id": lead["id"]}),
        )
        .await;
    let ids = [("leads", &lead), ("activities", &act), ("notes", &note)];
    let before: Vec<Value> = record_bodies(&app, &a.token, &ids).await;
    for (kind, rec) in ids {
        assert!(app
            .get(&format!("/api/{kind}"))
            .bearer(&b.token)
            .send()
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .is_empty());
        let path = format!("/api/{kind}/{}", rec["id"].as_str().unwrap());
        assert_eq!(
            app.get(&path).bearer(&b.token).send().await.status,
            404,
            "GET {path}"
        );
        let r = app
            .patch(&path)
            .bearer(&b.token)
            .json(json!({}))
            .send()
            .await;
        assert_eq!(r.status, 404, "PATCH {path}: {}", r.body);
        assert_eq!(
            app.delete(&path).bearer(&b.token).send().await.status,
            404,
            "DELETE {path}"
        );
    }
    let r = app
        .post(&format!(
            "/api/leads/{}/convert",
            lead["id"].as_str().unwrap()
        ))
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.status, 404);
    for (kind, body, field) in [
        (
            "activities",
            json!({"subject": "Spy", "lead_id": lead["id"]}),
            "lead_id",
        ),
        (
            "activities",
            json!({"subject": "Spy", "assigned_to": a.owner_id}),
            "assigned_to",
        ),
        (
            "notes",
            json!({"body": "Spy", "lead_id": lead["id"]}),
            "lead_id",
        ),
        (
            "leads",
            json!({"first_name": "Spy", "owner_id": a.owner_id}),
            "owner_id",
        ),
    ] {
        let r = app
            .post(&format!("/api/{kind}"))
            .bearer(&b.token)
            .json(body)
            .send()
            .await;
        assert_eq!(r.status, 422, "{kind}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    assert_eq!(
        record_bodies(&app, &a.token, &ids).await,
        before,
        "A's rows are unchanged"
    );
}
both!(leads_activities_and_notes_stay_in_their_tenant);

async fn record_bodies(app: &TestApp, token: &str, ids: &[(&str, &Value)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, rec) in ids {
        out.push(
            app.get(&format!("/api/{kind}/{}", rec["id"].as_str().unwrap()))
                .bearer(token)
                .send()
                .await
                .ok(&format!("read the {kind} record"))
                .body,
        );
    }
    out
}

async fn deal_amounts_follow_their_line_items(app: TestApp) {
    let t = app.register("Catalogue Co").await;
    let product = app
        .new_record(
            &t.token,
            "products",
            json!({"name": "Consulting day", "sku": "CONS-1", "price": 80000, "currency": "eur"}),
        )
        .await;
    assert_eq!(product["currency"], "EUR");
    let r = app
        .post("/api/products")
        .bearer(&t.token)
        .json(json!({"name": "Other", "sku": "CONS-1"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "SKUs are unique in a tenant: {}", r.body);
    let usd = app
        .new_record(
            &t.token,
            "products",
            json!({"name": "Licence", "price": 1000}),
        )
        .await;

    let deal = app
        .new_record(
            &t.token,
            "deals",
            json!({"title": "Rollout", "currency": "EUR", "amount": 5}),
        )
        .await;
    let items = format!("/api/deals/{}/items", deal["id"].as_str().unwrap());
    let r = app
        .post(&items)
        .bearer(&t.token)
        .json(json!({"product_id": product["id"], "quantity": 3, "discount_percent": 10}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"][0]["name"], "Consulting day");
    assert_eq!(r.body["data"][0]["total"], 216000);
    let r = app
        .post(&items)
        .bearer(&t.token)
        .json(json!({"name": "Travel", "unit_price": 12345}))
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    let deal_path = format!("/api/deals/{}", deal["id"].as_str().unwrap());
    let d = app.get(&deal_path).bearer(&t.token).send().await;
    assert_eq!(d.body["data"]["amount"], 216000 + 12345);

    let r = app
        .post(&items)
        .bearer(&t.token)
        .json(json!({"product_id": usd["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "a product in another currency: {}", r.body);
    let r = app
        .patch(&deal_path)
        .bearer(&t.token)
        .json(json!({"amount": 1}))
        .send()
        .await;
    assert_eq!(r.status, 422, "the amount follows the items");

    let list = app
        .get(&items)
        .bearer(&t.token)
        .send()
        .await
        .ok("list the deal's items");
    let travel_id = list.body["data"][1]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(&format!("{items}/{travel_id}"))
        .bearer(&t.token)
        .json(json!({"quantity": 2}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = app.get(&deal_path).bearer(&t.token).send().await;
    assert_eq!(d.body["data"]["amount"], 216000 + 24690);
    let r = app
        .delete(&format!("{items}/{travel_id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    // Deleting the product keeps the line as it was sold.
    app.delete(&format!(
        "/api/products/{}",
        product["id"].as_str().unwrap()
    ))
    .bearer(&t.token)
    .send()
    .await
    .ok("delete the sold product");
    let list = app.get(&items).bearer(&t.token).send().await;
    assert!(list.body["data"][0]["product_id"].is_null());
    assert_eq!(list.body["data"][0]["name"], "Consulting day");
    let r = app
        .get("/api/products?q=licen")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
}
both!(deal_amounts_follow_their_line_items);

async fn products_and_line_items_stay_in_their_tenant(app: TestApp) {
    let a = app.register("Alpha Goods").await;
    let b = app.register("Beta Goods").await;
    let product = app
        .new_record(
            &a.token,
            "products",
            json!({"name": "A's product", "price": 100}),
        )
        .await;
    let deal = app
        .new_record(&a.token, "deals", json!({"title": "A's deal"}))
        .await;
    let items = format!("/api/deals/{}/items", deal["id"].as_str().unwrap());
    let r = app
        .post(&items)
        .bearer(&a.token)
        .json(json!({"product_id": product["id"]}))
        .send()
        .await
        .created("add a line item to A's deal");
    let item = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let before = app
        .get(&items)
        .bearer(&a.token)
        .send()
        .await
        .ok("read A's line items before B's attempts")
        .body;

    let b_deal = app
        .new_record(&b.token, "deals", json!({"title": "B's deal"}))
        .await;
    let b_items = format!("/api/deals/{}/items", b_deal["id"].as_str().unwrap());
    assert!(
        app.get("/api/products").bearer(&b.token).send().await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let product_path = format!("/api/products/{}", product["id"].as_str().unwrap());
    for (method, path, body) in [
        ("GET", product_path.clone(), None),
        ("PATCH", product_path.clone(), Some(json!({"price": 1}))),
        ("DELETE", product_path.clone(), None),
        ("GET", items.clone(), None),
        (
            "POST",
            items.clone(),
            Some(json!({"name": "Spy", "unit_price": 1})),
        ),
        (
            "PATCH",
            format!("{items}/{item}"),
            Some(json!({"quantity": 9})),
        ),
        ("DELETE", format!("{items}/{item}"), None),
        (
            "PATCH",
            format!("{b_items}/{item}"),
            Some(json!({"quantity": 9})),
        ),
    ] {
        let req = app.req(method.parse().unwrap(), &path).bearer(&b.token);
        let r = match body {
            Some(b) => req.json(b).send().await,
            None => req.send().await,
        };
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = app
        .post(&b_items)
        .bearer(&b.token)
        .json(json!({"product_id": product["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["product_id"].is_string());
    assert_eq!(app.get(&items).bearer(&a.token).send().await.body, before);
}
both!(products_and_line_items_stay_in_their_tenant);

async fn a_record_timeline_shows_notes_activities_and_changes_newest_first(app: TestApp) {
    let a = app.register("Timeline Co").await;
    let b = app.register("Other Timeline Co").await;
    let contact = app
        .new_record(
            &a.token,
            "contacts",
            json!({"first_name": "Ada", "title": "Buyer"}),
        )
        .await;
    let cid = contact["id"].as_str().unwrap();
    let path = format!("/api/contacts/{cid}");
    app.advance(chrono::Duration::minutes(1));
    app.new_record(
        &a.token,
        "notes",
        json!({"body": "Met at the fair.", "contact_id": cid}),
    )
    .await;
    app.advance(chrono::Duration::minutes(1));
    app.patch(&path)
        .bearer(&a.token)
        .json(json!({"title": "Head of purchasing", "phone": "+1 555"}))
        .send()
        .await
        .ok("change the contact's title and phone");
    app.advance(chrono::Duration::minutes(1));
    app.new_record(
        &a.token,
        "activities",
        json!({"type": "call", "subject": "Follow-up", "contact_id": cid}),
    )
    .await;
    app.advance(chrono::Duration::minutes(1));
    app.patch(&path)
        .bearer(&a.token)
        .json(json!({"title": "Head of purchasing"}))
        .send()
        .await
        .ok("send the contact's title again, unchanged");

    let r = app
        .get(&format!("{path}/timeline"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kinds: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["activity", "change", "note"],
        "newest first; a no-op edit records nothing"
    );
    let change = &r.body["data"][1]["item"];
    assert_eq!(
        change["changes"]["title"],
        json!({"from": "Buyer", "to": "Head of purchasing"})
    );
    assert_eq!(
        change["changes"]["phone"],
        json!({"from": null, "to": "+1 555"})
    );
    assert_eq!(change["changed_by"], a.owner_id.as_str());
    assert!(change["changes"].get("updated_at").is_none());

    let page1 = app
        .get(&format!("{path}/timeline?limit=2"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(page1.body["data"].as_array().unwrap().len(), 2);
    let cursor = page1.body["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("{path}/timeline?limit=2&cursor={cursor}"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(page2.body["data"][0]["kind"], "note");
    assert!(page2.body["next_cursor"].is_null());

    // Deal stage moves show up on the deal's timeline.
    let deal = app
        .new_record(&a.token, "deals", json!({"title": "Moves"}))
        .await;
    let won = app
        .get("/api/pipelines")
        .bearer(&a.token)
        .send()
        .await
        .ok("list the pipelines")
        .body["data"][0]["stages"][4]["id"]
        .clone();
    app.patch(&format!("/api/deals/{}", deal["id"].as_str().unwrap()))
        .bearer(&a.token)
        .json(json!({"stage_id": won}))
        .send()
        .await
        .ok("move the deal to Won");
    let r = app
        .get(&format!(
            "/api/deals/{}/timeline",
            deal["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(
        r.body["data"][0]["item"]["changes"]["status"],
        json!({"from": "open", "to": "won"})
    );

    // Another tenant sees no timeline, not even an empty one.
    for kind in ["contacts", "deals"] {
        let id = if kind == "contacts" {
            cid.to_owned()
        } else {
            deal["id"].as_str().unwrap().to_owned()
        };
        let r = app
            .get(&format!("/api/{kind}/{id}/timeline"))
            .bearer(&b.token)
            .send()
            .await;
        assert_eq!(r.status, 404, "{kind}");
    }
    let r = app
        .get(&format!("{path}/timeline?cursor=zz"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.status, 422);
}
both!(a_record_timeline_shows_notes_activities_and_changes_newest_first);

async fn basic_reports_add_up(app: TestApp) {
    let t = app.register("Report Co").await;
    let b = app.register("Other Report Co").await;
    let (agent_id, agent) = app.add_user(&t, "agent@report.example", "user").await;
    let sales = app
        .get("/api/pipelines")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the pipelines")
        .body["data"][0]
        .clone();
    let stage = |i: usize| sales["stages"][i]["id"].clone();
    app.new_record(&t.token, "deals", json!({"title": "A", "amount": 1000}))
        .await;
    app.new_record(
        &t.token,
        "deals",
        json!({"title": "B", "amount": 2000, "stage_id": stage(0)}),
    )
    .await;
    app.new_record(
        &t.token,
        "deals",
        json!({"title": "C", "amount": 500, "currency": "EUR", "stage_id": stage(4)}),
    )
    .await;
    app.new_record(
        &t.token,
        "deals",
        json!({"title": "D", "amount": 700, "stage_id": stage(4)}),
    )
    .await;
    app.new_record(&b.token, "deals", json!({"title": "B's", "amount": 99999}))
        .await;

    let r = app
        .get("/api/reports/pipeline")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = &r.body["data"]["stages"][0];
    assert_eq!(new["name"], "New");
    assert_eq!(new["count"], 2);
    assert_eq!(new["value"], json!([{"amount": 3000, "currency": "USD"}]));
    let won = &r.body["data"]["stages"][4];
    assert_eq!(won["count"], 2);
    assert_eq!(
        won["value"],
        json!([{"amount": 500, "currency": "EUR"}, {"amount": 700, "currency": "USD"}])
    );
    assert_eq!(r.body["data"]["stages"][1]["count"], 0);

    let r = app
        .get("/api/reports/sales?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!([{"month": "2026-03", "won_deals": 2, "value": [{"amount": 500, "currency": "EUR"}, {"amount": 700, "currency": "USD"}]}])
    );

    app.new_record(
        &t.token,
        "activities",
        json!({"subject": "Call 1", "assigned_to": agent_id, "done": true}),
    )
    .await;
    app.new_record(&agent, "activities", json!({"subject": "Call 2"}))
        .await;
    app.new_record(
        &t.token,
        "activities",
        json!({"subject": "Later", "due_at": "2027-01-01T00:00:00Z"}),
    )
    .await;
    let r = app
        .get("/api/reports/activities?from=2026-02-01T00:00:00Z&to=2026-04-01T00:00:00Z")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!([{"user_id": agent_id, "full_name": "Staff Member", "done": 1, "open": 1}])
    );

    let l1 = app
        .new_record(
            &t.token,
            "leads",
            json!({"first_name": "L1", "source": "web"}),
        )
        .await;
    app.new_record(
        &t.token,
        "leads",
        json!({"first_name": "L2", "source": "web"}),
    )
    .await;
    app.new_record(&t.token, "leads", json!({"first_name": "L3"}))
        .await;
    app.post(&format!(
        "/api/leads/{}/convert",
        l1["id"].as_str().unwrap()
    ))
    .bearer(&t.token)
    .send()
    .await
    .ok("convert the first web lead");
    let r = app.get("/api/reports/leads").bearer(&t.token).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"][0],
        json!({"source": "web", "leads": 2, "converted": 1, "conversion_rate": 0.5})
    );
    assert_eq!(r.body["data"][1]["source"], Value::Null);

    for bad in [
        "/api/reports/sales?from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z",
        "/api/reports/leads?from=soon",
        "/api/reports/pipeline?pipeline_id=x",
    ] {
        let r = app.get(bad).bearer(&t.token).send().await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let r = app
        .get(&format!(
            "/api/reports/pipeline?pipeline_id={}",
            sales["id"].as_str().unwrap()
        ))
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.status, 404, "another tenant's pipeline");
    let r = app
        .get("/api/reports/sales?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.body["data"], json!([]), "B sees only its own deals");
}
both!(basic_reports_add_up);

/// Amounts are 0 to 10^15 minor units, and a report's sums cannot
/// overflow: a deal's amount follows its line items (up to 1,000,000 ×
/// 10^15, saturating at 2^63 - 1), and the sum of two such deals is shown
/// as 2^63 - 1, not a 500.
async fn report_sums_of_huge_amounts_do_not_overflow(app: TestApp) {
    const MAX: i64 = 1_000_000_000_000_000;
    let t = app.register("Huge Co").await;
    for (kind, body, field) in [
        (
            "deals",
            json!({"title": "Too much", "amount": MAX + 1}),
            "amount",
        ),
        (
            "deals",
            json!({"title": "Negative", "amount": -1}),
            "amount",
        ),
        (
            "products",
            json!({"name": "Too dear", "price": MAX + 1}),
            "price",
        ),
        (
            "leads",
            json!({"first_name": "Rich", "estimated_value": i64::MAX}),
            "estimated_value",
        ),
    ] {
        let r = app
            .post(&format!("/api/{kind}"))
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{}",
            r.body
        );
    }
    assert_eq!(app.count("deals").await, 0);
    let sales = app
        .get("/api/pipelines")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the pipelines")
        .body["data"][0]
        .clone();
    for title in ["A", "B", "C"] {
        app.new_record(&t.token, "deals", json!({"title": title, "amount": MAX}))
            .await;
    }
    for title in ["Huge 1", "Huge 2"] {
        let deal = app
            .new_record(
                &t.token,
                "deals",
                json!({"title": title, "stage_id": sales["stages"][4]["id"]}),
            )
            .await;
        let r = app
            .post(&format!(
                "/api/deals/{}/items",
                deal["id"].as_str().unwrap()
            ))
            .bearer(&t.token)
            .json(json!({"name": "Everything", "quantity": 1_000_000, "unit_price": MAX}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app
            .get(&format!("/api/deals/{}", deal["id"].as_str().unwrap()))
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.body["data"]["amount"], i64::MAX, "{}", r.body);
    }

    let r = app
        .get("/api/reports/pipeline")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["stages"][0]["value"],
        json!([{"amount": 3 * MAX, "currency": "USD"}])
    );
    let won = &r.body["data"]["stages"][4];
    assert_eq!(won["count"], 2);
    assert_eq!(
        won["value"],
        json!([{"amount": i64::MAX, "currency": "USD"}])
    );

    let r = app
        .get("/api/reports/sales?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["won_deals"], 2, "{}", r.body);
    assert_eq!(
        r.body["data"][0]["value"],
        json!([{"amount": i64::MAX, "currency": "USD"}])
    );
}
both!(report_sums_of_huge_amounts_do_not_overflow);

async fn search_finds_records_of_the_callers_tenant_only(app: TestApp) {
    let a = app.register("Search Co").await;
    let b = app.register("Other Search Co").await;
    let ada = app
        .new_record(
            &a.token,
            "contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@engines.example"}),
        )
        .await;
    app.new_record(
        &a.token,
        "companies",
        json!({"name": "Analytical Engines", "domain": "engines.example"}),
    )
    .await;
    app.new_record(
        &a.token,
        "leads",
        json!({"first_name": "Adam", "company_name": "Lovelace Labs"}),
    )
    .await;
    app.new_record(
        &a.token,
        "deals",
        json!({"title": "Lovelace engine upgrade"}),
    )
    .await;
    app.new_record(
        &b.token,
        "contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace"}),
    )
    .await;

    let shared = &app;
    let find = |q: &str, token: &str| {
        let path = format!("/api/search?q={q}");
        let token = token.to_owned();
        async move { shared.get(&path).bearer(&token).send().await }
    };
    let r = find("lovelace", &a.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kinds: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["record_type"].as_str().unwrap())
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["contact", "deal", "lead"], "{}", r.body);

    // Every word must match, each as a prefix (search as you type).
    let r = find("ada%20love", &a.token).await;
    let hits = r.body["data"].as_array().unwrap();
    assert_eq!(
        hits.len(),
        2,
        "Ada Lovelace, and Adam of Lovelace Labs: {}",
        r.body
    );
    assert_eq!(hits[0]["id"], ada["id"]);
    assert_eq!(hits[1]["title"], "Adam");
    assert_eq!(hits[0]["subtitle"], "ada@engines.example");
    let r = find("analyt", &a.token).await;
    assert_eq!(r.body["data"][0]["record_type"], "company");

    // B finds only its own Ada.
    let r = find("lovelace", &b.token).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_ne!(r.body["data"][0]["id"], ada["id"]);

    // Edits and deletions reach the index.
    app.patch(&format!("/api/contacts/{}", ada["id"].as_str().unwrap()))
        .bearer(&a.token)
        .json(json!({"last_name": "King"}))
        .send()
        .await
        .ok("rename Ada Lovelace to Ada King");
    let after_edit = find("ada%20love", &a.token).await;
    let titles: Vec<&str> = after_edit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Adam"], "Ada is no longer a Lovelace");
    assert_eq!(
        find("ada%20king", &a.token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.delete(&format!("/api/contacts/{}", ada["id"].as_str().unwrap()))
        .bearer(&a.token)
        .send()
        .await
        .ok("delete Ada King");
    assert!(find("king", &a.token).await.body["data"]
        .as_array()
        .unwrap()
        .is_empty());

    // Query syntax is just text.
    let r = find("%22%3A*%26!%7C", &a.token).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = find("lovelace%22%20OR%20%22x", &a.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get("/api/search").bearer(&a.token).send().await.status,
        422
    );
}
both!(search_finds_records_of_the_callers_tenant_only);

/// Import and export are for admins and managers: a plain user can neither
/// download every record nor overwrite others' through an import.
async fn only_admins_and_managers_import_and_export(app: TestApp) {
    let t = app.register("Transfer Roles Co").await;
    let (_, user) = app
        .add_user(&t, "plain@transferroles.example", "user")
        .await;
    let (_, manager) = app
        .add_user(&t, "boss@transferroles.example", "manager")
        .await;
    let csv = "first_name,email\r\nAda,ada@transferroles.example\r\n";
    for kind in ["contacts", "leads"] {
        let r = app
            .post(&format!("/api/{kind}/import"))
            .bearer(&user)
            .raw("text/csv", csv.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, 403, "{kind} import by a user: {}", r.body);
        let r = app
            .get(&format!("/api/{kind}/export"))
            .bearer(&user)
            .send()
            .await;
        assert_eq!(r.status, 403, "{kind} export by a user: {}", r.text);
        assert_eq!(r.body["error"]["code"], "forbidden");
        let r = app
            .post(&format!("/api/{kind}/import"))
            .bearer(&manager)
            .raw("text/csv", csv.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, 200, "{kind} import by a manager: {}", r.body);
        let r = app
            .get(&format!("/api/{kind}/export"))
            .bearer(&manager)
            .send()
            .await;
        assert_eq!(r.status, 200, "{kind} export by a manager");
    }
    assert_eq!(
        app.count("contacts").await,
        1,
        "only the manager's import wrote"
    );
}
both!(only_admins_and_managers_import_and_export);

/// A cell a spreadsheet would run as a formula is exported behind a `'`
/// (CSV injection), and the import takes the guard off again, so a round
/// trip changes nothing.
async fn exported_formulas_are_guarded_and_import_back_unchanged(app: TestApp) {
    let t = app.register("Formula Co").await;
    let id = app
        .new_record(
            &t.token,
            "contacts",
            json!({"first_name": "=HYPERLINK(\"http://x.example\")", "last_name": "@SUM(A1)",
                   "phone": "+1 555 0100", "email": "formula@formula.example"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get("/api/contacts/export")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200);
    let row = r.text.lines().nth(1).expect("a data row");
    for guarded in [
        "\"'=HYPERLINK(\"\"http://x.example\"\")\"",
        "'@SUM(A1)",
        "'+1 555 0100",
    ] {
        assert!(row.contains(guarded), "{guarded} in {row}");
    }
    // Importing the export over the same contact changes none of its fields.
    let before = app
        .get(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("read the contact")
        .body;
    let r = app
        .post("/api/contacts/import?on_duplicate=update")
        .bearer(&t.token)
        .raw("text/csv", r.text.into_bytes())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["errors"], json!([]), "{}", r.body);
    let after = app
        .get(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("read the contact again")
        .body;
    for field in ["first_name", "last_name", "phone", "email"] {
        assert_eq!(after["data"][field], before["data"][field], "{field}");
    }
}
both!(exported_formulas_are_guarded_and_import_back_unchanged);

async fn contacts_import_from_csv_and_export_back_unchanged(app: TestApp) {
    let a = app.register("Import Co").await;
    app.new_record(
        &a.token,
        "contacts",
        json!({"first_name": "Existing", "email": "dup@import.example", "title": "Old title"}),
    )
    .await;
    let csv = "First Name,Last Name,E-mail,Phone,Job Title,Company,Tags,Lead Source,Ignored\r\n\
               Ada,Lovelace,ADA@engines.example,+44 1,Countess,Analytical Engines,vip;math,fair,x\r\n\
               Charles,Babbage,charles@engines.example,,,Analytical Engines,,fair,\r\n\
               ,NoFirst,nofirst@x.example,,,,,,\r\n\
               Bad,Mail,not-an-email,,,,,,\r\n\
               \"Quote, Inc\",\"O\"\"Neil\",quote@x.example,,\"multi\nline\",,,,\r\n\
               Dup,In File,ada@engines.example,,,,,,\r\n\
               Existing,Person,dup@import.example,,New title,,,,\r\n\
               ,,,,,,,,\r\n";
    let import = |path: &str, body: &str| {
        app.post(path)
            .bearer(&a.token)
            .raw("text/csv", body.as_bytes().to_vec())
            .send()
    };
    let dry = import("/api/contacts/import?dry_run=true", csv).await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["data"]["imported"], 3);
    assert_eq!(app.count("contacts").await, 1, "a dry run writes nothing");

    let r = import("/api/contacts/import", csv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (
            d["imported"].as_i64(),
            d["updated"].as_i64(),
            d["skipped"].as_i64()
        ),
        (Some(3), Some(0), Some(2)),
        "{d}"
    );
    let errors: Vec<(i64, &str)> = d["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, vec![(3, "first_name"), (4, "email")]);
    assert_eq!(app.count("contacts").await, 4);
    assert_eq!(
        app.count("companies").await,
        1,
        "one company for both rows naming it"
    );
    let r = app.get("/api/contacts?q=ada").bearer(&a.token).send().await;
    let ada = &r.body["data"][0];
    assert_eq!(ada["email"], "ada@engines.example");
    assert_eq!(ada["tags"], json!(["vip", "math"]));
    assert!(ada["company_id"].is_string());

    // on_duplicate=update changes the existing contact instead.
    let r = import(
        "/api/contacts/import?on_duplicate=update",
        "first_name,email,title\nExisting,dup@import.example,New title\n",
    )
    .await;
    assert_eq!(r.body["data"]["updated"], 1, "{}", r.body);
    let r = app
        .get("/api/contacts?q=existing")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.body["data"][0]["title"], "New title");

    // Export, import into another company, export again: the same file.
    let exported = app
        .get("/api/contacts/export")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(exported.status, 200);
    assert!(exported.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(exported
        .text
        .starts_with("first_name,last_name,email,phone,title,company,tags,source\r\n"));
    assert_eq!(
        exported.text.matches("\r\n").count(),
        5,
        "a header and four records: {}",
        exported.text
    );
    let c = app.register("Copy Co").await;
    let r = app
        .post("/api/contacts/import")
        .bearer(&c.token)
        .raw("text/csv", exported.text.clone().into_bytes())
        .send()
        .await;
    assert_eq!(r.body["data"]["imported"], 4, "{}", r.body);
    let again = app
        .get("/api/contacts/export")
        .bearer(&c.token)
        .send()
        .await;
    assert_eq!(again.text, exported.text);

    // Another tenant's import and export touch only its own contacts.
    let b = app.register("Other Import Co").await;
    let r = app
        .get("/api/contacts/export")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.text.matches("\r\n").count(), 1, "just the header");
    let r = app
        .post("/api/contacts/import")
        .bearer(&b.token)
        .raw(
            "text/csv",
            b"first_name,email\nAda,ada@engines.example\n".to_vec(),
        )
        .send()
        .await;
    assert_eq!(
        r.body["data"]["imported"], 1,
        "A's e-mail is no duplicate in B: {}",
        r.body
    );

    for (ct, body, status) in [
        ("application/json", "{}", 415),
        ("text/csv", "", 422),
        ("text/csv", "email\nx@y.example\n", 422),
    ] {
        let r = app
            .post("/api/contacts/import")
            .bearer(&a.token)
            .raw(ct, body.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, status, "{ct} {body:?}: {}", r.body);
    }
    let r = app
        .post("/api/contacts/import?on_duplicate=merge")
        .bearer(&a.token)
        .raw("text/csv", b"first_name\nX\n".to_vec())
        .send()
        .await;
    assert_eq!(r.status, 422);
}
both!(contacts_import_from_csv_and_export_back_unchanged);

async fn leads_import_from_csv_or_a_form_and_export_back_unchanged(app: TestApp) {
    let a = app.register("Lead Import Co").await;
    let csv = "First Name,Surname,Email Address,Telephone,Organisation,Lead Source,Lead Status,Estimated Value,Currency\r\n\
               Grace,Hopper,GRACE@navy.example,+1 555,US Navy,conference,qualified,250000,usd\r\n\
               Alan,Turing,alan@bletchley.example,,Bletchley,referral,,,\r\n\
               Old,Deal,old@crm.example,,,migration,converted,100,EUR\r\n\
               Bad,Status,bad1@x.example,,,,won,,\r\n\
               Bad,Value,bad2@x.example,,,,,12.50,\r\n\
               Bad,Currency,bad3@x.example,,,,,,dollars\r\n\
               Grace,Again,grace@navy.example,,,,,,\r\n";
    let r = app
        .post("/api/leads/import")
        .bearer(&a.token)
        .raw("text/csv; charset=utf-8", csv.as_bytes().to_vec())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (d["imported"].as_i64(), d["skipped"].as_i64()),
        (Some(3), Some(1)),
        "{d}"
    );
    let errors: Vec<(i64, &str)> = d["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        vec![(4, "status"), (5, "estimated_value"), (6, "currency")]
    );
    let r = app.get("/api/leads?q=grace").bearer(&a.token).send().await;
    let grace = &r.body["data"][0];
    assert_eq!(
        (
            &grace["email"],
            &grace["status"],
            &grace["estimated_value"],
            &grace["currency"],
            &grace["company_name"]
        ),
        (
            &json!("grace@navy.example"),
            &json!("qualified"),
            &json!(250000),
            &json!("USD"),
            &json!("US Navy")
        )
    );
    let r = app.get("/api/leads?q=alan").bearer(&a.token).send().await;
    assert_eq!(r.body["data"][0]["status"], "new", "status defaults to new");
    let r = app.get("/api/leads?q=old").bearer(&a.token).send().await;
    let old = &r.body["data"][0];
    assert_eq!(old["status"], "converted");
    assert!(old["converted_at"].is_string());
    let r = app
        .post(&format!(
            "/api/leads/{}/convert",
            old["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .json(json!({}))
        .send()
        .await;
    assert_eq!(r.status, 409, "an imported converted lead stays converted");

    // The same file as a form's file part, with update: each row overwrites
    // the lead of its e-mail (a later row of the file wins); a converted
    // lead keeps its status.
    let boundary = "----trasealla-test-7d3";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"leads.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(
        b"first_name,email,status,source\nGrace,grace@navy.example,contacted,web\n\
          Grace,grace@navy.example,unqualified,\nOld,old@crm.example,new,\nNew,new@x.example,,\n",
    );
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = app
        .post("/api/leads/import?on_duplicate=update")
        .bearer(&a.token)
        .raw(&format!("multipart/form-data; boundary={boundary}"), form)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (d["imported"].as_i64(), d["updated"].as_i64()),
        (Some(1), Some(3)),
        "{d}"
    );
    let r = app.get("/api/leads?q=grace").bearer(&a.token).send().await;
    let grace = &r.body["data"][0];
    assert_eq!(grace["status"], "unqualified");
    assert_eq!(grace["source"], "web", "an empty cell keeps the value");
    assert_eq!(grace["last_name"], "Hopper");
    let r = app.get("/api/leads?q=old").bearer(&a.token).send().await;
    assert_eq!(r.body["data"][0]["status"], "converted");

    // A form without a file part, and a form cut short.
    let r = app
        .post("/api/leads/import")
        .bearer(&a.token)
        .raw(
            &format!("multipart/form-data; boundary={boundary}"),
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--{boundary}--\r\n")
                .into_bytes(),
        )
        .send()
        .await;
    assert_eq!(
        (
            r.status,
            r.body["error"]["details"]["fields"]["file"].is_string()
        ),
        (422, true),
        "{}",
        r.body
    );
    let r = app
        .post("/api/leads/import")
        .bearer(&a.token)
        .raw(
            &format!("multipart/form-data; boundary={boundary}"),
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nfirst_name\nX\n")
                .into_bytes(),
        )
        .send()
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        app.count("leads").await,
        4,
        "nothing written by refused uploads"
    );

    // Export, import into another company, export again: the same file.
    let exported = app.get("/api/leads/export").bearer(&a.token).send().await;
    assert_eq!(exported.status, 200);
    assert!(exported.text.starts_with(
        "first_name,last_name,email,phone,company_name,source,status,estimated_value,currency\r\n"
    ));
    assert_eq!(
        exported.text.matches("\r\n").count(),
        5,
        "{}",
        exported.text
    );
    let c = app.register("Lead Copy Co").await;
    let r = app
        .post("/api/leads/import")
        .bearer(&c.token)
        .raw("text/csv", exported.text.clone().into_bytes())
        .send()
        .await;
    assert_eq!(r.body["data"]["imported"], 4, "{}", r.body);
    let again = app.get("/api/leads/export").bearer(&c.token).send().await;
    assert_eq!(again.text, exported.text);

    // Another tenant: A's e-mails are no duplicates there, and its export
    // holds only its own leads; A's leads are unchanged.
    let b = app.register("Other Lead Co").await;
    let r = app.get("/api/leads/export").bearer(&b.token).send().await;
    assert_eq!(r.text.matches("\r\n").count(), 1, "just the header");
    let r = app
        .post("/api/leads/import?on_duplicate=update")
        .bearer(&b.token)
        .raw(
            "text/csv",
            b"first_name,email,status\nMallory,grace@navy.example,new\n".to_vec(),
        )
        .send()
        .await;
    assert_eq!(
        (
            r.body["data"]["imported"].as_i64(),
            r.body["data"]["updated"].as_i64()
        ),
        (Some(1), Some(0)),
        "{}",
        r.body
    );
    let after = app.get("/api/leads/export").bearer(&a.token).send().await;
    assert_eq!(after.text, exported.text, "A's leads are unchanged");
}
both!(leads_import_from_csv_or_a_form_and_export_back_unchanged);

/// Files larger than a batch: duplicates are found across batches (in the
/// rows the import wrote already), and an oversized upload is refused
/// whole.
async fn large_imports_settle_duplicates_across_batches_and_stop_at_50_mib(app: TestApp) {
    let a = app.register("Bulk Co").await;
    let mut csv = String::from("first_name,email,company\n");
    for i in 0..1_200 {
        csv.push_str(&format!("P{i},p{i}@bulk.example,Firm {}\n", i % 7));
    }
    // Each e-mail of the first batch again, after two batches.
    for i in 0..300 {
        csv.push_str(&format!("Again{i},P{i}@BULK.example,\n"));
    }
    let r = app
        .post("/api/contacts/import")
        .bearer(&a.token)
        .raw("text/csv", csv.into_bytes())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["data"]["imported"].as_i64(),
            r.body["data"]["skipped"].as_i64()
        ),
        (Some(1_200), Some(300)),
        "{}",
        r.body
    );
    assert_eq!(app.count("contacts").await, 1_200);
    assert_eq!(app.count("companies").await, 7);

    let mut big = b"first_name\n".to_vec();
    big.resize(50 * 1024 * 1024 + 1, b'x');
    let r = app
        .post("/api/contacts/import")
        .bearer(&a.token)
        .raw("text/csv", big)
        .send()
        .await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    assert_eq!(app.count("contacts").await, 1_200);
}
both!(large_imports_settle_duplicates_across_batches_and_stop_at_50_mib);

impl TestApp {
    /// A CSV import's answer.
    async fn import_csv(&self, token: &str, path: &str, csv: &str) -> Value {
        let r = self
            .post(path)
            .bearer(token)
            .raw("text/csv", csv.as_bytes().to_vec())
            .send()
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body["data"].clone()
    }

    /// The change entries of a record's timeline, newest first.
    async fn changes_of(&self, token: &str, kind: &str, id: &Value) -> Vec<Value> {
        let r = self
            .get(&format!("/api/{kind}/{}/timeline", id.as_str().unwrap()))
            .bearer(token)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "change")
            .map(|e| e["item"].clone())
            .collect()
    }

    /// The message the API gives `field` when `body` is posted to `path`.
    async fn refusal(&self, token: &str, path: &str, body: Value, field: &str) -> String {
        let r = self.post(path).bearer(token).json(body).send().await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{}",
            r.body
        );
        r.body["error"]["details"]["fields"][field]
            .as_str()
            .unwrap_or_else(|| panic!("no message for {field}: {}", r.body))
            .to_owned()
    }
}

/// `(row, field, message)` of an import's row errors.
fn row_errors(report: &Value) -> Vec<(i64, String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn keys(v: &Value) -> Vec<&String> {
    v.as_object().unwrap().keys().collect()
}

/// An import with on_duplicate=update changes a record as PATCH does: the
/// same change entry on its timeline, nothing for a row that changes
/// nothing, nothing after a dry run.
async fn an_imported_update_lands_on_the_timeline_as_a_patch_does(app: TestApp) {
    let a = app.register("Import Timeline Co").await;
    let contact = |email: &str| json!({"first_name": "Ada", "email": email, "title": "Buyer", "tags": ["old"], "source": "fair"});
    let patched = app
        .new_record(&a.token, "contacts", contact("ada@patch.example"))
        .await;
    let imported = app
        .new_record(&a.token, "contacts", contact("ada@import.example"))
        .await;
    app.advance(chrono::Duration::minutes(1));
    let r = app
        .patch(&format!(
            "/api/contacts/{}",
            patched["id"].as_str().unwrap()
        ))
        .bearer(&a.token)
        .json(json!({"title": "Head of purchasing", "phone": "+1 555", "tags": ["vip", "math"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let file = "First Name,E-mail,Job Title,Phone,Tags,Source\r\n\
                Ada,ADA@import.example,Head of purchasing,+1 555,vip;math,\r\n";
    let path = "/api/contacts/import?on_duplicate=update";
    let d = app.import_csv(&a.token, path, file).await;
    assert_eq!(
        (d["imported"].as_i64(), d["updated"].as_i64()),
        (Some(0), Some(1)),
        "{d}"
    );
    let by_patch = app.changes_of(&a.token, "contacts", &patched["id"]).await;
    let by_import = app.changes_of(&a.token, "contacts", &imported["id"]).await;
    assert_eq!((by_patch.len(), by_import.len()), (1, 1), "{by_import:?}");
    assert_eq!(keys(&by_import[0]), keys(&by_patch[0]), "the same entry");
    assert_eq!(by_import[0]["changes"], by_patch[0]["changes"]);
    assert_eq!(
        by_import[0]["changes"],
        json!({
            "title": {"from": "Buyer", "to": "Head of purchasing"},
            "phone": {"from": null, "to": "+1 555"},
            "tags": {"from": ["old"], "to": ["vip", "math"]},
        }),
        "an empty cell (source) leaves the field"
    );
    assert_eq!(by_import[0]["changed_by"], a.owner_id.as_str());
    assert_eq!(by_import[0]["changed_at"], by_patch[0]["changed_at"]);

    // The same file again changes nothing, and records nothing; nor does a
    // dry run.
    let d = app.import_csv(&a.token, path, file).await;
    assert_eq!(d["updated"], 1, "{d}");
    let dry = "first_name,email,title\nAda,ada@import.example,CEO\n";
    let d = app
        .import_csv(&a.token, &format!("{path}&dry_run=true"), dry)
        .await;
    assert_eq!(d["updated"], 1, "{d}");
    assert_eq!(
        app.changes_of(&a.token, "contacts", &imported["id"])
            .await
            .len(),
        1
    );

    // A contact made by a row and updated by a later row of the same file:
    // the update is on its timeline too.
    let d = app
        .import_csv(
            &a.token,
            path,
            "first_name,email,title,source\nGrace,grace@import.example,Admiral,navy\n\
             Grace,grace@import.example,Rear admiral,\n",
        )
        .await;
    assert_eq!(
        (d["imported"].as_i64(), d["updated"].as_i64()),
        (Some(1), Some(1)),
        "{d}"
    );
    let r = app
        .get("/api/contacts?q=grace")
        .bearer(&a.token)
        .send()
        .await;
    let grace = &r.body["data"][0];
    assert_eq!(
        (&grace["title"], &grace["source"]),
        (&json!("Rear admiral"), &json!("navy"))
    );
    let changes = app.changes_of(&a.token, "contacts", &grace["id"]).await;
    assert_eq!(
        changes
            .iter()
            .map(|c| c["changes"].clone())
            .collect::<Vec<_>>(),
        vec![json!({"title": {"from": "Admiral", "to": "Rear admiral"}})]
    );

    // Leads the same way.
    let lead = |email: &str| json!({"first_name": "Alan", "email": email, "estimated_value": 1000, "currency": "EUR"});
    let patched = app
        .new_record(&a.token, "leads", lead("alan@patch.example"))
        .await;
    let imported = app
        .new_record(&a.token, "leads", lead("alan@import.example"))
        .await;
    let r = app
        .patch(&format!("/api/leads/{}", patched["id"].as_str().unwrap()))
        .bearer(&a.token)
        .json(json!({"status": "contacted", "estimated_value": 2500, "source": "web", "currency": "usd"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = app
        .import_csv(
            &a.token,
            "/api/leads/import?on_duplicate=update",
            "First Name,Email,Lead Status,Estimated Value,Lead Source,Currency,Company\n\
             Alan,alan@import.example,Contacted,2500,web,usd,\n",
        )
        .await;
    assert_eq!(d["updated"], 1, "{d}");
    let by_patch = app.changes_of(&a.token, "leads", &patched["id"]).await;
    let by_import = app.changes_of(&a.token, "leads", &imported["id"]).await;
    assert_eq!((by_patch.len(), by_import.len()), (1, 1), "{by_import:?}");
    assert_eq!(keys(&by_import[0]), keys(&by_patch[0]));
    assert_eq!(by_import[0]["changes"], by_patch[0]["changes"]);
    assert_eq!(
        by_import[0]["changes"],
        json!({
            "status": {"from": "new", "to": "contacted"},
            "estimated_value": {"from": 1000, "to": 2500},
            "source": {"from": null, "to": "web"},
            "currency": {"from": "EUR", "to": "USD"},
        })
    );
    assert_eq!(by_import[0]["changed_by"], a.owner_id.as_str());
}
both!(an_imported_update_lands_on_the_timeline_as_a_patch_does);

/// A row with a value the API refuses is reported on its row and column
/// with the API's own message, and nothing of it is written; the file's
/// other rows are.
async fn import_rows_are_refused_with_the_apis_messages(app: TestApp) {
    let a = app.register("Import Rules Co").await;
    let t = &a.token;
    let long_name = "n".repeat(101);
    let long_title = "t".repeat(101);
    let long_company = "c".repeat(256);
    let contact = |extra: Value| {
        let mut body = json!({"first_name": "X"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let empty_tag = app
        .refusal(
            t,
            "/api/contacts",
            contact(json!({"tags": ["vip", "", "math"]})),
            "tags",
        )
        .await;
    let name = app
        .refusal(
            t,
            "/api/contacts",
            json!({"first_name": long_name}),
            "first_name",
        )
        .await;
    let title = app
        .refusal(
            t,
            "/api/contacts",
            contact(json!({"title": long_title})),
            "title",
        )
        .await;
    let email = app
        .refusal(
            t,
            "/api/contacts",
            contact(json!({"email": "not-an-email"})),
            "email",
        )
        .await;
    let nul = app
        .refusal(
            t,
            "/api/contacts",
            json!({"first_name": "A\u{0}B"}),
            "first_name",
        )
        .await;
    let company = app
        .refusal(t, "/api/companies", json!({"name": long_company}), "name")
        .await;
    let csv = format!(
        "first_name,email,title,company,tags\n\
         Fine,fine@x.example,,,vip;math\n\
         Empty,empty@x.example,,,vip;;math\n\
         {long_name},long@x.example,,,\n\
         Title,title@x.example,{long_title},,\n\
         Mail,not-an-email,,,\n\
         Company,company@x.example,,{long_company},\n\
         A\u{0}B,nul@x.example,,,\n\
         Trailing,trailing@x.example,,,vip;\n"
    );
    let d = app.import_csv(t, "/api/contacts/import", &csv).await;
    assert_eq!(
        row_errors(&d),
        vec![
            (2, "tags".to_owned(), empty_tag.clone()),
            (3, "first_name".to_owned(), name),
            (4, "title".to_owned(), title),
            (5, "email".to_owned(), email),
            (6, "company".to_owned(), company),
            (7, "first_name".to_owned(), nul),
            (8, "tags".to_owned(), empty_tag),
        ]
    );
    assert_eq!(d["imported"], 1, "{d}");
    assert_eq!(app.count("contacts").await, 1);
    assert_eq!(app.count("companies").await, 0, "no company for a bad row");

    // The same rules for an update: a bad row leaves the record as it was.
    let d = app
        .import_csv(
            t,
            "/api/contacts/import?on_duplicate=update",
            "first_name,email,tags\nFine,fine@x.example,;\n",
        )
        .await;
    assert_eq!(
        (d["updated"].as_i64(), d["errors"][0]["field"].as_str()),
        (Some(0), Some("tags")),
        "{d}"
    );
    let r = app.get("/api/contacts").bearer(t).send().await;
    assert_eq!(r.body["data"][0]["tags"], json!(["vip", "math"]));

    // Leads.
    let currency = app
        .refusal(
            t,
            "/api/leads",
            json!({"first_name": "X", "currency": "dollars"}),
            "currency",
        )
        .await;
    let value = app
        .refusal(
            t,
            "/api/leads",
            json!({"first_name": "X", "estimated_value": -5}),
            "estimated_value",
        )
        .await;
    let company_name = app
        .refusal(
            t,
            "/api/leads",
            json!({"first_name": "X", "company_name": "c".repeat(256)}),
            "company_name",
        )
        .await;
    let csv = format!(
        "first_name,email,company_name,estimated_value,currency\n\
         Fine,fine@x.example,,100,eur\n\
         Money,money@x.example,,,dollars\n\
         Negative,negative@x.example,,-5,\n\
         Company,company@x.example,{},,\n",
        "c".repeat(256)
    );
    let d = app.import_csv(t, "/api/leads/import", &csv).await;
    assert_eq!(
        row_errors(&d),
        vec![
            (2, "currency".to_owned(), currency),
            (3, "estimated_value".to_owned(), value),
            (4, "company_name".to_owned(), company_name),
        ]
    );
    assert_eq!(
        (d["imported"].as_i64(), app.count("leads").await),
        (Some(1), 1),
        "{d}"
    );
}
both!(import_rows_are_refused_with_the_apis_messages);

/// Cursors are opaque, but a forged one is still only input: 422.
async fn forged_cursors_are_refused(app: TestApp) {
    let t = app.register("Cursor Co").await;
    let forge = |json: &str| hex_encode(json.as_bytes());
    for (sort, cursor) in [
        (
            "created_at",
            forge(r#"["created_at", "x", "00000000-0000-0000-0000-000000000000"]"#),
        ),
        (
            "created_at",
            forge(r#"["created_at", "", "00000000-0000-0000-0000-000000000000"]"#),
        ),
        (
            "created_at",
            forge(
                r#"["created_at", "-0001-01-01T00:00:00Z", "00000000-0000-0000-0000-000000000000"]"#,
            ),
        ),
        (
            "name",
            forge(r#"["name", "\u0000", "00000000-0000-0000-0000-000000000000"]"#),
        ),
    ] {
        for list in ["contacts", "companies", "deals"] {
            let r = app
                .get(&format!("/api/{list}?sort={sort}&cursor={cursor}"))
                .bearer(&t.token)
                .send()
                .await;
            assert_eq!(r.status, 422, "{list} {sort}: {}", r.body);
        }
    }
}
both!(forged_cursors_are_refused);

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Requests racing on the same rows get 409 (try again), never 500.
async fn racing_changes_answer_conflict_not_error(app: TestApp) {
    let t = app.register("Race Co").await;
    let make = |n: u32| {
        app.post("/api/pipelines")
            .bearer(&t.token)
            .json(json!({"name": format!("P{n}"), "is_default": true}))
            .send()
    };
    let (a, b, c, d) = tokio::join!(make(1), make(2), make(3), make(4));
    for r in [a, b, c, d] {
        assert!(
            r.status == 201 || r.status == 409,
            "{}: {}",
            r.status,
            r.body
        );
    }
    let all = app.get("/api/pipelines").bearer(&t.token).send().await;
    let defaults = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_default"] == true)
        .count();
    assert_eq!(defaults, 1);
}
both!(racing_changes_answer_conflict_not_error);

/// A client that sends its headers and then stalls its body holds no lock
/// and no connection: other tenants' writes go straight through.
async fn a_stalled_upload_blocks_no_one(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let a = app.register("Slow Co").await;
    let b = app.register("Busy Co").await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/companies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\":",
        a.token
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.flush().await.unwrap();
    for i in 0..3 {
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            app.post("/api/companies")
                .bearer(&b.token)
                .json(json!({"name": format!("B{i}")}))
                .send(),
        )
        .await
        .expect("another tenant's write is not held up");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    drop(slow);
}
both!(a_stalled_upload_blocks_no_one);
