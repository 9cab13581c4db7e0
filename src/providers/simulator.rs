//! The built-in price simulator: plausible day-ahead prices for every region, deterministic per
//! (seed, region, day), so a fresh install runs end to end without any API key. Every point says
//! `source: "simulated"`; nothing here is market data.
//!
//! The shape: a regional base level; a daily curve with morning and evening peaks, a night
//! trough and a midday solar dip that deepens in summer; weekends cheaper; a seasonal swing; a
//! day-level factor for weather; autocorrelated noise per interval; and occasional negative
//! midday hours and evening spikes. Days follow the region's local clock, so DST days have
//! 23 or 25 hours (92 or 100 quarter-hours).

use std::f64::consts::PI;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use rust_decimal::Decimal;
use wattline_actors::domain::calendar::{interval_starts, publication_instant};
use wattline_actors::domain::{EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::{PriceSource, SharedClock, SourceError};
use wattline_actors::rng::SplitMix64;

/// The simulator in the provider registry: every region, always.
pub struct SimulatorProvider;

impl super::Provider for SimulatorProvider {
    fn source(&self) -> Source {
        Source::Simulated
    }

    fn covers(&self, _region: Region, _settings: &super::ProviderSettings) -> Result<(), String> {
        Ok(())
    }

    fn build(
        &self,
        _region: Region,
        cx: &super::Build<'_>,
    ) -> Result<super::Built, super::ProviderError> {
        Ok(super::Built::Ready(std::sync::Arc::new(Simulator::new(
            cx.simulator_seed,
            cx.clock.clone(),
        ))))
    }
}

/// How one region's simulated market behaves.
#[derive(Debug, Clone, Copy)]
struct Profile {
    /// Typical price per MWh in the region's currency.
    base: f64,
    /// Depth of the midday solar dip at midsummer (fraction of base).
    solar: f64,
    /// Height of the evening peak (fraction of base).
    evening: f64,
    /// Day-to-day weather volatility (σ of the log level).
    volatility: f64,
    /// Chance per day of negative midday prices at midsummer.
    negative: f64,
    /// Chance per day of an evening scarcity spike.
    spike: f64,
    /// Seasonal amplitude; positive = dearer in winter, negative = dearer in summer.
    season: f64,
    southern: bool,
}

const fn profile(
    base: f64,
    solar: f64,
    evening: f64,
    volatility: f64,
    negative: f64,
    spike: f64,
    season: f64,
) -> Profile {
    Profile {
        base,
        solar,
        evening,
        volatility,
        negative,
        spike,
        season,
        southern: false,
    }
}

fn profile_of(region: Region) -> Profile {
    match region {
        Region::Uk => profile(80.0, 0.20, 0.45, 0.18, 0.04, 0.04, 0.15),
        Region::Germany => profile(95.0, 0.55, 0.40, 0.22, 0.10, 0.03, 0.15),
        Region::France => profile(80.0, 0.30, 0.30, 0.15, 0.05, 0.02, 0.25),
        Region::Spain => profile(70.0, 0.65, 0.35, 0.20, 0.06, 0.02, 0.10),
        Region::Italy => profile(110.0, 0.35, 0.35, 0.12, 0.01, 0.02, 0.10),
        Region::Netherlands => profile(95.0, 0.50, 0.40, 0.22, 0.09, 0.03, 0.15),
        Region::Belgium => profile(95.0, 0.45, 0.40, 0.20, 0.07, 0.03, 0.15),
        Region::UsCt => profile(55.0, 0.15, 0.40, 0.18, 0.01, 0.03, 0.20),
        Region::UsCa => profile(50.0, 0.75, 0.80, 0.20, 0.08, 0.03, -0.10),
        Region::UsTx => profile(40.0, 0.40, 0.60, 0.25, 0.04, 0.06, -0.25),
        Region::UsNy => profile(50.0, 0.15, 0.40, 0.18, 0.01, 0.03, 0.10),
        Region::UsFl => profile(45.0, 0.30, 0.45, 0.12, 0.00, 0.02, -0.20),
        Region::Australia => Profile {
            southern: true,
            ..profile(110.0, 0.80, 0.70, 0.25, 0.12, 0.05, 0.10)
        },
        Region::Japan => profile(12_000.0, 0.30, 0.35, 0.15, 0.01, 0.02, 0.10),
    }
}

/// Prices are quoted in currency per MWh; JPY without decimals, others to the cent.
fn decimals(region: Region) -> u32 {
    if region == Region::Japan { 0 } else { 2 }
}

/// The simulator as a [`PriceSource`]: days appear at the region's publication time, like a
/// real day-ahead market.
pub struct Simulator {
    seed: u64,
    clock: SharedClock,
}

impl Simulator {
    /// A simulator with `seed` that reads the time from `clock`.
    pub fn new(seed: u64, clock: SharedClock) -> Self {
        Simulator { seed, clock }
    }
}

#[async_trait]
impl PriceSource for Simulator {
    fn source(&self) -> Source {
        Source::Simulated
    }

    async fn fetch_day(&self, region: Region, day: Date) -> Result<Vec<PricePoint>, SourceError> {
        let now = self.clock.now();
        if now < publication_instant(region, day) {
            return Err(SourceError::NotPublished { day });
        }
        Ok(simulate_day(self.seed, region, day, now))
    }
}

/// Every interval of local `day` in `region`, deterministic for (`seed`, `region`, `day`).
pub fn simulate_day(
    seed: u64,
    region: Region,
    day: Date,
    fetched_at: Timestamp,
) -> Vec<PricePoint> {
    let p = profile_of(region);
    let mut rng = SplitMix64::new(
        seed ^ (region.index() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ day_number(day),
    );
    let doy = f64::from(day.day_of_year());
    // 1 at midsummer, 0 at midwinter, in the region's hemisphere.
    let summer =
        0.5 - 0.5 * (2.0 * PI * (doy + 10.0 + if p.southern { 182.0 } else { 0.0 }) / 365.25).cos();
    let season = 1.0 + p.season * (1.0 - 2.0 * summer);
    let weekday = match day.weekday() {
        Weekday::Saturday => 0.90,
        Weekday::Sunday => 0.82,
        _ => 1.0,
    };
    let weather = (p.volatility * rng.normal()).exp();
    let level = p.base * season * weekday * weather;
    let solar = p.solar * (0.3 + 0.7 * summer);
    let negative_day = rng.unit() < p.negative * summer * if weekday < 1.0 { 1.6 } else { 1.0 };
    let negative_depth = p.base * (0.05 + 0.25 * rng.unit());
    let spike_day = rng.unit() < p.spike;
    let spike_factor = 1.8 + 2.2 * rng.unit();
    let tz = region.time_zone();
    let minutes = region.resolution().minutes();
    let mut noise = 0.0;
    interval_starts(region, day)
        .map(|start| {
            let local = start.to_zoned(tz.clone());
            let hour = f64::from(local.hour())
                + f64::from(local.minute()) / 60.0
                + f64::from(minutes) / 120.0;
            let shape = 1.0 + 0.18 * bump(hour, 8.0, 1.5) + p.evening * bump(hour, 19.0, 2.0)
                - 0.25 * bump(hour, 3.5, 2.5)
                - solar * bump(hour, 13.0, 2.5);
            noise = 0.7 * noise + 0.04 * rng.normal();
            let mut value = level * shape * (1.0 + noise);
            if negative_day && (11.0..15.0).contains(&hour) {
                value = -negative_depth * bump(hour, 13.0, 1.5).max(0.2);
            }
            if spike_day && (17.5..20.5).contains(&hour) {
                value *= spike_factor;
            }
            PricePoint {
                region,
                start,
                duration_minutes: minutes,
                price: Decimal::from_f64_retain(value)
                    .unwrap_or_default()
                    .round_dp(decimals(region)),
                currency: region.currency(),
                unit: EnergyUnit::MWh,
                kind: PriceKind::DayAhead,
                source: Source::Simulated,
                fetched_at,
                estimated: false,
            }
        })
        .collect()
}

/// A smooth bump of height 1 centred on `centre` with width `width` hours.
fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    let d = (hour - centre) / width;
    (-0.5 * d * d).exp()
}

fn day_number(day: Date) -> u64 {
    let days = day
        .since(Date::constant(2000, 1, 1))
        .map(|s| s.get_days())
        .unwrap_or(0);
    (days as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use wattline_actors::domain::calendar::expected_intervals;
    use wattline_actors::domain::stats::statistics;
    use wattline_actors::fetcher::cycle::validate_day;
    use wattline_actors::testing::ManualClock;

    const T: Timestamp = Timestamp::UNIX_EPOCH;

    #[test]
    fn same_seed_region_and_day_give_the_same_prices() {
        let a = simulate_day(7, Region::Germany, date(2026, 5, 1), T);
        let b = simulate_day(7, Region::Germany, date(2026, 5, 1), T);
        assert_eq!(a, b);
        assert_ne!(a, simulate_day(8, Region::Germany, date(2026, 5, 1), T));
        assert_ne!(a, simulate_day(7, Region::France, date(2026, 5, 1), T));
    }

    #[test]
    fn every_region_delivers_a_complete_day_including_dst_days() {
        for region in Region::ALL {
            for day in [
                date(2026, 1, 14),
                date(2026, 3, 29),
                date(2026, 10, 25),
                date(2026, 3, 8),
                date(2026, 11, 1),
            ] {
                let points = simulate_day(1, region, day, T);
                assert_eq!(
                    points.len(),
                    expected_intervals(region, day),
                    "{region} {day}"
                );
                validate_day(region, day, Source::Simulated, &points).unwrap();
                assert!(
                    points
                        .iter()
                        .all(|p| p.source == Source::Simulated && p.currency == region.currency())
                );
            }
        }
    }

    #[test]
    fn prices_are_plausible_with_a_daily_shape() {
        let mut evening_dearer = 0;
        let mut negative_hours = 0;
        for offset in 0..365 {
            let day = date(2025, 1, 1)
                .checked_add(jiff::Span::new().days(offset))
                .unwrap();
            let points = simulate_day(42, Region::Germany, day, T);
            let stats = statistics(&points).unwrap();
            assert!(
                stats.avg_price > Decimal::from(-100) && stats.avg_price < Decimal::from(600),
                "{day}: {stats:?}"
            );
            let at = |h: usize| points[h * 4].price;
            if at(19) > at(3) {
                evening_dearer += 1;
            }
            negative_hours += points.iter().filter(|p| p.price.is_sign_negative()).count();
        }
        assert!(
            evening_dearer > 300,
            "evening peak on {evening_dearer} days"
        );
        assert!(
            negative_hours > 0,
            "a year of German prices has negative intervals"
        );
    }

    #[tokio::test]
    async fn tomorrow_appears_only_after_publication() {
        let clock = ManualClock::new("2026-07-01T10:00:00Z".parse().unwrap());
        let sim = Simulator::new(1, clock.clone());
        let tomorrow = date(2026, 7, 2);
        assert_eq!(
            sim.fetch_day(Region::Germany, tomorrow).await,
            Err(SourceError::NotPublished { day: tomorrow })
        );
        clock.set("2026-07-01T11:00:00Z".parse().unwrap());
        let points = sim.fetch_day(Region::Germany, tomorrow).await.unwrap();
        assert_eq!(points.len(), 96);
        assert_eq!(
            points[0].fetched_at,
            "2026-07-01T11:00:00Z".parse().unwrap()
        );
    }
}
