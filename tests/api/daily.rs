//! The web application's daily use (issue 19), over HTTP on both backends:
//! the pipeline editor, deals edited and linked, lead conversion that keeps
//! its history, the profile page, names instead of ids, readable times,
//! the header search, the platform overview.

use crate::both;
use crate::pages::{create as api_create, csrf_of, location, signed_in, Browser};
use crate::support::{Resp, TestApp, PASSWORD};
use serde_json::{json, Value};

pub(crate) async fn api_get(app: &TestApp, token: &str, path: &str) -> Resp {
    app.get(path).bearer(token).send().await.ok(path)
}

/// The stages of a pipeline as (id, name, kind, color), in order.
async fn stages(
    app: &TestApp,
    token: &str,
    pipeline: &str,
) -> Vec<(String, String, String, Value)> {
    let r = api_get(app, token, &format!("/api/pipelines/{pipeline}")).await;
    r.body["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
                s["kind"].as_str().unwrap().to_owned(),
                s["color"].clone(),
            )
        })
        .collect()
}

/// An admin shapes a pipeline for real estate in the pages: makes it,
/// renames, recolours and re-kinds stages, adds one, reorders by the
/// buttons and by a drag's order, and deletes a stage holding a deal after
/// choosing where the deal goes; then deletes a pipeline.
async fn the_pipeline_editor_shapes_stages_in_the_pages(app: TestApp) {
    let t = app.register("Editor Realty").await;
    let mut b = signed_in(&app, &t).await;
    let board = b.get("/deals").await.ok("open the board");
    assert!(board.text.contains("Edit pipeline"), "{}", board.text);

    let r = b
        .submit("/pipelines", "/pipelines/new", &[("name", "")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("id=\"f-name-error\""));
    let r = b
        .submit("/pipelines", "/pipelines/new", &[("name", "Real estate")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let editor = location(&r).to_owned();
    let pipeline = editor.trim_start_matches("/pipelines/").to_owned();
    let page = b.get(&editor).await.ok("open the editor");
    assert!(page.text.contains("Pipeline: Real estate"));
    // Won and lost are shown as such.
    assert!(page.text.contains("badge kind-won") && page.text.contains("badge kind-lost"));

    let s = stages(&app, &t.token, &pipeline).await;
    let (new, qualified, proposal, negotiation, won) =
        (&s[0].0, &s[1].0, &s[2].0, &s[3].0, &s[4].0);
    for (id, name) in [
        (new, "Viewing"),
        (qualified, "Offer"),
        (proposal, "Under contract"),
        (won, "Sold"),
    ] {
        let r = b
            .submit(
                &editor,
                &format!("{editor}/stages/{id}"),
                &[("name", name), ("color", "#16A34A"), ("kind", "")],
            )
            .await;
        assert_eq!(
            (r.status, location(&r)),
            (303, editor.as_str()),
            "{}",
            r.text
        );
    }
    // A bad value is shown beside its stage's form, with what was typed.
    let r = b
        .submit(
            &editor,
            &format!("{editor}/stages/{negotiation}"),
            &[("name", "Haggling"), ("probability", "250")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("must be from 0 to 100") && r.text.contains("value=\"Haggling\""));
    let r = b
        .submit(
            &editor,
            &format!("{editor}/stages/{negotiation}"),
            &[("name", "Lost at viewing"), ("kind", "lost")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = b
        .submit(
            &editor,
            &format!("{editor}/stages/new"),
            &[
                ("name", "First call"),
                ("kind", "open"),
                ("color", "#1d4ed8"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let s = stages(&app, &t.token, &pipeline).await;
    let names: Vec<&str> = s.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "Viewing",
            "Offer",
            "Under contract",
            "Lost at viewing",
            "Sold",
            "Lost",
            "First call"
        ]
    );
    assert_eq!(s[0].3, "#16a34a", "colours are kept in lower case");
    assert_eq!(s[3].2, "lost");
    let first_call = s[6].0.clone();

    // The keyboard's way: Move up, one step at a time.
    for _ in 0..6 {
        let r = b
            .submit(
                &editor,
                &format!("{editor}/stages/{first_call}/move"),
                &[("direction", "up")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.text);
    }
    let s = stages(&app, &t.token, &pipeline).await;
    assert_eq!(s[0].1, "First call");
    // A drag's order, as the script posts it.
    let mut order: Vec<String> = s.iter().map(|s| s.0.clone()).collect();
    order.swap(0, 1);
    let page = b.get(&editor).await;
    let csrf = csrf_of(&page.text);
    let r = b
        .post(
            &format!("{editor}/stages/reorder"),
            &[("_csrf", csrf.as_str()), ("order", &order.join(","))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let s = stages(&app, &t.token, &pipeline).await;
    assert_eq!(
        (s[0].1.as_str(), s[1].1.as_str()),
        ("Viewing", "First call")
    );
    let r = b
        .post(
            &format!("{editor}/stages/reorder"),
            &[("_csrf", csrf.as_str()), ("order", &order[..2].join(","))],
        )
        .await;
    assert_eq!(r.status, 422, "an order missing stages is refused");

    // A stage holding a deal asks where the deal goes.
    let deal = api_create(
        &app,
        &t.token,
        "deals",
        json!({"title": "Flat on Elm Street", "pipeline_id": pipeline, "stage_id": offer_id(&s)}),
    )
    .await;
    let offer = offer_id(&s);
    let ask = b
        .get(&format!("{editor}/stages/{offer}/delete"))
        .await
        .ok("open the delete page");
    assert!(
        ask.text.contains("1 deal") && ask.text.contains("Move the deals to"),
        "{}",
        ask.text
    );
    let r = b
        .submit(&editor, &format!("{editor}/stages/{offer}/delete"), &[])
        .await;
    assert_eq!(r.status, 409, "no target, no delete: {}", r.text);
    assert!(r.text.contains("Move the deals to"));
    let sold = s.iter().find(|s| s.1 == "Sold").unwrap().0.clone();
    let r = b
        .submit(
            &editor,
            &format!("{editor}/stages/{offer}/delete"),
            &[("move_to", &sold)],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, editor.as_str()),
        "{}",
        r.text
    );
    let d = api_get(&app, &t.token, &format!("/api/deals/{deal}")).await;
    assert_eq!(d.body["data"]["stage_id"], sold.as_str());
    assert_eq!(
        d.body["data"]["status"], "won",
        "the new stage's kind decides"
    );
    let timeline = api_get(&app, &t.token, &format!("/api/deals/{deal}/timeline")).await;
    assert!(
        timeline.text.contains("stage_id"),
        "the move is on the deal's timeline"
    );
    assert_eq!(stages(&app, &t.token, &pipeline).await.len(), 6);

    // The API deletes with move_to too, and refuses a stage of elsewhere.
    let s = stages(&app, &t.token, &pipeline).await;
    let r = app
        .delete(&format!(
            "/api/pipelines/{pipeline}/stages/{sold}?move_to={sold}"
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .delete(&format!(
            "/api/pipelines/{pipeline}/stages/{sold}?move_to={}",
            s[0].0
        ))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A pipeline with deals stays; without, it goes.
    let r = b.submit(&editor, &format!("{editor}/delete"), &[]).await;
    assert_eq!(r.status, 409, "{}", r.text);
    app.delete(&format!("/api/deals/{deal}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("delete the deal");
    let r = b.submit(&editor, &format!("{editor}/delete"), &[]).await;
    assert_eq!((r.status, location(&r)), (303, "/pipelines"));
    assert_eq!(b.get(&editor).await.status, 404);
}
both!(the_pipeline_editor_shapes_stages_in_the_pages);

fn offer_id(s: &[(String, String, String, Value)]) -> String {
    s.iter().find(|s| s.1 == "Offer").unwrap().0.clone()
}

/// Managers shape pipelines too; plain users are refused, with the way
/// back in the signed-in frame.
async fn only_admins_and_managers_edit_pipelines(app: TestApp) {
    let t = app.register("Manager Realty").await;
    app.add_user(&t, "manager@managerrealty.example", "manager")
        .await;
    app.add_user(&t, "plain@managerrealty.example", "user")
        .await;
    let mut m = Browser::new(&app);
    m.login("manager@managerrealty.example", PASSWORD).await;
    let r = m.get("/pipelines").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut u = Browser::new(&app);
    u.login("plain@managerrealty.example", PASSWORD).await;
    let board = u.get("/deals").await.ok("the board");
    assert!(!board.text.contains("Edit pipeline"));
    let r = u.get("/pipelines").await;
    assert_eq!(r.status, 403);
    let r = u
        .submit("/deals", "/pipelines/new", &[("name", "Sneaky")])
        .await;
    assert_eq!(r.status, 403);
}
both!(only_admins_and_managers_edit_pipelines);

/// The new-deal form links a contact, a company, an owner and a close
/// date; a deal's page edits and deletes it, and shows names, not ids.
async fn deals_are_edited_linked_and_deleted_in_the_pages(app: TestApp) {
    let t = app.register("Deal Editors").await;
    let (colleague, _) = app
        .add_user(&t, "colleague@dealeditors.example", "user")
        .await;
    let contact = api_create(
        &app,
        &t.token,
        "contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace"}),
    )
    .await;
    let company = api_create(&app, &t.token, "companies", json!({"name": "Engines Ltd"})).await;
    let mut b = signed_in(&app, &t).await;
    let form = b.get("/deals/new").await.ok("open the new-deal form");
    for label in ["Contact", "Company", "Owner", "Expected close date"] {
        assert!(
            form.text.contains(&format!(">{label}</label>")),
            "{label}: {}",
            form.text
        );
    }
    assert!(form.text.contains("Ada Lovelace") && form.text.contains("Engines Ltd"));
    let pipeline = api_get(&app, &t.token, "/api/pipelines").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .submit(
            "/deals/new",
            "/deals/new",
            &[
                ("pipeline_id", &pipeline),
                ("title", "Engine order"),
                ("amount", "12,000"),
                ("contact_id", &contact),
                ("company_id", &company),
                ("owner_id", &t.owner_id),
                ("expected_close_date", "2026-04-30"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let deal_page = location(&r).to_owned();
    let deal = deal_page.trim_start_matches("/deals/").to_owned();
    let api = api_get(&app, &t.token, &format!("/api/deals/{deal}")).await;
    assert_eq!(api.body["data"]["contact_id"], contact.as_str());
    assert_eq!(api.body["data"]["company_id"], company.as_str());
    assert_eq!(api.body["data"]["expected_close_date"], "2026-04-30");
    let page = b.get(&deal_page).await.ok("open the deal");
    assert!(page
        .text
        .contains(&format!("href=\"/contacts/{contact}\">Ada Lovelace")));
    assert!(page
        .text
        .contains(&format!("href=\"/companies/{company}\">Engines Ltd")));
    assert!(page.text.contains(">Edit</a>") && page.text.contains(">Delete</button>"));

    // Edit: another owner, close date and contact; a bad date stays typed.
    let edit = format!("{deal_page}/edit");
    let r = b
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Engine order, revised"),
                ("owner_id", &colleague),
                ("expected_close_date", "30/04/2026"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("id=\"f-expected_close_date-error\"")
            && r.text.contains("value=\"Engine order, revised\"")
    );
    let other = api_create(
        &app,
        &t.token,
        "contacts",
        json!({"first_name": "Charles", "last_name": "Babbage"}),
    )
    .await;
    let r = b
        .submit(
            &edit,
            &edit,
            &[
                ("title", "Engine order, revised"),
                ("amount", "13,500.50"),
                ("currency", "EUR"),
                ("contact_id", &other),
                ("company_id", ""),
                ("owner_id", &colleague),
                ("expected_close_date", "2026-05-15"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, deal_page.as_str()),
        "{}",
        r.text
    );
    let api = api_get(&app, &t.token, &format!("/api/deals/{deal}")).await;
    let d = &api.body["data"];
    assert_eq!(
        (
            d["title"].as_str(),
            d["amount"].as_i64(),
            d["currency"].as_str()
        ),
        (Some("Engine order, revised"), Some(1_350_050), Some("EUR"))
    );
    assert_eq!(d["contact_id"], other.as_str());
    assert_eq!(d["company_id"], Value::Null);
    assert_eq!(d["owner_id"], colleague.as_str());
    assert_eq!(d["expected_close_date"], "2026-05-15");
    // The timeline names what changed: people and records, not ids.
    let page = b.get(&deal_page).await.ok("the deal again");
    assert!(
        page.text
            .contains("<strong>Contact</strong>: Ada Lovelace → Charles Babbage"),
        "{}",
        page.text
    );
    assert!(page
        .text
        .contains("<strong>Owner</strong>: Owner of Deal Editors → Staff Member"));
    assert!(!page.text.contains(&format!(": {contact}")), "no raw ids");
    // A stage move reads as stage names.
    let stages = api_get(&app, &t.token, &format!("/api/pipelines/{pipeline}")).await;
    let proposal = stages.body["data"]["stages"][2]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .submit(
            "/deals",
            &format!("/deals/{deal}/move"),
            &[("stage_id", &proposal)],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = b.get(&deal_page).await;
    assert!(
        page.text.contains("<strong>Stage</strong>: New → Proposal"),
        "{}",
        page.text
    );

    let r = b
        .submit(&deal_page, &format!("{deal_page}/delete"), &[])
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, format!("/deals?pipeline_id={pipeline}").as_str())
    );
    assert_eq!(b.get(&deal_page).await.status, 404);
}
both!(deals_are_edited_linked_and_deleted_in_the_pages);

/// Converting asks first, then carries the lead's history to the contact
/// and the deal, links both ways, and lets the deal be named.
async fn lead_conversion_asks_first_and_keeps_the_history(app: TestApp) {
    let t = app.register("Convert Realty").await;
    let lead = api_create(
        &app,
        &t.token,
        "leads",
        json!({"first_name": "Katherine", "last_name": "Johnson", "company_name": "NASA", "estimated_value": 4_200_000}),
    )
    .await;
    let mut b = signed_in(&app, &t).await;
    let lead_page = format!("/leads/{lead}");
    b.submit(
        &lead_page,
        &format!("{lead_page}/notes"),
        &[("body", "Wants a view of the launch pad")],
    )
    .await;
    b.submit(
        &lead_page,
        &format!("{lead_page}/activities"),
        &[
            ("kind", "call"),
            ("subject", "First call with Katherine"),
            ("done", "true"),
        ],
    )
    .await;
    let page = b.get(&lead_page).await.ok("the lead");
    assert!(
        page.text.contains(&format!("href=\"{lead_page}/convert\"")),
        "Convert leads to a question first"
    );
    let ask = b
        .get(&format!("{lead_page}/convert"))
        .await
        .ok("the confirmation");
    assert!(
        ask.text.contains("Convert Katherine Johnson?") && ask.text.contains("NASA deal"),
        "{}",
        ask.text
    );
    assert_eq!(
        api_get(&app, &t.token, &format!("/api/leads/{lead}"))
            .await
            .body["data"]["status"],
        "new"
    );
    let r = b
        .submit(
            &format!("{lead_page}/convert"),
            &format!("{lead_page}/convert"),
            &[
                ("create_deal", "false"),
                ("create_deal", "true"),
                ("deal_title", "Launch-pad penthouse"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let contact_page = location(&r).to_owned();
    assert!(contact_page.starts_with("/contacts/"));
    let lead_now = api_get(&app, &t.token, &format!("/api/leads/{lead}")).await;
    let deal = lead_now.body["data"]["converted_deal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let company = lead_now.body["data"]["converted_company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = api_get(&app, &t.token, &format!("/api/deals/{deal}")).await;
    assert_eq!(d.body["data"]["title"], "Launch-pad penthouse");

    // The contact shows the lead's history, its deal and company, and where it came from.
    let page = b.get(&contact_page).await.ok("the new contact");
    assert!(
        page.text.contains("The lead is converted"),
        "a notice: {}",
        page.text
    );
    assert!(
        page.text.contains("Wants a view of the launch pad")
            && page.text.contains("First call with Katherine")
    );
    assert!(page
        .text
        .contains(&format!("href=\"/deals/{deal}\">Launch-pad penthouse")));
    assert!(page
        .text
        .contains(&format!("href=\"/companies/{company}\">NASA")));
    assert!(page
        .text
        .contains(&format!("href=\"{lead_page}\">Katherine Johnson")));
    // And the deal, and the company's page lists its contact and deal.
    let page = b.get(&format!("/deals/{deal}")).await.ok("the deal");
    assert!(
        page.text.contains("First call with Katherine")
            && page.text.contains("the lead Katherine Johnson")
    );
    let page = b
        .get(&format!("/companies/{company}"))
        .await
        .ok("the company");
    assert!(page
        .text
        .contains(&format!("href=\"{contact_page}\">Katherine Johnson")));
    assert!(page.text.contains("Launch-pad penthouse"));
    // The lead links to what it became; converting again goes back to it.
    let page = b.get(&lead_page).await;
    assert!(
        page.text.contains("This lead became:")
            && page.text.contains(&format!("href=\"{contact_page}\""))
    );
    let again = b.get(&format!("{lead_page}/convert")).await;
    assert_eq!((again.status, location(&again)), (303, lead_page.as_str()));
    // The contact's timeline API carries the lead's notes too.
    let contact = contact_page.trim_start_matches("/contacts/");
    let timeline = api_get(&app, &t.token, &format!("/api/contacts/{contact}/timeline")).await;
    assert!(timeline.text.contains("Wants a view of the launch pad"));
}
both!(lead_conversion_asks_first_and_keeps_the_history);

/// A contact's form picks its company; the contact page and the list show
/// it by name, and the company page lists its people.
async fn contacts_and_companies_are_visibly_linked(app: TestApp) {
    let t = app.register("Linked Realty").await;
    let company = api_create(
        &app,
        &t.token,
        "companies",
        json!({"name": "García & Hijos"}),
    )
    .await;
    let mut b = signed_in(&app, &t).await;
    let form = b
        .get(&format!("/contacts/new?company_id={company}"))
        .await
        .ok("new contact");
    assert!(
        form.text.contains(&format!(
            "<option value=\"{company}\" selected>García &amp; Hijos"
        )),
        "{}",
        form.text
    );
    let r = b
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("first_name", "Lucía"),
                ("last_name", "García"),
                ("phone", "+34 912 345 678"),
                ("company_id", &company),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let contact_page = location(&r).to_owned();
    let contact = contact_page.trim_start_matches("/contacts/").to_owned();
    assert_eq!(
        api_get(&app, &t.token, &format!("/api/contacts/{contact}"))
            .await
            .body["data"]["company_id"],
        company.as_str()
    );
    let page = b.get(&contact_page).await.ok("the contact");
    assert!(page
        .text
        .contains(&format!("href=\"/companies/{company}\">García &amp; Hijos")));
    assert!(
        page.text.contains("href=\"tel:+34912345678\""),
        "phones are tel: links"
    );
    let list = b.get("/contacts").await.ok("the list");
    assert!(
        list.text.contains(">Company</th>")
            && list
                .text
                .contains(&format!("href=\"/companies/{company}\">García &amp; Hijos"))
    );
    let page = b
        .get(&format!("/companies/{company}"))
        .await
        .ok("the company");
    assert!(page
        .text
        .contains(&format!("href=\"{contact_page}\">Lucía García")));
    // A company of another tenant is refused, beside the field.
    let other = app.register("Other Realty").await;
    let theirs = api_create(
        &app,
        &other.token,
        "companies",
        json!({"name": "Not yours"}),
    )
    .await;
    let r = b
        .submit(
            &format!("{contact_page}/edit"),
            &format!("{contact_page}/edit"),
            &[("first_name", "Lucía"), ("company_id", &theirs)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("id=\"f-company_id\""));
    // Cleared, it is no company.
    let r = b
        .submit(
            &format!("{contact_page}/edit"),
            &format!("{contact_page}/edit"),
            &[("first_name", "Lucía"), ("company_id", "")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        api_get(&app, &t.token, &format!("/api/contacts/{contact}"))
            .await
            .body["data"]["company_id"],
        Value::Null
    );
}
both!(contacts_and_companies_are_visibly_linked);
