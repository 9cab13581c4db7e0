//! Outbox throughput: jobs claimed, run and completed per second by the real OutboxWorker (one
//! worker, batches of 32, a no-op handler) against SQLite and, when TEST_DATABASE_URL is set,
//! PostgreSQL. Each iteration queues 2 000 jobs (not timed), then times the worker draining them.
//! Run: `cargo bench --bench outbox`; with PostgreSQL:
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench outbox`.

#[path = "common/stores.rs"]
mod stores;
#[path = "common/worker.rs"]
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use stores::stores;
use worker::{drained, spawn_worker};

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use wattline::storage::{NewJob, Storage, UnitOfWork};
use wattline_actors::ports::{ClaimedJob, JobHandler};
use wattline_actors::workers::JobFailure;

const JOBS: usize = 2_000;

#[derive(Default)]
struct NoOp(AtomicUsize);

#[async_trait]
impl JobHandler for NoOp {
    async fn handle(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn queue(storage: &Storage, round: usize) {
    let now = Timestamp::now();
    let mut unit = UnitOfWork::new();
    for i in 0..JOBS {
        unit.enqueue(NewJob {
            queue: "bench".into(),
            kind: "noop".into(),
            payload: serde_json::json!({ "i": i }),
            idempotency_key: format!("bench:{round}:{i}"),
            user_id: None,
            run_at: now,
        });
    }
    storage.commit(unit).await.unwrap();
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(JOBS as u64));
    group.sample_size(10);
    for (name, storage, _dir) in stores(&runtime, "wattline_bench_outbox") {
        let handler = Arc::new(NoOp::default());
        let tree = runtime.block_on(spawn_worker(&storage, "bench", handler.clone()));
        let mut round = 0;
        group.bench_function(format!("drain_{JOBS}_{name}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    round += 1;
                    runtime.block_on(queue(&storage, round));
                    let started = Instant::now();
                    runtime.block_on(drained(&storage, "bench"));
                    total += started.elapsed();
                }
                total
            })
        });
        runtime.block_on(tree.shutdown(Duration::from_secs(5)));
        eprintln!("{name}: {} jobs handled", handler.0.load(Ordering::Relaxed));
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
