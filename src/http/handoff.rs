//! SSE streams written outside hyper once their head is out. hyper serves the request (router,
//! middleware, the handler's checks) and writes the response head; then the connection task takes
//! the socket back from hyper and writes the stream's frames itself, as a plain loop over the
//! stream and the socket. A stream never ends in a way hyper's keep-alive could use, so nothing
//! is lost by leaving hyper; what is saved is hyper's connection machinery on every event of
//! every subscriber (its dispatch loop, read checks, body polling and write queue) and its
//! buffers per connection. Measured at 10 000 subscribers (BENCHMARKS.md, live stream): from
//! 1.33× to 1.17× the bare-socket ceiling's CPU per event, 15 to 9 KB per subscriber.
//!
//! The hand-over: the connection task puts a [`Handoff`] in each request's extensions. A stream
//! body ([`SseBody`]) polled by hyper for the first time (the head is queued just before) sends
//! its stream through it and stays pending. The connection task takes the socket only after hyper
//! has written everything it queued, which the connection's I/O reports
//! ([`WriteWatchdog::report_flushes`](super::listener::WriteWatchdog::report_flushes)): hyper
//! flushes its I/O only once its own buffer is empty.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

use super::sse::{Subscriber, Wire};

/// The request side of a connection's hand-over point (a request extension).
pub struct Handoff<T = Subscriber> {
    streams: mpsc::UnboundedSender<T>,
    flushed: Arc<AtomicBool>,
}

impl<T> Clone for Handoff<T> {
    fn clone(&self) -> Self {
        Handoff {
            streams: self.streams.clone(),
            flushed: self.flushed.clone(),
        }
    }
}

impl<T> Handoff<T> {
    /// Hands `takeover` to the connection task; gives it back if the task is gone.
    fn send(&self, takeover: T) -> Result<(), T> {
        // Cleared first: only a flush after this point means the head is out.
        self.flushed.store(false, Ordering::Release);
        self.streams.send(takeover).map_err(|e| e.0)
    }
}

/// The connection task's side: yields a handed stream once hyper has flushed.
pub struct HandoffPoint<T = Subscriber> {
    streams: mpsc::UnboundedReceiver<T>,
    flushed: Arc<AtomicBool>,
    waiting: Option<T>,
}

impl<T> HandoffPoint<T> {
    /// A hand-over point, its request side, and the flag the connection's I/O sets on a flush.
    pub fn new() -> (Handoff<T>, HandoffPoint<T>, Arc<AtomicBool>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let flushed = Arc::new(AtomicBool::new(false));
        let handoff = Handoff {
            streams: sender,
            flushed: flushed.clone(),
        };
        let point = HandoffPoint {
            streams: receiver,
            flushed: flushed.clone(),
            waiting: None,
        };
        (handoff, point, flushed)
    }

    /// Called after hyper's connection returned `Pending`: the stream to write, once one was
    /// handed over and hyper has flushed everything it had queued (the head) since.
    pub fn ready(&mut self) -> Option<T> {
        if self.waiting.is_none() {
            self.waiting = self.streams.try_recv().ok();
        }
        if self.waiting.is_some() && self.flushed.load(Ordering::Acquire) {
            return self.waiting.take();
        }
        None
    }
}

/// A stream's response body: handed to the connection task on its first poll when the request
/// came through one ([`Handoff`]), written by hyper otherwise (a router served without the
/// accept loop, as in tests, or a connection task that is gone).
pub enum SseBody {
    Direct(Subscriber),
    Handing(Option<(Subscriber, Handoff)>),
}

