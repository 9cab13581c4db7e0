//! What every request passes through, in one layer (each extra layer costs a boxed future and a
//! service clone per request): the request id, the span that carries it to every log line of
//! the request, the deadline, the security headers and the per-route metrics.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::ApiError;
use crate::http::body_timeout::TimedBody;
use crate::telemetry::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL};

/// The request id header, read from clients and echoed on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The edge layer's settings and its request id counter.
#[derive(Debug)]
pub struct Edge {
    /// Send Strict-Transport-Security.
    pub hsts: bool,
    /// Longest time to the response head.
    pub deadline: Duration,
    /// Largest request body; a larger declared length is refused before reading.
    pub body_limit: u64,
    /// Longest pause inside a request body.
    pub body_read_timeout: Duration,
    ids: RequestIds,
}

impl Edge {
    /// The edge layer's state.
    pub fn new(hsts: bool, deadline: Duration) -> Arc<Self> {
        Self::with_bodies(hsts, deadline, u64::MAX, deadline)
    }

    /// The edge layer's state with request body limits.
    pub fn with_bodies(
        hsts: bool,
        deadline: Duration,
        body_limit: u64,
        body_read_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Edge {
            hsts,
            deadline,
            body_limit,
            body_read_timeout,
            ids: RequestIds::new(),
        })
    }
}

/// Request ids made here: a random prefix per process and a counter, unique without asking
/// the kernel for randomness on every request.
#[derive(Debug)]
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        RequestIds {
            prefix: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            next: AtomicU64::new(1),
        }
    }

    fn make(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:08x}", self.prefix)).expect("hex is a valid header")
    }
}

/// The layer: keeps a well-formed client request id (1–128 of `A-Za-z0-9._:-`) or makes one,
/// runs the rest of the request inside a span carrying it, answers 503 `timeout` when the
/// response head is not ready by the deadline (streamed bodies are not cut) and 500 when a
/// handler panics, and adds the
/// security headers, the request id and the metrics to every response.
pub async fn edge(State(edge): State<Arc<Edge>>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| well_formed(v.as_bytes()))
        .cloned()
        .unwrap_or_else(|| edge.ids.make());
    req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let method = method_label(req.method());
    let api = req.uri().path().starts_with("/api/");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "request",
        id = id.to_str().unwrap_or(""),
        method,
        route = %route
    );
    let started = Instant::now();
    let mut response = match body_admission(&req, edge.body_limit) {
        // Refused on the declared length: the body is never polled, so hyper sends no
        // `100 Continue` and nothing is read. Answers made here log inside the request's span
        // too, so their lines carry its id.
        Err(refusal) => span.in_scope(|| refusal.into_response()),
        Ok(has_body) => {
            if has_body {
                let timeout = edge.body_read_timeout;
                req = req.map(|body| Body::new(TimedBody::new(body, timeout)));
            }
            // A handler that panics answers 500 in our envelope and the server goes on. Caught
            // here rather than by a layer of its own, which would box every response body
            // twice more (measured on the SSE fan-out, where each frame passes every layer).
            let run = AssertUnwindSafe(tokio::time::timeout(edge.deadline, next.run(req)));
            match run.catch_unwind().instrument(span.clone()).await {
                Ok(Ok(response)) => response,
                Ok(Err(_)) => span.in_scope(|| ApiError::Timeout.into_response()),
                Err(_) => span
                    .in_scope(|| ApiError::Internal("the handler panicked".into()).into_response()),
            }
        }
    };
    security_headers(response.headers_mut(), edge.hsts, api);
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Whether the request carries a body (to be read under the body timeout), or why it is refused
/// before reading: a declared length over the limit.
fn body_admission(req: &Request, limit: u64) -> Result<bool, ApiError> {
    let headers = req.headers();
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        // hyper has already refused a malformed length with 400.
        let declared: u64 = length
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if declared > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        return Ok(declared > 0);
    }
    Ok(headers.contains_key(header::TRANSFER_ENCODING))
}

fn well_formed(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

/// The method as a metric label: the standard methods by name, anything else `other`, so
/// clients cannot create label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");

/// The security headers every response carries (a page may set its own CSP); API answers also
/// say `Cache-Control: no-store, private`.
fn security_headers(headers: &mut axum::http::HeaderMap, hsts: bool, api: bool) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(
        PERMISSIONS_POLICY,
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'",
        ));
    if api {
        // Answers about accounts and live prices are never to be kept by shared caches.
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store, private"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(well_formed(b"abc-123_x.y:z"));
        assert!(!well_formed(b""));
        assert!(!well_formed(b"has space"));
        assert!(!well_formed(&[b'a'; 129]));
        assert!(!well_formed("ünï".as_bytes()));
    }

    #[test]
    fn made_ids_are_unique_and_well_formed() {
        let ids = RequestIds::new();
        let a = ids.make();
        let b = ids.make();
        assert_ne!(a, b);
        assert!(well_formed(a.as_bytes()));
    }

    /// Captured log output of a test.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// `request` (without a body) answered by `app` behind the edge layer.
    async fn through_edge(app: axum::Router, request: axum::http::request::Builder) -> Response {
        use tower::ServiceExt;
        app.layer(axum::middleware::from_fn_with_state(
            Edge::new(false, Duration::from_secs(5)),
            edge,
        ))
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_handler_answers_500_in_the_envelope() {
        let app = axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        );
        let response = through_edge(app, Request::builder().uri("/boom")).await;
        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal_error");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_log_line_of_a_request_carries_its_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new().route(
            "/x",
            axum::routing::get(|| async {
                tracing::info!("Before the await.");
                tokio::task::yield_now().await;
                tracing::warn!("After the await.");
                "ok"
            }),
        );
        let response = through_edge(
            app,
            Request::builder()
                .uri("/x")
                .header("x-request-id", "req-42"),
        )
        .await;
        assert_eq!(response.headers()["x-request-id"], "req-42");
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 2, "{logs}");
        for line in lines {
            assert!(
                line.contains("id=req-42") || line.contains("id=\"req-42\""),
                "{line}"
            );
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
