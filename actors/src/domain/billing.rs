//! Billing rules: the tiers, what each Stripe event does to a user's subscription, which of two
//! events is newer, and what each tier allows. Pure: the webhook route turns Stripe's payload into
//! a [`BillingEvent`], the BillingWorker loads the account, calls [`apply`] and stores the result.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Pro,
    Business,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Business => "business",
        }
    }

    /// Whether the tier is bought (checkout offers only these).
    pub fn is_paid(self) -> bool {
        self != Tier::Free
    }

    /// Alert rules the tier may hold (`free_rules` for free, no limit otherwise).
    pub fn alert_rule_limit(self, free_rules: u32) -> Option<u32> {
        (self == Tier::Free).then_some(free_rules)
    }

    /// Longest forecast horizon the tier may ask for, in hours (`free_hours` for free, `None`:
    /// the engine's own limit).
    pub fn forecast_hours_limit(self, free_hours: u32) -> Option<u32> {
        (self == Tier::Free).then_some(free_hours)
    }

    /// Whether the tier may create its own API keys.
    pub fn may_create_api_keys(self) -> bool {
        self == Tier::Business
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Tier::Free),
            "pro" => Ok(Tier::Pro),
            "business" => Ok(Tier::Business),
            other => Err(format!("unknown tier {other:?} (free, pro or business)")),
        }
    }
}

/// What happened at Stripe, in the terms billing needs (nothing else of the payload is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingEvent {
    /// Stripe's event id (`evt_…`): an event is stored and applied once.
    pub id: String,
    /// When Stripe created the event: orders events that arrive out of order.
    pub created: Timestamp,
    pub change: BillingChange,
}

/// The kinds of event billing acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillingChange {
    /// `checkout.session.completed`: the user bought `tier`.
    CheckoutCompleted {
        user_id: Option<String>,
        customer: Option<String>,
        subscription: Option<String>,
        tier: Option<Tier>,
    },
    /// `customer.subscription.created` / `.updated`.
    SubscriptionUpdated {
        user_id: Option<String>,
        customer: Option<String>,
        subscription: String,
        /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, `unpaid`, …).
        status: String,
        tier: Option<Tier>,
        current_period_end: Option<Timestamp>,
        cancel_at_period_end: bool,
    },
    /// `customer.subscription.deleted`.
    SubscriptionDeleted {
        user_id: Option<String>,
        customer: Option<String>,
        subscription: String,
    },
    /// `invoice.paid`.
    InvoicePaid {
        customer: Option<String>,
        subscription: Option<String>,
        /// Minor units of `currency`.
        amount: i64,
        currency: String,
    },
    /// `invoice.payment_failed`.
    InvoicePaymentFailed {
        customer: Option<String>,
        subscription: Option<String>,
        amount: i64,
        currency: String,
    },
}

impl BillingChange {
    /// The user the event names in its metadata, if any.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            BillingChange::CheckoutCompleted { user_id, .. }
            | BillingChange::SubscriptionUpdated { user_id, .. }
            | BillingChange::SubscriptionDeleted { user_id, .. } => user_id.as_deref(),
            BillingChange::InvoicePaid { .. } | BillingChange::InvoicePaymentFailed { .. } => None,
        }
    }

    /// The Stripe customer the event is about, if it says.
    pub fn customer(&self) -> Option<&str> {
        match self {
            BillingChange::CheckoutCompleted { customer, .. }
            | BillingChange::SubscriptionUpdated { customer, .. }
            | BillingChange::SubscriptionDeleted { customer, .. }
            | BillingChange::InvoicePaid { customer, .. }
            | BillingChange::InvoicePaymentFailed { customer, .. } => customer.as_deref(),
        }
    }
}

/// A user's billing state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAccount {
    pub user_id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub tier: Tier,
    /// Stripe's subscription status, or `none` before any subscription.
    pub status: String,
    pub current_period_end: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    /// While a payment is failing, the paid tier is kept until then.
    pub grace_until: Option<Timestamp>,
    /// `created` of the newest event applied; an older one changes nothing.
    pub last_event_at: Option<Timestamp>,
}

impl BillingAccount {
    /// A user who never bought anything.
    pub fn new(user_id: impl Into<String>) -> Self {
        BillingAccount {
            user_id: user_id.into(),
            customer_id: None,
            subscription_id: None,
            tier: Tier::Free,
            status: "none".into(),
            current_period_end: None,
            cancel_at_period_end: false,
            grace_until: None,
            last_event_at: None,
        }
    }

    /// Whether a subscription is being paid for (past due within its grace included).
    pub fn has_active_subscription(&self) -> bool {
        self.tier.is_paid() && matches!(self.status.as_str(), "active" | "trialing" | "past_due")
    }
}

/// A message the user gets because of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingNotice {
    PaymentReceived {
        amount: i64,
        currency: String,
    },
    PaymentFailed {
        amount: i64,
        currency: String,
        grace_until: Option<Timestamp>,
    },
}

