//! The EmailWorker's job: render the message a job names (plain text and HTML) and hand it to
//! the [`Mailer`]. Templates are plain functions over the job's payload; everything a user typed
//! is HTML-escaped, and no template puts a secret anywhere but in the message itself.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::retry::JobFailure;
use crate::ports::{ClaimedJob, JobHandler, MailError, Mailer, OutgoingEmail};

/// The queue the EmailWorker works.
pub const EMAIL_QUEUE: &str = "email";

/// Sends the `email` queue's jobs.
pub struct EmailHandler {
    mailer: Arc<dyn Mailer>,
    /// Product name and sender domain in `Message-ID`s.
    domain: String,
}

impl EmailHandler {
    pub fn new(mailer: Arc<dyn Mailer>, domain: impl Into<String>) -> Self {
        EmailHandler {
            mailer,
            domain: domain.into(),
        }
    }
}

#[async_trait]
impl JobHandler for EmailHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let email = render(job, &self.domain)?;
        self.mailer.send(&email).await.map_err(|error| match error {
            MailError::Unavailable(_) => JobFailure::Transient(error.to_string()),
            MailError::Refused(_) => JobFailure::Permanent(error.to_string()),
        })
    }
}

/// The message a job of the `email` queue sends.
pub fn render(job: &ClaimedJob, domain: &str) -> Result<OutgoingEmail, JobFailure> {
    let (to, subject, text, html) = match job.kind.as_str() {
        "beta_welcome" => beta_welcome(payload(job)?),
        "magic_link" => magic_link(payload(job)?),
        "price_alert" => price_alert(payload(job)?),
        "deletion_confirmation" => deletion_confirmation(payload(job)?),
        "payment_failed" => payment_failed(payload(job)?),
        "payment_received" => payment_received(payload(job)?),
        other => {
            return Err(JobFailure::Permanent(format!(
                "no email template for job kind {other:?}"
            )));
        }
    };
    Ok(OutgoingEmail {
        to,
        subject,
        text,
        html,
        message_id: message_id(&job.idempotency_key, domain),
    })
}

type Rendered = (String, String, String, String);

fn payload<T: DeserializeOwned>(job: &ClaimedJob) -> Result<T, JobFailure> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobFailure::Permanent(format!("{} job payload does not parse: {e}", job.kind)))
}

