//! The web pages over HTTP, on both backends: sessions and their cookies,
//! anti-forgery tokens, forms that show the services' validation, the
//! sub-domain hand-off, the admin dashboard, and isolation of every page
//! route between tenants.

use crate::both;
use crate::support::{
    mail_sink, Mail, Req, Resp, Tenant, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD,
};
use hyper::Method;
use serde_json::json;

/// A browser: its cookies and the host it talks to.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    host: String,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            host: format!("127.0.0.1:{}", app.addr.port()),
            cookies: Vec::new(),
        }
    }

    fn on(app: &'a TestApp, host: &str) -> Self {
        Browser {
            host: format!("{host}:{}", app.addr.port()),
            ..Browser::new(app)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, value) = kv.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !value.is_empty() && !v.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// A request from this browser: its host and cookies.
    fn req(&self, method: Method, path: &str) -> Req<'a> {
        self.app
            .req(method, path)
            .header("host", &self.host)
            .header("cookie", &self.cookie_header())
    }

    /// A form post from this browser, with extra headers.
    fn form(&self, path: &str, body: String) -> Req<'a> {
        self.req(Method::POST, path)
            .raw("application/x-www-form-urlencoded", body.into_bytes())
    }

    pub(crate) async fn get(&mut self, path: &str) -> Resp {
        let r = self.req(Method::GET, path).send().await;
        self.keep_cookies(&r);
        r
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let r = self.form(path, body).send().await;
        self.keep_cookies(&r);
        r
    }

    /// Posts a form with the anti-forgery token of the page at `from`.
    pub(crate) async fn submit(
        &mut self,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Resp {
        let page = self.get(from).await;
        assert_eq!(page.status, 200, "{from}: {}", page.text);
        let csrf = csrf_of(&page.text);
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Signs in through the login form.
    pub(crate) async fn login(&mut self, username: &str, password: &str) -> Resp {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }
}

/// Creates a record through the API; its id.
pub(crate) async fn create(
    app: &TestApp,
    token: &str,
    kind: &str,
    body: serde_json::Value,
) -> String {
    let r = app
        .post(&format!("/api/{kind}"))
        .bearer(token)
        .json(body)
        .send()
        .await;
    assert_eq!(r.status, 201, "create {kind}: {}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .unwrap_or_else(|| panic!("no _csrf field in {html}"));
    let rest = &html[at + 20..];
    rest[..rest.find('"').unwrap()].to_owned()
}

pub(crate) fn location(r: &Resp) -> &str {
    r.headers
        .get("location")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

pub(crate) async fn signed_in<'a>(app: &'a TestApp, t: &Tenant) -> Browser<'a> {
    let mut b = Browser::new(app);
    let r = b.login(&t.email, PASSWORD).await;
    assert_eq!((r.status, location(&r)), (303, "/dashboard"), "{}", r.text);
    b
}

/// After signing in, `next` leads only to a path of this site: nothing a
/// browser would read as another host (`/\t/evil.example` loses its tab
/// and becomes `//evil.example`).
async fn sign_in_redirects_stay_on_this_site(app: TestApp) {
    let t = app.register("Redirect Realty").await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "\t/evil.example",
    ] {
        let mut b = Browser::new(&app);
        let r = b
            .submit(
                "/login",
                "/login",
                &[
                    ("username", &t.email),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(
            (r.status, location(&r)),
            (303, "/dashboard"),
            "next={next:?}"
        );
    }
    let mut b = Browser::new(&app);
    let r = b
        .submit(
            "/login",
            "/login",
            &[
                ("username", &t.email),
                ("password", PASSWORD),
                ("next", "/contacts?q=a"),
            ],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/contacts?q=a"));
}
both!(sign_in_redirects_stay_on_this_site);

/// Served at an `https://` public address, cookies are Secure without any
/// proxy header, and every response asks browsers to stay on HTTPS.
async fn an_https_deployment_sends_hsts_and_secure_cookies(app: TestApp) {
    let mut b = Browser::new(&app);
    let r = b.get("/login").await.ok("open the login page");
    assert_eq!(
        r.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let r = app.get("/healthz").send().await;
    assert!(r.headers.contains_key("strict-transport-security"));
}
both!(
    an_https_deployment_sends_hsts_and_secure_cookies,
    |c: &mut trasealla::Config| { c.public_url = Some("https://crm.example".into()) }
);

/// Without it (plain HTTP, no proxy saying HTTPS), no HSTS: a browser
/// would refuse the next plain-HTTP visit.
async fn plain_http_sends_no_hsts(app: TestApp) {
    let r = app.get("/healthz").send().await;
    assert!(!r.headers.contains_key("strict-transport-security"));
}
both!(plain_http_sends_no_hsts);

/// A plain user's add-user form is refused before anything else is done
/// with it: no validation answer (which would show the checks run), no
/// password hashed (which would let a plain user keep the hashing busy).
async fn only_admins_reach_the_add_user_form(app: TestApp) {
    let t = app.register("Plain Form Co").await;
    let (_, _) = app.add_user(&t, "plain@plainform.example", "user").await;
    let mut b = Browser::new(&app);
    let r = b.login("plain@plainform.example", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    for password in ["x", PASSWORD] {
        let r = b
            .submit(
                "/dashboard",
                "/settings/users/new",
                &[
                    ("full_name", "Sneaky"),
                    ("email", "sneaky@plainform.example"),
                    ("password", password),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "password {password:?}: {}", r.text);
    }
}
both!(only_admins_reach_the_add_user_form);

async fn sessions_live_in_cookies_and_end_on_logout(app: TestApp) {
    let mut anon = Browser::new(&app);
    let r = anon.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Start Free Trial"));
    let r = anon.get("/dashboard").await;
    assert_eq!((r.status, location(&r)), (303, "/login"));
    let r = anon.get("/contacts?q=x").await;
    assert_eq!(location(&r), "/login?next=%2Fcontacts%3Fq%3Dx");

    // Registration on the bare base domain hands the session over to the
    // company's own sub-domain, once.
    let mut bare = Browser::on(&app, "localhost");
    let r = bare
        .submit(
            "/register",
            "/register",
            &[
                ("company_name", "Cookie Jar Ltd"),
                ("full_name", "Cleo Jar"),
                ("email", "cleo@cookiejar.example"),
                ("password", "Long-enough-1"),
                ("slug", "cookie-jar"),
            ],
        )
        .await;
    // The hand-off is a form posted to the sub-domain: its token is in the
    // body, never in a URL.
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(location(&r).is_empty());
    let action = format!(
        "action=\"http://cookie-jar.localhost:{}/session/handoff\"",
        app.addr.port()
    );
    assert!(r.text.contains(&action), "{}", r.text);
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let at = r.text.find(&marker).unwrap() + marker.len();
        r.text[at..at + r.text[at..].find('"').unwrap()].to_owned()
    };
    let (token, next) = (field("token"), field("next"));
    assert!(!token.is_empty());
    assert!(
        bare.cookie("trasealla_session").is_none(),
        "no session on the bare domain"
    );
    let fields = [("token", token.as_str()), ("next", next.as_str())];
    let mut tenant = Browser::on(&app, "cookie-jar.localhost");
    let r = tenant.post("/session/handoff", &fields).await;
    assert_eq!((r.status, location(&r)), (303, "/dashboard"), "{}", r.text);
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.starts_with("trasealla_session="));
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
    let mut again = Browser::on(&app, "cookie-jar.localhost");
    let r = again.post("/session/handoff", &fields).await;
    assert_eq!(location(&r), "/login", "a hand-off token works once");
    let mut elsewhere = Browser::on(&app, "other.localhost");
    let r = elsewhere.post("/session/handoff", &fields).await;
    assert_eq!(location(&r), "/login", "and only on its tenant's host");
    let r = tenant.get("/session/handoff?token=x").await;
    assert_eq!(r.status, 405, "no hand-off through a URL");

    let r = tenant.get("/dashboard").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("14 days left in trial"), "{}", r.text);
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    // The same cookie on another tenant's host opens nothing.
    let mut wrong = Browser::on(&app, "someone-else.localhost");
    wrong.cookies = tenant.cookies.clone();
    assert_eq!(
        location(&wrong.get("/contacts").await),
        "/login?next=%2Fcontacts"
    );

    // Behind an HTTPS proxy the cookie is Secure.
    let mut proxied = Browser::new(&app);
    let page = proxied.get("/login").await.ok("open the login page");
    let r = proxied
        .form(
            "/login",
            serde_urlencoded::to_string([
                ("_csrf", csrf_of(&page.text).as_str()),
                ("username", "cleo@cookiejar.example"),
                ("password", "Long-enough-1"),
            ])
            .unwrap(),
        )
        .header("x-forwarded-proto", "https")
        .send()
        .await;
    assert_eq!(r.status, 303);
    let secure = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert_eq!(
        secure.contains("; Secure"),
        app.state.config.trust_proxy,
        "Secure exactly when a trusted proxy says HTTPS: {secure}"
    );

    // Logging out needs the form's token, and ends the session on the
    // server: the old cookie opens nothing afterwards.
    let old = tenant.cookies.clone();
    let r = tenant.post("/logout", &[("_csrf", "forged")]).await;
    assert_eq!(r.status, 403);
    let r = tenant.submit("/dashboard", "/logout", &[]).await;
    assert_eq!((r.status, location(&r)), (303, "/login"));
    assert!(tenant.cookie("trasealla_session").is_none());
    tenant.cookies = old;
    assert_eq!(location(&tenant.get("/dashboard").await), "/login");

    // Wrong password: the form again, with the message, and 401.
    let mut b = Browser::new(&app);
    let r = b.login("cleo@cookiejar.example", "wrong-password").await;
    assert_eq!(r.status, 401);
    assert!(
        r.text.contains("invalid username or password"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("value=\"cleo@cookiejar.example\""),
        "the username stays"
    );
    // A login form without its anti-forgery cookie is refused.
    let r = Browser::new(&app)
        .post(
            "/login",
            &[
                ("_csrf", "0123456789abcdef0123456789abcdef"),
                ("username", "x"),
                ("password", "y"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}
both!(sessions_live_in_cookies_and_end_on_logout);

async fn forms_show_validation_and_write_through_the_services(app: TestApp) {
    let t = app.register("Form Co").await;
    let mut b = signed_in(&app, &t).await;
    let r = b
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[("first_name", ""), ("email", "nope")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("id=\"f-first_name-error\""), "{}", r.text);
    assert!(r.text.contains("id=\"f-email-error\""));
    assert!(r.text.contains("value=\"nope\""), "what was typed stays");
    assert_eq!(app.count("contacts").await, 0);

    let r = b
        .submit(
            "/contacts/new",
            "/contacts/new",
            &[
                ("first_name", "Ada"),
                ("last_name", "Lovelace"),
                ("email", "ADA@x.example"),
                ("tags", "vip, math"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let path = location(&r).to_owned();
    let id = path.trim_start_matches("/contacts/").to_owned();
    let api = app
        .get(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(api.body["data"]["email"], "ada@x.example");
    assert_eq!(api.body["data"]["tags"], json!(["vip", "math"]));
    let page = b.get(&path).await;
    assert!(page.text.contains("Ada Lovelace"));

    let r = b
        .submit(
            &format!("{path}/edit"),
            &format!("{path}/edit"),
            &[("first_name", "Augusta Ada"), ("last_name", "King")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = b
        .submit(
            &path,
            &format!("{path}/notes"),
            &[("body", "Met at the salon")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = b
        .submit(
            &path,
            &format!("{path}/activities"),
            &[
                ("kind", "call"),
                ("subject", "Intro call"),
                ("due_at", "2030-01-02T09:30"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = b.get(&path).await;
    assert!(page.text.contains("Met at the salon") && page.text.contains("Intro call"));
    assert!(
        page.text
            .contains("<strong>First name</strong>: Ada → Augusta Ada"),
        "the change is on the timeline, in words"
    );
    let acts = app.get("/api/activities").bearer(&t.token).send().await;
    let act = acts.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(acts.body["data"][0]["due_at"], "2030-01-02T09:30:00Z");
    let r = b
        .submit(
            "/dashboard",
            &format!("/activities/{act}/done"),
            &[("back", &path)],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, path.as_str()));
    let done = app
        .get(&format!("/api/activities/{act}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(done.body["data"]["done"], true);

    // Lists search and page on the server.
    for i in 0..30 {
        create(
            &app,
            &t.token,
            "contacts",
            json!({"first_name": format!("Bulk{i:02}")}),
        )
        .await;
    }
    let first = b.get("/contacts?sort=name").await;
    assert_eq!(
        first.text.matches("<td><a href=\"/contacts/").count(),
        25,
        "a page of 25 rows"
    );
    assert!(first.text.contains("rel=\"next\""));
    let found = b.get("/contacts?q=augusta").await;
    assert!(found.text.contains("Augusta Ada King") && !found.text.contains("Bulk01"));

    // Deals: a new deal, moved by the Move menu and by drag and drop (JSON).
    let pipelines = app.get("/api/pipelines").bearer(&t.token).send().await;
    let pipeline = pipelines.body["data"][0]["id"].as_str().unwrap().to_owned();
    let stages: Vec<String> = pipelines.body["data"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let r = b
        .submit(
            "/deals/new",
            "/deals/new",
            &[
                ("pipeline_id", &pipeline),
                ("title", "Big one"),
                ("amount", "1,500.5"),
                ("stage_id", &stages[0]),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = b
        .submit(
            "/deals/new",
            "/deals/new",
            &[
                ("pipeline_id", &pipeline),
                ("title", ""),
                ("amount", "12.345"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("id=\"f-amount-error\""), "{}", r.text);
    let deals = app.get("/api/deals").bearer(&t.token).send().await;
    let deal = deals.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(deals.body["data"][0]["amount"], 150050);
    let r = b
        .submit(
            "/deals",
            &format!("/deals/{deal}/move"),
            &[("stage_id", &stages[1])],
        )
        .await;
    assert_eq!(r.status, 303);
    let board = b.get("/deals").await.ok("open the deals board");
    let csrf = csrf_of(&board.text);
    // The board's drag and drop posts with fetch and reads JSON.
    let drag = |stage: String| {
        b.form(&format!("/deals/{deal}/move"), format!("stage_id={stage}"))
            .header("x-requested-with", "fetch")
            .header("x-csrf-token", &csrf)
            .send()
    };
    let r = drag(stages[4].clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "won");
    let r = drag("not-a-stage".into()).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "validation_failed"),
        "the board gets the API's envelope"
    );
    let page = b.get(&format!("/deals/{deal}")).await;
    assert!(page.text.contains("1,500.50 USD") && page.text.contains("Won"));
    let dash = b.get("/dashboard").await;
    assert!(dash.text.contains("Pipeline by stage"));
    let plans = b.get("/upgrade").await;
    assert!(plans.text.contains("Enterprise") && plans.text.contains("199.00 USD"));

    // Forged and cross-site posts change nothing.
    let before = app.count("contacts").await;
    let r = b.post("/contacts/new", &[("first_name", "Forged")]).await;
    assert_eq!(r.status, 403);
    let token = csrf_of(
        &b.get("/contacts/new")
            .await
            .ok("open the new contact form")
            .text,
    );
    let r = b
        .form("/contacts/new", format!("_csrf={token}&first_name=Evil"))
        .header("origin", "http://evil.example")
        .send()
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("contacts").await, before);

    let r = b.submit(&path, &format!("{path}/delete"), &[]).await;
    assert_eq!((r.status, location(&r)), (303, "/contacts"));
    let gone = app
        .get(&format!("/api/contacts/{id}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(gone.status, 404);
    let r = b.get(&path).await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("Not found"));
    let r = b.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let r = app.get("/api/no/such").send().await;
    assert_eq!(r.code(), "not_found", "the API keeps its envelope");
}
both!(forms_show_validation_and_write_through_the_services);

async fn server_imposed_states_are_shown_plainly(app: TestApp) {
    let t = app.register("Stateful Co").await;
    app.advance(chrono::Duration::days(15));
    let mut b = signed_in(&app, &t).await;
    let r = b.get("/dashboard").await;
    assert_eq!(r.status, 200, "an ended trial still reads");
    assert!(r.text.contains("Your trial has ended"));
    assert!(!r.text.contains("left in trial"));
    let r = b
        .submit("/contacts/new", "/contacts/new", &[("first_name", "Late")])
        .await;
    assert_eq!(r.status, 402);
    assert!(r.text.contains("Choose a plan"));
    assert_eq!(app.count("contacts").await, 0);
    // Logging out still works.
    let r = b.submit("/dashboard", "/logout", &[]).await;
    assert_eq!(location(&r), "/login");

    let u = app.register("Suspended Co").await;
    let mut b = signed_in(&app, &u).await;
    app.set_tenant_status(&u, "suspended").await;
    let r = b.get("/dashboard").await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("This account is suspended"));
}
both!(server_imposed_states_are_shown_plainly);

async fn the_admin_dashboard_manages_tenants(app: TestApp) {
    let t = app.register("Managed Co").await;
    let mut user = signed_in(&app, &t).await;
    // A tenant user's cookie is no admin session.
    let r = user.get("/admin").await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/admin/login?next=%2Fadmin")
    );

    let mut ops = Browser::new(&app);
    let r = ops
        .submit(
            "/admin/login",
            "/admin/login",
            &[("username", ADMIN_USERNAME), ("password", "wrong")],
        )
        .await;
    assert_eq!(r.status, 401);
    let r = ops
        .submit(
            "/admin/login",
            "/admin/login",
            &[("username", ADMIN_USERNAME), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/admin"), "{}", r.text);
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        set.starts_with("trasealla_admin=")
            && set.contains("Path=/admin")
            && set.contains("HttpOnly")
    );
    // The admin's cookie is no tenant session either.
    let r = ops.get("/dashboard").await;
    assert_eq!(r.status, 303);
    // Nor may a tenant's owner log in here.
    let r = Browser::new(&app)
        .submit(
            "/admin/login",
            "/admin/login",
            &[("username", &t.email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 401);

    let list = ops.get("/admin?status=trial&q=managed").await;
    assert!(list.text.contains("Managed Co"), "{}", list.text);
    let none = ops.get("/admin?status=suspended").await;
    assert!(!none.text.contains("Managed Co"));
    let bad = ops.get("/admin?status=bogus").await;
    assert_eq!(bad.status, 422);
    let detail = ops.get(&format!("/admin/tenants/{}", t.id)).await;
    assert!(detail.text.contains("Subscription") && detail.text.contains("Trial"));

    let here = format!("/admin/tenants/{}", t.id);
    let r = ops
        .post(&format!("{here}/suspend"), &[("_csrf", "forged")])
        .await;
    assert_eq!(r.status, 403);
    let r = ops
        .submit(&here, &format!("{here}/suspend"), &[("reason", "unpaid")])
        .await;
    assert_eq!((r.status, location(&r)), (303, here.as_str()));
    let r = user.get("/contacts").await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("This account is suspended"));
    let audit = app
        .get(&format!("/api/tenants/{}/audit-log", t.id))
        .bearer(&app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await)
        .send()
        .await;
    assert!(audit.text.contains("suspend"), "{}", audit.text);
    let r = ops.submit(&here, &format!("{here}/activate"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(user.get("/contacts").await.status, 200);
    let r = ops
        .get("/admin/tenants/0195b1f0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(r.status, 404);

    let old = ops.cookies.clone();
    let r = ops.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(location(&r), "/admin/login");
    ops.cookies = old;
    let r = ops.get("/admin").await;
    assert_eq!(r.status, 303, "the admin session ended on the server");
}
both!(the_admin_dashboard_manages_tenants);

/// Every page route, with tenant B's session and A's ids, shows and changes
/// nothing of A's.
async fn every_page_route_keeps_tenants_apart(app: TestApp) {
    let a = app.register("Page Owner A").await;
    let b_t = app.register("Page Prober B").await;
    let contact = create(
        &app,
        &a.token,
        "contacts",
        json!({"first_name": "Secret", "email": "secret@a.example"}),
    )
    .await;
    let pipelines = app
        .get("/api/pipelines")
        .bearer(&a.token)
        .send()
        .await
        .ok("list A's pipelines");
    let pipeline = pipelines.body["data"][0]["id"].as_str().unwrap().to_owned();
    let stage = pipelines.body["data"][0]["stages"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deal = create(
        &app,
        &a.token,
        "deals",
        json!({"title": "Secret deal", "pipeline_id": pipeline, "amount": 100}),
    )
    .await;
    let activity = create(
        &app,
        &a.token,
        "activities",
        json!({"type": "call", "subject": "Secret call", "contact_id": contact}),
    )
    .await;
    let company = create(&app, &a.token, "companies", json!({"name": "Secret Corp"})).await;
    let lead = create(
        &app,
        &a.token,
        "leads",
        json!({"first_name": "Secret", "last_name": "Lead", "source": "secret-source"}),
    )
    .await;
    let product = create(
        &app,
        &a.token,
        "products",
        json!({"name": "Secret widget", "price": 100}),
    )
    .await;
    let team = create(&app, &a.token, "teams", json!({"name": "Secret team"})).await;
    let role = create(&app, &a.token, "roles", json!({"name": "Secret role"})).await;
    let invitation = app
        .post("/api/invitations")
        .bearer(&a.token)
        .json(json!({"email": "secret-invitee@a.example"}))
        .send()
        .await
        .created("A invites someone");
    let invitation = invitation.body["data"]["id"].as_str().unwrap().to_owned();
    let snapshot = |path: String| {
        let token = a.token.clone();
        let app = &app;
        async move {
            app.get(&path)
                .bearer(&token)
                .send()
                .await
                .ok(&format!("snapshot A's {path}"))
                .text
        }
    };
    let state_of_a = || async {
        let mut all = Vec::new();
        for path in [
            format!("/api/contacts/{contact}"),
            format!("/api/deals/{deal}"),
            format!("/api/deals/{deal}/items"),
            format!("/api/activities/{activity}"),
            format!("/api/companies/{company}"),
            format!("/api/leads/{lead}"),
            format!("/api/products/{product}"),
            "/api/notes".into(),
            "/api/users".into(),
            "/api/contacts".into(),
            "/api/leads".into(),
            "/api/tenants/current".into(),
            "/api/teams".into(),
            "/api/roles".into(),
            "/api/invitations".into(),
            "/api/messages".into(),
            "/api/pipelines".into(),
        ] {
            all.push(snapshot(path).await);
        }
        all
    };
    let before = state_of_a().await;

    let mut b = signed_in(&app, &b_t).await;
    let csrf = csrf_of(&b.get("/dashboard").await.ok("open B's dashboard").text);
    for path in [
        format!("/contacts/{contact}"),
        format!("/contacts/{contact}/edit"),
        format!("/deals/{deal}"),
        format!("/companies/{company}"),
        format!("/companies/{company}/edit"),
        format!("/leads/{lead}"),
        format!("/leads/{lead}/edit"),
        format!("/products/{product}"),
        format!("/products/{product}/edit"),
        format!("/pipelines/{pipeline}"),
        format!("/pipelines/{pipeline}/stages/{stage}/delete"),
        format!("/deals/{deal}/edit"),
        format!("/leads/{lead}/convert"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 404, "GET {path}");
        assert!(!r.text.contains("Secret"), "GET {path}");
    }
    for (path, fields) in [
        (
            format!("/contacts/{contact}/edit"),
            vec![("first_name", "Hacked")],
        ),
        (format!("/contacts/{contact}/delete"), vec![]),
        (format!("/settings/teams/{team}"), vec![("name", "Hacked")]),
        (format!("/settings/teams/{team}/delete"), vec![]),
        (
            format!("/settings/roles/{role}"),
            vec![("contacts.read", "own")],
        ),
        (format!("/settings/roles/{role}/delete"), vec![]),
        (format!("/settings/invitations/{invitation}/resend"), vec![]),
        (format!("/settings/invitations/{invitation}/revoke"), vec![]),
        (
            format!("/contacts/{contact}/notes"),
            vec![("body", "planted")],
        ),
        (
            format!("/contacts/{contact}/activities"),
            vec![("kind", "call"), ("subject", "planted")],
        ),
        (format!("/activities/{activity}/done"), vec![]),
        (
            format!("/deals/{deal}/move"),
            vec![("stage_id", stage.as_str())],
        ),
        (
            "/deals/new".to_owned(),
            vec![
                ("pipeline_id", pipeline.as_str()),
                ("title", "planted"),
                ("stage_id", stage.as_str()),
            ],
        ),
        (format!("/pipelines/{pipeline}"), vec![("name", "Hacked")]),
        (format!("/pipelines/{pipeline}/delete"), vec![]),
        (
            format!("/pipelines/{pipeline}/stages/new"),
            vec![("name", "Planted")],
        ),
        (
            format!("/pipelines/{pipeline}/stages/reorder"),
            vec![("order", stage.as_str())],
        ),
        (
            format!("/pipelines/{pipeline}/stages/{stage}"),
            vec![("name", "Hacked")],
        ),
        (
            format!("/pipelines/{pipeline}/stages/{stage}/move"),
            vec![("direction", "up")],
        ),
        (
            format!("/pipelines/{pipeline}/stages/{stage}/delete"),
            vec![],
        ),
    ] {
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend(fields);
        let r = b.post(&path, &all).await;
        assert!(
            matches!(r.status, 404 | 422),
            "POST {path}: {} {}",
            r.status,
            r.text
        );
        assert!(!r.text.contains("Secret"), "POST {path}");
    }
    for path in [
        "/dashboard",
        "/contacts",
        "/contacts?q=secret",
        "/deals",
        "/upgrade",
        "/contacts/new",
        "/deals/new",
        "/settings/teams",
        "/settings/roles",
        "/settings/users",
        "/settings/messages",
        "/settings/usage",
        "/pipelines",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 200, "GET {path}");
        assert!(
            !r.text.contains("Secret")
                && !r.text.contains("secret-invitee")
                && !r.text.contains(&pipeline),
            "GET {path} shows A's data"
        );
    }
    let r = b.get(&format!("/deals/new?pipeline_id={pipeline}")).await;
    assert!(!r.text.contains(&pipeline));
    let r = b.get(&format!("/deals?pipeline_id={pipeline}")).await;
    assert!(!r.text.contains("Secret"));
    // The admin pages are not for tenant users at all.
    for path in [
        "/admin".to_owned(),
        format!("/admin/tenants/{}", a.id),
        "/admin/jobs".to_owned(),
        "/admin/usage".to_owned(),
        "/admin/usage.csv".to_owned(),
    ] {
        assert_eq!(b.get(&path).await.status, 303, "GET {path}");
    }
    for path in [
        format!("/admin/jobs/{invitation}/retry"),
        format!("/admin/tenants/{}/suspend", a.id),
        format!("/admin/tenants/{}/activate", a.id),
        "/admin/logout".into(),
    ] {
        let r = b.post(&path, &[("_csrf", csrf.as_str())]).await;
        assert_eq!(r.status, 303, "POST {path}");
    }
    // B's logout ends B's session only.
    let r = b.post("/logout", &[("_csrf", csrf.as_str())]).await;
    assert_eq!(r.status, 303);

    let after = state_of_a().await;
    assert_eq!(before, after, "A's rows are unchanged");
    let status = app
        .get("/api/tenants/current")
        .bearer(&a.token)
        .send()
        .await;
    assert_eq!(status.body["data"]["status"], "trial");
    assert_eq!(app.count("deals").await, 1);
}
both!(every_page_route_keeps_tenants_apart);

/// The page routes the isolation case above covers; a page route added
/// without a case fails here.
const COVERED: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/session/handoff"),
    ("GET", "/dashboard"),
    ("GET", "/upgrade"),
    // billing::the_pages_lead_from_the_plan_chooser_to_checkout_and_back
    ("POST", "/billing/checkout"),
    ("POST", "/billing/portal"),
    ("POST", "/billing/change"),
    ("GET", "/contacts"),
    ("GET", "/contacts/new"),
    ("POST", "/contacts/new"),
    ("GET", "/contacts/{id}"),
    ("GET", "/contacts/{id}/edit"),
    ("POST", "/contacts/{id}/edit"),
    ("POST", "/contacts/{id}/delete"),
    ("POST", "/contacts/{id}/notes"),
    ("POST", "/contacts/{id}/activities"),
    ("POST", "/activities/{id}/done"),
    ("GET", "/deals"),
    ("GET", "/deals/new"),
    ("POST", "/deals/new"),
    ("GET", "/deals/{id}"),
    ("POST", "/deals/{id}/move"),
    ("GET", "/admin"),
    ("GET", "/admin/login"),
    ("POST", "/admin/login"),
    ("POST", "/admin/logout"),
    ("GET", "/admin/tenants/{id}"),
    ("POST", "/admin/tenants/{id}/suspend"),
    ("POST", "/admin/tenants/{id}/activate"),
    ("GET", "/assets/{file}"),
    ("POST", "/deals/{id}/items"),
    ("POST", "/deals/{id}/notes"),
    ("POST", "/deals/{id}/activities"),
    ("GET", "/settings"),
    ("POST", "/settings"),
    ("GET", "/settings/users"),
    ("POST", "/settings/users/new"),
    ("POST", "/settings/users/{id}"),
    ("POST", "/settings/users/{id}/delete"),
    ("GET", "/settings/subscription"),
    ("GET", "/settings/audit"),
    // B's own teams and roles: settings_manage_teams_roles_and_sessions.
    ("GET", "/settings/teams"),
    ("POST", "/settings/teams/new"),
    ("POST", "/settings/teams/{id}"),
    ("POST", "/settings/teams/{id}/delete"),
    ("GET", "/settings/roles"),
    ("POST", "/settings/roles/new"),
    ("POST", "/settings/roles/{id}"),
    ("POST", "/settings/roles/{id}/delete"),
    ("POST", "/logout-all"),
    ("POST", "/admin/tenants/{id}/plan"),
    ("POST", "/admin/tenants/{id}/delete"),
    ("GET", "/admin/licenses"),
    ("POST", "/admin/licenses"),
    ("POST", "/admin/licenses/{id}/revoke"),
    ("POST", "/leads/{id}/convert"),
    ("GET", "/activities"),
    ("GET", "/activities/tasks"),
    ("GET", "/reports"),
    ("GET", "/contacts/export.csv"),
    ("GET", "/contacts/import"),
    ("POST", "/contacts/import"),
    ("GET", "/leads/export.csv"),
    ("GET", "/leads/import"),
    ("POST", "/leads/import"),
    ("GET", "/companies"),
    ("GET", "/companies/new"),
    ("POST", "/companies/new"),
    ("GET", "/companies/{id}"),
    ("GET", "/companies/{id}/edit"),
    ("POST", "/companies/{id}/edit"),
    ("POST", "/companies/{id}/delete"),
    ("POST", "/companies/{id}/notes"),
    ("POST", "/companies/{id}/activities"),
    ("GET", "/leads"),
    ("GET", "/leads/new"),
    ("POST", "/leads/new"),
    ("GET", "/leads/{id}"),
    ("GET", "/leads/{id}/edit"),
    ("POST", "/leads/{id}/edit"),
    ("POST", "/leads/{id}/delete"),
    ("POST", "/leads/{id}/notes"),
    ("POST", "/leads/{id}/activities"),
    ("GET", "/products"),
    ("GET", "/products/new"),
    ("POST", "/products/new"),
    ("GET", "/products/{id}"),
    ("GET", "/products/{id}/edit"),
    ("POST", "/products/{id}/edit"),
    ("POST", "/products/{id}/delete"),
    // The links mail carries: a_forgotten_password_is_reset_through_the_emailed_link,
    // an_invitation_is_sent_accepted_and_signs_the_colleague_in,
    // confirming_the_address_on_its_page_ends_the_banner.
    ("GET", "/forgot-password"),
    ("POST", "/forgot-password"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/verify-email"),
    ("POST", "/verify-email"),
    ("POST", "/verify-email/resend"),
    ("GET", "/accept-invitation"),
    ("POST", "/accept-invitation"),
    // A's invitation, B's posts: 404 below; non-admins:
    // only_admins_reach_invitations_and_messages.
    ("POST", "/settings/invitations/new"),
    ("POST", "/settings/invitations/{id}/resend"),
    ("POST", "/settings/invitations/{id}/revoke"),
    ("GET", "/settings/messages"),
    // the_admin_jobs_page_lists_a_dead_job_and_retries_it.
    ("GET", "/admin/jobs"),
    ("POST", "/admin/jobs/{id}/retry"),
    // B sees its own usage only (above); the numbers:
    // the_usage_pages_show_each_tenants_counts.
    ("GET", "/settings/usage"),
    // custom_fields::the_pages_define_fill_and_show_custom_fields
    ("GET", "/settings/fields"),
    ("POST", "/settings/fields/new"),
    ("POST", "/settings/fields/{id}/archive"),
    ("POST", "/settings/fields/{id}/restore"),
    ("GET", "/admin/usage"),
    ("GET", "/admin/usage.csv"),
    // The pipeline editor: A's pipeline and stages answer 404 to B above;
    // B's own: daily::the_pipeline_editor_shapes_stages_in_the_pages.
    ("GET", "/pipelines"),
    ("POST", "/pipelines/new"),
    ("GET", "/pipelines/{id}"),
    ("POST", "/pipelines/{id}"),
    ("POST", "/pipelines/{id}/delete"),
    ("POST", "/pipelines/{id}/stages/new"),
    ("POST", "/pipelines/{id}/stages/reorder"),
    ("POST", "/pipelines/{id}/stages/{stage}"),
    ("POST", "/pipelines/{id}/stages/{stage}/move"),
    ("GET", "/pipelines/{id}/stages/{stage}/delete"),
    ("POST", "/pipelines/{id}/stages/{stage}/delete"),
    ("GET", "/deals/{id}/edit"),
    ("POST", "/deals/{id}/edit"),
    ("POST", "/deals/{id}/delete"),
    ("GET", "/leads/{id}/convert"),
];

#[test]
fn every_page_route_has_an_isolation_case() {
    for r in trasealla::web::pages::routes() {
        assert!(
            COVERED.contains(&(r.method.as_str(), r.path.as_str())),
            "{} {} has no case in every_page_route_keeps_tenants_apart",
            r.method,
            r.path
        );
    }
}

/// Posts a multipart form (the anti-forgery field first, then a CSV file).
async fn upload(
    b: &mut Browser<'_>,
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    csv: &str,
) -> Resp {
    let boundary = "----pages-test-boundary";
    let mut body = String::new();
    for (k, v) in [("_csrf", csrf)].iter().chain(fields) {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ));
    let r = b
        .req(Method::POST, action)
        .raw(
            &format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        )
        .send()
        .await;
    b.keep_cookies(&r);
    r
}

async fn record_pages_serve_companies_leads_products_and_deals(app: TestApp) {
    let t = app.register("Records Co").await;
    let mut b = signed_in(&app, &t).await;
    let r = b
        .submit(
            "/companies/new",
            "/companies/new",
            &[
                ("name", "Initech"),
                ("website", "not a url"),
                ("address.city", "Austin"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("id=\"f-website-error\"") && r.text.contains("value=\"Austin\""),
        "{}",
        r.text
    );
    let r = b
        .submit(
            "/companies/new",
            "/companies/new",
            &[
                ("name", "Initech"),
                ("website", "https://initech.example"),
                ("address.city", "Austin"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let company = location(&r).to_owned();
    let api = app
        .get(&format!("/api{company}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(api.body["data"]["address"]["city"], "Austin");
    assert!(b.get("/companies?q=initech").await.text.contains("Initech"));
    assert!(b.get(&company).await.text.contains("Austin"));
    let r = b
        .submit(
            &company,
            &format!("{company}/notes"),
            &[("body", "Uses TPS reports")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = b
        .submit(
            &company,
            &format!("{company}/activities"),
            &[("kind", "meeting"), ("subject", "Kick-off")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = b.get(&company).await;
    assert!(page.text.contains("Uses TPS reports") && page.text.contains("Kick-off"));

    let r = b
        .submit(
            "/leads/new",
            "/leads/new",
            &[
                ("first_name", "Peter"),
                ("last_name", "Gibbons"),
                ("company_name", "Initrode"),
                ("status", "qualified"),
                ("estimated_value", "1,200.50"),
                ("currency", "usd"),
                ("email", "peter@initrode.example"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let lead = location(&r).to_owned();
    let api = app
        .get(&format!("/api{lead}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(
        (
            api.body["data"]["estimated_value"].as_i64(),
            api.body["data"]["status"].as_str()
        ),
        (Some(120_050), Some("qualified"))
    );
    let r = b
        .submit(
            &lead,
            &format!("{lead}/convert"),
            &[("create_deal", "true")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(location(&r).starts_with("/contacts/"));
    let converted = b.get(&lead).await;
    assert!(
        converted.text.contains("This lead became:"),
        "{}",
        converted.text
    );
    let r = b.submit(&lead, &format!("{lead}/convert"), &[]).await;
    assert_eq!(r.status, 409, "a second conversion is refused");

    let r = b
        .submit(
            "/products/new",
            "/products/new",
            &[
                ("name", "Stapler"),
                ("sku", "RED-1"),
                ("price", "12.5"),
                ("currency", "USD"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let product = location(&r).trim_start_matches("/products/").to_owned();
    let r = b
        .submit(
            "/products/new",
            "/products/new",
            &[("name", "Dup"), ("sku", "RED-1"), ("price", "1")],
        )
        .await;
    assert_eq!(r.status, 409, "the SKU is taken: {}", r.text);
    let deals = app
        .get("/api/deals")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the deals");
    let deal = deals.body["data"][0]["id"].as_str().unwrap().to_owned();
    let here = format!("/deals/{deal}");
    let r = b
        .submit(
            &here,
            &format!("{here}/items"),
            &[
                ("product_id", &product),
                ("quantity", "3"),
                ("discount_percent", "0"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let api = app
        .get(&format!("/api{here}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(
        api.body["data"]["amount"], 3750,
        "the amount follows the items"
    );
    let r = b
        .submit(
            &here,
            &format!("{here}/notes"),
            &[("body", "Sent the quote")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = b
        .submit(
            &here,
            &format!("{here}/activities"),
            &[("kind", "email"), ("subject", "Quote"), ("done", "true")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = b.get(&here).await;
    assert!(
        page.text.contains("Stapler")
            && page.text.contains("37.50 USD")
            && page.text.contains("Sent the quote")
    );

    let r = b.submit(&company, &format!("{company}/delete"), &[]).await;
    assert_eq!((r.status, location(&r)), (303, "/companies"));
}
both!(record_pages_serve_companies_leads_products_and_deals);

async fn calendar_tasks_and_reports(app: TestApp) {
    let t = app.register("Agenda Co").await;
    let mut b = signed_in(&app, &t).await;
    let now = app.clock_now();
    let due = (now + chrono::Duration::hours(2)).to_rfc3339();
    let later = (now + chrono::Duration::days(40)).to_rfc3339();
    for (subject, at) in [("Call Bob", &due), ("Quarterly review", &later)] {
        create(
            &app,
            &t.token,
            "activities",
            json!({"type": "task", "subject": subject, "due_at": at, "assigned_to": t.owner_id}),
        )
        .await;
    }
    let week = b.get("/activities").await;
    assert_eq!(week.status, 200);
    assert!(
        week.text.contains("Call Bob") && !week.text.contains("Quarterly review"),
        "{}",
        week.text
    );
    let later_day = (now + chrono::Duration::days(40)).date_naive();
    let month = b
        .get(&format!("/activities?view=month&date={later_day}"))
        .await;
    assert!(month.text.contains("Quarterly review") && !month.text.contains("Call Bob"));
    assert_eq!(b.get("/activities?date=tomorrow").await.status, 422);
    let tasks = b.get("/activities/tasks").await;
    assert!(tasks.text.contains("Call Bob") && tasks.text.contains("Quarterly review"));
    let dash = b.get("/dashboard").await;
    assert!(
        dash.text.contains("Call Bob"),
        "due today, on the dashboard"
    );

    let pipelines = app
        .get("/api/pipelines")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the pipelines");
    let pipeline = pipelines.body["data"][0]["id"].as_str().unwrap().to_owned();
    let won = pipelines.body["data"][0]["stages"][4]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    create(
        &app,
        &t.token,
        "deals",
        json!({"title": "Won one", "pipeline_id": pipeline, "stage_id": won, "amount": 99_900}),
    )
    .await;
    create(
        &app,
        &t.token,
        "leads",
        json!({"first_name": "L", "source": "fair"}),
    )
    .await;
    let r = b.get("/reports").await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("999.00 USD") && r.text.contains("fair") && r.text.contains("<svg"),
        "{}",
        r.text
    );
    assert_eq!(b.get("/reports?from=2026-13-01").await.status, 422);
}
both!(calendar_tasks_and_reports);

async fn settings_users_branding_and_audit(app: TestApp) {
    let t = app.register("Settings Co").await;
    let mut b = signed_in(&app, &t).await;
    let r = b
        .submit(
            "/settings",
            "/settings",
            &[("name", "Settings Co"), ("timezone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("id=\"f-timezone\"") && r.text.contains("Mars/Olympus"));
    let r = b
        .submit(
            "/settings",
            "/settings",
            &[
                ("name", "Settings Company"),
                ("timezone", "Europe/Paris"),
                ("brand_color", "#ff0000"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let current = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(current.body["data"]["timezone"], "Europe/Paris");
    assert!(
        current.body["data"]["settings"]
            .get("brand_color")
            .is_none(),
        "no branding on the trial plan"
    );
    let page = b.get("/settings").await;
    assert!(page.text.contains("come with the Enterprise plan"));
    // Times are read and shown in the tenant's zone.
    let contact = create(&app, &t.token, "contacts", json!({"first_name": "Zoned"})).await;
    let r = b
        .submit(
            &format!("/contacts/{contact}"),
            &format!("/contacts/{contact}/activities"),
            &[
                ("kind", "call"),
                ("subject", "Paris call"),
                ("due_at", "2030-01-02T09:30"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let acts = app
        .get(&format!("/api/activities?contact_id={contact}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(
        acts.body["data"][0]["due_at"], "2030-01-02T08:30:00Z",
        "09:30 in Paris is 08:30 UTC in winter"
    );
    assert!(b
        .get(&format!("/contacts/{contact}"))
        .await
        .text
        .contains("title=\"Wednesday, 2 January 2030 09:30 CET\""));

    // On the enterprise plan the colour and logo show in the header.
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "enterprise"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b
        .submit(
            "/settings",
            "/settings",
            &[
                ("name", "Settings Company"),
                ("timezone", "Europe/Paris"),
                ("brand_color", "#AA3300"),
                ("logo_url", "https://cdn.settings.example/logo.png"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let dash = b.get("/dashboard").await;
    assert!(
        dash.text.contains("--brand: #aa3300")
            && dash.text.contains("https://cdn.settings.example/logo.png"),
        "{}",
        dash.text
    );
    let r = b
        .submit(
            "/settings",
            "/settings",
            &[
                ("name", "Settings Company"),
                ("timezone", "UTC"),
                ("brand_color", "red;}body{"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "only #rrggbb reaches a style rule");
    let r = app
        .patch(&format!("/api/tenants/{}", t.id))
        .bearer(&admin)
        .json(json!({"plan": "starter", "force": true}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(
        !b.get("/dashboard").await.text.contains("--brand: #aa3300"),
        "branding goes with the plan"
    );

    // Users within the plan's limit (starter: 5).
    let users = b.get("/settings/users").await;
    assert!(
        users.text.contains("1</strong> of 5 users"),
        "{}",
        users.text
    );
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/new",
            &[
                ("full_name", "Short"),
                ("email", "bad"),
                ("password", "x"),
                ("role", "user"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    for i in 0..4 {
        let email = format!("staff{i}@settings.example");
        let r = b
            .submit(
                "/settings/users",
                "/settings/users/new",
                &[
                    ("full_name", "Staff"),
                    ("email", &email),
                    ("password", PASSWORD),
                    ("role", "user"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.text);
    }
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/new",
            &[
                ("full_name", "One too many"),
                ("email", "six@settings.example"),
                ("password", PASSWORD),
                ("role", "user"),
            ],
        )
        .await;
    assert_eq!(r.status, 402);
    assert!(r.text.contains("The limit is reached"), "{}", r.text);
    let list = app
        .get("/api/users")
        .bearer(&t.token)
        .send()
        .await
        .ok("list the users");
    let staff = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "staff0@settings.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/users/{staff}"),
            &[("role", "manager")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/users/{staff}"),
            &[("is_active", "false")],
        )
        .await;
    assert_eq!(r.status, 303);
    let u = app
        .get(&format!("/api/users/{staff}"))
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(
        (
            u.body["data"]["role"].as_str(),
            u.body["data"]["is_active"].as_bool()
        ),
        (Some("manager"), Some(false))
    );
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/users/{}", t.owner_id),
            &[("role", "user")],
        )
        .await;
    assert_eq!(r.status, 409, "the owner stays an admin");
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/users/{staff}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status, 303);

    let sub = b.get("/settings/subscription").await;
    assert!(sub.text.contains("Starter") && sub.text.contains("your plan"));
    let audit = b.get("/settings/audit").await;
    assert!(
        audit.text.contains("user.created") || audit.text.contains("user."),
        "{}",
        audit.text
    );
    assert!(b.get("/upgrade").await.text.contains("Professional"));

    // A plain user has no settings.
    app.add_user(&t, "plain@settings.example", "user").await;
    let mut plain = Browser::new(&app);
    let r = plain.login("plain@settings.example", PASSWORD).await;
    assert_eq!(r.status, 303);
    assert!(!plain
        .get("/dashboard")
        .await
        .text
        .contains("href=\"/settings\""));
    for path in [
        "/settings",
        "/settings/users",
        "/settings/subscription",
        "/settings/audit",
    ] {
        assert_eq!(plain.get(path).await.status, 403, "{path}");
    }
}
both!(settings_users_branding_and_audit);

async fn csv_import_previews_then_writes_and_export_downloads(app: TestApp) {
    let t = app.register("Upload Co").await;
    let mut b = signed_in(&app, &t).await;
    let form = b.get("/contacts/import").await;
    assert!(form.text.contains("enctype=\"multipart/form-data\""));
    let csrf = csrf_of(&form.text);
    let csv = "Given Name,Surname,E-mail,Shoe size\nAda,Lovelace,ada@x.example,38\n,NoName,n@x.example,40\nBob,,bob@x.example,44\n";
    let r = upload(
        &mut b,
        "/contacts/import",
        &csrf,
        &[("on_duplicate", "skip"), ("dry_run", "true")],
        csv,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Checked: nothing written yet"));
    assert!(
        r.text.contains("Shoe size")
            && r.text.contains("ignored")
            && r.text.contains("<code>first_name</code>")
    );
    assert!(r.text.contains("Lovelace"), "the first rows are previewed");
    assert!(
        r.text
            .contains("<td>2</td><td><code>first_name</code></td>"),
        "row 2's error: {}",
        r.text
    );
    assert_eq!(app.count("contacts").await, 0);
    let r = upload(
        &mut b,
        "/contacts/import",
        &csrf,
        &[("on_duplicate", "skip")],
        csv,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Imported"));
    assert_eq!(app.count("contacts").await, 2);
    let r = upload(&mut b, "/contacts/import", "forged", &[], csv).await;
    assert_eq!(r.status, 403);
    let r = upload(&mut b, "/leads/import", &csrf, &[], "nothing,useful\n1,2\n").await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("first_name"), "{}", r.text);

    let page = b.get("/contacts/export.csv").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("contacts.csv"));
    let api = app
        .get("/api/contacts/export")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(page.text, api.text);
    assert!(b
        .get("/leads/export.csv")
        .await
        .text
        .starts_with("first_name,"));
    assert_eq!(b.get("/leads/import").await.status, 200);
}
both!(csv_import_previews_then_writes_and_export_downloads);

async fn the_admin_manages_plans_deletion_and_licences(app: TestApp) {
    let t = app.register("Lifecycle Co").await;
    let mut ops = Browser::new(&app);
    let r = ops
        .submit(
            "/admin/login",
            "/admin/login",
            &[("username", ADMIN_USERNAME), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303);
    let here = format!("/admin/tenants/{}", t.id);
    let r = ops
        .submit(&here, &format!("{here}/plan"), &[("plan", "professional")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let detail = ops.get(&here).await;
    assert!(
        detail.text.contains("Professional") && detail.text.contains("tenant.updated")
            || detail.text.contains("Professional")
    );
    let r = ops.submit(&here, &format!("{here}/delete"), &[]).await;
    assert_eq!(r.status, 422, "deleting needs the confirmation box");
    let r = ops
        .submit(&here, &format!("{here}/delete"), &[("confirm", &t.slug)])
        .await;
    assert_eq!(r.status, 303);
    let gone = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(gone.status, 401, "a cancelled tenant's users are refused");

    let list = ops.get("/admin/licenses").await;
    assert_eq!(list.status, 200);
    let r = ops
        .submit(
            "/admin/licenses",
            "/admin/licenses",
            &[("license_type", "enterprise"), ("max_users", "50")],
        )
        .await;
    let signing = app.state.licensing.signing.is_some();
    if signing {
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.text.contains("copy it now") && r.text.contains("TRAS-ENT-"));
        let id = app
            .get("/api/tenants/licenses")
            .bearer(&app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await)
            .send()
            .await
            .ok("list the licences")
            .body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = ops
            .submit(
                "/admin/licenses",
                &format!("/admin/licenses/{id}/revoke"),
                &[],
            )
            .await;
        assert_eq!(r.status, 303);
        assert!(ops.get("/admin/licenses").await.text.contains("revoked"));
    } else {
        assert_eq!(r.status, 503);
        assert!(r.text.contains("TRASEALLA_LICENSE_SIGNING_KEY"));
    }
    let r = ops
        .submit(
            "/admin/licenses",
            "/admin/licenses",
            &[("license_type", "enterprise"), ("max_users", "many")],
        )
        .await;
    assert_eq!(r.status, 422);
}
both!(the_admin_manages_plans_deletion_and_licences);
both!(
    the_admin_manages_plans_deletion_and_licences as the_admin_issues_licences_with_a_signing_key,
    |c: &mut trasealla::Config| {
        let dir = tempfile::tempdir().unwrap().keep();
        let (private, _) = trasealla::licensing::cert::write_keypair(&dir).unwrap();
        c.license_signing_key = Some(private);
    }
);

/// An admin manages teams and roles in the settings pages; anyone signs
/// out everywhere from the header, which ends their other sessions too.
async fn settings_manage_teams_roles_and_sessions(app: TestApp) {
    let t = app.register("Settings Access").await;
    let (rep, _) = app
        .add_user(&t, "rep@settings-access.example", "user")
        .await;
    let mut b = signed_in(&app, &t).await;
    let r = b
        .submit(
            "/settings/teams",
            "/settings/teams/new",
            &[("name", "North"), (format!("member_{rep}").as_str(), "on")],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/settings/teams"),
        "{}",
        r.text
    );
    let teams = app
        .get("/api/teams")
        .bearer(&t.token)
        .send()
        .await
        .ok("teams");
    assert_eq!(teams.body["data"][0]["name"], "North");
    assert_eq!(teams.body["data"][0]["member_ids"][0], rep.as_str());
    // An empty name is shown back with its reason.
    let r = b
        .submit("/settings/teams", "/settings/teams/new", &[("name", "")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    // The user role tightened to its team's contacts, in the role form.
    let user_role = "00000000-0000-0000-0000-000000000003";
    let r = b
        .submit(
            "/settings/roles",
            &format!("/settings/roles/{user_role}"),
            &[
                ("contacts.read", "team"),
                ("contacts.edit", "own"),
                ("contacts.delete", "on"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/settings/roles"),
        "{}",
        r.text
    );
    let role = app
        .get(&format!("/api/roles/{user_role}"))
        .bearer(&t.token)
        .send()
        .await
        .ok("the user role");
    assert_eq!(role.body["data"]["permissions"]["contacts"]["read"], "team");
    assert_eq!(
        role.body["data"]["permissions"]["contacts"]["export"],
        false
    );
    assert_eq!(role.body["data"]["permissions"]["deals"]["read"], "all");
    // Edit wider than read is refused with the page.
    let r = b
        .submit(
            "/settings/roles",
            &format!("/settings/roles/{user_role}"),
            &[("deals.read", "own"), ("deals.edit", "all")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = b
        .submit(
            "/settings/roles",
            "/settings/roles/new",
            &[("name", "Auditor")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(b
        .get("/settings/roles")
        .await
        .ok("roles page")
        .text
        .contains("Auditor"));
    // Sign out everywhere: this browser and the API token both stop.
    let mut other = signed_in(&app, &t).await;
    let r = b.submit("/dashboard", "/logout-all", &[]).await;
    assert_eq!((r.status, location(&r)), (303, "/login"), "{}", r.text);
    assert_eq!(
        other.get("/dashboard").await.status,
        303,
        "the other browser is signed out"
    );
    let r = app.get("/api/auth/me").bearer(&t.token).send().await;
    assert_eq!(r.status, 401, "{}", r.body);
}
both!(settings_manage_teams_roles_and_sessions);

/// The pages' imports, exports and reports are heavy operations too, and
/// share the tenant's limit with the API's.
async fn pages_count_among_a_tenants_heavy_operations(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let t = app.register("Heavy Pages Co").await;
    let mut b = signed_in(&app, &t).await;
    let form = b.get("/contacts/import").await;
    let csrf = csrf_of(&form.text);
    let csv = b"first_name\nAda\n";
    let (start, rest) = csv.split_at(5);
    let mut api =
        crate::limits::upload_under_way(&app, &t.token, "/api/contacts/import", start, csv.len())
            .await;

    for r in [
        b.get("/reports").await,
        b.get("/contacts/export.csv").await,
        upload(
            &mut b,
            "/contacts/import",
            &csrf,
            &[],
            "first_name\nGrace\n",
        )
        .await,
    ] {
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(r.headers.contains_key("retry-after"));
        assert!(r.text.contains("imports, exports or reports"), "{}", r.text);
    }
    assert_eq!(b.get("/contacts").await.status, 200, "a light page");

    api.write_all(rest).await.unwrap();
    assert_eq!(crate::limits::status_line(api).await, "HTTP/1.1 200 OK");
    assert_eq!(b.get("/reports").await.status, 200);
}
both!(
    pages_count_among_a_tenants_heavy_operations,
    |c: &mut trasealla::Config| c.tenant_max_heavy_operations = 1
);

// ---------------------------------------------------------------------------
// The pages behind the links mail carries, invitations and messages in the
// settings, and the platform admin's view of the queue.

/// The link of `mail` to `path` (`/reset-password`, …): the host it names
/// (without its port) and its path with the query.
fn mail_link(mail: &Mail, path: &str) -> (String, String) {
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains(&format!("{path}?token=")))
        .unwrap_or_else(|| panic!("no {path} link in {}", mail.text));
    let rest = link.split_once("://").unwrap().1;
    let (host, tail) = rest.split_at(rest.find('/').unwrap());
    (host.split(':').next().unwrap().to_owned(), tail.to_owned())
}

/// The token of a link's path.
fn token_in(path: &str) -> String {
    path.split_once("token=").unwrap().1.to_owned()
}

/// The latest message to `addr` with `subject` once `count` have arrived.
async fn mail_to(addr: &str, count: usize, subject: &str) -> Mail {
    mail_sink()
        .wait_for(addr, count)
        .await
        .into_iter()
        .rev()
        .find(|m| m.subject.contains(subject))
        .unwrap_or_else(|| panic!("no message to {addr} about {subject:?}"))
}

async fn admin_browser(app: &TestApp) -> Browser<'_> {
    let mut ops = Browser::new(app);
    let r = ops
        .submit(
            "/admin/login",
            "/admin/login",
            &[("username", ADMIN_USERNAME), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/admin"), "{}", r.text);
    ops
}

/// Forgot the password → the link by mail → a new password → signed in
/// with it; the link works once, and the form tells nobody whether an
/// account uses an address.
async fn a_forgotten_password_is_reset_through_the_emailed_link(app: TestApp) {
    let t = app.register("Forgetful Co").await;
    let login = Browser::new(&app).get("/login").await.ok("the login page");
    assert!(login.text.contains("href=\"/forgot-password\""));
    // On the bare domain and on the company's own address alike.
    for host in ["localhost", &format!("{}.localhost", t.slug)] {
        let r = Browser::on(&app, host).get("/forgot-password").await;
        assert_eq!(r.status, 200, "{host}: {}", r.text);
        assert!(r.text.contains("Send me a link"), "{host}");
    }
    let mut b = Browser::on(&app, "localhost");
    let r = b
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", "not-an-address")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("id=\"f-email-error\""), "{}", r.text);
    let mut answers = Vec::new();
    for email in [t.email.as_str(), "nobody@forgetful.example"] {
        let r = b
            .submit("/forgot-password", "/forgot-password", &[("email", email)])
            .await;
        assert_eq!(r.status, 200, "{email}: {}", r.text);
        assert!(r.text.contains("If an account uses that address, a link"));
        answers.push(r.text.replace(email, ""));
    }
    assert_eq!(answers[0], answers[1], "the same answer either way");

    app.run_jobs().await;
    let mail = mail_to(&t.email, 3, "Reset your password").await;
    let (host, link) = mail_link(&mail, "/reset-password");
    assert_eq!(host, format!("{}.localhost", t.slug));
    let mut tenant = Browser::on(&app, &host);
    let r = tenant.get(&link).await.ok("open the reset link");
    assert_eq!(
        r.headers["referrer-policy"], "strict-origin",
        "no token in a Referer"
    );
    assert!(r.text.contains("New password, again"));
    let token = token_in(&link);
    for (password, again, field) in [
        ("short", "short", "password"),
        ("Brand-new-pass-1", "Brand-new-pass-2", "password_again"),
    ] {
        let r = tenant
            .submit(
                &link,
                "/reset-password",
                &[
                    ("token", &token),
                    ("password", password),
                    ("password_again", again),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(
            r.text.contains(&format!("id=\"f-{field}-error\"")),
            "{}",
            r.text
        );
    }
    let fields = [
        ("token", token.as_str()),
        ("password", "Brand-new-pass-1"),
        ("password_again", "Brand-new-pass-1"),
    ];
    let r = tenant.submit(&link, "/reset-password", &fields).await;
    assert_eq!((r.status, location(&r)), (303, "/login"), "{}", r.text);
    let r = tenant.get("/login").await.ok("the login after the reset");
    assert!(r
        .text
        .contains("Your password is changed. Sign in with it."));
    let r = tenant.get("/login").await.ok("the login again");
    assert!(!r.text.contains("Your password is changed"), "shown once");
    // The link works once.
    let r = tenant.submit(&link, "/reset-password", &fields).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r
        .text
        .contains("This link is not valid: it may have expired or been used already"));
    assert!(r.text.contains("href=\"/forgot-password\""));
    let r = tenant.get("/reset-password").await;
    assert_eq!(r.status, 400, "no token, no form");

    let r = tenant.login(&t.email, PASSWORD).await;
    assert_eq!(r.status, 401, "the old password no longer works");
    let r = tenant.login(&t.email, "Brand-new-pass-1").await;
    assert_eq!((r.status, location(&r)), (303, "/dashboard"), "{}", r.text);

    // Past a few an hour for one address, the form says so.
    let mut status = 200;
    for _ in 0..6 {
        let r = b
            .submit(
                "/forgot-password",
                "/forgot-password",
                &[("email", "nobody@forgetful.example")],
            )
            .await;
        status = r.status;
        if status == 429 {
            assert!(r.headers.contains_key("retry-after"));
            assert!(r.text.contains("class=\"alert\""), "{}", r.text);
            break;
        }
    }
    assert_eq!(status, 429);
}
both!(
    a_forgotten_password_is_reset_through_the_emailed_link,
    |c: &mut trasealla::Config| c.smtp_url = Some(crate::support::mail_sink().smtp_url())
);

/// An admin invites a colleague from the users page; the colleague opens
/// the link, chooses a name and password, and lands on the dashboard
/// signed in. Resent links replace the old one; revoked ones stop
/// working; pending invitations hold seats.
async fn an_invitation_is_sent_accepted_and_signs_the_colleague_in(app: TestApp) {
    let t = app.register("Inviting Co").await;
    let mut b = signed_in(&app, &t).await;
    let invitee = format!("colleague.{}@inviting.example", t.slug);
    let r = b.get("/settings/users").await.ok("the users page");
    assert!(r.text.contains("Invite a colleague") && r.text.contains("Nobody invited yet."));
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[("invite_email", "nope"), ("invite_role", "user")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("id=\"f-invite_email-error\"") && r.text.contains("value=\"nope\""));
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[("invite_email", &invitee), ("invite_role", "manager")],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/settings/users"),
        "{}",
        r.text
    );
    let r = b.get("/settings/users").await.ok("the users page");
    assert!(r.text.contains("The invitation is on its way."));
    assert!(r.text.contains(&invitee) && r.text.contains("status-pending"));
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[("invite_email", &invitee), ("invite_role", "user")],
        )
        .await;
    assert_eq!(r.status, 409, "an open invitation already: {}", r.text);
    assert!(r.text.contains("id=\"f-invite_email-error\""), "{}", r.text);

    app.run_jobs().await;
    let first = mail_to(&invitee, 1, "invited you").await;
    let (_, old_link) = mail_link(&first, "/accept-invitation");
    let listed = app
        .get("/api/invitations")
        .bearer(&t.token)
        .send()
        .await
        .ok("the invitations");
    let id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/invitations/{id}/resend"),
            &[],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/settings/users"));
    app.run_jobs().await;
    let second = mail_to(&invitee, 2, "invited you").await;
    let (host, link) = mail_link(&second, "/accept-invitation");
    assert_ne!(link, old_link, "a new link");
    assert_eq!(host, format!("{}.localhost", t.slug));

    let mut colleague = Browser::on(&app, &host);
    let r = colleague
        .submit(
            &old_link,
            "/accept-invitation",
            &[
                ("token", &token_in(&old_link)),
                ("full_name", "Col League"),
                ("password", "Colleague-pass-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "the resent link replaced it: {}", r.text);
    assert!(r.text.contains("This link is not valid"));
    let token = token_in(&link);
    let r = colleague
        .submit(
            &link,
            "/accept-invitation",
            &[("token", &token), ("full_name", ""), ("password", "short")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("id=\"f-full_name-error\"") && r.text.contains("id=\"f-password-error\"")
    );
    let fields = [
        ("token", token.as_str()),
        ("full_name", "Col League"),
        ("password", "Colleague-pass-1"),
    ];
    let r = colleague.submit(&link, "/accept-invitation", &fields).await;
    assert_eq!((r.status, location(&r)), (303, "/dashboard"), "{}", r.text);
    assert!(colleague.cookie("trasealla_session").is_some());
    let r = colleague
        .get("/dashboard")
        .await
        .ok("the colleague's dashboard");
    let users = app
        .get("/api/users")
        .bearer(&t.token)
        .send()
        .await
        .ok("the users");
    let user = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == invitee.as_str())
        .expect("the colleague is a user");
    assert_eq!(user["role"], "manager");
    let who = format!("{} · manager", user["username"].as_str().unwrap());
    assert!(
        r.text.contains(&who),
        "signed in as the colleague: {}",
        r.text
    );
    assert!(
        !r.text.contains("Please confirm your e-mail address"),
        "the link confirmed the address"
    );
    let r = Browser::on(&app, &host)
        .submit(&link, "/accept-invitation", &fields)
        .await;
    assert_eq!(r.status, 400, "the link works once");

    let r = b.get("/settings/users").await.ok("the users page");
    assert!(r.text.contains("status-accepted"));
    // Revoked: its link stops working.
    let other = format!("other.{}@inviting.example", t.slug);
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[("invite_email", &other), ("invite_role", "user")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let listed = app
        .get("/api/invitations")
        .bearer(&t.token)
        .send()
        .await
        .ok("the invitations");
    let other_id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/invitations/{other_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/settings/users"));
    let r = b.get("/settings/users").await.ok("the users page");
    assert!(r.text.contains("The invitation is revoked") && r.text.contains("status-revoked"));
    app.run_jobs().await;
    let revoked = mail_to(&other, 1, "invited you").await;
    let (_, revoked_link) = mail_link(&revoked, "/accept-invitation");
    let r = Browser::on(&app, &host)
        .submit(
            &revoked_link,
            "/accept-invitation",
            &[
                ("token", &token_in(&revoked_link)),
                ("full_name", "Too Late"),
                ("password", "Too-late-pass-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    // Accepted already: nothing to resend.
    let r = b
        .submit(
            "/settings/users",
            &format!("/settings/invitations/{id}/resend"),
            &[],
        )
        .await;
    assert_eq!(r.status, 409);

    // The trial's 3 seats: the owner, the colleague and one open
    // invitation; a fourth is refused on the form.
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[(
                "invite_email",
                &format!("third.{}@inviting.example", t.slug),
            )],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = b
        .submit(
            "/settings/users",
            "/settings/invitations/new",
            &[(
                "invite_email",
                &format!("fourth.{}@inviting.example", t.slug),
            )],
        )
        .await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert!(
        r.text.contains("your plan allows 3 active users"),
        "{}",
        r.text
    );

    // Every message is listed for the admins, in the tenant's zone.
    let r = b.get("/settings/messages").await.ok("the messages page");
    assert!(r.text.contains(&invitee) && r.text.contains("invited you"));
    assert!(r.text.contains("Confirm your e-mail address") && r.text.contains("status-sent"));
    assert!(
        r.text.contains("href=\"/settings/messages\""),
        "in the settings tabs"
    );
}
both!(
    an_invitation_is_sent_accepted_and_signs_the_colleague_in,
    |c: &mut trasealla::Config| c.smtp_url = Some(crate::support::mail_sink().smtp_url())
);

/// The banner asks a new owner to confirm the address; "Send the link
/// again" sends a new link; opening it confirms nothing until its button
/// posts, and then the banner is gone.
async fn confirming_the_address_on_its_page_ends_the_banner(app: TestApp) {
    let t = app.register("Unconfirmed Co").await;
    // The welcome and the first link arrive before the second is asked for.
    app.tick().await;
    mail_sink().wait_for(&t.email, 2).await;
    let mut b = signed_in(&app, &t).await;
    let r = b.get("/contacts").await.ok("the contacts");
    assert!(r
        .text
        .contains("Please confirm your e-mail address: we sent a link to"));
    assert!(r.text.contains(&t.email) && r.text.contains("Send the link again"));
    let csrf = csrf_of(&r.text);
    let r = b
        .form(
            "/verify-email/resend",
            serde_urlencoded::to_string([("_csrf", csrf.as_str())]).unwrap(),
        )
        .header(
            "referer",
            &format!("http://127.0.0.1:{}/contacts?q=x", app.addr.port()),
        )
        .send()
        .await;
    b.keep_cookies(&r);
    assert_eq!(
        (r.status, location(&r)),
        (303, "/contacts?q=x"),
        "{}",
        r.text
    );
    let r = b.get("/contacts?q=x").await.ok("back where it was");
    assert!(r.text.contains("A new confirmation link is on its way"));
    let r = b.post("/verify-email/resend", &[("_csrf", "forged")]).await;
    assert_eq!(r.status, 403, "the anti-forgery token is checked");

    app.run_jobs().await;
    let mails = mail_sink().wait_for(&t.email, 3).await;
    let verifications: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.subject == "Confirm your e-mail address")
        .collect();
    assert_eq!(verifications.len(), 2);
    let (_, old) = mail_link(verifications[0], "/verify-email");
    let (host, link) = mail_link(verifications[1], "/verify-email");
    let mut visitor = Browser::on(&app, &host);
    for _ in 0..2 {
        let r = visitor.get(&link).await.ok("open the link");
        assert!(r.text.contains("data-autopost") && r.text.contains("Confirm my address"));
    }
    let r = b.get("/dashboard").await.ok("the dashboard");
    assert!(
        r.text.contains("Please confirm your e-mail address"),
        "opening the link confirmed nothing"
    );
    let r = visitor
        .submit(&old, "/verify-email", &[("token", &token_in(&old))])
        .await;
    assert_eq!(r.status, 400, "the earlier link stopped working");
    let r = visitor
        .submit(&link, "/verify-email", &[("token", &token_in(&link))])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Your address is confirmed") && r.text.contains("href=\"/dashboard\""));
    let r = visitor
        .submit(&link, "/verify-email", &[("token", &token_in(&link))])
        .await;
    assert_eq!(r.status, 400, "the link works once");
    assert!(r.text.contains("This link is not valid"));

    let r = b.get("/dashboard").await.ok("the dashboard");
    assert!(!r.text.contains("Please confirm your e-mail address"));
    let r = b.submit("/dashboard", "/verify-email/resend", &[]).await;
    assert_eq!(r.status, 409, "confirmed already: {}", r.text);
    assert_eq!(Browser::new(&app).get("/verify-email").await.status, 400);
}
both!(
    confirming_the_address_on_its_page_ends_the_banner,
    |c: &mut trasealla::Config| c.smtp_url = Some(crate::support::mail_sink().smtp_url())
);

/// The platform admin sees the queue, a dead job with its error and a
/// Retry button that queues it again, and the message it did not send.
async fn the_admin_jobs_page_lists_a_dead_job_and_retries_it(app: TestApp) {
    let t = app.register("Bouncing Co").await;
    let bounced = format!("gone.{}@refused.test", t.slug);
    app.post("/api/invitations")
        .bearer(&t.token)
        .json(json!({"email": bounced}))
        .send()
        .await
        .created("invite a refused address");
    app.run_jobs().await;

    let mut ops = admin_browser(&app).await;
    let r = ops.get("/admin").await.ok("the tenants");
    assert!(
        r.text.contains("href=\"/admin/jobs\""),
        "in the admin navigation"
    );
    let r = ops.get("/admin/jobs").await.ok("the jobs page");
    assert!(r.text.contains("Done in the last day") && r.text.contains("Oldest due"));
    assert!(
        r.text.contains("send_mail") && r.text.contains("550"),
        "{}",
        r.text
    );
    assert!(r.text.contains(&format!("/admin/tenants/{}", t.id)));
    assert!(r.text.contains(&bounced), "the dead message: {}", r.text);
    let marker = "action=\"/admin/jobs/";
    let at = r.text.find(marker).expect("a Retry button") + marker.len();
    let id = r.text[at..at + 36].to_owned();
    let r = ops
        .get("/admin/jobs?messages=sent")
        .await
        .ok("sent messages");
    assert!(r.text.contains(&t.email) && !r.text.contains(&bounced));
    assert_eq!(ops.get("/admin/jobs?messages=bogus").await.status, 422);

    // Not for tenant users.
    let mut user = signed_in(&app, &t).await;
    let r = user.get("/admin/jobs").await;
    assert_eq!(
        (r.status, location(&r)),
        (303, "/admin/login?next=%2Fadmin%2Fjobs")
    );
    let csrf = csrf_of(&user.get("/dashboard").await.text);
    let r = user
        .post(&format!("/admin/jobs/{id}/retry"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "to the admin login");

    let r = ops
        .submit("/admin/jobs", &format!("/admin/jobs/{id}/retry"), &[])
        .await;
    assert_eq!((r.status, location(&r)), (303, "/admin/jobs"), "{}", r.text);
    let r = ops.get("/admin/jobs").await.ok("the jobs page");
    assert!(r.text.contains("The job is queued again."));
    assert!(!r
        .text
        .contains(&format!("action=\"/admin/jobs/{id}/retry\"")));
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let queued = app
        .get("/api/platform/jobs?state=queued")
        .bearer(&admin)
        .send()
        .await
        .ok("the queued jobs");
    assert!(queued.text.contains(&id), "{}", queued.text);
    let r = ops
        .submit("/admin/jobs", &format!("/admin/jobs/{id}/retry"), &[])
        .await;
    assert_eq!(r.status, 409, "only a dead job is retried");
}
both!(
    the_admin_jobs_page_lists_a_dead_job_and_retries_it,
    |c: &mut trasealla::Config| {
        c.smtp_url = Some(crate::support::mail_sink().smtp_url());
        c.job_max_attempts = 1;
    }
);

/// Invitations and messages are for the tenant's admins only.
async fn only_admins_reach_invitations_and_messages(app: TestApp) {
    let t = app.register("Plain Invite Co").await;
    let r = app
        .post("/api/invitations")
        .bearer(&t.token)
        .json(json!({"email": "pending@plaininvite.example"}))
        .send()
        .await
        .created("an invitation");
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    app.add_user(&t, "plain@plaininvite.example", "manager")
        .await;
    let mut b = Browser::new(&app);
    let r = b.login("plain@plaininvite.example", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    for path in ["/settings/users", "/settings/messages"] {
        let r = b.get(path).await;
        assert_eq!(r.status, 403, "GET {path}");
        assert!(!r.text.contains("pending@plaininvite.example"));
    }
    for (path, fields) in [
        (
            "/settings/invitations/new".to_owned(),
            vec![("invite_email", "sneaky@plaininvite.example")],
        ),
        (format!("/settings/invitations/{id}/resend"), vec![]),
        (format!("/settings/invitations/{id}/revoke"), vec![]),
    ] {
        let r = b.submit("/dashboard", &path, &fields).await;
        assert_eq!(r.status, 403, "POST {path}: {}", r.text);
    }
    let listed = app
        .get("/api/invitations")
        .bearer(&t.token)
        .send()
        .await
        .ok("the invitations");
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["status"], "pending");
}
both!(only_admins_reach_invitations_and_messages);

/// The usage tab shows the tenant's own counts against its plan and names
/// a plan that allows more near a limit; the admin's usage page lists
/// every tenant, sorts by a column and downloads as CSV.
async fn the_usage_pages_show_each_tenants_counts(app: TestApp) {
    let t = app.register("Metered Pages Co").await;
    let other = app.register("Quiet Pages Co").await;
    for name in ["Ann", "Bo"] {
        create(&app, &t.token, "contacts", json!({ "first_name": name })).await;
    }
    let mut b = signed_in(&app, &t).await;
    let r = b.get("/settings/usage").await.ok("the usage tab");
    for shown in [
        "API calls this month</strong>: 2 of 50000 (0 %)",
        "Records</strong>: 2 of 5000 (0 %)",
        "Users</strong>: 1 of 3 (33 %)",
        "Storage</strong>: ",
        "E-mails sent",
        "Imports",
        "href=\"/settings/usage\" aria-current=\"page\"",
    ] {
        assert!(r.text.contains(shown), "{shown} in {}", r.text);
    }
    assert!(!r.text.contains("allows more"), "far from every limit");
    // At a limit, the plan that allows more is named.
    app.admin_patch_tenant(&t, json!({ "limit_overrides": { "records": 2 } }))
        .await;
    let r = b.get("/settings/usage").await.ok("the usage tab");
    assert!(
        r.text.contains("Records</strong>: 2 of 2 (100 %)")
            && r.text
                .contains("The limit is reached. The Starter plan allows more"),
        "{}",
        r.text
    );
    app.admin_patch_tenant(&t, json!({ "plan": "enterprise" }))
        .await;
    let r = b.get("/settings/usage").await.ok("the usage tab");
    assert!(
        r.text.contains("Users</strong>: 1 — unlimited")
            && r.text.contains("Your account manager can raise it.")
            && !r.text.contains("allows more"),
        "{}",
        r.text
    );
    // Another tenant sees its own numbers.
    let mut q = signed_in(&app, &other).await;
    let r = q.get("/settings/usage").await.ok("the other usage tab");
    assert!(r.text.contains("Records</strong>: 0 of 5000"), "{}", r.text);
    // Plain users do not see it.
    app.add_user(&t, "plain@meteredpages.example", "user").await;
    let mut plain = Browser::new(&app);
    plain.login("plain@meteredpages.example", PASSWORD).await;
    assert_eq!(plain.get("/settings/usage").await.status, 403);

    let mut ops = admin_browser(&app).await;
    let r = ops.get("/admin").await.ok("the tenants");
    assert!(
        r.text.contains("href=\"/admin/usage\""),
        "in the admin navigation"
    );
    let r = ops
        .get("/admin/usage?sort=records&order=desc")
        .await
        .ok("the usage page");
    let first = r.text.find("Metered Pages Co").expect("the busy tenant");
    let second = r.text.find("Quiet Pages Co").expect("the quiet tenant");
    assert!(first < second, "most records first");
    assert!(r
        .text
        .contains("href=\"/admin/usage?sort=records&amp;order=asc\""));
    assert!(r
        .text
        .contains("href=\"/admin/usage?sort=api_calls&amp;order=desc\""));
    assert!(r
        .text
        .contains("/admin/usage.csv?sort=records&amp;order=desc"));
    assert!(r.text.contains("Download CSV"));
    let r = ops
        .get("/admin/usage?sort=records&order=asc")
        .await
        .ok("the usage page");
    assert!(r.text.find("Quiet Pages Co") < r.text.find("Metered Pages Co"));
    assert_eq!(ops.get("/admin/usage?sort=bogus").await.status, 422);
    let r = ops.get("/admin/usage.csv").await.ok("the CSV");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(r.text.lines().count(), 3, "{}", r.text);
    assert!(
        r.text.contains(&format!(",{},enterprise,2,2,", t.slug)),
        "{}",
        r.text
    );
}
both!(the_usage_pages_show_each_tenants_counts);
