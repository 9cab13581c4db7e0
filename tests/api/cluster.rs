//! Several nodes against one PostgreSQL (a shared SQLite file without TEST_DATABASE_URL) and one
//! Redis: one node fetches each region, every node delivers every event with the same id, another
//! node takes over when the leader stops, and Redis going away falls back to local delivery.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wattline::Settings;
use wattline::config::human::Word;
use wattline::storage::{Storage, StorageOptions};

use crate::helpers::{API_KEY, NOW, TestApp, eventually, test_settings};

const WAIT: Duration = Duration::from_secs(10);

/// The test Redis, or `None` to skip (a failure when CI is set).
pub(crate) fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_REDIS_URL is not: Redis tests cannot run"
            );
            eprintln!("TEST_REDIS_URL not set; skipping");
            None
        }
    }
}

/// A database URL several nodes can share: a fresh PostgreSQL schema, or a SQLite file in `dir`.
pub(crate) async fn shared_database(dir: &Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("wattline_cluster_{}", uuid::Uuid::new_v4().simple());
            let options = StorageOptions {
                max_connections: 1,
                acquire_timeout: Duration::from_secs(10),
            };
            Storage::open_postgres(&url, &options, Some(&schema))
                .await
                .expect("test PostgreSQL")
                .close()
                .await;
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}options=-c%20search_path%3D{schema}")
        }
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_DATABASE_URL is not"
            );
            format!("sqlite://{}/shared.sqlite3", dir.display())
        }
    }
}

pub(crate) fn node_settings(
    dir: &Path,
    database: &str,
    redis: &str,
    prefix: &str,
    node: &str,
) -> Settings {
    let mut settings = test_settings(dir);
    settings.storage.database_url = database.to_string();
    settings.cluster.redis_url = Some(redis.to_string());
    settings.cluster.key_prefix = Word::new(prefix).unwrap();
    settings.cluster.node_id = Word::new(node).unwrap();
    settings.cluster.lease_ttl = Duration::from_secs(1);
    // Clustered nodes share the signing key, so each accepts the others' tokens.
    settings.security.jwt_secret = Some(wattline::config::Secret::new(
        "test-cluster-signing-key-of-32-bytes-or-more",
    ));
    settings
}

async fn admin(app: &TestApp) -> Value {
    app.operator_get("/api/v1/admin/actors").await
}

fn all_regions(view: &Value, field: &str, expected: &Value) -> bool {
    view["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| &r[field] == expected)
}

/// The next price event whose first point starts at `start` (earlier events, such as the
/// start-up fetch still arriving through Redis, are skipped).
async fn price_starting(
    stream: &mut crate::helpers::SseClient,
    start: &str,
    wait: Duration,
) -> Option<crate::helpers::SseEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(left, stream.next_event(WAIT))
            .await
            .ok()??;
        if event.event == "price" && event.json()["points"][0]["start"] == start {
            return Some(event);
        }
    }
}

