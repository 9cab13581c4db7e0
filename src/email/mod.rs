//! The [`Mailer`] port over lettre: SMTP (STARTTLS, TLS, or plain on loopback) or, as the
//! embedded default, a file transport writing each message as an `.eml` file, so a fresh install
//! sends (to disk) without a mail server. Errors and logs name the recipient's domain at most,
//! never a message body (which may hold a sign-in link).

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use wattline_actors::ports::{MailError, Mailer, OutgoingEmail};

use crate::config::{EmailSettings, EmailTransport, SmtpSecurity};

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Sends email as configured in `[email]`.
pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

/// Why the mailer could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum MailerConfigError {
    #[error("email.from is not an address: {0}")]
    From(String),
    #[error("email.smtp_host: {0}")]
    Smtp(String),
    #[error("email.file_dir {0}: {1}")]
    FileDir(String, std::io::Error),
}

impl LettreMailer {
    /// The mailer of `settings`; creates the file transport's directory.
    pub fn new(settings: &EmailSettings) -> Result<Self, MailerConfigError> {
        crate::providers::http::install_crypto_provider();
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailerConfigError::From(e.to_string()))?;
        let transport = match settings.transport {
            EmailTransport::File => {
                std::fs::create_dir_all(&settings.file_dir).map_err(|e| {
                    MailerConfigError::FileDir(settings.file_dir.display().to_string(), e)
                })?;
                tracing::info!(dir = %settings.file_dir.display(), "Email goes to .eml files (file transport).");
                Transport::File(AsyncFileTransport::new(&settings.file_dir))
            }
            EmailTransport::Smtp => Transport::Smtp(smtp(settings)?),
        };
        Ok(LettreMailer { from, transport })
    }
}

fn smtp(settings: &EmailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailerConfigError> {
    let host = settings.smtp_host.as_str();
    let builder = match settings.smtp_security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| MailerConfigError::Smtp(e.to_string()))?;
    let mut builder = builder
        .port(settings.smtp_port)
        .timeout(Some(settings.timeout.max(Duration::from_secs(1))));
    if let (Some(user), Some(password)) = (&settings.smtp_username, &settings.smtp_password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// The MIME message of `email` from `from`.
fn message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, MailError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| MailError::Refused("the recipient is not an email address".into()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(email.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(email.html.clone()),
                ),
        )
        .map_err(|e| MailError::Refused(format!("message does not build: {e}")))
}

#[async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = message(&self.from, email)?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(MailError::Refused(e.to_string())),
                Err(e) => Err(MailError::Unavailable(e.to_string())),
            },
            Transport::File(file) => match file.send(message).await {
                Ok(id) => {
                    tracing::info!(file = %format!("{id}.eml"), "Email written.");
                    Ok(())
                }
                Err(e) => Err(MailError::Unavailable(e.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: to.into(),
            subject: "Hello".into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
            message_id: "<abc@wattline.local>".into(),
        }
    }

    #[tokio::test]
    async fn the_file_transport_writes_one_eml_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::defaults().email;
        settings.file_dir = dir.path().join("mail");
        let mailer = LettreMailer::new(&settings).unwrap();
        mailer.send(&email("ann@example.com")).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: ann@example.com"));
        assert!(text.contains("Message-ID: <abc@wattline.local>"));
        assert!(text.contains("plain body") && text.contains("html body"));
    }

    #[tokio::test]
    async fn a_bad_recipient_is_refused_for_good_and_a_closed_port_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::defaults().email;
        settings.file_dir = dir.path().to_path_buf();
        let mailer = LettreMailer::new(&settings).unwrap();
        assert!(matches!(
            mailer.send(&email("not an address")).await,
            Err(MailError::Refused(_))
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        settings.transport = EmailTransport::Smtp;
        settings.smtp_host = "127.0.0.1".into();
        settings.smtp_port = port;
        settings.smtp_security = SmtpSecurity::None;
        let mailer = LettreMailer::new(&settings).unwrap();
        assert!(matches!(
            mailer.send(&email("ann@example.com")).await,
            Err(MailError::Unavailable(_))
        ));
    }
}
