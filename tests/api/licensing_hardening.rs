//! Licence hardening (issue 11, "one tenant cannot hurt another"): a
//! customer cannot make their own trust root, a certificate activates only
//! the installation it names, a clock set back counts like an expiry, the
//! platform admin cannot lift a licensed installation past its licence, and
//! the secrets the database keeps are sealed with a key it does not hold.

use crate::licensing::{activated_offline, license_request, self_hosted, vendor, vendor_key};
use crate::support::{Backend, Process, Resp, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD};
use crate::{both, licensing_test};
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use serde_json::json;
use trasealla::licensing::cert::{self, Certificate};

/// A certificate signed with `key`, naming `installation` (version 2) or
/// none (version 1, as issued before installations were named).
fn certificate(key: &SigningKey, installation: Option<&str>, now: DateTime<Utc>) -> String {
    cert::sign(
        &Certificate {
            v: if installation.is_some() { 2 } else { 1 },
            key_id: uuid::Uuid::now_v7(),
            license_type: "enterprise".into(),
            max_users: None,
            features: vec!["core_crm".into(), "sso".into()],
            issued_at: now,
            expires_at: None,
            issued_to: Some("Customer Corp".into()),
            installation: installation.map(str::to_owned),
        },
        key,
    )
}

/// What the server does hourly: keeps the clock's high-water mark in the
/// database.
async fn keep_clock(sh: &TestApp) {
    trasealla::licensing::installation::record_clock(
        &sh.state.store,
        &sh.state.licensing,
        sh.clock_now(),
    )
    .await
    .unwrap();
}

/// A fresh token of the owner an activation made (tokens live a day, and
/// these tests move the clock by weeks).
async fn owner(sh: &TestApp) -> String {
    sh.login_ok("admin@customer.example", PASSWORD).await
}

/// A change to the tenant, as its owner: what a licence that stopped
/// writes refuses.
async fn write(sh: &TestApp) -> Resp {
    sh.patch("/api/tenants/current")
        .bearer(&owner(sh).await)
        .json(json!({"industry": "Health"}))
        .send()
        .await
}

