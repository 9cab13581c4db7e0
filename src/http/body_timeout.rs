//! A request body that fails when the client pauses longer than the body read timeout, so a
//! stalled upload is answered 408 instead of holding the handler until the request deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// The error a stalled body ends with; [`crate::http::extract`] maps it to 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for longer than {0:?}")]
pub struct BodyStalled(pub Duration);

/// `inner`, failing with [`BodyStalled`] when no frame arrives for `timeout`.
pub struct TimedBody {
    inner: Body,
    timeout: Duration,
    // Armed when a frame is awaited, disarmed when one arrives.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// Wraps a body.
    pub fn new(inner: Body, timeout: Duration) -> Self {
        TimedBody {
            inner,
            timeout,
            waiting: None,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = None;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyStalled(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (or what it wraps) is a stalled body.
pub fn is_stalled(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyStalled>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    async fn collect(body: TimedBody) -> Result<Bytes, axum::Error> {
        axum::body::to_bytes(Body::new(body), usize::MAX).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_sending_fails_after_the_timeout() {
        // A client that sent the start of its body and then nothing more.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        tx.send(Bytes::from_static(b"{\"a\":")).unwrap();
        let stream = UnboundedReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
        let body = TimedBody::new(Body::from_stream(stream), Duration::from_secs(2));
        let error = collect(body).await.unwrap_err();
        assert!(is_stalled(&error), "{error}");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_passes() {
        let body = TimedBody::new(Body::from("{}"), Duration::from_secs(2));
        assert_eq!(&collect(body).await.unwrap()[..], b"{}");
    }
}
