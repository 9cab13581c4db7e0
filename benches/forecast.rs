//! The forecaster's two costs: one day's recalibration of a region (what the ForecastActor runs
//! off the runtime when a new day of prices lands), and a 168-hour forecast answered from memory
//! through the actor (the call every forecast request makes, plus cutting out the 168 hours).
//!
//! Histories are simulated prices: 120 days (what a fresh node bootstraps) and 365 days, for
//! Germany (96 quarter-hours a day) and Japan (24 hours), with the default configuration
//! (windows 56/84/1092/1456, each capped by the history). Run: `cargo bench --bench forecast`;
//! `FULL_HISTORY=1` adds the full 1484 days (every window uncapped; minutes per region).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use wattline::providers::simulator::simulate_day;
use wattline_actors::domain::calendar::day_bounds;
use wattline_actors::domain::{PricePoint, Region, Source};
use wattline_actors::forecaster::{
    Calibration, CalibrationInput, ForecastLookup, ForecasterConfig, RegionModel, calibrate,
};
use wattline_actors::ports::{PriceSource, PriceStore, SoleNode};
use wattline_actors::testing::{ManualClock, MemoryStore, ScriptedSource};
use wattline_actors::{Ports, Tree, TreeConfig};

/// Last day of every simulated history.
const LAST_DAY: Date = date(2026, 1, 15);

fn history(region: Region, days: i64) -> Vec<PricePoint> {
    (0..days)
        .rev()
        .flat_map(|back| {
            let day = LAST_DAY.checked_sub(jiff::Span::new().days(back)).unwrap();
            simulate_day(7, region, day, Timestamp::UNIX_EPOCH)
        })
        .collect()
}

fn model(region: Region, points: Vec<PricePoint>, previous: Option<&RegionModel>) -> Calibration {
    let last = points.last().expect("history").start;
    let input = CalibrationInput {
        region,
        points,
        preference: &[Source::Simulated],
        stored: Vec::new(),
        now: last + SignedDuration::from_hours(3),
        previous,
    };
    // Without a previous model this is a cold start; skipping its walk-forward seeding keeps the
    // setup short and does not change what a warm recalibration costs.
    let config = ForecasterConfig {
        seed_days: if previous.is_some() { 14 } else { 0 },
        ..ForecasterConfig::default()
    };
    calibrate(input, &config).expect("calibrates")
}

fn bench_recalibration(c: &mut Criterion) {
    let mut group = c.benchmark_group("recalibration");
    group.sample_size(10);
    let mut histories = vec![120, 365];
    if std::env::var_os("FULL_HISTORY").is_some() {
        histories.push(1484);
    }
    for region in [Region::Japan, Region::Germany] {
        for &days in &histories {
            let mut points = history(region, days);
            let (last_start, _) = day_bounds(region, LAST_DAY);
            let new_day: Vec<PricePoint> = points
                .iter()
                .filter(|p| p.start >= last_start)
                .cloned()
                .collect();
            points.retain(|p| p.start < last_start);
            // Yesterday's model; the bench measures what the day that just landed costs.
            let Calibration::Calibrated(yesterday) = model(region, points.clone(), None) else {
                panic!("a first calibration is never unchanged");
            };
            points.extend(new_day);
            group.bench_with_input(
                BenchmarkId::new(region.code(), format!("{days}_days")),
                &points,
                |b, points| b.iter(|| model(region, black_box(points.clone()), Some(&yesterday))),
            );
        }
    }
    group.finish();
}

fn bench_forecast_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let region = Region::Germany;
    let tree = runtime.block_on(async {
        let store = MemoryStore::new();
        store.upsert_prices(&history(region, 120)).await.unwrap();
        let now = day_bounds(region, LAST_DAY).1 - SignedDuration::from_hours(2);
        let ports = Ports {
            workers: None,
            alerts: None,
            store: store.clone(),
            sources: vec![(
                region,
                vec![ScriptedSource::new(Source::Simulated, []) as Arc<dyn PriceSource>],
            )],
            clock: ManualClock::new(now),
            fanout: None,
            node_id: "bench".into(),
            lease: Arc::new(SoleNode),
            forecasts: Some(store),
            weather: None,
        };
        Tree::spawn(ports, TreeConfig::default())
            .await
            .expect("tree starts")
    });
    let forecasts = tree.forecasts.clone().expect("forecaster runs");
    let ready = runtime.block_on(async {
        for _ in 0..1200 {
            if let Ok(ForecastLookup::Ready(f)) = forecasts.forecast(region).await {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the model never became ready");
    });
    assert!(ready.steps.len() >= 672, "8 days of quarter-hours ahead");
    c.bench_function("forecast_call_168h_germany", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let ForecastLookup::Ready(forecast) =
                    forecasts.forecast(black_box(region)).await.unwrap()
                else {
                    unreachable!("ready above");
                };
                let to = forecast.steps[0].start + SignedDuration::from_hours(168);
                let steps: Vec<(Timestamp, f64, f64, f64)> = forecast
                    .steps
                    .iter()
                    .take_while(|s| s.start < to)
                    .map(|s| (s.start, s.predicted, s.lower, s.upper))
                    .collect();
                assert_eq!(steps.len(), 672);
                steps
            })
        })
    });
    runtime.block_on(tree.shutdown(Duration::from_secs(5)));
}

criterion_group!(benches, bench_forecast_call, bench_recalibration);
criterion_main!(benches);
