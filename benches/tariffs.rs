//! The annual-cost comparison: every tariff of a region (24 here: six each of fixed,
//! time-of-use, dynamic and agile) for one household profile over 365 days of quarter-hour
//! prices (35 040 intervals, Europe/Berlin with both clock changes, negative hours included), as
//! `GET /api/v1/suppliers/compare/{region}` computes it once the prices are read.
//! Run: `cargo bench --bench tariffs`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline::catalogue::compare;
use wattline::storage::catalogue::TariffRow;
use wattline_actors::domain::tariff::{Days, RatePeriod, Rates};
use wattline_actors::domain::tariff_cost::{DailyShape, Profile};
use wattline_actors::domain::{Currency, EnergyUnit, PriceKind, PricePoint, Region, Source};

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn tariff(i: usize, rates: Rates) -> TariffRow {
    let now = Timestamp::UNIX_EPOCH;
    TariffRow {
        id: format!("t{i}"),
        supplier_id: "s".into(),
        region: "germany".into(),
        name: format!("Tariff {i}"),
        tariff_type: rates.tariff_type().as_str().into(),
        rates,
        standing_charge: d("0.40"),
        currency: "EUR".into(),
        green_share: 100,
        contract_length: "rolling".into(),
        exit_fee: Decimal::ZERO,
        valid_from: None,
        valid_to: None,
        source: "bench".into(),
        source_date: None,
        example: true,
        active: true,
        created_at: now,
        updated_at: now,
    }
}

fn tariffs() -> Vec<TariffRow> {
    let time = |h, m| jiff::civil::Time::new(h, m, 0, 0).unwrap();
    (0..24)
        .map(|i| {
            let step = Decimal::from(i as i64) / Decimal::from(1000);
            let rates = match i % 4 {
                0 => Rates::Fixed {
                    unit_rate: d("0.30") + step,
                },
                1 => Rates::TimeOfUse {
                    periods: vec![
                        RatePeriod {
                            days: Days::All,
                            from: time(22, 0),
                            to: time(6, 0),
                            unit_rate: d("0.20") + step,
                        },
                        RatePeriod {
                            days: Days::Weekdays,
                            from: time(17, 0),
                            to: time(20, 0),
                            unit_rate: d("0.45"),
                        },
                    ],
                    default_rate: d("0.32"),
                },
                2 => Rates::Dynamic {
                    factor: d("1.19"),
                    margin: d("0.18") + step,
                    cap: Some(d("0.80")),
                    floor: Some(Decimal::ZERO),
                },
                _ => Rates::Agile {
                    multiplier: d("2.2"),
                    peak_adder: d("0.12"),
                    peak_from: time(16, 0),
                    peak_to: time(19, 0),
                    cap: d("0.95") - step,
                    vat_percent: d("19"),
                },
            };
            tariff(i, rates)
        })
        .collect()
}

/// 365 days of quarter-hour prices in EUR/MWh: a daily shape with negative midday hours in
/// summer.
fn prices() -> Vec<PricePoint> {
    let start: Timestamp = "2025-01-15T00:00:00Z".parse().unwrap();
    (0..365 * 96)
        .map(|q: i64| {
            let at = start + SignedDuration::from_mins(15 * q);
            let hour = (q / 4) % 24;
            let day = q / 96;
            let base = 60.0 + 40.0 * ((hour as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin();
            let solar = if (150..240).contains(&day) && (11..15).contains(&hour) {
                -90.0
            } else {
                0.0
            };
            PricePoint {
                region: Region::Germany,
                start: at,
                duration_minutes: 15,
                price: Decimal::try_from(base + solar).unwrap().round_dp(2),
                currency: Currency::Eur,
                unit: EnergyUnit::MWh,
                kind: PriceKind::DayAhead,
                source: Source::Simulated,
                fetched_at: at,
                estimated: false,
            }
        })
        .collect()
}

fn comparison(c: &mut Criterion) {
    let tariffs = tariffs();
    let prices = prices();
    let profile = Profile {
        annual_kwh: d("3500"),
        shape: DailyShape::household(),
    };
    let now: Timestamp = "2026-01-15T00:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("compare");
    group.sample_size(20);
    group.bench_function("24 tariffs x 365 days of quarter hours", |b| {
        b.iter(|| {
            compare(
                Region::Germany,
                black_box(tariffs.clone()),
                &profile,
                black_box(&prices),
                now,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, comparison);
criterion_main!(benches);
