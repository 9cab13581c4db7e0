//! The outbox workers, email delivery and alert webhooks.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wattline_actors::supervision::BackoffPolicy;
use wattline_actors::workers::{RetryPolicy, WorkerConfig};

use super::Secret;
use super::human;

/// `[workers]`: how every outbox worker polls, leases and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Wait between polls of a queue with nothing due (default 1s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub poll_every: Duration,
    /// Jobs claimed and run together per poll (default 32).
    pub batch: NonZeroU32,
    /// How long a claim holds before another worker may take the job up (default 2m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub lease: Duration,
    /// Longest single attempt (default 30s); must be well under `lease`.
    #[serde(deserialize_with = "human::positive_duration")]
    pub attempt_timeout: Duration,
    /// Attempts before a job is parked as failed (default 8).
    pub max_attempts: NonZeroU32,
    /// First retry delay, tripled per failure up to `retry_max`, ±20 % jitter.
    #[serde(deserialize_with = "human::positive_duration")]
    pub retry_initial: Duration,
    #[serde(deserialize_with = "human::positive_duration")]
    pub retry_max: Duration,
}

impl WorkerSettings {
    /// The actors' view.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            poll_every: self.poll_every,
            batch: self.batch.get(),
            lease: self.lease,
            attempt_timeout: self.attempt_timeout,
            retry: RetryPolicy {
                max_attempts: self.max_attempts.get(),
                backoff: BackoffPolicy {
                    initial: self.retry_initial,
                    max: self.retry_max,
                    multiplier: 3,
                    jitter: 0.2,
                },
            },
        }
    }
}

/// How email leaves the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTransport {
    /// Each message as an `.eml` file under `file_dir` (the embedded default).
    File,
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No encryption: only for a relay on loopback or in a test.
    None,
}

/// `[email]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub transport: EmailTransport,
    /// The `From` of every message.
    pub from: String,
    /// Where the file transport writes (default `data/mail`).
    pub file_dir: PathBuf,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    /// Set with `smtp_password` (environment only) to authenticate.
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<Secret>,
    /// Longest SMTP conversation (default 30s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub timeout: Duration,
}

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Accept `http://` webhook URLs (development and tests only; https otherwise).
    pub webhook_allow_http: bool,
    /// Longest wait for a webhook receiver's answer (default 10s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub webhook_timeout: Duration,
    /// Rules a free account may hold (default 1); pro and business have no limit.
    pub free_rules: u32,
    /// Cool-down of a rule that names none (default 1h).
    #[serde(deserialize_with = "human::duration")]
    pub default_cooldown: Duration,
    /// How often each node re-reads every rule (rules edited on other nodes; default 1m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub reload_every: Duration,
}

/// `[gdpr]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdprSettings {
    /// Delivered jobs, alert history and applied Stripe events are kept this many days (default
    /// 730).
    pub retention_days: NonZeroU32,
    /// How often the retention worker purges (default 1h).
    #[serde(deserialize_with = "human::positive_duration")]
    pub retention_every: Duration,
}
