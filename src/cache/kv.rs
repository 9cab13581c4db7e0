//! Short-lived shared facts of the edge: revoked token ids, failed sign-ins per email, request
//! counts per client. In Redis when configured (every node sees the same, keys under the
//! deployment's prefix), in-process otherwise. Each entry expires on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use fred::prelude::{Client, KeysInterface, LuaInterface};

use super::Keys;

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store unavailable: {0}")]
pub struct KvError(pub String);

/// A counter after an increment: its value and how long until it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub value: u64,
    pub resets_in: Duration,
}

/// Expiring marks and counters.
#[async_trait]
pub trait KeyValue: Send + Sync + 'static {
    /// Marks `key` for `ttl` (again: the new ttl).
    async fn mark(&self, key: &str, ttl: Duration) -> Result<(), KvError>;
    /// Whether `key` is marked now.
    async fn is_marked(&self, key: &str) -> Result<bool, KvError>;
    /// Adds one to the counter `key`; a new counter lives `window` from its first increment.
    async fn increment(&self, key: &str, window: Duration) -> Result<Count, KvError>;
    /// The counter `key` now (zero when absent or expired).
    async fn count(&self, key: &str) -> Result<Count, KvError>;
    /// Forgets `key`.
    async fn remove(&self, key: &str) -> Result<(), KvError>;
}

/// The shared handle.
pub type SharedKeyValue = Arc<dyn KeyValue>;

/// In-process entries, for a node without Redis. A concurrent map rather than an actor: every
/// request may touch it, and entries are independent.
#[derive(Debug, Default)]
pub struct LocalKeyValue {
    entries: DashMap<String, (u64, Instant)>,
}

impl LocalKeyValue {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(LocalKeyValue::default())
    }

    fn live(&self, key: &str, now: Instant) -> Option<(u64, Instant)> {
        let entry = *self.entries.get(key)?;
        if entry.1 > now {
            Some(entry)
        } else {
            self.entries.remove_if(key, |_, (_, until)| *until <= now);
            None
        }
    }

    /// Drops expired entries once the map grows, so abandoned keys do not pile up.
    fn sweep(&self, now: Instant) {
        if self.entries.len() > 10_000 {
            self.entries.retain(|_, (_, until)| *until > now);
        }
    }
}

#[async_trait]
impl KeyValue for LocalKeyValue {
    async fn mark(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        self.sweep(now);
        self.entries.insert(key.to_string(), (1, now + ttl));
        Ok(())
    }

    async fn is_marked(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.live(key, Instant::now()).is_some())
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Count, KvError> {
        let now = Instant::now();
        self.sweep(now);
        let mut entry = self
            .entries
            .entry(key.to_string())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(Count {
            value: entry.0,
            resets_in: entry.1 - now,
        })
    }

    async fn count(&self, key: &str) -> Result<Count, KvError> {
        let now = Instant::now();
        Ok(match self.live(key, now) {
            Some((value, until)) => Count {
                value,
                resets_in: until - now,
            },
            None => Count {
                value: 0,
                resets_in: Duration::ZERO,
            },
        })
    }

    async fn remove(&self, key: &str) -> Result<(), KvError> {
        self.entries.remove(key);
        Ok(())
    }
}

/// Increment, set the expiry on the first one, and say the value and the time left, atomically.
const INCREMENT: &str = r#"
local value = redis.call('INCR', KEYS[1])
if value == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {value, left}
"#;

/// Entries in Redis, under `<prefix>:kv:`.
pub struct RedisKeyValue {
    client: Client,
    keys: Keys,
}

impl RedisKeyValue {
    /// Entries of the deployment `keys` through `client`.
    pub fn new(client: Client, keys: Keys) -> Arc<Self> {
        Arc::new(RedisKeyValue { client, keys })
    }
}

fn unavailable(error: fred::error::Error) -> KvError {
    KvError(error.to_string())
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().clamp(1, i64::MAX as u128) as i64
}

#[async_trait]
impl KeyValue for RedisKeyValue {
    async fn mark(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let _: () = self
            .client
            .set(
                self.keys.kv(key),
                1,
                Some(fred::types::Expiration::PX(millis(ttl))),
                None,
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn is_marked(&self, key: &str) -> Result<bool, KvError> {
        let n: i64 = self
            .client
            .exists(self.keys.kv(key))
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Count, KvError> {
        let (value, left): (i64, i64) = self
            .client
            .eval(
                INCREMENT,
                vec![self.keys.kv(key)],
                vec![millis(window).to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(Count {
            value: value.max(0) as u64,
            resets_in: Duration::from_millis(left.max(0) as u64),
        })
    }

    async fn count(&self, key: &str) -> Result<Count, KvError> {
        let key = self.keys.kv(key);
        let value: Option<i64> = self.client.get(&key).await.map_err(unavailable)?;
        let left: i64 = self.client.pttl(&key).await.map_err(unavailable)?;
        Ok(Count {
            value: value.unwrap_or(0).max(0) as u64,
            resets_in: Duration::from_millis(left.max(0) as u64),
        })
    }

    async fn remove(&self, key: &str) -> Result<(), KvError> {
        let _: i64 = self
            .client
            .del(self.keys.kv(key))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
