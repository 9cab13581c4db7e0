//! EIA API v2 monthly average retail electricity prices (cents per kWh) by state and sector, for
//! the `us_*` regions. This is a retail reference series, published about two months after the
//! month: it is stored (and shown by history and compare) with `kind: "retail"` and a duration of
//! its month, fetched beside the region's intraday sources and never in place of them.

use std::str::FromStr;

use async_trait::async_trait;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;
use wattline_actors::domain::calendar::day_start;
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError, SourceRole};

use super::http::{ProviderHttp, unexpected};
use crate::config::Secret;

/// `[providers.eia]`: EIA API v2 retail prices.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EiaSettings {
    pub base_url: String,
    /// Sector (default RES).
    pub sector: String,
    /// API key (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// EIA in the provider registry: the `us_*` regions, with a key.
pub struct EiaProvider;

impl super::Provider for EiaProvider {
    fn source(&self) -> Source {
        Source::Eia
    }

    fn covers(&self, region: Region, _settings: &super::ProviderSettings) -> Result<(), String> {
        state(region)
            .map(|_| ())
            .ok_or_else(|| "EIA covers only the us_* regions".into())
    }

    fn build(
        &self,
        _region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        let s = &cx.settings.eia;
        Ok(match &s.api_key {
            Some(key) => super::Built::Ready(std::sync::Arc::new(Eia::new(
                cx.http.clone(),
                s.base_url.clone(),
                key.clone(),
                s.sector.clone(),
                cx.clock.clone(),
            ))),
            None => super::Built::LeftOut("WATTLINE_PROVIDERS__EIA__API_KEY is not set".into()),
        })
    }
}

/// The state of each `us_*` region.
pub fn state(region: Region) -> Option<&'static str> {
    Some(match region {
        Region::UsCt => "CT",
        Region::UsCa => "CA",
        Region::UsTx => "TX",
        Region::UsNy => "NY",
        Region::UsFl => "FL",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
struct Envelope {
    response: Response,
}

#[derive(Debug, Deserialize)]
struct Response {
    data: Vec<Row>,
}

/// One month of one state and sector. EIA writes values as strings since v2.1.6 and as numbers
/// before; both are accepted, and a withheld value is null.
#[derive(Debug, Deserialize)]
pub struct Row {
    pub period: String,
    pub stateid: String,
    pub price: Option<serde_json::Value>,
}

/// Month (first day) and price in USD per kWh of each row with a value.
pub fn parse_rows(body: &str) -> Result<Vec<(Date, Decimal)>, SourceError> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| SourceError::Malformed(format!("EIA response: {e}")))?;
    let mut out = Vec::new();
    for row in envelope.response.data {
        let month = format!("{}-01", row.period);
        let date: Date = month
            .parse()
            .map_err(|_| SourceError::Malformed(format!("EIA period {:?}", row.period)))?;
        let cents = match row.price {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => continue,
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(other) => return Err(SourceError::Malformed(format!("EIA price {other}"))),
        };
        let cents = Decimal::from_str(cents.trim())
            .map_err(|_| SourceError::Malformed(format!("EIA price {cents:?}")))?;
        out.push((date, cents / Decimal::ONE_HUNDRED));
    }
    Ok(out)
}

/// The EIA client as a reference [`PriceSource`].
pub struct Eia {
    http: ProviderHttp,
    base_url: String,
    key: Secret,
    sector: String,
    clock: SharedClock,
}

impl Eia {
    /// A client of `base_url` (…/v2) for `sector`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        key: Secret,
        sector: String,
        clock: SharedClock,
    ) -> Self {
        Eia {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            sector,
            clock,
        }
    }
}

#[async_trait]
impl PriceSource for Eia {
    fn source(&self) -> Source {
        Source::Eia
    }

    fn role(&self) -> SourceRole {
        SourceRole::Reference
    }

    /// The last twelve published months up to `day`'s month (revisions included).
    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        let state = state(region).ok_or(SourceError::UnsupportedRegion { region })?;
        let end = day.strftime("%Y-%m").to_string();
        let start = day
            .checked_sub(jiff::Span::new().months(12))
            .unwrap_or(day)
            .strftime("%Y-%m")
            .to_string();
        let url = format!("{}/electricity/retail-sales/data/", self.base_url);
        let query = [
            ("api_key", self.key.expose().to_string()),
            ("frequency", "monthly".to_string()),
            ("data[0]", "price".to_string()),
            ("facets[stateid][]", state.to_string()),
            ("facets[sectorid][]", self.sector.clone()),
            ("start", start),
            ("end", end),
            ("sort[0][column]", "period".to_string()),
            ("sort[0][direction]", "desc".to_string()),
            ("length", "24".to_string()),
        ];
        let answer = self.http.get(&url, &query, &[]).await?;
        if !answer.status.is_success() {
            return Err(unexpected(&answer));
        }
        let rows = parse_rows(&answer.body)?;
        if rows.is_empty() {
            return Err(SourceError::Incomplete {
                expected: 1,
                got: 0,
            });
        }
        let fetched_at = self.clock.now();
        let mut points: Vec<PricePoint> = rows
            .into_iter()
            .filter_map(|(month, price)| {
                let next = month.checked_add(jiff::Span::new().months(1)).ok()?;
                let start = day_start(region, month);
                let minutes = day_start(region, next).duration_since(start).as_mins();
                Some(PricePoint {
                    region,
                    start,
                    duration_minutes: u32::try_from(minutes).ok()?,
                    price,
                    currency: Currency::Usd,
                    unit: EnergyUnit::KWh,
                    kind: PriceKind::Retail,
                    source: Source::Eia,
                    fetched_at,
                    estimated: false,
                })
            })
            .collect();
        points.sort_by_key(|p| p.start);
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_from_strings_numbers_and_nulls() {
        let body = r#"{"response":{"total":"3","data":[
            {"period":"2024-05","stateid":"CA","sectorid":"RES","price":"32.49","price-units":"cents per kilowatthour"},
            {"period":"2024-04","stateid":"CA","sectorid":"RES","price":31.87,"price-units":"cents per kilowatt-hour"},
            {"period":"2024-03","stateid":"CA","sectorid":"RES","price":null}]},"apiVersion":"2.1.8"}"#;
        let rows = parse_rows(body).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            (
                jiff::civil::date(2024, 5, 1),
                Decimal::from_str("0.3249").unwrap()
            )
        );
        assert_eq!(rows[1].1, Decimal::from_str("0.3187").unwrap());
        assert!(parse_rows(r#"{"error":"Invalid facet","code":400}"#).is_err());
    }
}
