//! ENTSO-E Transparency Platform day-ahead prices (document A44, "Energy Prices 12.1.D").
//! One request per local delivery day and bidding zone; the XML answer is a
//! `Publication_MarketDocument` (prices) or an `Acknowledgement_MarketDocument` (no data, or a
//! refused request). Parsing matches local element names, so namespace versions (7:0, 7:3) do not
//! matter; curve type A03 (a point only where the price changes) is expanded to every interval.

use std::str::FromStr;

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline_actors::domain::calendar::{day_bounds, publication_instant};
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError};

use super::http::{Answer, ProviderHttp};
use crate::config::Secret;

/// `[providers.entsoe]`: the ENTSO-E Transparency Platform.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntsoeSettings {
    pub base_url: String,
    /// Bidding zone of `italy` (default North, 10Y1001A1001A73I).
    pub italy_zone: String,
    /// Security token (environment only).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// ENTSO-E in the provider registry: the EU regions, with a key.
pub struct EntsoeProvider;

impl super::Provider for EntsoeProvider {
    fn source(&self) -> Source {
        Source::Entsoe
    }

    fn covers(&self, region: Region, settings: &super::ProviderSettings) -> Result<(), String> {
        zone(region, &settings.entsoe.italy_zone)
            .map(|_| ())
            .ok_or_else(|| "ENTSO-E covers only the EU regions".into())
    }

    fn build(
        &self,
        _region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        let s = &cx.settings.entsoe;
        Ok(match &s.api_key {
            Some(key) => super::Built::Ready(std::sync::Arc::new(Entsoe::new(
                cx.http.clone(),
                s.base_url.clone(),
                key.clone(),
                s.italy_zone.clone(),
                cx.clock.clone(),
            ))),
            None => super::Built::LeftOut("WATTLINE_PROVIDERS__ENTSOE__API_KEY is not set".into()),
        })
    }
}

/// The bidding zone (EIC code) of each region ENTSO-E covers.
pub fn zone(region: Region, italy_zone: &str) -> Option<String> {
    let eic = match region {
        Region::Germany => "10Y1001A1001A82H", // DE-LU
        Region::France => "10YFR-RTE------C",
        Region::Spain => "10YES-REE------0",
        Region::Netherlands => "10YNL----------L",
        Region::Belgium => "10YBE----------2",
        Region::Italy => return Some(italy_zone.to_string()),
        _ => return None,
    };
    Some(eic.to_string())
}

/// One interval of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePrice {
    pub start: Timestamp,
    pub minutes: u32,
    pub price: Decimal,
}

/// What an A44 answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum A44 {
    /// Prices, per resolution in minutes, each sorted by start.
    Prices(Vec<(u32, Vec<ZonePrice>)>),
    /// The platform's refusal or "no matching data" notice.
    Acknowledgement { code: String, text: String },
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ENTSO-E document: {0}")]
pub struct ParseError(String);

fn child<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|c| c.tag_name().name() == name)
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|c| c.text()).map(str::trim)
}

/// `2024-10-17T22:00Z` (no seconds) or full RFC 3339.
fn instant(text: &str) -> Result<Timestamp, ParseError> {
    let full = if text.len() == 17 && text.ends_with('Z') {
        format!("{}:00Z", &text[..16])
    } else {
        text.to_string()
    };
    full.parse()
        .map_err(|_| ParseError(format!("bad time {text:?}")))
}

