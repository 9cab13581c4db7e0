//! The webhook worker's job: POST an alert's JSON body to the rule's URL, signed, through the
//! [`WebhookSender`]. The job carries everything the delivery needs, so a rule edited or deleted
//! after it fired does not change a delivery already queued.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::retry::JobFailure;
use crate::ports::{ClaimedJob, JobHandler, WebhookDelivery, WebhookError, WebhookSender};

/// The queue of webhook deliveries.
pub const WEBHOOK_QUEUE: &str = "webhooks";

/// Delivers the `webhooks` queue's jobs.
pub struct WebhookHandler {
    sender: Arc<dyn WebhookSender>,
}

impl WebhookHandler {
    pub fn new(sender: Arc<dyn WebhookSender>) -> Self {
        WebhookHandler { sender }
    }
}

#[derive(Deserialize)]
struct Payload {
    url: String,
    secret: String,
    body: serde_json::Value,
}

#[async_trait]
impl JobHandler for WebhookHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let payload: Payload = serde_json::from_value(job.payload.clone()).map_err(|e| {
            JobFailure::Permanent(format!("webhook job payload does not parse: {e}"))
        })?;
        let delivery = WebhookDelivery {
            url: payload.url,
            secret: payload.secret,
            delivery_id: job.idempotency_key.clone(),
            body: payload.body.to_string(),
        };
        self.sender
            .deliver(&delivery)
            .await
            .map_err(|error| match error {
                WebhookError::Unavailable(_) => JobFailure::Transient(error.to_string()),
                WebhookError::Refused(_) => JobFailure::Permanent(error.to_string()),
            })
    }
}
