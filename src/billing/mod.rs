//! Stripe through async-stripe: Checkout sessions for the paid tiers, Billing Portal sessions,
//! and customer deletion for the GdprWorker. The base URL comes from config, so tests point it
//! at a local fake. Without a secret key there is no client: the billing routes answer 503 and
//! customer deletions wait, parked, for an operator.

pub mod webhook;

use std::collections::HashMap;

use async_trait::async_trait;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::DeleteCustomer;
use wattline_actors::domain::billing::Tier;
use wattline_actors::ports::{PaymentCustomers, PaymentError};

use crate::config::BillingSettings;
use crate::error::ApiError;

/// The Stripe client with the plans' price ids.
pub struct StripeBilling {
    client: Client,
    pro_price: Option<String>,
    business_price: Option<String>,
}

/// A Checkout to start.
pub struct CheckoutRequest<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    /// The user's Stripe customer, reused when there is one.
    pub customer: Option<&'a str>,
    pub tier: Tier,
    pub price: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// A started Checkout.
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

impl StripeBilling {
    /// The client, or `None` without `billing.secret_key`.
    pub fn new(settings: &BillingSettings) -> Result<Option<Self>, StripeError> {
        let Some(key) = &settings.secret_key else {
            return Ok(None);
        };
        crate::providers::http::install_crypto_provider();
        // The client joins paths to the base, so it must end with '/'.
        let mut base = settings.api_base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = ClientBuilder::new(key.expose())
            .url(base)
            .request_strategy(stripe::RequestStrategy::Once)
            .timeout(settings.timeout)
            .build()?;
        Ok(Some(StripeBilling {
            client,
            pro_price: settings.pro_price.clone(),
            business_price: settings.business_price.clone(),
        }))
    }

    /// The price id of `tier`, when configured.
    pub fn price_for(&self, tier: Tier) -> Option<&str> {
        match tier {
            Tier::Pro => self.pro_price.as_deref(),
            Tier::Business => self.business_price.as_deref(),
            Tier::Free => None,
        }
    }

    /// Starts a subscription Checkout; the session and the subscription carry `{user_id, tier}`.
    pub async fn checkout(
        &self,
        request: &CheckoutRequest<'_>,
    ) -> Result<CheckoutSession, PaymentError> {
        let metadata: HashMap<String, String> = HashMap::from([
            ("user_id".to_string(), request.user_id.to_string()),
            ("tier".to_string(), request.tier.as_str().to_string()),
        ]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(request.price.to_string());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let mut create = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![item])
            .success_url(request.success_url)
            .cancel_url(request.cancel_url)
            .client_reference_id(request.user_id)
            .metadata(metadata)
            .subscription_data(subscription);
        create = match request.customer {
            Some(customer) => create.customer(customer),
            None => create.customer_email(request.email),
        };
        let session = create.send(&self.client).await.map_err(payment_error)?;
        let url = session
            .url
            .ok_or_else(|| PaymentError::Refused("the Checkout session has no URL".into()))?;
        Ok(CheckoutSession {
            id: session.id.as_str().to_string(),
            url,
        })
    }

    /// A Billing Portal session for `customer`, returning to `return_url`.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String, PaymentError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(payment_error)?;
        Ok(session.url)
    }
}

#[async_trait]
impl PaymentCustomers for StripeBilling {
    async fn delete_customer(&self, id: &str) -> Result<(), PaymentError> {
        DeleteCustomer::new(id)
            .send(&self.client)
            .await
            .map_err(payment_error)?;
        Ok(())
    }
}

/// Stands in for Stripe when no key is configured.
pub struct NoPayments;

#[async_trait]
impl PaymentCustomers for NoPayments {
    async fn delete_customer(&self, _id: &str) -> Result<(), PaymentError> {
        Err(PaymentError::NotConfigured)
    }
}

/// Stripe's failures as the port's: a 404 means the object is gone, other 4xx are refusals
/// (429 excepted), the rest is worth retrying. Messages carry Stripe's text, never the key.
fn payment_error(error: StripeError) -> PaymentError {
    match error {
        StripeError::Stripe(api, 404) => {
            PaymentError::Missing(api.message.clone().unwrap_or_else(|| "such object".into()))
        }
        StripeError::Stripe(api, status) if (400..500).contains(&status) && status != 429 => {
            PaymentError::Refused(format!(
                "{status}: {}",
                api.message.clone().unwrap_or_default()
            ))
        }
        StripeError::Stripe(api, status) => PaymentError::Unavailable(format!(
            "{status}: {}",
            api.message.clone().unwrap_or_default()
        )),
        other => PaymentError::Unavailable(other.to_string()),
    }
}

impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::NotConfigured => {
                ApiError::BillingNotConfigured("no Stripe key (WATTLINE_BILLING__SECRET_KEY)")
            }
            other => ApiError::PaymentProvider(other.to_string()),
        }
    }
}
