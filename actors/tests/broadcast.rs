//! The broadcaster in the tree: one event per committed change, resume from the replay buffer,
//! limits, and two nodes sharing a fan-out and a lease table (paused tokio time throughout).

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::broadcast::error::TryRecvError;
use wattline_actors::broadcast::{
    BroadcasterConfig, PricePayload, ResumeOutcome, SubscribeError, SubscribeRequest,
};
use wattline_actors::domain::{Region, Source};
use wattline_actors::fetcher::FetcherState;
use wattline_actors::ports::{EventFeed, FanOut, PriceSource, RegionLease, SoleNode};
use wattline_actors::testing::{
    LoopbackFanOut, ManualClock, MemoryStore, ScriptedSource, SharedLeases, Step, wait_until,
};
use wattline_actors::{Ports, Tree, TreeConfig, TreeHandles};

const MORNING: &str = "2026-01-15T09:00:00Z";

fn prices(values: &[i64]) -> Vec<Step> {
    values
        .iter()
        .map(|v| Step::Deliver(Decimal::from(*v)))
        .collect()
}

struct Node {
    source: Arc<ScriptedSource>,
    tree: TreeHandles,
}

async fn node(
    id: &str,
    steps: Vec<Step>,
    fanout: Option<Arc<LoopbackFanOut>>,
    lease: Arc<dyn RegionLease>,
    broadcaster: BroadcasterConfig,
) -> Node {
    let source = ScriptedSource::new(Source::Simulated, steps);
    let ports = Ports {
        workers: None,
        alerts: None,
        store: MemoryStore::new(),
        sources: vec![(
            Region::Germany,
            vec![source.clone() as Arc<dyn PriceSource>],
        )],
        clock: ManualClock::new(MORNING.parse().unwrap()),
        fanout: fanout.map(|bus| (bus.clone() as Arc<dyn FanOut>, bus as Arc<dyn EventFeed>)),
        node_id: id.into(),
        lease,
        forecasts: None,
        weather: None,
    };
    let config = TreeConfig {
        broadcaster,
        ..TreeConfig::default()
    };
    Node {
        source,
        tree: Tree::spawn(ports, config).await.expect("tree starts"),
    }
}

async fn single(steps: Vec<Step>, broadcaster: BroadcasterConfig) -> Node {
    let node = node("solo", steps, None, Arc::new(SoleNode), broadcaster).await;
    wait_healthy(&node).await;
    node
}