/// What an event does to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The account becomes `account`; `notice` is sent.
    Applied {
        account: Box<BillingAccount>,
        notice: Option<BillingNotice>,
    },
    /// Older than what the account already reflects: nothing changes.
    Stale,
}

/// Applies `event` to `account` (a fresh [`BillingAccount::new`] for a user without one).
/// `grace` is how long a failing payment keeps the paid tier.
pub fn apply(account: &BillingAccount, event: &BillingEvent, grace: SignedDuration) -> Outcome {
    if account
        .last_event_at
        .is_some_and(|last| event.created < last)
    {
        return Outcome::Stale;
    }
    let mut next = account.clone();
    next.last_event_at = Some(event.created);
    if let Some(customer) = event.change.customer() {
        next.customer_id = Some(customer.to_string());
    }
    let mut notice = None;
    match &event.change {
        BillingChange::CheckoutCompleted {
            subscription, tier, ..
        } => {
            if let Some(subscription) = subscription {
                next.subscription_id = Some(subscription.clone());
            }
            if let Some(tier) = tier.filter(|t| t.is_paid()) {
                next.tier = tier;
            }
            next.status = "active".into();
            next.grace_until = None;
        }
        BillingChange::SubscriptionUpdated {
            subscription,
            status,
            tier,
            current_period_end,
            cancel_at_period_end,
            ..
        } => {
            next.subscription_id = Some(subscription.clone());
            next.status = status.clone();
            next.current_period_end = *current_period_end;
            next.cancel_at_period_end = *cancel_at_period_end;
            match status.as_str() {
                "active" | "trialing" => {
                    next.grace_until = None;
                    if let Some(tier) = tier.filter(|t| t.is_paid()) {
                        next.tier = tier;
                    }
                }
                // Stripe is retrying the payment: the tier stays during the grace period,
                // counted from the first failure this account saw.
                "past_due" => {
                    let until = *next.grace_until.get_or_insert(event.created + grace);
                    if event.created > until {
                        next.tier = Tier::Free;
                    } else if let Some(tier) = tier.filter(|t| t.is_paid()) {
                        next.tier = tier;
                    }
                }
                _ => {
                    next.tier = Tier::Free;
                    next.grace_until = None;
                }
            }
        }
        BillingChange::SubscriptionDeleted { subscription, .. } => {
            next.subscription_id = Some(subscription.clone());
            next.tier = Tier::Free;
            next.status = "canceled".into();
            next.cancel_at_period_end = false;
            next.grace_until = None;
        }
        BillingChange::InvoicePaid {
            amount, currency, ..
        } => {
            if next.status == "past_due" {
                next.status = "active".into();
            }
            next.grace_until = None;
            notice = Some(BillingNotice::PaymentReceived {
                amount: *amount,
                currency: currency.clone(),
            });
        }
        BillingChange::InvoicePaymentFailed {
            amount, currency, ..
        } => {
            if next.tier.is_paid() {
                next.status = "past_due".into();
                next.grace_until.get_or_insert(event.created + grace);
            }
            notice = Some(BillingNotice::PaymentFailed {
                amount: *amount,
                currency: currency.clone(),
                grace_until: next.grace_until,
            });
        }
    }
    Outcome::Applied {
        account: Box::new(next),
        notice,
    }
}

