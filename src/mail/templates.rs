//! The messages, each as plain text and HTML, in the tenant's name (with
//! its logo and colour where its plan has custom branding), with links to
//! the tenant's own address.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

/// Who a message speaks for.
#[derive(Debug, Clone)]
pub struct Brand {
    pub name: String,
    /// `https://<slug>.<base domain>`: links start here.
    pub base_url: String,
    pub logo_url: Option<String>,
    pub color: Option<String>,
}

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `#rgb` or `#rrggbb`.
pub fn is_color(c: &str) -> bool {
    c.strip_prefix('#')
        .is_some_and(|h| (h.len() == 3 || h.len() == 6) && h.chars().all(|c| c.is_ascii_hexdigit()))
}

const DEFAULT_COLOR: &str = "#2563eb";

/// A message of paragraphs and at most one button, as both parts.
struct Letter<'a> {
    brand: &'a Brand,
    subject: String,
    greeting: String,
    paragraphs: Vec<String>,
    action: Option<(&'a str, String)>,
    after: Vec<String>,
}

impl Letter<'_> {
    fn render(self) -> Content {
        let mut text = format!("{}\n\n", self.greeting);
        for p in &self.paragraphs {
            text.push_str(p);
            text.push_str("\n\n");
        }
        if let Some((label, url)) = &self.action {
            text.push_str(&format!("{label}: {url}\n\n"));
        }
        for p in &self.after {
            text.push_str(p);
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "-- \n{}\n{}\n",
            self.brand.name, self.brand.base_url
        ));
        let color = self.brand.color.as_deref().unwrap_or(DEFAULT_COLOR);
        let page: Markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.subject) }
                }
                body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2937" {
                    table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;padding:24px 0" {
                        tr { td align="center" {
                            table role="presentation" width="560" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:8px;overflow:hidden" {
                                tr { td style=(format!("background:{color};padding:16px 24px;color:#ffffff;font-size:18px;font-weight:600")) {
                                    @if let Some(logo) = &self.brand.logo_url {
                                        img src=(logo) alt=(self.brand.name) height="32" style="vertical-align:middle;margin-right:8px;border:0";
                                    }
                                    (self.brand.name)
                                } }
                                tr { td style="padding:24px;font-size:15px;line-height:1.5" {
                                    p { (self.greeting) }
                                    @for p in &self.paragraphs { p { (p) } }
                                    @if let Some((label, url)) = &self.action {
                                        p style="margin:24px 0" {
                                            a href=(url) style=(format!("background:{color};color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;display:inline-block")) { (label) }
                                        }
                                        p style="font-size:13px;color:#6b7280" {
                                            "Or copy this address into your browser: " br; (url)
                                        }
                                    }
                                    @for p in &self.after { p style="font-size:13px;color:#6b7280" { (p) } }
                                } }
                                tr { td style="padding:16px 24px;font-size:12px;color:#9ca3af;border-top:1px solid #e5e7eb" {
                                    (self.brand.name) " · " a href=(self.brand.base_url) style="color:#9ca3af" { (self.brand.base_url) }
                                } }
                            }
                        } }
                    }
                }
            }
        };
        Content {
            subject: self.subject,
            text,
            html: page.into_string(),
        }
    }
}

fn hello(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {name},")
    }
}

fn link(brand: &Brand, path: &str) -> String {
    format!("{}{path}", brand.base_url)
}

pub fn welcome(brand: &Brand, full_name: &str) -> Content {
    Letter {
        brand,
        subject: format!("Welcome to {} on Trasealla CRM", brand.name),
        greeting: hello(full_name),
        paragraphs: vec![
            format!("{}'s CRM is ready. Your trial has everything unlocked while you try it: contacts, companies, leads, the deal pipeline, activities and reports.", brand.name),
            "Invite your colleagues from Settings → Users, and import your contacts from a CSV file.".to_owned(),
        ],
        action: Some(("Open your CRM", link(brand, "/"))),
        after: vec![],
    }
    .render()
}

pub fn verify_email(brand: &Brand, full_name: &str, token: &str) -> Content {
    Letter {
        brand,
        subject: "Confirm your e-mail address".to_owned(),
        greeting: hello(full_name),
        paragraphs: vec![format!(
            "Please confirm that this is your e-mail address for {} on Trasealla CRM.",
            brand.name
        )],
        action: Some((
            "Confirm my address",
            link(brand, &format!("/verify-email?token={token}")),
        )),
        after: vec!["The link works once and expires in 24 hours. If you did not sign up, ignore this message.".to_owned()],
    }
    .render()
}

