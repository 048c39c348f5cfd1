//! E-mail over a real SMTP server (the suite's aiosmtpd sink): the welcome
//! and verification messages of a registration, invitations, password
//! reset and trial reminders, read back as MIME and followed through the
//! API.

use crate::support::{mail_sink, Mail, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};
use crate::{both, postgres_only};
use chrono::Duration;
use serde_json::json;

/// Mail leaves through the suite's SMTP sink.
pub fn smtp(c: &mut trasealla::Config) {
    c.smtp_url = Some(mail_sink().smtp_url());
}

/// An address no other test uses (the sink is shared by every test).
pub fn unique(name: &str, domain: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{name}.{}@{domain}", &id[id.len() - 12..])
}

/// The token of the first link to `path` in the message's text part.
pub fn token_in(mail: &Mail, path: &str) -> String {
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in:\n{}", mail.text));
    link.split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| panic!("no token in {link}"))
}

/// Posts a link's token (and more) to `path`.
async fn redeem(app: &TestApp, path: &str, body: serde_json::Value) -> crate::support::Resp {
    app.post(path).json(body).send().await
}

fn with_subject<'a>(mails: &'a [Mail], start: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.subject.starts_with(start))
        .collect()
}

async fn registration_sends_a_welcome_and_a_verification(app: TestApp) {
    let t = app.register("Welcome Co").await;
    // Nothing is sent inside the request: the jobs send it.
    assert!(mail_sink().all_for(&t.email).is_empty());
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 2).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let welcome = with_subject(&mails, "Welcome to Welcome Co")[0];
    let verify = with_subject(&mails, "Confirm your e-mail address")[0];
    for m in [welcome, verify] {
        assert_eq!(m.content_type, "multipart/alternative");
        assert_eq!(m.from, "no-reply@localhost");
        assert!(m.text.contains("Welcome Co"), "{}", m.text);
        let html = m.html.as_deref().expect("an HTML part");
        assert!(html.contains("Welcome Co"));
        assert!(m.message_id.is_some() && m.date.is_some());
    }
    // Links lead to the tenant's own address.
    let link = verify.links()[0].clone();
    assert!(
        link.starts_with(&format!("http://{}.localhost/verify-email?token=", t.slug)),
        "{link}"
    );
    assert!(verify.html.as_deref().unwrap().contains(&link));
    let token = token_in(verify, "/verify-email");

    let me = app
        .get("/api/auth/me")
        .bearer(&t.token)
        .send()
        .await
        .ok("me");
    assert!(me.body["data"]["user"]["email_verified_at"].is_null());
    let r = redeem(&app, "/api/auth/verify-email", json!({ "token": token })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["verified"], true);
    let me = app
        .get("/api/auth/me")
        .bearer(&t.token)
        .send()
        .await
        .ok("me");
    assert!(me.body["data"]["user"]["email_verified_at"].is_string());

    // Single use; unknown tokens look the same; a missing one is a 422.
    for token in [token.as_str(), "not-a-token", &"x".repeat(500)] {
        let r = redeem(&app, "/api/auth/verify-email", json!({ "token": token })).await;
        assert_eq!((r.status, r.code()), (400, "invalid_token"), "{}", r.text);
    }
    let r = redeem(&app, "/api/auth/verify-email", json!({})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    // Once confirmed, asking for the link again is a conflict.
    let r = app
        .post("/api/auth/verify-email/resend")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!((r.status, r.code()), (409, "conflict"), "{}", r.text);

    // The admin sees what was sent, never the body.
    let r = app
        .get("/api/messages")
        .bearer(&t.token)
        .send()
        .await
        .ok("messages");
    let list = r.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", r.text);
    for m in list {
        assert_eq!(m["status"], "sent");
        assert_eq!(m["recipient"], t.email.as_str());
        assert!(m["sent_at"].is_string());
        assert!(m.get("body").is_none() && !r.text.contains("token="));
    }
}
both!(
    registration_sends_a_welcome_and_a_verification,
    crate::mail::smtp
);