async fn a_self_made_signing_key_is_no_trust_root(app: TestApp) {
    // The customer configured a signing key of its own making.
    assert!(
        app.state.licensing.signing.is_none(),
        "a self-hosted server loads no signing key"
    );
    let own =
        cert::load_signing_key(app.state.config.license_signing_key.as_ref().unwrap()).unwrap();
    let forged = certificate(&own, Some(&app.fingerprint()), app.clock_now());
    let r = app.activate(json!({"certificate": forged})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let why = r.body["error"]["details"]["fields"]["certificate"]
        .as_str()
        .unwrap();
    assert!(why.contains("signature"), "{why}");
    assert_eq!(app.count("tenants").await, 0);
    // The vendor's certificate for this installation activates it.
    let genuine = certificate(&vendor_key(), Some(&app.fingerprint()), app.clock_now());
    let r = app.activate(json!({"certificate": genuine})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
both!(a_self_made_signing_key_is_no_trust_root, |c| {
    let dir = tempfile::tempdir().unwrap().keep();
    let (private, _) = trasealla::licensing::cert::write_keypair(&dir).unwrap();
    c.mode = trasealla::licensing::Mode::SelfHosted;
    c.license_signing_key = Some(private);
});

/// The released binary, started with a public key of the customer's in
/// `TRASEALLA_LICENSE_PUBLIC_KEY`: it checks certificates with the key built
/// into it all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_in_the_environment_is_no_trust_root() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = cert::write_keypair(dir.path()).unwrap();
    let sh = Process::start(&[
        ("TRASEALLA_MODE", "self_hosted".into()),
        (
            "TRASEALLA_LICENSE_PUBLIC_KEY",
            public.to_string_lossy().into_owned(),
        ),
    ]);
    let fingerprint = license_request(&format!(
        "sqlite://{}",
        sh.dir().join("process.db").display()
    ));
    let own = cert::load_signing_key(&private).unwrap();
    let forged = certificate(&own, Some(&fingerprint), Utc::now());
    let r = sh
        .send(
            "POST",
            "/api/tenants/licenses/activate",
            Some(
                json!({"certificate": forged, "company_name": "Customer Corp",
                        "email": "admin@customer.example", "password": PASSWORD}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["error"]["details"]["fields"]["certificate"]
        .as_str()
        .unwrap()
        .contains("signature"));
    let (_, log) = sh.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("TRASEALLA_LICENSE_PUBLIC_KEY is not read")),
        "{log:#?}"
    );
}

async fn an_offline_certificate_activates_only_its_installation(backend: Backend) {
    let v = vendor(backend).await;
    let mine = self_hosted(backend, None).await;
    let other = self_hosted(backend, None).await;
    assert_ne!(mine.fingerprint(), other.fingerprint());
    let d = v
        .issue_for(
            &mine,
            json!({"license_type": "enterprise", "max_users": 20}),
        )
        .await;

    let r = other
        .activate(json!({"certificate": d["certificate"]}))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["code"], "wrong_installation");
    assert_eq!(
        r.body["error"]["details"]["installation"],
        other.fingerprint().as_str()
    );
    let why = r.body["error"]["details"]["fields"]["certificate"]
        .as_str()
        .unwrap();
    assert!(why.contains(&mine.fingerprint()), "{why}");

    // A certificate that names no installation activates none.
    let unbound = certificate(&vendor_key(), None, other.clock_now());
    let r = other.activate(json!({"certificate": unbound})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["code"], "wrong_installation");

    // Nor does the certificate another installation got by claiming a key.
    let key = v.issue(json!({"license_type": "professional"})).await;
    let claimed = v
        .post("/api/tenants/licenses/claim")
        .json(json!({"license_key": key["license_key"], "instance_id": mine.fingerprint()}))
        .send()
        .await
        .ok("claim the key for the first installation");
    let r = other
        .activate(json!({"certificate": claimed.body["data"]["certificate"]}))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["details"]["code"], "wrong_installation");
    assert_eq!(other.count("tenants").await, 0);

    let r = mine
        .activate(json!({"certificate": d["certificate"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}
licensing_test!(an_offline_certificate_activates_only_its_installation);

/// An installation activated with a version 1 certificate (before they named
/// installations) keeps working; one whose stored certificate names another
/// installation (a row copied from elsewhere) stops taking changes.
async fn a_stored_certificate_is_checked_against_the_installation(backend: Backend) {
    let mut sh = self_hosted(backend, None).await;
    let genuine = certificate(&vendor_key(), Some(&sh.fingerprint()), sh.clock_now());
    sh.activate(json!({"certificate": genuine}))
        .await
        .created("activate");
    for (installation, status) in [(None, 200), (Some("ABCD-EFGH-IJKL-MNOP"), 402)] {
        let stored = certificate(&vendor_key(), installation, sh.clock_now());
        sh.exec(
            "UPDATE installation_license SET certificate = $1",
            &[&stored],
        )
        .await;
        sh.restart(|_| {}).await.unwrap();
        let r = write(&sh).await;
        assert_eq!(r.status, status, "{installation:?}: {}", r.body);
        if status == 402 {
            assert_eq!(r.code(), "license_expired");
            assert_eq!(r.headers["x-license-status"], "invalid");
        }
    }
}
licensing_test!(a_stored_certificate_is_checked_against_the_installation);

async fn a_clock_set_back_counts_like_an_expiry(backend: Backend) {
    let (mut sh, _) = activated_offline(backend, json!({"license_type": "professional"})).await;

    sh.advance(Duration::days(10));
    let r = write(&sh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.headers.contains_key("x-license-status"));
    let latest = sh.clock_now();

    // Less than a day back is tolerated (NTP corrections, time-zone slips).
    sh.clock.set(latest - Duration::hours(23));
    let r = write(&sh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.headers.contains_key("x-license-status"));

    // A month back: like an expiry, 14 days of grace counted from now.
    sh.clock.set(latest - Duration::days(30));
    let r = write(&sh).await;
    assert_eq!(r.status, 200, "writes go on during the grace: {}", r.body);
    assert_eq!(r.headers["x-license-status"], "grace");
    assert_eq!(
        r.headers["x-license-grace-ends"],
        (latest - Duration::days(16)).to_rfc3339().as_str()
    );
    let sub = sh
        .get("/api/tenants/subscription")
        .bearer(&owner(&sh).await)
        .send()
        .await;
    assert_eq!(sub.body["data"]["license"]["status"], "grace");
    assert_eq!(
        sub.body["data"]["license"]["clock_set_back_from"],
        "2026-03-11T09:00:00Z"
    );

    sh.advance(Duration::days(10));
    assert_eq!(write(&sh).await.status, 200);
    // Setting it back again does not win the used grace back.
    sh.advance(-Duration::days(5));
    let r = write(&sh).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-license-grace-ends"],
        (sh.clock_now() + Duration::days(4)).to_rfc3339().as_str()
    );
    sh.advance(Duration::days(4));
    let r = write(&sh).await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "license_expired");
    assert_eq!(r.headers["x-license-status"], "expired");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("clock was set back"));
    let r = sh
        .get("/api/tenants/current")
        .bearer(&owner(&sh).await)
        .send()
        .await;
    assert_eq!(r.status, 200, "reads still work");

    // The mark is in the database (kept hourly): a restart does not forget.
    keep_clock(&sh).await;
    sh.restart(|_| {}).await.unwrap();
    assert_eq!(
        write(&sh).await.status,
        402,
        "still set back after a restart"
    );

    // Putting the clock right ends it.
    sh.clock.set(latest + Duration::hours(1));
    let r = write(&sh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.headers.contains_key("x-license-status"));
}
licensing_test!(a_clock_set_back_counts_like_an_expiry);

async fn an_expired_licence_stays_expired_when_the_clock_is_set_back(backend: Backend) {
    let (mut sh, _) = activated_offline(
        backend,
        json!({"license_type": "professional", "expires_in_days": 30}),
    )
    .await;
    let start = sh.clock_now();
    sh.advance(Duration::days(45));
    let r = write(&sh).await;
    assert_eq!(r.status, 402, "{}", r.body);
    // Back to a day the licence was good on, while it runs…
    sh.clock.set(start + Duration::days(10));
    let r = write(&sh).await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "license_expired");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("licence expired"));
    // …or across a restart.
    sh.clock.set(start + Duration::days(45));
    keep_clock(&sh).await;
    sh.clock.set(start + Duration::days(10));
    sh.restart(|_| {}).await.unwrap();
    assert_eq!(write(&sh).await.status, 402);
}
licensing_test!(an_expired_licence_stays_expired_when_the_clock_is_set_back);

