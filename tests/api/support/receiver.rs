//! A webhook receiver for the tests: `tests/webhooks/receiver.py` on a
//! loopback port, started once per test process, whose signature check is
//! the public Standard Webhooks library (`standardwebhooks` from PyPI),
//! installed with pip into `<target>/pytools` when `python3` lacks it.
//!
//! ```ignore
//! let r = crate::support::webhook_receiver();
//! let name = r.endpoint("acme");            // a name of the test's own
//! r.configure(&name, Some(&secret), 200).await;
//! let got = r.wait_for(&name, 3).await;     // each verified or not, in order
//! ```

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The `standardwebhooks` the suite installs when `python3` has none.
pub const STANDARDWEBHOOKS_VERSION: &str = "1.1.0";

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py");
const NEED: &str =
    "the webhook tests need Python 3 with standardwebhooks: pip install standardwebhooks";

pub fn webhook_receiver() -> &'static Receiver {
    static R: OnceLock<Receiver> = OnceLock::new();
    R.get_or_init(Receiver::start)
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The public library accepted its signature (and timestamp).
    pub verified: bool,
    pub error: Option<String>,
    pub headers: Value,
    pub body: Value,
}

pub struct Receiver {
    port: u16,
    _child: Mutex<Child>,
    _stdin: ChildStdin,
}

impl Receiver {
    /// A fresh endpoint name (tests share the receiver).
    pub fn endpoint(&self, hint: &str) -> String {
        format!("{hint}-{}", uuid::Uuid::now_v7().simple())
    }

    /// The URL deliveries for `name` go to.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/{name}", self.port)
    }

    /// What `name` verifies with, and the status it answers.
    pub async fn configure(&self, name: &str, secret: Option<&str>, status: u16) {
        let mut body = json!({ "status": status });
        if let Some(s) = secret {
            body["secret"] = json!(s);
        }
        self.call("POST", &format!("/control/{name}"), Some(body))
            .await;
    }

    /// What `name` received so far.
    pub async fn received(&self, name: &str) -> Vec<Received> {
        let list = self.call("GET", &format!("/received/{name}"), None).await;
        list.as_array()
            .into_iter()
            .flatten()
            .map(|r| Received {
                verified: r["verified"].as_bool().unwrap_or(false),
                error: r["error"].as_str().map(str::to_owned),
                headers: r["headers"].clone(),
                body: r["body"].clone(),
            })
            .collect()
    }

    /// Waits (15 s at most) until `name` has received `n` deliveries.
    pub async fn wait_for(&self, name: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received(name).await;
            if got.len() >= n || Instant::now() >= deadline {
                assert!(
                    got.len() >= n,
                    "{name}: expected {n} deliveries, got {got:?}"
                );
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("the receiver answers");
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    fn start() -> Receiver {
        let site =
            super::mail::pytools_dir().join(format!("standardwebhooks-{STANDARDWEBHOOKS_VERSION}"));
        let pythonpath = pythonpath(&site);
        let imports = || {
            Command::new("python3")
                .args(["-c", "import standardwebhooks"])
                .env("PYTHONPATH", &pythonpath)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !imports() {
            if let Err(why) = super::mail::pip_install(
                &site,
                &format!("standardwebhooks=={STANDARDWEBHOOKS_VERSION}"),
            ) {
                panic!("{NEED} (installing it into {site:?} failed: {why})");
            }
            assert!(imports(), "{NEED} (python3 cannot import it from {site:?})");
        }
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .env("PYTHONPATH", &pythonpath)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{NEED} (starting python3: {e})"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            other => panic!("the webhook receiver did not start ({other:?}); {NEED}"),
        };
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {line:?}, not PORT <n>"));
        Receiver {
            port,
            _child: Mutex::new(child),
            _stdin: stdin,
        }
    }
}

fn pythonpath(site: &Path) -> std::ffi::OsString {
    let mut paths = vec![site.to_path_buf()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).expect("a PYTHONPATH")
}