async fn a_new_verification_link_replaces_the_old_one(app: TestApp) {
    let t = app.register("Relink Co").await;
    app.run_jobs().await;
    let first = token_in(
        with_subject(&mail_sink().wait_for(&t.email, 2).await, "Confirm")[0],
        "/verify-email",
    );
    let r = app
        .post("/api/auth/verify-email/resend")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["data"]["email"], t.email.as_str());
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 3).await;
    let confirms = with_subject(&mails, "Confirm");
    assert_eq!(confirms.len(), 2);
    let second = token_in(confirms[1], "/verify-email");
    assert_ne!(first, second);
    let r = redeem(&app, "/api/auth/verify-email", json!({ "token": first })).await;
    assert_eq!(r.code(), "invalid_token", "the older link stopped working");
    let r = redeem(&app, "/api/auth/verify-email", json!({ "token": second })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A few an hour.
    let t2 = app.register("Impatient Co").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .post("/api/auth/verify-email/resend")
            .bearer(&t2.token)
            .send()
            .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429]);
    // Links expire after 24 hours.
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t2.email, 7).await;
    let last = *with_subject(&mails, "Confirm").last().unwrap();
    app.advance(Duration::hours(25));
    let r = redeem(
        &app,
        "/api/auth/verify-email",
        json!({ "token": token_in(last, "/verify-email") }),
    )
    .await;
    assert_eq!(r.code(), "invalid_token");
}
both!(
    a_new_verification_link_replaces_the_old_one,
    crate::mail::smtp
);

