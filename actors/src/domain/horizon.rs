//! The prices ahead of now for one region, on which windows, optimal times and schedules are
//! searched: the published day-ahead prices, then (when a model is ready) the forecast beyond
//! them, each interval labelled; and the 15-minute grid the searches run on.

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use super::forecast::output::RegionForecast;
use super::window::PricedInterval;
use super::{Currency, EnergyUnit, PricePoint, Region};

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

/// The region's prices from the current interval on, without gaps.
#[derive(Debug, Clone)]
pub struct Ahead {
    pub region: Region,
    pub currency: Currency,
    pub unit: EnergyUnit,
    pub intervals: Vec<AheadInterval>,
    /// End of the published prices (where forecasts begin).
    pub published_until: Option<Timestamp>,
    /// Version of the forecast model whose steps extend the prices, if any do.
    pub forecast_model: Option<String>,
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

/// A run length that is not a whole number of grid slots between 15 minutes and a day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a multiple of 15 between 15 and 1440, got {0}")]
pub struct RunLengthError(pub u32);

/// The grid slots a run of `minutes` takes: a multiple of 15 from 15 minutes to 24 hours.
pub fn run_slots(minutes: u32) -> Result<usize, RunLengthError> {
    if minutes == 0 || minutes > 24 * 60 || !minutes.is_multiple_of(SLOT_MINUTES) {
        return Err(RunLengthError(minutes));
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

impl Ahead {
    /// The prices ahead of `now`: the published `series` from the current interval on (to its
    /// first gap), then `forecast`'s steps from where they end, each labelled.
    pub fn build(
        region: Region,
        series: &[PricePoint],
        forecast: Option<&RegionForecast>,
        now: Timestamp,
    ) -> Ahead {
        let mut intervals: Vec<AheadInterval> = Vec::new();
        let mut currency = None;
        let mut unit = None;
        for p in series
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
        if let Some(f) = forecast {
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
        Ahead {
            region,
            currency: currency.unwrap_or_else(|| region.currency()),
            unit: unit.unwrap_or(EnergyUnit::MWh),
            forecast_model: forecast
                .filter(|_| intervals.iter().any(|i| i.forecast))
                .map(|f| f.model.version.clone()),
            intervals,
            published_until,
        }
    }
}

/// `day_ahead`, `forecast` or `mixed`: which prices a stretch of slots relies on.
pub fn kind_of(slots: &[Slot]) -> &'static str {
    match (
        slots.iter().any(|s| s.forecast),
        slots.iter().all(|s| s.forecast),
    ) {
        (false, _) => "day_ahead",
        (true, true) => "forecast",
        (true, false) => "mixed",
    }
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
            forecast_model: None,
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
