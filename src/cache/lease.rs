//! Fetch leases in Redis: `SET NX PX` to take a region, a compare-and-expire script to renew it,
//! a compare-and-delete script to give it up. A lease lapses `ttl` after its last renewal, so a
//! stopped node's regions are taken over by another within one lease lifetime.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, LuaInterface};
use wattline_actors::domain::Region;
use wattline_actors::ports::{LeaseError, RegionLease};

use super::Keys;

/// Take the lease if free, renew it if ours; 1 when we hold it afterwards.
const HOLD: &str = r#"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Delete the lease only if ours.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// [`RegionLease`] in Redis for this node.
pub struct RedisLease {
    client: Client,
    keys: Keys,
    node_id: String,
    ttl: Duration,
}

impl RedisLease {
    /// Leases held as `node_id`, lapsing `ttl` after the last renewal.
    pub fn new(client: Client, keys: Keys, node_id: String, ttl: Duration) -> Self {
        RedisLease {
            client,
            keys,
            node_id,
            ttl,
        }
    }
}

#[async_trait]
impl RegionLease for RedisLease {
    async fn hold(&self, region: Region) -> Result<bool, LeaseError> {
        let ttl_ms = self.ttl.as_millis().to_string();
        let held: i64 = self
            .client
            .eval(
                HOLD,
                vec![self.keys.lease(region)],
                vec![self.node_id.clone(), ttl_ms],
            )
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        Ok(held == 1)
    }

    async fn release(&self, region: Region) {
        let released: Result<i64, _> = self
            .client
            .eval(
                RELEASE,
                vec![self.keys.lease(region)],
                vec![self.node_id.clone()],
            )
            .await;
        if let Err(error) = released {
            tracing::warn!(%region, %error, "Could not release the fetch lease; it will lapse.");
        }
    }

    fn renew_every(&self) -> Duration {
        self.ttl / 3
    }
}
