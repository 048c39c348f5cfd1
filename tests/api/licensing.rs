//! Licensing: issuing, validating, claiming and activating licences, on a
//! vendor server and on self-hosted servers talking to it over HTTP.

use crate::both;
use crate::support::{
    binary, run_with_input, succeeded, Backend, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD,
};
use chrono::Duration;
use serde_json::{json, Value};
use std::path::PathBuf;
use trasealla::licensing::Mode;

/// The test suite's vendor signing key (tests/keys): debug builds trust its
/// public half, so certificates signed with it verify on the self-hosted
/// servers of the tests.
pub(crate) fn vendor_key_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys/license.key")
}

pub(crate) fn vendor_key() -> ed25519_dalek::SigningKey {
    trasealla::licensing::cert::load_signing_key(&vendor_key_file()).unwrap()
}

/// The key built into this (debug) build: the one certificates verify with.
pub(crate) fn built_in_key() -> ed25519_dalek::VerifyingKey {
    trasealla::licensing::cert::load_public_key(trasealla::licensing::cert::embedded_public_key().0)
        .unwrap()
}

pub(crate) async fn vendor(backend: Backend) -> TestApp {
    let private = vendor_key_file();
    TestApp::spawn_with(backend, move |c| c.license_signing_key = Some(private)).await
}

/// A self-hosted installation activated offline with a licence the vendor
/// issued for it (`licence` as `generate` takes it), and the activation's
/// answer; the owner is admin@customer.example.
pub(crate) async fn activated_offline(
    backend: Backend,
    licence: Value,
) -> (TestApp, crate::support::Resp) {
    let v = vendor(backend).await;
    let sh = self_hosted(backend, None).await;
    let d = v.issue_for(&sh, licence).await;
    let r = sh
        .activate(json!({"certificate": d["certificate"]}))
        .await
        .created("activate with a certificate issued for the installation");
    (sh, r)
}

pub(crate) async fn self_hosted(backend: Backend, server: Option<&TestApp>) -> TestApp {
    let server = server.map(|v| format!("http://{}", v.addr));
    TestApp::spawn_with(backend, move |c| {
        c.mode = Mode::SelfHosted;
        c.license_server = server;
    })
    .await
}

impl TestApp {
    /// Issues a licence as the platform admin; returns its `data`.
    pub(crate) async fn issue(&self, body: Value) -> Value {
        let admin = self.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        let r = self
            .post("/api/tenants/licenses/generate")
            .bearer(&admin)
            .json(body)
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["data"].clone()
    }

    /// Issues a licence for the installation `sh` (offline activation).
    pub(crate) async fn issue_for(&self, sh: &TestApp, mut body: Value) -> Value {
        body["fingerprint"] = json!(sh.fingerprint());
        self.issue(body).await
    }

    /// This installation's fingerprint.
    pub(crate) fn fingerprint(&self) -> String {
        self.state.licensing.fingerprint.as_str().to_owned()
    }

    /// What a self-hosted server does daily: re-checks its licence, asking
    /// the licence server about a revocation.
    pub(crate) async fn daily_licence_check(&self) {
        trasealla::licensing::installation::check(
            &self.state.store,
            &self.state.licensing,
            true,
            self.clock_now(),
        )
        .await
        .unwrap();
    }

    /// Revokes an issued licence (its `data`) as the platform admin.
    pub(crate) async fn revoke(&self, licence: &Value) {
        let admin = self.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        let id = licence["id"].as_str().unwrap();
        self.post(&format!("/api/tenants/licenses/{id}/revoke"))
            .bearer(&admin)
            .send()
            .await
            .ok("revoke the licence at the vendor");
    }

    async fn validate(&self, key: &str, users: Option<i64>) -> crate::support::Resp {
        let mut body = json!({"license_key": key});
        if let Some(n) = users {
            body["current_users"] = json!(n);
        }
        self.post("/api/tenants/licenses/validate")
            .json(body)
            .send()
            .await
    }