/// `amount` minor units of `currency` as text (`12.50 EUR`); zero-decimal currencies as whole.
pub fn format_amount(amount: i64, currency: &str) -> String {
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str()) {
        return format!("{amount} {code}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {code}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: SignedDuration = SignedDuration::from_hours(7 * 24);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn event(id: &str, seconds: i64, change: BillingChange) -> BillingEvent {
        BillingEvent {
            id: id.into(),
            created: at(seconds),
            change,
        }
    }

    fn applied(outcome: Outcome) -> (BillingAccount, Option<BillingNotice>) {
        match outcome {
            Outcome::Applied { account, notice } => (*account, notice),
            Outcome::Stale => panic!("expected the event to apply"),
        }
    }

    fn checkout(seconds: i64, tier: Tier) -> BillingEvent {
        event(
            "evt_checkout",
            seconds,
            BillingChange::CheckoutCompleted {
                user_id: Some("u1".into()),
                customer: Some("cus_1".into()),
                subscription: Some("sub_1".into()),
                tier: Some(tier),
            },
        )
    }

    fn updated(seconds: i64, status: &str, tier: Option<Tier>) -> BillingEvent {
        event(
            &format!("evt_up_{seconds}"),
            seconds,
            BillingChange::SubscriptionUpdated {
                user_id: Some("u1".into()),
                customer: Some("cus_1".into()),
                subscription: "sub_1".into(),
                status: status.into(),
                tier,
                current_period_end: Some(at(30 * 86_400)),
                cancel_at_period_end: false,
            },
        )
    }

    #[test]
    fn checkout_gives_the_bought_tier_with_customer_and_subscription() {
        let (account, notice) = applied(apply(
            &BillingAccount::new("u1"),
            &checkout(0, Tier::Pro),
            GRACE,
        ));
        assert_eq!(account.tier, Tier::Pro);
        assert_eq!(account.status, "active");
        assert_eq!(account.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(account.subscription_id.as_deref(), Some("sub_1"));
        assert!(account.has_active_subscription());
        assert_eq!(notice, None);
    }

    #[test]
    fn an_update_older_than_the_deletion_changes_nothing() {
        let (pro, _) = applied(apply(
            &BillingAccount::new("u1"),
            &checkout(0, Tier::Pro),
            GRACE,
        ));
        let deleted = event(
            "evt_del",
            20,
            BillingChange::SubscriptionDeleted {
                user_id: Some("u1".into()),
                customer: Some("cus_1".into()),
                subscription: "sub_1".into(),
            },
        );
        let (free, _) = applied(apply(&pro, &deleted, GRACE));
        assert_eq!((free.tier, free.status.as_str()), (Tier::Free, "canceled"));
        assert_eq!(
            apply(&free, &updated(10, "active", Some(Tier::Pro)), GRACE),
            Outcome::Stale
        );
        // A newer one applies.
        let (again, _) = applied(apply(
            &free,
            &updated(30, "active", Some(Tier::Business)),
            GRACE,
        ));
        assert_eq!(again.tier, Tier::Business);
    }

    #[test]
    fn statuses_other_than_active_or_trialing_fall_back_to_free() {
        let (pro, _) = applied(apply(
            &BillingAccount::new("u1"),
            &checkout(0, Tier::Pro),
            GRACE,
        ));
        for status in ["canceled", "unpaid", "incomplete_expired", "paused"] {
            let (account, _) = applied(apply(&pro, &updated(5, status, Some(Tier::Pro)), GRACE));
            assert_eq!(account.tier, Tier::Free, "{status}");
            assert!(!account.has_active_subscription());
        }
        let (trial, _) = applied(apply(
            &pro,
            &updated(5, "trialing", Some(Tier::Business)),
            GRACE,
        ));
        assert_eq!(trial.tier, Tier::Business);
        assert_eq!(trial.current_period_end, Some(at(30 * 86_400)));
    }

    #[test]
    fn a_failing_payment_keeps_the_tier_through_the_grace_period_only() {
        let (pro, _) = applied(apply(
            &BillingAccount::new("u1"),
            &checkout(0, Tier::Pro),
            GRACE,
        ));
        let failed = event(
            "evt_fail",
            100,
            BillingChange::InvoicePaymentFailed {
                customer: Some("cus_1".into()),
                subscription: Some("sub_1".into()),
                amount: 1250,
                currency: "eur".into(),
            },
        );
        let (past_due, notice) = applied(apply(&pro, &failed, GRACE));
        assert_eq!(
            (past_due.tier, past_due.status.as_str()),
            (Tier::Pro, "past_due")
        );
        let until = at(100) + GRACE;
        assert_eq!(past_due.grace_until, Some(until));
        assert_eq!(
            notice,
            Some(BillingNotice::PaymentFailed {
                amount: 1250,
                currency: "eur".into(),
                grace_until: Some(until),
            })
        );
        // Stripe retrying within the grace: still pro.
        let (within, _) = applied(apply(&past_due, &updated(200, "past_due", None), GRACE));
        assert_eq!(within.tier, Tier::Pro);
        // Still past due after the grace: free.
        let late = 100 + GRACE.as_secs() + 1;
        let (after, _) = applied(apply(&within, &updated(late, "past_due", None), GRACE));
        assert_eq!(after.tier, Tier::Free);
        // Paid at last: active again, grace cleared, receipt sent.
        let paid = event(
            "evt_paid",
            300,
            BillingChange::InvoicePaid {
                customer: Some("cus_1".into()),
                subscription: Some("sub_1".into()),
                amount: 1250,
                currency: "eur".into(),
            },
        );
        let (active, notice) = applied(apply(&within, &paid, GRACE));
        assert_eq!((active.tier, active.status.as_str()), (Tier::Pro, "active"));
        assert_eq!(active.grace_until, None);
        assert!(matches!(
            notice,
            Some(BillingNotice::PaymentReceived { amount: 1250, .. })
        ));
    }

    #[test]
    fn tiers_parse_and_carry_their_limits() {
        assert_eq!("business".parse::<Tier>(), Ok(Tier::Business));
        assert!("gold".parse::<Tier>().is_err());
        assert_eq!(Tier::Free.alert_rule_limit(1), Some(1));
        assert_eq!(Tier::Pro.alert_rule_limit(1), None);
        assert_eq!(Tier::Free.forecast_hours_limit(48), Some(48));
        assert_eq!(Tier::Pro.forecast_hours_limit(48), None);
        assert!(Tier::Business.may_create_api_keys() && !Tier::Pro.may_create_api_keys());
    }

    #[test]
    fn amounts_format_with_their_currency() {
        assert_eq!(format_amount(1250, "eur"), "12.50 EUR");
        assert_eq!(format_amount(5, "gbp"), "0.05 GBP");
        assert_eq!(format_amount(1200, "jpy"), "1200 JPY");
    }
}
