//! Bad input gets a clear 4xx in the error envelope, never a 5xx, and never
//! leaves a partial write.

use crate::both;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;

async fn malformed_json_is_400(app: TestApp) {
    for body in [&b"{"[..], b"{\"company_name\": }", b"not json", b""] {
        let r = app
            .post("/api/tenants/register")
            .raw("application/json", body.to_vec())
            .send()
            .await;
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.text
        );
        assert_eq!(r.code(), "invalid_json");
        assert_eq!(r.body["success"], false);
    }
    assert_eq!(app.count("tenants").await, 0);
}
both!(malformed_json_is_400);

async fn wrong_shapes_are_422_naming_the_field(app: TestApp) {
    let cases = [
        (
            json!({"company_name": 5, "email": "a@b.example", "password": PASSWORD, "full_name": "A"}),
            "company_name",
        ),
        (
            json!({"company_name": "A", "email": "a@b.example", "password": PASSWORD, "full_name": "A", "plan": "enterprise"}),
            "plan",
        ),
        (
            json!({"company_name": "A", "email": "a@b.example", "password": PASSWORD, "full_name": "A", "tenant_id": "x"}),
            "tenant_id",
        ),
        (
            json!({"company_name": "A", "email": ["a@b.example"], "password": PASSWORD, "full_name": "A"}),
            "email",
        ),
        (
            json!({"company_name": "x".repeat(300), "email": "a@b.example", "password": PASSWORD, "full_name": "A"}),
            "company_name",
        ),
        (
            json!({"company_name": "A", "email": "a@b.example", "password": "p".repeat(200), "full_name": "A"}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .post("/api/tenants/register")
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.code(), "validation_failed");
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{field} in {}",
            r.body
        );
    }
    let r = app
        .post("/api/tenants/register")
        .json(json!([1, 2]))
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(app.count("tenants").await, 0);
}
both!(wrong_shapes_are_422_naming_the_field);

async fn oversized_bodies_are_413(app: TestApp) {
    let t = app.register("Big Co").await;
    let big = json!({"name": "x", "settings": {"blob": "y".repeat(1024 * 1024 + 10)}});
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(big)
        .send()
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.code(), "payload_too_large");
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["name"], "Big Co");
}
both!(oversized_bodies_are_413);

async fn other_media_types_are_415(app: TestApp) {
    let r = app
        .post("/api/auth/login")
        .raw("text/plain", b"username=a&password=b".to_vec())
        .send()
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_eq!(r.code(), "unsupported_media_type");
}
both!(other_media_types_are_415);

async fn unknown_routes_methods_and_ids_answer_in_the_envelope(app: TestApp) {
    let t = app.register("Routes Co").await;
    let r = app.get("/api/nothing-here").send().await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    let r = app.delete("/api/tenants/register").send().await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.body["success"], false);
    for id in ["not-a-uuid", "1", "%27%20OR%201=1"] {
        let r = app
            .get(&format!("/api/users/{id}"))
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.status, 404, "{id}: {}", r.text);
        assert_eq!(r.code(), "not_found");
    }
}
both!(unknown_routes_methods_and_ids_answer_in_the_envelope);

