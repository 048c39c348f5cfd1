//! Access inside a tenant: teams, roles, and the record-level access matrix
//! (role × scope × operation × record type), over HTTP on both backends.

use crate::both;
use crate::support::{Tenant, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The built-in roles' ids (the same in every tenant).
const MANAGER_ROLE: &str = "00000000-0000-0000-0000-000000000002";
const USER_ROLE: &str = "00000000-0000-0000-0000-000000000003";
const ADMIN_ROLE: &str = "00000000-0000-0000-0000-000000000001";

/// The scoped record types, with what their records are called by.
const TYPES: &[&str] = &[
    "companies",
    "contacts",
    "leads",
    "deals",
    "activities",
    "notes",
];

/// Three plain users: `rep1` shares a team with `rep2`; `rep3` is alone.
struct Staff {
    tenant: Tenant,
    ids: [String; 3],
    tokens: [String; 3],
}

async fn staff(app: &TestApp, company: &str) -> Staff {
    let tenant = app.register(company).await;
    app.unlimit_users(&tenant).await;
    // These tests walk every route for every scope: more requests a
    // minute than a trial allows.
    app.admin_patch_tenant(
        &tenant,
        serde_json::json!({"limit_overrides": {"requests_per_minute": 100000}}),
    )
    .await;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for n in 1..=3 {
        let (id, token) = app
            .add_user(&tenant, &format!("rep{n}@{}.example", tenant.slug), "user")
            .await;
        ids.push(id);
        tokens.push(token);
    }
    app.post("/api/teams")
        .bearer(&tenant.token)
        .json(json!({"name": "East", "member_ids": [ids[0], ids[1]]}))
        .send()
        .await
        .created("create the team");
    Staff {
        tenant,
        ids: ids.try_into().unwrap(),
        tokens: tokens.try_into().unwrap(),
    }
}

/// One record of each type owned by each rep, named `Quokka <type> rep<n>`;
/// each rep's note sits on their own contact. Returns, per type, the ids in
/// rep order.
async fn records(app: &TestApp, s: &Staff) -> Vec<(&'static str, [String; 3])> {
    let mut out = Vec::new();
    let mut contacts: Vec<String> = Vec::new();
    for t in TYPES {
        let mut ids = Vec::new();
        for (n, owner) in s.ids.iter().enumerate() {
            let name = format!("Quokka {t} rep{}", n + 1);
            let body = match *t {
                "companies" => json!({"name": name, "owner_id": owner}),
                "contacts" | "leads" => json!({"first_name": name, "owner_id": owner}),
                "deals" => json!({"title": name, "owner_id": owner, "amount": 100}),
                "activities" => {
                    json!({"subject": name, "owner_id": owner, "assigned_to": owner})
                }
                _ => json!({"body": name, "owner_id": owner, "contact_id": contacts[n]}),
            };
            let r = app
                .post(&format!("/api/{t}"))
                .bearer(&s.tenant.token)
                .json(body)
                .send()
                .await
                .created(&format!("create {t}"));
            ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
        }
        if *t == "contacts" {
            contacts = ids.clone();
        }
        out.push((*t, ids.try_into().unwrap()));
    }
    out
}

/// Sets every type's permissions of `role` to `p`.
async fn set_role(app: &TestApp, s: &Staff, role: &str, p: Value) {
    let all: serde_json::Map<String, Value> =
        TYPES.iter().map(|t| (t.to_string(), p.clone())).collect();
    app.patch(&format!("/api/roles/{role}"))
        .bearer(&s.tenant.token)
        .json(json!({"permissions": all}))
        .send()
        .await
        .ok("change the role");
}

/// The reps a scope reaches from rep1 (indexes).
fn reach(scope: &str) -> BTreeSet<usize> {
    match scope {
        "own" => [0].into(),
        "team" => [0, 1].into(),
        _ => [0, 1, 2].into(),
    }
}

/// The reps whose `Quokka <t>` records appear in `text`.
fn reps_in(text: &str, t: &str) -> BTreeSet<usize> {
    (0..3)
        .filter(|n| text.contains(&format!("Quokka {t} rep{}", n + 1)))
        .collect()
}

async fn every_read_follows_the_read_scope(app: TestApp) {
    let s = staff(&app, "Scope Reads").await;
    let recs = records(&app, &s).await;
    let rep1 = &s.tokens[0];
    let now = app.clock_now();
    let period = format!(
        "from={}&to={}",
        (now - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for scope in ["own", "team", "all"] {
        set_role(
            &app,
            &s,
            USER_ROLE,
            json!({"read": scope, "edit": "own", "export": true}),
        )
        .await;
        let want = reach(scope);
        for (t, ids) in &recs {
            // The list…
            let list = app
                .get(&format!("/api/{t}?limit=200"))
                .bearer(rep1)
                .send()
                .await
                .ok(&format!("list {t}"));
            assert_eq!(
                reps_in(&list.body.to_string(), t),
                want,
                "{scope}: list {t}"
            );
            // …each record, 404 outside the scope like another tenant's…
            for (n, id) in ids.iter().enumerate() {
                let r = app.get(&format!("/api/{t}/{id}")).bearer(rep1).send().await;
                let expected = if want.contains(&n) { 200 } else { 404 };
                assert_eq!(
                    r.status,
                    expected,
                    "{scope}: get {t} of rep{}: {}",
                    n + 1,
                    r.body
                );
                if expected == 404 {
                    assert_eq!(r.code(), "not_found");
                }
            }
            // …and its timeline, with the notes on it.
            if matches!(*t, "contacts" | "companies" | "leads" | "deals") {
                for (n, id) in ids.iter().enumerate() {
                    let r = app
                        .get(&format!("/api/{t}/{id}/timeline"))
                        .bearer(rep1)
                        .send()
                        .await;
                    let expected = if want.contains(&n) { 200 } else { 404 };
                    assert_eq!(
                        r.status,
                        expected,
                        "{scope}: timeline of {t} of rep{}",
                        n + 1
                    );
                    if *t == "contacts" && expected == 200 {
                        assert_eq!(
                            reps_in(&r.body.to_string(), "notes"),
                            [n].into(),
                            "{scope}: the note on rep{}'s contact",
                            n + 1
                        );
                    }
                }
            }
        }
        // Search.
        let hits = app
            .get("/api/search?q=quokka&limit=50")
            .bearer(rep1)
            .send()
            .await
            .ok("search");
        for t in ["companies", "contacts", "leads", "deals"] {
            assert_eq!(
                reps_in(&hits.body.to_string(), t),
                want,
                "{scope}: search {t}"
            );
        }
        // Reports count only what the caller reads.
        let leads = app
            .get(&format!("/api/reports/leads?{period}"))
            .bearer(rep1)
            .send()
            .await
            .ok("leads report");
        let total: i64 = leads.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["leads"].as_i64().unwrap())
            .sum();
        assert_eq!(total, want.len() as i64, "{scope}: leads report");
        let pipeline = app
            .get("/api/reports/pipeline")
            .bearer(rep1)
            .send()
            .await
            .ok("pipeline report");
        let deals: i64 = pipeline.body["data"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_i64().unwrap())
            .sum();
        assert_eq!(deals, want.len() as i64, "{scope}: pipeline report");
        let work = app
            .get(&format!("/api/reports/activities?{period}"))
            .bearer(rep1)
            .send()
            .await
            .ok("activities report");
        let open: i64 = work.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["open"].as_i64().unwrap())
            .sum();
        assert_eq!(open, want.len() as i64, "{scope}: activities report");
        // Exports.
        for t in ["contacts", "leads"] {
            let r = app
                .get(&format!("/api/{t}/export"))
                .bearer(rep1)
                .send()
                .await;
            assert_eq!(r.status, 200, "{scope}: export {t}");
            assert_eq!(reps_in(&r.text, t), want, "{scope}: export {t}");
        }
    }
}
both!(every_read_follows_the_read_scope);

async fn every_change_follows_the_edit_scope(app: TestApp) {
    let s = staff(&app, "Scope Edits").await;
    let recs = records(&app, &s).await;
    let rep1 = &s.tokens[0];
    for scope in ["own", "team", "all"] {
        set_role(
            &app,
            &s,
            USER_ROLE,
            json!({"read": "all", "edit": scope, "delete": false}),
        )
        .await;
        let want = reach(scope);
        for (t, ids) in &recs {
            let change = match *t {
                "companies" => json!({"industry": format!("edited {scope}")}),
                "contacts" => json!({"title": format!("edited {scope}")}),
                "leads" => json!({"phone": "555"}),
                "deals" => json!({"amount": 200}),
                "activities" => json!({"done": true}),
                _ => json!({"body": format!("Quokka notes edited {scope}")}),
            };
            for (n, id) in ids.iter().enumerate() {
                let r = app
                    .patch(&format!("/api/{t}/{id}"))
                    .bearer(rep1)
                    .json(change.clone())
                    .send()
                    .await;
                let expected = if want.contains(&n) { 200 } else { 403 };
                assert_eq!(
                    r.status,
                    expected,
                    "{scope}: change {t} of rep{}: {}",
                    n + 1,
                    r.body
                );
                // Deleting is off for the role, whatever the scope.
                let r = app
                    .delete(&format!("/api/{t}/{id}"))
                    .bearer(rep1)
                    .send()
                    .await;
                assert_eq!(r.status, 403, "{scope}: delete {t}: {}", r.body);
            }
        }
    }
    // With delete allowed, a user deletes within the edit scope only.
    set_role(
        &app,
        &s,
        USER_ROLE,
        json!({"read": "all", "edit": "team", "delete": true}),
    )
    .await;
    for (t, ids) in recs.iter().rev() {
        let r = app
            .delete(&format!("/api/{t}/{}", ids[2]))
            .bearer(rep1)
            .send()
            .await;
        assert_eq!(r.status, 403, "delete rep3's {t}");
        let r = app
            .delete(&format!("/api/{t}/{}", ids[1]))
            .bearer(rep1)
            .send()
            .await;
        assert_eq!(r.status, 200, "delete rep2's {t}: {}", r.body);
    }
    // Deal line items follow the deal's edit scope.
    let deal = &recs.iter().find(|(t, _)| *t == "deals").unwrap().1;
    let r = app
        .post(&format!("/api/deals/{}/items", deal[2]))
        .bearer(rep1)
        .json(json!({"name": "Widget", "unit_price": 10}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    app.post(&format!("/api/deals/{}/items", deal[0]))
        .bearer(rep1)
        .json(json!({"name": "Widget", "unit_price": 10}))
        .send()
        .await
        .created("an item on rep1's deal");
}
both!(every_change_follows_the_edit_scope);

async fn import_export_and_bulk_follow_the_role(app: TestApp) {
    let s = staff(&app, "Scope Transfer").await;
    let rep1 = &s.tokens[0];
    let csv = |rows: &str| format!("first_name,email\n{rows}").into_bytes();
    let upload = |path: &str, token: &str, body: Vec<u8>| {
        let boundary = "XBOUNDARYX";
        let mut b = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .into_bytes();
        b.extend(body);
        b.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        app.post(path)
            .bearer(token)
            .raw(&format!("multipart/form-data; boundary={boundary}"), b)
    };
    // The user role's defaults: neither import nor export.
    for t in ["contacts", "leads"] {
        let r = upload(&format!("/api/{t}/import"), rep1, csv("Ann,ann@x.example"))
            .send()
            .await;
        assert_eq!(r.status, 403, "import {t}: {}", r.body);
        let r = app
            .get(&format!("/api/{t}/export"))
            .bearer(rep1)
            .send()
            .await;
        assert_eq!(r.status, 403, "export {t}: {}", r.body);
    }
    // A custom role that imports contacts, without bulk changes.
    let role = app
        .post("/api/roles")
        .bearer(&s.tenant.token)
        .json(json!({"name": "Importer", "permissions": {"contacts": {"import": true, "edit": "all"}}}))
        .send()
        .await
        .created("create the role");
    let role_id = role.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(role.body["data"]["builtin"], Value::Null);
    assert_eq!(role.body["data"]["permissions"]["contacts"]["read"], "all");
    assert_eq!(role.body["data"]["permissions"]["leads"]["import"], false);
    app.patch(&format!("/api/users/{}", s.ids[0]))
        .bearer(&s.tenant.token)
        .json(json!({"role_id": role_id}))
        .send()
        .await
        .ok("give rep1 the role");
    upload("/api/contacts/import", rep1, csv("Ann,ann@x.example"))
        .send()
        .await
        .ok("import contacts");
    let r = upload("/api/leads/import", rep1, csv("Ann,ann@x.example"))
        .send()
        .await;
    assert_eq!(r.status, 403, "import leads: {}", r.body);
    let r = upload(
        "/api/contacts/import?on_duplicate=update",
        rep1,
        csv("Annie,ann@x.example"),
    )
    .send()
    .await;
    assert_eq!(
        r.status, 403,
        "an import that updates is a bulk change: {}",
        r.body
    );
    app.patch(&format!("/api/roles/{role_id}"))
        .bearer(&s.tenant.token)
        .json(json!({"permissions": {"contacts": {"bulk": true}}}))
        .send()
        .await
        .ok("allow bulk changes");
    upload(
        "/api/contacts/import?on_duplicate=update",
        rep1,
        csv("Annie,ann@x.example"),
    )
    .send()
    .await
    .ok("import with updates");
    // A role users have cannot be deleted; back on the built-in one, it can.
    let r = app
        .delete(&format!("/api/roles/{role_id}"))
        .bearer(&s.tenant.token)
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    app.patch(&format!("/api/users/{}", s.ids[0]))
        .bearer(&s.tenant.token)
        .json(json!({"role_id": null}))
        .send()
        .await
        .ok("back to the user role");
    let r = upload("/api/contacts/import", rep1, csv("Bob,bob@x.example"))
        .send()
        .await;
    assert_eq!(r.status, 403, "the role's rights went with it: {}", r.body);
    app.delete(&format!("/api/roles/{role_id}"))
        .bearer(&s.tenant.token)
        .send()
        .await
        .ok("delete the role");
}
both!(import_export_and_bulk_follow_the_role);

async fn roles_keep_their_rules(app: TestApp) {
    let s = staff(&app, "Role Rules").await;
    let admin = &s.tenant.token;
    let roles = app
        .get("/api/roles")
        .bearer(&s.tokens[0])
        .send()
        .await
        .ok("list roles");
    let names: Vec<&str> = roles.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "manager", "user"]);
    assert_eq!(roles.body["data"][2]["users"], 3);
    assert_eq!(
        roles.body["data"][2]["permissions"]["contacts"]["edit"],
        "own"
    );
    // The admin role is fixed; built-in roles keep their names.
    let r = app
        .patch(&format!("/api/roles/{ADMIN_ROLE}"))
        .bearer(admin)
        .json(json!({"permissions": {"contacts": {"read": "own", "edit": "own"}}}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = app
        .patch(&format!("/api/roles/{MANAGER_ROLE}"))
        .bearer(admin)
        .json(json!({"name": "Boss"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Nobody edits what they cannot read.
    let r = app
        .patch(&format!("/api/roles/{USER_ROLE}"))
        .bearer(admin)
        .json(json!({"permissions": {"deals": {"read": "own", "edit": "all"}}}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.to_string().contains("permissions.deals.edit"),
        "{}",
        r.body
    );
    let r = app
        .patch(&format!("/api/roles/{USER_ROLE}"))
        .bearer(admin)
        .json(json!({"permissions": {"deals": {"read": "everything"}}}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Only admins change roles and teams; names are unique.
    let r = app
        .post("/api/roles")
        .bearer(&s.tokens[0])
        .json(json!({"name": "Sneaky"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app
        .post("/api/teams")
        .bearer(&s.tokens[0])
        .json(json!({"name": "Mine"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app
        .post("/api/teams")
        .bearer(admin)
        .json(json!({"name": "east"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = app
        .post("/api/roles")
        .bearer(admin)
        .json(json!({"name": "User"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // A built-in role is not a custom role to assign.
    let r = app
        .patch(&format!("/api/users/{}", s.ids[0]))
        .bearer(admin)
        .json(json!({"role_id": MANAGER_ROLE}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // A manager tightened to their own contacts reads only those; an admin
    // always reads everything.
    let (_, manager) = app
        .add_user(&s.tenant, "boss@role-rules.example", "manager")
        .await;
    app.post("/api/contacts")
        .bearer(admin)
        .json(json!({"first_name": "Admin's"}))
        .send()
        .await
        .created("admin's contact");
    app.patch(&format!("/api/roles/{MANAGER_ROLE}"))
        .bearer(admin)
        .json(json!({"permissions": {"contacts": {"read": "own", "edit": "own"}}}))
        .send()
        .await
        .ok("tighten managers");
    let r = app
        .get("/api/contacts")
        .bearer(&manager)
        .send()
        .await
        .ok("manager's list");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    let r = app
        .get("/api/contacts")
        .bearer(admin)
        .send()
        .await
        .ok("admin's list");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    // Team membership is what `team` reaches: rep3 joins, rep1 sees more.
    let teams = app
        .get("/api/teams")
        .bearer(&s.tokens[2])
        .send()
        .await
        .ok("list teams");
    let team = teams.body["data"][0]["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/api/teams/{team}"))
        .bearer(admin)
        .json(json!({"member_ids": [s.ids[0], s.ids[2]]}))
        .send()
        .await
        .ok("change members");
    let t = app
        .get(&format!("/api/teams/{team}"))
        .bearer(admin)
        .send()
        .await
        .ok("get team");
    assert_eq!(t.body["data"]["member_ids"].as_array().unwrap().len(), 2);
    let r = app
        .patch(&format!("/api/teams/{team}"))
        .bearer(admin)
        .json(json!({"member_ids": [uuid::Uuid::now_v7()]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    app.delete(&format!("/api/teams/{team}"))
        .bearer(admin)
        .send()
        .await
        .ok("delete the team");
    let r = app
        .get(&format!("/api/teams/{team}"))
        .bearer(admin)
        .send()
        .await;
    assert_eq!(r.status, 404);
}
both!(roles_keep_their_rules);

async fn teams_and_roles_stay_in_their_tenant(app: TestApp) {
    let a = staff(&app, "Alpha Access").await;
    let b = app.register("Beta Access").await;
    let role = app
        .post("/api/roles")
        .bearer(&a.tenant.token)
        .json(json!({"name": "Alpha only"}))
        .send()
        .await
        .created("A's role");
    let role = role.body["data"]["id"].as_str().unwrap().to_owned();
    let teams = app
        .get("/api/teams")
        .bearer(&a.tenant.token)
        .send()
        .await
        .ok("A's teams");
    let team = teams.body["data"][0]["id"].as_str().unwrap().to_owned();
    // B sees none of A's teams or custom roles, and cannot touch them.
    let r = app
        .get("/api/teams")
        .bearer(&b.token)
        .send()
        .await
        .ok("B's teams");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    let r = app
        .get("/api/roles")
        .bearer(&b.token)
        .send()
        .await
        .ok("B's roles");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    for (path, change) in [
        (format!("/api/teams/{team}"), json!({"name": "Taken"})),
        (format!("/api/roles/{role}"), json!({"name": "Taken"})),
    ] {
        assert_eq!(
            app.get(&path).bearer(&b.token).send().await.status,
            404,
            "{path}"
        );
        let r = app.patch(&path).bearer(&b.token).json(change).send().await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(
            app.delete(&path).bearer(&b.token).send().await.status,
            404,
            "{path}"
        );
    }
    // B cannot put A's users in its team, nor give its users A's role.
    let r = app
        .post("/api/teams")
        .bearer(&b.token)
        .json(json!({"name": "Mixed", "member_ids": [a.ids[0]]}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .patch(&format!("/api/users/{}", b.owner_id))
        .bearer(&b.token)
        .json(json!({"role_id": role}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // B's change to its built-in user role leaves A's alone.
    app.patch(&format!("/api/roles/{USER_ROLE}"))
        .bearer(&b.token)
        .json(json!({"permissions": {"contacts": {"read": "own", "edit": "own"}}}))
        .send()
        .await
        .ok("B tightens its users");
    let r = app
        .get(&format!("/api/roles/{USER_ROLE}"))
        .bearer(&a.tenant.token)
        .send()
        .await
        .ok("A's user role");
    assert_eq!(r.body["data"]["permissions"]["contacts"]["read"], "all");
    // A's team and role are unchanged.
    let r = app
        .get(&format!("/api/teams/{team}"))
        .bearer(&a.tenant.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["name"], "East");
    let r = app
        .get(&format!("/api/roles/{role}"))
        .bearer(&a.tenant.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["name"], "Alpha only");
}
both!(teams_and_roles_stay_in_their_tenant);
