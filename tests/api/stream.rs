//! The live price stream over HTTP: snapshot, price events with increasing ids, resume with
//! Last-Event-ID (replay or reset), heartbeats, throttling, limits, bad input, slow and vanishing
//! clients, and the final event on shutdown.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{API_KEY, NOW, TestApp, assert_error, dec};

const WAIT: Duration = Duration::from_secs(10);

/// Moves the clock `days` ahead and refreshes `region`: the simulator publishes new days, so the
/// refresh lands new prices and produces one price event. Waits until the writer has committed
/// them, so the next call's prices form a batch (and an event) of their own.
async fn new_day(app: &TestApp, days: i64, region: &str) {
    let now = NOW.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(24 * days);
    app.clock.set(now);
    let (status, body) = app
        .post_json(
            &format!("/api/v1/prices/refresh?region={region}"),
            Some(API_KEY),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..500 {
        let (_, current) = app
            .get_json(&format!("/api/v1/prices/current?region={region}"))
            .await;
        if current["price"]["fetched_at"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
            == Some(now)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the refreshed prices of {region} never reached the cache");
}

async fn subscribers(app: &TestApp) -> u64 {
    let response = app
        .client
        .get(app.url("/api/v1/admin/actors"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["stream"]["subscribers"].as_u64().unwrap()
}

async fn wait_for_subscribers(app: &TestApp, expected: u64) {
    for _ in 0..500 {
        if subscribers(app).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "subscribers never became {expected} (now {})",
        subscribers(app).await
    );
}

#[tokio::test]
async fn a_stream_starts_with_a_snapshot_then_carries_price_events() {
    let app = TestApp::spawn().await;
    let mut stream = app.stream("region=germany,france", None).await;
    let retry = stream.next(WAIT).await.unwrap();
    assert_eq!(
        (retry.event.as_str(), retry.data.as_str()),
        ("retry", "3000")
    );
    let snapshot = stream.next_event(WAIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let snapshot_id: u64 = snapshot
        .id
        .clone()
        .expect("snapshot carries the newest id")
        .parse()
        .unwrap();
    let data = snapshot.json();
    let regions = data["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2);
    assert_eq!(regions[0]["region"], "germany");
    assert_eq!(regions[0]["current"]["source"], "simulated");
    // The older stream's keys, for the first region's current price.
    assert_eq!(data["region"], "germany");
    assert_eq!(data["timestamp"], regions[0]["current"]["start"]);
    assert_eq!(data["is_peak"], false, "12:30 in Berlin");
    assert_eq!(data["currency"], "EUR");
    assert!(data["price_per_kwh"].is_string());
    // From 12:30 today to the end of tomorrow: 42 + 96 quarter-hours.
    assert_eq!(regions[0]["prices"].as_array().unwrap().len(), 138);

    new_day(&app, 1, "germany").await;
    let event = stream.next_event(WAIT).await.unwrap();
    assert_eq!(event.event, "price");
    let id: u64 = event.id.clone().unwrap().parse().unwrap();
    assert!(id > snapshot_id);
    let payload = event.json();
    assert_eq!(payload["region"], "germany");
    assert_eq!(
        payload["points"].as_array().unwrap().len(),
        96,
        "the newly published 17th"
    );
    assert_eq!(payload["points"][0]["start"], "2026-01-16T23:00:00Z");
    // The older stream's keys, describing the first point (midnight in Berlin: not peak).
    assert_eq!(payload["timestamp"], "2026-01-16T23:00:00Z");
    assert_eq!(payload["currency"], "EUR");
    assert_eq!(payload["is_peak"], false);
    let per_mwh = dec(&payload["points"][0]["price"]);
    assert_eq!(
        dec(&payload["price_per_kwh"]) * rust_decimal::Decimal::from(1000),
        per_mwh
    );

    new_day(&app, 2, "france").await;
    let next = stream.next_event(WAIT).await.unwrap();
    assert_eq!(next.json()["region"], "france");
    assert!(
        next.id.unwrap().parse::<u64>().unwrap() > id,
        "ids increase across regions"
    );
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_exactly_what_was_missed() {
    let app = TestApp::spawn().await;
    let mut first = app.stream("region=germany", None).await;
    let snapshot = first.next_event(WAIT).await.unwrap();
    drop(first);
    new_day(&app, 1, "germany").await;
    new_day(&app, 2, "germany").await;
    new_day(&app, 3, "uk").await; // another region: not replayed to a germany stream

    let mut resumed = app.stream("region=germany", snapshot.id.as_deref()).await;
    let a = resumed.next_event(WAIT).await.unwrap();
    let b = resumed.next_event(WAIT).await.unwrap();
    assert_eq!((a.event.as_str(), b.event.as_str()), ("price", "price"));
    assert!(
        a.id.as_ref().unwrap().parse::<u64>().unwrap()
            < b.id.as_ref().unwrap().parse::<u64>().unwrap()
    );
    assert_eq!(a.json()["points"][0]["start"], "2026-01-16T23:00:00Z");
    assert_eq!(b.json()["points"][0]["start"], "2026-01-17T23:00:00Z");
    new_day(&app, 4, "germany").await;
    let live = resumed.next_event(WAIT).await.unwrap();
    assert_eq!(
        live.json()["points"][0]["start"],
        "2026-01-18T23:00:00Z",
        "no duplicate, no gap"
    );

    // From the first missed event on: only the second is replayed.
    let mut again = app.stream("region=germany", a.id.as_deref()).await;
    let replayed = again.next_event(WAIT).await.unwrap();
    assert_eq!(replayed.id, b.id);
}

#[tokio::test]
async fn an_unknown_or_evicted_id_gets_reset_and_a_fresh_snapshot() {
    let app =
        TestApp::spawn_with(|s| s.stream.replay_per_region = std::num::NonZeroUsize::MIN).await;
    let mut first = app.stream("region=germany", None).await;
    let snapshot = first.next_event(WAIT).await.unwrap();
    drop(first);
    new_day(&app, 1, "germany").await;
    new_day(&app, 2, "germany").await;
    let mut evicted = app.stream("region=germany", snapshot.id.as_deref()).await;
    assert_eq!(evicted.next_event(WAIT).await.unwrap().event, "reset");
    let fresh = evicted.next_event(WAIT).await.unwrap();
    assert_eq!(fresh.event, "snapshot");
    assert!(fresh.id.unwrap() > snapshot.id.unwrap());
    let mut future = app
        .stream("region=germany", Some("99999999999999999"))
        .await;
    assert_eq!(future.next_event(WAIT).await.unwrap().event, "reset");
}

#[tokio::test]
async fn bad_stream_requests_are_refused_before_the_stream_starts() {
    let app = TestApp::spawn().await;
    let cases = [
        ("region=atlantis", "unknown_region"),
        ("region=UK", "unknown_region"),
        ("region=germany,", "unknown_region"),
        ("interval=10", "invalid_query"),
        ("region=germany&interval=0", "invalid_parameter"),
        ("region=germany&interval=9", "invalid_parameter"),
        ("region=germany&interval=301", "invalid_parameter"),
        ("region=germany&interval=abc", "invalid_query"),
        ("region=germany&colour=red", "invalid_query"),
    ];
    for (query, code) in cases {
        let (status, body) = app
            .get_json(&format!("/api/v1/prices/stream?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_error(&body, code);
    }
    let fifteen = vec!["uk"; 15].join(",");
    let (status, body) = app
        .get_json(&format!("/api/v1/prices/stream?region={fifteen}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&body, "invalid_parameter").contains("at most 14"));
    for bad_id in ["abc", "-1", "1.5", "18446744073709551616"] {
        let response = app
            .client
            .get(app.url("/api/v1/prices/stream?region=uk"))
            .header("last-event-id", bad_id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad_id}");
        assert_error(&response.json().await.unwrap(), "invalid_last_event_id");
    }
    // Duplicates are folded, not refused.
    let mut dup = app.stream("region=uk,uk", None).await;
    assert_eq!(
        dup.next_event(WAIT).await.unwrap().json()["regions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        subscribers(&app).await,
        1,
        "refused requests hold no subscription"
    );
}

#[tokio::test]
async fn idle_streams_get_heartbeats() {
    let app = TestApp::spawn_with(|s| s.stream.heartbeat = Duration::from_secs(1)).await;
    let mut stream = app.stream("region=japan", None).await;
    stream.next_event(WAIT).await.unwrap();
    let beat = stream.next(Duration::from_secs(3)).await.unwrap();
    assert_eq!(
        (beat.event.as_str(), beat.data.as_str()),
        (":", "heartbeat")
    );
}

#[tokio::test]
async fn streams_that_carry_events_get_no_heartbeats_until_they_fall_silent() {
    let period = Duration::from_secs(6);
    let app = TestApp::spawn_with(|s| s.stream.heartbeat = period).await;
    let mut stream = app.stream("region=germany", None).await;
    stream.next_event(WAIT).await.unwrap();
    // Events every fraction of a second across more than one heartbeat period: every frame
    // written is an event, never a comment.
    let started = std::time::Instant::now();
    let mut day = 0;
    while started.elapsed() < period + Duration::from_secs(1) {
        day += 1;
        new_day(&app, day, "germany").await;
        let frame = stream.next(WAIT).await.unwrap();
        assert_eq!(frame.event, "price", "a stream with events got {frame:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Silent from here: the comment comes within one period.
    let silent = std::time::Instant::now();
    let beat = stream.next(period * 2).await.unwrap();
    assert_eq!(
        (beat.event.as_str(), beat.data.as_str()),
        (":", "heartbeat")
    );
    assert!(
        silent.elapsed() <= period + Duration::from_secs(2),
        "silent for {:?}",
        silent.elapsed()
    );
}

#[tokio::test]
async fn interval_holds_events_back_and_sends_them_together() {
    let app = TestApp::spawn().await;
    // 10 s is the shortest interval the API takes.
    let mut stream = app.stream("region=germany,france&interval=10", None).await;
    stream.next_event(WAIT).await.unwrap();
    let started = std::time::Instant::now();
    new_day(&app, 1, "germany").await;
    let first = stream.next_event(WAIT).await.unwrap();
    new_day(&app, 2, "france").await;
    let second = stream.next_event(WAIT * 2).await.unwrap();
    assert_eq!(
        (first.event.as_str(), second.event.as_str()),
        ("price", "price")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(9000),
        "the second waited for the interval"
    );
}

#[tokio::test]
async fn streams_are_limited_per_address_and_per_server() {
    let app = TestApp::spawn_with(|s| {
        s.stream.max_per_address = 2;
        s.stream.max_subscribers = 3;
    })
    .await;
    let _a = app.stream("region=uk", None).await;
    let _b = app.stream("region=uk", None).await;
    let (status, body) = app.get_json("/api/v1/prices/stream?region=uk").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(&body, "too_many_streams");
    drop(_a);
    wait_for_subscribers(&app, 1).await;
    let _c = app.stream("region=uk", None).await;

    let app = TestApp::spawn_with(|s| s.stream.max_subscribers = 1).await;
    let _only = app.stream("region=uk", None).await;
    let (status, body) = app.get_json("/api/v1/prices/stream?region=uk").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "too_many_subscribers");
}

#[tokio::test]
async fn clients_that_leave_mid_stream_free_their_slot() {
    let app = TestApp::spawn().await;
    let mut stream = app.stream("region=uk", None).await;
    stream.next_event(WAIT).await.unwrap();
    assert_eq!(subscribers(&app).await, 1);
    drop(stream);
    // A raw client that sends half a request line and hangs up.
    let mut raw = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    raw.write_all(b"GET /api/v1/prices/stream?region=uk HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(raw);
    wait_for_subscribers(&app, 0).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_without_slowing_the_others() {
    let app = TestApp::spawn_with(|s| s.stream.write_timeout = Duration::from_secs(1)).await;
    let mut reader = app.stream("region=germany", None).await;
    reader.next_event(WAIT).await.unwrap();
    // A tiny receive window so the server's writes stall quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut stalled = socket.connect(app.addr).await.unwrap();
    stalled
        .write_all(b"GET /api/v1/prices/stream?region=germany HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for_subscribers(&app, 2).await;
    let mut day = 1;
    while subscribers(&app).await > 1 {
        assert!(day < 200, "the stalled client was never cut off");
        new_day(&app, day, "germany").await;
        // Each new day also recalibrates the forecaster, whose update may come first.
        loop {
            let event = reader
                .next_event(WAIT)
                .await
                .expect("the reading client keeps receiving");
            assert!(
                ["price", "forecast"].contains(&event.event.as_str()),
                "{}",
                event.event
            );
            if event.event == "price" {
                break;
            }
        }
        day += 1;
    }
    drop(stalled);
}

#[tokio::test]
async fn shutdown_ends_streams_with_a_final_event() {
    let app = TestApp::spawn().await;
    let mut stream = app.stream("region=uk", None).await;
    stream.next_event(WAIT).await.unwrap();
    let stopping = tokio::spawn(app.stop());
    let last = stream.next_event(WAIT).await.unwrap();
    assert_eq!(last.event, "shutdown");
    assert!(stream.next_event(WAIT).await.is_none(), "the stream ends");
    stopping.await.unwrap().unwrap();
}

/// Reads `raw` until `text` has arrived; returns everything read.
async fn read_until(raw: &mut tokio::net::TcpStream, text: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(text) {
        let n = tokio::time::timeout(WAIT, raw.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(
            n > 0,
            "closed before {text:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// An HTTP/1.1 chunked body decoded, and whether it ended with the last (empty) chunk.
fn dechunk(mut wire: &str) -> (String, bool) {
    let mut body = String::new();
    while let Some((size, rest)) = wire.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).expect("a chunk size line");
        if size == 0 {
            return (body, rest == "\r\n");
        }
        body.push_str(&rest[..size]);
        assert_eq!(&rest[size..size + 2], "\r\n", "a chunk ends with CRLF");
        wire = &rest[size + 2..];
    }
    (body, false)
}

/// Sends `request` (a stream request) on `raw`, stops the server once the stream is under way
/// and reads until the server closes: the response head and its body as sent.
async fn stream_until_shutdown(
    app: TestApp,
    mut raw: tokio::net::TcpStream,
    request: &[u8],
) -> (String, String) {
    raw.write_all(request).await.unwrap();
    let mut wire = read_until(&mut raw, "event: snapshot").await;
    wait_for_subscribers(&app, 1).await;
    let stopping = tokio::spawn(app.stop());
    let mut rest = String::new();
    tokio::time::timeout(WAIT, raw.read_to_string(&mut rest))
        .await
        .expect("the server closes the stream")
        .unwrap();
    wire.push_str(&rest);
    stopping.await.unwrap().unwrap();
    let (head, body) = wire.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn a_stream_after_a_request_on_the_same_connection_is_chunked_and_properly_ended() {
    let app = TestApp::spawn().await;
    let mut raw = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    raw.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let health = read_until(&mut raw, "}").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let request = b"GET /api/v1/prices/stream?region=uk HTTP/1.1\r\nHost: x\r\n\r\n";
    let (head, chunks) = stream_until_shutdown(app, raw, request).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let (body, ended) = dechunk(&chunks);
    assert!(ended, "the body ends with the last chunk: {chunks:?}");
    assert!(body.starts_with("retry: "), "{body}");
    let snapshot = body.find("event: snapshot").unwrap();
    let shutdown = body.find("event: shutdown").expect("the final event");
    assert!(snapshot < shutdown);
}

#[tokio::test]
async fn an_http_1_0_stream_is_not_chunked_and_ends_when_the_server_closes() {
    let app = TestApp::spawn().await;
    let raw = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = b"GET /api/v1/prices/stream?region=uk HTTP/1.0\r\n\r\n";
    let (head, body) = stream_until_shutdown(app, raw, request).await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(!head.contains("chunked"), "{head}");
    assert!(body.starts_with("retry: "), "{body}");
    assert!(
        body.trim_end()
            .ends_with(r#"data: {"reason":"server shutting down"}"#),
        "{body}"
    );
}

#[tokio::test]
async fn after_a_broadcaster_panic_streams_get_reset_and_a_snapshot_then_live_prices() {
    let app = TestApp::spawn().await;
    let mut stream = app.stream("region=germany", None).await;
    let snapshot = stream.next_event(WAIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    new_day(&app, 1, "germany").await;
    let before = stream.next_event(WAIT).await.unwrap();
    assert_eq!(before.event, "price");

    app.broadcast.crash();
    let reset = stream.next_event(WAIT).await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:?}");
    let fresh = stream.next_event(WAIT).await.unwrap();
    assert_eq!(fresh.event, "snapshot");
    assert_eq!(fresh.json()["regions"][0]["region"], "germany");
    new_day(&app, 2, "germany").await;
    let after = stream.next_event(WAIT).await.unwrap();
    assert_eq!(after.event, "price");
    assert!(
        after.id.unwrap().parse::<u64>().unwrap() > before.id.unwrap().parse::<u64>().unwrap(),
        "ids keep increasing across the restart"
    );
    // The restart is on record, the subscriber is counted once, the fetchers never noticed.
    let response = app
        .client
        .get(app.url("/api/v1/admin/actors"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    let actor = |name: &str| {
        body["actors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .clone()
    };
    assert_eq!(actor("broadcaster")["restarts"], 1);
    assert_eq!(actor("broadcaster")["state"], "running");
    assert_eq!(actor("fetcher:germany")["restarts"], 0);
    assert_eq!(body["stream"]["subscribers"], 1);
    let metrics = app.metrics().await;
    // Other tests' engines share this process's metrics: at least this restart is counted.
    let restarts: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wattline_actor_restarts_total{actor=\"broadcaster\"} "))
        .expect("the restart counter")
        .parse()
        .unwrap();
    assert!(restarts >= 1.0, "{metrics}");
}

#[tokio::test]
async fn the_admin_view_lists_the_actor_tree_and_regions() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/api/v1/admin/actors").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "missing_api_key");
    let response = app
        .client
        .get(app.url("/api/v1/admin/actors"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let names: Vec<&str> = body["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for expected in [
        "root",
        "prices",
        "writer",
        "broadcaster",
        "fetcher:germany",
        "fetcher:japan",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let germany = body["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "fetcher:germany")
        .unwrap();
    assert_eq!(germany["state"], "healthy");
    assert_eq!(germany["restarts"], 0);
    assert!(germany["messages_handled"].as_u64().unwrap() >= 2);
    let region = &body["regions"][1];
    assert_eq!(region["region"], "germany");
    assert_eq!(region["source"], "simulated");
    assert_eq!(region["health"], "healthy");
    assert_eq!(region["leader"], true);
    assert_eq!(region["newest_price_age_seconds"], 0);
    assert_eq!(body["stream"]["fanout"], false);
    let metrics = app.metrics().await;
    for needle in [
        "wattline_sse_subscribers",
        "wattline_fanout_up",
        "wattline_sse_events_published_total",
    ] {
        assert!(metrics.contains(needle), "missing {needle}");
    }
}