/// `PT15M`, `PT30M`, `PT60M`, `PT1H`.
fn resolution_minutes(text: &str) -> Result<u32, ParseError> {
    let bad = || ParseError(format!("unsupported resolution {text:?}"));
    let inner = text.strip_prefix("PT").ok_or_else(bad)?;
    let (number, unit) = inner.split_at(inner.len().saturating_sub(1));
    let n: u32 = number.parse().map_err(|_| bad())?;
    let minutes = match unit {
        "M" => n,
        "H" => n.checked_mul(60).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if minutes == 0 || 1440 % minutes != 0 {
        return Err(bad());
    }
    Ok(minutes)
}

/// Reads an A44 document. Only day-ahead (`A01`) series of the SDAC auction (sequence 1, or no
/// sequence) in EUR per MWh are kept; other auctions (EXAA, sequence 2) are ignored.
pub fn parse_a44(xml: &str) -> Result<A44, ParseError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| ParseError(e.to_string()))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "Acknowledgement_MarketDocument" => {
            let reason = child(root, "Reason")
                .ok_or_else(|| ParseError("acknowledgement without a reason".into()))?;
            return Ok(A44::Acknowledgement {
                code: child_text(reason, "code").unwrap_or_default().to_string(),
                text: child_text(reason, "text").unwrap_or_default().to_string(),
            });
        }
        "Publication_MarketDocument" => {}
        other => return Err(ParseError(format!("unexpected document {other:?}"))),
    }
    let mut by_resolution: Vec<(u32, Vec<ZonePrice>)> = Vec::new();
    for series in root
        .children()
        .filter(|c| c.tag_name().name() == "TimeSeries")
    {
        let contract = child_text(series, "contract_MarketAgreement.type").unwrap_or("A01");
        let sequence = child_text(
            series,
            "classificationSequence_AttributeInstanceComponent.position",
        )
        .unwrap_or("1");
        if contract != "A01" || sequence != "1" {
            continue;
        }
        let currency = child_text(series, "currency_Unit.name").unwrap_or("EUR");
        let unit = child_text(series, "price_Measure_Unit.name").unwrap_or("MWH");
        if currency != "EUR" || !unit.eq_ignore_ascii_case("MWH") {
            return Err(ParseError(format!(
                "prices in {currency}/{unit}, expected EUR/MWH"
            )));
        }
        let fill_forward = child_text(series, "curveType") == Some("A03");
        for period in series
            .children()
            .filter(|c| c.tag_name().name() == "Period")
        {
            let (minutes, points) = expand_period(period, fill_forward)?;
            match by_resolution.iter_mut().find(|(m, _)| *m == minutes) {
                Some((_, all)) => all.extend(points),
                None => by_resolution.push((minutes, points)),
            }
        }
    }
    for (_, points) in &mut by_resolution {
        points.sort_by_key(|p| p.start);
        // The same interval twice (some zones publish duplicate series): keep one.
        points.dedup_by_key(|p| p.start);
    }
    Ok(A44::Prices(by_resolution))
}

/// Every interval of one Period. With A03 a missing position repeats the last price before it,
/// up to the end of the period; with A01 a missing position is a gap.
fn expand_period(
    period: roxmltree::Node<'_, '_>,
    fill_forward: bool,
) -> Result<(u32, Vec<ZonePrice>), ParseError> {
    let interval = child(period, "timeInterval")
        .ok_or_else(|| ParseError("period without timeInterval".into()))?;
    let start = instant(
        child_text(interval, "start").ok_or_else(|| ParseError("interval without start".into()))?,
    )?;
    let end = instant(
        child_text(interval, "end").ok_or_else(|| ParseError("interval without end".into()))?,
    )?;
    let minutes = resolution_minutes(child_text(period, "resolution").unwrap_or(""))?;
    let span = end.duration_since(start).as_mins();
    if span <= 0 || span % i64::from(minutes) != 0 || span > 7 * 24 * 60 {
        return Err(ParseError(format!(
            "period {start}..{end} is not whole {minutes}-minute intervals"
        )));
    }
    let slots = usize::try_from(span / i64::from(minutes)).unwrap_or(0);
    let mut values: Vec<Option<Decimal>> = vec![None; slots];
    for point in period.children().filter(|c| c.tag_name().name() == "Point") {
        let position: usize = child_text(point, "position")
            .and_then(|p| p.parse().ok())
            .filter(|p| (1..=slots).contains(p))
            .ok_or_else(|| ParseError("point position missing or outside its period".into()))?;
        // A position without an amount is a cancelled value: a gap.
        if let Some(amount) = child_text(point, "price.amount") {
            let price = Decimal::from_str(amount)
                .map_err(|_| ParseError(format!("bad price {amount:?}")))?;
            values[position - 1] = Some(price);
        }
    }
    let mut last = None;
    let mut points = Vec::with_capacity(slots);
    for (i, value) in values.into_iter().enumerate() {
        let value = match (value, fill_forward) {
            (Some(v), _) => {
                last = Some(v);
                Some(v)
            }
            (None, true) => last,
            (None, false) => None,
        };
        if let Some(price) = value {
            let offset = SignedDuration::from_mins(i64::from(minutes) * i as i64);
            points.push(ZonePrice {
                start: start + offset,
                minutes,
                price,
            });
        }
    }
    Ok((minutes, points))
}

