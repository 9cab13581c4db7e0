//! Batched ingest and range reads on SQLite (always) and PostgreSQL (when TEST_DATABASE_URL is
//! set). Run: `cargo bench --bench storage`; with PostgreSQL:
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench storage`.

#[path = "common/stores.rs"]
mod stores;

use stores::stores;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline::storage::RangeQuery;
use wattline_actors::domain::{EnergyUnit, PriceKind, PricePoint, Region, Source};
use wattline_actors::ports::PriceStore;

const BATCH: usize = 10_000;

fn batch(offset_days: i64) -> Vec<PricePoint> {
    let t0: Timestamp = "2020-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
        + SignedDuration::from_hours(24 * offset_days);
    (0..BATCH)
        .map(|i| PricePoint {
            region: Region::Germany,
            start: t0 + SignedDuration::from_mins(15 * i as i64),
            duration_minutes: 15,
            price: Decimal::new(8523 + i as i64 % 977, 2),
            currency: Region::Germany.currency(),
            unit: EnergyUnit::MWh,
            kind: PriceKind::DayAhead,
            source: Source::Replay,
            fetched_at: t0,
            estimated: false,
        })
        .collect()
}

fn bench_storage(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (name, store, _dir) in stores(&runtime, "wattline_bench") {
        let mut group = c.benchmark_group(format!("upsert_{name}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.sample_size(10);
        let mut day = 0;
        group.bench_function(
            BenchmarkId::from_parameter(format!("{BATCH}_new_rows")),
            |b| {
                b.iter(|| {
                    day += 110; // a fresh 104-day range each time: inserts, not updates
                    runtime.block_on(store.upsert_prices(&batch(day))).unwrap()
                })
            },
        );
        let existing = batch(0);
        runtime.block_on(store.upsert_prices(&existing)).unwrap();
        group.bench_function(
            BenchmarkId::from_parameter(format!("{BATCH}_updates")),
            |b| b.iter(|| runtime.block_on(store.upsert_prices(&existing)).unwrap()),
        );
        group.finish();

        // The update benchmark leaves dead row versions behind; autovacuum would clear them
        // in a running system, so range reads are measured after a vacuum.
        runtime.block_on(store.vacuum()).unwrap();
        let day = RangeQuery {
            region: Region::Germany,
            from: "2020-01-10T00:00:00Z".parse().unwrap(),
            to: "2020-01-11T00:00:00Z".parse().unwrap(),
            source: None,
        };
        let week = RangeQuery {
            to: "2020-01-17T00:00:00Z".parse().unwrap(),
            ..day.clone()
        };
        c.bench_function(&format!("range_{name}_1_day_96_rows"), |b| {
            b.iter(|| runtime.block_on(store.price_range(&day)).unwrap())
        });
        c.bench_function(&format!("range_{name}_7_days_672_rows"), |b| {
            b.iter(|| runtime.block_on(store.price_range(&week)).unwrap())
        });
        if name == "postgres" {
            runtime.block_on(store.close());
        }
    }
}

criterion_group!(benches, bench_storage);
criterion_main!(benches);
