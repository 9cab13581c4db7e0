//! Whole-tree behaviour against fake ports, with tokio time paused so backoff delays are exact
//! and the tests take no wall time.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use rust_decimal::Decimal;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::{
    FetchError, FetcherConfig, FetcherState, RefreshError, RegionStatus,
};
use wattline_actors::ports::{PriceSource, SoleNode, SourceError};
use wattline_actors::supervision::{BackoffPolicy, RestartPolicy};
use wattline_actors::testing::{ManualClock, MemoryStore, ScriptedSource, Step, wait_until};
use wattline_actors::writer::WriterConfig;
use wattline_actors::{Ports, Tree, TreeConfig, TreeHandles};

/// 09:00 UTC on a winter weekday: before every European publication time, so only today is due.
const MORNING: &str = "2026-01-15T09:00:00Z";

fn config(max_restarts: u32) -> TreeConfig {
    TreeConfig {
        writer: WriterConfig {
            batch_size: 10_000,
            flush_interval: Duration::from_millis(50),
            ..WriterConfig::default()
        },
        fetcher: FetcherConfig {
            fetch_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(300),
        },
        supervision: RestartPolicy {
            backoff: BackoffPolicy {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
                multiplier: 2,
                jitter: 0.0,
            },
            max_restarts,
            window: Duration::from_secs(600),
            degraded_retry: Duration::from_secs(900),
            healthy_after: Duration::from_secs(600),
        },
        broadcaster: Default::default(),
        publication: Vec::new(),
        call_timeout: Duration::from_secs(2),
        forecaster: Default::default(),
        bootstrap: Default::default(),
        alerts: Default::default(),
    }
}

async fn spawn(
    sources: Vec<(Region, Vec<Arc<dyn PriceSource>>)>,
    store: Arc<MemoryStore>,
    config: TreeConfig,
) -> TreeHandles {
    let clock = ManualClock::new(MORNING.parse().unwrap());
    Tree::spawn(
        Ports {
            workers: None,
            alerts: None,
            store,
            sources,
            clock,
            fanout: None,
            node_id: "test".into(),
            lease: Arc::new(SoleNode),
            forecasts: None,
            weather: None,
        },
        config,
    )
    .await
    .expect("tree starts")
}

async fn status_of(tree: &TreeHandles, region: Region) -> RegionStatus {
    tree.prices
        .status()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.region == region)
        .unwrap()
}

async fn wait_for_state(tree: &TreeHandles, region: Region, state: FetcherState) -> RegionStatus {
    // Virtual time: an hour covers every backoff and the degraded probe of `config`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    while tokio::time::Instant::now() < deadline {
        let status = status_of(tree, region).await;
        if status.state == state {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "{region} never became {state:?}; last {:?}",
        status_of(tree, region).await
    );
}

fn gaps(calls: &[(tokio::time::Instant, Region, jiff::civil::Date)]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1].0 - w[0].0).collect()
}