pub fn invitation(brand: &Brand, inviter: &str, role: &str, token: &str) -> Content {
    Letter {
        brand,
        subject: format!("{inviter} invited you to {} on Trasealla CRM", brand.name),
        greeting: "Hello,".to_owned(),
        paragraphs: vec![format!(
            "{inviter} invited you to join {} on Trasealla CRM as {} {role}. Choose your name and password to get started.",
            brand.name,
            if role == "admin" { "an" } else { "a" },
        )],
        action: Some((
            "Accept the invitation",
            link(brand, &format!("/accept-invitation?token={token}")),
        )),
        after: vec!["The invitation expires in 7 days. If you did not expect it, ignore this message.".to_owned()],
    }
    .render()
}

pub fn password_reset(brand: &Brand, full_name: &str, token: &str) -> Content {
    Letter {
        brand,
        subject: "Reset your password".to_owned(),
        greeting: hello(full_name),
        paragraphs: vec![format!(
            "Someone asked to reset the password of your {} account on Trasealla CRM. If it was you, choose a new password:",
            brand.name
        )],
        action: Some((
            "Choose a new password",
            link(brand, &format!("/reset-password?token={token}")),
        )),
        after: vec!["The link works once and expires in one hour; using it signs you out everywhere else. If you did not ask for it, ignore this message: your password stays as it is.".to_owned()],
    }
    .render()
}

/// A trial reminder `days` before its end (`days == 0`: it has ended).
pub fn trial_reminder(
    brand: &Brand,
    full_name: &str,
    days: u32,
    ends_at: DateTime<Utc>,
) -> Content {
    let date = ends_at.format("%-d %B %Y").to_string();
    let (subject, first) = match days {
        0 => (
            format!("Your {} trial has ended", brand.name),
            format!("The trial of {} on Trasealla CRM ended on {date}. Your data is kept: choose a plan to keep working with it.", brand.name),
        ),
        1 => (
            format!("Your {} trial ends tomorrow", brand.name),
            format!("The trial of {} on Trasealla CRM ends on {date}.", brand.name),
        ),
        n => (
            format!("Your {} trial ends in {n} days", brand.name),
            format!("The trial of {} on Trasealla CRM ends on {date}.", brand.name),
        ),
    };
    Letter {
        brand,
        subject,
        greeting: hello(full_name),
        paragraphs: vec![
            first,
            "Pick the plan that fits your team to keep your contacts, deals and history without a break.".to_owned(),
        ],
        action: Some(("Choose a plan", link(brand, "/settings"))),
        after: vec![],
    }
    .render()
}

/// The notices the billing and usage features send to a tenant's admins.
#[derive(Debug, Clone)]
pub enum Notice {
    PaymentFailed {
        amount: String,
        retry_on: Option<DateTime<Utc>>,
    },
    PlanChanged {
        from: String,
        to: String,
    },
    Usage {
        limit: String,
        percent: u32,
        current: i64,
        max: i64,
    },
    /// The bank asks the customer to confirm a payment (3-D Secure).
    PaymentActionRequired {
        amount: String,
        /// Stripe's page of the invoice, where it is confirmed.
        url: Option<String>,
    },
    /// A trial kept by Stripe ends soon.
    TrialWillEnd {
        ends_on: Option<DateTime<Utc>>,
    },
    /// The paid subscription ended: the account is read-only.
    SubscriptionEnded,
    /// A webhook endpoint was turned off after days of failed deliveries.
    WebhookDisabled {
        url: String,
        reason: String,
    },
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::PaymentFailed { .. } => "payment_failed",
            Notice::PlanChanged { .. } => "plan_changed",
            Notice::Usage { .. } => "usage_alert",
            Notice::PaymentActionRequired { .. } => "payment_action_required",
            Notice::TrialWillEnd { .. } => "billing_trial_will_end",
            Notice::SubscriptionEnded => "subscription_ended",
            Notice::WebhookDisabled { .. } => "webhook_disabled",
        }
    }
}

