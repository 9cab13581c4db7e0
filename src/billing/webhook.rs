//! Stripe's webhooks: the signature checked by async-stripe against the engine clock (so a test
//! clock and a replayed old delivery behave alike; Stripe's 300 s tolerance), and the typed
//! event turned into the [`BillingEvent`] billing acts on. Nothing else of the payload is kept.

use std::collections::HashMap;

use jiff::Timestamp;
use stripe_webhook::{EventObject, Webhook, WebhookError};
use wattline_actors::domain::billing::{BillingChange, BillingEvent, Tier};

use crate::config::Secret;

/// A verified event.
#[derive(Debug)]
pub enum ParsedEvent {
    /// One billing acts on, with its Stripe type.
    Billing { event: BillingEvent, kind: String },
    /// Any other type: acknowledged, not stored.
    Other { id: String, kind: String },
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    /// The signature header is malformed, stale or does not match.
    #[error("{0}")]
    Signature(String),
    /// Signed, but not an event the client can read.
    #[error("{0}")]
    Event(String),
}

/// Verifies `payload` against `signature` at `now` and reads the event.
pub fn verify_and_parse(
    payload: &[u8],
    signature: &str,
    secret: &Secret,
    now: Timestamp,
) -> Result<ParsedEvent, WebhookRefusal> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| WebhookRefusal::Event("the body is not UTF-8".into()))?;
    let event =
        Webhook::construct_event_with_timestamp(text, signature, secret.expose(), now.as_second())
            .map_err(|error| match error {
                WebhookError::BadParse(message) => WebhookRefusal::Event(message),
                WebhookError::BadTimestamp(t) => WebhookRefusal::Signature(format!(
                    "timestamp {t} is more than 300 s from the server's clock"
                )),
                other => WebhookRefusal::Signature(other.to_string()),
            })?;
    let id = event.id.as_str().to_string();
    let kind = event.type_.as_str().to_string();
    let created = Timestamp::from_second(event.created)
        .map_err(|e| WebhookRefusal::Event(format!("created: {e}")))?;
    let change = match event.data.object {
        EventObject::CheckoutSessionCompleted(session) => {
            let metadata = session.metadata.unwrap_or_default();
            BillingChange::CheckoutCompleted {
                user_id: session
                    .client_reference_id
                    .or_else(|| metadata.get("user_id").cloned()),
                customer: session.customer.map(|c| c.id().as_str().to_string()),
                subscription: session.subscription.map(|s| s.id().as_str().to_string()),
                tier: tier_of(&metadata),
            }
        }
        EventObject::CustomerSubscriptionCreated(sub)
        | EventObject::CustomerSubscriptionUpdated(sub) => {
            let period_end = sub.items.data.iter().map(|i| i.current_period_end).max();
            BillingChange::SubscriptionUpdated {
                user_id: sub.metadata.get("user_id").cloned(),
                customer: Some(sub.customer.id().as_str().to_string()),
                subscription: sub.id.as_str().to_string(),
                status: sub.status.as_str().to_string(),
                tier: tier_of(&sub.metadata),
                current_period_end: period_end.and_then(|t| Timestamp::from_second(t).ok()),
                cancel_at_period_end: sub.cancel_at_period_end,
            }
        }
        EventObject::CustomerSubscriptionDeleted(sub) => BillingChange::SubscriptionDeleted {
            user_id: sub.metadata.get("user_id").cloned(),
            customer: Some(sub.customer.id().as_str().to_string()),
            subscription: sub.id.as_str().to_string(),
        },
        EventObject::InvoicePaid(invoice) | EventObject::InvoicePaymentFailed(invoice) => {
            let customer = invoice
                .customer
                .as_ref()
                .map(|c| c.id().as_str().to_string());
            let subscription = invoice
                .parent
                .as_ref()
                .and_then(|p| p.subscription_details.as_ref())
                .map(|d| d.subscription.id().as_str().to_string());
            let currency = invoice.currency.to_string();
            if kind == "invoice.paid" {
                BillingChange::InvoicePaid {
                    customer,
                    subscription,
                    amount: invoice.amount_paid,
                    currency,
                }
            } else {
                BillingChange::InvoicePaymentFailed {
                    customer,
                    subscription,
                    amount: invoice.amount_due,
                    currency,
                }
            }
        }
        _ => return Ok(ParsedEvent::Other { id, kind }),
    };
    Ok(ParsedEvent::Billing {
        event: BillingEvent {
            id,
            created,
            change,
        },
        kind,
    })
}

fn tier_of(metadata: &HashMap<String, String>) -> Option<Tier> {
    metadata.get("tier").and_then(|t| t.parse().ok())
}
