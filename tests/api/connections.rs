//! The edge against idle, slow and malformed connections, spoken to over raw TCP: silent,
//! slow-header, idle keep-alive and stalled-body connections end within their limits; declared
//! bodies over the limit are refused before they are sent; hyper's own protocol errors carry
//! the JSON envelope; connection caps refuse the excess and leave `/health` answering.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::TestApp;

const HEADER_TIMEOUT: Duration = Duration::from_millis(400);
const BODY_TIMEOUT: Duration = Duration::from_millis(300);

async fn app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.server.header_read_timeout = HEADER_TIMEOUT;
        s.server.body_read_timeout = BODY_TIMEOUT;
        s.server.max_connections_per_address = 4.try_into().unwrap();
    })
    .await
}

/// Reads until the server closes the connection (or `limit` passes), returning what it sent and
/// when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), None),
        }
    }
}

/// The status and JSON body of one raw HTTP/1.1 response.
fn parse(response: &str) -> (u16, Value) {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {response:?}"));
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response:?}"));
    (status, body)
}

async fn connect_from(source: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(server).await
}

#[tokio::test]
async fn silent_slow_header_and_idle_connections_are_closed() {
    let app = app().await;
    let limit = HEADER_TIMEOUT * 5;

    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, limit).await;
    assert!(closed.is_some(), "a silent connection stayed open");

    // One header byte at a time, each well inside the timeout, never finishing the head.
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
    {
        if slow.write_all(&[*byte]).await.is_err() || started.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::ZERO, slow.read(&mut probe)).await {
            closed = true;
            break;
        }
    }
    assert!(
        closed || started.elapsed() <= limit,
        "a slow header was kept open"
    );

    // A finished request, then nothing: the keep-alive connection ends.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut idle, limit).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        closed.is_some(),
        "an idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let app = app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/ml/predict/price HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"region\":",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    let (status, body) = parse(&response);
    assert_eq!(status, 408, "{response}");
    assert_eq!(body["error"]["code"], "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_sent() {
    let app = app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/ml/predict/price HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(!response.contains("100 Continue"), "{response}");
    let (status, body) = parse(&response);
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn protocol_errors_carry_the_json_envelope() {
    let app = app().await;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(String, u16, &str)> = vec![
        (long_target, 414, "uri_too_long"),
        (many_headers, 431, "headers_too_large"),
        (
            "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".into(),
            400,
            "bad_request",
        ),
        (
            "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".into(),
            400,
            "bad_request",
        ),
        (
            "GET /health HTTP/9.9\r\nHost: x\r\n\r\n".into(),
            400,
            "bad_request",
        ),
    ];
    for (request, expected, code) in cases {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let _ = stream.write_all(request.as_bytes()).await;
        let (response, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
        let (status, body) = parse(&response);
        assert_eq!(status, expected, "{}", &response[..response.len().min(200)]);
        assert_eq!(body["error"]["code"], code);
        assert!(response.contains("content-type: application/json"));
    }
    // The server is unharmed.
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_and_health_still_answers() {
    let app = app().await;
    // Four silent connections from 127.0.0.2 fill its cap (the header timeout would end them,
    // so the test acts within it).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from("127.0.0.2", app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut excess = connect_from("127.0.0.2", app.addr).await.unwrap();
    let (response, closed) = read_until_closed(&mut excess, Duration::from_millis(300)).await;
    assert!(closed.is_some(), "the excess connection was kept");
    let (status, body) = parse(&response);
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "too_many_connections");
    let started = Instant::now();
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < HEADER_TIMEOUT);
    drop(held);
}

#[tokio::test]
async fn random_methods_and_paths_add_no_metric_series() {
    let app = app().await;
    let series = || async {
        let text = app.metrics().await;
        text.lines()
            .filter(|l| l.starts_with("wattline_http_requests_total{"))
            .filter(|l| !l.contains("route=\"/metrics\""))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    // One of each kind first, so the series exist.
    let _ = app
        .client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            app.url("/x0"),
        )
        .send()
        .await;
    let before = series().await;
    for i in 0..50 {
        let method = format!("M{i}X");
        let _ = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&format!("/random/{i}/path")),
            )
            .send()
            .await;
    }
    let after = series().await;
    // Other tests share this process's recorder, so look for what these requests could add.
    let leaked: Vec<_> = after
        .iter()
        .filter(|l| l.contains("/random/") || l.contains("method=\"M"))
        .collect();
    assert!(leaked.is_empty(), "client-made label values: {leaked:?}");
    let other: Vec<_> = after
        .iter()
        .filter(|l| l.contains("method=\"other\"") && l.contains("route=\"unmatched\""))
        .collect();
    assert!(other.len() <= before.len().max(1) + 1, "{other:?}");
    assert!(
        !other.is_empty(),
        "the random requests were not counted: {after:?}"
    );
}

#[tokio::test]
async fn a_full_node_refuses_requests_but_keeps_answering_health_probes() {
    let app = TestApp::spawn_with(|s| {
        s.server.header_read_timeout = Duration::from_secs(5);
        s.server.max_connections = 3.try_into().unwrap();
        s.server.max_connections_per_address = 3.try_into().unwrap();
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut refused = connect_from("127.0.0.3", app.addr).await.unwrap();
    refused
        .write_all(b"GET /api/v1/prices/current?region=uk HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut refused, Duration::from_secs(2)).await;
    let (status, body) = parse(&response);
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "too_many_connections");
    for _ in 0..5 {
        let started = Instant::now();
        let response = reqwest::Client::new()
            .get(app.url("/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    drop(held);
}
