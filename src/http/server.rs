//! The accept loop: admits connections under a node-wide and a per-address cap, serves each with
//! hyper's HTTP/1 connection (header read timeout on the engine's timer), writes SSE streams
//! itself once hyper has sent their head ([`handoff`]) and shuts down gracefully. axum's `serve`
//! has no timeouts and no connection caps, so it is replaced here; the router is the same.
//!
//! The counts belong to the accept loop alone: connection tasks report their end through a
//! channel the loop drains before each admission, so nothing is shared behind a lock.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use super::handoff::{self, HandoffPoint};
use super::listener::{ClientAddr, WatchdogListener};
use super::sse::Subscriber;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections of the node.
    pub max_connections: usize,
    /// Open connections per client address.
    pub max_per_address: usize,
    /// Time to send a request head (and the keep-alive idle limit).
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    /// Descriptors kept free for the storage pool, log files, the operator's `/health` and the
    /// other files a node opens, so that accepting never runs out of them.
    pub const RESERVED_DESCRIPTORS: usize = 64;

    /// The configured node-wide cap, lowered to the process's descriptor limit minus the
    /// reserve (and the storage pool) when that is smaller.
    pub fn capped(mut self, storage_connections: usize) -> Self {
        if let Some(limit) = descriptor_limit() {
            let usable = limit.saturating_sub(Self::RESERVED_DESCRIPTORS + storage_connections);
            if usable < self.max_connections {
                tracing::info!(
                    configured = self.max_connections,
                    usable,
                    descriptor_limit = limit,
                    "server.max_connections lowered to fit the open-file limit."
                );
                self.max_connections = usable.max(1);
            }
        }
        self.max_per_address = self.max_per_address.min(self.max_connections);
        self
    }
}

/// The soft open-file limit of this process (Linux: `/proc/self/limits`).
fn descriptor_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NodeFull,
    AddressFull,
}

impl Refusal {
    /// A complete response written in one non-blocking call: the refused client learns why, and
    /// refusing costs no task, no buffer and no wait.
    fn response(self) -> &'static [u8] {
        match self {
            Refusal::NodeFull => concat!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n",
                "retry-after: 1\r\nconnection: close\r\ncontent-length: 91\r\n\r\n",
                r#"{"error":{"code":"too_many_connections","message":"the server is at its connection limit"}}"#
            )
            .as_bytes(),
            Refusal::AddressFull => concat!(
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n",
                "retry-after: 1\r\nconnection: close\r\ncontent-length: 97\r\n\r\n",
                r#"{"error":{"code":"too_many_connections","message":"too many open connections from your address"}}"#
            )
            .as_bytes(),
        }
    }
}

/// Open connections by address, owned by the accept loop.
#[derive(Debug, Default)]
struct Admission {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Connections past the node cap let in to be checked for a health probe.
    reserve_open: usize,
    reserve_by_address: HashMap<IpAddr, usize>,
}

/// Where an admitted connection counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Regular(IpAddr),
    Reserve(IpAddr),
}

impl Admission {
    fn admit(&mut self, address: IpAddr, limits: &ConnectionLimits) -> Result<Slot, Refusal> {
        let count = self.by_address.get(&address).copied().unwrap_or(0);
        if count >= limits.max_per_address {
            return Err(Refusal::AddressFull);
        }
        if self.open >= limits.max_connections {
            let mine = self.reserve_by_address.entry(address).or_default();
            if self.reserve_open < RESERVE_CONNECTIONS && *mine < RESERVE_PER_ADDRESS {
                *mine += 1;
                self.reserve_open += 1;
                return Ok(Slot::Reserve(address));
            }
            if *mine == 0 {
                self.reserve_by_address.remove(&address);
            }
            return Err(Refusal::NodeFull);
        }
        *self.by_address.entry(address).or_default() += 1;
        self.open += 1;
        Ok(Slot::Regular(address))
    }

    fn release(&mut self, slot: Slot) {
        match slot {
            Slot::Reserve(address) => {
                self.reserve_open = self.reserve_open.saturating_sub(1);
                decrement(&mut self.reserve_by_address, address);
            }
            Slot::Regular(address) => {
                self.open = self.open.saturating_sub(1);
                decrement(&mut self.by_address, address);
            }
        }
    }
}

