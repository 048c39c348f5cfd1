//! SMTP delivery with lettre over rustls. The server's URL names the TLS
//! mode: `smtp://` uses STARTTLS (required), `smtps://` TLS from the first
//! byte, and `?tls=none` plain text for a relay on loopback.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How to reach the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which must succeed.
    StartTls,
    /// STARTTLS when offered, else plain.
    Opportunistic,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
    /// No TLS (`?tls=none`): only for a relay on this machine or network.
    None,
}

/// Checks a `TRASEALLA_SMTP_URL` at start-up (the error never repeats the
/// password).
pub fn parse_url_setting(text: &str) -> Result<String, String> {
    SmtpUrl::parse(text).map(|_| text.to_owned())
}

impl SmtpUrl {
    pub fn parse(text: &str) -> Result<SmtpUrl, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("must start with smtp:// or smtps://")?;
        let wrapper = match scheme {
            "smtp" => false,
            "smtps" => true,
            _ => return Err("must start with smtp:// or smtps://".into()),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.trim_end_matches('/');
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| "has a port that is not a number")?;
                (h, Some(port))
            }
            _ => (hostport, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err("must name a host: smtp://host:port".into());
        }
        let mut tls = if wrapper {
            TlsMode::Wrapper
        } else {
            TlsMode::StartTls
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some(("tls", "none")) if !wrapper => tls = TlsMode::None,
                Some(("tls", "starttls" | "required")) if !wrapper => tls = TlsMode::StartTls,
                Some(("tls", "opportunistic")) if !wrapper => tls = TlsMode::Opportunistic,
                Some(("tls", _)) => {
                    return Err(
                        "takes tls=starttls, tls=opportunistic or tls=none (smtp:// only)".into(),
                    )
                }
                _ => return Err("takes only the tls parameter".into()),
            }
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(decode(user)?), Some(decode(pass)?)),
                None => (Some(decode(u)?), None),
            },
        };
        Ok(SmtpUrl {
            host: host.to_owned(),
            port: port.unwrap_or(if wrapper { 465 } else { 587 }),
            tls,
            user,
            password,
        })
    }
}

/// Percent-decoding of a URL's user or password.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("has a bad %-escape in its user or password")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has a user or password that is not UTF-8".to_owned())
}

/// Sends messages through the configured SMTP server, reusing connections.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where mail goes, for the start-up log (no credentials).
    pub describe: String,
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let url = SmtpUrl::parse(url).map_err(|e| anyhow::anyhow!("TRASEALLA_SMTP_URL {e}"))?;
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("TRASEALLA_MAIL_FROM is not a mailbox: {e}"))?;
        let params = || TlsParameters::new(url.host.clone());
        let tls = match url.tls {
            TlsMode::StartTls => Tls::Required(params()?),
            TlsMode::Opportunistic => Tls::Opportunistic(params()?),
            TlsMode::Wrapper => Tls::Wrapper(params()?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some(user) = &url.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                url.password.clone().unwrap_or_default(),
            ));
        }
        let mode = match url.tls {
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Opportunistic => "STARTTLS when offered",
            TlsMode::Wrapper => "TLS",
            TlsMode::None => "no TLS",
        };
        Ok(Mailer {
            transport: builder.build(),
            from,
            describe: format!("{}:{} ({mode})", url.host, url.port),
        })
    }

    /// Sends one message with a text and an HTML part. The error is the
    /// mail server's answer (or why it could not be reached).
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the recipient is not an address: {e}"))?;
        let message = Message::builder()
            .message_id(None)
            .date_now()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
            .map_err(|e| format!("could not build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_tls_and_credentials() {
        let u = SmtpUrl::parse("smtp://mailer:p%40ss@mail.example.com:587").unwrap();
        assert_eq!(
            u,
            SmtpUrl {
                host: "mail.example.com".into(),
                port: 587,
                tls: TlsMode::StartTls,
                user: Some("mailer".into()),
                password: Some("p@ss".into()),
            }
        );
        let u = SmtpUrl::parse("smtps://a:b@mail.example.com").unwrap();
        assert_eq!((u.port, u.tls), (465, TlsMode::Wrapper));
        let u = SmtpUrl::parse("smtp://127.0.0.1:1025?tls=none").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("127.0.0.1", 1025, TlsMode::None)
        );
        assert_eq!(u.user, None);
        assert_eq!(
            SmtpUrl::parse("smtp://h?tls=opportunistic").unwrap().tls,
            TlsMode::Opportunistic
        );
        for bad in [
            "http://h",
            "smtp://",
            "smtp://h:port",
            "smtps://h?tls=none",
            "smtp://h?x=1",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
        let e = SmtpUrl::parse("smtp://u:hunter2@h:x").unwrap_err();
        assert!(!e.contains("hunter2"));
    }
}
