//! The ceiling of SSE fan-out on this machine (not a criterion bench): a minimal tokio server
//! that answers any request with an event stream and writes every subscriber the same bytes
//! Wattline would (a `price` event of one day of hourly prices, framed as SSE, in an HTTP/1.1
//! chunk) once a second, through one `tokio::sync::broadcast` channel. `benches/sse_load.sh`
//! (MODES=ceiling) measures it with the same load generator, so Wattline's CPU per delivered
//! event can be put beside it.
//!
//! With `--hyper` (MODES=hyper) the same frames go through hyper's HTTP/1 connection instead, as
//! the body of a response to any request, with nothing else around them: the floor of any
//! server that streams through hyper, between the ceiling and Wattline.
//!
//! cargo bench --bench sse_ceiling -- --addr 127.0.0.1:18090 [--hyper]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use http_body::Frame;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use wattline_actors::broadcast::PricePayload;
use wattline_actors::broadcast::event::{frame, http_chunk};
use wattline_actors::domain::Region;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    addr: SocketAddr,
    /// Stream through hyper's HTTP/1 connection instead of writing the socket directly.
    #[arg(long)]
    hyper: bool,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// One event as Wattline frames it: a day of japan's hourly prices, stamped now.
fn frame_of(id: u64) -> Bytes {
    let day = jiff::civil::date(2026, 1, 15)
        .checked_add(jiff::Span::new().days(id as i64))
        .unwrap_or(jiff::civil::date(2026, 1, 15));
    let points =
        wattline::providers::simulator::simulate_day(42, Region::Japan, day, Timestamp::now());
    let payload = PricePayload::new(Region::Japan, Timestamp::now(), Timestamp::now(), points);
    frame(
        Some(id),
        "price",
        &serde_json::to_string(&payload).expect("json"),
    )
}

/// What every stream starts with.
fn snapshot() -> Bytes {
    frame(Some(1), "snapshot", "{\"regions\":[]}")
}

async fn subscriber(mut socket: tokio::net::TcpStream, mut events: broadcast::Receiver<Bytes>) {
    let _ = socket.set_nodelay(true);
    let mut head = [0u8; 1024];
    if socket.read(&mut head).await.unwrap_or(0) == 0 {
        return;
    }
    let snapshot = snapshot();
    let mut start =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    start.extend_from_slice(&http_chunk(&snapshot));
    if socket.write_all(&start).await.is_err() {
        return;
    }
    while let Ok(bytes) = events.recv().await {
        if socket.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// A response body of a snapshot, then the broadcast frames, for hyper to frame and write.
struct Frames {
    snapshot: Option<Bytes>,
    events: BroadcastStream<Bytes>,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(snapshot) = self.snapshot.take() {
            return Poll::Ready(Some(Ok(Frame::data(snapshot))));
        }
        match self.events.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(Frame::data(frame)))),
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

async fn hyper_subscriber(socket: tokio::net::TcpStream, sender: Arc<broadcast::Sender<Bytes>>) {
    let _ = socket.set_nodelay(true);
    let service = hyper::service::service_fn(move |_request| {
        let events = BroadcastStream::new(sender.subscribe());
        async move {
            let mut response = hyper::Response::new(Frames {
                snapshot: Some(snapshot()),
                events,
            });
            response.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("text/event-stream"),
            );
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let through_hyper = args.hyper;
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
            let frame = frame_of(id);
            let _ = producer.send(if through_hyper {
                frame
            } else {
                http_chunk(&frame)
            });
            id += 1;
        }
    });
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        if through_hyper {
            tokio::spawn(hyper_subscriber(socket, sender.clone()));
        } else {
            tokio::spawn(subscriber(socket, sender.subscribe()));
        }
    }
}