async fn the_platform_admin_cannot_lift_a_licensed_installation_past_its_licence(backend: Backend) {
    let (sh, r) = activated_offline(
        backend,
        json!({"license_type": "professional", "max_users": 10,
               "features": ["core_crm", "basic_reports", "workflows"]}),
    )
    .await;
    let tenant = r.body["data"]["tenant"]["id"].as_str().unwrap().to_owned();
    let admin = sh.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let path = format!("/api/tenants/{tenant}");
    let patch = |body: serde_json::Value| sh.patch(&path).bearer(&admin).json(body).send();

    for (body, field) in [
        (json!({"max_users": 50}), "max_users"),
        (json!({"max_users": null}), "max_users"),
        (json!({"plan": "enterprise"}), "plan"),
        (json!({"plan": "enterprise", "max_users": 10}), "plan"),
    ] {
        let r = patch(body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.code(), "validation_failed");
        let why = r.body["error"]["details"]["fields"][field]
            .as_str()
            .unwrap_or_default();
        assert!(why.contains("licence"), "{body}: {}", r.body);
    }
    let sub = |r: &Resp| r.body["data"]["subscription"].clone();
    let now = sh.get(&path).bearer(&admin).send().await.ok("the tenant");
    assert_eq!(sub(&now)["plan"], "professional");
    assert_eq!(sub(&now)["max_users"], 10, "nothing was changed");

    // Within the licence, changes go through…
    let r = patch(json!({"max_users": 8})).await.ok("lower the limit");
    assert_eq!(sub(&r)["max_users"], 8);
    let r = patch(json!({"plan": "starter"})).await.ok("a smaller plan");
    assert_eq!(sub(&r)["max_users"], 5);
    // …and a plan's catalogue limit and features are held to the licence.
    let r = patch(json!({"plan": "professional"}))
        .await
        .ok("back to the licence's plan");
    assert_eq!(sub(&r)["max_users"], 10, "not the catalogue's 25");
    assert_eq!(
        sub(&r)["features"],
        json!(["basic_reports", "core_crm", "workflows"])
    );
}
licensing_test!(the_platform_admin_cannot_lift_a_licensed_installation_past_its_licence);

