//! Logs and metrics setup, and the names of the service's own metrics. The Prometheus recorder is
//! process-global and installed once; every `App` in the process (tests run several) shares it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetrySettings};

/// Metric: HTTP requests by method, route and status.
pub const HTTP_REQUESTS_TOTAL: &str = "wattline_http_requests_total";
/// Metric: HTTP request latency by method and route.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "wattline_http_request_duration_seconds";
/// Metric: seconds since the newest price of a region was fetched.
pub const PRICE_NEWEST_AGE_SECONDS: &str = "wattline_price_newest_age_seconds";
/// Metric: seconds from now to the end of the last known price of a region.
pub const PRICE_HORIZON_SECONDS: &str = "wattline_price_horizon_seconds";

/// Histogram buckets (seconds) for latencies from microseconds to a minute.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Installs the tracing subscriber (once; later calls are no-ops, as in tests).
pub fn init_logging(settings: &TelemetrySettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use. Must run before the actor tree
/// starts, or the tree's metric handles would bind to the no-op recorder.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), LATENCY_BUCKETS)
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed in this process")
        })
        .clone()
}
