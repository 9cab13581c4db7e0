//! Optimisation on simulated German quarter-hours: the best start times for a 2-hour run over
//! 672 quarter-hours (a week), and appliance schedules for 1 and 5 appliances over 96 and 672
//! slots under a binding power limit and an exclusion. Prints each schedule's solver status
//! once, so the numbers say what was solved exactly. Run: `cargo bench --bench optimize`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use jiff::civil::date;
use rust_decimal::prelude::ToPrimitive;
use wattline::providers::simulator::simulate_day;
use wattline_actors::domain::Region;
use wattline_actors::domain::schedule::{Appliance, Problem, RunMode, SolveLimits, cheapest_runs};

/// `slots` consecutive simulated German quarter-hour prices, per kWh.
fn prices(slots: usize) -> Vec<f64> {
    (0..8)
        .flat_map(|d| {
            simulate_day(
                42,
                Region::Germany,
                date(2026, 1, 12)
                    .checked_add(jiff::Span::new().days(d))
                    .unwrap(),
                Timestamp::UNIX_EPOCH,
            )
        })
        .map(|p| p.price.to_f64().unwrap() / 1000.0)
        .take(slots)
        .collect()
}

fn appliance(power_kw: f64, slots: usize, mode: RunMode, horizon: usize) -> Appliance {
    Appliance {
        power_kw,
        slots,
        earliest: 0,
        deadline: horizon,
        mode,
        price_cap: None,
    }
}

/// A household evening: washer, dryer (never with the washer), dishwasher, an EV charged in
/// blocks of at least 30 minutes and a heat-pump boost, under a 9 kW connection.
fn household(slots: usize, appliances: usize) -> Problem {
    let all = vec![
        appliance(7.0, 12, RunMode::Splittable { min_run: 2 }, slots),
        appliance(2.0, 8, RunMode::Contiguous, slots),
        appliance(2.5, 6, RunMode::Contiguous, slots),
        appliance(1.2, 9, RunMode::Contiguous, slots),
        appliance(3.0, 4, RunMode::Contiguous, slots),
    ];
    Problem {
        prices: prices(slots),
        slot_hours: 0.25,
        appliances: all.into_iter().take(appliances).collect(),
        power_limit_kw: Some(9.0),
        exclusions: if appliances >= 3 {
            vec![(1, 2)]
        } else {
            Vec::new()
        },
    }
}

fn bench_optimal_times(c: &mut Criterion) {
    let week = prices(672);
    c.bench_function("optimal_times_3_runs_of_2h_over_672", |b| {
        b.iter(|| cheapest_runs(black_box(&week), 8, 3))
    });
}

fn bench_schedules(c: &mut Criterion) {
    let limits = SolveLimits::default();
    let mut group = c.benchmark_group("schedule");
    group.sample_size(20);
    for (appliances, slots) in [(1, 96), (1, 672), (5, 96), (5, 672)] {
        let problem = household(slots, appliances);
        let schedule = problem.solve(&limits).expect("feasible");
        problem.check(&schedule.slots).expect("valid");
        println!(
            "schedule {appliances} appliances × {slots} slots: {:?} by {:?}, cost {:.4}, bound {:.4}",
            schedule.status, schedule.method, schedule.total, schedule.lower_bound
        );
        group.bench_with_input(
            BenchmarkId::new(format!("{appliances}_appliances"), slots),
            &problem,
            |b, p| b.iter(|| p.solve(black_box(&limits))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_optimal_times, bench_schedules);
criterion_main!(benches);
