//! Billing in storage: Stripe events stored once by id with the job that applies them, and each
//! user's billing account, which the BillingWorker writes through the [`BillingStore`] port by
//! compare-and-set together with the user's tier, the email an event causes and the event's
//! processed mark, all in one transaction.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wattline_actors::domain::billing::{
    BillingAccount, BillingEvent, BillingNotice, Tier, format_amount,
};
use wattline_actors::ports::{
    BillingSettlement, BillingStore, LoadedBillingAccount, StoreError, StoredBillingEvent,
};
use wattline_actors::workers::email::EMAIL_QUEUE;

use super::jobs::NewJob;
use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col, render};
use super::{Storage, StorageError, UnitOfWork};

/// `billing_accounts`.
pub static BILLING_ACCOUNTS: Table = Table {
    name: "billing_accounts",
    columns: &[
        col("user_id", Kind::Text),
        col("customer_id", Kind::Text),
        col("subscription_id", Kind::Text),
        col("tier", Kind::Text),
        col("status", Kind::Text),
        col("current_period_end", Kind::Time),
        col("cancel_at_period_end", Kind::Bool),
        col("grace_until", Kind::Time),
        col("last_event_at", Kind::Time),
        col("version", Kind::Int),
        col("updated_at", Kind::Time),
    ],
    key: &["user_id"],
};

/// `billing_events`.
pub static BILLING_EVENTS: Table = Table {
    name: "billing_events",
    columns: &[
        col("id", Kind::Text),
        col("type", Kind::Text),
        col("created", Kind::Time),
        col("user_id", Kind::Text),
        col("customer_id", Kind::Text),
        col("payload", Kind::Json),
        col("received_at", Kind::Time),
        col("processed_at", Kind::Time),
        col("outcome", Kind::Text),
    ],
    key: &["id"],
};

/// Stores an event unless its id is stored already (a replay).
static INSERT_EVENT: Statement =
    Statement::new(|d: Dialect| BILLING_EVENTS.insert(d, "rows", OnConflict::Nothing));
static EVENT_BY_ID: Statement =
    Statement::new(|d: Dialect| BILLING_EVENTS.select(d, "id = {id}", "id", ""));
static MARK_PROCESSED: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE billing_events SET processed_at = {now:time}, outcome = {outcome} \
         WHERE id = {id} AND processed_at IS NULL",
        d,
    )
});
static ACCOUNT_OF_USER: Statement =
    Statement::new(|d: Dialect| BILLING_ACCOUNTS.select(d, "user_id = {user_id}", "user_id", ""));
static ACCOUNT_OF_CUSTOMER: Statement = Statement::new(|d: Dialect| {
    BILLING_ACCOUNTS.select(d, "customer_id = {customer_id}", "user_id", "")
});
/// Creates an account; a row already there (written meanwhile) fails the unit.
static INSERT_ACCOUNT: Statement =
    Statement::new(|d: Dialect| BILLING_ACCOUNTS.insert(d, "rows", OnConflict::Fail));
/// Rewrites an account still at version `expected`.
static UPDATE_ACCOUNT: Statement = Statement::new(|d: Dialect| {
    render(
        "UPDATE billing_accounts SET customer_id = {customer_id}, \
         subscription_id = {subscription_id}, tier = {tier}, status = {status}, \
         current_period_end = {current_period_end:time}, \
         cancel_at_period_end = {cancel_at_period_end:bool}, grace_until = {grace_until:time}, \
         last_event_at = {last_event_at:time}, version = {version:int}, \
         updated_at = {updated_at:time} WHERE user_id = {user_id} AND version = {expected:int}",
        d,
    )
});
static SET_USER_TIER: Statement =
    Statement::new(|d: Dialect| render("UPDATE users SET tier = {tier} WHERE id = {user_id}", d));

/// A row of [`BILLING_ACCOUNTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccountRow {
    pub user_id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub tier: String,
    pub status: String,
    pub current_period_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    pub grace_until: Option<Timestamp>,
    pub last_event_at: Option<Timestamp>,
    pub version: i64,
    pub updated_at: Timestamp,
}