#[tokio::test(start_paused = true)]
async fn fetcher_restarts_with_growing_backoff_after_provider_errors() {
    let failure = Step::Fail(SourceError::Http { status: 502 });
    let source = ScriptedSource::new(
        Source::Entsoe,
        [
            failure.clone(),
            failure.clone(),
            failure,
            Step::Deliver(Decimal::from(42)),
        ],
    );
    let store = MemoryStore::new();
    let tree = spawn(
        vec![(
            Region::Germany,
            vec![source.clone() as Arc<dyn PriceSource>],
        )],
        store.clone(),
        config(10),
    )
    .await;

    let status = wait_for_state(&tree, Region::Germany, FetcherState::Healthy).await;
    assert_eq!(status.restarts, 3);
    assert_eq!(status.last_source, Some(Source::Entsoe));
    let calls = source.calls();
    assert_eq!(calls.len(), 4);
    // Each restart waited twice as long as the one before (no jitter in this policy).
    let gaps: Vec<u64> = gaps(&calls).iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(gaps.len(), 3);
    for (gap, expected) in gaps.iter().zip([1000u64, 2000, 4000]) {
        assert!((expected..expected + 100).contains(gap), "gaps {gaps:?}");
    }
    assert!(wait_until(Duration::from_secs(5), || store.all().len() == 96).await);
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn panicking_source_is_restarted_by_the_supervisor() {
    let source = ScriptedSource::new(
        Source::Simulated,
        [Step::Panic, Step::Deliver(Decimal::ONE)],
    );
    let tree = spawn(
        vec![(Region::Japan, vec![source.clone() as Arc<dyn PriceSource>])],
        MemoryStore::new(),
        config(5),
    )
    .await;
    let status = wait_for_state(&tree, Region::Japan, FetcherState::Healthy).await;
    assert_eq!(status.restarts, 1);
    assert!(status.last_error.unwrap().contains("panicked"));
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn region_past_its_budget_is_degraded_while_others_keep_working_then_recovers() {
    let failure = Step::Fail(SourceError::Transport("connection refused".into()));
    let broken = ScriptedSource::new(
        Source::Entsoe,
        [
            failure.clone(),
            failure.clone(),
            failure,
            Step::Deliver(Decimal::from(7)),
        ],
    );
    let healthy = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::from(3))]);
    let store = MemoryStore::new();
    let tree = spawn(
        vec![
            (
                Region::Germany,
                vec![broken.clone() as Arc<dyn PriceSource>],
            ),
            (Region::Japan, vec![healthy as Arc<dyn PriceSource>]),
        ],
        store.clone(),
        config(2),
    )
    .await;

    let degraded = wait_for_state(&tree, Region::Germany, FetcherState::Degraded).await;
    assert_eq!(degraded.restarts, 3);
    assert!(degraded.last_error.unwrap().contains("connection refused"));
    assert_eq!(
        status_of(&tree, Region::Japan).await.state,
        FetcherState::Healthy
    );
    let refused = tree
        .prices
        .refresh(Region::Germany, Duration::from_secs(5))
        .await;
    assert!(
        matches!(
            refused,
            Err(RefreshError::Fetch(FetchError::Unavailable {
                state: FetcherState::Degraded,
                ..
            }))
        ),
        "{refused:?}"
    );
    // Japan's prices were written and are served from the cache.
    let snapshot = tree.latest.snapshot();
    let now: Timestamp = MORNING.parse().unwrap();
    assert_eq!(
        snapshot.current(Region::Japan, now).unwrap().price,
        Decimal::from(3)
    );
    assert!(snapshot.current(Region::Germany, now).is_none());

    // The degraded region is probed again after `degraded_retry` and recovers.
    let recovered = wait_for_state(&tree, Region::Germany, FetcherState::Healthy).await;
    assert_eq!(recovered.consecutive_failures, 0);
    let calls = broken.calls();
    assert_eq!(calls.len(), 4);
    assert!(gaps(&calls)[2] >= Duration::from_secs(900));
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn hanging_primary_times_out_and_the_next_source_serves() {
    let hanging = ScriptedSource::new(Source::Entsoe, [Step::Hang]);
    let fallback = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::from(9))]);
    let tree = spawn(
        vec![(
            Region::France,
            vec![
                hanging as Arc<dyn PriceSource>,
                fallback as Arc<dyn PriceSource>,
            ],
        )],
        MemoryStore::new(),
        config(5),
    )
    .await;
    let status = wait_for_state(&tree, Region::France, FetcherState::Healthy).await;
    assert_eq!(status.last_source, Some(Source::Simulated));
    assert_eq!(status.restarts, 0);
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn refresh_answers_with_what_was_fetched() {
    let source = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::ONE)]);
    let tree = spawn(
        vec![(Region::Uk, vec![source.clone() as Arc<dyn PriceSource>])],
        MemoryStore::new(),
        config(5),
    )
    .await;
    wait_for_state(&tree, Region::Uk, FetcherState::Healthy).await;
    let report = tree
        .prices
        .refresh(Region::Uk, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(report.region, Region::Uk);
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.days[0].day, date(2026, 1, 15));
    assert_eq!(report.days[0].points, 48);
    assert_eq!(source.calls().len(), 2);
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_what_the_writer_still_buffers() {
    let source = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::ONE)]);
    let store = MemoryStore::new();
    let mut cfg = config(5);
    // Nothing would be flushed for an hour: only the shutdown flush can store the points.
    cfg.writer.flush_interval = Duration::from_secs(3600);
    let tree = spawn(
        vec![(Region::Germany, vec![source as Arc<dyn PriceSource>])],
        store.clone(),
        cfg,
    )
    .await;
    wait_for_state(&tree, Region::Germany, FetcherState::Healthy).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.all().is_empty());
    let report = tree.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.flushed_rows, 96);
    assert_eq!(report.flush_error, None);
    assert_eq!(store.all().len(), 96);
}