/// Publishes a new day of germany prices on `node` (clock `days` ahead, then a refresh).
async fn new_day(node: &TestApp, days: i64) {
    node.clock
        .set(NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(24 * days));
    let (status, body) = node
        .post_json("/api/v1/prices/refresh?region=germany", Some(API_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn two_nodes_fetch_each_region_once_deliver_every_event_and_take_over() {
    let Some(redis) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = shared_database(dir.path()).await;
    let prefix = format!("wattline_test_{}", uuid::Uuid::new_v4().simple());
    let now: Timestamp = NOW.parse().unwrap();
    let a = TestApp::start(
        node_settings(dir.path(), &database, &redis, &prefix, "node-a"),
        now,
    )
    .await;
    let b = TestApp::start(
        node_settings(dir.path(), &database, &redis, &prefix, "node-b"),
        now,
    )
    .await;

    let (view_a, view_b) = (admin(&a).await, admin(&b).await);
    assert!(
        all_regions(&view_a, "leader", &Value::Bool(true)),
        "{view_a}"
    );
    assert!(
        all_regions(&view_b, "leader", &Value::Bool(false)),
        "{view_b}"
    );
    assert!(
        all_regions(&view_b, "source", &Value::Null),
        "node B fetched nothing: {view_b}"
    );
    assert_eq!(
        view_b["actors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "fetcher:germany")
            .unwrap()["state"],
        "standby"
    );
    assert_eq!(view_a["stream"]["fanout"], true);
    // B serves the prices A fetched (from the shared database and the fan-out).
    let (status, _) = b.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::OK);

    let mut on_a = a.stream("region=germany", None).await;
    let mut on_b = b.stream("region=germany", None).await;
    on_a.next_event(WAIT).await.unwrap();
    on_b.next_event(WAIT).await.unwrap();
    new_day(&a, 1).await;
    let ea = price_starting(&mut on_a, "2026-01-16T23:00:00Z", WAIT)
        .await
        .unwrap();
    let eb = price_starting(&mut on_b, "2026-01-16T23:00:00Z", WAIT)
        .await
        .unwrap();
    assert_eq!(ea.id, eb.id, "the same event id on both nodes");
    assert_eq!(ea.data, eb.data);
    // B's cache learned the new day through the event.
    b.clock
        .set(NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(36));
    let (status, current) = b.get_json("/api/v1/prices/current?region=germany").await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["price"]["start"], "2026-01-17T00:30:00Z");

    // Accounts: a token from A works on B; signed out on A, it is refused on B too (the
    // revocation is in Redis). Both engine clocks read the same time.
    a.clock
        .set(NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(36));
    let (status, tokens) = a
        .post_body(
            "/api/v1/auth/signup",
            &serde_json::json!({ "email": format!("{prefix}@example.com"), "password": "ValidPassword123!" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let me = |node: &TestApp| {
        node.client
            .get(node.url("/api/v1/auth/me"))
            .header("authorization", bearer.clone())
            .send()
    };
    assert_eq!(me(&b).await.unwrap().status(), StatusCode::OK);
    let signed_out = a
        .client
        .post(a.url("/api/v1/auth/signout"))
        .header("authorization", bearer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert_eq!(me(&b).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // The leader stops: B takes every region over and fetches it itself.
    a.stop().await.unwrap();
    eventually("node B leads every region", async || {
        all_regions(&admin(&b).await, "leader", &Value::Bool(true))
    })
    .await;
    eventually("node B fetched every region", async || {
        admin(&b).await["regions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"] == "simulated")
    })
    .await;
    b.stop().await.unwrap();
}

/// A TCP proxy in front of Redis that the test can cut and restore.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, watcher) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut state = watcher.clone();
                if !*state.borrow() {
                    continue; // refused: dropped at once
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up }
    }

    fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

/// A node on its own SQLite file whose Redis connection goes through a proxy the test can cut.
async fn behind_proxy(redis: &str, node: &str) -> (Proxy, tempfile::TempDir, Settings) {
    let target: SocketAddr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("host:port");
    let proxy = Proxy::start(target).await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("wattline_test_{}", uuid::Uuid::new_v4().simple());
    let database = format!("sqlite://{}/node.sqlite3", dir.path().display());
    let settings = node_settings(
        dir.path(),
        &database,
        &format!("redis://{}", proxy.addr),
        &prefix,
        node,
    );
    (proxy, dir, settings)
}

#[tokio::test]
async fn redis_going_away_mid_stream_falls_back_to_local_delivery_and_recovers() {
    let Some(redis) = redis_url() else { return };
    let (proxy, _dir, settings) = behind_proxy(&redis, "node-x").await;
    let node = TestApp::start(settings, NOW.parse().unwrap()).await;
    let mut stream = node.stream("region=germany", None).await;
    stream.next_event(WAIT).await.unwrap();

    proxy.set_up(false);
    eventually("readiness sees Redis gone", async || {
        let (_, ready) = node.get_json("/health/ready").await;
        ready["checks"]["redis"]["ok"] == false
    })
    .await;
    let (status, _) = node.get_json("/health/ready").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "Redis down degrades, it does not make the node unready"
    );
    new_day(&node, 1).await;
    let local = price_starting(&mut stream, "2026-01-16T23:00:00Z", WAIT)
        .await
        .expect("delivered locally while Redis is away");
    assert_eq!(admin(&node).await["stream"]["fanout_up"], false);
    let metrics = node.metrics().await;
    assert!(metrics.contains("wattline_fanout_fallback_total"));
    // The gauge is process-wide and other nodes of this test binary set it too, so only its
    // presence is checked here; this node's own value is the admin view's `fanout_up` above.
    assert!(metrics.contains("wattline_fanout_up "));

    proxy.set_up(true);
    eventually("Redis reconnected", async || {
        let (_, ready) = node.get_json("/health/ready").await;
        ready["checks"]["redis"]["ok"] == true
    })
    .await;
    // Until the subscriber has re-subscribed, an event published through Redis may miss this
    // node; publish new days until one arrives through the fan-out again.
    let mut day = 2;
    loop {
        new_day(&node, day).await;
        let start = (jiff::civil::date(2026, 1, 16) + SignedDuration::from_hours(24 * day))
            .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
            .unwrap()
            .timestamp()
            .to_string();
        if let Some(event) = price_starting(&mut stream, &start, Duration::from_secs(2)).await {
            assert!(
                event.id.unwrap().parse::<u64>().unwrap()
                    > local.id.as_ref().unwrap().parse::<u64>().unwrap()
            );
            if admin(&node).await["stream"]["fanout_up"] == true {
                break;
            }
        }
        day += 1;
        assert!(day < 20, "the fan-out never recovered");
    }
}

#[tokio::test]
async fn a_lease_whose_holder_vanishes_lapses_and_is_taken_over() {
    use wattline::cache::{Keys, RedisLease, connect};
    use wattline_actors::domain::Region;
    use wattline_actors::ports::RegionLease;
    let Some(redis) = redis_url() else { return };
    let keys = Keys::new(&format!("wattline_test_{}", uuid::Uuid::new_v4().simple()));
    let ttl = Duration::from_millis(600);
    let a = RedisLease::new(
        connect(&redis).await.unwrap(),
        keys.clone(),
        "a".into(),
        ttl,
    );
    let b = RedisLease::new(connect(&redis).await.unwrap(), keys, "b".into(), ttl);
    assert!(a.hold(Region::Uk).await.unwrap());
    assert!(a.hold(Region::Uk).await.unwrap(), "renewal by the holder");
    assert!(!b.hold(Region::Uk).await.unwrap());
    assert!(
        b.hold(Region::Japan).await.unwrap(),
        "leases are per region"
    );
    b.release(Region::Uk).await; // not the holder: no effect
    assert!(!b.hold(Region::Uk).await.unwrap());
    // A stops renewing (as if killed): after the lifetime, B takes over.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(b.hold(Region::Uk).await.unwrap());
    assert!(!a.hold(Region::Uk).await.unwrap());
    assert_eq!(a.renew_every(), ttl / 3);
}

#[tokio::test]
async fn shutdown_with_redis_unreachable_releases_leases_at_once() {
    let Some(redis) = redis_url() else { return };
    let (proxy, _dir, mut settings) = behind_proxy(&redis, "node-s").await;
    settings.cluster.lease_ttl = Duration::from_secs(30);
    let node = TestApp::start(settings, NOW.parse().unwrap()).await;
    eventually("the node leads all 14 regions", async || {
        let view = admin(&node).await;
        view["regions"].as_array().unwrap().len() == 14
            && all_regions(&view, "leader", &Value::Bool(true))
    })
    .await;
    proxy.set_up(false);
    let started = std::time::Instant::now();
    node.stop().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "shutdown took {took:?} with Redis unreachable"
    );
}

#[tokio::test]
async fn nodes_sharing_redis_share_each_clients_rate_budget() {
    let Some(redis) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = shared_database(dir.path()).await;
    let prefix = format!("wattline_test_{}", uuid::Uuid::new_v4().simple());
    let node = |name: &str| {
        let mut settings = node_settings(dir.path(), &database, &redis, &prefix, name);
        settings.rate_limit.enabled = true;
        settings.rate_limit.per_minute = 4.try_into().unwrap();
        settings
    };
    let now: Timestamp = NOW.parse().unwrap();
    let a = TestApp::start(node("node-a"), now).await;
    let b = TestApp::start(node("node-b"), now).await;
    let get = |app: &TestApp| {
        app.client
            .get(app.url("/api/v1/prices/current?region=germany"))
            .send()
    };
    for app in [&a, &b, &a, &b] {
        assert_eq!(get(app).await.unwrap().status(), StatusCode::OK);
    }
    let refused = get(&a).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        get(&b).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
