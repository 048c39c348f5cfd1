//! The SMTP sink itself (tests/mail/sink.py), spoken to by hand over TCP:
//! what it files, how the tests read it back, and the addresses that make
//! it refuse. No database.

use crate::support::{mail_sink, Mail};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A hand-driven SMTP client session.
struct Smtp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Smtp {
    /// Connects and reads the greeting.
    async fn connect() -> Smtp {
        let stream = TcpStream::connect(("127.0.0.1", mail_sink().port()))
            .await
            .expect("the sink accepts connections");
        let (read, writer) = stream.into_split();
        let mut smtp = Smtp {
            reader: BufReader::new(read),
            writer,
        };
        let (code, greeting) = smtp.reply().await;
        assert_eq!(code, 220, "{greeting}");
        smtp.ok("EHLO client.test").await;
        smtp
    }

    /// One reply, every line of a multi-line one: its code and text.
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("the sink answers")
                .unwrap();
            assert!(n > 0, "the sink closed the connection");
            let line = line.trim_end();
            let code = line[..3].parse().expect("a reply code");
            text.push_str(&line[4..]);
            text.push('\n');
            if line.as_bytes()[3] == b' ' {
                return (code, text.trim_end().to_string());
            }
        }
    }

    async fn send(&mut self, line: &str) -> (u16, String) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    /// A command that must succeed (2xx).
    async fn ok(&mut self, line: &str) -> String {
        let (code, text) = self.send(line).await;
        assert!((200..300).contains(&code), "{line} -> {code} {text}");
        text
    }

    /// DATA, the message (dot-stuffed), the closing dot: the final reply.
    async fn data(&mut self, message: &str) -> (u16, String) {
        let (code, text) = self.send("DATA").await;
        assert_eq!(code, 354, "{text}");
        let mut body = String::new();
        for line in message.lines() {
            if line.starts_with('.') {
                body.push('.');
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        self.writer.write_all(body.as_bytes()).await.unwrap();
        self.reply().await
    }

    async fn quit(mut self) {
        let (code, text) = self.send("QUIT").await;
        assert_eq!(code, 221, "{text}");
    }
}

/// "Bienvenue à Trasealla", RFC 2047-encoded; a link broken by a
/// quoted-printable soft line break; a line that starts with a dot.
const MULTIPART: &str = "\
From: \"Trasealla\" <noreply@trasealla.test>
To: Owner <owner.sink@example.com>, second.sink@example.com
Subject: =?UTF-8?B?QmllbnZlbnVlIMOgIFRyYXNlYWxsYQ==?=
Message-ID: <sink-1@trasealla.test>
Date: Sun, 01 Mar 2026 09:00:00 +0000
MIME-Version: 1.0
List-Unsubscribe: <https://acme.trasealla.test/unsubscribe?t=abc>,
 <mailto:unsubscribe@trasealla.test>
Content-Type: multipart/alternative; boundary=\"b1\"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Bonjour,

Confirm your address: https://acme.trasealla.test/verify?token=3Dabc=
def
Help is at <https://trasealla.test/help> (or http://trasealla.test/faq).
.a line that starts with a dot
--b1
Content-Type: text/html; charset=utf-8

<p>Bonjour, <a href=\"https://acme.trasealla.test/verify?token=abcdef\">confirm</a></p>
--b1--
";

#[tokio::test]
async fn a_multipart_message_is_filed_and_read_back() {
    let mut smtp = Smtp::connect().await;
    smtp.ok("MAIL FROM:<bounces@trasealla.test>").await;
    smtp.ok("RCPT TO:<owner.sink@example.com>").await;
    smtp.ok("RCPT TO:<second.sink@example.com>").await;
    // Not in any header: envelope recipients count.
    smtp.ok("RCPT TO:<blind.sink@example.com>").await;
    let (code, text) = smtp.data(MULTIPART).await;
    assert_eq!(code, 250, "{text}");
    smtp.quit().await;

    let sink = mail_sink();
    // Any case.
    let mails = sink.wait_for("Owner.Sink@Example.com", 1).await;
    assert_eq!(mails.len(), 1);
    let mail: &Mail = &mails[0];
    assert_eq!(mail.subject, "Bienvenue à Trasealla");
    assert_eq!(mail.from, "noreply@trasealla.test");
    assert_eq!(mail.from_name.as_deref(), Some("Trasealla"));
    assert_eq!(
        mail.to,
        ["owner.sink@example.com", "second.sink@example.com"]
    );
    assert!(mail.cc.is_empty());
    assert_eq!(mail.mail_from, "bounces@trasealla.test");
    assert_eq!(
        mail.rcpt_to,
        [
            "owner.sink@example.com",
            "second.sink@example.com",
            "blind.sink@example.com"
        ]
    );
    assert_eq!(mail.message_id.as_deref(), Some("sink-1@trasealla.test"));
    assert_eq!(mail.date.as_deref(), Some("2026-03-01T09:00:00Z"));
    assert_eq!(mail.content_type, "multipart/alternative");
    assert!(mail.text.starts_with("Bonjour,"), "{}", mail.text);
    assert!(
        mail.text.contains("\n.a line that starts with a dot"),
        "{}",
        mail.text
    );
    assert_eq!(
        mail.html.as_deref().map(str::trim),
        Some(
            "<p>Bonjour, <a href=\"https://acme.trasealla.test/verify?token=abcdef\">confirm</a></p>"
        )
    );
    assert_eq!(
        mail.header("list-unsubscribe"),
        Some(
            "<https://acme.trasealla.test/unsubscribe?t=abc>, <mailto:unsubscribe@trasealla.test>"
        )
    );
    assert_eq!(mail.header_all("X-RcptTo").len(), 1);
    assert_eq!(mail.header("X-Peer"), Some("127.0.0.1"));
    assert_eq!(mail.header("X-Missing"), None);
    assert_eq!(
        mail.links(),
        [
            "https://acme.trasealla.test/verify?token=abcdef",
            "https://trasealla.test/help",
            "http://trasealla.test/faq",
        ]
    );
    assert!(mail
        .raw
        .contains("Content-Transfer-Encoding: quoted-printable"));
    assert!(mail.seq >= 1);
    // The same message for every recipient, the blind one too.
    for addr in ["second.sink@example.com", "blind.sink@example.com"] {
        let theirs = sink.all_for(addr);
        assert_eq!(theirs.len(), 1, "{addr}");
        assert_eq!(theirs[0].seq, mail.seq);
    }
    assert!(sink.all_for("nobody.sink@example.com").is_empty());
    assert!(sink.maildir().join("new").is_dir());
}

#[tokio::test]
async fn messages_come_back_in_order_of_arrival() {
    let addr = "order.sink@example.com";
    let mut smtp = Smtp::connect().await;
    for n in 1..=3 {
        smtp.ok("MAIL FROM:<a@trasealla.test>").await;
        smtp.ok(&format!("RCPT TO:<{addr}>")).await;
        let message =
            format!("From: a@trasealla.test\nTo: {addr}\nSubject: number {n}\n\nplain {n}\n");
        let (code, text) = smtp.data(&message).await;
        assert_eq!(code, 250, "{text}");
    }
    smtp.quit().await;
    let mails = mail_sink().wait_for(addr, 3).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["number 1", "number 2", "number 3"]);
    // A plain message: no HTML, its body as the text, and no links.
    assert_eq!(mails[0].content_type, "text/plain");
    assert_eq!(mails[0].text.trim_end(), "plain 1");
    assert_eq!(mails[0].html, None);
    assert!(mails[0].links().is_empty());
}