#[tokio::test(start_paused = true)]
async fn writer_keeps_the_batch_and_retries_when_storage_fails() {
    let source = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::TEN)]);
    let store = MemoryStore::new();
    store.fail_next(2);
    let tree = spawn(
        vec![(Region::Spain, vec![source as Arc<dyn PriceSource>])],
        store.clone(),
        config(5),
    )
    .await;
    assert!(wait_until(Duration::from_secs(30), || store.all().len() == 96).await);
    assert_eq!(store.commits(), vec![96]);
    let now: Timestamp = MORNING.parse().unwrap();
    assert_eq!(
        tree.latest
            .snapshot()
            .current(Region::Spain, now)
            .unwrap()
            .price,
        Decimal::TEN
    );
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn writer_batches_points_of_many_regions_into_one_commit() {
    let regions = [Region::Germany, Region::France, Region::Spain];
    let sources = regions
        .iter()
        .map(|r| {
            (
                *r,
                vec![
                    ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::ONE)])
                        as Arc<dyn PriceSource>,
                ],
            )
        })
        .collect();
    let store = MemoryStore::new();
    let tree = spawn(sources, store.clone(), config(5)).await;
    assert!(wait_until(Duration::from_secs(5), || store.all().len() == 3 * 96).await);
    // All three regions arrive within one flush interval: one transaction, not three.
    assert_eq!(store.commits(), vec![288]);
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn restarted_writer_warms_its_cache_from_storage() {
    let store = MemoryStore::new();
    let first = spawn(
        vec![(
            Region::Italy,
            vec![
                ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::TWO)])
                    as Arc<dyn PriceSource>,
            ],
        )],
        store.clone(),
        config(5),
    )
    .await;
    wait_for_state(&first, Region::Italy, FetcherState::Healthy).await;
    first.shutdown(Duration::from_secs(5)).await;
    // A new tree whose source never answers still serves the stored prices at once.
    let second = spawn(
        vec![(
            Region::Italy,
            vec![ScriptedSource::new(Source::Simulated, [Step::Hang]) as Arc<dyn PriceSource>],
        )],
        store,
        config(5),
    )
    .await;
    let now: Timestamp = MORNING.parse().unwrap();
    assert_eq!(
        second
            .latest
            .snapshot()
            .current(Region::Italy, now)
            .unwrap()
            .price,
        Decimal::TWO
    );
    second.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_writer_that_panics_is_restarted_and_later_batches_are_stored() {
    let source = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::ONE)]);
    let store = MemoryStore::new();
    store.panic_next(1);
    let tree = spawn(
        vec![(Region::Belgium, vec![source as Arc<dyn PriceSource>])],
        store.clone(),
        config(5),
    )
    .await;
    wait_for_state(&tree, Region::Belgium, FetcherState::Healthy).await;
    // The first batch died with the writer; a refresh after its restart is stored.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(store.all().is_empty());
    tree.prices
        .refresh(Region::Belgium, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || store.all().len() == 96).await);
    assert_eq!(tree.prices.flush(Duration::from_secs(5)).await, Ok(0));
    tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn an_incomplete_day_from_the_primary_fails_over_to_the_next_source() {
    let truncated = ScriptedSource::new(Source::Entsoe, [Step::DeliverFirst(90)]);
    let complete = ScriptedSource::new(Source::Simulated, [Step::Deliver(Decimal::from(5))]);
    let store = MemoryStore::new();
    let tree = spawn(
        vec![(
            Region::Belgium,
            vec![
                truncated.clone() as Arc<dyn PriceSource>,
                complete as Arc<dyn PriceSource>,
            ],
        )],
        store.clone(),
        config(5),
    )
    .await;
    let status = wait_for_state(&tree, Region::Belgium, FetcherState::Healthy).await;
    assert_eq!(status.last_source, Some(Source::Simulated));
    assert_eq!(truncated.calls().len(), 1);
    let report = tree
        .prices
        .refresh(Region::Belgium, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(report.failed_attempts[0].source, Source::Entsoe);
    assert!(
        report.failed_attempts[0]
            .error
            .contains("incomplete day: expected 96 intervals, got 90")
    );
    assert!(
        wait_until(Duration::from_secs(5), || store
            .all()
            .iter()
            .all(|p| p.source == Source::Simulated)
            && store.all().len() == 96)
        .await
    );
    tree.shutdown(Duration::from_secs(5)).await;
}
