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