async fn bad_user_input_never_half_writes(app: TestApp) {
    let t = app.register("Careful Co").await;
    let r = app
        .post("/api/users")
        .bearer(&t.token)
        .json(json!({"email": "bad", "full_name": "", "password": "x", "role": "superuser"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .post("/api/users")
        .bearer(&t.token)
        .json(json!({"email": "ok@careful.example", "full_name": "Ok", "password": "short"}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["details"]["fields"]["password"].is_string());
    let r = app
        .patch(&format!("/api/users/{}", t.owner_id))
        .bearer(&t.token)
        .json(json!({"full_name": "New Name", "username": "has space"}))
        .send()
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .get(&format!("/api/users/{}", t.owner_id))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["full_name"], "Owner of Careful Co");
    assert_eq!(app.count("users").await, 1);
}
both!(bad_user_input_never_half_writes);

/// A body is a JSON object, and so is every object inside it: serde would
/// otherwise build a struct from a list of its fields in order.
async fn bodies_and_their_objects_must_be_objects(app: TestApp) {
    let t = app.register("Shapely Co").await;
    for (path, body, field) in [
        ("/api/companies", json!([null, null]), "body"),
        ("/api/companies", json!("Acme"), "body"),
        ("/api/companies", json!(5), "body"),
        ("/api/companies", json!(null), "body"),
        (
            "/api/companies",
            json!({"name": "Acme", "address": [null, null]}),
            "address",
        ),
        (
            "/api/companies",
            json!({"name": "Acme", "address": "Main St"}),
            "address",
        ),
        ("/api/notes", json!([]), "body"),
    ] {
        let r = app
            .post(path)
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{path} {body}: {}", r.body);
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(
            r.body["error"]["details"]["fields"][field], "must be an object",
            "{path} {body}: {}",
            r.body
        );
    }
    assert_eq!(app.count("companies").await, 0);
    let company = app
        .post("/api/companies")
        .bearer(&t.token)
        .json(json!({"name": "Acme", "address": {"city": "Dubai"}}))
        .send()
        .await;
    assert_eq!(company.status, 201, "{}", company.body);
    let id = company.body["data"]["id"].as_str().unwrap().to_owned();
    for body in [json!([null, null]), json!({"address": [null]})] {
        let r = app
            .patch(&format!("/api/companies/{id}"))
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
    }
    let r = app
        .get(&format!("/api/companies/{id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["address"]["city"], "Dubai", "{}", r.body);
}
both!(bodies_and_their_objects_must_be_objects);

/// NUL is valid JSON but no database keeps it in text: every field refuses
/// it with a 422 naming the field, before anything reaches the database.
async fn nul_characters_are_refused_everywhere(app: TestApp) {
    let t = app.register("Nul Co").await;
    let r = app
        .post("/api/tenants/register")
        .json(json!({"company_name": "\u{0}", "email": "n@nul.example", "password": PASSWORD, "full_name": "N"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["company_name"].is_string());
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": "a\u{0}b", "password": "whatever1"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(json!({"settings": {"k": ["ok", "x\u{0}"]}}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["error"]["details"]["fields"]["settings.k[1]"].is_string(),
        "{}",
        r.body
    );
    let r = app
        .post("/api/contacts")
        .bearer(&t.token)
        .json(json!({"first_name": "\u{0}Ada"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app.get("/api/contacts?q=%00").bearer(&t.token).send().await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.count("tenants").await, 1);
}
both!(nul_characters_are_refused_everywhere);

async fn times_outside_what_the_databases_keep_are_refused(app: TestApp) {
    let t = app.register("Far Future Co").await;
    let admin = app
        .login_ok(
            crate::support::ADMIN_USERNAME,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    for when in [
        "+10000-01-01T00:00:00Z",
        "-0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ] {
        let r = app
            .patch(&format!("/api/tenants/{}", t.id))
            .bearer(&admin)
            .json(json!({"trial_ends_at": when}))
            .send()
            .await;
        assert_eq!(r.status, 422, "{when}: {}", r.body);
    }
    let r = app
        .post("/api/deals")
        .bearer(&t.token)
        .json(json!({"title": "Old", "expected_close_date": "1066-10-14"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["expected_close_date"].is_string());
}
both!(times_outside_what_the_databases_keep_are_refused);

/// An import form without a `file` part, even one of no parts at all, is
/// 422 naming `file`; nothing is written.
async fn import_forms_without_a_file_part_name_the_file(app: TestApp) {
    let t = app.register("Formless Co").await;
    let b = "4bea7452f2ee0b8418ae8c1020a88206";
    for path in ["/api/contacts/import", "/api/leads/import"] {
        for body in [
            format!("--{b}\r\n--{b}--\r\n"),
            format!("--{b}--\r\n"),
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--{b}--\r\n"
            ),
        ] {
            let r = app
                .post(path)
                .bearer(&t.token)
                .raw(
                    &format!("multipart/form-data; boundary={b}"),
                    body.clone().into_bytes(),
                )
                .send()
                .await;
            assert_eq!(r.status, 422, "{path} {body:?}: {}", r.body);
            assert_eq!(r.code(), "validation_failed");
            let file = r.body["error"]["details"]["fields"]["file"]
                .as_str()
                .unwrap_or_default();
            assert!(
                file.starts_with("is required"),
                "{path} {body:?}: {}",
                r.body
            );
        }
    }
    assert_eq!(app.count("contacts").await, 0);
    assert_eq!(app.count("leads").await, 0);
}
both!(import_forms_without_a_file_part_name_the_file);

/// A lead conversion's `deal_title` is checked like a deal's title, also
/// when no deal is made; the refused conversion changes nothing.
async fn a_blank_deal_title_is_refused_with_or_without_a_deal(app: TestApp) {
    let t = app.register("Titled Co").await;
    let r = app
        .post("/api/leads")
        .bearer(&t.token)
        .json(json!({"first_name": "Ada", "company_name": "Engines"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let convert = format!(
        "/api/leads/{}/convert",
        r.body["data"]["id"].as_str().unwrap()
    );
    for body in [
        json!({"deal_title": ""}),
        json!({"deal_title": "  ", "create_deal": false}),
        json!({"deal_title": "", "create_deal": true}),
    ] {
        let r = app
            .post(&convert)
            .bearer(&t.token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert!(r.body["error"]["details"]["fields"]["deal_title"].is_string());
    }
    assert_eq!(app.count("contacts").await, 0);
    assert_eq!(app.count("companies").await, 0);
    let r = app
        .post(&convert)
        .bearer(&t.token)
        .json(json!({"deal_title": "Engines deal", "create_deal": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["deal"]["title"], "Engines deal");
}
both!(a_blank_deal_title_is_refused_with_or_without_a_deal);

/// Settings numbers near the edge of a double would not read back from
/// PostgreSQL (it writes them out in full): refused, and the ones allowed
/// read back as given.
async fn settings_numbers_stay_within_what_reads_back(app: TestApp) {
    let t = app.register("Big Numbers Co").await;
    let r = app
        .patch("/api/tenants/current")
        .bearer(&t.token)
        .json(serde_json::json!({"settings": {"nested": [{"big": 1.7976931348623157e308}]}}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["settings"].is_string());
    app.patch("/api/tenants/current")
        .bearer(&t.token)
        .json(serde_json::json!({"settings": {"big": 1e300, "tiny": 5e-324}}))
        .send()
        .await
        .ok("numbers within the range");
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await
        .ok("read back");
    assert_eq!(r.body["data"]["settings"]["big"], 1e300);
}
crate::both!(settings_numbers_stay_within_what_reads_back);
