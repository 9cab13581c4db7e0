//! The BillingWorker's job: apply one stored Stripe event to the account it is about. The webhook
//! route stored the event and queued this job in one transaction; here the account is read, the
//! billing rules ([`billing::apply`]) decide, and the new state, the user's tier, the email and
//! the event's processed mark are written in one transaction, only if the account is still as it
//! was read. An event applied before (a replay, a job run twice after a crash) changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::SignedDuration;
use serde::Deserialize;

use super::retry::JobFailure;
use crate::domain::billing::{self, Outcome};
use crate::ports::{BillingSettlement, BillingStore, ClaimedJob, JobHandler, SharedClock};

/// The queue of stored Stripe events.
pub const BILLING_QUEUE: &str = "billing";
/// The job kind applying one event.
pub const APPLY_EVENT: &str = "stripe_event";

/// Applies the `billing` queue's events.
pub struct BillingHandler {
    store: Arc<dyn BillingStore>,
    clock: SharedClock,
    /// How long a failing payment keeps the paid tier.
    grace: SignedDuration,
}

impl BillingHandler {
    pub fn new(store: Arc<dyn BillingStore>, clock: SharedClock, grace: SignedDuration) -> Self {
        BillingHandler {
            store,
            clock,
            grace,
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    event_id: String,
}

fn transient(error: impl std::fmt::Display) -> JobFailure {
    JobFailure::Transient(error.to_string())
}

#[async_trait]
impl JobHandler for BillingHandler {
    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        if job.kind != APPLY_EVENT {
            return Err(JobFailure::Permanent(format!(
                "unknown billing job kind {:?}",
                job.kind
            )));
        }
        let Payload { event_id } = serde_json::from_value(job.payload.clone()).map_err(|e| {
            JobFailure::Permanent(format!("billing job payload does not parse: {e}"))
        })?;
        let Some(stored) = self
            .store
            .billing_event(&event_id)
            .await
            .map_err(transient)?
        else {
            // Erased with its user: nothing left to apply.
            return Ok(());
        };
        if stored.processed {
            return Ok(());
        }
        let event = stored.event;
        let loaded = self
            .store
            .billing_account(event.change.user_id(), event.change.customer())
            .await
            .map_err(transient)?;
        let settlement = match loaded {
            None => BillingSettlement::NoAccount,
            Some(before) => match billing::apply(&before.account, &event, self.grace) {
                Outcome::Stale => BillingSettlement::Stale,
                Outcome::Applied { account, notice } => BillingSettlement::Applied {
                    before: Box::new(before),
                    account,
                    notice,
                },
            },
        };
        let settled = self
            .store
            .settle_billing_event(&event_id, &settlement, self.clock.now())
            .await
            .map_err(transient)?;
        if settled {
            tracing::info!(event = %event_id, outcome = settlement_name(&settlement), "Billing event applied.");
            return Ok(());
        }
        // Either another attempt settled it (done) or the account moved under us (read again).
        match self
            .store
            .billing_event(&event_id)
            .await
            .map_err(transient)?
        {
            Some(stored) if !stored.processed => Err(transient(
                "the account changed while the event was applied; trying again",
            )),
            _ => Ok(()),
        }
    }
}

fn settlement_name(settlement: &BillingSettlement) -> &'static str {
    match settlement {
        BillingSettlement::Applied { .. } => "applied",
        BillingSettlement::Stale => "stale",
        BillingSettlement::NoAccount => "no_account",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use jiff::Timestamp;

    use super::*;
    use crate::domain::billing::{BillingAccount, BillingChange, BillingEvent, Tier};
    use crate::ports::{LoadedBillingAccount, StoreError, StoredBillingEvent, SystemClock};

    /// One user, one stored event; settles like storage would (compare-and-set on the version).
    struct MemoryStore {
        event: Mutex<StoredBillingEvent>,
        account: Mutex<(BillingAccount, Option<i64>)>,
        /// Bumps the version once between the read and the write, as a concurrent writer would.
        race_once: Mutex<bool>,
    }

    #[async_trait]
    impl BillingStore for MemoryStore {
        async fn billing_event(&self, _id: &str) -> Result<Option<StoredBillingEvent>, StoreError> {
            Ok(Some(self.event.lock().unwrap().clone()))
        }

        async fn billing_account(
            &self,
            _user_id: Option<&str>,
            _customer: Option<&str>,
        ) -> Result<Option<LoadedBillingAccount>, StoreError> {
            let (account, version) = self.account.lock().unwrap().clone();
            let mut race = self.race_once.lock().unwrap();
            if *race {
                *race = false;
                self.account.lock().unwrap().1 = Some(version.unwrap_or(0) + 1);
            }
            Ok(Some(LoadedBillingAccount {
                account,
                email: "ada@example.com".into(),
                version,
            }))
        }

        async fn settle_billing_event(
            &self,
            _event_id: &str,
            settlement: &BillingSettlement,
            _now: Timestamp,
        ) -> Result<bool, StoreError> {
            let mut event = self.event.lock().unwrap();
            if event.processed {
                return Ok(false);
            }
            if let BillingSettlement::Applied {
                before, account, ..
            } = settlement
            {
                let mut stored = self.account.lock().unwrap();
                if stored.1 != before.version {
                    return Ok(false);
                }
                *stored = ((**account).clone(), Some(before.version.unwrap_or(0) + 1));
            }
            event.processed = true;
            Ok(true)
        }
    }

    fn store(race: bool) -> Arc<MemoryStore> {
        Arc::new(MemoryStore {
            event: Mutex::new(StoredBillingEvent {
                event: BillingEvent {
                    id: "evt_1".into(),
                    created: Timestamp::from_second(1_800_000_000).unwrap(),
                    change: BillingChange::CheckoutCompleted {
                        user_id: Some("u1".into()),
                        customer: Some("cus_1".into()),
                        subscription: Some("sub_1".into()),
                        tier: Some(Tier::Pro),
                    },
                },
                processed: false,
            }),
            account: Mutex::new((BillingAccount::new("u1"), None)),
            race_once: Mutex::new(race),
        })
    }

    fn job() -> ClaimedJob {
        ClaimedJob {
            id: "j".into(),
            queue: BILLING_QUEUE.into(),
            kind: APPLY_EVENT.into(),
            payload: serde_json::json!({ "event_id": "evt_1" }),
            idempotency_key: "stripe-event:evt_1".into(),
            user_id: Some("u1".into()),
            attempts: 1,
            claim: "c".into(),
        }
    }

    fn handler(store: &Arc<MemoryStore>) -> BillingHandler {
        BillingHandler::new(
            store.clone(),
            Arc::new(SystemClock),
            SignedDuration::from_hours(24),
        )
    }

    #[tokio::test]
    async fn an_event_applies_once_however_often_its_job_runs() {
        let store = store(false);
        let handler = handler(&store);
        handler.handle(&job()).await.unwrap();
        handler.handle(&job()).await.unwrap();
        let (account, version) = store.account.lock().unwrap().clone();
        assert_eq!(account.tier, Tier::Pro);
        assert_eq!(version, Some(1), "written once");
    }

    #[tokio::test]
    async fn an_account_changed_meanwhile_is_read_again_on_the_next_attempt() {
        let store = store(true);
        let handler = handler(&store);
        assert!(matches!(
            handler.handle(&job()).await,
            Err(JobFailure::Transient(_))
        ));
        handler.handle(&job()).await.unwrap();
        assert_eq!(store.account.lock().unwrap().0.tier, Tier::Pro);
    }

    #[tokio::test]
    async fn other_kinds_and_bad_payloads_are_parked() {
        let store = store(false);
        let handler = handler(&store);
        let mut other = job();
        other.kind = "refund".into();
        assert!(matches!(
            handler.handle(&other).await,
            Err(JobFailure::Permanent(_))
        ));
        let mut bad = job();
        bad.payload = serde_json::json!({ "id": 1 });
        assert!(matches!(
            handler.handle(&bad).await,
            Err(JobFailure::Permanent(_))
        ));
    }
}
