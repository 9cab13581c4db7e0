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
    /// Counts a request of `key` against every rate (GCRA), if each has room; and, in the same
    /// round trip, whether `marked` is marked (the limiter asks for the request's revoked-token
    /// mark, so a signed-in request costs one call to the store, not two).
    async fn rate(
        &self,
        key: &str,
        rates: &[Rate],
        marked: Option<&str>,
    ) -> Result<RateDecision, KvError>;
    /// Keeps `value` under `key` for `ttl` (replacing what was there).
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError>;
    /// Removes and returns the value under `key`, atomically: of two callers at once, one gets
    /// it. What single-use tickets (OAuth `state`, one-time codes) are made of.
    async fn take(&self, key: &str) -> Result<Option<String>, KvError>;
}

/// The shared handle.
pub type SharedKeyValue = Arc<dyn KeyValue>;

/// In-process entries, for a node without Redis. A concurrent map rather than an actor: every
/// request may touch it, and entries are independent.
#[derive(Debug)]
pub struct LocalKeyValue {
    entries: DashMap<String, (u64, Instant)>,
    /// Arrival times per rate-limited key, in microseconds since `epoch`.
    rates: DashMap<String, Vec<u64>>,
    /// Values with their expiry (single-use tickets; few and short-lived).
    values: DashMap<String, (String, Instant)>,
    epoch: Instant,
}

impl Default for LocalKeyValue {
    fn default() -> Self {
        LocalKeyValue {
            entries: DashMap::new(),
            rates: DashMap::new(),
            values: DashMap::new(),
            epoch: Instant::now(),
        }
    }
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

    async fn rate(
        &self,
        key: &str,
        rates: &[Rate],
        marked: Option<&str>,
    ) -> Result<RateDecision, KvError> {
        let is_marked = marked.is_some_and(|m| self.live(m, Instant::now()).is_some());
        let now_us = self.epoch.elapsed().as_micros() as u64;
        if self.rates.len() > 100_000 {
            // Keys whose every arrival time has passed hold nothing.
            self.rates
                .retain(|_, tats| tats.iter().any(|t| *t > now_us));
        }
        let mut tats = self
            .rates
            .entry(key.to_string())
            .or_insert_with(|| vec![0; rates.len()]);
        tats.resize(rates.len(), 0);
        let outcome = gcra(&mut tats, rates, now_us);
        Ok(RateDecision {
            marked: is_marked,
            ..decide(rates, &outcome)
        })
    }

    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        if self.values.len() > 10_000 {
            self.values.retain(|_, (_, until)| *until > now);
        }
        self.values
            .insert(key.to_string(), (value.to_string(), now + ttl));
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self
            .values
            .remove(key)
            .and_then(|(_, (value, until))| (until > now).then_some(value)))
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
        self.put(key, "1", ttl).await
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

    async fn rate(
        &self,
        key: &str,
        rates: &[Rate],
        marked: Option<&str>,
    ) -> Result<RateDecision, KvError> {
        let args: Vec<String> = rates
            .iter()
            .flat_map(|r| [r.period.as_micros().to_string(), r.limit.max(1).to_string()])
            .collect();
        let mut keys = vec![self.keys.kv(key)];
        keys.extend(marked.map(|m| self.keys.kv(m)));
        let out: Vec<i64> = self
            .client
            .eval(RATE, keys, args)
            .await
            .map_err(unavailable)?;
        let number = |i: usize| out.get(i).copied().unwrap_or(0).max(0) as u64;
        let outcome = Outcome {
            allowed: number(0) == 1,
            retry_us: number(1),
            per_rate: (0..rates.len())
                .map(|i| (number(2 + 2 * i), number(3 + 2 * i)))
                .collect(),
        };
        Ok(RateDecision {
            marked: number(2 + 2 * rates.len()) == 1,
            ..decide(rates, &outcome)
        })
    }

    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let _: () = self
            .client
            .set(
                self.keys.kv(key),
                value,
                Some(fred::types::Expiration::PX(millis(ttl))),
                None,
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        self.client
            .getdel(self.keys.kv(key))
            .await
            .map_err(unavailable)
    }
}

/// One rate: at most `limit` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
}

impl Rate {
    /// The spacing of requests at the steady rate.
    fn interval(self) -> Duration {
        self.period / self.limit.max(1)
    }
}

