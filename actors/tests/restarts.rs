//! The root supervisor restarts every top-level actor one-for-one: a panic in the broadcaster,
//! the forecaster or the weather collector restarts that actor alone, its holders reach the new
//! incarnation through the same handles, and past its budget an actor is degraded while the
//! rest keeps working. Tokio time is paused, so backoff delays take no wall time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rust_decimal::Decimal;
use tokio::sync::broadcast::error::RecvError;
use wattline_actors::broadcast::{ResumeOutcome, SubscribeRequest};
use wattline_actors::domain::weather::WeatherPoint;
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherState;
use wattline_actors::ports::{PriceSource, SoleNode, SourceError, WeatherSource};
use wattline_actors::supervision::{BackoffPolicy, ChildState, ChildStatus, RestartPolicy};
use wattline_actors::testing::{ManualClock, MemoryStore, ScriptedSource, Step};
use wattline_actors::{BootstrapConfig, Ports, Tree, TreeConfig, TreeHandles, WeatherPorts};

const MORNING: &str = "2026-01-15T09:00:00Z";

fn policy(max_restarts: u32) -> RestartPolicy {
    RestartPolicy {
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
    }
}

/// A weather provider that panics on its first `panics` calls, then answers one step.
struct FlakyWeather {
    calls: AtomicUsize,
    panics: usize,
}

#[async_trait]
impl WeatherSource for FlakyWeather {
    async fn forecast(&self, region: Region) -> Result<Vec<WeatherPoint>, SourceError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(call >= self.panics, "weather provider panic");
        Ok(vec![WeatherPoint {
            region,
            at: MORNING.parse().unwrap(),
            temperature_c: 4.0,
            cloud_cover_pct: 50.0,
            wind_speed_ms: 3.0,
            source: "test".into(),
            fetched_at: MORNING.parse().unwrap(),
        }])
    }
}

struct Setup {
    tree: TreeHandles,
    store: Arc<MemoryStore>,
    source: Arc<ScriptedSource>,
    weather: Arc<FlakyWeather>,
}

async fn spawn(max_restarts: u32, weather_panics: usize, bootstrap_days: usize) -> Setup {
    let store = MemoryStore::new();
    let source = ScriptedSource::new(
        Source::Simulated,
        (1..=50).map(|p| Step::Deliver(Decimal::from(p))),
    );
    let weather = Arc::new(FlakyWeather {
        calls: AtomicUsize::new(0),
        panics: weather_panics,
    });
    let ports = Ports {
        workers: None,
        alerts: None,
        store: store.clone(),
        sources: vec![(
            Region::Germany,
            vec![source.clone() as Arc<dyn PriceSource>],
        )],
        clock: ManualClock::new(MORNING.parse::<Timestamp>().unwrap()),
        fanout: None,
        node_id: "test".into(),
        lease: Arc::new(SoleNode),
        forecasts: Some(store.clone()),
        weather: Some(WeatherPorts {
            source: weather.clone(),
            store: store.clone(),
            every: Duration::from_secs(3600),
        }),
    };
    let config = TreeConfig {
        supervision: policy(max_restarts),
        bootstrap: BootstrapConfig {
            days: bootstrap_days,
            fetch_timeout: Duration::from_secs(5),
        },
        ..TreeConfig::default()
    };
    let tree = Tree::spawn(ports, config).await.expect("tree starts");
    Setup {
        tree,
        store,
        source,
        weather,
    }
}

async fn child(tree: &TreeHandles, name: &str) -> ChildStatus {
    tree.root
        .children()
        .await
        .expect("root answers")
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no child {name}"))
}

