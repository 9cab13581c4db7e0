//! `[billing]`: Stripe, and what the tiers cost.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::human;

/// `[billing]`. Without `secret_key` (environment only) checkout and the portal answer 503 and
/// the GdprWorker parks customer deletions; without `webhook_secret` the webhook answers 503.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// Stripe's API (default `https://api.stripe.com/`); tests point it at a local fake.
    pub api_base: url::Url,
    /// The Stripe secret key (`sk_…`), from `WATTLINE_BILLING__SECRET_KEY` only.
    #[serde(default)]
    pub secret_key: Option<Secret>,
    /// The webhook endpoint's signing secret (`whsec_…`), from
    /// `WATTLINE_BILLING__WEBHOOK_SECRET` only.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Price id of the pro plan (`price_…`).
    #[serde(default)]
    pub pro_price: Option<String>,
    /// Price id of the business plan.
    #[serde(default)]
    pub business_price: Option<String>,
    /// How long a failing payment keeps the paid tier (default 7 days).
    #[serde(deserialize_with = "human::positive_duration")]
    pub grace_period: Duration,
    /// Forecast hours open to anonymous and free callers (default 48); beyond them pro,
    /// business or an API key is needed.
    pub free_forecast_hours: NonZeroU32,
    /// Longest wait for one Stripe call (default 20s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub timeout: Duration,
}
