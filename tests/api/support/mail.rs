//! A real SMTP server for the tests: `tests/mail/sink.py` (aiosmtpd) on a
//! loopback port, started once per test process, filing what it accepts into
//! a maildir that the tests read back and parse.
//!
//! ```ignore
//! let sink = crate::support::mail_sink();
//! config.smtp_url = Some(sink.smtp_url());
//! let mails = sink.wait_for("owner3.acme@example.com", 2).await;
//! assert_eq!(mails[0].subject, "Welcome");
//! ```
//!
//! One sink serves every test of the process, so each test sends to
//! addresses of its own and asks for those. `x@refused.test` is refused at
//! RCPT (550) and any message to `x@tempfail.test` at DATA (451).

use mail_parser::MimeHeaders;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The aiosmtpd the suite installs when `python3` has none.
pub const AIOSMTPD_VERSION: &str = "1.4.6";

/// How long [`MailSink::wait_for`] waits, and how often it looks.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

const SINK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/sink.py");
const NEED: &str = "the e-mail tests need Python 3 with aiosmtpd: pip install aiosmtpd";

/// The process's SMTP sink, started on first use. Panics (with what to
/// install) when Python 3 with aiosmtpd can be neither found nor installed.
pub fn mail_sink() -> &'static MailSink {
    static SINK: OnceLock<MailSink> = OnceLock::new();
    SINK.get_or_init(MailSink::start)
}

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Order of arrival at the sink, from 1.
    pub seq: u64,
    /// The envelope: MAIL FROM and the accepted RCPT TO addresses.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// Decoded (RFC 2047) Subject; empty when there is none.
    pub subject: String,
    /// The address of the From header, and its display name.
    pub from: String,
    pub from_name: Option<String>,
    /// The addresses of the To and Cc headers.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub message_id: Option<String>,
    /// The Date header in RFC 3339.
    pub date: Option<String>,
    /// The top-level MIME type, such as `multipart/alternative` (parameters
    /// in `header("Content-Type")`).
    pub content_type: String,
    /// The decoded text/plain body; empty when the message has none.
    pub text: String,
    /// The decoded text/html body.
    pub html: Option<String>,
    /// The message as filed (the sink's X-Sink-Seq, X-Peer, X-MailFrom and
    /// X-RcptTo first).
    pub raw: String,
    headers: Vec<(String, String)>,
}