/// Waits (in virtual time) until `name` is in `state` with at least `restarts` restarts.
async fn wait_child(
    tree: &TreeHandles,
    name: &str,
    state: ChildState,
    restarts: u64,
) -> ChildStatus {
    // Virtual time: an hour covers every backoff and the degraded probe of `policy`.
    for _ in 0..36_000 {
        let status = child(tree, name).await;
        if status.state == state && status.restarts >= restarts {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{name} never became {state:?}: {:?}",
        child(tree, name).await
    );
}

async fn wait_germany_healthy(tree: &TreeHandles) {
    for _ in 0..400 {
        let status = tree.prices.status().await.unwrap();
        if status[0].state == FetcherState::Healthy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("germany never became healthy");
}

fn germany(last_event_id: Option<u64>) -> SubscribeRequest {
    SubscribeRequest {
        regions: vec![Region::Germany],
        last_event_id,
        address: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_broadcaster_is_restarted_and_subscribers_resume_on_the_new_one() {
    let s = spawn(5, 0, 0).await;
    wait_germany_healthy(&s.tree).await;
    let mut sub = s.tree.broadcast.subscribe(germany(None)).await.unwrap();
    s.tree
        .prices
        .refresh(Region::Germany, Duration::from_secs(5))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
        .await
        .expect("an event")
        .expect("open");

    s.tree.broadcast.crash();
    let closed = tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv()).await;
    assert!(
        matches!(closed, Ok(Err(RecvError::Closed))),
        "the old incarnation's channel closes: {closed:?}"
    );
    let restarted = wait_child(&s.tree, "broadcaster", ChildState::Running, 1).await;
    assert_eq!(restarted.restarts, 1);
    assert!(restarted.last_error.unwrap().contains("crash requested"));

    // The same handle reaches the new incarnation; the missed history is gone, so a resume
    // from the last seen id is a reset (the edge sends `reset` and a fresh snapshot).
    let mut again = s
        .tree
        .broadcast
        .subscribe(germany(Some(seen.id)))
        .await
        .expect("the new broadcaster answers");
    assert_eq!(again.outcome, ResumeOutcome::Reset);
    assert_ne!(again.generation, sub.generation);
    // Prices committed after the restart reach the new subscription, with a larger id.
    s.tree
        .prices
        .refresh(Region::Germany, Duration::from_secs(5))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), again.receiver.recv())
        .await
        .expect("an event after the restart")
        .expect("open");
    assert!(next.id > seen.id);
    // Nothing else was restarted.
    assert_eq!(s.tree.prices.status().await.unwrap()[0].restarts, 0);
    assert_eq!(child(&s.tree, "prices").await.restarts, 0);
    assert_eq!(child(&s.tree, "forecaster").await.restarts, 0);
    assert_eq!(s.tree.broadcast.stats().await.unwrap().subscribers, 1);
    s.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_forecaster_is_restarted_and_answers_again() {
    let s = spawn(5, 0, 0).await;
    wait_germany_healthy(&s.tree).await;
    let forecasts = s.tree.forecasts.clone().expect("a forecaster");
    assert_eq!(forecasts.status().await.unwrap().len(), 1);
    forecasts.crash();
    let restarted = wait_child(&s.tree, "forecaster", ChildState::Running, 1).await;
    assert_eq!(restarted.restarts, 1);
    // The same handle answers from the restarted actor, which reloaded its region.
    let status = forecasts
        .status()
        .await
        .expect("the new forecaster answers");
    assert_eq!(status[0].region, Region::Germany);
    assert_eq!(child(&s.tree, "broadcaster").await.restarts, 0);
    assert_eq!(s.tree.prices.status().await.unwrap()[0].restarts, 0);
    s.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_weather_collector_is_restarted_and_collects_again() {
    let s = spawn(5, 1, 0).await;
    let restarted = wait_child(&s.tree, "weather-collector", ChildState::Running, 1).await;
    assert!(restarted.last_error.unwrap().contains("panic"));
    assert!(
        wattline_actors::testing::wait_until(Duration::from_secs(30), || !s
            .store
            .weather()
            .is_empty())
        .await,
        "the new incarnation stored a forecast"
    );
    // A crash on request is one more restart, and the new incarnation collects at once.
    let calls = s.weather.calls.load(Ordering::SeqCst);
    s.tree.weather.as_ref().unwrap().crash();
    wait_child(&s.tree, "weather-collector", ChildState::Running, 2).await;
    assert!(
        wattline_actors::testing::wait_until(Duration::from_secs(30), || s
            .weather
            .calls
            .load(Ordering::SeqCst)
            > calls)
        .await
    );
    assert_eq!(child(&s.tree, "broadcaster").await.restarts, 0);
    assert_eq!(child(&s.tree, "forecaster").await.restarts, 0);
    s.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn an_actor_past_its_budget_is_degraded_while_the_rest_keeps_working() {
    let s = spawn(2, usize::MAX, 0).await;
    let degraded = wait_child(&s.tree, "weather-collector", ChildState::Degraded, 3).await;
    assert_eq!(degraded.restarts, 3);
    // Prices still flow and stream.
    wait_germany_healthy(&s.tree).await;
    let mut sub = s.tree.broadcast.subscribe(germany(None)).await.unwrap();
    s.tree
        .prices
        .refresh(Region::Germany, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
            .await
            .is_ok()
    );
    // The degraded actor is probed again after `degraded_retry` and stays degraded.
    let probed = wait_child(&s.tree, "weather-collector", ChildState::Degraded, 4).await;
    assert!(probed.restarts >= 4);
    s.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn the_history_bootstrap_finishes_and_is_not_restarted() {
    let s = spawn(5, 0, 3).await;
    let done = wait_child(&s.tree, "history-bootstrap", ChildState::Finished, 0).await;
    assert_eq!(done.restarts, 0);
    // The three past days are stored.
    let days: std::collections::BTreeSet<_> = s
        .store
        .all()
        .iter()
        .map(|p| wattline_actors::domain::calendar::local_date(Region::Germany, p.start))
        .collect();
    for day in ["2026-01-12", "2026-01-13", "2026-01-14"] {
        assert!(days.contains(&day.parse().unwrap()), "{days:?}");
    }
    assert!(s.source.calls().len() >= 3);
    s.tree.shutdown(Duration::from_secs(5)).await;
}
