//! The prices ahead of now for one region: the published day-ahead prices from the latest-price
//! cache, then (when asked and a model is ready) the forecast beyond them, each interval
//! labelled. Windows, optimal times and schedules all search this.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use wattline_actors::domain::window::PricedInterval;
use wattline_actors::domain::{Currency, EnergyUnit, Region};
use wattline_actors::forecaster::{ForecastLookup, ModelState, RegionForecast};

use crate::error::ApiError;
use crate::http::state::AppState;

/// Longest interval searched over (monthly retail averages are not a schedule's prices).
pub const MAX_INTERVAL_MINUTES: u32 = 60;
/// Grid of optimal times and schedules.
pub const SLOT_MINUTES: u32 = 15;

/// One interval ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct AheadInterval {
    pub start: Timestamp,
    pub minutes: u32,
    pub price: Decimal,
    /// True for a forecast, false for a published price.
    pub forecast: bool,
}

impl PricedInterval for AheadInterval {
    fn start(&self) -> Timestamp {
        self.start
    }
    fn minutes(&self) -> u32 {
        self.minutes
    }
    fn price(&self) -> Decimal {
        self.price
    }
}

/// What the forecast contributed (or why it did not).
#[derive(Debug, Clone)]
pub enum ForecastPart {
    /// Not asked for.
    Excluded,
    Included(Arc<RegionForecast>),
    Unavailable(ModelState),
}

/// The region's prices from the current interval on, without gaps.
#[derive(Debug, Clone)]
pub struct Ahead {
    pub region: Region,
    pub currency: Currency,
    pub unit: EnergyUnit,
    pub intervals: Vec<AheadInterval>,
    /// End of the published prices (where forecasts begin).
    pub published_until: Option<Timestamp>,
    pub forecast: ForecastPart,
}

impl Ahead {
    /// End of the last interval.
    pub fn end(&self) -> Option<Timestamp> {
        self.intervals.last().map(PricedInterval::end)
    }

    /// Intervals overlapping `[from, to)`.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> Vec<AheadInterval> {
        self.intervals
            .iter()
            .filter(|i| i.end() > from && i.start < to)
            .cloned()
            .collect()
    }

    /// The 15-minute grid over `[from, to)` (`from` on the grid): price per kWh and whether it
    /// is forecast, one entry per slot while the horizon lasts.
    pub fn quarter_hours(&self, from: Timestamp, to: Timestamp) -> Vec<Slot> {
        let step = SignedDuration::from_mins(i64::from(SLOT_MINUTES));
        let per_kwh = 1.0 / self.unit.kwh();
        let mut slots = Vec::new();
        let mut at = from;
        let mut intervals = self.intervals.iter().peekable();
        while at < to {
            while intervals.peek().is_some_and(|i| i.end() <= at) {
                intervals.next();
            }
            let Some(interval) = intervals.peek() else {
                break;
            };
            if interval.start > at {
                break;
            }
            slots.push(Slot {
                start: at,
                price_per_kwh: interval.price.to_f64().unwrap_or(0.0) * per_kwh,
                forecast: interval.forecast,
            });
            at += step;
        }
        slots
    }
}

/// One quarter-hour of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start: Timestamp,
    pub price_per_kwh: f64,
    pub forecast: bool,
}

/// The grid slots a run of `minutes` takes: a multiple of 15 from 15 minutes to 24 hours.
pub fn run_slots(field: &str, minutes: u32) -> Result<usize, ApiError> {
    if minutes == 0 || minutes > 24 * 60 || !minutes.is_multiple_of(SLOT_MINUTES) {
        return Err(ApiError::invalid_field(
            field,
            format!("must be a multiple of 15 between 15 and 1440, got {minutes}"),
        ));
    }
    Ok((minutes / SLOT_MINUTES) as usize)
}

/// The first grid instant at or after `at`.
pub fn ceil_to_slot(at: Timestamp) -> Timestamp {
    let step = i64::from(SLOT_MINUTES) * 60;
    let seconds = at.as_second();
    let rounded = seconds.div_euclid(step) * step;
    let rounded = if rounded < seconds || at.subsec_nanosecond() > 0 && rounded == seconds {
        rounded + step
    } else {
        rounded
    };
    Timestamp::from_second(rounded).unwrap_or(at)
}