impl Mail {
    /// The first header called `name` (any case), unfolded and trimmed, not
    /// decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every header called `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every http(s) link in the text part, in order: from `http://` or
    /// `https://` to whitespace, `<`, `>`, `(`, `)` or `"`, without a
    /// sentence's trailing `.`, `,`, `;`, `:`, `!` or `?`.
    pub fn links(&self) -> Vec<String> {
        static LINK: LazyLock<regex::Regex> =
            LazyLock::new(|| regex::Regex::new(r#"https?://[^\s<>()"]+"#).unwrap());
        LINK.find_iter(&self.text)
            .map(|m| {
                m.as_str()
                    .trim_end_matches(['.', ',', ';', ':', '!', '?'])
                    .to_string()
            })
            .collect()
    }

    /// Whether `addr` (any case) was an envelope recipient (the To and Cc
    /// headers when the message has no envelope, as a file dropped in by
    /// hand).
    pub fn is_for(&self, addr: &str) -> bool {
        let same = |a: &String| a.eq_ignore_ascii_case(addr);
        if self.rcpt_to.is_empty() {
            self.to.iter().any(same) || self.cc.iter().any(same)
        } else {
            self.rcpt_to.iter().any(same)
        }
    }

    /// Parses a message as the sink files it.
    pub fn parse(raw: &[u8]) -> Option<Mail> {
        let message = mail_parser::MessageParser::default().parse(raw)?;
        let headers: Vec<(String, String)> = message
            .headers_raw()
            .map(|(name, value)| (name.to_string(), unfold(value)))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let addresses = |address: Option<&mail_parser::Address>| -> Vec<String> {
            address
                .map(|a| {
                    a.iter()
                        .filter_map(|addr| addr.address().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let from = message.from().and_then(|a| a.first());
        let text = message
            .text_part(0)
            .and_then(|part| match &part.body {
                mail_parser::PartType::Text(text) => Some(text.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        let html = message.html_part(0).and_then(|part| match &part.body {
            mail_parser::PartType::Html(html) => Some(html.to_string()),
            _ => None,
        });
        let content_type = message
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "text/plain".into())
            .to_ascii_lowercase();
        Some(Mail {
            seq: header("X-Sink-Seq")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            mail_from: header("X-MailFrom").unwrap_or_default(),
            rcpt_to: header("X-RcptTo")
                .map(|list| {
                    list.split(',')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            subject: message.subject().unwrap_or_default().to_string(),
            from: from
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_string(),
            from_name: from.and_then(|a| a.name()).map(str::to_string),
            to: addresses(message.to()),
            cc: addresses(message.cc()),
            message_id: message.message_id().map(str::to_string),
            date: message.date().map(|d| d.to_rfc3339()),
            content_type,
            text,
            html,
            raw: String::from_utf8_lossy(raw).into_owned(),
            headers,
        })
    }
}

impl std::fmt::Display for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "#{} from <{}> to [{}]: {:?}",
            self.seq,
            self.mail_from,
            self.rcpt_to.join(", "),
            self.subject
        )
    }
}

/// A header's raw value without its line folding.
fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_string()
}

/// The running sink: `tests/mail/sink.py` on 127.0.0.1.
pub struct MailSink {
    port: u16,
    maildir: PathBuf,
    child: Mutex<Child>,
    /// Held for the process's life: the sink exits at its end of file, so
    /// it goes when the test process does.
    _stdin: ChildStdin,
    read: Mutex<Read>,
}

#[derive(Default)]
struct Read {
    files: HashSet<OsString>,
    mails: Vec<Mail>,
}

impl MailSink {
    /// Where the app sends: `smtp://127.0.0.1:PORT?tls=none`.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The maildir the sink files into.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Every message to `addr` (an envelope recipient, any case) that has
    /// arrived so far, in order of arrival; no waiting.
    pub fn all_for(&self, addr: &str) -> Vec<Mail> {
        self.all()
            .into_iter()
            .filter(|mail| mail.is_for(addr))
            .collect()
    }

    /// Everything the sink has accepted so far, in order of arrival.
    pub fn all(&self) -> Vec<Mail> {
        let mut read = self.read.lock().unwrap();
        let mut fresh = false;
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if read.files.contains(&name) {
                    continue;
                }
                // Files appear whole (written in tmp/, renamed into new/).
                let raw = std::fs::read(entry.path()).expect("read a message from the maildir");
                let mail = Mail::parse(&raw).unwrap_or_else(|| {
                    panic!(
                        "the sink filed a message that does not parse: {}",
                        String::from_utf8_lossy(&raw)
                    )
                });
                read.files.insert(name);
                read.mails.push(mail);
                fresh = true;
            }
        }
        if fresh {
            read.mails.sort_by_key(|mail| mail.seq);
        }
        read.mails.clone()
    }

    /// Waits (up to 15 s, looking every 50 ms) until at least `count`
    /// messages to `addr` have arrived, and returns all of them in order of
    /// arrival. Panics otherwise, listing what did arrive.
    pub async fn wait_for(&self, addr: &str, count: usize) -> Vec<Mail> {
        self.wait_for_within(addr, count, WAIT).await
    }

    /// [`MailSink::wait_for`] with a deadline of its own.
    pub async fn wait_for_within(&self, addr: &str, count: usize, timeout: Duration) -> Vec<Mail> {
        // Real time: a test on tokio's paused clock still waits for the
        // sink, which does not run on it.
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.all_for(addr);
            if mails.len() >= count {
                return mails;
            }
            if Instant::now() >= deadline {
                let everything = self.all();
                let listing: String = everything.iter().map(|m| format!("\n  {m}")).collect();
                let state = match self.child.lock().unwrap().try_wait() {
                    Ok(Some(status)) => format!(" (the sink has exited: {status})"),
                    _ => String::new(),
                };
                panic!(
                    "expected {count} message(s) to {addr} within {timeout:?}, {} arrived{state}; \
                     the sink received {} in all:{}",
                    mails.len(),
                    everything.len(),
                    if listing.is_empty() {
                        " nothing"
                    } else {
                        &listing
                    },
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn start() -> MailSink {
        let pythonpath = python_with_aiosmtpd();
        let maildir = tempfile::Builder::new()
            .prefix("trasealla-mail-")
            .tempdir()
            .expect("a temporary directory for the maildir")
            .keep();
        let mut child = Command::new("python3")
            .arg(SINK_SCRIPT)
            .arg("0")
            .arg(&maildir)
            .arg("--remove-on-exit")
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
            // Drains the rest, so the sink never writes into a closed pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            Ok(other) => {
                let status = child.wait().ok();
                panic!("the SMTP sink did not start ({other:?}, exit {status:?}); {NEED}")
            }
            Err(_) => panic!("the SMTP sink did not say its port within 30 s"),
        };
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink said {line:?}, not PORT <n>"));
        MailSink {
            port,
            maildir,
            child: Mutex::new(child),
            _stdin: stdin,
            read: Mutex::default(),
        }
    }
}

/// The PYTHONPATH under which `python3` imports aiosmtpd: the suite's own
/// copy in `<target>/pytools/aiosmtpd-<version>`, installed there with pip
/// when `python3` has none.
fn python_with_aiosmtpd() -> OsString {
    let site = pytools_dir().join(format!("aiosmtpd-{AIOSMTPD_VERSION}"));
    let mut paths = vec![site.clone()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    let pythonpath = std::env::join_paths(paths).expect("a PYTHONPATH");
    let imports = || {
        Command::new("python3")
            .args(["-c", "import aiosmtpd.smtp"])
            .env("PYTHONPATH", &pythonpath)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return pythonpath;
    }
    let installed = pip_install(&site, &format!("aiosmtpd=={AIOSMTPD_VERSION}"));
    if let Err(why) = &installed {
        panic!("{NEED} (installing aiosmtpd=={AIOSMTPD_VERSION} into {site:?} failed: {why})");
    }
    if !imports() {
        panic!("{NEED} (python3 cannot import aiosmtpd from {site:?})");
    }
    pythonpath
}

/// `$CARGO_TARGET_DIR/pytools`, else `target/pytools` in the package.
pub fn pytools_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest.join(dir))
        .unwrap_or_else(|| manifest.join("target"));
    target.join("pytools")
}

/// pip installs `requirement` into a directory of this process's own and
/// renames it into `site`, so test processes installing at once never see
/// half an install; the first rename wins and the others drop their copy.
pub fn pip_install(site: &Path, requirement: &str) -> Result<(), String> {
    let parent = site.parent().unwrap();
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {parent:?}: {e}"))?;
    let staging = parent.join(format!(
        ".staging-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&staging)
        .arg(requirement)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PIP_NO_INPUT", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running python3 -m pip: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "pip exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if std::fs::rename(&staging, site).is_err() {
        // Another process got there first; its copy is whole.
        let _ = std::fs::remove_dir_all(&staging);
        if !site.is_dir() {
            return Err(format!("could not move the install into {site:?}"));
        }
    }
    Ok(())
}
