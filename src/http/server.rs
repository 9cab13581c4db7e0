//! The accept loop: admits connections under a node-wide and a per-address cap, serves each with
//! hyper's HTTP/1 connection (header read timeout on the engine's timer) and shuts down
//! gracefully. axum's `serve` has no timeouts and no connection caps, so it is replaced here;
//! the router is the same.
//!
//! The counts belong to the accept loop alone: connection tasks report their end through a
//! channel the loop drains before each admission, so nothing is shared behind a lock.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
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

use super::listener::{ClientAddr, WatchdogListener};

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
                tracing::warn!(
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
}

impl Admission {
    fn admit(&mut self, address: IpAddr, limits: &ConnectionLimits) -> Result<(), Refusal> {
        if self.open >= limits.max_connections {
            return Err(Refusal::NodeFull);
        }
        let count = self.by_address.entry(address).or_default();
        if *count >= limits.max_per_address {
            return Err(Refusal::AddressFull);
        }
        *count += 1;
        self.open += 1;
        Ok(())
    }

    fn release(&mut self, address: IpAddr) {
        self.open = self.open.saturating_sub(1);
        if let Some(count) = self.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.by_address.remove(&address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests (the caller bounds how long).
pub async fn serve(
    mut listener: WatchdogListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<IpAddr>();
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
        if let Err(refusal) = admission.admit(address.ip(), &limits) {
            io.refuse(refusal.response());
            continue;
        }
        let service = router
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut()
                    .insert(ConnectInfo(ClientAddr(address)));
                req
            });
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let closed = closed_tx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            let _ = closed.send(address.ip());
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
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
        assert_eq!(admission.admit(a, &limits), Ok(()));
        assert_eq!(admission.admit(a, &limits), Ok(()));
        assert_eq!(admission.admit(a, &limits), Err(Refusal::AddressFull));
        assert_eq!(admission.admit(b, &limits), Ok(()));
        admission.release(a);
        assert_eq!(admission.admit(a, &limits), Ok(()));
    }

    #[test]
    fn the_node_cap_applies_across_addresses_and_frees_on_release() {
        let limits = limits(2, 2);
        let mut admission = Admission::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        admission.admit(a, &limits).unwrap();
        admission.admit(b, &limits).unwrap();
        assert_eq!(admission.admit(b, &limits), Err(Refusal::NodeFull));
        admission.release(a);
        admission.release(b);
        assert!(admission.by_address.is_empty());
        assert_eq!(admission.open, 0);
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
}
