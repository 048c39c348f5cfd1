//! Custom fields over HTTP on both backends: definitions (create, change,
//! archive, restore), each type's validation, values on records, filters,
//! sorting with paging, and their tenant isolation.

use crate::both;
use crate::support::{Resp, Tenant, TestApp};
use serde_json::{json, Value};

async fn define(app: &TestApp, t: &Tenant, body: Value) -> Value {
    app.post("/api/custom-fields")
        .bearer(&t.token)
        .json(body)
        .send()
        .await
        .created("define a custom field")
        .body["data"]
        .clone()
}

async fn contact(app: &TestApp, t: &Tenant, body: Value) -> Resp {
    app.post("/api/contacts")
        .bearer(&t.token)
        .json(body)
        .send()
        .await
}

fn field_error(r: &Resp, key: &str) -> String {
    r.body["error"]["details"]["fields"][format!("custom_fields.{key}")]
        .as_str()
        .unwrap_or_else(|| panic!("no error for custom_fields.{key}: {}", r.body))
        .to_owned()
}

/// A field of each type on contacts.
async fn every_type(app: &TestApp, t: &Tenant) {
    for (key, kind) in [
        ("nickname", "text"),
        ("bio", "long_text"),
        ("bedrooms", "number"),
        ("budget", "money"),
        ("move_in", "date"),
        ("viewing_at", "datetime"),
        ("vip", "checkbox"),
        ("url", "url"),
        ("alt_email", "email"),
        ("alt_phone", "phone"),
        ("agent", "user"),
    ] {
        define(
            app,
            t,
            json!({"entity": "contacts", "key": key, "label": key, "type": kind}),
        )
        .await;
    }
    define(
        app,
        t,
        json!({"entity": "contacts", "key": "region", "label": "Region", "type": "select",
               "options": [{"value": "north", "label": "North"}, {"value": "south", "label": "South"}, {"value": "east", "label": "East"}]}),
    )
    .await;
    define(
        app,
        t,
        json!({"entity": "contacts", "key": "features", "label": "Features", "type": "multi_select",
               "options": [{"value": "garden", "label": "Garden"}, {"value": "garage", "label": "Garage"}]}),
    )
    .await;
}