impl SseBody {
    /// `wire`: how the connection task writes the stream if it takes it (hyper frames it
    /// otherwise).
    pub fn new(mut stream: Subscriber, handoff: Option<Handoff>, wire: Wire) -> Self {
        match handoff {
            Some(handoff) => {
                stream.set_wire(wire);
                SseBody::Handing(Some((stream, handoff)))
            }
            None => SseBody::Direct(stream),
        }
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let SseBody::Handing(handing) = this {
            let Some((stream, handoff)) = handing.take() else {
                // Handed over: the connection task takes the socket before polling again.
                return Poll::Pending;
            };
            match handoff.send(stream) {
                Ok(()) => return Poll::Pending,
                Err(mut stream) => {
                    stream.set_wire(Wire::Frames);
                    *this = SseBody::Direct(stream);
                }
            }
        }
        let SseBody::Direct(stream) = this else {
            unreachable!("a stream not handed over is direct")
        };
        stream
            .poll_next_unpin(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// How a handed-over stream stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The stream ended (`shutdown`, `lagged`): the body was closed properly.
    Finished,
    /// The client closed or reset the connection.
    ClientGone,
    /// Writing failed or stalled past the write timeout.
    WriteFailed,
}

/// What the writer waits for next.
enum Next {
    Chunk(Bytes),
    End,
    ClientGone,
}

/// Writes `stream` (bytes framed for `wire`) to `io` until the stream ends (HTTP/1.1 chunks:
/// with the last chunk; frames of an HTTP/1.0 response: by closing) or the client leaves. Bytes the client sends are read and dropped (a
/// stream answers one request); reading is how its leaving is seen.
pub async fn write_stream<S, T>(mut io: S, mut stream: T, wire: Wire) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Stream<Item = Bytes> + Unpin,
{
    loop {
        let next = std::future::poll_fn(|cx| {
            if client_gone(&mut io, cx) {
                return Poll::Ready(Next::ClientGone);
            }
            stream.poll_next_unpin(cx).map(|chunk| match chunk {
                Some(chunk) => Next::Chunk(chunk),
                None => Next::End,
            })
        })
        .await;
        let written = match next {
            Next::Chunk(chunk) => io.write_all(&chunk).await,
            Next::End => {
                let closed = match wire {
                    Wire::Chunks => io.write_all(b"0\r\n\r\n").await,
                    Wire::Frames => Ok(()),
                };
                return match closed.and(io.shutdown().await) {
                    Ok(()) => Ended::Finished,
                    Err(_) => Ended::WriteFailed,
                };
            }
            Next::ClientGone => return Ended::ClientGone,
        };
        if written.is_err() {
            return Ended::WriteFailed;
        }
    }
}

/// Whether the client closed its side (or the connection failed); what it sent is dropped.
fn client_gone<S: AsyncRead + Unpin>(io: &mut S, cx: &mut Context<'_>) -> bool {
    let mut scratch = [0u8; 64];
    loop {
        let mut buf = ReadBuf::new(&mut scratch);
        match Pin::new(&mut *io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return true,
            Poll::Pending => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    /// What `write_stream` puts on the wire for `list` until the stream ends, and how it ended.
    async fn written(list: &[&'static str], wire: Wire) -> (Ended, String) {
        let (mut client, server) = tokio::io::duplex(4096);
        let stream = tokio_stream::iter(list.iter().map(|f| Bytes::from_static(f.as_bytes())));
        let ended = write_stream(server, stream, wire).await;
        let mut wire = String::new();
        client.read_to_string(&mut wire).await.unwrap();
        (ended, wire)
    }

    #[tokio::test]
    async fn a_finished_chunked_stream_is_closed_with_the_last_chunk() {
        let chunks = ["9\r\ndata: 1\n\n\r\n", "", "a\r\ndata: 22\n\n\r\n"];
        let (ended, wire) = written(&chunks, Wire::Chunks).await;
        assert_eq!(ended, Ended::Finished);
        assert_eq!(wire, "9\r\ndata: 1\n\n\r\na\r\ndata: 22\n\n\r\n0\r\n\r\n");
    }

    #[tokio::test]
    async fn an_http_1_0_stream_is_written_as_is_and_ends_by_closing() {
        let (ended, wire) = written(&["data: 1\n\n", "data: 2\n\n"], Wire::Frames).await;
        assert_eq!(ended, Ended::Finished);
        assert_eq!(wire, "data: 1\n\ndata: 2\n\n");
    }

    #[tokio::test]
    async fn a_client_that_closes_ends_a_silent_stream_and_what_it_sent_is_ignored() {
        let (mut client, server) = tokio::io::duplex(4096);
        let (frames_tx, frames_rx) = mpsc::unbounded_channel::<Bytes>();
        let writer = tokio::spawn(write_stream(
            server,
            tokio_stream::wrappers::UnboundedReceiverStream::new(frames_rx),
            Wire::Frames,
        ));
        frames_tx.send(Bytes::from_static(b"data: 1\n\n")).unwrap();
        let mut first = [0u8; 9];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"data: 1\n\n");
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        tokio::task::yield_now().await;
        assert!(!writer.is_finished(), "bytes from the client do not end it");
        drop(client);
        let ended = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer sees the client leave")
            .unwrap();
        assert_eq!(ended, Ended::ClientGone);
        drop(frames_tx);
    }

    #[test]
    fn a_handed_stream_is_ready_only_after_a_flush_that_follows_it() {
        let (handoff, mut point, flushed) = HandoffPoint::<&str>::new();
        assert_eq!(point.ready(), None, "nothing handed over yet");
        // The flush of an earlier response says nothing about this stream's head.
        flushed.store(true, Ordering::Release);
        handoff.send("stream").unwrap();
        assert_eq!(point.ready(), None, "the head may still be queued in hyper");
        assert_eq!(point.ready(), None);
        flushed.store(true, Ordering::Release);
        assert_eq!(point.ready(), Some("stream"));
        assert_eq!(point.ready(), None, "handed out once");
    }

    #[test]
    fn a_stream_handed_to_a_connection_task_that_is_gone_comes_back() {
        let (handoff, point, _flushed) = HandoffPoint::<&str>::new();
        drop(point);
        assert_eq!(handoff.send("stream"), Err("stream"));
    }
}
