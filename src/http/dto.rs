//! The JSON shapes of price responses, kept apart from the domain types so the API can stay
//! stable while the domain changes. Money is a decimal string; timestamps are RFC 3339 UTC.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};

/// One price interval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceDto {
    /// Start of the delivery interval.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// End of the delivery interval (exclusive).
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub duration_minutes: u32,
    /// Exact decimal, e.g. "85.23".
    #[schema(value_type = String, example = "85.23")]
    pub price: Decimal,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[schema(value_type = String, example = "MWh")]
    pub unit: EnergyUnit,
    #[schema(value_type = String, example = "day_ahead")]
    pub kind: PriceKind,
    /// Where the value came from; "simulated" is the built-in simulator, not market data.
    #[schema(value_type = String, example = "simulated")]
    pub source: Source,
    #[schema(value_type = String, format = DateTime)]
    pub fetched_at: Timestamp,
    pub estimated: bool,
    /// The older API's keys for the same price: `region`, `ticker` (`ELEC-<REGION>`),
    /// `current_price` (= `price`), `supplier` (null: these are market prices, not a supplier's
    /// tariff) and `updated_at` (= `fetched_at`).
    #[schema(value_type = String)]
    pub region: Region,
    pub ticker: String,
    #[schema(value_type = String)]
    pub current_price: Decimal,
    pub supplier: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&PricePoint> for PriceDto {
    fn from(p: &PricePoint) -> Self {
        PriceDto {
            start: p.start,
            end: p.end(),
            duration_minutes: p.duration_minutes,
            price: p.price,
            currency: p.currency,
            unit: p.unit,
            kind: p.kind,
            source: p.source,
            fetched_at: p.fetched_at,
            estimated: p.estimated,
            region: p.region,
            ticker: crate::http::compat::ticker(p.region),
            current_price: p.price,
            supplier: None,
            updated_at: p.fetched_at,
        }
    }
}

/// Provenance of a set of prices: which sources, fetched when, and whether any is stale.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provenance {
    /// Distinct sources of the prices, in order of first appearance.
    #[schema(value_type = Vec<String>)]
    pub sources: Vec<Source>,
    /// When the oldest of the prices was fetched.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fetched_at: Option<Timestamp>,
    /// True when any price was fetched longer ago than the freshness limit, or when every source
    /// of the region is failing and these are its last good prices.
    pub stale: bool,
    /// The first of `sources` (the older API's single `source`), e.g. "simulated".
    #[schema(value_type = Option<String>)]
    pub source: Option<Source>,
}

impl Provenance {
    /// Provenance of `points` at `now` given the freshness limit and whether the region's fetches
    /// are failing.
    pub fn of(
        points: &[PricePoint],
        now: Timestamp,
        freshness: jiff::SignedDuration,
        failing: bool,
    ) -> Self {
        let mut sources: Vec<Source> = Vec::new();
        for p in points {
            if !sources.contains(&p.source) {
                sources.push(p.source);
            }
        }
        let fetched_at = points.iter().map(|p| p.fetched_at).min();
        Provenance::from_parts(sources, fetched_at, now, freshness, failing)
    }

    /// Provenance of prices known by their sources and oldest fetch time.
    pub fn from_parts(
        sources: Vec<Source>,
        fetched_at: Option<Timestamp>,
        now: Timestamp,
        freshness: jiff::SignedDuration,
        failing: bool,
    ) -> Self {
        let stale = (failing && fetched_at.is_some())
            || fetched_at.is_some_and(|f| now.duration_since(f) > freshness);
        Provenance {
            source: sources.first().copied(),
            sources,
            fetched_at,
            stale,
        }
    }
}

/// The error envelope every 4xx/5xx response uses (documentation type).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    error: ErrorDetail,
}

/// Inside [`ErrorResponse`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `unknown_region`.
    code: String,
    message: String,
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}