pub fn notice(brand: &Brand, full_name: &str, notice: &Notice) -> Content {
    let (subject, paragraphs, label, path) = match notice {
        Notice::PaymentFailed { amount, retry_on } => (
            format!("Payment failed for {}", brand.name),
            vec![
                format!(
                    "We could not collect {amount} for {}'s subscription.",
                    brand.name
                ),
                match retry_on {
                    Some(d) => format!(
                        "We will try again on {}. Please check the card on file.",
                        d.format("%-d %B %Y")
                    ),
                    None => "Please check the card on file.".to_owned(),
                },
            ],
            "Update billing details",
            "/settings/subscription",
        ),
        Notice::PlanChanged { from, to } => (
            format!("{} is now on the {to} plan", brand.name),
            vec![format!(
                "{}'s plan changed from {from} to {to}.",
                brand.name
            )],
            "See your subscription",
            "/settings/subscription",
        ),
        Notice::Usage {
            limit,
            percent,
            current,
            max,
        } => (
            format!("{} has used {percent}% of its {limit}", brand.name),
            vec![
                format!(
                    "{} uses {current} of the {max} {limit} its plan includes ({percent}%).",
                    brand.name
                ),
                if *percent >= 100 {
                    "New ones are refused until you upgrade or make room.".to_owned()
                } else {
                    "Consider upgrading before you reach the limit.".to_owned()
                },
            ],
            "See your usage",
            "/settings/usage",
        ),
        Notice::WebhookDisabled { url, reason } => (
            format!("A webhook of {} was turned off", brand.name),
            vec![
                format!("Deliveries to {url} stopped: {reason}."),
                "Fix the receiver, then turn the endpoint back on in Settings → Integrations; failed deliveries can be sent again from there.".to_owned(),
            ],
            "See the webhook",
            "/settings/integrations",
        ),
        Notice::PaymentActionRequired { amount, url } => (
            format!("Please confirm a payment for {}", brand.name),
            vec![
                format!(
                    "Your bank asks you to confirm the payment of {amount} for {}'s subscription.",
                    brand.name
                ),
                match url {
                    Some(u) => format!("Confirm it on the invoice's page: {u}"),
                    None => "Confirm it from the billing settings.".to_owned(),
                },
            ],
            "Open billing",
            "/settings/subscription",
        ),
        Notice::TrialWillEnd { ends_on } => (
            format!("{}'s trial ends soon", brand.name),
            vec![
                match ends_on {
                    Some(d) => format!("The trial of {} ends on {}.", brand.name, d.format("%-d %B %Y")),
                    None => format!("The trial of {} ends in a few days.", brand.name),
                },
                "Check the card on file so the subscription goes on without a break.".to_owned(),
            ],
            "Open billing",
            "/settings/subscription",
        ),
        Notice::SubscriptionEnded => (
            format!("{}'s subscription has ended", brand.name),
            vec![
                format!(
                    "The subscription of {} has ended. Your data is kept and can still be read, but changes are paused.",
                    brand.name
                ),
                "Choose a plan to keep working.".to_owned(),
            ],
            "Choose a plan",
            "/upgrade",
        ),
    };
    Letter {
        brand,
        subject,
        greeting: hello(full_name),
        paragraphs,
        action: Some((label, link(brand, path))),
        after: vec![],
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> Brand {
        Brand {
            name: "Acme <Corp>".into(),
            base_url: "https://acme.crm.example.com".into(),
            logo_url: None,
            color: Some("#ff0000".into()),
        }
    }

    #[test]
    fn both_parts_carry_the_link_and_html_is_escaped() {
        let c = password_reset(&brand(), "Ann", "tok_123");
        assert_eq!(c.subject, "Reset your password");
        let url = "https://acme.crm.example.com/reset-password?token=tok_123";
        assert!(c.text.contains(url), "{}", c.text);
        assert!(c.html.contains(url));
        assert!(c.html.contains("Acme &lt;Corp&gt;"));
        assert!(!c.html.contains("Acme <Corp>"));
        assert!(c.html.contains("#ff0000"));
    }

    #[test]
    fn trial_reminders_say_how_long_is_left() {
        let end = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 15, 9, 0, 0).unwrap();
        assert!(trial_reminder(&brand(), "A", 7, end)
            .subject
            .ends_with("ends in 7 days"));
        assert!(trial_reminder(&brand(), "A", 1, end)
            .subject
            .ends_with("ends tomorrow"));
        assert!(trial_reminder(&brand(), "A", 0, end)
            .subject
            .ends_with("has ended"));
        assert!(trial_reminder(&brand(), "A", 3, end)
            .text
            .contains("15 March 2026"));
    }
}