#[tokio::test]
async fn a_refused_recipient_gets_550_at_rcpt() {
    let mut smtp = Smtp::connect().await;
    smtp.ok("MAIL FROM:<a@trasealla.test>").await;
    let (code, text) = smtp.send("RCPT TO:<x@refused.test>").await;
    assert_eq!((code, text.as_str()), (550, "5.1.1 mailbox unavailable"));
    // The session goes on: the other recipient gets the message.
    smtp.ok("RCPT TO:<kept.sink@example.com>").await;
    let (code, text) = smtp
        .data("From: a@trasealla.test\nTo: x@refused.test, kept.sink@example.com\nSubject: half\n\nhi\n")
        .await;
    assert_eq!(code, 250, "{text}");
    smtp.quit().await;
    let sink = mail_sink();
    let mails = sink.wait_for("kept.sink@example.com", 1).await;
    assert_eq!(mails[0].rcpt_to, ["kept.sink@example.com"]);
    assert!(sink.all_for("x@refused.test").is_empty());
}

#[tokio::test]
async fn a_tempfail_recipient_gets_451_at_data() {
    let mut smtp = Smtp::connect().await;
    smtp.ok("MAIL FROM:<a@trasealla.test>").await;
    smtp.ok("RCPT TO:<y@tempfail.test>").await;
    smtp.ok("RCPT TO:<along.sink@example.com>").await;
    let (code, text) = smtp
        .data("From: a@trasealla.test\nTo: y@tempfail.test\nSubject: later\n\nhi\n")
        .await;
    assert_eq!((code, text.as_str()), (451, "4.3.0 try again later"));
    // Nothing is filed, for anyone; the session goes on.
    smtp.ok("RSET").await;
    smtp.ok("MAIL FROM:<a@trasealla.test>").await;
    smtp.ok("RCPT TO:<after.sink@example.com>").await;
    let (code, text) = smtp
        .data("From: a@trasealla.test\nTo: after.sink@example.com\nSubject: now\n\nhi\n")
        .await;
    assert_eq!(code, 250, "{text}");
    smtp.quit().await;
    let sink = mail_sink();
    sink.wait_for("after.sink@example.com", 1).await;
    assert!(sink.all_for("y@tempfail.test").is_empty());
    assert!(sink.all_for("along.sink@example.com").is_empty());
}

#[tokio::test]
#[should_panic(
    expected = "expected 1 message(s) to never.sink@example.com within 200ms, 0 arrived"
)]
async fn waiting_in_vain_panics_with_what_arrived() {
    mail_sink()
        .wait_for_within("never.sink@example.com", 1, Duration::from_millis(200))
        .await;
}

#[test]
fn the_sink_url_is_plain_smtp_on_loopback() {
    let sink = mail_sink();
    assert_eq!(
        sink.smtp_url(),
        format!("smtp://127.0.0.1:{}?tls=none", sink.port())
    );
}