async fn an_invitation_is_accepted_and_signs_the_invitee_in(app: TestApp) {
    let t = app.register("Invite Co").await;
    let email = unique("invitee", "example.com");
    let r = app
        .post("/api/invitations")
        .bearer(&t.token)
        .json(json!({ "email": email.to_uppercase(), "role": "manager" }))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let inv = &r.body["data"];
    assert_eq!(inv["email"], email.as_str());
    assert_eq!(inv["role"], "manager");
    assert_eq!(inv["status"], "pending");
    assert!(r.body["data"].get("token").is_none() && r.body["data"].get("token_hash").is_none());
    let id = inv["id"].as_str().unwrap().to_owned();

    app.run_jobs().await;
    let mail = &mail_sink().wait_for(&email, 1).await[0];
    assert_eq!(
        mail.subject,
        "Owner of Invite Co invited you to Invite Co on Trasealla CRM"
    );
    assert!(mail.text.contains("as a manager"), "{}", mail.text);
    let token = token_in(mail, "/accept-invitation");

    let r = redeem(
        &app,
        "/api/invitations/accept",
        json!({ "token": token, "full_name": "Ivy Invitee", "password": "short" }),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["details"]["fields"]["password"].is_string());
    let r = redeem(
        &app,
        "/api/invitations/accept",
        json!({ "token": token, "full_name": "Ivy Invitee", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let data = &r.body["data"];
    assert_eq!(data["user"]["email"], email.as_str());
    assert_eq!(data["user"]["role"], "manager");
    assert_eq!(data["user"]["full_name"], "Ivy Invitee");
    assert!(
        data["user"]["email_verified_at"].is_string(),
        "the link reached the address"
    );
    assert_eq!(data["tenant"]["id"], t.id.as_str());
    let token_of_invitee = data["token"].as_str().unwrap();
    let me = app
        .get("/api/auth/me")
        .bearer(token_of_invitee)
        .send()
        .await
        .ok("me");
    assert_eq!(me.body["data"]["user"]["email"], email.as_str());
    app.login_ok(&email, PASSWORD).await;

    let r = redeem(
        &app,
        "/api/invitations/accept",
        json!({ "token": token, "full_name": "Again", "password": PASSWORD }),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_token"));
    let r = app
        .get("/api/invitations")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    assert_eq!(r.body["data"][0]["id"], id.as_str());
    assert_eq!(r.body["data"][0]["status"], "accepted");
    assert_eq!(r.body["data"][0]["user_id"], data["user"]["id"]);
    // An accepted invitation is neither resent nor revoked.
    let r = app
        .delete(&format!("/api/invitations/{id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409);
    let r = app
        .post(&format!("/api/invitations/{id}/resend"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 409);
}
both!(
    an_invitation_is_accepted_and_signs_the_invitee_in,
    crate::mail::smtp
);

async fn invitations_hold_seats_expire_and_can_be_resent_or_revoked(app: TestApp) {
    let t = app.register("Seats Co").await;
    // Tokens last a day; the owner signs in again after the clock moves.
    let owner = std::cell::RefCell::new(t.token.clone());
    let invite = |email: String| {
        let token = owner.borrow().clone();
        let app = &app;
        async move {
            app.post("/api/invitations")
                .bearer(&token)
                .json(json!({ "email": email }))
                .send()
                .await
        }
    };
    // The trial has 3 seats: the owner and two pending invitations.
    let a = unique("a", "example.com");
    let b = unique("b", "example.com");
    let ra = invite(a.clone()).await.created("invite a");
    invite(b.clone()).await.created("invite b");
    let r = invite(unique("c", "example.com")).await;
    assert_eq!(
        (r.status, r.code()),
        (402, "plan_limit_reached"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["details"]["pending_invitations"], 2);
    let r = app.create_user(&t.token, &unique("d", "example.com")).await;
    assert_eq!(
        r.status, 402,
        "direct creation counts the pending invitations too"
    );
    // Bad input and duplicates.
    let r = invite("not an address".into()).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = invite(a.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "conflict"),
        "an open invitation exists"
    );
    let r = invite(t.email.clone()).await;
    assert_eq!((r.status, r.code()), (409, "email_taken"));
    let r = app
        .post("/api/invitations")
        .bearer(&t.token)
        .json(json!({ "email": a, "role": "owner" }))
        .send()
        .await;
    assert_eq!(r.status, 422);

    app.run_jobs().await;
    let first = token_in(&mail_sink().wait_for(&a, 1).await[0], "/accept-invitation");
    // Resending sends a new link; the old one stops working.
    let id_a = ra.body["data"]["id"].as_str().unwrap().to_owned();
    app.advance(Duration::hours(20));
    let r = app
        .post(&format!("/api/invitations/{id_a}/resend"))
        .bearer(&t.token)
        .send()
        .await
        .ok("resend");
    let expires: chrono::DateTime<chrono::Utc> = r.body["data"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, app.clock_now() + Duration::days(7));
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&a, 2).await;
    let second = token_in(&mails[1], "/accept-invitation");
    assert_ne!(first, second);
    let accept = |token: String| {
        let app = &app;
        async move {
            app.post("/api/invitations/accept")
                .json(json!({ "token": token, "full_name": "A Person", "password": PASSWORD }))
                .send()
                .await
        }
    };
    assert_eq!(accept(first).await.code(), "invalid_token");

    // Revoking frees the seat and kills the link.
    let r = app
        .get("/api/invitations")
        .bearer(&t.token)
        .send()
        .await
        .ok("list");
    let id_b = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == b.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/api/invitations/{id_b}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("revoke");
    assert_eq!(r.body["data"]["status"], "revoked");
    let token_b = token_in(&mail_sink().wait_for(&b, 1).await[0], "/accept-invitation");
    assert_eq!(accept(token_b).await.code(), "invalid_token");
    let c = unique("c", "example.com");
    invite(c.clone())
        .await
        .created("the revoked invitation's seat is free");

    // After 7 days an invitation expires: its link fails and its seat frees.
    app.advance(Duration::days(7) + Duration::minutes(1));
    *owner.borrow_mut() = app.login_ok(&t.email, PASSWORD).await;
    assert_eq!(accept(second).await.code(), "invalid_token");
    let fresh = owner.borrow().clone();
    let r = app
        .get("/api/invitations")
        .bearer(&fresh)
        .send()
        .await
        .ok("list");
    let statuses: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["expired", "revoked", "expired"], "{}", r.text);
    // Inviting an expired invitation's address again replaces it.
    invite(a.clone()).await.created("invite a again");
    // A plain user may not invite.
    let fresh = crate::support::Tenant {
        token: fresh,
        ..t.clone()
    };
    let (_, user_token) = app
        .add_user(&fresh, &unique("u", "example.com"), "user")
        .await;
    let r = app
        .post("/api/invitations")
        .bearer(&user_token)
        .json(json!({ "email": unique("x", "example.com") }))
        .send()
        .await;
    assert_eq!(r.status, 403);
    let r = app.get("/api/invitations").bearer(&user_token).send().await;
    assert_eq!(r.status, 403);
    let r = app.get("/api/messages").bearer(&user_token).send().await;
    assert_eq!(r.status, 403);
}
both!(
    invitations_hold_seats_expire_and_can_be_resent_or_revoked,
    crate::mail::smtp
);

async fn invitations_and_messages_stay_in_their_tenant(app: TestApp) {
    let a = app.register("Alpha Mail").await;
    let b = app.register("Beta Mail").await;
    let email = unique("alpha-invitee", "example.com");
    let r = app
        .post("/api/invitations")
        .bearer(&a.token)
        .json(json!({ "email": email }))
        .send()
        .await
        .created("invite");
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("POST", format!("/api/invitations/{id}/resend")),
        ("DELETE", format!("/api/invitations/{id}")),
    ] {
        let r = app
            .req(method.parse().unwrap(), &path)
            .bearer(&b.token)
            .send()
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
    }
    let r = app
        .get("/api/invitations")
        .bearer(&b.token)
        .send()
        .await
        .ok("b's list");
    assert_eq!(r.body["data"], json!([]));
    let r = app
        .get("/api/messages")
        .bearer(&b.token)
        .send()
        .await
        .ok("b's messages");
    let recipients: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(recipients, [b.email.as_str(), b.email.as_str()]);
    // B's resend concerns B's own user.
    let r = app
        .post("/api/auth/verify-email/resend")
        .bearer(&b.token)
        .send()
        .await;
    assert_eq!(r.body["data"]["email"], b.email.as_str());
    // A's invitation is untouched and its link still works.
    let r = app
        .get("/api/invitations")
        .bearer(&a.token)
        .send()
        .await
        .ok("a's list");
    assert_eq!(r.body["data"][0]["status"], "pending");
    app.run_jobs().await;
    let token = token_in(
        &mail_sink().wait_for(&email, 1).await[0],
        "/accept-invitation",
    );
    let r = redeem(
        &app,
        "/api/invitations/accept",
        json!({ "token": token, "full_name": "Al", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["tenant"]["id"], a.id.as_str());
}
both!(
    invitations_and_messages_stay_in_their_tenant,
    crate::mail::smtp
);

async fn a_reset_link_works_once_and_ends_every_other_session(app: TestApp) {
    let t = app.register("Reset Co").await;
    let other_session = app.login_ok(&t.email, PASSWORD).await;
    let nobody = unique("nobody", "example.com");
    let known = app
        .post("/api/auth/password-reset")
        .json(json!({ "email": t.email }))
        .send()
        .await;
    let unknown = app
        .post("/api/auth/password-reset")
        .json(json!({ "email": nobody }))
        .send()
        .await;
    assert_eq!(known.status, 202, "{}", known.text);
    assert_eq!(
        (known.status, known.text.clone()),
        (unknown.status, unknown.text.clone()),
        "the answer does not tell whether the address has an account"
    );
    let r = app
        .post("/api/auth/password-reset")
        .json(json!({ "email": "nope" }))
        .send()
        .await;
    assert_eq!(r.status, 422);

    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 3).await;
    let reset = with_subject(&mails, "Reset your password");
    assert_eq!(reset.len(), 1);
    assert!(mail_sink().all_for(&nobody).is_empty());
    let token = token_in(reset[0], "/reset-password");

    let r = redeem(
        &app,
        "/api/auth/password-reset/confirm",
        json!({ "token": token, "password": "short" }),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = redeem(
        &app,
        "/api/auth/password-reset/confirm",
        json!({ "token": token, "password": "BrandNewPass123" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["reset"], true);
    for old in [&t.token, &other_session] {
        let r = app.get("/api/auth/me").bearer(old).send().await;
        assert_eq!(r.status, 401, "sessions from before the reset end");
    }
    let r = app
        .post("/api/auth/login")
        .json(json!({ "username": t.email, "password": PASSWORD }))
        .send()
        .await;
    assert_eq!(r.status, 401);
    let fresh = app.login_ok(&t.email, "BrandNewPass123").await;
    let me = app.get("/api/auth/me").bearer(&fresh).send().await.ok("me");
    assert!(
        me.body["data"]["user"]["email_verified_at"].is_string(),
        "the link reached the address"
    );
    let r = redeem(
        &app,
        "/api/auth/password-reset/confirm",
        json!({ "token": token, "password": "AnotherPass123" }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_token"),
        "a link works once"
    );

    // A link is good for one hour.
    app.post("/api/auth/password-reset")
        .json(json!({ "email": t.email }))
        .send()
        .await
        .expect(202, "ask again");
    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 4).await;
    let late = token_in(
        with_subject(&mails, "Reset your password")[1],
        "/reset-password",
    );
    app.advance(Duration::minutes(61));
    let r = redeem(
        &app,
        "/api/auth/password-reset/confirm",
        json!({ "token": late, "password": "AnotherPass123" }),
    )
    .await;
    assert_eq!(r.code(), "invalid_token");
}
both!(
    a_reset_link_works_once_and_ends_every_other_session,
    crate::mail::smtp
);

async fn reset_requests_are_throttled_per_address_and_per_client(app: TestApp) {
    let t = app.register("Throttle Co").await;
    let ask = |email: String| {
        let app = &app;
        async move {
            app.post("/api/auth/password-reset")
                .json(json!({ "email": email }))
                .send()
                .await
                .status
        }
    };
    let mut per_address = Vec::new();
    for _ in 0..6 {
        per_address.push(ask(t.email.clone()).await);
    }
    assert_eq!(per_address, [202, 202, 202, 202, 202, 429]);
    // Other addresses from the same client, until the client's own limit.
    let mut per_client = Vec::new();
    for _ in 0..15 {
        per_client.push(ask(unique("someone", "example.com")).await);
    }
    assert_eq!(per_client.iter().filter(|s| **s == 202).count(), 14);
    assert_eq!(per_client.last(), Some(&429));
    // An hour later the address may ask again.
    app.advance(Duration::hours(1));
    assert_eq!(ask(t.email.clone()).await, 202);
}
both!(reset_requests_are_throttled_per_address_and_per_client);

/// Subjects of the trial messages an address received.
fn trial_subjects(addr: &str) -> Vec<String> {
    mail_sink()
        .all_for(addr)
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| s.contains(" trial "))
        .collect()
}

async fn trial_reminders_are_sent_once_per_tenant_and_threshold(app: TestApp) {
    let t = app.register("Reminded Co").await;
    let second_admin = unique("admin2", "example.com");
    let plain_user = unique("user", "example.com");
    app.add_user(&t, &second_admin, "admin").await;
    app.add_user(&t, &plain_user, "user").await;
    app.tick().await;
    assert!(
        trial_subjects(&t.email).is_empty(),
        "14 days left: nothing yet"
    );

    let name = "Your Reminded Co trial";
    let expect = |subjects: &[&str]| {
        let want: Vec<String> = subjects.iter().map(|s| format!("{name} {s}")).collect();
        for addr in [&t.email, &second_admin] {
            assert_eq!(trial_subjects(addr), want, "{addr}");
        }
        assert!(trial_subjects(&plain_user).is_empty(), "admins only");
    };
    app.advance(Duration::days(7));
    app.tick().await;
    mail_sink().wait_for(&second_admin, 2).await;
    expect(&["ends in 7 days"]);
    app.tick().await;
    app.advance(Duration::days(2));
    app.tick().await;
    expect(&["ends in 7 days"]);
    app.advance(Duration::days(2) + Duration::hours(1));
    app.tick().await;
    mail_sink().wait_for(&second_admin, 3).await;
    expect(&["ends in 7 days", "ends in 3 days"]);
    app.advance(Duration::days(2));
    app.tick().await;
    app.tick().await;
    mail_sink().wait_for(&second_admin, 4).await;
    expect(&["ends in 7 days", "ends in 3 days", "ends tomorrow"]);
    app.advance(Duration::days(1));
    app.tick().await;
    mail_sink().wait_for(&second_admin, 5).await;
    let ended = "has ended";
    expect(&["ends in 7 days", "ends in 3 days", "ends tomorrow", ended]);
    app.advance(Duration::days(3));
    app.tick().await;
    expect(&["ends in 7 days", "ends in 3 days", "ends tomorrow", ended]);
    let r = app
        .get("/api/messages")
        .bearer(&app.login_ok(&t.email, PASSWORD).await)
        .send()
        .await;
    let kinds: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .filter(|k| k.starts_with("trial"))
        .collect();
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "trial_ended").count(), 2);
}
both!(
    trial_reminders_are_sent_once_per_tenant_and_threshold,
    crate::mail::smtp
);

async fn a_moved_trial_end_gets_the_reminder_it_calls_for(app: TestApp) {
    let t = app.register("Moved Co").await;
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let ends = app.clock_now() + Duration::days(2);
    app.patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({ "trial_ends_at": ends }))
        .send()
        .await
        .ok("move the trial's end");
    app.tick().await;
    mail_sink().wait_for(&t.email, 3).await;
    assert_eq!(
        trial_subjects(&t.email),
        ["Your Moved Co trial ends in 3 days"],
        "the reminder for two days left, not the 7-day one as well"
    );
    // Moved back out: the 7-day reminder comes once it is due, the 3-day
    // one is not repeated.
    app.patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({ "trial_ends_at": app.clock_now() + Duration::days(10) }))
        .send()
        .await
        .ok("extend the trial");
    app.tick().await;
    app.advance(Duration::days(4));
    app.tick().await;
    app.advance(Duration::days(4));
    app.tick().await;
    mail_sink().wait_for(&t.email, 4).await;
    assert_eq!(
        trial_subjects(&t.email),
        [
            "Your Moved Co trial ends in 3 days",
            "Your Moved Co trial ends in 7 days"
        ]
    );
    // A tenant that became a customer gets none.
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let paid = app.register("Paid Co").await;
    app.patch(&format!("/api/tenants/{}", paid.id))
        .bearer(&admin)
        .json(json!({ "plan": "starter", "status": "active" }))
        .send()
        .await
        .ok("upgrade");
    app.advance(Duration::days(13));
    app.tick().await;
    assert!(trial_subjects(&paid.email).is_empty());
    // The plan change itself is told to the company's admins.
    let mails = mail_sink().wait_for(&paid.email, 3).await;
    let notice = with_subject(&mails, "Paid Co is now on the Starter plan");
    assert_eq!(notice.len(), 1, "{mails:?}");
    assert!(
        notice[0].text.contains("from Trial to Starter"),
        "{}",
        notice[0].text
    );
}
both!(
    a_moved_trial_end_gets_the_reminder_it_calls_for,
    crate::mail::smtp
);

/// Two servers on one PostgreSQL database, each with its scheduler and
/// workers, both moving through a trial: each reminder goes out once.
async fn two_servers_send_each_trial_reminder_once(app: TestApp) {
    use crate::jobs::{drain_both, tick_both};
    let second = app.second_server().await;
    let t = app.register("Shared Co").await;
    for step in [7, 2, 2, 2, 1, 1, 3] {
        app.advance(Duration::days(step) + Duration::minutes(1));
        for _ in 0..3 {
            tick_both(&app.state, &second).await;
            drain_both(&app.state, &second).await;
        }
    }
    mail_sink().wait_for(&t.email, 6).await;
    assert_eq!(
        trial_subjects(&t.email),
        [
            "Your Shared Co trial ends in 7 days",
            "Your Shared Co trial ends in 3 days",
            "Your Shared Co trial ends tomorrow",
            "Your Shared Co trial has ended",
        ]
    );
    assert_eq!(mail_sink().all_for(&t.email).len(), 6);
}
postgres_only!(two_servers_send_each_trial_reminder_once, crate::mail::smtp);