async fn each_type_is_validated_and_stored(app: TestApp) {
    let t = app.register("Field Types Realty").await;
    every_type(&app, &t).await;
    let values = json!({
        "nickname": "  Ada  ", "bio": "Long story.", "bedrooms": 3, "budget": {"amount": 45000000, "currency": "EUR"},
        "move_in": "2026-06-01", "viewing_at": "2026-05-01T11:30:00+02:00", "vip": true,
        "url": "https://example.com/listing/7", "alt_email": "Ada@Example.COM", "alt_phone": "+34 600 123 456",
        "agent": t.owner_id, "region": "north", "features": ["garden", "garage", "garden"],
    });
    let r = contact(
        &app,
        &t,
        json!({"first_name": "Ada", "custom_fields": values}),
    )
    .await
    .created("a contact with every type");
    let cf = &r.body["data"]["custom_fields"];
    assert_eq!(cf["nickname"], "Ada");
    assert_eq!(cf["viewing_at"], "2026-05-01T09:30:00Z");
    assert_eq!(cf["alt_email"], "ada@example.com");
    assert_eq!(cf["features"], json!(["garden", "garage"]));
    assert_eq!(cf["budget"], json!({"amount": 45000000, "currency": "EUR"}));
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let read = app
        .get(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("read");
    assert_eq!(&read.body["data"]["custom_fields"], cf);

    // Each bad value is named; nothing is written.
    let before = app.count("contacts").await;
    for (key, bad) in [
        ("nickname", json!(5)),
        ("nickname", json!("x".repeat(256))),
        ("bedrooms", json!("three")),
        ("budget", json!({"amount": 5, "currency": "euro"})),
        ("budget", json!(500)),
        ("move_in", json!("01/06/2026")),
        ("viewing_at", json!("tomorrow")),
        ("vip", json!("yes")),
        ("url", json!("ftp://example.com")),
        ("alt_email", json!("not-an-email")),
        ("alt_phone", json!("call me")),
        ("agent", json!("00000000-0000-0000-0000-000000000000")),
        ("region", json!("west")),
        ("features", json!(["pool"])),
        ("unknown_key", json!("x")),
    ] {
        let r = contact(
            &app,
            &t,
            json!({"first_name": "Bad", "custom_fields": {key: bad}}),
        )
        .await;
        assert_eq!(r.status, 422, "{key}: {}", r.body);
        field_error(&r, key);
    }
    assert_eq!(app.count("contacts").await, before);

    // A change merges: keys left out stay, null clears one.
    let r = app
        .patch(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .json(json!({"custom_fields": {"bedrooms": 4, "nickname": null}}))
        .send()
        .await
        .ok("change two values");
    let cf = &r.body["data"]["custom_fields"];
    assert_eq!(cf["bedrooms"], 4);
    assert!(cf.get("nickname").is_none(), "{cf}");
    assert_eq!(cf["region"], "north");
    // The timeline names the field that changed.
    let timeline = app
        .get(&format!("/api/contacts/{id}/timeline"))
        .bearer(&t.token)
        .send()
        .await
        .ok("timeline");
    assert!(
        timeline.text.contains("custom_fields.bedrooms"),
        "{}",
        timeline.text
    );
}
both!(each_type_is_validated_and_stored);

async fn required_fields_and_defaults_apply_to_new_records(app: TestApp) {
    let t = app.register("Defaults Co").await;
    define(&app, &t, json!({"entity": "contacts", "key": "stage", "label": "Stage", "type": "select",
        "options": [{"value": "cold", "label": "Cold"}, {"value": "warm", "label": "Warm"}], "default": "cold"})).await;
    define(&app, &t, json!({"entity": "contacts", "key": "budget", "label": "Budget", "type": "number", "required": true})).await;
    let r = contact(&app, &t, json!({"first_name": "NoBudget"})).await;
    assert_eq!(r.status, 422);
    assert_eq!(field_error(&r, "budget"), "is required");
    let r = contact(
        &app,
        &t,
        json!({"first_name": "Budget", "custom_fields": {"budget": 100}}),
    )
    .await
    .created("with the required field");
    assert_eq!(
        r.body["data"]["custom_fields"],
        json!({"budget": 100, "stage": "cold"})
    );
    let id = r.body["data"]["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .json(json!({"custom_fields": {"budget": null}}))
        .send()
        .await;
    assert_eq!(r.status, 422, "a required field cannot be cleared");
    // A default must fit its field.
    let r = app
        .post("/api/custom-fields")
        .bearer(&t.token)
        .json(json!({"entity": "contacts", "key": "size", "label": "Size", "type": "number", "default": "big"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}
both!(required_fields_and_defaults_apply_to_new_records);

async fn definitions_are_checked_and_keys_never_change(app: TestApp) {
    let t = app.register("Definitions Co").await;
    for (body, field) in [
        (
            json!({"entity": "contacts", "key": "Bad Key", "label": "X", "type": "text"}),
            "key",
        ),
        (
            json!({"entity": "contacts", "key": "1st", "label": "X", "type": "text"}),
            "key",
        ),
        (
            json!({"entity": "contacts", "key": "ok", "label": "", "type": "text"}),
            "label",
        ),
        (
            json!({"entity": "contacts", "key": "ok", "label": "X", "type": "select"}),
            "options",
        ),
        (
            json!({"entity": "contacts", "key": "ok", "label": "X", "type": "text", "options": [{"value": "a", "label": "A"}]}),
            "options",
        ),
        (
            json!({"entity": "contacts", "key": "ok", "label": "X", "type": "select", "options": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}),
            "options",
        ),
    ] {
        let r = app
            .post("/api/custom-fields")
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
    let f = define(
        &app,
        &t,
        json!({"entity": "leads", "key": "bedrooms", "label": "Bedrooms", "type": "number"}),
    )
    .await;
    // The same key on another record type is another field.
    define(
        &app,
        &t,
        json!({"entity": "contacts", "key": "bedrooms", "label": "Bedrooms", "type": "number"}),
    )
    .await;
    let r = app
        .post("/api/custom-fields")
        .bearer(&t.token)
        .json(json!({"entity": "leads", "key": "bedrooms", "label": "Again", "type": "text"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "a key is unique per record type: {}", r.body);
    let id = f["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/custom-fields/{id}"))
        .bearer(&t.token)
        .json(json!({"key": "rooms"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .patch(&format!("/api/custom-fields/{id}"))
        .bearer(&t.token)
        .json(
            json!({"label": "Rooms", "help_text": "Bedrooms only", "position": 3, "in_list": true}),
        )
        .send()
        .await
        .ok("relabel");
    assert_eq!(r.body["data"]["label"], "Rooms");
    assert_eq!(r.body["data"]["key"], "bedrooms");
    // Only admins define fields; everyone reads them.
    let (_, user) = app.add_user(&t, "plain.fields@example.com", "user").await;
    let r = app
        .post("/api/custom-fields")
        .bearer(&user)
        .json(json!({"entity": "contacts", "key": "mine", "label": "Mine", "type": "text"}))
        .send()
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .get("/api/custom-fields?entity=leads")
        .bearer(&user)
        .send()
        .await
        .ok("read");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/custom-fields?entity=planets")
        .bearer(&user)
        .send()
        .await;
    assert_eq!(r.status, 422);
}
both!(definitions_are_checked_and_keys_never_change);

async fn archiving_hides_values_and_restoring_brings_them_back(app: TestApp) {
    let t = app.register("Archive Co").await;
    let f = define(
        &app,
        &t,
        json!({"entity": "contacts", "key": "hobby", "label": "Hobby", "type": "text"}),
    )
    .await;
    let id = f["id"].as_str().unwrap();
    let c = contact(
        &app,
        &t,
        json!({"first_name": "Kept", "custom_fields": {"hobby": "chess"}}),
    )
    .await
    .created("a contact");
    let cid = c.body["data"]["id"].as_str().unwrap();
    app.delete(&format!("/api/custom-fields/{id}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("archive");
    let r = app
        .get(&format!("/api/contacts/{cid}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("read");
    assert_eq!(r.body["data"]["custom_fields"], json!({}));
    let list = app
        .get("/api/custom-fields")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    assert!(list.body["data"].as_array().unwrap().is_empty());
    let all = app
        .get("/api/custom-fields?archived=true")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    assert_eq!(all.body["data"][0]["archived"], true);
    // An archived field takes no values.
    let r = contact(
        &app,
        &t,
        json!({"first_name": "New", "custom_fields": {"hobby": "go"}}),
    )
    .await;
    assert_eq!(r.status, 422);
    app.post(&format!("/api/custom-fields/{id}/restore"))
        .bearer(&t.token)
        .send()
        .await
        .ok("restore");
    let r = app
        .get(&format!("/api/contacts/{cid}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("read");
    assert_eq!(r.body["data"]["custom_fields"], json!({"hobby": "chess"}));
    let r = app
        .post(&format!("/api/custom-fields/{id}/restore"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409);
}
both!(archiving_hides_values_and_restoring_brings_them_back);

async fn a_type_changes_only_when_every_value_converts(app: TestApp) {
    let t = app.register("Types Co").await;
    let f = define(
        &app,
        &t,
        json!({"entity": "contacts", "key": "size", "label": "Size", "type": "text"}),
    )
    .await;
    let id = f["id"].as_str().unwrap();
    contact(
        &app,
        &t,
        json!({"first_name": "A", "custom_fields": {"size": "42"}}),
    )
    .await
    .created("a");
    let b = contact(
        &app,
        &t,
        json!({"first_name": "B", "custom_fields": {"size": "big"}}),
    )
    .await
    .created("b");
    let r = app
        .patch(&format!("/api/custom-fields/{id}"))
        .bearer(&t.token)
        .json(json!({"type": "number"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "'big' is no number: {}", r.body);
    let bid = b.body["data"]["id"].as_str().unwrap();
    app.patch(&format!("/api/contacts/{bid}"))
        .bearer(&t.token)
        .json(json!({"custom_fields": {"size": "7"}}))
        .send()
        .await
        .ok("fix the value");
    app.patch(&format!("/api/custom-fields/{id}"))
        .bearer(&t.token)
        .json(json!({"type": "number"}))
        .send()
        .await
        .ok("now every value converts");
    let r = app
        .get("/api/contacts?cf.size.gte=10")
        .bearer(&t.token)
        .send()
        .await
        .ok("numbers now");
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["first_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A"]);
    // Options in use cannot go; a label can change.
    let s = define(
        &app,
        &t,
        json!({"entity": "contacts", "key": "tier", "label": "Tier", "type": "select",
        "options": [{"value": "gold", "label": "Gold"}, {"value": "silver", "label": "Silver"}]}),
    )
    .await;
    let sid = s["id"].as_str().unwrap();
    contact(
        &app,
        &t,
        json!({"first_name": "C", "custom_fields": {"tier": "gold"}}),
    )
    .await
    .created("c");
    let r = app
        .patch(&format!("/api/custom-fields/{sid}"))
        .bearer(&t.token)
        .json(json!({"options": [{"value": "silver", "label": "Silver"}]}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    app.patch(&format!("/api/custom-fields/{sid}"))
        .bearer(&t.token)
        .json(json!({"options": [{"value": "gold", "label": "Golden"}, {"value": "silver", "label": "Silver"}]}))
        .send()
        .await
        .ok("relabel an option");
    let r = app
        .get("/api/contacts?cf.tier=gold")
        .bearer(&t.token)
        .send()
        .await
        .ok("same value");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
}
both!(a_type_changes_only_when_every_value_converts);

async fn lists_filter_and_sort_by_custom_fields(app: TestApp) {
    let t = app.register("Filter Realty").await;
    every_type(&app, &t).await;
    let rows = [
        (
            "Ana",
            1,
            10_000,
            "2026-01-10",
            "north",
            json!(["garden"]),
            true,
        ),
        (
            "Ben",
            2,
            25_000,
            "2026-02-10",
            "south",
            json!(["garage"]),
            false,
        ),
        (
            "Cy",
            3,
            40_000,
            "2026-03-10",
            "north",
            json!(["garden", "garage"]),
            true,
        ),
        ("Di", 4, 55_000, "2026-04-10", "east", json!([]), false),
    ];
    for (name, rooms, budget, date, region, features, vip) in rows {
        contact(&app, &t, json!({"first_name": name, "custom_fields": {
            "bedrooms": rooms, "budget": {"amount": budget, "currency": "EUR"}, "move_in": date,
            "region": region, "features": features, "vip": vip, "nickname": format!("nick {name}")}}))
            .await
            .created("a contact");
    }
    contact(&app, &t, json!({"first_name": "Empty"}))
        .await
        .created("no values");
    let names = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["first_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |q: &str| {
        let path = format!("/api/contacts?{q}");
        let token = t.token.clone();
        let app = &app;
        async move { app.get(&path).bearer(&token).send().await }
    };
    for (q, expect) in [
        ("cf.region=north&sort=name", vec!["Ana", "Cy"]),
        (
            "cf.region=north&cf.region=east&sort=name",
            vec!["Ana", "Cy", "Di"],
        ),
        (
            "cf.bedrooms.gte=2&cf.bedrooms.lte=3&sort=name",
            vec!["Ben", "Cy"],
        ),
        ("cf.bedrooms=4", vec!["Di"]),
        ("cf.budget.gte=40000&sort=name", vec!["Cy", "Di"]),
        ("cf.move_in.lte=2026-02-10&sort=name", vec!["Ana", "Ben"]),
        ("cf.vip=true&sort=name", vec!["Ana", "Cy"]),
        ("cf.features=garage&sort=name", vec!["Ben", "Cy"]),
        ("cf.nickname=nick%20Ben", vec!["Ben"]),
        ("cf.region=north&cf.bedrooms.gte=2", vec!["Cy"]),
        ("sort=cf.bedrooms", vec!["Empty", "Ana", "Ben", "Cy", "Di"]),
        ("sort=-cf.budget", vec!["Di", "Cy", "Ben", "Ana", "Empty"]),
        ("sort=cf.move_in", vec!["Empty", "Ana", "Ben", "Cy", "Di"]),
    ] {
        let r = get(q).await.ok(q);
        assert_eq!(names(&r), expect, "{q}");
    }
    // Paging through a custom order: every row once, in order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = get(&format!("sort=-cf.bedrooms&limit=2&cursor={cursor}"))
            .await
            .ok("page");
        seen.extend(names(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["Di", "Cy", "Ben", "Ana", "Empty"]);
    for (q, field) in [
        ("cf.nope=1", "cf.nope"),
        ("cf.bedrooms=many", "cf.bedrooms"),
        ("cf.region.gte=a", "cf.region.gte"),
        ("cf.move_in.gte=soon", "cf.move_in.gte"),
        ("sort=cf.nope", "sort"),
        ("sort=cf.features", "sort"),
    ] {
        let r = get(q).await;
        assert_eq!(r.status, 422, "{q}: {}", r.body);
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{q}: {}",
            r.body
        );
    }
}
both!(lists_filter_and_sort_by_custom_fields);

async fn custom_fields_stay_in_their_tenant_and_their_plan(app: TestApp) {
    let a = app.register("Fields Alpha").await;
    let b = app.register("Fields Beta").await;
    let f = define(
        &app,
        &a,
        json!({"entity": "contacts", "key": "secret_code", "label": "Secret", "type": "text"}),
    )
    .await;
    let id = f["id"].as_str().unwrap();
    contact(
        &app,
        &a,
        json!({"first_name": "Alpha", "custom_fields": {"secret_code": "a-1"}}),
    )
    .await
    .created("a's contact");
    // B sees none of A's fields, cannot use them, change or archive them.
    let r = app
        .get("/api/custom-fields?archived=true")
        .bearer(&b.token)
        .send()
        .await
        .ok("b lists");
    assert!(r.body["data"].as_array().unwrap().is_empty());
    let r = contact(
        &app,
        &b,
        json!({"first_name": "Beta", "custom_fields": {"secret_code": "b"}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for (method, path) in [
        ("PATCH", format!("/api/custom-fields/{id}")),
        ("DELETE", format!("/api/custom-fields/{id}")),
        ("POST", format!("/api/custom-fields/{id}/restore")),
    ] {
        let mut req = app.req(method.parse().unwrap(), &path).bearer(&b.token);
        if method == "PATCH" {
            req = req.json(json!({"label": "Hacked"}));
        }
        let r = req.send().await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = app
        .get("/api/contacts?cf.secret_code=a-1")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.status, 422, "b has no such field");
    // B may define its own field of the same key.
    define(
        &app,
        &b,
        json!({"entity": "contacts", "key": "secret_code", "label": "Mine", "type": "number"}),
    )
    .await;
    let r = app
        .get("/api/contacts?cf.secret_code=1")
        .bearer(&b.token)
        .send()
        .await
        .ok("b filters");
    assert!(r.body["data"].as_array().unwrap().is_empty());
    let r = app
        .get(&format!("/api/custom-fields/{id}"))
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(r.status, 405, "there is no single-field read");

    // Without the plan's feature: no new fields, no values; clearing and
    // archiving stay possible.
    app.admin_patch_tenant(&a, json!({"plan": "starter"})).await;
    let r = app
        .post("/api/custom-fields")
        .bearer(&a.token)
        .json(json!({"entity": "contacts", "key": "more", "label": "More", "type": "text"}))
        .send()
        .await;
    assert_eq!(
        (r.status, r.code()),
        (402, "feature_not_in_plan"),
        "{}",
        r.body
    );
    let r = contact(
        &app,
        &a,
        json!({"first_name": "Late", "custom_fields": {"secret_code": "x"}}),
    )
    .await;
    assert_eq!((r.status, r.code()), (402, "feature_not_in_plan"));
    let list = app
        .get("/api/contacts")
        .bearer(&a.token)
        .send()
        .await
        .ok("still readable");
    assert_eq!(list.body["data"][0]["custom_fields"]["secret_code"], "a-1");
    app.delete(&format!("/api/custom-fields/{id}"))
        .bearer(&a.token)
        .send()
        .await
        .ok("archive");
}
both!(custom_fields_stay_in_their_tenant_and_their_plan);

/// Every record type takes custom fields: values on create and change,
/// validation naming the field, filters and sorting on its list.
async fn every_record_type_takes_custom_fields(app: TestApp) {
    let t = app.register("Every Type Co").await;
    for (entity, base) in [
        ("companies", json!({"name": "Record"})),
        ("leads", json!({"first_name": "Record"})),
        ("deals", json!({"title": "Record"})),
        ("products", json!({"name": "Record"})),
        ("activities", json!({"subject": "Record"})),
    ] {
        define(
            &app,
            &t,
            json!({"entity": entity, "key": "score", "label": "Score", "type": "number"}),
        )
        .await;
        let mut ids = Vec::new();
        for score in [5, 9] {
            let mut body = base.clone();
            body["custom_fields"] = json!({"score": score});
            let r = app
                .post(&format!("/api/{entity}"))
                .bearer(&t.token)
                .json(body)
                .send()
                .await
                .created(entity);
            assert_eq!(r.body["data"]["custom_fields"]["score"], score, "{entity}");
            ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
        }
        let mut bad = base.clone();
        bad["custom_fields"] = json!({"score": "high"});
        let r = app
            .post(&format!("/api/{entity}"))
            .bearer(&t.token)
            .json(bad)
            .send()
            .await;
        assert_eq!(r.status, 422, "{entity}: {}", r.body);
        field_error(&r, "score");
        let r = app
            .patch(&format!("/api/{entity}/{}", ids[0]))
            .bearer(&t.token)
            .json(json!({"custom_fields": {"score": 12}}))
            .send()
            .await
            .ok(entity);
        assert_eq!(r.body["data"]["custom_fields"]["score"], 12, "{entity}");
        let r = app
            .get(&format!("/api/{entity}?cf.score.gte=10"))
            .bearer(&t.token)
            .send()
            .await
            .ok(entity);
        let found: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(found, [ids[0].as_str()], "{entity}");
        let r = app
            .get(&format!("/api/{entity}?sort=-cf.score"))
            .bearer(&t.token)
            .send()
            .await
            .ok(entity);
        assert_eq!(r.body["data"][0]["id"], ids[0].as_str(), "{entity}");
        let r = app
            .get(&format!("/api/{entity}/{}", ids[1]))
            .bearer(&t.token)
            .send()
            .await
            .ok(entity);
        assert_eq!(
            r.body["data"]["custom_fields"],
            json!({"score": 9}),
            "{entity}"
        );
    }
}
both!(every_record_type_takes_custom_fields);

/// The pages: an admin defines fields in settings; forms have the right
/// inputs, the API's errors land beside them; detail pages and list
/// columns show the values; archiving hides them. Another tenant's admin
/// reaches none of it.
async fn the_pages_define_fill_and_show_custom_fields(app: TestApp) {
    use crate::pages::{location, signed_in};
    let t = app.register("Page Fields Realty").await;
    let mut b = signed_in(&app, &t).await;
    let r = b.get("/settings/fields").await;
    assert!(r.text.contains("Add a field"), "{}", r.text);
    let r = b
        .submit(
            "/settings/fields",
            "/settings/fields/new",
            &[
                ("entity", "contacts"),
                ("label", "Bedrooms"),
                ("type", "number"),
                ("in_list", "true"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/settings/fields"),
        "{}",
        r.text
    );
    let r = b
        .submit(
            "/settings/fields",
            "/settings/fields/new",
            &[
                ("entity", "contacts"),
                ("label", "Region"),
                ("type", "select"),
                ("options", "North\nSouth"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = b
        .submit(
            "/settings/fields",
            "/settings/fields/new",
            &[("entity", "contacts"), ("label", ""), ("type", "text")],
        )
        .await;
    assert_eq!(r.status, 422, "a field needs a label");
    let form = b.get("/contacts/new").await;
    assert!(
        form.text.contains("name=\"custom_fields.bedrooms\"")
            && form.text.contains("type=\"number\""),
        "{}",
        form.text
    );
    assert!(
        form.text.contains("<option value=\"north\">North</option>"),
        "{}",
        form.text
    );

    let r = b
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("first_name", "Ada"),
                ("custom_fields.bedrooms", "abc"),
                ("custom_fields.region", "north"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("must be a number") && r.text.contains("value=\"Ada\""),
        "{}",
        r.text
    );
    let r = b
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("first_name", "Ada"),
                ("custom_fields.bedrooms", "3"),
                ("custom_fields.region", "north"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = b.get(location(&r)).await;
    assert!(
        page.text.contains("Bedrooms")
            && page.text.contains("<dd>3</dd>")
            && page.text.contains("North"),
        "{}",
        page.text
    );
    let api = app
        .get("/api/contacts")
        .bearer(&t.token)
        .send()
        .await
        .ok("api");
    assert_eq!(
        api.body["data"][0]["custom_fields"],
        json!({"bedrooms": 3, "region": "north"})
    );
    let list = b.get("/contacts").await;
    assert!(
        list.text.contains("sort=cf.bedrooms"),
        "the list has the column, sortable: {}",
        list.text
    );

    // Another tenant's admin sees and changes none of it.
    let other = app.register("Page Fields Other").await;
    let mut ob = signed_in(&app, &other).await;
    let theirs = ob.get("/settings/fields").await;
    assert!(!theirs.text.contains("Bedrooms"));
    let fields = app
        .get("/api/custom-fields")
        .bearer(&t.token)
        .send()
        .await
        .ok("fields");
    let id = fields.body["data"][0]["id"].as_str().unwrap().to_owned();
    for action in ["archive", "restore"] {
        let r = ob
            .submit(
                "/settings/fields",
                &format!("/settings/fields/{id}/{action}"),
                &[],
            )
            .await;
        assert_eq!(r.status, 404, "{action}: {}", r.text);
    }

    let r = b
        .submit(
            "/settings/fields",
            &format!("/settings/fields/{id}/archive"),
            &[],
        )
        .await;
    assert_eq!(r.status, 303);
    let contact = api.body["data"][0]["id"].as_str().unwrap();
    let page = b.get(&format!("/contacts/{contact}")).await;
    assert!(!page.text.contains("Bedrooms"), "archived: hidden");
    let r = b
        .submit(
            "/settings/fields",
            &format!("/settings/fields/{id}/restore"),
            &[],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(b
        .get(&format!("/contacts/{contact}"))
        .await
        .text
        .contains("Bedrooms"));
}
both!(the_pages_define_fill_and_show_custom_fields);
