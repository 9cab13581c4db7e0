//! The HTTP side: the server, live streams, secrets of the edge and logs.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;

use super::human;
use super::secret::Secret;

/// HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address (default 127.0.0.1:8080).
    pub bind: SocketAddr,
    /// Request deadline (default 10s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub request_timeout: Duration,
    /// Largest request body in bytes (default 65536).
    pub body_limit_bytes: NonZeroUsize,
    /// CORS origins; `*` allows any (default none).
    pub cors_allowed_origins: Vec<String>,
    /// Send HSTS (default false; set behind a TLS proxy).
    pub hsts: bool,
    /// Shutdown deadline (default 10s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub shutdown_timeout: Duration,
    /// Time to send a request head, also the keep-alive idle limit (default 10s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub header_read_timeout: Duration,
    /// Longest pause in a request body before 408 (default 5s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub body_read_timeout: Duration,
    /// Open connections of the node (default 25000, capped by the descriptor limit).
    pub max_connections: NonZeroUsize,
    /// Open connections per client address (default 512).
    pub max_connections_per_address: NonZeroUsize,
}

/// Live SSE streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Longest silence on a stream before it gets a heartbeat comment (default 15s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub heartbeat: Duration,
    /// Client reconnect hint (default 3s).
    #[serde(deserialize_with = "human::duration")]
    pub retry: Duration,
    /// Broadcast channel capacity in events (default 1024).
    pub channel_capacity: NonZeroUsize,
    /// Replay buffer per region in events (default 256).
    pub replay_per_region: NonZeroUsize,
    /// Subscriber limit of the node (default 20000).
    pub max_subscribers: usize,
    /// Subscriber limit per client address (default 100).
    pub max_per_address: usize,
    /// Stuck-socket timeout (default 30s).
    #[serde(deserialize_with = "human::positive_duration")]
    pub write_timeout: Duration,
}

/// Secrets of the edge (environment only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Operator/refresh API key (`WATTLINE_SECURITY__API_KEY`; unset disables those endpoints).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Key signing access tokens (`WATTLINE_SECURITY__JWT_SECRET`, at least 32 bytes). Unset on a
    /// single node: one is generated and kept in storage; unset on a clustered node: refused.
    #[serde(default)]
    pub jwt_secret: Option<Secret>,
}

/// Logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `pretty` or `json` (default pretty).
    pub log_format: LogFormat,
    /// tracing filter (default `info`; `RUST_LOG` wins).
    pub log_filter: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}
