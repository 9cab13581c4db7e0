//! The ceiling of SSE fan-out on this machine (not a criterion bench): a minimal tokio server
//! that answers any request with an event stream and writes every subscriber the same bytes
//! Wattline would (a `price` event of one day of hourly prices, framed as SSE, in an HTTP/1.1
//! chunk) once a second, through one `tokio::sync::broadcast` channel. `benches/sse_load.sh`
//! (MODES=ceiling) measures it with the same load generator, so Wattline's CPU per delivered
//! event can be put beside it.
//!
//! cargo bench --bench sse_ceiling -- --addr 127.0.0.1:18090

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use wattline_actors::broadcast::PricePayload;
use wattline_actors::broadcast::event::frame;
use wattline_actors::domain::Region;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    addr: SocketAddr,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// One event as Wattline frames it: a day of japan's hourly prices, stamped now.
fn event(id: u64) -> Bytes {
    let day = jiff::civil::date(2026, 1, 15)
        .checked_add(jiff::Span::new().days(id as i64))
        .unwrap_or(jiff::civil::date(2026, 1, 15));
    let points =
        wattline::providers::simulator::simulate_day(42, Region::Japan, day, Timestamp::now());
    let payload = PricePayload::new(Region::Japan, Timestamp::now(), Timestamp::now(), points);
    let frame = frame(
        Some(id),
        "price",
        &serde_json::to_string(&payload).expect("json"),
    );
    // An HTTP/1.1 chunk, as hyper writes a streamed body.
    let mut chunk = format!("{:x}\r\n", frame.len()).into_bytes();
    chunk.extend_from_slice(&frame);
    chunk.extend_from_slice(b"\r\n");
    Bytes::from(chunk)
}

async fn subscriber(mut socket: tokio::net::TcpStream, mut events: broadcast::Receiver<Bytes>) {
    let _ = socket.set_nodelay(true);
    let mut head = [0u8; 1024];
    if socket.read(&mut head).await.unwrap_or(0) == 0 {
        return;
    }
    let snapshot = frame(Some(1), "snapshot", "{\"regions\":[]}");
    let mut start =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    start.extend_from_slice(format!("{:x}\r\n", snapshot.len()).as_bytes());
    start.extend_from_slice(&snapshot);
    start.extend_from_slice(b"\r\n");
    if socket.write_all(&start).await.is_err() {
        return;
    }
    while let Ok(bytes) = events.recv().await {
        if socket.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .expect("bind");
    let (tx, _) = broadcast::channel::<Bytes>(1024);
    let sender = Arc::new(tx);
    let producer = sender.clone();
    tokio::spawn(async move {
        let mut id = 2;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let _ = producer.send(event(id));
            id += 1;
        }
    });
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(subscriber(socket, sender.subscribe()));
    }
}