/// The ENTSO-E client as a [`PriceSource`].
pub struct Entsoe {
    http: ProviderHttp,
    base_url: String,
    token: Secret,
    italy_zone: String,
    clock: SharedClock,
}

impl Entsoe {
    /// A client of `base_url` authenticating with `token`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        token: Secret,
        italy_zone: String,
        clock: SharedClock,
    ) -> Self {
        Entsoe {
            http,
            base_url,
            token,
            italy_zone,
            clock,
        }
    }
}

fn period_param(at: Timestamp) -> String {
    at.strftime("%Y%m%d%H%M").to_string()
}

#[async_trait]
impl PriceSource for Entsoe {
    fn source(&self) -> Source {
        Source::Entsoe
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        let eic =
            zone(region, &self.italy_zone).ok_or(SourceError::UnsupportedRegion { region })?;
        let (start, end) = day_bounds(region, day);
        let query = [
            ("documentType", "A44".to_string()),
            ("in_Domain", eic.clone()),
            ("out_Domain", eic),
            ("contract_MarketAgreement.type", "A01".to_string()),
            ("periodStart", period_param(start)),
            ("periodEnd", period_param(end)),
            ("securityToken", self.token.expose().to_string()),
        ];
        let answer: Answer = self.http.get(&self.base_url, &query, &[]).await?;
        let document = parse_a44(&answer.body).map_err(|e| {
            if answer.status.is_success() {
                SourceError::Malformed(e.to_string())
            } else {
                SourceError::Http {
                    status: answer.status.as_u16(),
                }
            }
        })?;
        let series = match document {
            A44::Acknowledgement { text, .. } if text.contains("No matching data") => {
                let published = publication_instant(region, day);
                return Err(
                    if self.clock.now() < published + SignedDuration::from_hours(12) {
                        SourceError::NotPublished { day }
                    } else {
                        SourceError::Incomplete {
                            expected: 1,
                            got: 0,
                        }
                    },
                );
            }
            A44::Acknowledgement { code, text } => {
                return Err(SourceError::Malformed(format!(
                    "refused ({code}): {}",
                    text.chars().take(200).collect::<String>()
                )));
            }
            A44::Prices(series) => series,
        };
        // The region's own resolution when published, else the finest the zone has.
        let wanted = region.resolution().minutes();
        let chosen = series
            .iter()
            .find(|(m, _)| *m == wanted)
            .or_else(|| series.iter().min_by_key(|(m, _)| *m))
            .map(|(_, points)| points.as_slice())
            .unwrap_or_default();
        let fetched_at = self.clock.now();
        Ok(chosen
            .iter()
            .filter(|p| p.start >= start && p.start < end)
            .map(|p| PricePoint {
                region,
                start: p.start,
                duration_minutes: p.minutes,
                price: p.price,
                currency: Currency::Eur,
                unit: EnergyUnit::MWh,
                kind: PriceKind::DayAhead,
                source: Source::Entsoe,
                fetched_at,
                estimated: false,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_and_times_parse() {
        assert_eq!(resolution_minutes("PT15M"), Ok(15));
        assert_eq!(resolution_minutes("PT60M"), Ok(60));
        assert_eq!(resolution_minutes("PT1H"), Ok(60));
        assert!(resolution_minutes("P1D").is_err());
        assert!(resolution_minutes("PT7M").is_err());
        assert_eq!(
            instant("2024-10-17T22:00Z"),
            Ok("2024-10-17T22:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn every_entsoe_region_has_a_zone() {
        for region in [
            Region::Germany,
            Region::France,
            Region::Spain,
            Region::Italy,
            Region::Netherlands,
            Region::Belgium,
        ] {
            assert_eq!(zone(region, "10Y1001A1001A73I").unwrap().len(), 16);
        }
        assert!(zone(Region::Uk, "x").is_none());
    }
}