impl BillingAccountRow {
    fn new(account: &BillingAccount, version: i64, now: Timestamp) -> Self {
        BillingAccountRow {
            user_id: account.user_id.clone(),
            customer_id: account.customer_id.clone(),
            subscription_id: account.subscription_id.clone(),
            tier: account.tier.as_str().into(),
            status: account.status.clone(),
            current_period_end: account.current_period_end,
            cancel_at_period_end: account.cancel_at_period_end,
            grace_until: account.grace_until,
            last_event_at: account.last_event_at,
            version,
            updated_at: now,
        }
    }

    /// The domain's view of the row.
    pub fn account(&self) -> Result<BillingAccount, StorageError> {
        Ok(BillingAccount {
            user_id: self.user_id.clone(),
            customer_id: self.customer_id.clone(),
            subscription_id: self.subscription_id.clone(),
            tier: self.tier.parse::<Tier>().map_err(StorageError::Corrupt)?,
            status: self.status.clone(),
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end,
            grace_until: self.grace_until,
            last_event_at: self.last_event_at,
        })
    }
}

/// A row of [`BILLING_EVENTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingEventRow {
    pub id: String,
    /// Stripe's event type (`checkout.session.completed`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub created: Timestamp,
    pub user_id: Option<String>,
    pub customer_id: Option<String>,
    /// The [`BillingEvent`], as billing reads it.
    pub payload: Value,
    pub received_at: Timestamp,
    pub processed_at: Option<Timestamp>,
    /// `applied`, `stale` or `no_account` once processed.
    pub outcome: Option<String>,
}

impl BillingEventRow {
    /// The row of `event` (of Stripe type `kind`) received at `now`.
    pub fn received(event: &BillingEvent, kind: &str, now: Timestamp) -> Self {
        BillingEventRow {
            id: event.id.clone(),
            kind: kind.to_string(),
            created: event.created,
            user_id: event.change.user_id().map(str::to_string),
            customer_id: event.change.customer().map(str::to_string),
            payload: serde_json::to_value(event).expect("a billing event serialises"),
            received_at: now,
            processed_at: None,
            outcome: None,
        }
    }
}

impl Storage {
    /// Stores a received event and queues `job` to apply it, in one transaction. `false` when
    /// the event was stored before (a replay: nothing is queued again).
    pub async fn store_billing_event(
        &self,
        row: &BillingEventRow,
        job: NewJob,
    ) -> Result<bool, StorageError> {
        let mut unit = UnitOfWork::new();
        unit.push(&INSERT_EVENT, &json!({ "rows": [row] }))
            .enqueue(job);
        let changed = self.commit(unit).await?;
        Ok(changed[0] == 1)
    }

    /// The stored event `id`.
    pub async fn billing_event_row(
        &self,
        id: &str,
    ) -> Result<Option<BillingEventRow>, StorageError> {
        let rows: Vec<BillingEventRow> = self.rows(&EVENT_BY_ID, &json!({ "id": id })).await?;
        Ok(rows.into_iter().next())
    }

