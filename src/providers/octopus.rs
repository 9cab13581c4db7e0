//! Octopus Energy Agile unit rates for `uk`: half-hourly retail prices in pence per kWh,
//! published around 16:00 UK time for the next day (23:00 to 23:00). The API pages results
//! (newest first) through absolute `next` URLs. Prices are stored per kWh in GBP, including VAT
//! (what a household pays); the rate without VAT is what the API calls `value_exc_vat`.

use std::str::FromStr;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;
use wattline_actors::domain::calendar::{day_bounds, publication_instant};
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError};

use super::http::{ProviderHttp, unexpected};

/// `[providers.octopus]`: Octopus Energy Agile (no key needed for tariff rates).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctopusSettings {
    pub base_url: String,
    /// Agile product code (default AGILE-24-10-01).
    pub product: String,
    /// GB region letter, A–P without I and O (default C, London).
    #[serde(deserialize_with = "region_letter")]
    pub region_letter: String,
}

fn region_letter<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let letter = <String as serde::Deserialize>::deserialize(deserializer)?;
    if letter.len() != 1 || !"ABCDEFGHJKLMNP".contains(letter.as_str()) {
        return Err(serde::de::Error::custom(
            "must be one GB region letter A-P (no I or O)",
        ));
    }
    Ok(letter)
}

/// Octopus Agile in the provider registry: `uk` only.
pub struct OctopusProvider;

impl super::Provider for OctopusProvider {
    fn source(&self) -> Source {
        Source::Octopus
    }

    fn covers(&self, region: Region, _settings: &super::ProviderSettings) -> Result<(), String> {
        if region == Region::Uk {
            Ok(())
        } else {
            Err("Agile covers only uk".into())
        }
    }

    fn build(
        &self,
        _region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        let s = &cx.settings.octopus;
        Ok(super::Built::Ready(std::sync::Arc::new(Octopus::new(
            cx.http.clone(),
            s.base_url.clone(),
            s.product.clone(),
            s.region_letter.clone(),
            cx.clock.clone(),
        ))))
    }
}

/// One page of the standard-unit-rates listing.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub next: Option<String>,
    pub results: Vec<Rate>,
}

/// One half-hour rate. Amounts are JSON numbers kept as written (no float rounding).
#[derive(Debug, Deserialize)]
pub struct Rate {
    pub value_exc_vat: serde_json::Number,
    pub value_inc_vat: serde_json::Number,
    pub valid_from: Timestamp,
    pub valid_to: Option<Timestamp>,
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// Parses one page.
pub fn parse_page(body: &str) -> Result<Page, SourceError> {
    serde_json::from_str(body).map_err(|e| SourceError::Malformed(format!("Octopus rates: {e}")))
}

/// Pence (as the API writes them) to pounds, exactly.
pub fn pence_to_pounds(pence: &serde_json::Number) -> Result<Decimal, SourceError> {
    let text = pence.to_string();
    let value = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| SourceError::Malformed(format!("Octopus rate {text:?} is not a decimal")))?;
    Ok(value / Decimal::ONE_HUNDRED)
}

/// The Agile client as a [`PriceSource`].
pub struct Octopus {
    http: ProviderHttp,
    base_url: String,
    product: String,
    region_letter: String,
    clock: SharedClock,
}

impl Octopus {
    /// A client of `base_url` (…/v1) for `product` in GB region `region_letter`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        product: String,
        region_letter: String,
        clock: SharedClock,
    ) -> Self {
        Octopus {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            product,
            region_letter,
            clock,
        }
    }

    fn rates_url(&self) -> String {
        format!(
            "{}/products/{product}/electricity-tariffs/E-1R-{product}-{letter}/standard-unit-rates/",
            self.base_url,
            product = self.product,
            letter = self.region_letter
        )
    }
}

/// Most pages a day may take (a day is at most 50 half-hours; the default page holds 100).
const MAX_PAGES: usize = 10;

#[async_trait]
impl PriceSource for Octopus {
    fn source(&self) -> Source {
        Source::Octopus
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        if region != Region::Uk {
            return Err(SourceError::UnsupportedRegion { region });
        }
        let (start, end) = day_bounds(region, day);
        let fmt = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut url = self.rates_url();
        let mut query = vec![
            ("period_from", fmt(start)),
            ("period_to", fmt(end)),
            ("page_size", "100".to_string()),
        ];
        let mut rates = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.http.get(&url, &query, &[]).await?;
            if !answer.status.is_success() {
                return Err(unexpected(&answer));
            }
            let page = parse_page(&answer.body)?;
            rates.extend(page.results);
            match page.next {
                // `next` is absolute and carries every filter.
                Some(next) => {
                    url = next;
                    query.clear();
                }
                None => break,
            }
        }
        if rates.is_empty()
            && self.clock.now()
                < publication_instant(region, day) + jiff::SignedDuration::from_hours(7)
        {
            // Agile publishes around 16:00 and is sometimes hours late.
            return Err(SourceError::NotPublished { day });
        }
        let fetched_at = self.clock.now();
        let mut points = Vec::with_capacity(rates.len());
        for rate in rates {
            let Some(valid_to) = rate.valid_to else {
                return Err(SourceError::Malformed("Agile rate without valid_to".into()));
            };
            let minutes = valid_to.duration_since(rate.valid_from).as_mins();
            if rate.valid_from < start || rate.valid_from >= end {
                continue;
            }
            if !(1..=1440).contains(&minutes) {
                return Err(SourceError::Malformed(format!(
                    "Agile slot of {minutes} minutes"
                )));
            }
            points.push(PricePoint {
                region,
                start: rate.valid_from,
                duration_minutes: minutes as u32,
                price: pence_to_pounds(&rate.value_inc_vat)?,
                currency: Currency::Gbp,
                unit: EnergyUnit::KWh,
                kind: PriceKind::Retail,
                source: Source::Octopus,
                fetched_at,
                estimated: false,
            });
        }
        // Newest first from the API; oldest first for us.
        points.sort_by_key(|p| p.start);
        points.dedup_by_key(|p| p.start);
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pence_become_exact_pounds() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(
            pence_to_pounds(&n("18.291")).unwrap().to_string(),
            "0.18291"
        );
        assert_eq!(pence_to_pounds(&n("-3.0")).unwrap().to_string(), "-0.030");
        assert_eq!(pence_to_pounds(&n("20")).unwrap(), Decimal::new(20, 2));
    }
}
