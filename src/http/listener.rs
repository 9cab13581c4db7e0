//! The TCP listener the server accepts on: sets `TCP_NODELAY` (small SSE frames go out at once)
//! and wraps each connection so that a socket which accepts no bytes for the write timeout is
//! closed. Without that, a client that never reads would hold its connection (and its kernel
//! buffers) forever, because hyper waits on the socket and never asks the body for more. The
//! same wrapper gives hyper's own error heads the JSON envelope and reports hyper's flushes to
//! the SSE hand-over.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use super::protocol_errors;

/// A listener whose connections time out when writes stall.
pub struct WatchdogListener {
    inner: TcpListener,
    write_timeout: Duration,
}

impl WatchdogListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener, write_timeout: Duration) -> Self {
        WatchdogListener {
            inner,
            write_timeout,
        }
    }
}

impl Listener for WatchdogListener {
    type Io = WriteWatchdog<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (WriteWatchdog::new(stream, self.write_timeout), addr);
                }
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%error, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The client's address, as handlers see it (`ConnectInfo<ClientAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, WatchdogListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, WatchdogListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// An I/O stream whose writes fail with `TimedOut` after stalling for `timeout`, and which
/// writes hyper's automatic error heads with the JSON envelope ([`protocol_errors`]).
pub struct WriteWatchdog<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    /// A replacement response being written, and how far.
    replacing: Option<(Vec<u8>, usize)>,
    /// Set on each completed flush, when asked to ([`Self::report_flushes`]).
    flushed: Option<Arc<AtomicBool>>,
}

impl WriteWatchdog<TcpStream> {
    /// Writes a complete refusal without waiting (what does not fit in the socket buffer is
    /// dropped; it always fits in a fresh one) and lets the connection close on drop.
    pub fn refuse(&self, response: &[u8]) {
        let _ = self.inner.try_write(response);
    }

    /// The first bytes the client sent, left unread.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }
}

impl<S> WriteWatchdog<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        WriteWatchdog {
            inner,
            timeout,
            stalled: None,
            replacing: None,
            flushed: None,
        }
    }

    /// Sets `flag` on each completed flush: hyper flushes only with its own buffer empty, so
    /// after a flush everything it queued is on the socket (what the SSE hand-over waits for,
    /// [`super::handoff`]).
    pub fn report_flushes(&mut self, flag: Arc<AtomicBool>) {
        self.flushed = Some(flag);
    }

    /// On `Pending`, arms (or checks) the stall timer; on progress, disarms it.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteWatchdog<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteWatchdog<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none()
            && let Some(response) = protocol_errors::envelope(buf)
        {
            self.replacing = Some((response, 0));
        }
        if let Some((response, mut written)) = self.replacing.take() {
            // Report the original head as written only once the whole replacement is out.
            while written < response.len() {
                let result = Pin::new(&mut self.inner).poll_write(cx, &response[written..]);
                match self.watch(cx, result) {
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        self.replacing = Some((response, written));
                        return Poll::Pending;
                    }
                }
            }
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper writes its own error heads alone: those go through the replacement above.
        let first: &[u8] = bufs.first().map_or(&[], |b| b);
        if self.replacing.is_some() || protocol_errors::envelope(first).is_some() {
            return self.poll_write(cx, first);
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result)
    }

    /// Vectored, so that hyper writes a streamed body's chunks between their chunk header and
    /// trailer with one `writev`, instead of copying each into its own buffer first.
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// Not watched: only writes stall (a socket's flush has nothing to wait for), and hyper
    /// flushes on every turn of its loop.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if let (Poll::Ready(Ok(())), Some(flushed)) = (&result, &self.flushed) {
            flushed.store(true, Ordering::Release);
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_peer_that_never_reads_times_the_writer_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut guarded = WriteWatchdog::new(server, Duration::from_millis(50));
        let chunk = [0u8; 1024];
        let result = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                guarded.write_all(&chunk).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        })
        .await
        .expect("the watchdog fires before the outer timeout");
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test]
    async fn a_reading_peer_is_never_timed_out() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = WriteWatchdog::new(server, Duration::from_millis(50));
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client, &mut sink)
                .await
                .map(|_| sink.len())
        });
        for _ in 0..50 {
            guarded.write_all(&[1u8; 256]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap().unwrap(), 50 * 256);
    }

    #[tokio::test]
    async fn completed_flushes_are_reported_when_asked() {
        let (_client, server) = tokio::io::duplex(64);
        let mut guarded = WriteWatchdog::new(server, Duration::from_secs(5));
        guarded.flush().await.unwrap();
        let flushed = Arc::new(AtomicBool::new(false));
        guarded.report_flushes(flushed.clone());
        guarded.write_all(b"head").await.unwrap();
        assert!(!flushed.load(Ordering::Acquire), "a write is not a flush");
        guarded.flush().await.unwrap();
        assert!(flushed.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn vectored_writes_pass_through_and_hyper_error_heads_are_still_replaced() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut guarded = WriteWatchdog::new(server, Duration::from_secs(5));
        let parts = [
            io::IoSlice::new(b"5\r\n"),
            io::IoSlice::new(b"hello"),
            io::IoSlice::new(b"\r\n"),
        ];
        assert_eq!(guarded.write_vectored(&parts).await.unwrap(), 10);
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let written = guarded
            .write_vectored(&[io::IoSlice::new(head)])
            .await
            .unwrap();
        assert_eq!(written, head.len(), "the original head counts as written");
        guarded.shutdown().await.unwrap();
        drop(guarded);
        let mut seen = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut seen)
            .await
            .unwrap();
        let (chunk, response) = seen.split_at(10);
        assert_eq!(chunk, "5\r\nhello\r\n");
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(response.contains(r#""code":"bad_request""#), "{response}");
    }
}
