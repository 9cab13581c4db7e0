//! The AlertEvaluator's work: 100 000 alert rules spread over the 14 regions (every kind, with
//! thresholds spread so that about a third of the price rules fire), evaluated against one new
//! day of quarter-hour prices per region, as the evaluator does when the writer stores a batch.
//! `one_region` is one market's publication (~7 100 rules); `all_regions` evaluates every rule.
//! Run: `cargo bench --bench alerts`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline_actors::domain::alert::{AlertCondition, AlertIndex, AlertRule};
use wattline_actors::domain::{EnergyUnit, PriceKind, PricePoint, Region, Source};

const RULES: usize = 100_000;

/// Yesterday, today and tomorrow in quarter hours: a daily curve between 40 and 160 per MWh.
fn prices(region: Region, now: Timestamp) -> Vec<PricePoint> {
    let start = now - SignedDuration::from_hours(36);
    (0..96 * 3)
        .map(|i| {
            let hour = (i % 96) as f64 / 4.0;
            let shape = 100.0 + 60.0 * ((hour - 6.0) / 24.0 * std::f64::consts::TAU).sin();
            PricePoint {
                region,
                start: start + SignedDuration::from_mins(15 * i),
                duration_minutes: 15,
                price: Decimal::from_f64_retain(shape).unwrap().round_dp(2),
                currency: region.currency(),
                unit: EnergyUnit::MWh,
                kind: PriceKind::DayAhead,
                source: Source::Simulated,
                fetched_at: now,
                estimated: false,
            }
        })
        .collect()
}

fn rules() -> Vec<AlertRule> {
    (0..RULES)
        .map(|i| {
            let region = Region::ALL[i % Region::ALL.len()];
            let spread = Decimal::from((i / 14) % 300);
            let condition = match i % 6 {
                0 => AlertCondition::PriceBelow { threshold: spread },
                1 => AlertCondition::PriceAbove { threshold: spread },
                2 => AlertCondition::CheapestShare {
                    percent: (i % 50 + 1) as u8,
                },
                3 => AlertCondition::BelowDailyAverage {
                    percent: (i % 40) as u8,
                },
                4 => AlertCondition::NegativeAhead {
                    hours: (i % 48 + 1) as u16,
                },
                _ => AlertCondition::TomorrowPublished,
            };
            AlertRule {
                id: format!("rule-{i}"),
                user_id: format!("user-{}", i / 3),
                region,
                condition,
                quiet_hours: None,
                cooldown: SignedDuration::from_hours(1),
                enabled: true,
                last_fired_at: None,
                last_occurrence: None,
            }
        })
        .collect()
}

fn evaluate(c: &mut Criterion) {
    let now: Timestamp = "2026-06-15T12:00:00Z".parse().unwrap();
    let index = AlertIndex::new(rules());
    let days: Vec<(Region, Vec<PricePoint>)> =
        Region::ALL.iter().map(|r| (*r, prices(*r, now))).collect();
    let fired: usize = {
        let mut fresh = index.clone();
        days.iter()
            .map(|(r, p)| fresh.evaluate(*r, p, now).len())
            .sum()
    };
    eprintln!("{RULES} rules, {fired} fire on a fresh index");
    let mut group = c.benchmark_group("alerts");
    group.bench_function("one_region", |b| {
        // `_ref`: the cloned index is dropped outside the timing.
        b.iter_batched_ref(
            || index.clone(),
            |index| black_box(index.evaluate(Region::Germany, &days[1].1, now)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("all_regions", |b| {
        b.iter_batched_ref(
            || index.clone(),
            |index| {
                days.iter()
                    .map(|(region, points)| index.evaluate(*region, points, now))
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        )
    });
    // The steady state: the same day again, every rule already fired for its occurrence.
    let mut settled = index.clone();
    for (region, points) in &days {
        settled.evaluate(*region, points, now);
    }
    group.bench_function("all_regions_nothing_new", |b| {
        b.iter(|| {
            for (region, points) in &days {
                black_box(settled.evaluate(*region, points, now));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