async fn a_copy_of_the_database_cannot_sign_tokens(app: TestApp) {
    let t = app.register("Acme").await;
    let stored = app
        .stored_text("SELECT value FROM platform_settings WHERE key = 'jwt_secret'")
        .await
        .unwrap();
    assert!(trasealla::secrets::is_sealed(&stored), "{stored}");
    // What a reader of the backup would try: the value as it is, and as hex.
    let mut guesses = vec![stored.clone().into_bytes()];
    guesses.extend(hex::decode(&stored).ok());
    for secret in guesses {
        let forged = trasealla::auth::token::TokenKeys::new(&secret, 3600)
            .issue(
                t.owner_id.parse().unwrap(),
                Some(t.id.parse().unwrap()),
                "admin",
                0,
                app.clock_now(),
            )
            .unwrap()
            .token;
        let r = app.get("/api/tenants/current").bearer(&forged).send().await;
        assert_eq!(r.status, 401, "a token signed with what the database holds");
    }
    let r = app
        .get("/api/tenants/current")
        .bearer(&t.token)
        .send()
        .await;
    assert_eq!(r.status, 200);
}
both!(a_copy_of_the_database_cannot_sign_tokens);

async fn the_licence_key_is_sealed_and_secrets_in_the_clear_are_sealed_on_the_next_start(
    backend: Backend,
) {
    let v = vendor(backend).await;
    let d = v.issue(json!({"license_type": "professional"})).await;
    let key = d["license_key"].as_str().unwrap().to_owned();
    let mut sh = self_hosted(backend, Some(&v)).await;
    let r = sh
        .activate(json!({"license_key": key}))
        .await
        .created("activate online");
    let owner_id: uuid::Uuid = r.body["data"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tenant_id: uuid::Uuid = r.body["data"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    const STORED_KEY: &str = "SELECT license_key FROM installation_license";
    let sealed = sh.stored_text(STORED_KEY).await.unwrap();
    assert!(
        trasealla::secrets::is_sealed(&sealed) && !sealed.contains(&key[10..]),
        "{sealed}"
    );

    // What an earlier version left: both secrets in the clear.
    let old_secret = "ab".repeat(32);
    sh.exec(
        "UPDATE platform_settings SET value = $1 WHERE key = 'jwt_secret'",
        &[&old_secret],
    )
    .await;
    sh.exec("UPDATE installation_license SET license_key = $1", &[&key])
        .await;
    // A token the earlier version signed with that secret.
    let owner = trasealla::auth::token::TokenKeys::new(&hex::decode(&old_secret).unwrap(), 3600)
        .issue(owner_id, Some(tenant_id), "admin", 0, sh.clock_now())
        .unwrap()
        .token;
    sh.restart(|_| {}).await.unwrap();
    let jwt = sh
        .stored_text("SELECT value FROM platform_settings WHERE key = 'jwt_secret'")
        .await
        .unwrap();
    assert!(trasealla::secrets::is_sealed(&jwt) && !jwt.contains(&old_secret));
    let sealed = sh.stored_text(STORED_KEY).await.unwrap();
    assert!(trasealla::secrets::is_sealed(&sealed), "{sealed}");
    // It is the same secret, sealed: tokens issued before go on working…
    let r = sh.get("/api/tenants/current").bearer(&owner).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    // …and the sealed key still serves the revocation check.
    v.revoke(&d).await;
    sh.daily_licence_check().await;
    let r = sh
        .patch("/api/tenants/current")
        .bearer(&owner)
        .json(json!({"industry": "Health"}))
        .send()
        .await;
    assert_eq!(r.code(), "license_revoked", "{}", r.body);

    // Another master key opens neither: the server says so and stops.
    let e = sh
        .restart(|c| c.master_key = Some(crate::support::random_master_key()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("master key"), "{e}");
}
licensing_test!(the_licence_key_is_sealed_and_secrets_in_the_clear_are_sealed_on_the_next_start);

/// With no master key configured, the binary makes one in the account's
/// configuration directory (not beside the database), private, and logs
/// where it is but never what it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_file_is_made_private_and_only_its_path_is_logged() {
    let server = Process::start(&[]);
    let path = server.dir().join("config/trasealla/master.key");
    let key = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let r = server
        .send(
            "POST",
            "/api/tenants/register",
            Some(
                json!({"company_name": "Acme", "email": "owner@acme.example",
                        "password": PASSWORD, "full_name": "Owner"}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, log) = server.stop();
    let log = log.join("\n");
    assert!(log.contains(&path.display().to_string()), "{log}");
    assert!(!log.contains(key.trim()), "the key itself is never logged");
    assert!(!r.text.contains(key.trim()));
}
