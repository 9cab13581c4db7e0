//! Price maths on series from 24 hourly points to 672 quarter-hours (a week at 15 min):
//! cheapest window, top windows, statistics, peak hours, the cache lookup behind `current`, and
//! the JSON of a history page.
//! Run: `cargo bench --bench analytics`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};
use wattline::providers::simulator::simulate_day;
use wattline_actors::domain::peak::peak_hours;
use wattline_actors::domain::price::SourcePreference;
use wattline_actors::domain::stats::statistics;
use wattline_actors::domain::window::{cheapest_window, cheapest_windows};
use wattline_actors::domain::{PricePoint, Region};
use wattline_actors::writer::LatestSnapshot;

/// `days` consecutive simulated days of `region` (real shapes, negative prices included).
fn series(region: Region, days: i64) -> Vec<PricePoint> {
    (0..days)
        .flat_map(|d| {
            let day = date(2026, 3, 25)
                .checked_add(jiff::Span::new().days(d))
                .unwrap();
            simulate_day(42, region, day, Timestamp::UNIX_EPOCH)
        })
        .collect()
}

fn cases() -> Vec<(&'static str, Vec<PricePoint>)> {
    vec![
        ("24h@60min", series(Region::Japan, 1)),
        ("24h@15min", series(Region::Germany, 1)),
        ("168h@60min", series(Region::Japan, 7)),
        // Includes the 92-quarter-hour DST day of 2026-03-29.
        ("168h@15min", series(Region::Germany, 7)),
    ]
}

fn bench_windows(c: &mut Criterion) {
    let mut group = c.benchmark_group("cheapest_window_3h");
    for (name, points) in cases() {
        group.bench_with_input(BenchmarkId::from_parameter(name), &points, |b, p| {
            b.iter(|| cheapest_window(black_box(p), 180))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("cheapest_windows_top5_3h");
    for (name, points) in cases() {
        group.bench_with_input(BenchmarkId::from_parameter(name), &points, |b, p| {
            b.iter(|| cheapest_windows(black_box(p), 180, 5))
        });
    }
    group.finish();
}

fn bench_statistics(c: &mut Criterion) {
    let mut group = c.benchmark_group("statistics");
    for (name, points) in cases() {
        group.bench_with_input(BenchmarkId::from_parameter(name), &points, |b, p| {
            b.iter(|| statistics(black_box(p)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("peak_hours");
    for (name, points) in cases() {
        group.bench_with_input(BenchmarkId::from_parameter(name), &points, |b, p| {
            b.iter(|| peak_hours(black_box(p), rust_decimal::Decimal::TEN))
        });
    }
    group.finish();
}

fn bench_cache(c: &mut Criterion) {
    let mut all = Vec::new();
    for region in Region::ALL {
        all.extend(series(region, 3));
    }
    let snapshot =
        LatestSnapshot::default().merged(&all, &SourcePreference::new([]), Timestamp::MIN);
    let at: Timestamp = "2026-03-26T12:07:00Z".parse().unwrap();
    c.bench_function("cache_current_plus_10_upcoming", |b| {
        b.iter(|| {
            let s = black_box(&snapshot);
            (
                s.current(Region::Germany, at).cloned(),
                s.upcoming(Region::Germany, at, 10).len(),
            )
        })
    });
    let batch: Vec<PricePoint> = series(Region::France, 1)
        .into_iter()
        .map(|mut p| {
            p.start += SignedDuration::from_hours(72);
            p
        })
        .collect();
    c.bench_function("cache_merge_one_day_batch", |b| {
        b.iter(|| {
            snapshot.merged(
                black_box(&batch),
                &SourcePreference::new([]),
                Timestamp::MIN,
            )
        })
    });
}

fn bench_json(c: &mut Criterion) {
    let page: Vec<wattline::http::dto::PriceDto> = series(Region::Germany, 6)
        .iter()
        .take(500)
        .map(Into::into)
        .collect();
    c.bench_function("history_page_500_prices_to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&page)).unwrap().len())
    });
}

criterion_group!(
    benches,
    bench_windows,
    bench_statistics,
    bench_cache,
    bench_json
);
criterion_main!(benches);