/// The prices ahead of now. With `include_forecast`, the forecast extends them when a model is
/// ready; without published prices and without a forecast there is nothing to search.
pub async fn ahead(
    state: &AppState,
    region: Region,
    include_forecast: bool,
) -> Result<Ahead, ApiError> {
    let now = state.now();
    let snapshot = state.latest().snapshot();
    let mut intervals: Vec<AheadInterval> = Vec::new();
    let mut currency = None;
    let mut unit = None;
    for p in snapshot
        .series(region)
        .iter()
        .filter(|p| p.end() > now && p.duration_minutes <= MAX_INTERVAL_MINUTES)
    {
        // A gap ends the searchable stretch.
        if intervals.last().is_some_and(|last| last.end() != p.start) {
            break;
        }
        currency.get_or_insert(p.currency);
        unit.get_or_insert(p.unit);
        intervals.push(AheadInterval {
            start: p.start,
            minutes: p.duration_minutes,
            price: p.price,
            forecast: false,
        });
    }
    let published_until = intervals.last().map(PricedInterval::end);
    let forecast = if include_forecast {
        match state.forecasts() {
            Ok(forecasts) => match forecasts.forecast(region).await? {
                ForecastLookup::Ready(forecast) => ForecastPart::Included(forecast),
                ForecastLookup::NotReady(model) => ForecastPart::Unavailable(model),
            },
            Err(_) => ForecastPart::Unavailable(ModelState::Failed {
                reason: "forecasting is disabled".into(),
            }),
        }
    } else {
        ForecastPart::Excluded
    };
    if let ForecastPart::Included(f) = &forecast {
        currency.get_or_insert(f.currency);
        unit.get_or_insert(f.unit);
        let from = published_until.unwrap_or(now);
        for step in f
            .steps
            .iter()
            .filter(|s| s.start >= from || (published_until.is_none() && s.end() > now))
        {
            if intervals
                .last()
                .is_some_and(|last| last.end() != step.start)
            {
                break;
            }
            let Some(price) = Decimal::from_f64(step.predicted) else {
                continue;
            };
            intervals.push(AheadInterval {
                start: step.start,
                minutes: step.duration_minutes,
                price: price.round_dp(5),
                forecast: true,
            });
        }
    }
    Ok(Ahead {
        region,
        currency: currency.unwrap_or_else(|| region.currency()),
        unit: unit.unwrap_or(EnergyUnit::MWh),
        intervals,
        published_until,
        forecast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_up_to_the_quarter_hour() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            ceil_to_slot(at("2026-01-15T12:30:00Z")),
            at("2026-01-15T12:30:00Z")
        );
        assert_eq!(
            ceil_to_slot(at("2026-01-15T12:30:00.5Z")),
            at("2026-01-15T12:45:00Z")
        );
        assert_eq!(
            ceil_to_slot(at("2026-01-15T12:31:00Z")),
            at("2026-01-15T12:45:00Z")
        );
    }

    #[test]
    fn hourly_prices_expand_to_four_quarter_hours_per_kwh() {
        let start: Timestamp = "2026-01-15T00:00:00Z".parse().unwrap();
        let ahead = Ahead {
            region: Region::Japan,
            currency: Currency::Jpy,
            unit: EnergyUnit::MWh,
            intervals: vec![
                AheadInterval {
                    start,
                    minutes: 60,
                    price: Decimal::from(100),
                    forecast: false,
                },
                AheadInterval {
                    start: start + SignedDuration::from_hours(1),
                    minutes: 60,
                    price: Decimal::from(50),
                    forecast: true,
                },
            ],
            published_until: Some(start + SignedDuration::from_hours(1)),
            forecast: ForecastPart::Excluded,
        };
        let slots = ahead.quarter_hours(
            start + SignedDuration::from_mins(30),
            start + SignedDuration::from_hours(3),
        );
        assert_eq!(slots.len(), 6, "the horizon ends after the second hour");
        assert_eq!(slots[0].price_per_kwh, 0.1);
        assert!(!slots[1].forecast && slots[2].forecast);
        assert_eq!(slots[5].price_per_kwh, 0.05);
    }
}
