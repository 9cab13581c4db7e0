//! Flatpeak tariff rates: the per-kWh import price of one customer's tariff (a location connected
//! through Flatpeak Connect), in the tariff's own slots. Logs in with account id and API key
//! (HTTP Basic on `GET /login`) for a bearer token, kept until shortly before it expires.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::sync::Mutex;
use wattline_actors::domain::calendar::day_bounds;
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError};

use super::http::{ProviderHttp, unexpected};
use crate::config::Secret;

/// `[providers.flatpeak]`: a customer's tariff rates via Flatpeak.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatpeakSettings {
    pub base_url: String,
    pub account_id: String,
    pub location_id: String,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// Flatpeak in the provider registry: any region, with a key, an account and a location.
pub struct FlatpeakProvider;

impl super::Provider for FlatpeakProvider {
    fn source(&self) -> Source {
        Source::Flatpeak
    }

    fn covers(&self, _region: Region, _settings: &super::ProviderSettings) -> Result<(), String> {
        Ok(())
    }

    fn build(
        &self,
        _region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        let s = &cx.settings.flatpeak;
        Ok(match &s.api_key {
            Some(key) if !s.account_id.is_empty() && !s.location_id.is_empty() => {
                super::Built::Ready(std::sync::Arc::new(Flatpeak::new(
                    cx.http.clone(),
                    s.base_url.clone(),
                    s.account_id.clone(),
                    key.clone(),
                    s.location_id.clone(),
                    cx.clock.clone(),
                )))
            }
            _ => super::Built::LeftOut(
                "needs WATTLINE_PROVIDERS__FLATPEAK__API_KEY, account_id and location_id".into(),
            ),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Login {
    bearer_token: String,
    expires_in: u64,
}

/// A tariff-rates answer (legacy `tariff.rate` and current `price.value` shapes).
#[derive(Debug, Deserialize)]
pub struct Rates {
    pub currency_code: String,
    pub data: Vec<Slot>,
}

/// One tariff slot.
#[derive(Debug, Deserialize)]
pub struct Slot {
    pub valid_from: Timestamp,
    pub valid_to: Timestamp,
    #[serde(default)]
    pub tariff: Option<Amount>,
    #[serde(default)]
    pub price: Option<Amount>,
}

/// A rate in major currency units per kWh.
#[derive(Debug, Deserialize)]
pub struct Amount {
    #[serde(alias = "value")]
    pub rate: serde_json::Number,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Parses a rates answer.
pub fn parse_rates(body: &str) -> Result<Rates, SourceError> {
    serde_json::from_str(body).map_err(|e| SourceError::Malformed(format!("Flatpeak rates: {e}")))
}

/// The Flatpeak client as a [`PriceSource`].
pub struct Flatpeak {
    http: ProviderHttp,
    base_url: String,
    account_id: String,
    key: Secret,
    location_id: String,
    clock: SharedClock,
    token: Mutex<Option<(String, tokio::time::Instant)>>,
}

impl Flatpeak {
    /// A client of `base_url` reading the tariff of `location_id`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        account_id: String,
        key: Secret,
        location_id: String,
        clock: SharedClock,
    ) -> Self {
        let base_url = base_url.trim_end_matches('/').to_string();
        Flatpeak {
            http,
            base_url,
            account_id,
            key,
            location_id,
            clock,
            token: Mutex::new(None),
        }
    }

    async fn bearer(&self) -> Result<String, SourceError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && tokio::time::Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let credentials = format!("{}:{}", self.account_id, self.key.expose());
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        let answer = self
            .http
            .get(
                &format!("{}/login", self.base_url),
                &[],
                &[("authorization", basic)],
            )
            .await?;
        if !answer.status.is_success() {
            return Err(unexpected(&answer));
        }
        let login: Login = serde_json::from_str(&answer.body)
            .map_err(|e| SourceError::Malformed(format!("Flatpeak login: {e}")))?;
        // Renew a minute early.
        let lifetime = Duration::from_secs(login.expires_in.saturating_sub(60));
        *cached = Some((
            login.bearer_token.clone(),
            tokio::time::Instant::now() + lifetime,
        ));
        Ok(login.bearer_token)
    }
}

#[async_trait]
impl PriceSource for Flatpeak {
    fn source(&self) -> Source {
        Source::Flatpeak
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        let (start, end) = day_bounds(region, day);
        let token = self.bearer().await?;
        let url = format!("{}/tariffs/rates/{}", self.base_url, self.location_id);
        let fmt = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let query = [
            ("start_time", fmt(start)),
            ("end_time", fmt(end)),
            ("include_tariff", "true".to_string()),
            ("include_carbon", "false".to_string()),
            ("direction", "IMPORT".to_string()),
        ];
        let answer = self
            .http
            .get(
                &url,
                &query,
                &[("authorization", format!("Bearer {token}"))],
            )
            .await?;
        if !answer.status.is_success() {
            if let Ok(error) = serde_json::from_str::<ErrorBody>(&answer.body) {
                return Err(SourceError::Malformed(format!(
                    "Flatpeak {}: {}",
                    error.code, error.message
                )));
            }
            return Err(unexpected(&answer));
        }
        let rates = parse_rates(&answer.body)?;
        let currency = Currency::from_str(&rates.currency_code).map_err(|_| {
            SourceError::Malformed(format!("Flatpeak currency {:?}", rates.currency_code))
        })?;
        if currency != region.currency() {
            return Err(SourceError::Malformed(format!(
                "tariff in {currency}, region {region} is in {}",
                region.currency()
            )));
        }
        let fetched_at = self.clock.now();
        let mut points = Vec::with_capacity(rates.data.len());
        for slot in rates.data {
            let amount = slot
                .tariff
                .or(slot.price)
                .ok_or_else(|| SourceError::Malformed("slot without a rate".into()))?;
            let price = Decimal::from_str(&amount.rate.to_string())
                .or_else(|_| Decimal::from_scientific(&amount.rate.to_string()))
                .map_err(|_| SourceError::Malformed(format!("Flatpeak rate {}", amount.rate)))?;
            // Slots are clipped to the day: a tariff slot may run past midnight.
            let from = slot.valid_from.max(start);
            let to = slot.valid_to.min(end);
            let minutes = to.duration_since(from).as_mins();
            if minutes <= 0 {
                continue;
            }
            points.push(PricePoint {
                region,
                start: from,
                duration_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
                price,
                currency,
                unit: EnergyUnit::KWh,
                kind: PriceKind::Retail,
                source: Source::Flatpeak,
                fetched_at,
                estimated: false,
            });
        }
        points.sort_by_key(|p| p.start);
        Ok(points)
    }
}
