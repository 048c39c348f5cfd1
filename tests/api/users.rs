use crate::both;
use crate::support::{TestApp, PASSWORD};
use serde_json::json;

async fn admins_manage_staff(app: TestApp) {
    let t = app.register("Staff Co").await;
    let r = app
        .post("/api/users")
        .bearer(&t.token)
        .json(json!({"email": "Jane.Roe@Staff.example", "full_name": "Jane Roe", "password": PASSWORD, "role": "manager"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let jane = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["username"], "jane.roe");
    assert_eq!(r.body["data"]["email"], "jane.roe@staff.example");
    assert_eq!(r.body["data"]["role"], "manager");
    assert!(r.body["data"].get("password").is_none());
    assert!(r.body["data"].get("password_hash").is_none());

    let r = app
        .get(&format!("/api/users/{jane}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["full_name"], "Jane Roe");

    let r = app
        .patch(&format!("/api/users/{jane}"))
        .bearer(&t.token)
        .json(json!({"role": "admin", "full_name": "Jane Q. Roe"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["role"], "admin");
    assert_eq!(r.body["data"]["full_name"], "Jane Q. Roe");

    let r = app.get("/api/users").bearer(&t.token).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert!(r.body["next_cursor"].is_null());

    let r = app
        .delete(&format!("/api/users/{jane}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .get(&format!("/api/users/{jane}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 404);
}
both!(admins_manage_staff);

async fn usernames_stay_unique_within_a_tenant(app: TestApp) {
    let t = app.register("Names Co").await;
    let create = |email: &'static str| {
        app.post("/api/users")
            .bearer(&t.token)
            .json(json!({"email": email, "full_name": "Sam", "password": PASSWORD}))
            .send()
    };
    let r1 = create("sam@one.example").await;
    assert_eq!(r1.body["data"]["username"], "sam");
    let dup = create("SAM@one.example").await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(dup.code(), "email_taken");
    let r2 = create("sam@two.example").await;
    assert_eq!(r2.body["data"]["username"], "sam2");
    let sam2 = r2.body["data"]["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/users/{sam2}"))
        .bearer(&t.token)
        .json(json!({"username": "sam"}))
        .send()
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "username_taken");
}
both!(usernames_stay_unique_within_a_tenant);

async fn the_plan_limits_active_users(app: TestApp) {
    let t = app.register("Small Co").await;
    app.add_user(&t, "two@small.example", "user").await;
    let (third, _) = app.add_user(&t, "three@small.example", "user").await;
    let r = app.create_user(&t.token, "four@small.example").await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "plan_limit_reached");
    assert_eq!(r.body["error"]["details"]["max_users"], 3);
    assert_eq!(app.count("users").await, 3);

    // A deactivated user frees a seat; reactivating past the limit is refused.
    let r = app
        .patch(&format!("/api/users/{third}"))
        .bearer(&t.token)
        .json(json!({"is_active": false}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.create_user(&t.token, "four@small.example").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .patch(&format!("/api/users/{third}"))
        .bearer(&t.token)
        .json(json!({"is_active": true}))
        .send()
        .await;
    assert_eq!(r.status, 402, "{}", r.body);
}
both!(the_plan_limits_active_users);

async fn the_owner_cannot_be_demoted_deactivated_or_deleted(app: TestApp) {
    let t = app.register("Owner Co").await;
    let (_, other_admin) = app.add_user(&t, "second@owner.example", "admin").await;
    let owner = format!("/api/users/{}", t.owner_id);
    for body in [json!({"role": "user"}), json!({"is_active": false})] {
        let r = app
            .patch(&owner)
            .bearer(&other_admin)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status, 409, "{body}: {}", r.body);
        assert_eq!(r.code(), "conflict");
    }
    let r = app.delete(&owner).bearer(&other_admin).send().await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = app.get(&owner).bearer(&t.token).send().await;
    assert_eq!(r.body["data"]["role"], "admin");
    assert_eq!(r.body["data"]["is_active"], true);
}
both!(the_owner_cannot_be_demoted_deactivated_or_deleted);

async fn a_deactivated_user_cannot_log_in_and_its_tokens_stop(app: TestApp) {
    let t = app.register("Leaver Co").await;
    let (id, token) = app.add_user(&t, "leaver@leaver.example", "user").await;
    assert_eq!(
        app.get("/api/auth/me").bearer(&token).send().await.status,
        200
    );
    let r = app
        .patch(&format!("/api/users/{id}"))
        .bearer(&t.token)
        .json(json!({"is_active": false}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get("/api/auth/me").bearer(&token).send().await.status,
        401
    );
    let r = app
        .post("/api/auth/login")
        .json(json!({"username": "leaver@leaver.example", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "invalid_credentials");

    // A deleted user's token stops as well.
    let (id2, token2) = app.add_user(&t, "deleted@leaver.example", "user").await;
    app.delete(&format!("/api/users/{id2}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("delete the user whose token is then tried");
    assert_eq!(
        app.get("/api/auth/me").bearer(&token2).send().await.status,
        401
    );
}
both!(a_deactivated_user_cannot_log_in_and_its_tokens_stop);

async fn a_role_change_takes_effect_on_existing_tokens(app: TestApp) {
    let t = app.register("Demote Co").await;
    let (id, token) = app.add_user(&t, "temp.admin@demote.example", "admin").await;
    let r = app.create_user(&token, "made@demote.example").await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.patch(&format!("/api/users/{id}"))
        .bearer(&t.token)
        .json(json!({"role": "user"}))
        .send()
        .await
        .ok("demote the admin to user");
    // A lesser role ends the tokens issued before it (not only their admin
    // rights): the old token is refused outright.
    let r = app
        .patch("/api/tenants/current")
        .bearer(&token)
        .json(json!({"name": "Nope"}))
        .send()
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Signed in again, the user acts with the new role.
    let token = app.login_ok("temp.admin@demote.example", PASSWORD).await;
    let r = app
        .patch("/api/tenants/current")
        .bearer(&token)
        .json(json!({"name": "Nope"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A promotion keeps the session, and takes effect on it at once.
    app.patch(&format!("/api/users/{id}"))
        .bearer(&t.token)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .ok("promote the user back to admin");
    let r = app
        .patch("/api/tenants/current")
        .bearer(&token)
        .json(json!({"name": "Demote Co Renamed"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
both!(a_role_change_takes_effect_on_existing_tokens);

/// A new password ends every bearer token and browser session issued
/// before it; the new password works.
async fn a_password_change_ends_earlier_tokens(app: TestApp) {
    let t = app.register("Rotate Co").await;
    let (id, old) = app.add_user(&t, "rotating@rotate.example", "user").await;
    let me = |token: String| {
        let app = &app;
        async move { app.get("/api/auth/me").bearer(&token).send().await.status }
    };
    assert_eq!(me(old.clone()).await, 200);
    app.patch(&format!("/api/users/{id}"))
        .bearer(&t.token)
        .json(json!({"password": "A-brand-new-pass-1"}))
        .send()
        .await
        .ok("reset the user's password");
    assert_eq!(me(old).await, 401, "a token from before the change");
    let fresh = app
        .login_ok("rotating@rotate.example", "A-brand-new-pass-1")
        .await;
    assert_eq!(me(fresh).await, 200);
    // The admin who changed it keeps working.
    assert_eq!(me(t.token.clone()).await, 200);
}
both!(a_password_change_ends_earlier_tokens);

/// Only the owner sets the owner's password: another admin cannot take the
/// account over by resetting it.
async fn only_the_owner_changes_the_owners_password(app: TestApp) {
    let t = app.register("Owner Lock Co").await;
    let (_, other_admin) = app.add_user(&t, "second@ownerlock.example", "admin").await;
    let r = app
        .patch(&format!("/api/users/{}", t.owner_id))
        .bearer(&other_admin)
        .json(json!({"password": "Taken-over-pass-1"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        app.get("/api/auth/me").bearer(&t.token).send().await.status,
        200,
        "the owner's session is untouched"
    );
    let r = app
        .patch(&format!("/api/users/{}", t.owner_id))
        .bearer(&t.token)
        .json(json!({"password": "Owners-own-pass-1"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
both!(only_the_owner_changes_the_owners_password);

/// "Log out everywhere" ends the caller's bearer tokens and browser
/// sessions, and no one else's.
async fn logging_out_everywhere_ends_every_session(app: TestApp) {
    let t = app.register("Everywhere Co").await;
    let (_, colleague) = app
        .add_user(&t, "colleague@everywhere.example", "user")
        .await;
    let second = app.login_ok(&t.email, PASSWORD).await;
    let r = app
        .post("/api/auth/logout-all")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for token in [&t.token, &second] {
        assert_eq!(
            app.get("/api/auth/me").bearer(token).send().await.status,
            401
        );
    }
    assert_eq!(
        app.get("/api/auth/me")
            .bearer(&colleague)
            .send()
            .await
            .status,
        200,
        "a colleague's session is untouched"
    );
    let again = app.login_ok(&t.email, PASSWORD).await;
    assert_eq!(
        app.get("/api/auth/me").bearer(&again).send().await.status,
        200
    );
}
both!(logging_out_everywhere_ends_every_session);

async fn only_admins_manage_staff(app: TestApp) {
    let t = app.register("Perms Co").await;
    let (user_id, user) = app.add_user(&t, "plain@perms.example", "user").await;
    let r = app.create_user(&user, "x@perms.example").await;
    assert_eq!(r.status, 403);
    let r = app
        .patch(&format!("/api/users/{user_id}"))
        .bearer(&user)
        .json(json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .delete(&format!("/api/users/{}", t.owner_id))
        .bearer(&user)
        .send()
        .await;
    assert_eq!(r.status, 403);
    // Reading the team is open to every member.
    assert_eq!(app.get("/api/users").bearer(&user).send().await.status, 200);
}
both!(only_admins_manage_staff);

async fn user_lists_paginate_with_a_cursor(app: TestApp) {
    let t = app.register("Pages Co").await;
    app.add_user(&t, "b@pages.example", "manager").await;
    app.add_user(&t, "c@pages.example", "user").await;
    let first = app.get("/api/users?limit=2").bearer(&t.token).send().await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["data"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/users?limit=2&cursor={cursor}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
    assert!(second.body["next_cursor"].is_null());
    assert_eq!(second.body["data"][0]["email"], "c@pages.example");

    let managers = app
        .get("/api/users?role=manager")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(managers.body["data"].as_array().unwrap().len(), 1);

    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=nope",
        "role=boss",
    ] {
        let r = app
            .get(&format!("/api/users?{bad}"))
            .bearer(&t.token)
            .send()
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
}
both!(user_lists_paginate_with_a_cursor);