fn decrement(counts: &mut HashMap<IpAddr, usize>, address: IpAddr) {
    if let Some(count) = counts.get_mut(&address) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&address);
        }
    }
}

/// Connections admitted past the node cap, at most, to see whether they are health probes: the
/// operator's `/health` and `/metrics` keep answering while the node is full.
const RESERVE_CONNECTIONS: usize = 32;
/// Reserve connections per client address: a flood from a few addresses cannot take the
/// reserve from the operator's probes.
const RESERVE_PER_ADDRESS: usize = 2;
/// How long a connection past the cap has to show its request line.
const PROBE_WAIT: Duration = Duration::from_millis(200);

/// Whether a request starts as a probe the reserve serves.
fn is_probe(start: &[u8]) -> bool {
    [&b"GET /health"[..], b"GET /metrics", b"HEAD /health"]
        .iter()
        .any(|p| start.starts_with(p))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests (the caller bounds how long).
pub async fn serve(
    mut listener: WatchdogListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<Slot>();
    // Dropped at shutdown: every connection starts its graceful close.
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection holds a receiver; all dropped = all connections done.
    let (done_tx, done_rx) = watch::channel(());
    let mut admission = Admission::default();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (io, address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while let Ok(gone) = closed_rx.try_recv() {
            admission.release(gone);
        }
        let slot = match admission.admit(address.ip(), &limits) {
            Ok(slot) => slot,
            Err(refusal) => {
                io.refuse(refusal.response());
                continue;
            }
        };
        let (handoff, mut handing_point, flushed) = HandoffPoint::new();
        let service = router
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                let extensions = req.extensions_mut();
                extensions.insert(ConnectInfo(ClientAddr(address)));
                extensions.insert(handoff.clone());
                req
            });
        let http = http.clone();
        let stop = stop_rx.clone();
        let done = done_rx.clone();
        let closed = closed_tx.clone();
        tokio::spawn(async move {
            if let Slot::Reserve(_) = slot {
                let mut start = [0u8; 12];
                let seen = tokio::time::timeout(PROBE_WAIT, io.peek(&mut start)).await;
                if !matches!(seen, Ok(Ok(n)) if is_probe(&start[..n])) {
                    io.refuse(Refusal::NodeFull.response());
                    let _ = closed.send(slot);
                    return;
                }
            }
            let mut io = io;
            io.report_flushes(flushed);
            let io = TokioIo::new(io);
            let mut connection = http.serve_connection(io, TowerToHyperService::new(service));
            let served = {
                let serving = std::pin::pin!(serving(&mut connection, &mut handing_point));
                until_stopped(serving, stop).await
            };
            let handed = match served {
                Some(handed) => handed,
                None => {
                    // Stopping: requests in flight finish (a stream may still be handed over).
                    Pin::new(&mut connection).graceful_shutdown();
                    serving(&mut connection, &mut handing_point).await
                }
            };
            if let Some(stream) = handed {
                let io = connection.into_parts().io.into_inner();
                let wire = stream.wire();
                handoff::write_stream(io, stream, wire).await;
            }
            let _ = closed.send(slot);
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Drives hyper's `connection` until it ends (`None`) or hands over an SSE stream, which the
/// connection task then writes itself ([`handoff`]).
fn serving<'a, C: Future + Unpin>(
    connection: &'a mut C,
    point: &'a mut HandoffPoint,
) -> impl Future<Output = Option<Subscriber>> + 'a {
    std::future::poll_fn(move |cx| match Pin::new(&mut *connection).poll(cx) {
        Poll::Ready(_) => Poll::Ready(None),
        Poll::Pending => point
            .ready()
            .map_or(Poll::Pending, |t| Poll::Ready(Some(t))),
    })
}

/// Drives `connection` until it ends (its output) or `stop` fires (`None`: the server is shutting
/// down). The stop signal's waker is registered once, on the first poll, and afterwards only its
/// version is read on each wake-up (a load, where polling the signal as a future each time is a
/// lock and a waker comparison). Registering once is enough because a spawned task's waker never
/// changes.
async fn until_stopped<F: Future + ?Sized>(
    mut connection: Pin<&mut F>,
    stop: watch::Receiver<()>,
) -> Option<F::Output> {
    let mut signal = stop.clone();
    let mut changed = std::pin::pin!(signal.changed());
    let mut registered = false;
    std::future::poll_fn(|cx| {
        if !registered {
            registered = true;
            if changed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        // Changed, or the sender dropped: both mean stop.
        if !matches!(stop.has_changed(), Ok(false)) {
            return Poll::Ready(None);
        }
        connection.as_mut().poll(cx).map(Some)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_per_address: per_address,
            header_read_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn an_address_over_its_cap_is_refused_while_others_are_admitted() {
        let limits = limits(10, 2);
        let mut admission = Admission::default();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(admission.admit(a, &limits), Ok(Slot::Regular(a)));
        assert_eq!(admission.admit(a, &limits), Ok(Slot::Regular(a)));
        assert_eq!(admission.admit(a, &limits), Err(Refusal::AddressFull));
        assert_eq!(admission.admit(b, &limits), Ok(Slot::Regular(b)));
        admission.release(Slot::Regular(a));
        assert_eq!(admission.admit(a, &limits), Ok(Slot::Regular(a)));
    }

    #[test]
    fn past_the_node_cap_a_bounded_reserve_is_let_in_for_probes() {
        let limits = limits(2, 2);
        let mut admission = Admission::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = admission.admit(a, &limits).unwrap();
        let second = admission.admit(b, &limits).unwrap();
        for _ in 0..RESERVE_PER_ADDRESS {
            assert_eq!(admission.admit(b, &limits), Ok(Slot::Reserve(b)));
        }
        assert_eq!(
            admission.admit(b, &limits),
            Err(Refusal::NodeFull),
            "one address cannot take the reserve"
        );
        for i in 0..RESERVE_CONNECTIONS - RESERVE_PER_ADDRESS {
            let other = IpAddr::from([10, 1, (i / 250) as u8, (i % 250) as u8]);
            assert_eq!(admission.admit(other, &limits), Ok(Slot::Reserve(other)));
        }
        assert_eq!(admission.admit(a, &limits), Err(Refusal::NodeFull));
        admission.release(Slot::Reserve(b));
        assert_eq!(admission.admit(a, &limits), Ok(Slot::Reserve(a)));
        admission.release(first);
        admission.release(second);
        assert!(admission.by_address.is_empty());
        assert_eq!(admission.open, 0);
    }

    #[test]
    fn only_health_and_metrics_requests_are_probes() {
        assert!(is_probe(b"GET /health/r"));
        assert!(is_probe(b"GET /metrics "));
        assert!(!is_probe(b"GET /api/v1/p"));
        assert!(!is_probe(b"POST /health"));
        assert!(!is_probe(b""));
    }

    #[test]
    fn refusals_declare_their_exact_body_length() {
        for refusal in [Refusal::NodeFull, Refusal::AddressFull] {
            let text = std::str::from_utf8(refusal.response()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let declared: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(declared, body.len());
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn the_descriptor_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(descriptor_limit().unwrap() > 0);
        }
    }

    #[tokio::test]
    async fn a_connection_that_ends_is_not_stopped() {
        let (_stop_tx, stop) = watch::channel(());
        let connection = std::pin::pin!(async {});
        assert_eq!(until_stopped(connection, stop).await, Some(()));
    }

    #[tokio::test]
    async fn a_busy_connection_is_stopped_when_the_signal_fires_after_many_wake_ups() {
        let (stop_tx, stop) = watch::channel(());
        let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<()>();
        // A connection woken over and over (as a stream is by each event) that never ends.
        let task = tokio::spawn(async move {
            let connection = std::pin::pin!(async move { while wake_rx.recv().await.is_some() {} });
            until_stopped(connection, stop).await
        });
        for _ in 0..100 {
            wake_tx.send(()).unwrap();
            tokio::task::yield_now().await;
        }
        assert!(!task.is_finished());
        drop(stop_tx);
        let stopped = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("woken by the stop signal")
            .unwrap();
        assert_eq!(stopped, None);
    }
}