/// `<hex of the idempotency key's bytes>@domain`: stable for the job, safe in a header.
fn message_id(key: &str, domain: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

#[derive(Deserialize)]
struct BetaWelcome {
    to: String,
    name: String,
    beta_code: String,
}

fn beta_welcome(p: BetaWelcome) -> Rendered {
    let subject = "Welcome to the Wattline beta".to_string();
    let text = format!(
        "Hi {},\n\nThank you for joining the Wattline beta. Your beta code is {}.\n\
         Keep it: you will need it when the beta opens.\n\n— The Wattline team\n",
        p.name, p.beta_code
    );
    let html = layout(
        &subject,
        &format!(
            "<p>Hi {},</p><p>Thank you for joining the Wattline beta. Your beta code is \
             <strong>{}</strong>.</p><p>Keep it: you will need it when the beta opens.</p>",
            escape(&p.name),
            escape(&p.beta_code)
        ),
    );
    (p.to, subject, text, html)
}

#[derive(Deserialize)]
struct MagicLink {
    to: String,
    link: String,
    expires_minutes: u32,
}

fn magic_link(p: MagicLink) -> Rendered {
    let subject = "Your Wattline sign-in link".to_string();
    let text = format!(
        "Sign in to Wattline with this link:\n\n{}\n\nIt works once and expires in {} minutes. \
         If you did not ask for it, ignore this email.\n",
        p.link, p.expires_minutes
    );
    let html = layout(
        &subject,
        &format!(
            "<p><a href=\"{0}\">Sign in to Wattline</a></p><p>It works once and expires in {1} \
             minutes. If you did not ask for it, ignore this email.</p>",
            escape(&p.link),
            p.expires_minutes
        ),
    );
    (p.to, subject, text, html)
}

#[derive(Deserialize)]
struct PriceAlert {
    to: String,
    rule_name: String,
    summary: String,
}

fn price_alert(p: PriceAlert) -> Rendered {
    let subject = format!("Price alert: {}", p.rule_name);
    let text = format!(
        "{}\n\nYou receive this because of your Wattline alert \"{}\".\n",
        p.summary, p.rule_name
    );
    let html = layout(
        &subject,
        &format!(
            "<p>{}</p><p>You receive this because of your Wattline alert \"{}\".</p>",
            escape(&p.summary),
            escape(&p.rule_name)
        ),
    );
    (p.to, subject, text, html)
}

#[derive(Deserialize)]
struct DeletionConfirmation {
    to: String,
    deleted_at: String,
    categories: Vec<String>,
}

fn deletion_confirmation(p: DeletionConfirmation) -> Rendered {
    let subject = "Your Wattline data has been deleted".to_string();
    let list = p.categories.join(", ");
    let text = format!(
        "As you asked, we deleted your Wattline account and the data about you ({list}) at {}.\n\
         A record that a deletion took place, without your personal data, is kept as the law \
         requires.\n",
        p.deleted_at
    );
    let html = layout(
        &subject,
        &format!(
            "<p>As you asked, we deleted your Wattline account and the data about you ({}) at \
             {}.</p><p>A record that a deletion took place, without your personal data, is kept \
             as the law requires.</p>",
            escape(&list),
            escape(&p.deleted_at)
        ),
    );
    (p.to, subject, text, html)
}

#[derive(Deserialize)]
struct PaymentFailed {
    to: String,
    /// The amount due, formatted with its currency.
    amount_due: Option<String>,
    /// When the paid tier ends unless the payment succeeds.
    grace_until: Option<String>,
}

fn payment_failed(p: PaymentFailed) -> Rendered {
    let subject = "Your Wattline payment failed".to_string();
    let amount = p
        .amount_due
        .map_or_else(String::new, |a| format!(" of {a}"));
    let grace = p.grace_until.map_or_else(String::new, |g| {
        format!(" Your plan stays active until {g}.")
    });
    let text = format!(
        "We could not take your payment{amount}. Please update your payment method in the \
         billing portal.{grace}\n"
    );
    let html = layout(
        &subject,
        &format!(
            "<p>We could not take your payment{}. Please update your payment method in the \
             billing portal.{}</p>",
            escape(&amount),
            escape(&grace)
        ),
    );
    (p.to, subject, text, html)
}

#[derive(Deserialize)]
struct PaymentReceived {
    to: String,
    /// The amount paid, formatted with its currency.
    amount_paid: String,
    /// The plan paid for.
    tier: String,
}

fn payment_received(p: PaymentReceived) -> Rendered {
    let subject = "Your Wattline payment was received".to_string();
    let text = format!(
        "Thank you: we received your payment of {} for Wattline {}.\n",
        p.amount_paid, p.tier
    );
    let html = layout(
        &subject,
        &format!(
            "<p>Thank you: we received your payment of {} for Wattline {}.</p>",
            escape(&p.amount_paid),
            escape(&p.tier)
        ),
    );
    (p.to, subject, text, html)
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif\">{body}<p>— The Wattline team</p></body></html>",
        escape(title)
    )
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(kind: &str, payload: serde_json::Value) -> ClaimedJob {
        ClaimedJob {
            id: "j".into(),
            queue: EMAIL_QUEUE.into(),
            kind: kind.into(),
            payload,
            idempotency_key: "beta-welcome:1".into(),
            user_id: None,
            attempts: 1,
            claim: "c".into(),
        }
    }

    #[test]
    fn every_template_renders_text_and_html() {
        let cases = [
            (
                "beta_welcome",
                json!({"to": "a@b.c", "name": "Ann", "beta_code": "BETA-2026-0123ABCD"}),
                "BETA-2026-0123ABCD",
            ),
            (
                "magic_link",
                json!({"to": "a@b.c", "link": "https://x/verify?token=T", "expires_minutes": 15}),
                "https://x/verify?token=T",
            ),
            (
                "price_alert",
                json!({"to": "a@b.c", "rule_name": "cheap", "summary": "uk is 0.18 GBP/kWh"}),
                "uk is 0.18 GBP/kWh",
            ),
            (
                "deletion_confirmation",
                json!({"to": "a@b.c", "deleted_at": "2026-12-01T00:00:00Z", "categories": ["profile"]}),
                "profile",
            ),
            (
                "payment_failed",
                json!({"to": "a@b.c", "amount_due": "£9.00", "grace_until": "2026-12-08"}),
                "2026-12-08",
            ),
            (
                "payment_received",
                json!({"to": "a@b.c", "amount_paid": "9.00 GBP", "tier": "pro"}),
                "9.00 GBP",
            ),
        ];
        for (kind, payload, needle) in cases {
            let email = render(&job(kind, payload), "wattline.local").unwrap();
            assert_eq!(email.to, "a@b.c");
            assert!(email.text.contains(needle), "{kind}: {}", email.text);
            assert!(email.html.contains(needle), "{kind}: {}", email.html);
            assert!(!email.subject.is_empty());
        }
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let email = render(
            &job(
                "beta_welcome",
                json!({"to": "a@b.c", "name": "<script>x</script>", "beta_code": "B"}),
            ),
            "d",
        )
        .unwrap();
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn unknown_kinds_and_bad_payloads_fail_for_good() {
        assert!(matches!(
            render(&job("nope", json!({})), "d"),
            Err(JobFailure::Permanent(_))
        ));
        assert!(matches!(
            render(&job("beta_welcome", json!({"to": 1})), "d"),
            Err(JobFailure::Permanent(_))
        ));
    }

    #[test]
    fn the_message_id_is_stable_per_job() {
        let a = render(
            &job(
                "beta_welcome",
                json!({"to": "a@b.c", "name": "A", "beta_code": "B"}),
            ),
            "d",
        )
        .unwrap();
        assert_eq!(a.message_id, message_id("beta-welcome:1", "d"));
        assert!(a.message_id.starts_with('<') && a.message_id.ends_with("@d>"));
    }
}