    /// The billing account of `user_id`.
    pub async fn billing_account_of(
        &self,
        user_id: &str,
    ) -> Result<Option<BillingAccountRow>, StorageError> {
        let rows: Vec<BillingAccountRow> = self
            .rows(&ACCOUNT_OF_USER, &json!({ "user_id": user_id }))
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn billing_account_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<BillingAccountRow>, StorageError> {
        let rows: Vec<BillingAccountRow> = self
            .rows(&ACCOUNT_OF_CUSTOMER, &json!({ "customer_id": customer_id }))
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn settle_billing(
        &self,
        event_id: &str,
        settlement: &BillingSettlement,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut unit = UnitOfWork::new();
        let outcome = match settlement {
            BillingSettlement::Applied {
                before,
                account,
                notice,
            } => {
                let version = before.version.map_or(1, |v| v + 1);
                let row = BillingAccountRow::new(account, version, now);
                match before.version {
                    None => unit.push(&INSERT_ACCOUNT, &json!({ "rows": [row] })),
                    Some(expected) => {
                        let mut params = serde_json::to_value(&row)
                            .map_err(|e| StorageError::Rejected(e.to_string()))?;
                        params["expected"] = json!(expected);
                        unit.push_expecting(&UPDATE_ACCOUNT, &params, 1)
                    }
                };
                unit.push(
                    &SET_USER_TIER,
                    &json!({ "user_id": account.user_id, "tier": account.tier.as_str() }),
                );
                if let Some(notice) = notice {
                    unit.enqueue(notice_job(notice, account, &before.email, event_id, now));
                }
                "applied"
            }
            BillingSettlement::Stale => "stale",
            BillingSettlement::NoAccount => "no_account",
        };
        unit.push_expecting(
            &MARK_PROCESSED,
            &json!({ "id": event_id, "now": now, "outcome": outcome }),
            1,
        );
        self.commit(unit).await?;
        Ok(())
    }
}

/// The email a notice sends, keyed by the event so a repeat queues nothing.
fn notice_job(
    notice: &BillingNotice,
    account: &BillingAccount,
    email: &str,
    event_id: &str,
    now: Timestamp,
) -> NewJob {
    let (kind, payload) = match notice {
        BillingNotice::PaymentReceived { amount, currency } => (
            "payment_received",
            json!({
                "to": email,
                "amount_paid": format_amount(*amount, currency),
                "tier": account.tier.as_str(),
            }),
        ),
        BillingNotice::PaymentFailed {
            amount,
            currency,
            grace_until,
        } => (
            "payment_failed",
            json!({
                "to": email,
                "amount_due": format_amount(*amount, currency),
                "grace_until": grace_until.map(|t| t.to_string()),
            }),
        ),
    };
    NewJob {
        queue: EMAIL_QUEUE.into(),
        kind: kind.into(),
        payload,
        idempotency_key: format!("billing-email:{event_id}"),
        user_id: Some(account.user_id.clone()),
        run_at: now,
    }
}

#[async_trait]
impl BillingStore for Storage {
    async fn billing_event(&self, id: &str) -> Result<Option<StoredBillingEvent>, StoreError> {
        let Some(row) = self.billing_event_row(id).await? else {
            return Ok(None);
        };
        let event: BillingEvent = serde_json::from_value(row.payload)
            .map_err(|e| StoreError::Rejected(format!("billing event {id} does not parse: {e}")))?;
        Ok(Some(StoredBillingEvent {
            event,
            processed: row.processed_at.is_some(),
        }))
    }

    async fn billing_account(
        &self,
        user_id: Option<&str>,
        customer: Option<&str>,
    ) -> Result<Option<LoadedBillingAccount>, StoreError> {
        let by_user = match user_id {
            Some(id) => self
                .user_by_id(id)
                .await?
                .map(|user| (user, None::<BillingAccountRow>)),
            None => None,
        };
        let found = match (by_user, customer) {
            (Some((user, _)), _) => {
                let row = self.billing_account_of(&user.id).await?;
                Some((user, row))
            }
            (None, Some(customer)) => match self.billing_account_of_customer(customer).await? {
                Some(row) => self
                    .user_by_id(&row.user_id)
                    .await?
                    .map(|user| (user, Some(row))),
                None => None,
            },
            (None, None) => None,
        };
        let Some((user, row)) = found else {
            return Ok(None);
        };
        let (account, version) = match row {
            Some(row) => (row.account()?, Some(row.version)),
            None => (BillingAccount::new(&user.id), None),
        };
        Ok(Some(LoadedBillingAccount {
            account,
            email: user.email,
            version,
        }))
    }

    async fn settle_billing_event(
        &self,
        event_id: &str,
        settlement: &BillingSettlement,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        match self.settle_billing(event_id, settlement, now).await {
            Ok(()) => Ok(true),
            Err(StorageError::Conflict(_)) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn rows_name_exactly_their_table_columns() {
        let account = BillingAccountRow::new(&BillingAccount::new("u"), 1, Timestamp::UNIX_EPOCH);
        assert_eq!(fields(&account), columns(&BILLING_ACCOUNTS));
        assert_eq!(account.account().unwrap(), BillingAccount::new("u"));
        let event = BillingEvent {
            id: "evt".into(),
            created: Timestamp::UNIX_EPOCH,
            change: wattline_actors::domain::billing::BillingChange::SubscriptionDeleted {
                user_id: Some("u".into()),
                customer: Some("cus".into()),
                subscription: "sub".into(),
            },
        };
        let row = BillingEventRow::received(
            &event,
            "customer.subscription.deleted",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(fields(&row), columns(&BILLING_EVENTS));
        assert_eq!(row.user_id.as_deref(), Some("u"));
        assert_eq!(row.customer_id.as_deref(), Some("cus"));
    }
}