/// A rate-limit answer, for the tightest of the rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// The limit of the tightest rate.
    pub limit: u32,
    /// Requests left now under the tightest rate.
    pub remaining: u32,
    /// Until that rate's quota is whole again.
    pub reset: Duration,
    /// When refused: until the next request would be allowed.
    pub retry_after: Duration,
    /// Whether the `marked` key asked about is marked.
    pub marked: bool,
}

/// What GCRA found for each rate: whether the request passes every rate, how long until it
/// would, and per rate the requests left and the time until its quota is whole.
struct Outcome {
    allowed: bool,
    retry_us: u64,
    per_rate: Vec<(u64, u64)>,
}

/// GCRA over several rates at once for one key: the request counts against every rate or none.
/// `tats` are the theoretical arrival times, in microseconds on a common clock; they advance
/// only when the request is allowed.
fn gcra(tats: &mut [u64], rates: &[Rate], now_us: u64) -> Outcome {
    let mut allowed = true;
    let mut retry_us = 0;
    for (tat, rate) in tats.iter().zip(rates) {
        let (_, tolerance) = spacing(*rate);
        let tat = (*tat).max(now_us);
        if tat > now_us + tolerance {
            allowed = false;
            retry_us = retry_us.max(tat - tolerance - now_us);
        }
    }
    let per_rate = tats
        .iter_mut()
        .zip(rates)
        .map(|(tat, rate)| {
            let (interval, tolerance) = spacing(*rate);
            let mut basis = (*tat).max(now_us);
            if allowed {
                basis += interval;
                *tat = basis;
            }
            let remaining = (now_us + tolerance + interval).saturating_sub(basis) / interval;
            (remaining, basis - now_us)
        })
        .collect();
    Outcome {
        allowed,
        retry_us,
        per_rate,
    }
}

/// A rate's emission interval and burst tolerance, in microseconds (fine enough for a million
/// requests a second).
fn spacing(rate: Rate) -> (u64, u64) {
    let interval = (rate.interval().as_micros() as u64).max(1);
    let tolerance = (rate.period.as_micros() as u64).saturating_sub(interval);
    (interval, tolerance)
}

/// The answer for the tightest rate (fewest requests left).
fn decide(rates: &[Rate], outcome: &Outcome) -> RateDecision {
    let (rate, (remaining, reset_us)) = rates
        .iter()
        .zip(&outcome.per_rate)
        .min_by_key(|(rate, (remaining, _))| (*remaining, rate.limit))
        .map(|(rate, per)| (*rate, *per))
        .unwrap_or((
            Rate {
                limit: 0,
                period: Duration::ZERO,
            },
            (0, 0),
        ));
    RateDecision {
        allowed: outcome.allowed,
        limit: rate.limit,
        remaining: remaining.min(u64::from(rate.limit)) as u32,
        reset: Duration::from_micros(reset_us),
        retry_after: Duration::from_micros(outcome.retry_us),
        marked: false,
    }
}

/// GCRA for several rates in Redis, on the server's clock (microseconds): the arrival times of a
/// key are one comma-separated string, kept as long as the longest period.
const RATE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #ARGV / 2
local tats = {}
local stored = redis.call('GET', KEYS[1])
if stored then
  for v in string.gmatch(stored, '[^,]+') do table.insert(tats, tonumber(v)) end
end
local allowed = 1
local retry = 0
local longest = 0
for i = 1, n do
  local period = tonumber(ARGV[2 * i - 1])
  local interval = math.max(1, math.floor(period / tonumber(ARGV[2 * i])))
  local tolerance = period - interval
  local tat = math.max(tats[i] or 0, now)
  if tat > now + tolerance then
    allowed = 0
    retry = math.max(retry, tat - tolerance - now)
  end
  if period > longest then longest = period end
end
local out = {allowed, retry}
local next = {}
for i = 1, n do
  local period = tonumber(ARGV[2 * i - 1])
  local interval = math.max(1, math.floor(period / tonumber(ARGV[2 * i])))
  local tolerance = period - interval
  local basis = math.max(tats[i] or 0, now)
  if allowed == 1 then basis = basis + interval end
  next[i] = basis
  local remaining = math.floor((now + tolerance + interval - basis) / interval)
  if remaining < 0 then remaining = 0 end
  table.insert(out, remaining)
  table.insert(out, basis - now)
end
if allowed == 1 then
  local text = {}
  for i = 1, n do text[i] = string.format('%d', next[i]) end
  redis.call('SET', KEYS[1], table.concat(text, ','), 'PX', math.ceil(longest / 1000))
end
if KEYS[2] then
  table.insert(out, redis.call('EXISTS', KEYS[2]))
else
  table.insert(out, 0)
end
return out
"#;
