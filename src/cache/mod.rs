//! Shared state across nodes, in Redis (fred): the event fan-out and the fetch leases. Without
//! Redis configured a node runs alone: events are delivered in-process and it leads every region
//! (`wattline_actors::ports::SoleNode`). Every key and channel carries the configured prefix, so
//! deployments (and tests) can share one Redis.

mod fanout;
pub mod kv;
mod lease;

use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::config::{ConnectionConfig, PerformanceConfig};

pub use fanout::{RedisEventFeed, RedisFanOut};
pub use kv::{KeyValue, LocalKeyValue, Rate, RateDecision, RedisKeyValue, SharedKeyValue};
pub use lease::RedisLease;

/// Why Redis could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid redis url: {0}")]
    InvalidUrl(String),
    #[error("redis unavailable: {0}")]
    Unavailable(String),
}

impl From<fred::error::Error> for CacheError {
    fn from(error: fred::error::Error) -> Self {
        CacheError::Unavailable(error.to_string())
    }
}

/// Keys and channels of one deployment.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// The pub/sub channel of price events.
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// The newest event id handed out.
    pub fn event_id(&self) -> String {
        format!("{}:event-id", self.prefix)
    }

    /// An entry of the edge's key-value store.
    pub fn kv(&self, key: &str) -> String {
        format!("{}:kv:{key}", self.prefix)
    }

    /// The fetch lease of a region.
    pub fn lease(&self, region: wattline_actors::domain::Region) -> String {
        format!("{}:lease:{}", self.prefix, region.code())
    }
}

/// How long a Redis command may take before the caller falls back.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

fn builder(url: &str) -> Result<Builder, CacheError> {
    let config = Config::from_url(url).map_err(|e| CacheError::InvalidUrl(e.to_string()))?;
    let mut builder = Builder::from_config(config);
    builder
        .with_performance_config(|p: &mut PerformanceConfig| {
            p.default_command_timeout = COMMAND_TIMEOUT
        })
        .with_connection_config(|c: &mut ConnectionConfig| {
            c.connection_timeout = Duration::from_secs(2);
            // Fail commands fast while disconnected; the callers have local fallbacks.
            c.max_command_attempts = 1;
        })
        // Reconnect forever, backing off up to 5 s.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2));
    Ok(builder)
}

/// A connected command client.
pub async fn connect(url: &str) -> Result<fred::prelude::Client, CacheError> {
    let client = builder(url)?.build()?;
    client.init().await?;
    Ok(client)
}

/// A command client that connects in the background (Redis is down right now).
pub fn connect_lazily(url: &str) -> Result<fred::prelude::Client, CacheError> {
    let client = builder(url)?.build()?;
    let _connection = client.connect();
    Ok(client)
}

/// A subscriber client that connects in the background (Redis is down right now).
pub fn connect_subscriber_lazily(url: &str) -> Result<fred::clients::SubscriberClient, CacheError> {
    let client = builder(url)?.build_subscriber_client()?;
    let _connection = client.connect();
    Ok(client)
}

/// A connected subscriber client (re-subscribes after reconnects).
pub async fn connect_subscriber(url: &str) -> Result<fred::clients::SubscriberClient, CacheError> {
    let client = builder(url)?.build_subscriber_client()?;
    client.init().await?;
    Ok(client)
}