async fn wait_healthy(node: &Node) {
    let prices = node.tree.prices.clone();
    for _ in 0..400 {
        let status = prices.status().await.unwrap();
        if status.iter().all(|s| s.state == FetcherState::Healthy)
            && node.tree.latest.snapshot().series(Region::Germany).len() == 96
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node never became healthy");
}

fn germany() -> SubscribeRequest {
    SubscribeRequest {
        regions: vec![Region::Germany],
        last_event_id: None,
        address: None,
    }
}

async fn refresh(node: &Node) {
    node.tree
        .prices
        .refresh(Region::Germany, Duration::from_secs(5))
        .await
        .expect("refresh");
}

#[tokio::test(start_paused = true)]
async fn each_committed_change_is_one_event_and_unchanged_refetches_are_none() {
    let node = single(prices(&[1, 1, 2]), BroadcasterConfig::default()).await;
    let mut sub = node.tree.broadcast.subscribe(germany()).await.unwrap();
    assert_eq!(sub.outcome, ResumeOutcome::Fresh);
    refresh(&node).await; // same prices: no event
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(matches!(sub.receiver.try_recv(), Err(TryRecvError::Empty)));
    refresh(&node).await; // every price changed
    let event = tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(event.id > sub.last_id);
    let text = std::str::from_utf8(&event.frame).unwrap();
    assert!(
        text.starts_with(&format!("id: {}\nevent: price\ndata: ", event.id)),
        "{text}"
    );
    let payload: PricePayload =
        serde_json::from_str(text.lines().nth(2).unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(payload.region, Region::Germany);
    assert_eq!(payload.points.len(), 96);
    assert!(payload.points.iter().all(|p| p.price == Decimal::TWO));
    assert_eq!(node.source.calls().len(), 3);
    node.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn resume_replays_missed_events_in_order_without_duplicates() {
    let node = single(prices(&[1, 2, 3, 4]), BroadcasterConfig::default()).await;
    let mut first = node.tree.broadcast.subscribe(germany()).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        // One refresh at a time: refreshes within one writer batch would merge into one event.
        refresh(&node).await;
        ids.push(
            tokio::time::timeout(Duration::from_secs(5), first.receiver.recv())
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // A client that saw only the first event reconnects.
    let resumed = node
        .tree
        .broadcast
        .subscribe(SubscribeRequest {
            last_event_id: Some(ids[0]),
            ..germany()
        })
        .await
        .unwrap();
    assert_eq!(resumed.outcome, ResumeOutcome::Resumed);
    assert_eq!(
        resumed.replay.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[1..]
    );
    let up_to_date = node
        .tree
        .broadcast
        .subscribe(SubscribeRequest {
            last_event_id: Some(ids[2]),
            ..germany()
        })
        .await
        .unwrap();
    assert_eq!(up_to_date.outcome, ResumeOutcome::Resumed);
    assert!(up_to_date.replay.is_empty());
    node.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn resume_from_before_the_buffer_or_an_unknown_id_is_a_reset() {
    let config = BroadcasterConfig {
        replay_per_region: 2,
        ..BroadcasterConfig::default()
    };
    let node = single(prices(&[1, 2, 3, 4, 5]), config).await;
    let mut sub = node.tree.broadcast.subscribe(germany()).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        refresh(&node).await;
        ids.push(
            tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    let old = node
        .tree
        .broadcast
        .subscribe(SubscribeRequest {
            last_event_id: Some(ids[0]),
            ..germany()
        })
        .await
        .unwrap();
    assert_eq!(
        old.outcome,
        ResumeOutcome::Reset,
        "the second event was evicted"
    );
    let ok = node
        .tree
        .broadcast
        .subscribe(SubscribeRequest {
            last_event_id: Some(ids[1]),
            ..germany()
        })
        .await
        .unwrap();
    assert_eq!(ok.outcome, ResumeOutcome::Resumed);
    let future = node
        .tree
        .broadcast
        .subscribe(SubscribeRequest {
            last_event_id: Some(u64::MAX),
            ..germany()
        })
        .await
        .unwrap();
    assert_eq!(future.outcome, ResumeOutcome::Reset);
    node.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn subscriber_limits_apply_globally_and_per_address() {
    let config = BroadcasterConfig {
        max_subscribers: 3,
        max_per_address: 2,
        ..BroadcasterConfig::default()
    };
    let node = single(prices(&[1]), config).await;
    let address = Some("10.0.0.1".parse().unwrap());
    let from = |a| SubscribeRequest {
        address: a,
        ..germany()
    };
    let b = &node.tree.broadcast;
    let first = b.subscribe(from(address)).await.unwrap();
    b.subscribe(from(address)).await.unwrap();
    let refused = b.subscribe(from(address)).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        SubscribeError::AddressFull { limit: 2 }.to_string()
    );
    b.subscribe(from(Some("10.0.0.2".parse().unwrap())))
        .await
        .unwrap();
    let full = b.subscribe(from(None)).await.unwrap_err();
    assert_eq!(
        full.to_string(),
        SubscribeError::ServerFull { limit: 3 }.to_string()
    );
    b.unsubscribe(address, first.generation);
    b.subscribe(from(address)).await.unwrap();
    assert_eq!(b.stats().await.unwrap().subscribers, 3);
    node.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_falls_behind_the_channel_sees_lagged() {
    let config = BroadcasterConfig {
        channel_capacity: 2,
        ..BroadcasterConfig::default()
    };
    let node = single(prices(&[1, 2, 3, 4, 5]), config).await;
    let mut slow = node.tree.broadcast.subscribe(germany()).await.unwrap();
    let mut pacer = node.tree.broadcast.subscribe(germany()).await.unwrap();
    for _ in 0..4 {
        refresh(&node).await;
        tokio::time::timeout(Duration::from_secs(5), pacer.receiver.recv())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(matches!(
        slow.receiver.try_recv(),
        Err(TryRecvError::Lagged(2))
    ));
    node.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn two_nodes_share_events_and_one_fetches_until_it_stops() {
    let bus = LoopbackFanOut::new();
    let leases = SharedLeases::new();
    let a = node(
        "a",
        prices(&[1, 2]),
        Some(bus.clone()),
        leases.for_node("a"),
        BroadcasterConfig::default(),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(5), || leases
            .holder(Region::Germany)
            .as_deref()
            == Some("a"))
        .await
    );
    let b = node(
        "b",
        prices(&[7, 8]),
        Some(bus.clone()),
        leases.for_node("b"),
        BroadcasterConfig::default(),
    )
    .await;
    wait_healthy(&a).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        b.source.calls().is_empty(),
        "the standby node does not fetch"
    );
    let b_status = b.tree.prices.status().await.unwrap();
    assert_eq!(b_status[0].state, FetcherState::Standby);

    let mut on_a = a.tree.broadcast.subscribe(germany()).await.unwrap();
    let mut on_b = b.tree.broadcast.subscribe(germany()).await.unwrap();
    refresh(&a).await;
    let ea = tokio::time::timeout(Duration::from_secs(5), on_a.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    let eb = tokio::time::timeout(Duration::from_secs(5), on_b.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ea.id, eb.id);
    assert_eq!(ea.frame, eb.frame);
    // B's cache learned A's prices through the event.
    let now = MORNING.parse().unwrap();
    assert_eq!(
        b.tree
            .latest
            .snapshot()
            .current(Region::Germany, now)
            .unwrap()
            .price,
        Decimal::TWO
    );

    // A stops (releasing its lease); B takes over at its next lease check and fetches.
    a.tree.shutdown(Duration::from_secs(5)).await;
    assert!(wait_until(Duration::from_secs(10), || !b.source.calls().is_empty()).await);
    assert_eq!(leases.holder(Region::Germany).as_deref(), Some("b"));
    let taken = tokio::time::timeout(Duration::from_secs(5), on_b.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        taken.id > eb.id,
        "B's own fetch (new prices) is the next event"
    );
    b.tree.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn with_the_fan_out_down_events_are_delivered_locally_then_through_it_again() {
    let bus = LoopbackFanOut::new();
    let n = node(
        "n",
        prices(&[1, 2, 3]),
        Some(bus.clone()),
        Arc::new(SoleNode),
        BroadcasterConfig::default(),
    )
    .await;
    wait_healthy(&n).await;
    let mut sub = n.tree.broadcast.subscribe(germany()).await.unwrap();
    bus.set_down(true);
    refresh(&n).await;
    let local = tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(!n.tree.broadcast.stats().await.unwrap().fanout_up);
    bus.set_down(false);
    refresh(&n).await;
    let remote = tokio::time::timeout(Duration::from_secs(5), sub.receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(n.tree.broadcast.stats().await.unwrap().fanout_up);
    assert!(local.id > 0 && remote.id > 0);
    n.tree.shutdown(Duration::from_secs(5)).await;
}
