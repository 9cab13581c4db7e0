//! Billing: what a Stripe webhook costs before it is stored (signature + typed parse + reading it
//! into a billing event), and how fast the BillingWorker applies stored events (the real
//! OutboxWorker with the BillingHandler, batches of 32) on SQLite and, when TEST_DATABASE_URL is
//! set, PostgreSQL: each iteration stores one event per user for 500 users with their jobs due a
//! few seconds later (not timed), then times the worker applying them from the moment they fall
//! due (account by compare-and-set, `users.tier`, processed mark).
//! Run: `cargo bench --bench billing`; with PostgreSQL:
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench billing`.

#[path = "../tests/common/stripe.rs"]
mod stripe;

#[path = "common/stores.rs"]
mod stores;
#[path = "common/worker.rs"]
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};
use stores::stores;
use worker::{drained, spawn_worker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use wattline::billing::webhook::{ParsedEvent, verify_and_parse};
use wattline::config::Secret;
use wattline::storage::billing::BillingEventRow;
use wattline::storage::users::UserRow;
use wattline::storage::{NewJob, Storage};
use wattline_actors::domain::billing::{BillingChange, BillingEvent, Tier};
use wattline_actors::ports::{JobQueue, SystemClock};
use wattline_actors::workers::billing::{APPLY_EVENT, BILLING_QUEUE, BillingHandler};

const USERS: usize = 500;

fn webhook(c: &mut Criterion) {
    let secret = Secret::new("whsec_bench");
    let at = Timestamp::now().as_second();
    let payloads = [
        (
            "checkout_session_completed",
            stripe::event(
                "evt_1",
                "checkout.session.completed",
                at,
                stripe::completed_checkout("user-1", "pro", "cus_1", at),
            ),
        ),
        (
            "customer_subscription_updated",
            stripe::event(
                "evt_2",
                "customer.subscription.updated",
                at,
                stripe::subscription("user-1", "pro", "active", at + 86_400, at),
            ),
        ),
    ];
    let mut group = c.benchmark_group("webhook");
    for (name, payload) in payloads {
        let header =
            stripe_webhook::Webhook::generate_test_header(&payload, "whsec_bench", Some(at));
        let now = Timestamp::from_second(at).unwrap();
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(format!("verify_and_parse_{name}"), |b| {
            b.iter(|| {
                let parsed = verify_and_parse(payload.as_bytes(), &header, &secret, now).unwrap();
                assert!(matches!(parsed, ParsedEvent::Billing { .. }));
            })
        });
    }
    group.finish();
}

async fn create_users(storage: &Storage) {
    for i in 0..USERS {
        storage
            .create_user(&UserRow {
                id: format!("user-{i}"),
                email: format!("user{i}@example.com"),
                password_hash: None,
                name: None,
                email_verified: true,
                tier: "free".into(),
                created_at: Timestamp::now(),
                last_login_at: None,
            })
            .await
            .unwrap();
    }
}

/// One newer event per user (alternately a subscription to pro and its deletion), each with its
/// job due at `due`, so none is applied while the rest are being stored.
async fn store_events(storage: &Storage, round: usize, due: Timestamp) {
    let created = Timestamp::now() + SignedDuration::from_secs(round as i64);
    for i in 0..USERS {
        let user_id = format!("user-{i}");
        let change = if round % 2 == 1 {
            BillingChange::CheckoutCompleted {
                user_id: Some(user_id.clone()),
                customer: Some(format!("cus_{i}")),
                subscription: Some(format!("sub_{i}")),
                tier: Some(Tier::Pro),
            }
        } else {
            BillingChange::SubscriptionDeleted {
                user_id: Some(user_id.clone()),
                customer: Some(format!("cus_{i}")),
                subscription: format!("sub_{i}"),
            }
        };
        let event = BillingEvent {
            id: format!("evt_{round}_{i}"),
            created,
            change,
        };
        let row = BillingEventRow::received(&event, "bench", Timestamp::now());
        storage
            .store_billing_event(
                &row,
                NewJob {
                    queue: BILLING_QUEUE.into(),
                    kind: APPLY_EVENT.into(),
                    payload: serde_json::json!({ "event_id": event.id }),
                    idempotency_key: format!("stripe-event:{}", event.id),
                    user_id: Some(user_id),
                    run_at: due,
                },
            )
            .await
            .unwrap();
    }
}

fn worker(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("billing_worker");
    group.throughput(Throughput::Elements(USERS as u64));
    group.sample_size(10);
    for (name, storage, _dir) in stores(&runtime, "wattline_bench_billing") {
        runtime.block_on(create_users(&storage));
        let handler = Arc::new(BillingHandler::new(
            storage.clone(),
            Arc::new(SystemClock),
            SignedDuration::from_hours(24 * 7),
        ));
        let tree = runtime.block_on(spawn_worker(&storage, BILLING_QUEUE, handler));
        let mut round = 0;
        group.bench_function(format!("apply_{USERS}_{name}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    round += 1;
                    // Due a little later: timing starts when the jobs fall due, all at once.
                    let lead = Duration::from_secs(2);
                    let due = Timestamp::now() + lead;
                    let stored_by = Instant::now() + lead;
                    runtime.block_on(store_events(&storage, round, due));
                    assert!(Instant::now() < stored_by, "stored before they fall due");
                    let wait = stored_by - Instant::now();
                    runtime.block_on(async { tokio::time::sleep(wait).await });
                    let started = Instant::now();
                    runtime.block_on(drained(&storage, BILLING_QUEUE));
                    total += started.elapsed();
                }
                total
            })
        });
        let failed = runtime
            .block_on(storage.counts(BILLING_QUEUE))
            .unwrap()
            .failed;
        assert_eq!(failed, 0, "no event parked");
        runtime.block_on(tree.shutdown(Duration::from_secs(5)));
    }
    group.finish();
}

criterion_group!(benches, webhook, worker);
criterion_main!(benches);
