//! The GdprWorker's job: the parts of an erasure that happen outside our database. The erasure
//! itself (every row, the deletion log, these jobs) committed in one transaction; this worker
//! deletes the user's customer record at the payment provider. A customer the provider no longer
//! has counts as deleted, so a repeated attempt is harmless.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::retry::JobFailure;
use crate::ports::{ClaimedJob, JobHandler, PaymentCustomers, PaymentError};

/// The queue of erasure work outside the database.
pub const GDPR_QUEUE: &str = "gdpr";
/// The job kind deleting a Stripe customer.
pub const DELETE_CUSTOMER: &str = "stripe_customer_deletion";

/// Carries out the `gdpr` queue's jobs.
pub struct GdprHandler {
    customers: Arc<dyn PaymentCustomers>,
}

impl GdprHandler {
    pub fn new(customers: Arc<dyn PaymentCustomers>) -> Self {
        GdprHandler { customers }
    }
}

#[derive(Deserialize)]
struct DeleteCustomer {
    customer_id: String,
}

#[async_trait]
impl JobHandler for GdprHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        if job.kind != DELETE_CUSTOMER {
            return Err(JobFailure::Permanent(format!(
                "unknown gdpr job kind {:?}",
                job.kind
            )));
        }
        let DeleteCustomer { customer_id } = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobFailure::Permanent(format!("gdpr job payload does not parse: {e}")))?;
        match self.customers.delete_customer(&customer_id).await {
            Ok(()) | Err(PaymentError::Missing(_)) => Ok(()),
            Err(error @ PaymentError::Unavailable(_)) => {
                Err(JobFailure::Transient(error.to_string()))
            }
            // Parked for an operator: retried from the admin API once Stripe is configured.
            Err(error @ (PaymentError::Refused(_) | PaymentError::NotConfigured)) => {
                Err(JobFailure::Permanent(error.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Customers {
        answer: PaymentError,
        deleted: Mutex<Vec<String>>,
        fail: bool,
    }

    #[async_trait]
    impl PaymentCustomers for Customers {
        async fn delete_customer(&self, id: &str) -> Result<(), PaymentError> {
            self.deleted.lock().unwrap().push(id.to_string());
            if self.fail {
                Err(self.answer.clone())
            } else {
                Ok(())
            }
        }
    }

    fn job(payload: serde_json::Value) -> ClaimedJob {
        ClaimedJob {
            id: "j".into(),
            queue: GDPR_QUEUE.into(),
            kind: DELETE_CUSTOMER.into(),
            payload,
            idempotency_key: "k".into(),
            user_id: None,
            attempts: 1,
            claim: "c".into(),
        }
    }

    async fn run(answer: PaymentError, fail: bool) -> Result<(), JobFailure> {
        let customers = Arc::new(Customers {
            answer,
            deleted: Mutex::new(Vec::new()),
            fail,
        });
        let result = GdprHandler::new(customers.clone())
            .handle(&job(serde_json::json!({ "customer_id": "cus_1" })))
            .await;
        assert_eq!(*customers.deleted.lock().unwrap(), ["cus_1"]);
        result
    }

    #[tokio::test]
    async fn deletion_outcomes_map_to_done_retry_or_parked() {
        assert_eq!(run(PaymentError::NotConfigured, false).await, Ok(()));
        assert_eq!(run(PaymentError::Missing("x".into()), true).await, Ok(()));
        assert!(matches!(
            run(PaymentError::Unavailable("x".into()), true).await,
            Err(JobFailure::Transient(_))
        ));
        assert!(matches!(
            run(PaymentError::NotConfigured, true).await,
            Err(JobFailure::Permanent(_))
        ));
        let bad = GdprHandler::new(Arc::new(Customers {
            answer: PaymentError::NotConfigured,
            deleted: Mutex::new(Vec::new()),
            fail: false,
        }))
        .handle(&job(serde_json::json!({})))
        .await;
        assert!(matches!(bad, Err(JobFailure::Permanent(_))));
    }
}