    pub(crate) async fn activate(&self, licence: Value) -> crate::support::Resp {
        let mut body = json!({"company_name": "Customer Corp", "email": "admin@customer.example", "password": PASSWORD});
        for (k, v) in licence.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/api/tenants/licenses/activate")
            .json(body)
            .send()
            .await
    }
}

/// Both backends, for tests that start several servers of their own.
#[macro_export]
macro_rules! licensing_test {
    ($name:ident) => {
        mod $name {
            use $crate::support::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_url().is_none() {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                    return;
                }
                super::$name(Backend::Postgres).await
            }
        }
    };
}

async fn generating_without_a_signing_key_says_which_setting_is_missing(app: TestApp) {
    let admin = app.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .post("/api/tenants/licenses/generate")
        .bearer(&admin)
        .json(json!({"license_type": "enterprise", "max_users": 50}))
        .send()
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("TRASEALLA_LICENSE_SIGNING_KEY"));
}
both!(generating_without_a_signing_key_says_which_setting_is_missing);

async fn licences_are_issued_listed_masked_and_revoked(backend: Backend) {
    let v = vendor(backend).await;
    // Issued for an installation (typed loosely, as people read it out).
    let d = v
        .issue(
            json!({"license_type": "enterprise", "max_users": 50, "expires_in_days": 365,
                      "issued_to": "Customer Corp", "fingerprint": "abcd efgh-ijkl-mnop"}),
        )
        .await;
    let key = d["license_key"].as_str().unwrap();
    assert!(key.starts_with("TRAS-ENT-") && key.len() == 26, "{key}");
    assert!(trasealla::licensing::key::LicenseKey::parse(key).is_ok());
    assert_eq!(d["license_type"], "enterprise");
    assert_eq!(d["max_users"], 50);
    assert_eq!(d["expires_at"], "2027-03-01T09:00:00Z");
    assert_eq!(d["fingerprint"], "ABCD-EFGH-IJKL-MNOP");
    assert!(d["features"].as_array().unwrap().contains(&json!("sso")));
    let cert = trasealla::licensing::cert::verify(
        d["certificate"].as_str().unwrap(),
        &vendor_key().verifying_key(),
    )
    .unwrap();
    assert_eq!(cert.max_users, Some(50));
    assert_eq!(cert.issued_to.as_deref(), Some("Customer Corp"));
    assert_eq!(cert.installation.as_deref(), Some("ABCD-EFGH-IJKL-MNOP"));

    // For online activation: no certificate until an installation claims it.
    let starter = v.issue(json!({"license_type": "STA"})).await;
    assert_eq!(starter["max_users"], 5, "the plan's limit by default");
    assert!(starter["expires_at"].is_null(), "perpetual by default");
    assert!(starter["certificate"].is_null() && starter["fingerprint"].is_null());

    let admin = v.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let list = v.get("/api/tenants/licenses").bearer(&admin).send().await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert!(!list.text.contains(key), "the full key never shows again");
    assert!(!list.text.contains(starter["license_key"].as_str().unwrap()));
    assert_eq!(
        list.body["data"][1]["license_key"],
        format!("TRAS-ENT-********-****{}", &key[22..])
    );
    assert_eq!(
        list.body["data"][1]["status"], "activated",
        "it belongs to the installation it was issued for"
    );
    assert_eq!(list.body["data"][1]["instance_id"], "ABCD-EFGH-IJKL-MNOP");
    assert_eq!(list.body["data"][0]["status"], "available");

    let id = d["id"].as_str().unwrap();
    let r = v
        .post(&format!("/api/tenants/licenses/{id}/revoke"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["status"], "revoked");
    let r = v
        .post(&format!("/api/tenants/licenses/{id}/revoke"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(r.status, 409);
    let revoked = v
        .get("/api/tenants/licenses?status=revoked")
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(revoked.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        v.count("platform_audit_log").await,
        3,
        "two issued, one revoked"
    );

    for bad in [
        json!({"license_type": "gold"}),
        json!({"license_type": "pro", "max_users": 0}),
        json!({"license_type": "pro", "expires_in_days": -1}),
        json!({"license_type": "pro", "features": ["teleportation"]}),
        json!({"license_type": "pro", "fingerprint": "ABCD-EFGH-IJKL-MNO1"}),
        json!({"license_type": "pro", "fingerprint": "ABCD-EFGH"}),
    ] {
        let r = v
            .post("/api/tenants/licenses/generate")
            .bearer(&admin)
            .json(bad.clone())
            .send()
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        let field = bad
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "license_type")
            .map_or("license_type", |k| k.as_str());
        assert!(
            r.body["error"]["details"]["fields"][field].is_string(),
            "{bad}: {}",
            r.body
        );
    }
}
licensing_test!(licences_are_issued_listed_masked_and_revoked);

async fn validation_answers_every_code(backend: Backend) {
    let v = vendor(backend).await;
    let good = v
        .issue(json!({"license_type": "professional", "max_users": 10}))
        .await;
    let short = v
        .issue(json!({"license_type": "starter", "expires_in_days": 1}))
        .await;
    let gone = v.issue(json!({"license_type": "enterprise"})).await;
    v.revoke(&gone).await;
    let key = |d: &Value| d["license_key"].as_str().unwrap().to_owned();

    let r = v.validate(&key(&good), Some(10)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["valid"], true);
    assert_eq!(r.body["data"]["code"], "valid");
    assert_eq!(r.body["data"]["license_type"], "professional");
    assert_eq!(r.body["data"]["max_users"], 10);
    let code = |r: &crate::support::Resp| r.body["data"]["code"].as_str().unwrap().to_owned();
    assert_eq!(
        code(&v.validate(&key(&good), Some(11)).await),
        "user_limit_exceeded"
    );
    assert_eq!(code(&v.validate(&key(&gone), None).await), "revoked");
    let unknown = trasealla::licensing::key::LicenseKey::generate(
        trasealla::licensing::key::LicenseType::Enterprise,
    )
    .unwrap();
    assert_eq!(code(&v.validate(unknown.expose(), None).await), "not_found");
    // A typo is caught by the check character.
    let mut typo = key(&good);
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    let r = v.validate(&typo, None).await;
    assert_eq!(code(&r), "malformed");
    assert_eq!(r.body["data"]["valid"], false);
    assert_eq!(code(&v.validate("TRAS-ENT-XYZ", None).await), "malformed");
    assert_eq!(code(&v.validate(&key(&short), None).await), "valid");
    v.advance(Duration::days(2));
    assert_eq!(code(&v.validate(&key(&short), None).await), "expired");
}
licensing_test!(validation_answers_every_code);

async fn validation_is_rate_limited_per_client(app: TestApp) {
    for _ in 0..30 {
        let r = app
            .post("/api/tenants/licenses/validate")
            .header("x-forwarded-for", "10.1.1.1")
            .json(json!({"license_key": "TRAS-ENT-00000000-00000000"}))
            .send()
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app
        .post("/api/tenants/licenses/validate")
        .header("x-forwarded-for", "10.1.1.1")
        .json(json!({"license_key": "TRAS-ENT-00000000-00000000"}))
        .send()
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    let other = app
        .post("/api/tenants/licenses/validate")
        .header("x-forwarded-for", "10.1.1.2")
        .json(json!({"license_key": "TRAS-ENT-00000000-00000000"}))
        .send()
        .await;
    assert_eq!(other.status, 200, "other clients are not affected");
    app.advance(Duration::minutes(1));
    let r = app
        .post("/api/tenants/licenses/validate")
        .header("x-forwarded-for", "10.1.1.1")
        .json(json!({"license_key": "TRAS-ENT-00000000-00000000"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "the next window is open");
}
both!(validation_is_rate_limited_per_client, |c| c.trust_proxy =
    true);

async fn a_key_activates_into_a_tenant_once(backend: Backend) {
    let v = vendor(backend).await;
    let d = v
        .issue(json!({"license_type": "enterprise", "max_users": 50, "expires_in_days": 365}))
        .await;
    let r = v.activate(json!({"license_key": d["license_key"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["tenant"]["status"], "active");
    assert_eq!(data["subscription"]["plan"], "enterprise");
    assert_eq!(data["subscription"]["max_users"], 50);
    assert_eq!(data["user"]["role"], "admin");
    assert_eq!(data["user"]["is_owner"], true);
    let token = data["token"].as_str().unwrap();
    assert_eq!(
        v.get("/api/tenants/current")
            .bearer(token)
            .send()
            .await
            .status,
        200
    );
    v.login_ok("admin@customer.example", PASSWORD).await;

    let again = v
        .activate(json!({"license_key": d["license_key"], "email": "second@customer.example", "company_name": "Second"}))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.code(), "license_already_activated");
    assert_eq!(v.count("tenants").await, 1);
}
licensing_test!(a_key_activates_into_a_tenant_once);

async fn unusable_keys_do_not_activate(backend: Backend) {
    let v = vendor(backend).await;
    let revoked = v.issue(json!({"license_type": "pro"})).await;
    let expiring = v
        .issue(json!({"license_type": "pro", "expires_in_days": 1}))
        .await;
    v.revoke(&revoked).await;
    v.advance(Duration::days(2));
    let unknown = trasealla::licensing::key::LicenseKey::generate(
        trasealla::licensing::key::LicenseType::Professional,
    )
    .unwrap();
    for (key, code) in [
        (revoked["license_key"].as_str().unwrap(), "revoked"),
        (expiring["license_key"].as_str().unwrap(), "expired"),
        (unknown.expose(), "not_found"),
        ("TRAS-PRO-12345678-ABCDEFGH", "malformed"),
    ] {
        let r = v.activate(json!({"license_key": key})).await;
        assert_eq!(r.status, 422, "{code}: {}", r.body);
        assert_eq!(r.body["error"]["details"]["code"], code);
    }
    assert_eq!(v.count("tenants").await, 0);
}
licensing_test!(unusable_keys_do_not_activate);

async fn self_hosted_activates_online_through_the_vendor(backend: Backend) {
    let v = vendor(backend).await;
    let d = v
        .issue(json!({"license_type": "professional", "max_users": 10, "expires_in_days": 365}))
        .await;
    let sh = self_hosted(backend, Some(&v)).await;

    let r = sh
        .post("/api/tenants/register")
        .json(json!({"company_name": "X", "email": "x@x.example", "password": PASSWORD, "full_name": "X"}))
        .send()
        .await;
    assert_eq!(r.status, 404, "no public registration when self-hosted");

    let r = sh.activate(json!({"license_key": d["license_key"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["subscription"]["plan"], "professional");
    assert_eq!(r.body["data"]["subscription"]["max_users"], 10);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    let sub = sh
        .get("/api/tenants/subscription")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(sub.body["data"]["license"]["status"], "valid");
    assert_eq!(
        sub.body["data"]["license"]["installation"],
        sh.fingerprint().as_str(),
        "the certificate it got names this installation"
    );

    // The vendor marked the key used by that installation and made no tenant.
    assert_eq!(v.count("tenants").await, 0);
    let admin = v.login_ok(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let list = v.get("/api/tenants/licenses").bearer(&admin).send().await;
    assert_eq!(list.body["data"][0]["status"], "activated");
    let instance = list.body["data"][0]["instance_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        instance,
        sh.fingerprint(),
        "installations claim by fingerprint"
    );

    // The same installation may claim again; no other one may.
    let claim = |id: &str| {
        v.post("/api/tenants/licenses/claim")
            .json(json!({"license_key": d["license_key"], "instance_id": id}))
            .send()
    };
    let again = claim(&instance).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let cert = trasealla::licensing::cert::verify(
        again.body["data"]["certificate"].as_str().unwrap(),
        &built_in_key(),
    )
    .unwrap();
    assert_eq!(cert.installation.as_deref(), Some(instance.as_str()));
    assert_eq!(cert.max_users, Some(10));
    let same = claim(&instance).await;
    assert_eq!(
        same.body["data"]["certificate"], again.body["data"]["certificate"],
        "the certificate is kept, not signed anew"
    );
    let other = claim("another-installation").await;
    assert_eq!(other.status, 409);
    assert_eq!(other.code(), "license_already_activated");

    // A second activation of the same installation is refused.
    let r = sh
        .activate(json!({"license_key": d["license_key"], "email": "two@customer.example"}))
        .await;
    assert_eq!(r.status, 409);
    // The installation's tenant works like any other.
    sh.login_ok("admin@customer.example", PASSWORD).await;
}
licensing_test!(self_hosted_activates_online_through_the_vendor);

async fn self_hosted_activates_offline_from_the_certificate(backend: Backend) {
    let v = vendor(backend).await;
    let sh = self_hosted(backend, None).await;
    let d = v
        .issue_for(&sh, json!({"license_type": "enterprise", "max_users": 25}))
        .await;
    let server = v.addr;
    drop(v); // the vendor is gone
    let with_key = self_hosted_at(backend, format!("http://{server}")).await;
    let r = with_key
        .activate(json!({"license_key": d["license_key"]}))
        .await;
    assert_eq!(r.status, 503, "the vendor cannot be reached: {}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("certificate"));

    let r = sh.activate(json!({"certificate": d["certificate"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["subscription"]["plan"], "enterprise");
    assert_eq!(r.body["data"]["subscription"]["max_users"], 25);
}
licensing_test!(self_hosted_activates_offline_from_the_certificate);

async fn altered_or_foreign_certificates_are_refused(backend: Backend) {
    let v = vendor(backend).await;
    let sh = self_hosted(backend, None).await;
    let d = v
        .issue_for(&sh, json!({"license_type": "enterprise", "max_users": 5}))
        .await;
    let genuine = d["certificate"].as_str().unwrap().to_owned();

    // One changed byte in the payload (max_users 5 → 9 would need exactly this).
    let mut altered = genuine.clone().into_bytes();
    let i = 20;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    // Signed by someone else's key.
    let other = trasealla::licensing::cert::generate_signing_key().unwrap();
    let cert = trasealla::licensing::cert::verify(&genuine, &built_in_key()).unwrap();
    let forged = trasealla::licensing::cert::sign(
        &trasealla::licensing::cert::Certificate {
            max_users: None,
            ..cert
        },
        &other,
    );
    for bad in [altered, forged, "TRASLIC1.not.base64!".to_owned()] {
        let r = sh.activate(json!({"certificate": bad})).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body["error"]["details"]["fields"]["certificate"].is_string());
    }
    assert_eq!(sh.count("tenants").await, 0);
    let r = sh.activate(json!({"certificate": genuine})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
licensing_test!(altered_or_foreign_certificates_are_refused);

async fn a_self_hosted_tenant_stops_at_max_users(backend: Backend) {
    let v = vendor(backend).await;
    let sh = self_hosted(backend, None).await;
    let d = v
        .issue_for(&sh, json!({"license_type": "starter", "max_users": 2}))
        .await;
    let r = sh
        .activate(json!({"certificate": d["certificate"]}))
        .await
        .created("activate the two-user licence offline");
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        sh.create_user(&token, "two@customer.example").await.status,
        201
    );
    let r = sh.create_user(&token, "three@customer.example").await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "plan_limit_reached");
}
licensing_test!(a_self_hosted_tenant_stops_at_max_users);

async fn an_expired_licence_has_a_grace_period_then_stops_writes(backend: Backend) {
    let (sh, _) = activated_offline(
        backend,
        json!({"license_type": "professional", "expires_in_days": 30}),
    )
    .await;
    let token = || sh.login_ok("admin@customer.example", PASSWORD);
    let write = |t: String| {
        let sh = &sh;
        async move {
            sh.patch("/api/tenants/current")
                .bearer(&t)
                .json(json!({"industry": "Health"}))
                .send()
                .await
        }
    };

    sh.advance(Duration::days(31));
    let t = token().await;
    let r = write(t.clone()).await;
    assert_eq!(
        r.status, 200,
        "writes go on during the grace period: {}",
        r.body
    );
    assert_eq!(r.headers["x-license-status"], "grace");
    assert_eq!(
        r.headers["x-license-grace-ends"],
        "2026-04-14T09:00:00+00:00"
    );
    let sub = sh.get("/api/tenants/subscription").bearer(&t).send().await;
    assert_eq!(sub.body["data"]["license"]["status"], "grace");

    sh.advance(Duration::days(14));
    let t = token().await;
    let r = write(t.clone()).await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "license_expired");
    assert_eq!(r.headers["x-license-status"], "expired");
    let r = sh.get("/api/tenants/current").bearer(&t).send().await;
    assert_eq!(r.status, 200, "reads still work");
}
licensing_test!(an_expired_licence_has_a_grace_period_then_stops_writes);

async fn the_periodic_check_picks_up_a_revocation(backend: Backend) {
    let v = vendor(backend).await;
    let d = v.issue(json!({"license_type": "professional"})).await;
    let sh = self_hosted(backend, Some(&v)).await;
    let r = sh.activate(json!({"license_key": d["license_key"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    v.revoke(&d).await;

    let write = || {
        sh.patch("/api/tenants/current")
            .bearer(&token)
            .json(json!({"industry": "Health"}))
            .send()
    };
    assert_eq!(write().await.status, 200, "not known until the next check");
    sh.daily_licence_check().await;
    let r = write().await;
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.code(), "license_revoked");
}
licensing_test!(the_periodic_check_picks_up_a_revocation);

/// `trasealla license request` on the database `url`: the installation's
/// fingerprint.
pub(crate) fn license_request(url: &str) -> String {
    succeeded(
        binary()
            .args(["license", "request"])
            .env("DATABASE_URL", url)
            .output()
            .unwrap(),
    )
    .trim()
    .to_owned()
}

#[test]
fn keygen_request_and_offline_activation_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    succeeded(
        binary()
            .args(["license", "keygen", "--out"])
            .arg(dir.path().join("keys"))
            .output()
            .unwrap(),
    );
    let private = dir.path().join("keys/license.key");
    let public = dir.path().join("keys/license.pub");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());

    // The customer prints the installation's fingerprint…
    let fingerprint = license_request(&db("sh.db"));
    assert!(
        trasealla::licensing::Fingerprint::parse(&fingerprint).is_ok(),
        "{fingerprint}"
    );
    assert_eq!(license_request(&db("sh.db")), fingerprint, "stable");
    assert_ne!(
        license_request(&db("other.db")),
        fingerprint,
        "per installation"
    );

    // …the vendor signs a certificate for it…
    let certificate = |key: &ed25519_dalek::SigningKey, installation: &str| {
        let text = trasealla::licensing::cert::sign(
            &trasealla::licensing::cert::Certificate {
                v: 2,
                key_id: uuid::Uuid::now_v7(),
                license_type: "enterprise".into(),
                max_users: Some(50),
                features: vec!["core_crm".into()],
                issued_at: chrono::Utc::now(),
                expires_at: None,
                issued_to: Some("Hospital".into()),
                installation: Some(installation.to_owned()),
            },
            key,
        );
        let file = dir
            .path()
            .join(format!("licence-{}.txt", uuid::Uuid::now_v7()));
        std::fs::write(&file, text).unwrap();
        file
    };
    // …and the customer activates offline.
    let activate = |url: &str, cert: &std::path::Path, env: &[(&str, &std::path::Path)]| {
        let mut cmd = binary();
        cmd.args([
            "license",
            "activate",
            "--company-name",
            "Hospital",
            "--email",
            "it@hospital.example",
            "--password-stdin",
            "--certificate",
        ])
        .arg(cert)
        .env("DATABASE_URL", url)
        .env("TRASEALLA_MODE", "self_hosted")
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .envs(env.iter().copied());
        run_with_input(&mut cmd, b"HospitalPass123\n")
    };
    let says = |out: &std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(what), "{err}");
    };
    // A key of the customer's own making is not trusted, whatever public
    // key the environment names.
    let own = trasealla::licensing::cert::load_signing_key(&private).unwrap();
    let out = activate(
        &db("sh.db"),
        &certificate(&own, &fingerprint),
        &[("TRASEALLA_LICENSE_PUBLIC_KEY", &public)],
    );
    says(&out, "signature");
    // The vendor's certificate activates the installation it names only.
    let genuine = certificate(&vendor_key(), &fingerprint);
    says(
        &activate(&db("other.db"), &genuine, &[]),
        "issued for installation",
    );
    let out = succeeded(activate(&db("sh.db"), &genuine, &[]));
    assert!(out.contains("plan enterprise"), "{out}");
}

/// The vendor as its own process: a self-hosted server activates online
/// against it; once it is stopped, another activates offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_and_self_hosted_servers_as_separate_processes() {
    let vendor = crate::support::Process::start(&[
        (
            "TRASEALLA_LICENSE_SIGNING_KEY",
            vendor_key_file().to_string_lossy().into_owned(),
        ),
        ("TRASEALLA_PLATFORM_ADMIN_USERNAME", "vendor-ops".into()),
        ("TRASEALLA_PLATFORM_ADMIN_PASSWORD", "VendorOps123".into()),
    ]);
    let login = vendor
        .send(
            "POST",
            "/api/auth/login",
            Some(json!({"username": "vendor-ops", "password": "VendorOps123"})),
            None,
        )
        .await
        .ok("log in to the vendor process as its admin");
    let admin = login.body["data"]["token"].as_str().unwrap().to_owned();
    let offline = self_hosted(Backend::Sqlite, None).await;
    let mut issued = Vec::new();
    for fingerprint in [None, Some(offline.fingerprint())] {
        let r = vendor
            .send(
                "POST",
                "/api/tenants/licenses/generate",
                Some(json!({"license_type": "enterprise", "max_users": 20,
                            "expires_in_days": 365, "fingerprint": fingerprint})),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        issued.push(r.body["data"].clone());
    }

    let online = self_hosted_at(Backend::Sqlite, format!("http://127.0.0.1:{}", vendor.port)).await;
    let r = online
        .activate(json!({"license_key": issued[0]["license_key"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let (exit, _) = vendor.stop();
    assert!(exit.success());
    let r = offline
        .activate(json!({"certificate": issued[1]["certificate"]}))
        .await;
    assert_eq!(r.status, 201, "offline, the vendor stopped: {}", r.body);
}

pub(crate) async fn self_hosted_at(backend: Backend, server: String) -> TestApp {
    TestApp::spawn_with(backend, move |c| {
        c.mode = Mode::SelfHosted;
        c.license_server = Some(server);
    })
    .await
}

/// A malformed key is answered without a database look-up: it still is
/// when the licence table is gone.
async fn a_malformed_key_never_reaches_the_database(app: TestApp) {
    let (admin_url, db) = app.postgres_database().unwrap();
    let url = crate::support::with_database(admin_url, db);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("DROP TABLE license_keys CASCADE")
        .await
        .unwrap();
    for typo in ["TRAS-ENT-1A2B3C4D-EFGH5678", "TRAS-ENT-1A2B", "not a key"] {
        let r = app.validate(typo, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["code"], "malformed");
    }
}
crate::postgres_only!(a_malformed_key_never_reaches_the_database);

/// A TLS front for `backend`: what a vendor's licence server looks like on
/// the Internet. Returns its port and the PEM of its self-signed CA.
async fn tls_front(backend: std::net::SocketAddr) -> (u16, String) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = ck.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                }
            });
        }
    });
    (port, pem)
}

async fn online_activation_works_over_https(backend: Backend) {
    let v = vendor(backend).await;
    let d = v.issue(json!({"license_type": "professional"})).await;
    let (port, ca_pem) = tls_front(v.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("vendor-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let url = format!("https://localhost:{port}");

    // Not trusting the vendor's certificate, the server refuses to talk,
    // and says why.
    let untrusting = self_hosted_at(backend, url.clone()).await;
    let r = untrusting
        .activate(json!({"license_key": d["license_key"]}))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid peer certificate"),
        "{}",
        r.body
    );

    let trusting = TestApp::spawn_with(backend, move |c| {
        c.mode = Mode::SelfHosted;
        c.license_server = Some(url);
        c.outbound_ca = Some(ca);
    })
    .await;
    let r = trusting
        .activate(json!({"license_key": d["license_key"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}
licensing_test!(online_activation_works_over_https);
